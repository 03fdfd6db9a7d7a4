//! Draining a replica before it stops, so what it counted is not lost with it: once draining,
//! `POST /v1/telemetry` answers 503 (the filters keep their batches and send them again; once
//! Kubernetes drops the endpoint their VMs hash to another replica), `/readyz` answers 503, and
//! `serve` waits until Prometheus has scraped `/metrics` once after every admitted batch was
//! applied (docs/scale-out.md).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::watch;

/// The drain state of one replica (cheap to clone).
#[derive(Debug, Clone)]
pub struct Drain {
    inner: Arc<DrainState>,
}

#[derive(Debug)]
struct DrainState {
    draining: AtomicBool,
    /// Scrapes begun so far; each scrape takes the next number.
    scrapes_begun: AtomicU64,
    /// The highest number of a scrape that was answered.
    answered: watch::Sender<u64>,
}

impl Default for Drain {
    fn default() -> Self {
        let (answered, _) = watch::channel(0);
        Self {
            inner: Arc::new(DrainState {
                draining: AtomicBool::new(false),
                scrapes_begun: AtomicU64::new(0),
                answered,
            }),
        }
    }
}

/// One `/metrics` scrape in progress; [`Drain::scrape_answered`] closes it.
#[derive(Debug, Clone, Copy)]
pub struct Scrape(u64);

impl Drain {
    /// From now on, telemetry is refused and the replica reports not ready.
    pub fn begin(&self) {
        self.inner.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::SeqCst)
    }

    /// A scrape starts reading the registry.
    pub fn scrape_begins(&self) -> Scrape {
        Scrape(self.inner.scrapes_begun.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// The scrape's answer was encoded.
    pub fn scrape_answered(&self, scrape: Scrape) {
        self.inner.answered.send_if_modified(|highest| {
            let newer = scrape.0 > *highest;
            if newer {
                *highest = scrape.0;
            }
            newer
        });
    }

    /// Waits for a scrape that begins after this call to be answered: call it once what the
    /// scrape must include (every admitted batch) is in the store.
    pub async fn wait_for_next_scrape(&self) {
        let before = self.inner.scrapes_begun.load(Ordering::SeqCst);
        let mut answered = self.inner.answered.subscribe();
        let _ = answered.wait_for(|highest| *highest > before).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Drain;

    #[tokio::test]
    async fn waits_for_a_scrape_begun_after_the_call_not_one_already_running() {
        let drain = Drain::default();
        let running = drain.scrape_begins();
        let waiting = tokio::spawn({
            let drain = drain.clone();
            async move { drain.wait_for_next_scrape().await }
        });
        tokio::task::yield_now().await;
        drain.scrape_answered(running);
        let early = tokio::time::timeout(Duration::from_millis(200), async {
            while !waiting.is_finished() {
                tokio::task::yield_now().await
            }
        })
        .await;
        assert!(early.is_err(), "a scrape begun before the wait does not count");
        let next = drain.scrape_begins();
        drain.scrape_answered(next);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the next scrape ends the wait")
            .expect("task");
    }

    #[test]
    fn draining_is_off_until_begun() {
        let drain = Drain::default();
        assert!(!drain.is_draining());
        drain.begin();
        assert!(drain.clone().is_draining());
    }
}
