//! The demo's traffic, one function per phase, over a [`Mesh`] that sends each request through
//! its service's sidecar and keeps the tallies and live views up to date:
//!
//! 1. [`normal`]: normal traffic with valid hashes and health probes; half-way the strategies
//!    file is edited and the sampled fraction of the changed service follows;
//! 2. [`faults`]: missing and forged hashes, a slow service, low traffic, until all four alerts
//!    fire;
//! 3. [`recovery`]: normal traffic until every alert has resolved.

use std::path::Path;
use std::time::{Duration, Instant};

use acgs_proto::shared_data::{decode_strategy_record, STRATEGY_KEY};
use acgs_proto::telemetry::HashStatus;
use acgs_wasm_host::{Headers, HttpResponse, Proxy};
use indicatif::ProgressBar;

use super::alert_watch::AlertWatch;
use super::pipeline::Pipeline;
use super::tally::{self, PhaseSampling, ServiceTally};
use super::{
    ALERT_WAIT, CHANGED_RATE, CHANGED_SERVICE, FAULT_REQUESTS_PER_SECOND, POLL_INTERVAL_MS, REQUESTS_PER_SECOND,
    SLOWDOWN, SLOW_SERVICE,
};
use crate::mesh::seed::{strategies_with, SEED_SERVICES};
use crate::mesh::traffic::{TrafficGenerator, TrafficMix};
use crate::server::RunningServer;

/// Everything one request needs: the sidecars, the tallies, the live views.
pub(super) struct Mesh<'a> {
    pub(super) sidecars: Vec<Proxy>,
    pub(super) workers: usize,
    pub(super) tallies: Vec<ServiceTally>,
    pub(super) server: &'a RunningServer,
    pub(super) live: Vec<ProgressBar>,
    pub(super) progress: ProgressBar,
    pub(super) watch: AlertWatch,
    pub(super) pipeline: Pipeline,
    pub(super) sent: u64,
}

impl Mesh<'_> {
    /// Sends one request; returns whether the filter decided to keep it (`None` when the
    /// request was refused).
    fn send(&mut self, traffic: &mut TrafficGenerator, slow: Option<usize>) -> (usize, Option<bool>) {
        let planned = traffic.next_request();
        let worker =
            &mut self.sidecars[planned.service].workers_mut()[usize::try_from(self.sent).unwrap_or(0) % self.workers];
        let delay = if slow == Some(planned.service) { SLOWDOWN } else { Duration::ZERO };
        let mut upstream = |_: &Headers, _: &[u8]| {
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
            seed_service_response()
        };
        let outcome = worker.handle(planned.request, &mut upstream);
        let sampled = outcome.forwarded.is_some().then(|| tally::decided_keep(&outcome));
        tally::tally(&mut self.tallies[planned.service], planned.presented, &outcome);
        self.sent += 1;
        self.progress.inc(1);
        if self.sent.is_multiple_of(50) {
            self.pipeline.collect(&self.sidecars);
            show_live_counts(self.server, &self.live);
            let progress = self.progress.clone();
            self.watch.observe(&self.server.alerts, |line| progress.suspend(|| println!("{line}")));
        }
        (planned.service, sampled)
    }

    /// Sends at `rate` until `done` says so or `limit` passes; returns whether `done` was met.
    fn send_until(
        &mut self,
        traffic: &mut TrafficGenerator,
        rate: f64,
        slow: Option<usize>,
        limit: Duration,
        done: impl Fn(&AlertWatch) -> bool,
    ) -> bool {
        let started = Instant::now();
        let mut n: u64 = 0;
        while started.elapsed() < limit {
            self.send(traffic, slow);
            n += 1;
            if n.is_multiple_of(10) {
                let progress = self.progress.clone();
                self.watch.observe(&self.server.alerts, |line| progress.suspend(|| println!("{line}")));
                if done(&self.watch) {
                    return true;
                }
            }
            pace_at(started, n, rate);
        }
        false
    }

    /// Prints a line above the progress bars.
    fn say(&self, line: &str) {
        self.progress.suspend(|| println!("{line}"));
    }
}

/// Phase 1: once every sidecar has the control plane's strategy in force, `requests` of normal
/// `traffic`, half before and half after the changed service's strategy is edited in the
/// `strategies` file; returns its sampling in either half.
pub(super) fn normal(
    mesh: &mut Mesh<'_>,
    traffic: &mut TrafficGenerator,
    requests: u64,
    strategies: &Path,
) -> anyhow::Result<[PhaseSampling; 2]> {
    let mut phases = [PhaseSampling::default(); 2];
    let changed_index = SEED_SERVICES.iter().position(|s| s.name == CHANGED_SERVICE).unwrap_or(0);
    let half = requests / 2;
    for (service, sidecar) in SEED_SERVICES.iter().zip(&mut mesh.sidecars) {
        if wait_until_in_force(sidecar, mesh.server, service.name, None, Duration::from_secs(10)).is_none() {
            anyhow::bail!("the {} sidecar did not fetch its strategy from the control plane within 10 s", service.name);
        }
    }
    for (phase, counts) in phases.iter_mut().enumerate() {
        let count = if phase == 0 { half } else { requests - half };
        mesh.progress.set_message(if phase == 0 {
            "1. normal traffic, seed strategies"
        } else {
            "1. normal traffic, changed strategy"
        });
        let phase_started = Instant::now();
        for n in 0..count {
            let (service, sampled) = mesh.send(traffic, None);
            if let (true, Some(sampled)) = (service == changed_index, sampled) {
                counts.decided += 1;
                counts.sampled += u64::from(sampled);
            }
            pace_at(phase_started, n + 1, REQUESTS_PER_SECOND);
        }
        if phase == 0 {
            mesh.say(&format!("→ strategies file edited: {CHANGED_SERVICE} probabilistic 1 → {CHANGED_RATE}"));
            let previous = served_etag(mesh.server, CHANGED_SERVICE);
            std::fs::write(strategies, strategies_with(CHANGED_SERVICE, CHANGED_RATE))?;
            let applied = wait_until_in_force(
                &mut mesh.sidecars[changed_index],
                mesh.server,
                CHANGED_SERVICE,
                previous.as_deref(),
                Duration::from_secs(10),
            );
            mesh.say(&match applied {
                Some(took) => format!(
                    "→ every {CHANGED_SERVICE} filter VM applies it {:.0} ms after the edit",
                    took.as_secs_f64() * 1e3
                ),
                None => "→ the filters did not apply the change within 10 s".to_owned(),
            });
        }
    }
    Ok(phases)
}

