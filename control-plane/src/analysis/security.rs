//! Security: 401/403 answers per (caller, service), forged constitutional hashes per caller, and
//! span attributes that carry secrets. A secret is reported by service, attribute key and reason,
//! never by value: the report must be safe to share.
//!
//! Whether an attribute carries a credential is decided by evidence ([`credentials`]): whole
//! segments of its key, the shape of its value, never a number.
//!
//! Findings: `ForgedConstitutionalHash` (critical) per caller that sent mismatched hashes,
//! `RepeatedAuthFailures` (warning) per (caller, service) with at least the configured number of
//! 401/403 answers, `SensitiveAttribute` (critical) per (service, key).

use std::collections::HashMap;
use std::sync::Arc;

use acgs_proto::telemetry::HashStatus;

use super::report::{
    Analysis, AuthFailures, CallerViolations, Evidence, Finding, SecuritySection, SensitiveAttribute, Severity,
};
use super::SpanContext;

mod credentials;

#[derive(Debug, Default)]
struct Counted {
    count: u64,
    evidence: Evidence,
}

#[derive(Debug, Default)]
struct AuthCounts {
    unauthorized: u64,
    forbidden: u64,
    evidence: Evidence,
}

/// Accumulates security patterns.
#[derive(Debug, Default)]
pub struct SecurityAnalysis {
    auth: HashMap<(Arc<str>, Arc<str>), AuthCounts>,
    forged: HashMap<(Arc<str>, Arc<str>), Counted>,
    secrets: HashMap<(Arc<str>, String, &'static str), Counted>,
}

impl SecurityAnalysis {
    pub fn observe(&mut self, context: &SpanContext<'_>) {
        let span = context.span;
        if let Some(status @ (401 | 403)) = span.http_status {
            let counts = self.auth.entry((Arc::clone(&context.caller), Arc::clone(&span.service))).or_default();
            if status == 401 {
                counts.unauthorized += 1;
            } else {
                counts.forbidden += 1;
            }
            counts.evidence.add(&span.trace_id);
        }
        if span.hash_status == Some(HashStatus::Mismatch) {
            let forged = self.forged.entry((Arc::clone(&context.caller), Arc::clone(&span.service))).or_default();
            forged.count += 1;
            forged.evidence.add(&span.trace_id);
        }
        for attribute in &span.attributes {
            let Some(reason) = credentials::sensitivity(&attribute.key, &attribute.value) else { continue };
            let counted = self.secrets.entry((Arc::clone(&span.service), attribute.key.clone(), reason)).or_default();
            counted.count += 1;
            counted.evidence.add(&span.trace_id);
        }
    }

    /// The section and findings; `auth_failure_threshold` 401/403s from one caller to one
    /// service make a finding.
    pub fn finish(self, auth_failure_threshold: u64) -> (SecuritySection, Vec<Finding>) {
        let mut findings = Vec::new();
        let mut forged: Vec<_> = self.forged.into_iter().collect();
        forged.sort_by(|a, b| a.0.cmp(&b.0));
        let mut per_caller: Vec<(Arc<str>, u64, Evidence, Vec<&str>)> = Vec::new();
        for ((caller, service), counted) in &forged {
            match per_caller.iter_mut().find(|(c, ..)| c == caller) {
                Some((_, count, evidence, services)) => {
                    *count += counted.count;
                    for id in counted.evidence.ids() {
                        evidence.add(&Arc::from(id));
                    }
                    services.push(service);
                }
                None => per_caller.push((Arc::clone(caller), counted.count, counted.evidence.clone(), vec![service])),
            }
        }
        for (caller, count, evidence, services) in per_caller {
            findings.push(Finding {
                analysis: Analysis::Security,
                rule: "ForgedConstitutionalHash".to_owned(),
                severity: Severity::Critical,
                service: services.join(", "),
                operation: None,
                message: format!("{caller} sent {count} requests with a forged constitutional hash"),
                evidence_trace_ids: evidence.ids(),
            });
        }
        let mut auth: Vec<_> = self.auth.into_iter().collect();
        auth.sort_by(|a, b| a.0.cmp(&b.0));
        for ((caller, service), counts) in &auth {
            let total = counts.unauthorized + counts.forbidden;
            if total >= auth_failure_threshold {
                findings.push(Finding {
                    analysis: Analysis::Security,
                    rule: "RepeatedAuthFailures".to_owned(),
                    severity: Severity::Warning,
                    service: service.to_string(),
                    operation: None,
                    message: format!(
                        "{caller} got {} × 401 and {} × 403 from {service}",
                        counts.unauthorized, counts.forbidden
                    ),
                    evidence_trace_ids: counts.evidence.ids(),
                });
            }
        }
        let mut secrets: Vec<_> = self.secrets.into_iter().collect();
        secrets.sort_by(|a, b| a.0.cmp(&b.0));
        for ((service, key, reason), counted) in &secrets {
            findings.push(Finding {
                analysis: Analysis::Security,
                rule: "SensitiveAttribute".to_owned(),
                severity: Severity::Critical,
                service: service.to_string(),
                operation: None,
                message: format!("span attribute `{key}` carries a secret ({reason}) in {} spans", counted.count),
                evidence_trace_ids: counted.evidence.ids(),
            });
        }
        let section = SecuritySection {
            auth_failures: auth
                .iter()
                .map(|((caller, service), counts)| AuthFailures {
                    caller: caller.to_string(),
                    service: service.to_string(),
                    unauthorized_401: counts.unauthorized,
                    forbidden_403: counts.forbidden,
                })
                .collect(),
            forged_hashes: forged
                .iter()
                .map(|((caller, service), counted)| CallerViolations {
                    caller: caller.to_string(),
                    service: service.to_string(),
                    kind: HashStatus::Mismatch.as_str().to_owned(),
                    count: counted.count,
                })
                .collect(),
            sensitive_attributes: secrets
                .iter()
                .map(|((service, key, reason), counted)| SensitiveAttribute {
                    service: service.to_string(),
                    key: key.clone(),
                    reason: (*reason).to_owned(),
                    spans: counted.count,
                })
                .collect(),
        };
        (section, findings)
    }
}

#[cfg(test)]
mod tests;
