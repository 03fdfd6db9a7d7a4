//! A loopback TCP link in front of one control-plane replica that loses telemetry on purpose:
//! it passes everything through, except that while a fault is armed the next telemetry post
//! either loses its answer (the replica took the batch, the filter never hears so) or is cut
//! mid-body (the replica dies mid-batch: it never gets the whole batch). Each call of the
//! embedded host's callouts is one connection, so the link decides per connection.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// What the link does to the next telemetry posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward the post and wait for the replica's answer, then close without passing it on.
    LoseAnswer,
    /// Forward only part of the post, then close both sides.
    CutMidBody,
}

#[derive(Debug, Default)]
struct Armed {
    fault: Option<Fault>,
    remaining: u64,
}

/// A running link; it stops accepting when dropped.
#[derive(Debug)]
pub struct FaultyLink {
    /// Where the filter should connect.
    pub addr: SocketAddr,
    armed: Arc<Mutex<Armed>>,
    faults_done: Arc<AtomicU64>,
}

impl FaultyLink {
    /// Starts a link to `upstream`.
    pub fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let armed = Arc::new(Mutex::new(Armed::default()));
        let faults_done = Arc::new(AtomicU64::new(0));
        let (state, done) = (Arc::clone(&armed), Arc::clone(&faults_done));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (state, done) = (Arc::clone(&state), Arc::clone(&done));
                std::thread::spawn(move || relay(client, upstream, &state, &done));
            }
        });
        Ok(Self { addr, armed, faults_done })
    }

    /// Applies `fault` to the next `count` telemetry posts.
    pub fn arm(&self, fault: Fault, count: u64) {
        *self.armed.lock().unwrap_or_else(PoisonError::into_inner) = Armed { fault: Some(fault), remaining: count };
    }

    /// How many posts a fault was applied to so far.
    pub fn faults_done(&self) -> u64 {
        self.faults_done.load(Ordering::SeqCst)
    }
}

/// The fault for this connection, if it is a telemetry post and one is armed.
fn take_fault(client: &TcpStream, armed: &Mutex<Armed>) -> Option<Fault> {
    let mut start = [0u8; 18];
    client.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let seen = client.peek(&mut start).ok()?;
    if !start[..seen].starts_with(b"POST /v1/telemetry") {
        return None;
    }
    let mut armed = armed.lock().unwrap_or_else(PoisonError::into_inner);
    if armed.remaining == 0 {
        return None;
    }
    armed.remaining -= 1;
    armed.fault
}

fn relay(mut client: TcpStream, upstream: SocketAddr, armed: &Mutex<Armed>, done: &AtomicU64) {
    let fault = take_fault(&client, armed);
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    match fault {
        None => {
            let (Ok(mut client_in), Ok(mut server_out)) = (client.try_clone(), server.try_clone()) else {
                return;
            };
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut client_in, &mut server_out);
                let _ = server_out.shutdown(Shutdown::Write);
            });
            let _ = std::io::copy(&mut server, &mut client);
        }
        Some(Fault::LoseAnswer) => {
            let request = read_request(&mut client);
            let _ = server.write_all(&request);
            let mut first = [0u8; 1];
            let _ = server.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = server.read(&mut first);
            done.fetch_add(1, Ordering::SeqCst);
        }
        Some(Fault::CutMidBody) => {
            let request = read_request(&mut client);
            let _ = server.write_all(&request[..request.len() - request.len() / 4]);
            done.fetch_add(1, Ordering::SeqCst);
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
}

/// The whole request: headers and a `content-length` body.
fn read_request(client: &mut TcpStream) -> Vec<u8> {
    let mut request = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                return request;
            }
        }
        match client.read(&mut chunk) {
            Ok(0) | Err(_) => return request,
            Ok(n) => request.extend_from_slice(&chunk[..n]),
        }
    }
}
