//! The root context of one VM: validates the plugin configuration in `on_configure` (a bad one is
//! refused with a log line naming the field, so Envoy rejects the plugin instead of failing
//! requests), resolves the workload name from Istio's node metadata, hands every HTTP stream
//! a handle on the VM's decision engine, and on every tick keeps the sampling strategy current
//! (see [`crate::poll`]: one VM per process polls the control plane, all apply what it fetched;
//! a failed or garbled answer leaves the last good strategy in force).

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;

use acgs_proto::shared_data::{decode_strategy_record, encode_strategy_record, LEASE_KEY, STRATEGY_KEY};

use super::host::{self, Buffer, Headers};
use super::stats::FilterStats;
use super::stream::{request_header_names, ConstitutionalStream, RequestHeader};
use crate::config::FilterConfig;
use crate::decision::Engine;
use crate::header_map::HeaderNames;
use crate::poll::{lease_value, may_take_lease, poll_path, PollSchedule};
use crate::sampling::{Strategy, UnknownFields};
use crate::span::SpanWriter;
use crate::telemetry::{BufferLimits, Delivery, TelemetryBuffer};

/// Node-metadata keys Istio sets, in the order the workload name is taken from them.
const WORKLOAD_KEYS: [&str; 2] = ["WORKLOAD_NAME", "NAME"];

/// Longest tick period: how soon a VM applies a strategy another VM fetched.
const MAX_TICK_MS: u64 = 1_000;

#[derive(Default)]
pub(super) struct FilterRoot {
    shared: Option<Rc<StreamShared>>,
    /// This VM's identity in the polling lease.
    vm_id: String,
    /// `:authority` of the telemetry posts: `<vm_id>.<authority>`. Envoy hashes a Wasm
    /// callout on its `:authority`, so with consistent hashing on the control plane's cluster
    /// every batch of this VM, retries included, reaches the same replica (docs/scale-out.md).
    telemetry_authority: String,
    schedule: Option<PollSchedule>,
    pending_poll: Option<u32>,
    applied_etag: Vec<u8>,
    /// The telemetry batch being delivered: (call token, batch seq).
    pending_flush: Option<(u32, u64)>,
    next_flush_nanos: u64,
}

/// What every stream of this VM shares.
pub(super) struct StreamShared {
    pub(super) config: Rc<FilterConfig>,
    pub(super) engine: RefCell<Engine>,
    pub(super) stats: Option<FilterStats>,
    pub(super) telemetry: RefCell<TelemetryBuffer>,
    /// Encodes a sampled request's span before it joins the batch.
    pub(super) spans: RefCell<SpanWriter>,
    /// The caller's name of the request being logged (reused from request to request).
    pub(super) caller: RefCell<Vec<u8>>,
    /// The request headers every stream reads.
    pub(super) request_headers: HeaderNames<{ RequestHeader::COUNT }>,
}

impl FilterRoot {
    /// A telemetry post or a strategy poll answered (or failed: no `:status`).
    pub(super) fn on_http_call_response(&mut self, token: u32, body_size: usize) {
        if let Some((flush_token, seq)) = self.pending_flush {
            if flush_token == token {
                self.pending_flush = None;
                let status = host::header(Headers::HttpCallResponse, ":status");
                let code =
                    status.as_deref().and_then(|s| std::str::from_utf8(s).ok()).and_then(|s| s.parse::<u16>().ok());
                let delivery = Delivery::from_status(code);
                if delivery != Delivery::Delivered {
                    let outcome = if delivery == Delivery::Refused { "refused, dropped" } else { "to be sent again" };
                    match code {
                        Some(code) => log::warn!("telemetry batch {seq} not accepted (status {code}): {outcome}"),
                        None => log::warn!("telemetry batch {seq} not delivered (no response): {outcome}"),
                    }
                }
                if let Some(shared) = &self.shared {
                    shared.telemetry.borrow_mut().settle(seq, delivery);
                }
                return;
            }
        }
        if self.pending_poll != Some(token) {
            return;
        }
        self.pending_poll = None;
        let now = host::now_nanos();
        let status = host::header(Headers::HttpCallResponse, ":status");
        let outcome = match status.as_deref() {
            Some(b"200") => self.store_fetched(body_size),
            Some(b"304") => Ok(()),
            Some(other) => Err(format!("the control plane answered {}", String::from_utf8_lossy(other))),
            None => Err("the control plane could not be reached".to_owned()),
        };
        if let Some(schedule) = self.schedule.as_mut() {
            match outcome {
                Ok(()) => schedule.succeeded(now),
                Err(reason) => {
                    log::warn!("sampling strategy poll failed, keeping the last good strategy: {reason}");
                    schedule.failed(now);
                }
            }
        }
        self.apply_shared_strategy();
    }

