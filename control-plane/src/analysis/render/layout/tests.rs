use proptest::prelude::*;

use super::*;

fn edge(from: usize, to: usize, label: &str) -> EdgeInput {
    EdgeInput { from, to, label: label.to_owned() }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|n| (*n).to_owned()).collect()
}

/// Every promise the page relies on: nodes apart, labels on neither nodes nor each other, all
/// inside the drawing.
fn assert_no_overlap(layout: &Layout) {
    let nodes: Vec<Rect> = layout.nodes.iter().map(|n| n.rect).collect();
    let labels: Vec<Rect> = layout.edges.iter().map(|e| e.label_rect).collect();
    for (i, a) in nodes.iter().enumerate() {
        for b in &nodes[i + 1..] {
            assert!(!a.intersects(b), "nodes overlap: {a:?} {b:?}");
        }
    }
    for (i, label) in labels.iter().enumerate() {
        for node in &nodes {
            assert!(!label.intersects(node), "label {label:?} on node {node:?}");
        }
        for other in &labels[i + 1..] {
            assert!(!label.intersects(other), "labels overlap: {label:?} {other:?}");
        }
    }
    for rect in nodes.iter().chain(&labels) {
        assert!(rect.x >= 0.0 && rect.y >= 0.0, "{rect:?} starts outside the drawing");
        assert!(rect.right() <= layout.width && rect.bottom() <= layout.height, "{rect:?} ends outside {layout:?}");
    }
}

#[test]
fn a_chain_of_calls_runs_left_to_right_one_layer_per_hop() {
    let layout = layout(&names(&["gateway", "api", "db"]), &[edge(0, 1, "a"), edge(1, 2, "b")]);
    let layers: Vec<usize> = layout.nodes.iter().map(|n| n.layer).collect();
    assert_eq!(layers, [0, 1, 2]);
    assert!(layout.nodes[0].rect.right() < layout.nodes[1].rect.x);
    assert!(layout.nodes[1].rect.right() < layout.nodes[2].rect.x);
    // A straight line from the caller's right side to the callee's left side.
    assert_eq!(layout.edges[0].start, (layout.nodes[0].rect.right(), layout.nodes[0].rect.y + 14.0));
    assert_eq!(layout.edges[0].end, (layout.nodes[1].rect.x, layout.nodes[1].rect.y + 14.0));
    assert_no_overlap(&layout);
}

#[test]
fn a_service_sits_one_layer_right_of_its_furthest_caller() {
    // gateway → api → policy, and gateway → policy directly: policy is in layer 2, not 1.
    let layout = layout(&names(&["gateway", "api", "policy"]), &[edge(0, 2, "x"), edge(0, 1, "y"), edge(1, 2, "z")]);
    let layers: Vec<usize> = layout.nodes.iter().map(|n| n.layer).collect();
    assert_eq!(layers, [0, 1, 2]);
    assert_no_overlap(&layout);
}

#[test]
fn a_cycle_and_a_self_call_still_lay_out_without_overlap() {
    let layout = layout(
        &names(&["a", "b", "c"]),
        &[edge(0, 1, "a→b"), edge(1, 2, "b→c"), edge(2, 0, "c→a back"), edge(1, 1, "b→b itself")],
    );
    let layers: Vec<usize> = layout.nodes.iter().map(|n| n.layer).collect();
    assert_eq!(layers, [0, 1, 2]);
    // The call back curves under the row, below both ends.
    let back = &layout.edges[2];
    assert!(back.control.1 > back.start.1 && back.control.1 > back.end.1, "{back:?}");
    assert_no_overlap(&layout);
}

#[test]
fn callees_are_ordered_after_their_callers_rows_so_edges_do_not_cross() {
    // Callers a (row 0) and b (row 1); c is called by b only, d by a only: d goes above c.
    let layout = layout(&names(&["a", "b", "c", "d"]), &[edge(1, 2, "1"), edge(0, 3, "2")]);
    let (c, d) = (&layout.nodes[2].rect, &layout.nodes[3].rect);
    assert!(d.y < c.y, "d {d:?} should be above c {c:?}");
}

#[test]
fn many_edges_between_two_columns_stack_their_labels() {
    let services: Vec<String> = (0..12).map(|i| format!("service-{i}")).collect();
    let edges: Vec<EdgeInput> =
        (1..12).flat_map(|to| [edge(0, to, "1234 calls · 0.5 % err · p99 12.34 ms"), edge(to, 0, "back")]).collect();
    assert_no_overlap(&layout(&services, &edges));
}

#[test]
fn text_width_grows_with_the_text_and_the_font() {
    assert_eq!(text_width("", 10.0), 0.0);
    assert!(text_width("mmmm", 10.0) > text_width("iiii", 10.0));
    assert_eq!(text_width("ab", 20.0), 2.0 * text_width("ab", 10.0));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn no_label_ever_overlaps_a_node_or_another_label(
        names in prop::collection::vec("[a-zA-Z0-9._-]{1,40}", 1..14),
        raw_edges in prop::collection::vec((0usize..14, 0usize..14, "[a-z0-9 ·%.]{0,48}"), 0..40),
    ) {
        let edges: Vec<EdgeInput> = raw_edges
            .into_iter()
            .map(|(from, to, label)| edge(from % names.len(), to % names.len(), &label))
            .collect();
        assert_no_overlap(&layout(&names, &edges));
    }
}
