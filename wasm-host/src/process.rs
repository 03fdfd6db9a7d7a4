//! What the VMs of one Envoy process share: shared data (key → value with a CAS counter),
//! shared queues, and the Wasm-defined metrics. Envoy keeps these per process, not per VM, which
//! is how a filter coordinates its workers (filter step 6 of docs/contracts.md relies on it). Also the
//! tracer's export buffer: the spans the process's workers finished, until the embedder takes
//! them (as Envoy's OpenTelemetry tracer buffers until it flushes to its collector).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::abi::{status, MetricKind};
use crate::envoy_tracing::RecordedSpan;

/// Bound on one shared queue (Envoy's queues are unbounded; a host that runs tests must not be).
const MAX_QUEUE_DEPTH: usize = 100_000;
/// Spans waiting for the embedder; past it new spans are dropped and counted, as Envoy's
/// tracer drops past its buffer (`spans_dropped`).
const MAX_BUFFERED_SPANS: usize = 1_000_000;

#[derive(Debug, Default)]
pub(crate) struct ProcessState {
    shared_data: Mutex<HashMap<Vec<u8>, SharedValue>>,
    queues: Mutex<Queues>,
    /// Set when any queue got an item; lets workers skip the queue lock on every stream.
    queue_ready: AtomicBool,
    metrics: Mutex<Metrics>,
    spans: Mutex<SpanBuffer>,
}

#[derive(Debug, Default)]
struct SpanBuffer {
    spans: Vec<RecordedSpan>,
    dropped: u64,
}

#[derive(Debug)]
struct SharedValue {
    value: Vec<u8>,
    cas: u32,
}

#[derive(Debug, Default)]
struct Queues {
    by_name: HashMap<(String, Vec<u8>), u32>,
    /// token - 1 → queue
    queues: Vec<Queue>,
}

#[derive(Debug)]
struct Queue {
    owner_worker: usize,
    items: VecDeque<Vec<u8>>,
    notify: bool,
}

#[derive(Debug, Default)]
struct Metrics {
    by_name: HashMap<String, u32>,
    /// id - 1 → metric
    entries: Vec<Metric>,
}

