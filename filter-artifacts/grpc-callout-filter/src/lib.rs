//! A test filter built with the proxy-wasm Rust SDK that makes a gRPC callout for every request,
//! in the shape of the SDK's `grpc_auth_random` example: `on_http_request_headers` dispatches
//! and pauses; the answer sets request headers saying what came back and resumes the request.
//! The host's tests run it against real gRPC servers; it is never shipped.
//!
//! Configuration (the plugin configuration, one `key=value` per line):
//! `cluster` (default `grpc`), `service`, `method`, `message_hex` (the request message),
//! `timeout_ms` (default 1000), `metadata` (`name:value`, repeatable), and `mode`:
//! - `call` (default): `dispatch_grpc_call`; on the answer `x-grpc-status`, and
//!   `x-grpc-response` (the message as hex) or `x-grpc-message` (from `get_grpc_status`);
//! - `stream`: `open_grpc_stream`, one message with end of stream; on the close
//!   `x-grpc-initial-metadata` and `x-grpc-trailing-metadata` (`name=value` joined by `;`),
//!   `x-grpc-messages` (hex, joined by `,`), `x-grpc-status`, `x-grpc-message`;
//! - `cancel`: dispatches, cancels at once (`x-grpc-cancel`), cancels again
//!   (`x-grpc-cancel-again`), continues; an answer arriving afterwards would be logged as
//!   `unexpected gRPC answer`.
//!
//! A request header `x-grpc-mode` overrides the mode for that request.
//!
//! A dispatch the host refuses sets `x-grpc-dispatch` to the status and continues.
#![cfg(target_arch = "wasm32")]

use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { config: Rc::new(Config::default()) }) });
}}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    Call,
    Stream,
    Cancel,
}

impl Mode {
    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "call" => Ok(Self::Call),
            "stream" => Ok(Self::Stream),
            "cancel" => Ok(Self::Cancel),
            other => Err(format!("unknown mode {other}")),
        }
    }
}

#[derive(Debug, Clone)]
struct Config {
    mode: Mode,
    cluster: String,
    service: String,
    method: String,
    message: Vec<u8>,
    timeout: Duration,
    metadata: Vec<(String, String)>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            mode: Mode::Call,
            cluster: "grpc".to_owned(),
            service: String::new(),
            method: String::new(),
            message: Vec::new(),
            timeout: Duration::from_millis(1000),
            metadata: Vec::new(),
        }
    }
}

impl Config {
    fn parse(text: &str) -> Result<Self, String> {
        let mut config = Self::default();
        for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
            let (key, value) = line.split_once('=').ok_or_else(|| format!("not key=value: {line}"))?;
            match key {
                "mode" => config.mode = Mode::parse(value)?,
                "cluster" => config.cluster = value.to_owned(),
                "service" => config.service = value.to_owned(),
                "method" => config.method = value.to_owned(),
                "message_hex" => config.message = from_hex(value).ok_or_else(|| format!("bad hex: {value}"))?,
                "timeout_ms" => {
                    let ms = value.parse().map_err(|_| format!("bad timeout_ms: {value}"))?;
                    config.timeout = Duration::from_millis(ms);
                }
                "metadata" => {
                    let (name, value) = value.split_once(':').ok_or_else(|| format!("bad metadata: {value}"))?;
                    config.metadata.push((name.to_owned(), value.to_owned()));
                }
                other => return Err(format!("unknown key {other}")),
            }
        }
        Ok(config)
    }
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok()).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

