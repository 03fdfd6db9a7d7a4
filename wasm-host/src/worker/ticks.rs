//! The root context's tick timer. Envoy's timer fires `proxy_on_tick` once per period set with
//! `proxy_set_tick_period_milliseconds`, and only while one is set; [`Worker::run_tick`] fires it
//! when the period elapsed, re-armed whenever the filter changes the period.
//!
//! Ticks on demand: what an embedder replaying traffic (`acgs-tracing dry-run`) uses instead of
//! waiting for the tick period to pass. Firing a tick here is the same callback, with the period's
//! timer re-armed from now as Envoy re-arms it after a tick (`Wasm::tickHandler` in
//! source/extensions/common/wasm/wasm.cc). The filter's clock is not moved: it reads the wall
//! clock as it would.

use std::time::Instant;

use super::{Guest, Trapped, Worker};

impl Worker {
    /// Fires the root context's `on_tick` `count` times now, when the filter has set a tick
    /// period; returns how many fired (fewer when the filter clears its period or the VM fails).
    pub fn fire_ticks(&mut self, count: usize) -> usize {
        let mut fired = 0;
        while fired < count && self.failure.is_none() {
            let Some(period) = self.vm.store.data().tick_period else {
                break;
            };
            let Some(on_tick) = self.vm.exports.on_tick.clone() else {
                break;
            };
            let root = self.vm.store.data().root_context_id;
            self.vm.store.data_mut().effective_context = root;
            if let Err(error) = on_tick.call(&mut self.vm.store, root as i32) {
                self.fail(&Trapped::from(error).0);
                break;
            }
            self.tick = Some((period, Instant::now() + period));
            fired += 1;
        }
        fired
    }

    /// Fires `on_tick` when the period set with `proxy_set_tick_period_milliseconds` elapsed
    /// (re-armed whenever the filter changes the period, as Envoy's timer is).
    pub(super) fn run_tick(&mut self) -> Guest<()> {
        let period = self.vm.store.data().tick_period;
        if period.is_none() && self.tick.is_none() {
            return Ok(());
        }
        let now = Instant::now();
        self.tick = match (period, self.tick) {
            (None, _) => None,
            (Some(period), Some((armed, next))) if armed == period => Some((armed, next)),
            (Some(period), _) => Some((period, now + period)),
        };
        let Some((period, next)) = self.tick else {
            return Ok(());
        };
        if now < next {
            return Ok(());
        }
        self.tick = Some((period, now + period));
        if let Some(on_tick) = self.vm.exports.on_tick.clone() {
            let root = self.vm.store.data().root_context_id as i32;
            on_tick.call(&mut self.vm.store, root)?;
        }
        Ok(())
    }
}
