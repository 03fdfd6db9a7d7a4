//! Guest log lines (`proxy_log`, and stdout/stderr through WASI `fd_write`, where panics go):
//! routed to `tracing` with the plugin and worker as fields, and kept per worker in a bounded
//! buffer so an embedder (or a test) can read what the filter said.

use std::collections::VecDeque;

/// proxy-wasm log levels (`proxy_log`'s first argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Critical,
}

impl LogLevel {
    pub(crate) fn from_abi(value: i32) -> Option<Self> {
        Some(match value {
            0 => Self::Trace,
            1 => Self::Debug,
            2 => Self::Info,
            3 => Self::Warn,
            4 => Self::Error,
            5 => Self::Critical,
            _ => return None,
        })
    }

    pub(crate) fn to_abi(self) -> i32 {
        self as i32
    }
}

/// One line the guest logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub level: LogLevel,
    pub message: String,
    /// The worker (VM) that logged it.
    pub worker: usize,
}

/// How many lines a worker keeps before dropping the oldest.
const KEPT_RECORDS: usize = 1024;

/// A worker's log: forwards to `tracing` and keeps the last lines.
#[derive(Debug)]
pub(crate) struct LogSink {
    plugin: String,
    worker: usize,
    threshold: LogLevel,
    kept: VecDeque<LogRecord>,
    /// The last Rust panic message the guest reported (the SDK's panic hook logs it critical;
    /// the standard library writes it to stderr), kept to explain the trap that follows.
    last_panic: Option<String>,
}

impl LogSink {
    pub(crate) fn new(plugin: &str, worker: usize, threshold: LogLevel) -> Self {
        Self { plugin: plugin.to_owned(), worker, threshold, kept: VecDeque::new(), last_panic: None }
    }

    pub(crate) fn threshold(&self) -> LogLevel {
        self.threshold
    }

    pub(crate) fn log(&mut self, level: LogLevel, message: String) {
        if level >= LogLevel::Error && message.starts_with("panicked at") {
            self.last_panic = Some(message.replace('\n', " "));
        }
        if level < self.threshold {
            return;
        }
        let (plugin, worker) = (self.plugin.as_str(), self.worker);
        match level {
            LogLevel::Trace => tracing::trace!(plugin, worker, "{message}"),
            LogLevel::Debug => tracing::debug!(plugin, worker, "{message}"),
            LogLevel::Info => tracing::info!(plugin, worker, "{message}"),
            LogLevel::Warn => tracing::warn!(plugin, worker, "{message}"),
            LogLevel::Error | LogLevel::Critical => tracing::error!(plugin, worker, "{message}"),
        }
        if self.kept.len() == KEPT_RECORDS {
            self.kept.pop_front();
        }
        self.kept.push_back(LogRecord { level, message, worker: self.worker });
    }

    /// The panic message logged since the last call, if any.
    pub(crate) fn take_panic(&mut self) -> Option<String> {
        self.last_panic.take()
    }

    pub(crate) fn take(&mut self) -> Vec<LogRecord> {
        self.kept.drain(..).collect()
    }
}
