//! The PrometheusRule in deploy/ says what the built-in evaluator says. The committed YAML must
//! equal what `alerts::rules` renders (run with `ACGS_WRITE_RULES=1` to rewrite it), and each rule
//! expression, parsed by a PromQL parser and evaluated by the small evaluator below over known
//! counter series, must fire for exactly the services the built-in evaluator fires for on the
//! same traffic. The evaluator covers what the four rules use: selectors with `=`/`=~` matchers,
//! `rate`/`increase` over a range (counter at the end minus at the start; no extrapolation),
//! `sum by`, `histogram_quantile` (Prometheus' linear interpolation), `/` between vectors with
//! the same labels, and comparisons with a number (filtering).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use acgs_control_plane::alerts::rules::{evaluate, prometheus_rule_yaml, AlertConfig, Rule};
use acgs_control_plane::telemetry::histogram::LatencyHistogram;
use acgs_control_plane::telemetry::window::{SeriesKey, WindowStore};
use acgs_proto::telemetry::LATENCY_BUCKET_BOUNDS_MICROS;
use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr, LabelModifier};

const RULE_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/base/monitoring/prometheusrule.yaml");

type Labels = BTreeMap<String, String>;

/// Counter series: labels (with `__name__`) → increase over the rule's range.
struct Series(Vec<(Labels, f64)>);

/// Traffic over the 5 minute range: (service, hash status, requests, latency µs).
type Traffic = [(&'static str, &'static str, u64, u64)];

impl Series {
    /// The counters the control plane exports for this traffic, as increases over the range.
    fn exported(traffic: &Traffic) -> Self {
        let mut out = Vec::new();
        let labels =
            |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<Labels>();
        let mut buckets: BTreeMap<(&str, String), f64> = BTreeMap::new();
        for (service, status, count, micros) in traffic {
            out.push((
                labels(&[
                    ("__name__", "acgs_requests_total"),
                    ("service", service),
                    ("operation", "GET /"),
                    ("code_class", "2xx"),
                    ("hash_status", status),
                ]),
                *count as f64,
            ));
            if *status == "mismatch" {
                out.push((
                    labels(&[
                        ("__name__", "acgs_constitutional_hash_mismatch_total"),
                        ("service", service),
                        ("source", "10.0.0.9"),
                    ]),
                    *count as f64,
                ));
            }
            let les = LATENCY_BUCKET_BOUNDS_MICROS
                .iter()
                .map(|b| (*b, format!("{}", *b as f64 / 1e6)))
                .chain([(u64::MAX, "+Inf".to_owned())]);
            for (bound, le) in les {
                *buckets.entry((service, le)).or_default() += if *micros <= bound { *count as f64 } else { 0.0 };
            }
        }
        for ((service, le), value) in buckets {
            out.push((
                labels(&[
                    ("__name__", "acgs_request_duration_seconds_bucket"),
                    ("service", service),
                    ("operation", "GET /"),
                    ("le", &le),
                ]),
                value,
            ));
        }
        Series(out)
    }
}

