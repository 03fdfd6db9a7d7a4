//! Follows the control plane's alerts during the demo: prints each alert as it fires and
//! resolves (seconds since the demo started), and says whether all four rules fired and every
//! fired alert resolved.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use crate::alerts::book::State;
use crate::alerts::rules::Rule;
use crate::alerts::Alerts;

#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    fired: Option<f64>,
    resolved: Option<f64>,
}

/// What the demo has seen of the alerts.
#[derive(Debug)]
pub struct AlertWatch {
    started_unix: f64,
    seen: BTreeMap<(Rule, Option<String>), Seen>,
}

impl AlertWatch {
    pub fn new() -> Self {
        let started_unix = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        Self { started_unix, seen: BTreeMap::new() }
    }

    /// Reads the alerts; `say` gets a line per new firing or resolution.
    pub fn observe(&mut self, alerts: &Alerts, mut say: impl FnMut(String)) {
        for alert in alerts.snapshot() {
            let seen = self.seen.entry((alert.rule, alert.service.clone())).or_default();
            let service = alert.service.as_deref().unwrap_or("mesh");
            if let (None, Some(at)) = (seen.fired, alert.fired_at) {
                seen.fired = Some(at - self.started_unix);
                say(format!(
                    "🔔 {} firing for {service} at +{:.1} s (value {:.3})",
                    alert.rule.name(),
                    at - self.started_unix,
                    alert.value
                ));
            }
            if let (None, Some(at), State::Resolved) = (seen.resolved, alert.resolved_at, alert.state) {
                seen.resolved = Some(at - self.started_unix);
                say(format!("✔ {} resolved for {service} at +{:.1} s", alert.rule.name(), at - self.started_unix));
            }
        }
    }

    /// Every rule has fired for at least one instance.
    pub fn all_fired(&self) -> bool {
        Rule::ALL.iter().all(|rule| self.seen.iter().any(|((r, _), seen)| r == rule && seen.fired.is_some()))
    }

    /// Every alert that fired has resolved.
    pub fn all_resolved(&self) -> bool {
        self.seen.values().all(|seen| seen.fired.is_none() || seen.resolved.is_some())
    }

    pub fn print_table(&self) {
        let mut table = Table::new();
        table.load_style(UTF8_FULL_CONDENSED).set_header(["alert", "severity", "service", "fired", "resolved"]);
        let at = |t: Option<f64>| t.map_or_else(|| "-".to_owned(), |t| format!("+{t:.1} s"));
        for ((rule, service), seen) in self.seen.iter().filter(|(_, seen)| seen.fired.is_some()) {
            table.add_row([
                rule.name().to_owned(),
                rule.severity().to_owned(),
                service.clone().unwrap_or_else(|| "(mesh)".to_owned()),
                at(seen.fired),
                at(seen.resolved),
            ]);
        }
        println!("{table}");
    }
}
