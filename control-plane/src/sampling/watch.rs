//! Keeps the served strategies in step with the strategies file: the file's directory is watched
//! (so an atomic replace by rename, as editors and Kubernetes ConfigMap mounts do, is seen), the
//! file's size and modification time are also checked every [`POLL`] in case an event is missed,
//! and every change is loaded, validated and swapped in whole. A file that fails validation, or
//! disappears, is logged with the reason and counted; the last good set keeps being served.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use notify::{RecursiveMode, Watcher};

use super::file::{self, StrategiesError};
use super::metrics::SamplingMetrics;
use super::sources::Sources;

/// How often the file's metadata is checked besides the watch events.
pub const POLL: Duration = Duration::from_millis(250);
/// The `source` label of file reloads.
pub const FILE_SOURCE: &str = "file";

/// Loads `path` into `sources`; the error names the file, the field and the reason.
pub fn load_into(path: &Path, sources: &Sources, metrics: &SamplingMetrics) -> Result<usize, StrategiesError> {
    match file::load(path) {
        Ok(validated) => {
            for warning in &validated.warnings {
                tracing::warn!(file = %path.display(), "{warning}");
            }
            let services = sources.set_file(validated.file);
            metrics.reload(FILE_SOURCE, true);
            tracing::info!(file = %path.display(), services, "sampling strategies loaded");
            Ok(services)
        }
        Err(error) => {
            metrics.reload(FILE_SOURCE, false);
            tracing::error!(file = %path.display(), "strategies rejected, the last good set stays: {error}");
            Err(error)
        }
    }
}

/// Stops the watcher when dropped (and waits for it, so nothing is loaded afterwards).
#[derive(Debug)]
pub struct FileWatch {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for FileWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Fingerprint = Option<(u64, Option<SystemTime>)>;

fn fingerprint(path: &Path) -> Fingerprint {
    std::fs::metadata(path).ok().map(|m| (m.len(), m.modified().ok()))
}

/// Watches `path` and reloads it into `sources` on every change.
pub fn watch(path: PathBuf, sources: Arc<Sources>, metrics: SamplingMetrics) -> std::io::Result<FileWatch> {
    let stop = Arc::new(AtomicBool::new(false));
    let (events, changes) = channel();
    let file_name = path.file_name().map(ToOwned::to_owned);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            if event.paths.iter().any(|p| p.file_name() == file_name.as_deref()) {
                let _ = events.send(());
            }
        }
    })
    .map_err(std::io::Error::other)?;
    let directory = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
    watcher.watch(&directory, RecursiveMode::NonRecursive).map_err(std::io::Error::other)?;
    let stopped = Arc::clone(&stop);
    let thread = std::thread::Builder::new().name("strategies-watch".to_owned()).spawn(move || {
        let _watcher = watcher;
        let mut last = fingerprint(&path);
        while !stopped.load(Ordering::Acquire) {
            let changed = match changes.recv_timeout(POLL) {
                Ok(()) => {
                    // Let a burst of events (write, chmod, rename) settle, then load once.
                    std::thread::sleep(Duration::from_millis(20));
                    while changes.try_recv().is_ok() {}
                    true
                }
                Err(RecvTimeoutError::Timeout) => fingerprint(&path) != last,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            if changed {
                last = fingerprint(&path);
                let _ = load_into(&path, &sources, &metrics);
            }
        }
    })?;
    Ok(FileWatch { stop, thread: Some(thread) })
}