fn eval(expr: &Expr, series: &Series, range_secs: f64) -> Vec<(Labels, f64)> {
    match expr {
        Expr::Paren(paren) => eval(&paren.expr, series, range_secs),
        Expr::NumberLiteral(number) => vec![(Labels::new(), number.val)],
        Expr::Call(call) => {
            let args = &call.args.args;
            match call.func.name {
                "rate" | "increase" => {
                    let Expr::MatrixSelector(matrix) = args[0].as_ref() else {
                        panic!("{} of a non-range", call.func.name)
                    };
                    assert_eq!(matrix.range.as_secs_f64(), range_secs, "rules look back over the configured range");
                    let divisor = if call.func.name == "rate" { range_secs } else { 1.0 };
                    series
                        .0
                        .iter()
                        .filter(|(labels, _)| {
                            matrix
                                .vs
                                .name
                                .as_deref()
                                .is_none_or(|name| labels.get("__name__").map(String::as_str) == Some(name))
                                && matrix.vs.matchers.matchers.iter().all(|m| {
                                    let value = labels.get(&m.name).map_or("", String::as_str);
                                    match &m.op {
                                        MatchOp::Equal | MatchOp::NotEqual | MatchOp::Re(_) | MatchOp::NotRe(_) => {
                                            m.is_match(value)
                                        }
                                    }
                                })
                        })
                        .map(|(labels, increase)| {
                            let mut labels = labels.clone();
                            labels.remove("__name__");
                            (labels, increase / divisor)
                        })
                        .collect()
                }
                "histogram_quantile" => {
                    let q = eval(&args[0], series, range_secs)[0].1;
                    let mut groups: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
                    for (mut labels, value) in eval(&args[1], series, range_secs) {
                        let le = labels.remove("le").expect("le label");
                        let bound = if le == "+Inf" { f64::INFINITY } else { le.parse().expect("le number") };
                        groups.entry(labels).or_default().push((bound, value));
                    }
                    groups.into_iter().map(|(labels, mut buckets)| (labels, quantile(q, &mut buckets))).collect()
                }
                other => panic!("the evaluator does not know {other}"),
            }
        }
        Expr::Aggregate(aggregate) => {
            assert_eq!(aggregate.op.to_string(), "sum");
            let keep: Option<Vec<String>> = match &aggregate.modifier {
                Some(LabelModifier::Include(labels)) => Some(labels.labels.clone()),
                None => Some(Vec::new()),
                Some(LabelModifier::Exclude(_)) => panic!("without() is not used by the rules"),
            };
            let mut sums: BTreeMap<Labels, f64> = BTreeMap::new();
            for (labels, value) in eval(&aggregate.expr, series, range_secs) {
                let key =
                    labels.into_iter().filter(|(k, _)| keep.as_ref().is_some_and(|keep| keep.contains(k))).collect();
                *sums.entry(key).or_default() += value;
            }
            sums.into_iter().collect()
        }
        Expr::Binary(binary) => {
            let lhs = eval(&binary.lhs, series, range_secs);
            let rhs = eval(&binary.rhs, series, range_secs);
            let op = binary.op.to_string();
            if let Expr::NumberLiteral(number) = binary.rhs.as_ref() {
                return lhs
                    .into_iter()
                    .filter(|(_, v)| match op.as_str() {
                        ">" => *v > number.val,
                        "<" => *v < number.val,
                        other => panic!("comparison {other}"),
                    })
                    .collect();
            }
            assert_eq!(op, "/", "vector-vector operations used by the rules");
            lhs.into_iter()
                .filter_map(|(labels, v)| rhs.iter().find(|(l, _)| *l == labels).map(|(_, d)| (labels, v / d)))
                .collect()
        }
        other => panic!("the evaluator does not know {other:?}"),
    }
}

/// Prometheus' bucketQuantile: linear interpolation inside the bucket holding the rank.
fn quantile(q: f64, buckets: &mut [(f64, f64)]) -> f64 {
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last().map_or(0.0, |b| b.1);
    if total == 0.0 {
        return f64::NAN;
    }
    let rank = q * total;
    let index = buckets.iter().position(|(_, count)| *count >= rank).unwrap_or(buckets.len() - 1);
    if index == buckets.len() - 1 {
        return buckets[buckets.len() - 2].0;
    }
    let (lower, below) = if index == 0 { (0.0, 0.0) } else { buckets[index - 1] };
    let (upper, count) = buckets[index];
    lower + (upper - lower) * (rank - below) / (count - below)
}