struct Root {
    config: Rc<Config>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        match Config::parse(&String::from_utf8_lossy(&bytes)) {
            Ok(config) => {
                self.config = Rc::new(config);
                true
            }
            Err(error) => {
                log::error!("invalid configuration: {error}");
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Callout {
            config: Rc::clone(&self.config),
            mode: Mode::Call,
            token: None,
            seen: Seen::default(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// What a stream's callbacks saw.
#[derive(Default)]
struct Seen {
    initial_metadata: Vec<String>,
    messages: Vec<String>,
    trailing_metadata: Vec<String>,
}

struct Callout {
    config: Rc<Config>,
    mode: Mode,
    token: Option<u32>,
    seen: Seen,
}

fn pairs(pairs: Vec<(String, Vec<u8>)>) -> Vec<String> {
    pairs.into_iter().map(|(name, value)| format!("{name}={}", String::from_utf8_lossy(&value))).collect()
}

impl Callout {
    fn metadata(&self) -> Vec<(&str, &[u8])> {
        self.config.metadata.iter().map(|(name, value)| (name.as_str(), value.as_bytes())).collect()
    }

    fn record_status(&self, status_code: u32) {
        self.set_http_request_header("x-grpc-status", Some(&status_code.to_string()));
        if status_code != 0 {
            let (_, message) = self.get_grpc_status();
            self.set_http_request_header("x-grpc-message", Some(&message.unwrap_or_default()));
        }
    }
}

impl HttpContext for Callout {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let config = Rc::clone(&self.config);
        let requested = self.get_http_request_header("x-grpc-mode").map(|mode| Mode::parse(&mode));
        self.mode = match requested {
            Some(Ok(mode)) => mode,
            Some(Err(error)) => {
                self.send_http_response(400, vec![], Some(error.as_bytes()));
                return Action::Pause;
            }
            None => config.mode.clone(),
        };
        let message = (!config.message.is_empty()).then_some(config.message.as_slice());
        let dispatched = match self.mode {
            Mode::Call | Mode::Cancel => self.dispatch_grpc_call(
                &config.cluster,
                &config.service,
                &config.method,
                self.metadata(),
                message,
                config.timeout,
            ),
            Mode::Stream => self.open_grpc_stream(&config.cluster, &config.service, &config.method, self.metadata()),
        };
        let token = match dispatched {
            Ok(token) => token,
            Err(status) => {
                self.set_http_request_header("x-grpc-dispatch", Some(&format!("{status:?}")));
                return Action::Continue;
            }
        };
        match self.mode {
            Mode::Call => {
                self.token = Some(token);
                Action::Pause
            }
            Mode::Stream => {
                self.token = Some(token);
                self.send_grpc_stream_message(token, message, true);
                Action::Pause
            }
            Mode::Cancel => {
                let first = proxy_wasm::hostcalls::cancel_grpc_call(token);
                let again = proxy_wasm::hostcalls::cancel_grpc_call(token);
                self.set_http_request_header("x-grpc-cancel", Some(&format!("{first:?}")));
                self.set_http_request_header("x-grpc-cancel-again", Some(&format!("{again:?}")));
                Action::Continue
            }
        }
    }
}

impl Context for Callout {
    fn on_grpc_call_response(&mut self, token_id: u32, status_code: u32, response_size: usize) {
        if self.mode == Mode::Cancel || self.token != Some(token_id) {
            log::warn!("unexpected gRPC answer for token {token_id}: {status_code}");
            return;
        }
        if status_code == 0 {
            let body = self.get_grpc_call_response_body(0, response_size).unwrap_or_default();
            self.set_http_request_header("x-grpc-response", Some(&hex(&body)));
        }
        self.record_status(status_code);
        self.resume_http_request();
    }

    fn on_grpc_stream_initial_metadata(&mut self, _token_id: u32, _num_elements: u32) {
        self.seen.initial_metadata = pairs(self.get_grpc_stream_initial_metadata());
    }

    fn on_grpc_stream_message(&mut self, _token_id: u32, message_size: usize) {
        let message = self.get_grpc_stream_message(0, message_size).unwrap_or_default();
        self.seen.messages.push(hex(&message));
    }

    fn on_grpc_stream_trailing_metadata(&mut self, _token_id: u32, _num_elements: u32) {
        self.seen.trailing_metadata = pairs(self.get_grpc_stream_trailing_metadata());
    }

    fn on_grpc_stream_close(&mut self, token_id: u32, status_code: u32) {
        self.set_http_request_header("x-grpc-initial-metadata", Some(&self.seen.initial_metadata.join(";")));
        self.set_http_request_header("x-grpc-messages", Some(&self.seen.messages.join(",")));
        self.set_http_request_header("x-grpc-trailing-metadata", Some(&self.seen.trailing_metadata.join(";")));
        self.record_status(status_code);
        // The remote side closed; closing ours forgets the stream (Context::grpcClose).
        self.close_grpc_stream(token_id);
        self.resume_http_request();
    }
}