/// Phase 2: 10 % missing and 10 % forged hashes (traffic seeded with `seed`), the slow service
/// slower, traffic below the throughput target; returns whether all four alerts fired in time.
pub(super) fn faults(mesh: &mut Mesh<'_>, seed: u64) -> bool {
    mesh.progress.set_message("2. faults: bad hashes, slow auth, low traffic");
    mesh.say(&format!(
        "→ faults injected: 10 % missing and 10 % forged hashes, {SLOW_SERVICE} +{} ms, traffic down to {FAULT_REQUESTS_PER_SECOND} requests/s",
        SLOWDOWN.as_millis()
    ));
    let slow_index = SEED_SERVICES.iter().position(|s| s.name == SLOW_SERVICE);
    let mut faulty = TrafficGenerator::new(seed, TrafficMix { missing: 0.1, forged: 0.1, ..TrafficMix::default() });
    mesh.send_until(&mut faulty, FAULT_REQUESTS_PER_SECOND, slow_index, ALERT_WAIT, AlertWatch::all_fired)
}

/// Phase 3: normal `traffic` again; returns whether every alert resolved in time.
pub(super) fn recovery(mesh: &mut Mesh<'_>, traffic: &mut TrafficGenerator) -> bool {
    mesh.progress.set_message("3. recovery: normal traffic");
    mesh.say("→ faults ended: normal traffic again");
    mesh.send_until(traffic, REQUESTS_PER_SECOND, None, ALERT_WAIT, AlertWatch::all_resolved)
}

/// The control plane's counts per service and hash status, from the filters' telemetry.
pub(super) fn show_live_counts(server: &RunningServer, lines: &[ProgressBar]) {
    let Ok(store) = server.telemetry.store().read().map(|store| store.requests_by_service_and_status()) else {
        return;
    };
    for (service, line) in SEED_SERVICES.iter().zip(lines) {
        let counts: Vec<String> = HashStatus::ALL
            .iter()
            .filter_map(|status| store.get(&(service.name.to_owned(), *status)).map(|n| format!("{status} {n}")))
            .collect();
        line.set_message(format!("{:<20} control plane counts: {}", service.name, counts.join(" · ")));
    }
}

/// Keeps the clients at `rate` requests per second, so that sidecars poll and flush during the run.
fn pace_at(phase_started: Instant, sent: u64, rate: f64) {
    let due = Duration::from_secs_f64(sent as f64 / rate);
    if let Some(ahead) = due.checked_sub(phase_started.elapsed()) {
        std::thread::sleep(ahead);
    }
}

/// The `ETag` of the strategy the control plane serves `service` now.
fn served_etag(server: &RunningServer, service: &str) -> Option<String> {
    server.store.current().map(|set| set.lookup(service).etag.clone())
}

/// Runs the sidecar's VMs until the strategy the control plane serves `service` is in force in
/// all of them: the control plane serves a strategy other than `previous` (it reloaded the
/// edited file), the sidecar's shared strategy record carries that strategy's `ETag`, and one
/// tick per VM passes. Comparing `ETag`s, not "the record changed", keeps a late answer to an
/// earlier poll (the old strategy) from passing for the new one.
fn wait_until_in_force(
    sidecar: &mut Proxy,
    server: &RunningServer,
    service: &str,
    previous: Option<&str>,
    limit: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        for worker in sidecar.workers_mut() {
            worker.run_for(Duration::from_millis(10));
        }
        let Some(served) = served_etag(server, service).filter(|etag| Some(etag.as_str()) != previous) else {
            continue;
        };
        let record = sidecar.shared_data(STRATEGY_KEY.as_bytes()).map(|(record, _)| record);
        let recorded = record.as_deref().and_then(decode_strategy_record).map(|(etag, _)| etag);
        if recorded == Some(served.as_bytes()) {
            for worker in sidecar.workers_mut() {
                worker.run_for(Duration::from_millis(POLL_INTERVAL_MS.min(1_000) + 10));
            }
            return Some(started.elapsed());
        }
    }
    None
}

fn seed_service_response() -> HttpResponse {
    let mut headers = Headers::new();
    headers.push("content-type", "application/json");
    HttpResponse { status: 200, headers, body: br#"{"ok":true}"#.to_vec(), trailers: Headers::new() }
}
