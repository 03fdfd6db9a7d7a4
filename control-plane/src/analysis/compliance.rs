//! Compliance: how many spans carried the right constitutional hash, per service and overall;
//! the violations by kind (missing, mismatch) and by caller; compliance over time.
//!
//! A span counts by its hash status: valid and injected are compliant, missing and mismatch are
//! violations, exempt counts on neither side (the same split as the
//! `acgs_constitutional_compliance_ratio` metric).
//!
//! A span without any hash status is a hop the filter did not check. When it is a server span
//! (`span.kind` server, or Envoy's inbound span) of a service in scope, and its parent is not
//! its own sidecar's inbound span (an application's server span right behind its sidecar is the
//! same request, checked or not there), it counts as `missing`, blamed on its caller: a service
//! that never sends the hash, or runs without the filter, shows as a violation rather than as
//! nothing. Client and internal spans, application spans behind their sidecar, and the services
//! declared out of scope (`--untracked-service`) are `untracked` and count on neither side; the
//! report shows how many wherever it shows a rate.
//!
//! Findings: `ConstitutionalHashViolation` (critical) per service that received forged hashes,
//! `MissingConstitutionalHash` (warning) per service that received requests without one, and
//! `ConstitutionalComplianceRate` (warning) per service whose rate is below the target.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use acgs_proto::telemetry::{Compliance, HashStatus};

use super::model::keys;
use super::report::{
    ratio, Analysis, CallerViolations, CompliancePoint, ComplianceSection, Evidence, Finding, ServiceCompliance,
    Severity,
};
use super::SpanContext;

/// Points of the compliance timeline at most.
const TIMELINE_POINTS: u64 = 60;

#[derive(Debug, Default)]
struct ServiceCounts {
    spans: u64,
    by_status: [u64; 5],
    untracked: u64,
    evidence: [Evidence; 2],
}

/// Accumulates compliance over the analysed spans.
#[derive(Debug, Default)]
pub struct ComplianceAnalysis {
    /// Services out of the hash check's scope.
    untracked_services: HashSet<String>,
    services: HashMap<Arc<str>, ServiceCounts>,
    by_caller: HashMap<(Arc<str>, Arc<str>, HashStatus), u64>,
    /// (compliant, violations) per second.
    per_second: BTreeMap<u64, (u64, u64)>,
}

/// The status's slot in [`ServiceCounts::by_status`] (the report's column order). No span
/// carries `Unspecified` (no label parses to it); it would count as exempt, as its compliance.
fn status_index(status: HashStatus) -> usize {
    match status {
        HashStatus::Valid => 0,
        HashStatus::Injected => 1,
        HashStatus::Missing => 2,
        HashStatus::Mismatch => 3,
        HashStatus::Exempt | HashStatus::Unspecified => 4,
    }
}

impl ComplianceAnalysis {
    /// An analysis in which `untracked_services` are out of scope.
    pub fn new(untracked_services: &[String]) -> Self {
        Self { untracked_services: untracked_services.iter().cloned().collect(), ..Self::default() }
    }

    pub fn observe(&mut self, context: &SpanContext<'_>) {
        let span = context.span;
        let counts = match self.services.get_mut(&span.service) {
            Some(counts) => counts,
            None => self.services.entry(Arc::clone(&span.service)).or_default(),
        };
        counts.spans += 1;
        let behind_its_sidecar = context.parent.is_some_and(|parent| {
            parent.attribute(keys::UPSTREAM_CLUSTER).is_some_and(|cluster| cluster.starts_with("inbound|"))
        });
        let unchecked_request =
            span.server && !behind_its_sidecar && !self.untracked_services.contains(span.service.as_ref());
        let status = match span.hash_status {
            Some(status) => status,
            None if unchecked_request => HashStatus::Missing,
            None => {
                counts.untracked += 1;
                return;
            }
        };
        counts.by_status[status_index(status)] += 1;
        let compliant = match status.compliance() {
            Compliance::Compliant => true,
            Compliance::NonCompliant => false,
            Compliance::Exempt => return,
        };
        let point = self.per_second.entry(span.start_micros / 1_000_000).or_default();
        if compliant {
            point.0 += 1;
            return;
        }
        point.1 += 1;
        counts.evidence[usize::from(status == HashStatus::Mismatch)].add(&span.trace_id);
        *self.by_caller.entry((Arc::clone(&context.caller), Arc::clone(&span.service), status)).or_default() += 1;
    }

