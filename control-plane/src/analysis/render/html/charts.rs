//! The report's charts as inline SVG, each with labelled axes and units: compliance over time
//! (the rate and the violations on separate panels and scales) and one latency histogram per
//! service (span counts per latency bucket).

use std::fmt::Write as _;

use super::escape;
use crate::analysis::render::utc;
use crate::analysis::report::{ComplianceSection, PerformanceSection};

const AXIS: &str = "#52606d";
const GRID: &str = "#e4e7eb";

/// The smallest of 1, 2, 5 × 10ⁿ at or above `value` (at least 1): a round top for a count axis.
pub fn nice_ceiling(value: u64) -> u64 {
    let mut power = 1u64;
    loop {
        for step in [1u64, 2, 5] {
            let candidate = step.saturating_mul(power);
            if candidate >= value {
                return candidate;
            }
        }
        power = power.saturating_mul(10);
    }
}

/// A horizontal grid line with its tick label left of `left`.
fn y_tick(page: &mut String, left: f64, right: f64, y: f64, label: &str) {
    let _ = write!(
        page,
        "<line x1=\"{left}\" x2=\"{right}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"{GRID}\"/>\
<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\" fill=\"{AXIS}\">{label}</text>",
        left - 5.0,
        y + 3.5
    );
}

/// An axis title turned to run up the left side, centred on `middle`.
fn y_title(page: &mut String, x: f64, middle: f64, title: &str) {
    let _ = write!(
        page,
        "<text transform=\"translate({x},{middle:.1}) rotate(-90)\" font-size=\"10\" text-anchor=\"middle\" fill=\"{AXIS}\">{}</text>",
        escape(title)
    );
}

/// Compliance per time slice: the rate (0–100 %, with the target) above, the violations (a
/// count axis) below, one time axis.
pub fn compliance_over_time(page: &mut String, section: &ComplianceSection) {
    let points = &section.timeline;
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        page.push_str("<p class=\"empty\">No server spans with a hash status to chart.</p>");
        return;
    };
    let slice = section.timeline_slice_secs.max(1);
    let (width, left, right) = (760.0, 64.0, 96.0);
    let plot_w = width - left - right;
    let (rate_top, rate_h) = (16.0, 140.0);
    let (count_top, count_h) = (rate_top + rate_h + 26.0, 70.0);
    let axis_y = count_top + count_h;
    let height = axis_y + 44.0;
    let start = first.start_unix_secs;
    let span = (last.start_unix_secs + slice - start) as f64;
    let x_of = |secs: u64| left + plot_w * (secs - start) as f64 / span;
    let bar_w = (plot_w * slice as f64 / span - 1.0).max(1.0);
    let most = nice_ceiling(points.iter().map(|p| p.violations).max().unwrap_or(0));
    let _ = write!(
        page,
        "<svg class=\"chart\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"compliance over time\">"
    );
    for pct in [0u32, 25, 50, 75, 100] {
        let y = rate_top + rate_h * (1.0 - f64::from(pct) / 100.0);
        y_tick(page, left, left + plot_w, y, &format!("{pct} %"));
    }
    if let Some(target) = section.target_rate {
        let y = rate_top + rate_h * (1.0 - target);
        let _ = write!(
            page,
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#b54708\" stroke-dasharray=\"4 3\"/>\
<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#b54708\">target {:.0} %</text>",
            left + plot_w,
            left + plot_w + 6.0,
            y + 3.5,
            target * 100.0
        );
    }
    y_title(page, 14.0, rate_top + rate_h / 2.0, "compliance rate (%)");
    let mut line = String::new();
    for point in points {
        let total = point.compliant + point.violations;
        let x = x_of(point.start_unix_secs);
        if total > 0 {
            let rate = point.compliant as f64 / total as f64;
            let _ = write!(line, "{:.1},{:.1} ", x + bar_w / 2.0, rate_top + rate_h * (1.0 - rate));
        }
        let h = count_h * point.violations as f64 / most as f64;
        let _ = write!(
            page,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar_w:.1}\" height=\"{h:.1}\" fill=\"#f87171\">\
<title>{} violations, {} compliant from {}</title></rect>",
            axis_y - h,
            point.violations,
            point.compliant,
            utc(point.start_unix_secs)
        );
    }
    let _ = write!(page, "<polyline points=\"{line}\" fill=\"none\" stroke=\"#2563eb\" stroke-width=\"2\"/>");
    for (value, y) in [(0, axis_y), (most / 2, axis_y - count_h / 2.0), (most, count_top)] {
        y_tick(page, left, left + plot_w, y, &value.to_string());
    }
    y_title(page, 14.0, count_top + count_h / 2.0, "violations");
    let end = last.start_unix_secs + slice;
    let _ = write!(
        page,
        "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{axis_y}\" y2=\"{axis_y}\" stroke=\"{AXIS}\"/>\
<text x=\"{left}\" y=\"{:.1}\" font-size=\"10\" fill=\"{AXIS}\">{}</text>\
<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\" fill=\"{AXIS}\">{}</text>\
<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"{AXIS}\">time (UTC), {slice} s per bar</text></svg>",
        left + plot_w,
        axis_y + 14.0,
        utc(start),
        left + plot_w,
        axis_y + 14.0,
        utc(end),
        left + plot_w / 2.0,
        axis_y + 34.0,
    );
}

