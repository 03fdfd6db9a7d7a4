//! Step 6 of the filter (docs/contracts.md): how the VMs of one Envoy process share strategy polling.
//! One VM at a time holds a lease in shared data (`<vm id>;<expiry nanos>`, taken with CAS when
//! absent, expired or already its own) and polls `/api/sampling?service=` with the last ETag;
//! what it gets is published in shared data (`<etag>\n<body>`) and every VM applies a new version
//! on its next tick. Failures back off exponentially from 500 ms up to the poll interval, with
//! ±25 % jitter so that a fleet of sidecars does not retry in step.

const FIRST_RETRY_NANOS: u64 = 500_000_000;

/// When the next poll is due.
#[derive(Debug, Clone)]
pub struct PollSchedule {
    interval_nanos: u64,
    next_due_nanos: u64,
    failures: u32,
    jitter: u64,
}

impl PollSchedule {
    /// A schedule whose first poll is due at once.
    pub fn new(interval_ms: u64, seed: u64) -> Self {
        Self { interval_nanos: interval_ms.saturating_mul(1_000_000), next_due_nanos: 0, failures: 0, jitter: seed | 1 }
    }

    pub fn is_due(&self, now_nanos: u64) -> bool {
        now_nanos >= self.next_due_nanos
    }

    pub fn interval_nanos(&self) -> u64 {
        self.interval_nanos
    }

    /// A poll answered (200 or 304): the next one in one interval.
    pub fn succeeded(&mut self, now_nanos: u64) {
        self.failures = 0;
        self.next_due_nanos = now_nanos.saturating_add(self.interval_nanos);
    }

    /// Another VM holds the lease: look again in one interval.
    pub fn skipped(&mut self, now_nanos: u64) {
        self.next_due_nanos = now_nanos.saturating_add(self.interval_nanos);
    }

    /// A poll failed: retry after a jittered, exponentially growing delay capped at the interval.
    pub fn failed(&mut self, now_nanos: u64) {
        self.failures = self.failures.saturating_add(1);
        let backoff =
            FIRST_RETRY_NANOS.saturating_mul(1 << self.failures.min(20).saturating_sub(1)).min(self.interval_nanos);
        let delay = backoff - backoff / 4 + self.next_jitter() % (backoff / 2 + 1);
        self.next_due_nanos = now_nanos.saturating_add(delay);
    }

    fn next_jitter(&mut self) -> u64 {
        // xorshift64
        self.jitter ^= self.jitter << 13;
        self.jitter ^= self.jitter >> 7;
        self.jitter ^= self.jitter << 17;
        self.jitter
    }
}

pub fn lease_value(vm_id: &str, expires_nanos: u64) -> Vec<u8> {
    format!("{vm_id};{expires_nanos}").into_bytes()
}

/// Whether `vm_id` may take the lease whose current value is `current`.
pub fn may_take_lease(current: Option<&[u8]>, vm_id: &str, now_nanos: u64) -> bool {
    let Some(current) = current else {
        return true;
    };
    let text = String::from_utf8_lossy(current);
    match text.rsplit_once(';') {
        Some((holder, expires)) => {
            holder == vm_id || expires.parse::<u64>().map_or(true, |expires| expires <= now_nanos)
        }
        None => true,
    }
}

/// The poll's `:path`: the service name percent-encoded.
pub fn poll_path(service: &str) -> String {
    let mut path = String::from("/api/sampling?service=");
    for byte in service.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            path.push(char::from(byte));
        } else {
            path.push_str(&format!("%{byte:02X}"));
        }
    }
    path
}

#[cfg(test)]
mod tests;
