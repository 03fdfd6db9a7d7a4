//! The strategy sources behind the store: the strategies file (its last good content) and, with
//! `serve --kubernetes`, an [`Overlay`] laid over it (the `SamplingPolicy` resources, which the
//! policy layer turns into one; this module does not know them). Every change of either
//! recomputes the served set and swaps it into the store whole.
//!
//! With Kubernetes, nothing is served until the policies have been listed once (serving the file
//! alone for a moment would hand out strategies the cluster has already overridden).

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::file::StrategiesFile;
use super::resolve::StrategySet;
use super::store::StrategyStore;

/// A source laid over the strategies file.
pub trait Overlay: fmt::Debug + Send {
    /// What is served with `file` (the last good strategies file, if any) underneath.
    fn over(&self, file: Option<&StrategiesFile>) -> StrategiesFile;
}

#[derive(Debug, Default)]
struct Layers {
    file: Option<StrategiesFile>,
    /// `None` until the policies were listed (only with Kubernetes).
    overlay: Option<Box<dyn Overlay>>,
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
        match (&layers.overlay, &layers.file) {
            (Some(overlay), file) => self.serve(&overlay.over(file.as_ref())),
            (None, Some(file)) if !self.kubernetes => self.serve(file),
            (None, _) => 0,
        }
    }

    /// The current overlay (all the policies, after a change of any); returns the number of
    /// services now served.
    pub fn set_overlay(&self, overlay: Box<dyn Overlay>) -> usize {
        let mut layers = self.layers();
        let served = self.serve(&overlay.over(layers.file.as_ref()));
        layers.overlay = Some(overlay);
        served
    }

    fn serve(&self, strategies: &StrategiesFile) -> usize {
        let set = StrategySet::resolve(strategies);
        let services = set.service_count();
        self.store.replace(set);
        services
    }
}