/// One histogram per service: spans per latency bucket, a count axis, bucket bounds in ms.
pub fn latency_histograms(page: &mut String, section: &PerformanceSection) {
    if section.distributions.is_empty() {
        page.push_str("<p class=\"empty\">No spans to chart.</p>");
        return;
    }
    page.push_str("<div class=\"charts\">");
    for distribution in &section.distributions {
        let (width, left, top, bottom) = (400.0, 56.0, 26.0, 74.0);
        let height = 230.0;
        let plot_w = width - left - 12.0;
        let plot_h = height - top - bottom;
        let buckets = distribution.counts.len().max(1);
        let step = plot_w / buckets as f64;
        let total: u64 = distribution.counts.iter().sum();
        let most = nice_ceiling(distribution.counts.iter().copied().max().unwrap_or(0));
        let _ = write!(
            page,
            "<svg class=\"chart\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"latency of {0}\">\
<text x=\"{left}\" y=\"16\" font-size=\"12\" font-weight=\"600\">{0} <tspan font-weight=\"400\" fill=\"{AXIS}\">{total} spans</tspan></text>",
            escape(&distribution.service)
        );
        for (value, fraction) in [(0, 0.0), (most / 2, 0.5), (most, 1.0)] {
            y_tick(page, left, left + plot_w, top + plot_h * (1.0 - fraction), &value.to_string());
        }
        y_title(page, 14.0, top + plot_h / 2.0, "spans");
        for (index, count) in distribution.counts.iter().enumerate() {
            let h = plot_h * *count as f64 / most as f64;
            let x = left + step * index as f64;
            let bound = match distribution.bucket_upper_ms.get(index) {
                Some(upper) => format!("≤{upper}"),
                None => format!(">{}", distribution.bucket_upper_ms.last().copied().unwrap_or(0.0)),
            };
            let _ = write!(
                page,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#2563eb\"><title>{count} spans {bound} ms</title></rect>\
<text transform=\"translate({:.1},{:.1}) rotate(-60)\" font-size=\"9\" text-anchor=\"end\" fill=\"{AXIS}\">{}</text>",
                x + 1.0,
                top + plot_h - h,
                step - 2.0,
                x + step / 2.0 + 3.0,
                top + plot_h + 6.0,
                escape(&bound)
            );
        }
        let _ = write!(
            page,
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{AXIS}\"/>\
<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"{AXIS}\">latency (ms), bucket upper bound</text></svg>",
            left + plot_w,
            top + plot_h,
            top + plot_h,
            left + plot_w / 2.0,
            height - 6.0
        );
    }
    page.push_str("</div>");
}

#[cfg(test)]
mod tests;