    /// Validates the plugin configuration (`false` refuses the plugin) and sets the VM up.
    pub(super) fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        let bytes = host::buffer(Buffer::PluginConfiguration, plugin_configuration_size).unwrap_or_default();
        let config = match FilterConfig::from_json(&bytes) {
            Ok(config) => Rc::new(config),
            Err(error) => {
                log::error!("{error}");
                return false;
            }
        };
        let service = config.service.clone().unwrap_or_else(|| self.workload_name());
        let engine = Engine::new(Rc::clone(&config), &service, random_seed());
        log::info!(
            "acgs-constitutional-header configured: service={service} mode={} header={}",
            config.mode.as_str(),
            config.header
        );
        let seed = random_seed();
        self.vm_id = format!("{seed:016x}");
        let control_plane = &config.control_plane;
        self.telemetry_authority = format!("{}.{}", self.vm_id, control_plane.authority);
        self.schedule = Some(PollSchedule::new(control_plane.poll_interval_ms, seed));
        let tick = control_plane.poll_interval_ms.min(control_plane.flush_interval_ms).min(MAX_TICK_MS);
        host::set_tick_period(tick);
        let now = host::now_nanos();
        self.next_flush_nanos = now.saturating_add(control_plane.flush_interval_ms.saturating_mul(1_000_000));
        let telemetry =
            TelemetryBuffer::new(&service, &self.vm_id, &config.constitutional_hash, BufferLimits::default(), now)
                .spans_recorded_by(config.tracer);
        let request_headers = request_header_names(&config.header);
        self.shared = Some(Rc::new(StreamShared {
            config,
            engine: RefCell::new(engine),
            stats: FilterStats::define(),
            telemetry: RefCell::new(telemetry),
            spans: RefCell::default(),
            caller: RefCell::default(),
            request_headers,
        }));
        true
    }

    /// Applies a strategy another VM fetched, polls when due, flushes telemetry when due.
    pub(super) fn on_tick(&mut self) {
        self.apply_shared_strategy();
        let now = host::now_nanos();
        if self.pending_poll.is_none() && self.schedule.as_ref().is_some_and(|s| s.is_due(now)) {
            self.poll(now);
        }
        self.flush_telemetry(now);
    }

    /// A new HTTP stream; `None` before the plugin is configured.
    pub(super) fn create_stream(&self) -> Option<ConstitutionalStream> {
        self.shared.as_ref().map(|shared| ConstitutionalStream::new(Rc::clone(shared)))
    }

    /// Applies the strategy in shared data when it is newer than the one in force.
    fn apply_shared_strategy(&mut self) {
        let (Some(record), _) = host::shared_data(STRATEGY_KEY) else {
            return;
        };
        let Some((etag, body)) = decode_strategy_record(&record) else {
            return;
        };
        if etag == self.applied_etag.as_slice() {
            return;
        }
        self.applied_etag = etag.to_vec();
        match (Strategy::from_json(body, UnknownFields::Ignore), &self.shared) {
            (Ok(strategy), Some(shared)) => {
                log::info!("sampling strategy {} applied: {strategy}", String::from_utf8_lossy(etag));
                shared.engine.borrow_mut().apply_strategy(strategy);
            }
            (Err(error), _) => log::warn!("shared sampling strategy is invalid, keeping the last good one: {error}"),
            (Ok(_), None) => {}
        }
    }

    /// Takes the polling lease if free and asks the control plane for this service's strategy.
    fn poll(&mut self, now: u64) {
        let (Some(shared), Some(interval)) =
            (self.shared.clone(), self.schedule.as_ref().map(PollSchedule::interval_nanos))
        else {
            return;
        };
        let control_plane = &shared.config.control_plane;
        let (lease, cas) = host::shared_data(LEASE_KEY);
        let expires = now.saturating_add(interval).saturating_add(control_plane.timeout_ms.saturating_mul(1_000_000));
        let leased = may_take_lease(lease.as_deref(), &self.vm_id, now)
            && host::set_shared_data(LEASE_KEY, &lease_value(&self.vm_id, expires), cas).is_ok();
        if !leased {
            if let Some(schedule) = self.schedule.as_mut() {
                schedule.skipped(now);
            }
            return;
        }
        let (record, _) = host::shared_data(STRATEGY_KEY);
        let etag = record.as_deref().and_then(decode_strategy_record).map(|(etag, _)| etag);
        let path = poll_path(shared.engine.borrow().service());
        let mut headers: Vec<(&str, &[u8])> = vec![
            (":method", b"GET"),
            (":path", path.as_bytes()),
            (":authority", control_plane.authority.as_bytes()),
            ("accept", b"application/json"),
        ];
        if let Some(etag) = etag {
            headers.push(("if-none-match", etag));
        }
        match host::http_call(&control_plane.cluster, &headers, &[], control_plane.timeout_ms) {
            Ok(token) => self.pending_poll = Some(token),
            Err(status) => {
                log::debug!("cannot call the control plane cluster {}: status {status}", control_plane.cluster);
                if let Some(schedule) = self.schedule.as_mut() {
                    schedule.failed(now);
                }
            }
        }
    }

    /// Sends the telemetry batch when the flush interval has passed or the buffer is nearly full
    /// (the unacknowledged batch again, with its seq, until the control plane takes it).
    fn flush_telemetry(&mut self, now: u64) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        if self.pending_flush.is_some() {
            return;
        }
        let nearly_full = shared.telemetry.borrow().nearly_full();
        if now < self.next_flush_nanos && !nearly_full {
            return;
        }
        let control_plane = &shared.config.control_plane;
        self.next_flush_nanos = now.saturating_add(control_plane.flush_interval_ms.saturating_mul(1_000_000));
        let mut buffer = shared.telemetry.borrow_mut();
        let Some(batch) = buffer.next_batch(now) else {
            return;
        };
        let authorization = control_plane.token.as_ref().map(|token| format!("Bearer {token}"));
        let mut headers: Vec<(&str, &[u8])> = vec![
            (":method", b"POST"),
            (":path", b"/v1/telemetry"),
            (":authority", self.telemetry_authority.as_bytes()),
            ("content-type", b"application/x-protobuf"),
        ];
        if let Some(authorization) = authorization.as_deref() {
            headers.push(("authorization", authorization.as_bytes()));
        }
        match host::http_call(&control_plane.cluster, &headers, &batch.body, control_plane.timeout_ms) {
            Ok(token) => self.pending_flush = Some((token, batch.seq)),
            Err(status) => {
                log::debug!(
                    "cannot send telemetry to the control plane cluster {}: status {status}",
                    control_plane.cluster
                )
            }
        }
    }

    /// Checks and publishes a fetched strategy.
    fn store_fetched(&mut self, body_size: usize) -> Result<(), String> {
        let body = host::buffer(Buffer::HttpCallResponseBody, body_size).unwrap_or_default();
        Strategy::from_json(&body, UnknownFields::Ignore)
            .map_err(|e| format!("invalid strategy from the control plane: {e}"))?;
        let etag = host::header(Headers::HttpCallResponse, "etag")
            .unwrap_or_else(|| format!("\"{}\"", body.len()).into_bytes());
        let record = encode_strategy_record(&etag, &body);
        host::set_shared_data(STRATEGY_KEY, &record, 0)
            .map_err(|status| format!("cannot publish the strategy: status {status}"))
    }

    /// Istio's WORKLOAD_NAME (or NAME) node metadata, under the current property path
    /// (`xds.node.metadata`) or the older one (`node.metadata`); "unknown" when neither is set.
    fn workload_name(&self) -> String {
        for key in WORKLOAD_KEYS {
            for prefix in ["xds\0node\0metadata", "node\0metadata"] {
                if let Some(value) = host::property(format!("{prefix}\0{key}").as_bytes()) {
                    if let Ok(name) = String::from_utf8(value) {
                        if !name.is_empty() {
                            return name;
                        }
                    }
                }
            }
        }
        "unknown".to_owned()
    }
}

/// A random seed for span and trace ids: std's `RandomState` draws its keys from WASI
/// `random_get`, so hashing nothing with it yields a random u64 without another import.
fn random_seed() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0x5eed);
    hasher.finish()
}
