//! The strategy sources behind the store: the strategies file (its last good content) and, with
//! `serve --kubernetes`, the `SamplingPolicy` resources. Every change of either recomputes the
//! merged set ([`crate::policy::merge`]) and swaps it into the store whole.
//!
//! With Kubernetes, nothing is served until the policies have been listed once (serving the file
//! alone for a moment would hand out strategies the cluster has already overridden).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::file::StrategiesFile;
use super::resolve::StrategySet;
use super::store::StrategyStore;
use crate::policy::merge::{merge, Merged, PolicyInput};

#[derive(Debug, Default)]
struct Layers {
    file: Option<StrategiesFile>,
    /// `None` until the policies were listed (only with Kubernetes).
    policies: Option<Vec<PolicyInput>>,
}

/// The sources and the store they feed.
#[derive(Debug)]
pub struct Sources {
    store: Arc<StrategyStore>,
    kubernetes: bool,
    layers: Mutex<Layers>,
}

impl Sources {
    /// `kubernetes`: whether policies are a source (and must be listed before serving).
    pub fn new(store: Arc<StrategyStore>, kubernetes: bool) -> Self {
        Self { store, kubernetes, layers: Mutex::new(Layers::default()) }
    }

    pub fn store(&self) -> &Arc<StrategyStore> {
        &self.store
    }

    fn layers(&self) -> MutexGuard<'_, Layers> {
        self.layers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new good strategies file; returns the number of services now served.
    pub fn set_file(&self, file: StrategiesFile) -> usize {
        let mut layers = self.layers();
        layers.file = Some(file);
        match (&layers.policies, &layers.file) {
            (Some(policies), file) => self.serve(&merge(file.as_ref(), policies).strategies),
            (None, Some(file)) if !self.kubernetes => self.serve(file),
            (None, _) => 0,
        }
    }

    /// The current policies (all of them, after a change of any); returns every policy's verdict.
    /// Policies do not affect each other's verdicts through the file, so a file change never
    /// changes a verdict.
    pub fn set_policies(&self, policies: Vec<PolicyInput>) -> Merged {
        let mut layers = self.layers();
        let merged = merge(layers.file.as_ref(), &policies);
        layers.policies = Some(policies);
        self.serve(&merged.strategies);
        merged
    }

    fn serve(&self, strategies: &StrategiesFile) -> usize {
        let set = StrategySet::resolve(strategies);
        let services = set.service_count();
        self.store.replace(set);
        services
    }
}
