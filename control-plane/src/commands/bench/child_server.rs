//! The control plane as its operators run it, for the benchmarks that watch its memory: this
//! binary's own `serve` on loopback ports in a child process, so the resident memory measured is
//! the server's alone (not the load generator's in the bench process), stopped with SIGTERM as
//! Kubernetes stops it.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// A running `acgs-tracing serve`.
pub struct ChildServer {
    child: Child,
    pub http_addr: SocketAddr,
}

/// How long a stopping server may take (its default shutdown grace is 10 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

impl ChildServer {
    /// Starts `serve` with telemetry behind `token` and waits for its banner.
    pub fn start(token: &str) -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe().context("this binary's path")?)
            .args(["serve", "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"])
            .env("ACGS_TELEMETRY_TOKEN", token)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting acgs-tracing serve")?;
        let stderr = child.stderr.take().context("serve's stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let banner = lines
            .by_ref()
            .map_while(Result::ok)
            .find(|line| line.starts_with("acgs-tracing serving"))
            .context("serve exited before saying where it listens")?;
        let http_addr = banner
            .split_whitespace()
            .nth(3)
            .and_then(|addr| addr.parse().ok())
            .with_context(|| format!("no HTTP address in serve's banner: {banner}"))?;
        // The rest of its log is drained so that a full pipe never blocks the server.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Self { child, http_addr })
    }

    /// A memory figure of the server from /proc (Linux; `VmRSS` now, `VmHWM` peak), in MB.
    pub fn memory_mb(&self, field: &str) -> Option<f64> {
        super::memory_mb_of(&format!("/proc/{}/status", self.child.id()), field)
    }

    /// SIGTERM, then waits for the exit: whether the server stopped cleanly (exit 0) in time.
    pub fn stop(mut self) -> anyhow::Result<bool> {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).context("SIGTERM to serve")?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.success());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(false)
    }
}
