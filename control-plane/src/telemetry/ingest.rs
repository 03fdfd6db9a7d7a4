//! `POST /v1/telemetry`: where the filters' batches come in (`application/x-protobuf`
//! `acgs.telemetry.v1.TelemetryBatch`). In order: a draining replica (503 with `Retry-After`),
//! bearer token (401), media type (415), body size (413), room in the store's queue, bounded by
//! batches and by body bytes (503 with `Retry-After` when full, so the filter retries the same seq
//! later; taken before decoding, so shedding costs no decode), protobuf decoding (400), the
//! batch's own consistency (400, naming the field), then exactly-once admission on (vm_id, seq)
//! and the hand-off to the store. Every outcome is counted
//! in `acgs_telemetry_batches_total{result}`. A duplicate is answered 200, as the first delivery
//! was: the sender only needs to know the batch is in.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::batch::validate;
use super::dedupe::{Admission, SEQ_WINDOW};
use super::received::ReceivedBatch;
use super::{prepare, Admitted, BatchResult, StoreWork, TelemetryShared};

/// The media type the filters send.
pub const PROTOBUF: &str = "application/x-protobuf";

pub(super) async fn post_telemetry(
    State(shared): State<Arc<TelemetryShared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (result, response) = admit(&shared, &headers, body).await;
    shared.count_batch(result);
    response
}

async fn admit(shared: &TelemetryShared, headers: &HeaderMap, body: Body) -> (BatchResult, Response) {
    if shared.drain.is_draining() {
        let mut response = reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "draining: this replica is stopping; retry (another replica takes over)",
        );
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return (BatchResult::Draining, response);
    }
    if !shared.authorized(headers.get(header::AUTHORIZATION)) {
        let mut response = reply(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"acgs-telemetry\""));
        return (BatchResult::Unauthorized, response);
    }
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if media_type.as_deref() != Some(PROTOBUF) {
        return (
            BatchResult::UnsupportedMediaType,
            reply(StatusCode::UNSUPPORTED_MEDIA_TYPE, &format!("content-type must be {PROTOBUF}")),
        );
    }
    let limit = shared.config.max_body_bytes;
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return (
                BatchResult::TooLarge,
                reply(StatusCode::PAYLOAD_TOO_LARGE, &format!("body larger than {limit} bytes")),
            )
        }
    };
    // Room in the store's queue is taken before the batch is decoded: an overloaded replica sheds
    // a batch for the price of reading it, and spends its CPU on the batches it can apply.
    let body_bytes = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    let room = Arc::clone(&shared.queue_budget)
        .try_acquire_many_owned(body_bytes)
        .ok()
        .and_then(|budget| Some((budget, shared.queue.try_reserve().ok()?)));
    let Some((budget, slot)) = room else {
        return (BatchResult::Overloaded, overloaded());
    };
    let mut received = match ReceivedBatch::decode(bytes) {
        Ok(received) => received,
        Err(error) => {
            return (
                BatchResult::Malformed,
                reply(StatusCode::BAD_REQUEST, &format!("malformed TelemetryBatch: {error}")),
            )
        }
    };
    if let Err(error) = validate(&received) {
        return (BatchResult::Invalid, reply(StatusCode::BAD_REQUEST, &format!("invalid TelemetryBatch: {error}")));
    }
    let records = received.record_count();
    // Prepared here, on the request's worker: the store's thread only applies.
    let cuts = prepare(&mut received);
    let (vm_id, seq) = (received.batch.vm_id.clone(), received.batch.seq);
    let Ok(mut tracker) = shared.tracker.lock() else {
        return (BatchResult::Overloaded, reply(StatusCode::SERVICE_UNAVAILABLE, "ingest unavailable"));
    };
    match tracker.check(&vm_id, seq) {
        Admission::New => {}
        Admission::Duplicate => return (BatchResult::Duplicate, reply(StatusCode::OK, "duplicate")),
        Admission::TooFarAhead { highest } => {
            let message = format!(
                "invalid TelemetryBatch: seq: {seq} is more than {SEQ_WINDOW} above {highest}, the highest accepted for \
                 this vm_id (a VM's seq grows by one per batch)"
            );
            return (BatchResult::Invalid, reply(StatusCode::BAD_REQUEST, &message));
        }
    }
    slot.send(StoreWork::Apply(Box::new(Admitted { batch: received, _budget: budget })));
    tracker.record(&vm_id, seq);
    drop(tracker);
    shared.count_cuts(cuts);
    shared.records.inc_by(records);
    (BatchResult::Accepted, reply(StatusCode::OK, "accepted"))
}

/// The answer when the store's queue has no room: retry later.
fn overloaded() -> Response {
    let mut response = reply(StatusCode::SERVICE_UNAVAILABLE, "ingest queue full, retry later");
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

fn reply(status: StatusCode, message: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{message}\n")).into_response()
}
