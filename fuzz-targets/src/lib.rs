//! The fuzz targets: each takes arbitrary bytes, must never panic, and asserts what must hold of
//! whatever it accepts. `fuzz/` drives them with cargo-fuzz (libFuzzer, nightly); the corpus
//! replay test runs every file of `fuzz/corpus/<target>/` through them on stable, so each input
//! the fuzzer kept (and every crash turned into a file) is an ordinary test.

mod host_abi;

use std::rc::Rc;

use acgs_control_plane::analysis::source::{jaeger_json, otlp_json};
use acgs_control_plane::analysis::{AnalysisOptions, Analyzer};
use acgs_control_plane::policy::merge::{merge, validate_spec, PolicyInput};
use acgs_control_plane::policy::resource::{PolicyKey, SamplingPolicySpec};
use acgs_control_plane::sampling::file::{self, Format};
use acgs_control_plane::telemetry::batch::validate;
use acgs_control_plane::telemetry::bounds::MAX_LABEL_BYTES;
use acgs_control_plane::telemetry::prepare;
use acgs_control_plane::telemetry::received::ReceivedBatch;
use acgs_control_plane::telemetry::store::{StoreLimits, TelemetryStore};
use acgs_filter::config::FilterConfig;
use acgs_filter::decision::{Engine, RequestView, Verdict};
use acgs_filter::json::Json;
use acgs_filter::sampling::{Strategy, UnknownFields};
use acgs_proto::telemetry::{TelemetryBatch, LATENCY_BUCKETS};
use prost::bytes::Bytes;
use prost::Message as _;

pub use host_abi::host_abi;

/// A fuzz target: its name (the corpus directory) and what it does with one input, returning
/// whether the input was accepted (parsed, validated) rather than refused.
pub type Target = (&'static str, fn(&[u8]) -> bool);

/// Every target, by name.
pub const TARGETS: [Target; 10] = [
    ("filter_config", filter_config),
    ("filter_json", filter_json),
    ("sampling_strategy", sampling_strategy),
    ("request_headers", request_headers),
    ("telemetry_batch", telemetry_batch),
    ("strategies_file", strategies_file),
    ("jaeger_json", jaeger_json),
    ("otlp_json", otlp_json),
    ("policy_merge", policy_merge),
    ("host_abi", host_abi),
];

/// The filter's plugin configuration parser.
pub fn filter_config(data: &[u8]) -> bool {
    let Ok(config) = FilterConfig::from_json(data) else { return false };
    let _ = Engine::new(Rc::new(config), "fuzz", 1);
    true
}

/// The filter's own JSON parser against `serde_json` (which it replaced in the module): both accept
/// a document or both refuse it (but for numbers within a few ulps of `f64::MAX`, which the
/// filter may refuse as out of range), and what the filter prints of an accepted one (error
/// messages quote values that way) is JSON again.
pub fn filter_json(data: &[u8]) -> bool {
    let ours = Json::parse(data);
    let theirs = serde_json::from_slice::<serde_json::Value>(data);
    // The one documented difference: a number within a few ulps of f64::MAX may be out of range.
    let near_max = ours.as_ref().is_err_and(|error| error.to_string().starts_with("number out of range"));
    assert!(ours.is_ok() == theirs.is_ok() || near_max, "ours {ours:?}, serde_json {theirs:?}");
    let Ok(json) = ours else { return false };
    let text = json.to_string();
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok(), "our text of it is not JSON: {text}");
    true
}

/// The filter's parser of the control plane's strategy responses, strict and lenient; what the
/// strict parser accepts the lenient one accepts the same.
pub fn sampling_strategy(data: &[u8]) -> bool {
    let lenient = Strategy::from_json(data, UnknownFields::Ignore).ok();
    let Ok(strict) = Strategy::from_json(data, UnknownFields::Reject) else { return false };
    assert_eq!(Some(strict), lenient, "strict and lenient parsers disagree");
    true
}