#[derive(Debug, Clone)]
struct Metric {
    name: String,
    kind: MetricKind,
    value: i64,
    samples: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks leaves plain data behind: keep serving it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ProcessState {
    /// Buffers finished spans for export.
    pub(crate) fn export_spans(&self, spans: Vec<RecordedSpan>) {
        if spans.is_empty() {
            return;
        }
        let mut buffer = lock(&self.spans);
        for span in spans {
            if buffer.spans.len() < MAX_BUFFERED_SPANS {
                buffer.spans.push(span);
            } else {
                buffer.dropped += 1;
            }
        }
    }

    /// The buffered spans, taken.
    pub(crate) fn take_spans(&self) -> Vec<RecordedSpan> {
        std::mem::take(&mut lock(&self.spans).spans)
    }

    /// Spans dropped so far for want of room.
    pub(crate) fn spans_dropped(&self) -> u64 {
        lock(&self.spans).dropped
    }

    /// `proxy_get_shared_data`: (value, cas) or `NotFound`.
    pub(crate) fn get_shared(&self, key: &[u8]) -> Result<(Vec<u8>, u32), i32> {
        lock(&self.shared_data).get(key).map(|entry| (entry.value.clone(), entry.cas)).ok_or(status::NOT_FOUND)
    }

    /// `proxy_set_shared_data`: a non-zero `cas` must match the current one (`CasMismatch`).
    pub(crate) fn set_shared(&self, key: &[u8], value: &[u8], cas: u32) -> i32 {
        let mut data = lock(&self.shared_data);
        match data.get_mut(key) {
            Some(entry) => {
                if cas != 0 && cas != entry.cas {
                    return status::CAS_MISMATCH;
                }
                entry.value = value.to_vec();
                entry.cas = entry.cas.wrapping_add(1).max(1);
            }
            None => {
                if cas != 0 {
                    return status::CAS_MISMATCH;
                }
                data.insert(key.to_vec(), SharedValue { value: value.to_vec(), cas: 1 });
            }
        }
        status::OK
    }

    /// `proxy_register_shared_queue`: the token of `(vm_id, name)`, owned by `worker`.
    pub(crate) fn register_queue(&self, vm_id: &str, name: &[u8], worker: usize) -> u32 {
        let mut queues = lock(&self.queues);
        let key = (vm_id.to_owned(), name.to_vec());
        if let Some(token) = queues.by_name.get(&key).copied() {
            if let Some(queue) = token_index(token).and_then(|i| queues.queues.get_mut(i)) {
                queue.owner_worker = worker;
            }
            return token;
        }
        queues.queues.push(Queue { owner_worker: worker, items: VecDeque::new(), notify: false });
        let token = crate::abi::u32_len(queues.queues.len());
        queues.by_name.insert(key, token);
        token
    }

    /// `proxy_resolve_shared_queue`.
    pub(crate) fn resolve_queue(&self, vm_id: &str, name: &[u8]) -> Option<u32> {
        lock(&self.queues).by_name.get(&(vm_id.to_owned(), name.to_vec())).copied()
    }

    /// `proxy_enqueue_shared_queue`: `NotFound` for an unknown token.
    pub(crate) fn enqueue(&self, token: u32, item: &[u8]) -> i32 {
        let mut queues = lock(&self.queues);
        let Some(queue) = token_index(token).and_then(|i| queues.queues.get_mut(i)) else {
            return status::NOT_FOUND;
        };
        if queue.items.len() >= MAX_QUEUE_DEPTH {
            queue.items.pop_front();
        }
        queue.items.push_back(item.to_vec());
        queue.notify = true;
        self.queue_ready.store(true, Ordering::Release);
        status::OK
    }

    /// `proxy_dequeue_shared_queue`: `Empty` when nothing is queued.
    pub(crate) fn dequeue(&self, token: u32) -> Result<Vec<u8>, i32> {
        let mut queues = lock(&self.queues);
        let queue = token_index(token).and_then(|i| queues.queues.get_mut(i)).ok_or(status::NOT_FOUND)?;
        queue.items.pop_front().ok_or(status::EMPTY)
    }

    /// Whether some queue may have items waiting for its owner's `on_queue_ready`.
    pub(crate) fn any_queue_ready(&self) -> bool {
        self.queue_ready.load(Ordering::Acquire)
    }

    /// Tokens of `worker`'s queues that got items since the last call (`on_queue_ready`).
    pub(crate) fn take_ready_queues(&self, worker: usize) -> Vec<u32> {
        let mut queues = lock(&self.queues);
        let mut ready = Vec::new();
        for (index, queue) in queues.queues.iter_mut().enumerate() {
            if queue.owner_worker == worker && queue.notify {
                queue.notify = false;
                ready.push(crate::abi::u32_len(index + 1));
            }
        }
        let pending = queues.queues.iter().any(|queue| queue.notify);
        self.queue_ready.store(pending, Ordering::Release);
        ready
    }

    /// `proxy_define_metric`: the same name always maps to the same metric, across VMs.
    pub(crate) fn define_metric(&self, kind: MetricKind, name: &str) -> u32 {
        let mut metrics = lock(&self.metrics);
        if let Some(id) = metrics.by_name.get(name) {
            return *id;
        }
        metrics.entries.push(Metric { name: name.to_owned(), kind, value: 0, samples: 0 });
        let id = crate::abi::u32_len(metrics.entries.len());
        metrics.by_name.insert(name.to_owned(), id);
        id
    }

    /// `proxy_increment_metric`: counters only go up (a negative offset is `BadArgument`);
    /// histograms cannot be incremented.
    pub(crate) fn increment_metric(&self, id: u32, offset: i64) -> i32 {
        let mut metrics = lock(&self.metrics);
        let Some(metric) = token_index(id).and_then(|i| metrics.entries.get_mut(i)) else {
            return status::NOT_FOUND;
        };
        match metric.kind {
            MetricKind::Counter if offset > 0 => metric.value = metric.value.saturating_add(offset),
            MetricKind::Counter => return status::BAD_ARGUMENT,
            MetricKind::Gauge => metric.value = metric.value.saturating_add(offset),
            MetricKind::Histogram => return status::BAD_ARGUMENT,
        }
        status::OK
    }

    /// `proxy_record_metric`: adds to a counter, sets a gauge, records a histogram sample.
    pub(crate) fn record_metric(&self, id: u32, value: u64) -> i32 {
        let mut metrics = lock(&self.metrics);
        let Some(metric) = token_index(id).and_then(|i| metrics.entries.get_mut(i)) else {
            return status::NOT_FOUND;
        };
        let value = i64::try_from(value).unwrap_or(i64::MAX);
        match metric.kind {
            MetricKind::Counter => metric.value = metric.value.saturating_add(value),
            MetricKind::Gauge => metric.value = value,
            MetricKind::Histogram => {
                metric.value = metric.value.saturating_add(value);
                metric.samples += 1;
            }
        }
        status::OK
    }

    /// `proxy_get_metric`: histograms have no single value (`BadArgument`).
    pub(crate) fn get_metric(&self, id: u32) -> Result<u64, i32> {
        let metrics = lock(&self.metrics);
        let metric = token_index(id).and_then(|i| metrics.entries.get(i)).ok_or(status::NOT_FOUND)?;
        match metric.kind {
            MetricKind::Histogram => Err(status::BAD_ARGUMENT),
            _ => Ok(u64::try_from(metric.value).unwrap_or(0)),
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        let metrics = lock(&self.metrics);
        Stats { metrics: metrics.entries.clone() }
    }
}

fn token_index(token: u32) -> Option<usize> {
    usize::try_from(token).ok()?.checked_sub(1)
}

/// A snapshot of the Wasm-defined stats of one proxy (what Envoy's admin `/stats` shows under
/// the `wasmcustom` namespace).
#[derive(Debug, Clone)]
pub struct Stats {
    metrics: Vec<Metric>,
}

impl Stats {
    /// A counter's value, `None` when the filter never defined it.
    pub fn counter(&self, name: &str) -> Option<u64> {
        self.find(name, MetricKind::Counter).map(|metric| u64::try_from(metric.value).unwrap_or(0))
    }

    /// A gauge's value.
    pub fn gauge(&self, name: &str) -> Option<i64> {
        self.find(name, MetricKind::Gauge).map(|metric| metric.value)
    }

    /// A histogram's (sample count, sum of samples).
    pub fn histogram(&self, name: &str) -> Option<(u64, u64)> {
        self.find(name, MetricKind::Histogram).map(|metric| (metric.samples, u64::try_from(metric.value).unwrap_or(0)))
    }

    /// Every metric's name, in definition order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.metrics.iter().map(|metric| metric.name.as_str())
    }

    fn find(&self, name: &str, kind: MetricKind) -> Option<&Metric> {
        self.metrics.iter().find(|metric| metric.name == name && metric.kind == kind)
    }
}

#[cfg(test)]
mod tests;
