use super::*;
use crate::analysis::report::CompliancePoint;

#[test]
fn count_axes_end_on_a_round_number_at_or_above_the_largest_count() {
    let tops: Vec<u64> = [0, 1, 2, 3, 6, 10, 11, 99, 4_439, u64::MAX].iter().map(|v| nice_ceiling(*v)).collect();
    assert_eq!(tops, [1, 1, 2, 5, 10, 10, 20, 100, 5_000, u64::MAX]);
}

#[test]
fn violations_are_drawn_on_their_own_count_scale_not_the_rate_axis() {
    let section = ComplianceSection {
        timeline: vec![
            CompliancePoint { start_unix_secs: 100, compliant: 92, violations: 8 },
            CompliancePoint { start_unix_secs: 101, compliant: 100, violations: 0 },
        ],
        timeline_slice_secs: 1,
        target_rate: Some(0.95),
        ..ComplianceSection::default()
    };
    let mut page = String::new();
    compliance_over_time(&mut page, &section);
    // 8 violations on a count axis that tops at 10: 8/10 of the 70-pixel violations panel.
    assert!(page.contains("height=\"56.0\" fill=\"#f87171\"><title>8 violations, 92 compliant"), "{page}");
    assert!(page.contains(">10</text>") && page.contains(">target 95 %</text>"), "{page}");
}
