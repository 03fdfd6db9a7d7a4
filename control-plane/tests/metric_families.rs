//! The README's list of metric families is the registry's: a control plane whose every family has
//! had its first event is scraped, and the list in the README must be exactly what it shows
//! (`cargo run --release -p acgs-control-plane --example regenerate` rewrites the list).

#[path = "support/metric_families.rs"]
mod families;

#[test]
fn the_readme_lists_exactly_the_families_a_scrape_shows() {
    let families = families::busy_server_families();
    for family in ["acgs_telemetry_batches", "acgs_telemetry_truncated", "acgs_alertmanager_notifications"] {
        assert!(families.contains_key(family), "{family} had its first event: {:?}", families.keys());
    }
    let readme_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("the README");
    let expected = families::with_table(&readme, &families::readme_table(&families))
        .expect("the README has the metric families' markers");
    assert!(
        readme == expected,
        "the README's metric families differ from the registry's; run \
         `cargo run --release -p acgs-control-plane --example regenerate`\n{}",
        families::readme_table(&families)
    );
}
