//! The gRPC wire details Envoy's async client and local replies use, each as Envoy writes it:
//! the 5-byte message frames (`Grpc::Common::prependGrpcFrameHeader` and `Grpc::Decoder` in
//! source/common/grpc/common.cc and codec.cc), the `grpc-timeout` header
//! (`Common::toGrpcTimeout`), `grpc-status` parsing (`Common::getGrpcStatus`), the HTTP to gRPC
//! status mapping (`Grpc::Utility::httpToGrpcStatus`, source/common/grpc/status.cc), the
//! percent-encoding of `grpc-message` (`Http::Utility::PercentEncoding::encode`,
//! source/common/http/utility.cc) and the message the async client reports on close
//! (`enhancedGrpcMessage`, source/common/grpc/async_client_impl.cc).

use std::time::Duration;

use crate::headers::Headers;

/// `Http::Headers::get().ContentTypeValues.Grpc`.
pub(crate) const CONTENT_TYPE: &str = "application/grpc";
/// `Status::WellKnownGrpcStatus::Ok`.
pub(crate) const OK: u32 = 0;
/// `Status::WellKnownGrpcStatus::Unknown`.
pub(crate) const UNKNOWN: u32 = 2;
/// `Status::WellKnownGrpcStatus::Internal`.
pub(crate) const INTERNAL: u32 = 13;
/// `Status::WellKnownGrpcStatus::Unavailable`.
pub(crate) const UNAVAILABLE: u32 = 14;
/// `Status::WellKnownGrpcStatus::MaximumKnown` (Unauthenticated).
pub(crate) const MAXIMUM_KNOWN: u32 = 16;
/// `Status::WellKnownGrpcStatus::InvalidCode` (-1), as the u32 a guest receives.
pub(crate) const INVALID_CODE: u32 = u32::MAX;

/// `MAX_GRPC_TIMEOUT_VALUE`: at most 8 digits.
const MAX_GRPC_TIMEOUT_VALUE: u64 = 99_999_999;
/// `GRPC_FH_COMPRESSED`, the only flag bit a frame may carry.
const FLAG_COMPRESSED: u8 = 0x01;

/// `Common::toGrpcTimeout`: milliseconds, or seconds, minutes, hours when the value would need
/// more than 8 digits (clipped at 99999999H).
pub(crate) fn grpc_timeout(timeout: Duration) -> String {
    let mut time = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    let mut units = ['m', 'S', 'M', 'H'].into_iter().peekable();
    let mut unit = units.next().unwrap_or('m');
    if time > MAX_GRPC_TIMEOUT_VALUE {
        time /= 1000;
        unit = units.next().unwrap_or('S');
    }
    while time > MAX_GRPC_TIMEOUT_VALUE {
        match units.next() {
            Some(next) => {
                time /= 60;
                unit = next;
            }
            None => time = MAX_GRPC_TIMEOUT_VALUE,
        }
    }
    format!("{time}{unit}")
}

/// `Common::prependGrpcFrameHeader`: flags 0, then the length in network byte order.
pub(crate) fn frame(message: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(message.len() + 5);
    framed.push(0);
    framed.extend_from_slice(&crate::abi::u32_len(message.len()).to_be_bytes());
    framed.extend_from_slice(message);
    framed
}

/// One decoded frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) flags: u8,
    pub(crate) data: Vec<u8>,
}

/// `Grpc::Decoder`: frames across DATA boundaries. A flag byte other than 0 or
/// `GRPC_FH_COMPRESSED` is a decoding error, which the async client answers with `Internal`.
#[derive(Debug, Default)]
pub(crate) struct FrameDecoder {
    pending: Vec<u8>,
}

/// The frame header was not one Envoy's decoder accepts.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BadFrame;

impl FrameDecoder {
    pub(crate) fn decode(&mut self, chunk: &[u8]) -> Result<Vec<Frame>, BadFrame> {
        self.pending.extend_from_slice(chunk);
        let mut frames = Vec::new();
        let mut at = 0;
        while let Some(header) = self.pending.get(at..at + 5) {
            let flags = header[0];
            if flags & !FLAG_COMPRESSED != 0 {
                return Err(BadFrame);
            }
            let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
            let Some(data) = self.pending.get(at + 5..at + 5 + length) else {
                break;
            };
            frames.push(Frame { flags, data: data.to_vec() });
            at += 5 + length;
        }
        self.pending.drain(..at);
        Ok(frames)
    }
}

/// `Grpc::Utility::httpToGrpcStatus`.
pub(crate) fn http_to_grpc_status(code: u16) -> u32 {
    match code {
        400 => INTERNAL,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502 | 503 | 504 => UNAVAILABLE,
        _ => UNKNOWN,
    }
}

/// `Common::getGrpcStatus` (without user-defined codes): absent or empty is `None`; not a number
/// or above `MaximumKnown` is `InvalidCode`.
pub(crate) fn grpc_status(headers: &Headers) -> Option<u32> {
    let value = headers.get("grpc-status").filter(|value| !value.is_empty())?;
    let code = std::str::from_utf8(value).ok().and_then(|text| text.parse::<u64>().ok());
    Some(match code {
        Some(code) if code <= u64::from(MAXIMUM_KNOWN) => code as u32,
        _ => INVALID_CODE,
    })
}

/// `Common::getGrpcMessage`: the raw header value (Envoy does not percent-decode it).
pub(crate) fn grpc_message(headers: &Headers) -> String {
    headers.get("grpc-message").map(|value| String::from_utf8_lossy(value).into_owned()).unwrap_or_default()
}

/// `PercentEncoding::encode` with `%` reserved: bytes below a space, from `~` up, and `%` become
/// `%XX` (upper-case hex).
pub(crate) fn percent_encode(text: &[u8]) -> String {
    let mut encoded = String::with_capacity(text.len());
    for &byte in text {
        if !(b' '..b'~').contains(&byte) || byte == b'%' {
            encoded.push_str(&format!("%{byte:02X}"));
        } else {
            encoded.push(char::from(byte));
        }
    }
    encoded
}

/// `enhancedGrpcMessage`: the message, followed by the HTTP stream's response code details in
/// braces (`access denied{via_upstream}`); either alone when the other is empty.
pub(crate) fn enhanced_message(message: &str, details: &str) -> String {
    match (message.is_empty(), details.is_empty()) {
        (true, _) => details.to_owned(),
        (false, true) => message.to_owned(),
        (false, false) => format!("{message}{{{details}}}"),
    }
}

/// `Grpc::Common::hasGrpcContentType`: `application/grpc`, or `application/grpc+…`.
pub(crate) fn has_grpc_content_type(value: &[u8]) -> bool {
    value.strip_prefix(CONTENT_TYPE.as_bytes()).is_some_and(|rest| rest.is_empty() || rest[0] == b'+')
}

/// Standard base64 with padding (`absl::Base64Escape`), which Envoy applies to `-bin` metadata
/// it sends (`base64EscapeBinHeaders` in async_client_impl.cc).
pub(crate) fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