/// The rules committed in deploy/, by name.
fn committed_rules() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(RULE_FILE).expect("deploy/base/monitoring/prometheusrule.yaml");
    let yaml: serde_json::Value = serde_norway::from_str(&text).expect("YAML");
    assert_eq!(
        (yaml["apiVersion"].as_str(), yaml["kind"].as_str()),
        (Some("monitoring.coreos.com/v1"), Some("PrometheusRule"))
    );
    yaml["spec"]["groups"][0]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|rule| {
            (
                rule["alert"].as_str().unwrap_or_default().to_owned(),
                rule["expr"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Firing (alert, service) per the PromQL rules.
fn promql_firing(traffic: &Traffic) -> BTreeSet<(String, String)> {
    let series = Series::exported(traffic);
    let mut firing = BTreeSet::new();
    for (name, expr) in committed_rules() {
        let parsed = parser::parse(&expr).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (labels, _) in eval(&parsed, &series, 300.0) {
            firing.insert((name.clone(), labels.get("service").cloned().unwrap_or_default()));
        }
    }
    firing
}

/// Firing (alert, service) per the built-in evaluator over the same traffic in its windows.
fn builtin_firing(traffic: &Traffic) -> BTreeSet<(String, String)> {
    let now = 1_000_000.0;
    let mut windows = WindowStore::new(Duration::from_secs(10), 100, 1_000);
    for (service, status, count, micros) in traffic {
        for window in 0..30u64 {
            let mut histogram = LatencyHistogram::default();
            for _ in 0..count / 30 {
                histogram.observe_micros(*micros);
            }
            let key = SeriesKey {
                service: Arc::from(*service),
                operation: Arc::from("GET /"),
                code_class: 2,
                hash_status: status.parse().expect("a hash status label"),
            };
            let _ = windows.add(now as u64 - 300 + window * 10, key, &histogram);
        }
    }
    evaluate(&windows, now, true, &AlertConfig::default())
        .into_iter()
        .map(|a| (a.rule.name().to_owned(), a.service.unwrap_or_default()))
        .collect()
}

fn set(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    pairs.iter().map(|(a, s)| ((*a).to_owned(), (*s).to_owned())).collect()
}

#[test]
fn the_committed_prometheus_rule_is_what_the_rules_render() {
    let rendered = prometheus_rule_yaml(&AlertConfig::default(), "acgs-system");
    if std::env::var_os("ACGS_WRITE_RULES").is_some() {
        std::fs::write(RULE_FILE, &rendered).expect("write the rule file");
    }
    let committed = std::fs::read_to_string(RULE_FILE).unwrap_or_default();
    assert_eq!(
        committed, rendered,
        "deploy/base/monitoring/prometheusrule.yaml is stale: rerun with ACGS_WRITE_RULES=1"
    );
    let names: Vec<String> = committed_rules().into_keys().collect();
    assert_eq!(
        names,
        Rule::ALL.iter().map(|r| r.name().to_owned()).collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>()
    );
}

#[test]
fn a_healthy_mesh_fires_nothing_in_either_evaluator() {
    // 60 000 requests in 5 minutes = 200/s, all compliant, 0.9 ms.
    let traffic: &Traffic =
        &[("core", "valid", 45_000, 900), ("policy", "valid", 12_000, 900), ("health", "exempt", 3_000, 100)];
    assert_eq!(promql_firing(traffic), set(&[]));
    assert_eq!(builtin_firing(traffic), set(&[]));
}

#[test]
fn each_fault_fires_the_same_alert_in_both_evaluators() {
    // 15 000 requests in 5 minutes = 50/s; policy 90 % compliant with forged hashes; auth slow.
    let traffic: &Traffic = &[
        ("core", "valid", 9_000, 900),
        ("policy", "valid", 2_700, 900),
        ("policy", "mismatch", 300, 900),
        ("auth", "valid", 3_000, 8_000),
    ];
    let expected = set(&[
        ("ConstitutionalComplianceRate", "policy"),
        ("ConstitutionalHashViolation", "policy"),
        ("HighTraceLatency", "auth"),
        ("LowTraceThroughput", ""),
    ]);
    assert_eq!(promql_firing(traffic), expected);
    assert_eq!(builtin_firing(traffic), expected);
}
