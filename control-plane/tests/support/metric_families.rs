//! The metric families the control plane exposes, read from a running server's `/metrics` once
//! every family has had its first event (a labelled family shows nothing before it): shared by
//! the test that keeps the README's list equal to the registry and by the regenerate example that
//! writes that list.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use acgs_control_plane::alerts::rules::AlertConfig;
use acgs_control_plane::server::{start, ServerConfig};
use acgs_control_plane::telemetry::TelemetryConfig;
use acgs_proto::telemetry::attribute::Value;
use acgs_proto::telemetry::{AggregateEntry, Attribute, DroppedCounters, HashStatus, SpanRecord, TelemetryBatch};
use prost::Message as _;

/// Where the README's list starts and ends.
pub const BEGIN: &str =
    "<!-- metric families: written by `cargo run --release -p acgs-control-plane --example regenerate` -->\n";
pub const END: &str = "<!-- end of metric families -->\n";

/// One family as `/metrics` shows it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Family {
    pub kind: String,
    pub help: String,
    /// The names its samples carry, with their labels (`le` aside).
    pub samples: BTreeMap<String, Vec<String>>,
}

const TOKEN: &str = "metric-families-token-0123456789";

/// Starts a control plane, gives every family its first event, and reads `/metrics`.
pub fn busy_server_families() -> BTreeMap<String, Family> {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let dir = std::env::temp_dir().join(format!("acgs-metric-families-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let strategies = dir.join("strategies.json");
    std::fs::write(&strategies, r#"{"default_strategy":{"type":"probabilistic","param":1.0}}"#).expect("written");
    // Alertmanager on a port bound but not listening, which refuses: the push is counted as failed.
    let refusing = tokio::net::TcpSocket::new_v4().expect("a socket");
    refusing.bind("127.0.0.1:0".parse().expect("an address")).expect("bind");
    let config = ServerConfig {
        telemetry: TelemetryConfig { token: Some(TOKEN.to_owned()), ..TelemetryConfig::default() },
        alerts: AlertConfig { eval_interval: Duration::from_millis(50), ..AlertConfig::default() },
        alertmanager: Some(format!("http://{}", refusing.local_addr().expect("addr"))),
        ..ServerConfig::loopback(Some(strategies))
    };
    let server = runtime.block_on(start(config)).expect("the control plane starts");
    let base = format!("http://{}", server.http_addr);
    let agent = ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build());
    let post = |token: &str| {
        agent
            .post(format!("{base}/v1/telemetry"))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/x-protobuf")
            .send(&event_batch().encode_to_vec())
            .expect("ingest answers")
            .status()
            .as_u16()
    };
    assert_eq!(post(TOKEN), 200);
    assert_eq!(post("wrong-token"), 401);
    agent.get(format!("{base}/api/sampling?service=constitutional-core")).call().expect("sampling answers");
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let text = agent.get(format!("{base}/metrics")).call().expect("metrics").into_body().read_to_string();
        let text = text.expect("metrics text");
        if text.contains("acgs_alertmanager_notifications_total{") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(refusing);
    runtime.block_on(server.shutdown());
    parse(&text)
}

/// A batch with a hash mismatch (an alert, a mismatch series), a label and a span over their
/// byte bounds (truncation), and drops the filter reports.
fn event_batch() -> TelemetryBatch {
    let entry = |status: HashStatus, source: &str| AggregateEntry {
        service: "constitutional-core".to_owned(),
        operation: format!("GET /v1/{}", "x".repeat(200)),
        status_class: 2,
        hash_status: status as i32,
        count: 1,
        latency_buckets: vec![1],
        latency_sum_micros: 300,
        latency_max_micros: 300,
        source: source.to_owned(),
        ..AggregateEntry::default()
    };
    TelemetryBatch {
        vm_id: "metric-families".to_owned(),
        seq: 1,
        service: "constitutional-core".to_owned(),
        aggregates: vec![entry(HashStatus::Valid, ""), entry(HashStatus::Mismatch, "spiffe://cluster.local/ns/a/sa/b")],
        spans: vec![SpanRecord {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: "GET /v1/x".to_owned(),
            start_unix_nanos: 1,
            end_unix_nanos: 2,
            attributes: vec![Attribute {
                key: "acgs.operation".to_owned(),
                value: Some(Value::StringValue("y".repeat(2_000))),
            }],
            ..SpanRecord::default()
        }],
        dropped: Some(DroppedCounters { spans: 1, aggregates: 0, batches: 0 }),
        ..TelemetryBatch::default()
    }
}

/// Families from the OpenMetrics text.
pub fn parse(text: &str) -> BTreeMap<String, Family> {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            families.entry(name.to_owned()).or_default().help = help.to_owned();
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            families.entry(name.to_owned()).or_default().kind = kind.to_owned();
        } else if !line.starts_with('#') && !line.is_empty() {
            let name_end = line.find(['{', ' ']).unwrap_or(line.len());
            let sample = &line[..name_end];
            let labels: Vec<String> = line[name_end..]
                .strip_prefix('{')
                .and_then(|rest| rest.split_once('}'))
                .map(|(labels, _)| {
                    labels
                        .split(',')
                        .filter_map(|pair| pair.split_once('=').map(|(name, _)| name.to_owned()))
                        .filter(|name| name != "le")
                        .collect()
                })
                .unwrap_or_default();
            let family = families
                .iter_mut()
                .filter(|(name, _)| sample.starts_with(name.as_str()))
                .max_by_key(|(name, _)| name.len());
            if let Some((_, family)) = family {
                family.samples.insert(sample.to_owned(), labels);
            }
        }
    }
    families
}

/// The README's list: one row per family, as a scrape shows it.
pub fn readme_table(families: &BTreeMap<String, Family>) -> String {
    let mut table = String::from("| family | type | labels | what it counts |\n|---|---|---|---|\n");
    for (name, family) in families {
        let exposed = if family.kind == "counter" { format!("{name}_total") } else { name.clone() };
        let labels = family.samples.values().next().map(|labels| labels.join(", ")).unwrap_or_default();
        table.push_str(&format!("| `{exposed}` | {} | {labels} | {} |\n", family.kind, family.help));
    }
    table
}

/// The README with its list replaced by `table`.
pub fn with_table(readme: &str, table: &str) -> Option<String> {
    let (before, rest) = readme.split_once(BEGIN)?;
    let (_, after) = rest.split_once(END)?;
    Some(format!("{before}{BEGIN}{table}{END}{after}"))
}
