//! The strategy set being served: swapped whole on a good reload (readers never block and never
//! see half a set), absent until the first valid load (`/readyz` says so).

use std::sync::Arc;

use arc_swap::ArcSwapOption;

use super::resolve::StrategySet;

#[derive(Debug, Default)]
pub struct StrategyStore {
    current: ArcSwapOption<StrategySet>,
}

impl StrategyStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store already serving `set`.
    pub fn with(set: StrategySet) -> Self {
        let store = Self::new();
        store.replace(set);
        store
    }

    pub fn replace(&self, set: StrategySet) {
        self.current.store(Some(Arc::new(set)));
    }

    pub fn current(&self) -> Option<Arc<StrategySet>> {
        self.current.load_full()
    }

    pub fn is_ready(&self) -> bool {
        self.current.load().is_some()
    }
}
