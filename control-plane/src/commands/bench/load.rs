//! Load on loopback for the HTTP benchmarks: `connections` keep-alive HTTP/1.1 clients, each
//! sending its next request as soon as the previous answer is in, for a fixed duration; the
//! answers counted by status and the latencies of the successful ones recorded in an HDR
//! histogram (constant memory however long the load runs: a soak measures the server, not the
//! load generator's buffers).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt as _, Full};
use tokio::net::TcpStream;

use crate::analysis::latency::Latencies;

/// The load arguments of the HTTP benchmarks. The connections' default and limit are the sampling
/// benchmark's; a benchmark whose load differs, or that says more about it, changes the argument
/// with `#[command(mut_arg(..))]`. (Not const generics: clap keeps a `default_value_t` in a
/// static that every instance of a generic struct would share.)
#[derive(Debug, Clone, Copy, Args)]
pub struct LoadArgs {
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub connections: u64,

    /// Seconds of load.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub seconds: u64,
}

impl LoadArgs {
    /// The connections as a count of clients.
    pub fn clients(&self) -> anyhow::Result<usize> {
        Ok(usize::try_from(self.connections)?)
    }

    /// How long the measured load lasts.
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.seconds)
    }
}

/// Builds the `n`th request of client `client`.
pub type MakeRequest = Arc<dyn Fn(usize, u64) -> hyper::Request<Full<Bytes>> + Send + Sync>;

/// What one load run measured.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    /// 2xx answers.
    pub ok: u64,
    /// 2xx answers per second.
    pub ok_per_s: f64,
    /// 503 answers: the server shedding load (backpressure), not refusing the request.
    pub overloaded: u64,
    /// Answers that were neither 2xx nor 503.
    pub other: u64,
    pub p99_ms: f64,
}

/// How long a client answered 503 waits before its next request. A filter answered 503 waits
/// for `Retry-After` (a second) before it sends the batch again; the bench compresses that to a
/// few milliseconds, so that its clients keep the server at capacity without flooding it with
/// batches it can only shed (each one read, then refused, costs what applying a tenth of it does).
const OVERLOAD_BACKOFF: Duration = Duration::from_millis(2);

/// Runs the load, each client sending its next request as soon as the last is answered (a
/// moment later after a 503: [`OVERLOAD_BACKOFF`]), and waits for every client.
pub async fn run(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    make: MakeRequest,
) -> anyhow::Result<LoadResult> {
    run_paced(addr, connections, duration, None, make).await
}

/// Runs the load as [`run`] does, each client sending at most one request per `every` when given
/// (as a filter VM flushes on a timer), and waits for every client.
pub async fn run_paced(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    every: Option<Duration>,
    make: MakeRequest,
) -> anyhow::Result<LoadResult> {
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut clients = Vec::new();
    for client in 0..connections {
        let make = Arc::clone(&make);
        clients.push(tokio::spawn(async move { one_client(addr, client, deadline, every, make).await }));
    }
    let (mut latencies, mut overloaded, mut other) = (Latencies::default(), 0, 0);
    for client in clients {
        let answers = client.await??;
        latencies.merge(&answers.latencies);
        overloaded += answers.overloaded;
        other += answers.other;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(LoadResult {
        ok: latencies.count(),
        ok_per_s: latencies.count() as f64 / elapsed,
        overloaded,
        other,
        p99_ms: latencies.quantile_micros(0.99) as f64 / 1e3,
    })
}

async fn one_client(
    addr: SocketAddr,
    client: usize,
    deadline: Instant,
    every: Option<Duration>,
    make: MakeRequest,
) -> anyhow::Result<ClientAnswers> {
    let mut pace = every.map(|every| {
        let mut pace = tokio::time::interval(every);
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        pace
    });
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut answers = ClientAnswers::default();
    let mut n = 0;
    while Instant::now() < deadline {
        if let Some(pace) = pace.as_mut() {
            pace.tick().await;
        }
        let sent = Instant::now();
        let response = sender.send_request(make(client, n)).await?;
        let status = response.status();
        response.into_body().collect().await?;
        if status.is_success() {
            answers.latencies.record_micros(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
        } else if status == hyper::StatusCode::SERVICE_UNAVAILABLE {
            answers.overloaded += 1;
            tokio::time::sleep(OVERLOAD_BACKOFF).await;
        } else {
            answers.other += 1;
        }
        n += 1;
    }
    Ok(answers)
}

/// What one client's answers were: latencies of the 2xx, counts of the rest.
#[derive(Debug, Default)]
struct ClientAnswers {
    latencies: Latencies,
    overloaded: u64,
    other: u64,
}
