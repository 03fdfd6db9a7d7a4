//! Alert state over time, as Prometheus keeps it: a condition that starts holding makes its
//! alert `pending`; once it has held for the rule's `for` duration the alert is `firing`; when the
//! condition stops holding, a pending alert is dropped and a firing one becomes `resolved` (kept
//! listed for a while, so operators and Alertmanager see the end).

use std::collections::BTreeMap;
use std::time::Duration;

use super::rules::{Active, AlertConfig, Rule};

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Pending,
    Firing,
    Resolved,
}

/// One alert instance (rule + service).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertInstance {
    pub rule: Rule,
    pub service: Option<String>,
    pub state: State,
    /// Latest value of the condition's expression.
    pub value: f64,
    /// When the condition started holding (seconds since the epoch, fractional).
    pub active_at: f64,
    pub fired_at: Option<f64>,
    pub resolved_at: Option<f64>,
}

/// A change worth telling Alertmanager about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Fired,
    Resolved,
}

/// All alert instances.
#[derive(Debug, Default)]
pub struct AlertBook {
    alerts: BTreeMap<(Rule, Option<String>), AlertInstance>,
}

impl AlertBook {
    /// Applies one evaluation at `now`; returns the instances that fired or resolved.
    pub fn update(&mut self, now: f64, active: Vec<Active>, config: &AlertConfig) -> Vec<(AlertInstance, Change)> {
        let mut changes = Vec::new();
        let mut holding = std::collections::BTreeSet::new();
        for condition in active {
            let key = (condition.rule, condition.service.clone());
            holding.insert(key.clone());
            let alert = self.alerts.entry(key).or_insert(AlertInstance {
                rule: condition.rule,
                service: condition.service,
                state: State::Pending,
                value: condition.value,
                active_at: now,
                fired_at: None,
                resolved_at: None,
            });
            alert.value = condition.value;
            if alert.state == State::Resolved {
                *alert = AlertInstance {
                    state: State::Pending,
                    active_at: now,
                    fired_at: None,
                    resolved_at: None,
                    ..alert.clone()
                };
            }
            let held = Duration::from_secs_f64((now - alert.active_at).max(0.0));
            if alert.state == State::Pending && held >= config.for_duration(alert.rule) {
                alert.state = State::Firing;
                alert.fired_at = Some(now);
                changes.push((alert.clone(), Change::Fired));
            }
        }
        let keep = config.keep_resolved.as_secs_f64();
        self.alerts.retain(|key, alert| {
            if holding.contains(key) {
                return true;
            }
            match alert.state {
                State::Pending => false,
                State::Firing => {
                    alert.state = State::Resolved;
                    alert.resolved_at = Some(now);
                    changes.push((alert.clone(), Change::Resolved));
                    true
                }
                State::Resolved => alert.resolved_at.is_some_and(|at| now - at <= keep),
            }
        });
        changes
    }

    /// Every listed instance, by rule then service.
    pub fn alerts(&self) -> impl Iterator<Item = &AlertInstance> {
        self.alerts.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn active(rule: Rule, service: &str) -> Active {
        Active { rule, service: Some(service.to_owned()), value: 1.0 }
    }

    #[test]
    fn pending_then_firing_after_for_then_resolved_then_forgotten() {
        let config = AlertConfig {
            for_others: Duration::from_secs(10),
            keep_resolved: Duration::from_secs(60),
            ..AlertConfig::default()
        };
        let mut book = AlertBook::default();
        let latency = || vec![active(Rule::HighTraceLatency, "a")];
        assert_eq!(book.update(100.0, latency(), &config), vec![]);
        assert_eq!(book.alerts().next().map(|a| a.state), Some(State::Pending));
        assert_eq!(book.update(105.0, latency(), &config), vec![]);
        let fired = book.update(110.0, latency(), &config);
        assert_eq!(
            fired.iter().map(|(a, c)| (a.state, *c, a.fired_at)).collect::<Vec<_>>(),
            vec![(State::Firing, Change::Fired, Some(110.0))]
        );
        let resolved = book.update(120.0, vec![], &config);
        assert_eq!(
            resolved.iter().map(|(a, c)| (a.state, *c, a.resolved_at)).collect::<Vec<_>>(),
            vec![(State::Resolved, Change::Resolved, Some(120.0))]
        );
        assert_eq!(book.update(170.0, vec![], &config), vec![]);
        assert_eq!(book.alerts().count(), 1, "kept for keep_resolved");
        book.update(181.0, vec![], &config);
        assert_eq!(book.alerts().count(), 0);
    }

    #[test]
    fn a_violation_fires_at_once_and_a_short_blip_never_fires() {
        let config = AlertConfig { for_others: Duration::from_secs(10), ..AlertConfig::default() };
        let mut book = AlertBook::default();
        let changes = book.update(
            1.0,
            vec![active(Rule::ConstitutionalHashViolation, "a"), active(Rule::HighTraceLatency, "b")],
            &config,
        );
        assert_eq!(changes.iter().map(|(a, _)| a.rule).collect::<Vec<_>>(), vec![Rule::ConstitutionalHashViolation]);
        let changes = book.update(5.0, vec![active(Rule::ConstitutionalHashViolation, "a")], &config);
        assert_eq!(changes, vec![]);
        assert_eq!(book.alerts().count(), 1, "the pending latency alert was dropped");
    }
}