/// The filter's per-request decision over hostile header values (fields split at 0xff: method,
/// path, hash, traceparent, x-request-id, baggage): only a 403 rejects, and the rule it reports
/// is a valid header value.
pub fn request_headers(data: &[u8]) -> bool {
    let mut fields = data.split(|b| *b == 0xff);
    let mut next = || fields.next();
    let (method, path) = (next().unwrap_or(b"GET"), next().unwrap_or(b"/"));
    let request = RequestView { method, path, hash: next(), traceparent: next(), request_id: next(), baggage: next() };
    let mut engine = Engine::new(Rc::new(FilterConfig::default()), "fuzz", 7);
    let decision = engine.decide(&request, 1);
    assert!(decision.rule.bytes().all(|b| (0x20..0x7f).contains(&b)), "the rule is a header value");
    match decision.verdict {
        Verdict::Reject { status, .. } => {
            assert_eq!(status, 403);
            false
        }
        _ => true,
    }
}

/// Telemetry ingest past authentication: decode, validate, prepare (span facts written out, cut
/// to the byte bounds), apply to the store. Ingest reads the aggregate entries in place: it accepts
/// exactly the bodies prost's decoding of `TelemetryBatch` accepts, and reads the same entries.
/// Whatever is admitted carries no label longer than the bound.
pub fn telemetry_batch(data: &[u8]) -> bool {
    let (canonical, received) = (TelemetryBatch::decode(data), ReceivedBatch::decode(Bytes::copy_from_slice(data)));
    assert_eq!(
        canonical.is_ok(),
        received.is_ok(),
        "ingest and prost disagree on whether the body is a TelemetryBatch"
    );
    let (Ok(canonical), Ok(mut received)) = (canonical, received) else { return false };
    assert_eq!(received.batch, TelemetryBatch { aggregates: Vec::new(), ..canonical.clone() });
    assert_eq!(received.aggregates().len(), canonical.aggregates.len());
    for (in_place, mut entry) in received.aggregates().zip(canonical.aggregates) {
        // Ingest keeps the buckets a histogram has and counts the rest (refused by validation).
        assert_eq!(in_place.buckets_received, entry.latency_buckets.len());
        entry.latency_buckets.truncate(LATENCY_BUCKETS);
        assert_eq!(in_place.to_owned_entry(), entry, "ingest read another aggregate entry than prost");
    }
    if validate(&received).is_err() {
        return false;
    }
    prepare(&mut received);
    for entry in received.aggregates() {
        for label in [entry.service, entry.operation, entry.source] {
            assert!(label.as_bytes().len() <= MAX_LABEL_BYTES, "a label longer than the bound was admitted");
        }
    }
    let mut store = TelemetryStore::new(StoreLimits::default());
    store.apply(received, 1_700_000_000);
    true
}

/// The strategies file, as JSON and as YAML.
pub fn strategies_file(data: &[u8]) -> bool {
    let json = file::parse("fuzz.json", data, Format::Json).is_ok();
    let yaml = file::parse("fuzz.yaml", data, Format::Yaml).is_ok();
    json || yaml
}

/// The Jaeger JSON export reader, through a whole analysis.
pub fn jaeger_json(data: &[u8]) -> bool {
    let mut analyzer = Analyzer::new(AnalysisOptions::default());
    let spans = jaeger_json::feed(data, "fuzz", &mut analyzer, None);
    let _ = analyzer.finish("fuzz");
    spans > 0
}

/// The OTLP/JSON reader, through a whole analysis.
pub fn otlp_json(data: &[u8]) -> bool {
    let mut analyzer = Analyzer::new(AnalysisOptions::default());
    let spans = otlp_json::feed(data, "fuzz", &mut analyzer);
    let _ = analyzer.finish("fuzz");
    spans > 0
}

/// The SamplingPolicy merge over a JSON array of specs: whatever the merge serves passes the
/// strategies file's own checks.
pub fn policy_merge(data: &[u8]) -> bool {
    let Ok(specs) = serde_json::from_slice::<Vec<SamplingPolicySpec>>(data) else { return false };
    let inputs: Vec<PolicyInput> = specs
        .into_iter()
        .enumerate()
        .map(|(i, spec)| PolicyInput {
            key: PolicyKey { namespace: "fuzz".to_owned(), name: format!("p{i}") },
            spec,
            last_good: None,
        })
        .collect();
    let valid = inputs.iter().all(|input| validate_spec(&input.spec).is_ok());
    let merged = merge(None, &inputs);
    if let Err(invalid) = file::check(&merged.strategies) {
        panic!("the merge served strategies that fail the file's checks: {invalid:?}");
    }
    valid
}