    /// The section, and findings against `target_rate`.
    pub fn finish(self, target_rate: f64) -> (ComplianceSection, Vec<Finding>) {
        let mut section = ComplianceSection::default();
        let mut findings = Vec::new();
        let mut services: Vec<_> = self.services.into_iter().collect();
        services.sort_by(|a, b| a.0.cmp(&b.0));
        for (service, counts) in services {
            let [valid, injected, missing, mismatch, exempt] = counts.by_status;
            let rate = ratio(valid + injected, valid + injected + missing + mismatch);
            section.compliant += valid + injected;
            section.missing += missing;
            section.mismatch += mismatch;
            section.untracked += counts.untracked;
            let callers = |kind: HashStatus| {
                let mut names: Vec<&str> = self
                    .by_caller
                    .keys()
                    .filter(|(_, s, k)| *s == service && *k == kind)
                    .map(|(caller, _, _)| caller.as_ref())
                    .collect();
                names.sort_unstable();
                names.join(", ")
            };
            if mismatch > 0 {
                findings.push(Finding {
                    analysis: Analysis::Compliance,
                    rule: "ConstitutionalHashViolation".to_owned(),
                    severity: Severity::Critical,
                    service: service.to_string(),
                    operation: None,
                    message: format!(
                        "{mismatch} requests carried a constitutional hash other than the expected one (from {})",
                        callers(HashStatus::Mismatch)
                    ),
                    evidence_trace_ids: counts.evidence[1].ids(),
                });
            }
            if missing > 0 {
                findings.push(Finding {
                    analysis: Analysis::Compliance,
                    rule: "MissingConstitutionalHash".to_owned(),
                    severity: Severity::Warning,
                    service: service.to_string(),
                    operation: None,
                    message: format!(
                        "{missing} requests carried no constitutional hash (from {})",
                        callers(HashStatus::Missing)
                    ),
                    evidence_trace_ids: counts.evidence[0].ids(),
                });
            }
            if let Some(rate) = rate.filter(|rate| *rate < target_rate) {
                let mut evidence = counts.evidence[1].clone();
                for id in counts.evidence[0].ids() {
                    evidence.add(&Arc::from(id));
                }
                findings.push(Finding {
                    analysis: Analysis::Compliance,
                    rule: "ConstitutionalComplianceRate".to_owned(),
                    severity: Severity::Warning,
                    service: service.to_string(),
                    operation: None,
                    message: format!(
                        "compliance rate {:.2} % is below the {:.2} % target",
                        rate * 100.0,
                        target_rate * 100.0
                    ),
                    evidence_trace_ids: evidence.ids(),
                });
            }
            section.services.push(ServiceCompliance {
                service: service.to_string(),
                spans: counts.spans,
                valid,
                injected,
                missing,
                mismatch,
                exempt,
                untracked: counts.untracked,
                compliance_rate: rate,
            });
        }
        section.overall_rate = ratio(section.compliant, section.compliant + section.missing + section.mismatch);
        let mut by_caller: Vec<CallerViolations> = self
            .by_caller
            .into_iter()
            .map(|((caller, service, kind), count)| CallerViolations {
                caller: caller.to_string(),
                service: service.to_string(),
                kind: kind.as_str().to_owned(),
                count,
            })
            .collect();
        by_caller
            .sort_by(|a, b| b.count.cmp(&a.count).then_with(|| (&a.caller, &a.service).cmp(&(&b.caller, &b.service))));
        section.violations_by_caller = by_caller;
        (section.timeline, section.timeline_slice_secs) = timeline(&self.per_second);
        section.target_rate = Some(target_rate);
        (section, findings)
    }
}

/// At most [`TIMELINE_POINTS`] equal slices covering the seconds seen (those with spans), and the
/// slices' width in seconds.
fn timeline(per_second: &BTreeMap<u64, (u64, u64)>) -> (Vec<CompliancePoint>, u64) {
    let (Some((first, _)), Some((last, _))) = (per_second.first_key_value(), per_second.last_key_value()) else {
        return (Vec::new(), 0);
    };
    let step = ((last - first) / TIMELINE_POINTS + 1).max(1);
    let mut points: BTreeMap<u64, CompliancePoint> = BTreeMap::new();
    for (second, (compliant, violations)) in per_second {
        let start = first + (second - first) / step * step;
        let point =
            points.entry(start).or_insert(CompliancePoint { start_unix_secs: start, compliant: 0, violations: 0 });
        point.compliant += compliant;
        point.violations += violations;
    }
    (points.into_values().collect(), step)
}

#[cfg(test)]
mod tests;
