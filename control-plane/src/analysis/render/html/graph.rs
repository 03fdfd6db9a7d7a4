//! The service dependency graph as SVG, drawn from [`crate::analysis::render::layout`]: every text
//! is drawn with the width the layout gave it (`textLength`), so no label lands on a node or on
//! another label. Services are `g.node`, edge labels `g.edge-label`.

use std::fmt::Write as _;

use super::escape;
use crate::analysis::render::layout::{self, EdgeInput, Rect, LABEL_FONT, NODE_FONT};
use crate::analysis::report::DependencyEdge;

/// Error rate above which an edge is drawn red.
const ERROR_EDGE: f64 = 0.05;

/// A text centred in `rect`, drawn exactly as wide as the layout measured it.
fn fitted_text(page: &mut String, rect: &Rect, font_size: f64, text: &str) {
    let width = layout::text_width(text, font_size);
    let _ = write!(
        page,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"{font_size}\" text-anchor=\"middle\" dominant-baseline=\"central\" \
textLength=\"{width:.1}\" lengthAdjust=\"spacing\">{}</text>",
        rect.x + rect.width / 2.0,
        rect.y + rect.height / 2.0,
        escape(text)
    );
}

pub fn dependency_graph(page: &mut String, edges: &[DependencyEdge]) {
    let mut names: Vec<String> = Vec::new();
    let mut external: Vec<bool> = Vec::new();
    let mut index_of = |name: &str, is_external: bool| match names.iter().position(|n| n == name) {
        Some(index) => {
            external[index] &= is_external;
            index
        }
        None => {
            names.push(name.to_owned());
            external.push(is_external);
            names.len() - 1
        }
    };
    let inputs: Vec<EdgeInput> = edges
        .iter()
        .map(|edge| EdgeInput {
            from: index_of(&edge.from, false),
            to: index_of(&edge.to, edge.external),
            label: format!("{} calls · {:.1} % err · p99 {:.2} ms", edge.calls, edge.error_rate * 100.0, edge.p99_ms),
        })
        .collect();
    let drawing = layout::layout(&names, &inputs);
    let _ = write!(
        page,
        "<div class=\"scroll\"><svg id=\"dependency-graph\" width=\"{:.0}\" height=\"{:.0}\" role=\"img\" aria-label=\"service dependency graph\"><defs>\
<marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerUnits=\"userSpaceOnUse\" markerWidth=\"10\" markerHeight=\"10\" orient=\"auto-start-reverse\">\
<path d=\"M0,0L10,5L0,10z\" fill=\"#52606d\"/></marker></defs>",
        drawing.width.ceil(),
        drawing.height.ceil()
    );
    for (edge, placed) in edges.iter().zip(&drawing.edges) {
        let color = if edge.error_rate > ERROR_EDGE { "#dc2626" } else { "#52606d" };
        let _ = write!(
            page,
            "<path class=\"edge\" d=\"M{:.1},{:.1} Q{:.1},{:.1} {:.1},{:.1}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"{:.1}\" \
marker-end=\"url(#arrow)\"><title>{} → {}</title></path>",
            placed.start.0,
            placed.start.1,
            placed.control.0,
            placed.control.1,
            placed.end.0,
            placed.end.1,
            1.0 + (edge.calls as f64).log10().max(0.0),
            escape(&edge.from),
            escape(&edge.to)
        );
    }
    for placed in &drawing.edges {
        let r = &placed.label_rect;
        let _ = write!(
            page,
            "<g class=\"edge-label\"><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#fff\" fill-opacity=\"0.9\"/>",
            r.x, r.y, r.width, r.height
        );
        fitted_text(page, r, LABEL_FONT, &placed.label);
        page.push_str("</g>");
    }
    for (node, is_external) in drawing.nodes.iter().zip(&external) {
        let r = &node.rect;
        let fill = if *is_external { "#fde68a" } else { "#bfdbfe" };
        let _ = write!(
            page,
            "<g class=\"node\"><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"6\" fill=\"{fill}\" stroke=\"#1f2933\"/>",
            r.x, r.y, r.width, r.height
        );
        fitted_text(page, r, NODE_FONT, &node.name);
        page.push_str("</g>");
    }
    page.push_str("</svg></div>");
}
