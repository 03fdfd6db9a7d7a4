//! Keeps the served strategies in step with the strategies file's **content**: the file's
//! directory is watched (so an atomic replace by rename, as editors and Kubernetes ConfigMap mounts
//! do, is seen), the file's size and modification time are also checked every [`POLL`] in case an
//! event is missed, and on either the file is read and compared with what was last read. Only new
//! content is loaded, validated and swapped in whole (Jaeger's file provider also compares the
//! content it reads with the last); reading the file, ours or anyone's, is never a change. A file
//! that fails validation, or disappears, is logged once with the reason and counted once; the last
//! good set keeps being served.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};

use super::file::{self, Format, StrategiesError, Validated};
use super::metrics::SamplingMetrics;
use super::sources::Sources;

/// How often the file's metadata is checked besides the watch events.
pub const POLL: Duration = Duration::from_millis(250);
/// The `source` label of file reloads.
pub const FILE_SOURCE: &str = "file";

/// What was last read from the file: its bytes, or why it could not be read.
type Read = Result<Vec<u8>, StrategiesError>;

/// A strategies file loaded at start-up: the number of services served and the content loaded.
#[derive(Debug)]
pub struct Loaded {
    pub services: usize,
    content: Vec<u8>,
}

/// Why the strategies file could not be loaded at start-up.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot read the strategies file: {0}")]
    Unreadable(StrategiesError),
    #[error("invalid strategies file: {0}")]
    Invalid(StrategiesError),
}

/// Loads `path` into `sources` at start-up; the error names the file, the field and the reason.
pub fn load_into(path: &Path, sources: &Sources, metrics: &SamplingMetrics) -> Result<Loaded, StartupError> {
    let content = file::read(path).map_err(StartupError::Unreadable)?;
    let validated =
        file::parse(&path.display().to_string(), &content, Format::of(path)).map_err(StartupError::Invalid)?;
    let services = swap_in(path, validated, sources, metrics);
    Ok(Loaded { services, content })
}

/// Serves a validated file; logs its warnings, counts the reload.
fn swap_in(path: &Path, validated: Validated, sources: &Sources, metrics: &SamplingMetrics) -> usize {
    for warning in &validated.warnings {
        tracing::warn!(file = %path.display(), "{warning}");
    }
    let services = sources.set_file(validated.file);
    metrics.reload(FILE_SOURCE, true);
    tracing::info!(file = %path.display(), services, "sampling strategies loaded");
    services
}

/// Loads new content read by the watcher: served if valid, else logged and counted.
fn reload(path: &Path, read: &Read, sources: &Sources, metrics: &SamplingMetrics) {
    let parsed = read
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|content| file::parse(&path.display().to_string(), content, Format::of(path)));
    match parsed {
        Ok(validated) => {
            swap_in(path, validated, sources, metrics);
        }
        Err(error) => {
            metrics.reload(FILE_SOURCE, false);
            tracing::error!(file = %path.display(), "strategies rejected, the last good set stays: {error}");
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

/// Whether a watch event can mean new content: opening, reading and closing a file without
/// writing (as every read does, the watcher's own included) cannot.
fn may_change_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Whether `now` differs from what was last read (an unreadable file is new once per reason).
fn is_new(now: &Read, last: &Read) -> bool {
    match (now, last) {
        (Ok(now), Ok(last)) => now != last,
        (Err(now), Err(last)) => now != last,
        _ => true,
    }
}

/// Watches `path`, whose content `loaded` was loaded at start-up, and loads every new content
/// into `sources`.
pub fn watch(
    path: PathBuf,
    loaded: Loaded,
    sources: Arc<Sources>,
    metrics: SamplingMetrics,
) -> std::io::Result<FileWatch> {
    let stop = Arc::new(AtomicBool::new(false));
    let (events, changes) = channel();
    let file_name = path.file_name().map(ToOwned::to_owned);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            let ours = event.paths.iter().any(|p| p.file_name() == file_name.as_deref());
            if ours && may_change_content(&event.kind) {
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
        let mut last_fingerprint = fingerprint(&path);
        let mut last: Read = Ok(loaded.content);
        while !stopped.load(Ordering::Acquire) {
            let maybe_changed = match changes.recv_timeout(POLL) {
                Ok(()) => {
                    // Let a burst of events (write, chmod, rename) settle, then read once.
                    std::thread::sleep(Duration::from_millis(20));
                    while changes.try_recv().is_ok() {}
                    true
                }
                Err(RecvTimeoutError::Timeout) => fingerprint(&path) != last_fingerprint,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            if !maybe_changed {
                continue;
            }
            last_fingerprint = fingerprint(&path);
            let now = file::read(&path);
            if !is_new(&now, &last) {
                continue;
            }
            reload(&path, &now, &sources, &metrics);
            last = now;
        }
    })?;
    Ok(FileWatch { stop, thread: Some(thread) })
}
