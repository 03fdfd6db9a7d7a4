//! The filter's `log` lines and panics go to the host's log (`proxy_log`), at `info` and above:
//! Envoy shows them under its `wasm` logger, with the plugin's name.

use super::host::{self, Level};

struct HostLogger;

static LOGGER: HostLogger = HostLogger;

/// Installs the logger (info and above) and a panic hook that logs the panic as critical before
/// the module aborts.
pub(super) fn install() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    std::panic::set_hook(Box::new(|panic| host::log(Level::Critical, &panic.to_string())));
}

impl log::Log for HostLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            log::Level::Trace => Level::Trace,
            log::Level::Debug => Level::Debug,
            log::Level::Info => Level::Info,
            log::Level::Warn => Level::Warn,
            log::Level::Error => Level::Error,
        };
        host::log(level, &record.args().to_string());
    }

    fn flush(&self) {}
}
