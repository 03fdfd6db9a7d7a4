//! Where the service dependency graph's boxes and labels go, computed before anything is drawn so
//! that the promise "no label overlaps a node or another label" is checked here, on numbers.
//!
//! Services are laid out in layers from left to right (a Sugiyama-style layout): calls that
//! close a cycle are set aside, every service sits one layer right of its furthest caller, and
//! the order inside a layer follows the callers' positions (barycentre sweeps) so that edges cross
//! less. Each edge is a straight line to a later layer, or a curve under the row otherwise; its
//! label goes to the first free place along the edge, then above or below it, and, failing all,
//! into a free row under the graph. Text widths are estimated from character classes and the
//! page draws each text with exactly that width (SVG `textLength`), so the boxes computed here
//! are the boxes drawn.

use std::collections::HashMap;

/// An axis-aligned box in SVG user units (pixels).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

impl Rect {
    /// Whether the two boxes share any area (touching edges do not count).
    pub fn intersects(&self, other: &Rect) -> bool {
        self.x < other.x + other.width
            && other.x < self.x + self.width
            && self.y < other.y + other.height
            && other.y < self.y + self.height
    }

    fn bottom(&self) -> f64 {
        self.y + self.height
    }

    fn right(&self) -> f64 {
        self.x + self.width
    }
}

/// An edge of the graph to lay out: indices into the node list, and its label.
#[derive(Debug, Clone)]
pub struct EdgeInput {
    pub from: usize,
    pub to: usize,
    pub label: String,
}

/// A placed service.
#[derive(Debug, Clone)]
pub struct PlacedNode {
    pub name: String,
    pub rect: Rect,
    pub layer: usize,
}

/// A placed edge: a quadratic Bézier curve (a straight line when `control` is the midpoint), and
/// its label's box.
#[derive(Debug, Clone)]
pub struct PlacedEdge {
    pub start: (f64, f64),
    pub control: (f64, f64),
    pub end: (f64, f64),
    pub label: String,
    pub label_rect: Rect,
}

/// The whole drawing.
#[derive(Debug, Clone)]
pub struct Layout {
    pub width: f64,
    pub height: f64,
    pub nodes: Vec<PlacedNode>,
    pub edges: Vec<PlacedEdge>,
}

/// Font size of service names.
pub const NODE_FONT: f64 = 12.0;
/// Font size of edge labels.
pub const LABEL_FONT: f64 = 10.0;

const MARGIN: f64 = 16.0;
const NODE_HEIGHT: f64 = 28.0;
const NODE_PADDING: f64 = 10.0;
const ROW: f64 = 64.0;
const LABEL_PADDING: f64 = 3.0;
const ORDER_SWEEPS: usize = 4;
/// How far above and below its edge a label may move (in label heights) before it goes under
/// the graph.
const LABEL_SHIFTS: usize = 12;

/// The width a sans-serif font draws `text` in at `font_size`: character advance widths by class,
/// at or above those of DejaVu Sans and Liberation Sans, so the estimate never squeezes text.
pub fn text_width(text: &str, font_size: f64) -> f64 {
    let ems: f64 = text
        .chars()
        .map(|c| match c {
            'i' | 'j' | 'l' | 'I' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' => 0.32,
            ' ' | 'f' | 'r' | 't' | '(' | ')' | '[' | ']' | '/' | '-' | '·' => 0.42,
            'm' | 'w' | 'M' | 'W' | '@' | '%' => 0.98,
            'A'..='Z' | '0'..='9' | '_' | '#' | '&' | '~' | '<' | '>' | '=' | '+' | '≤' => 0.72,
            c if c.is_ascii() => 0.64,
            _ => 1.0,
        })
        .sum();
    ems * font_size
}

/// Line height of a text box at `font_size`.
pub fn text_height(font_size: f64) -> f64 {
    font_size * 1.3
}

/// Lays out `names` (services, in first-seen order) and `edges` between them.
pub fn layout(names: &[String], edges: &[EdgeInput]) -> Layout {
    let layers = layers(names.len(), edges);
    let rows = order_within_layers(&layers, edges);
    let nodes = place_nodes(names, &layers, &rows, edges);
    let mut obstacles: Vec<Rect> = nodes.iter().map(|n| n.rect).collect();
    let mut width = nodes.iter().map(|n| n.rect.right()).fold(0.0, f64::max) + MARGIN;
    let mut height = nodes.iter().map(|n| n.rect.bottom()).fold(0.0, f64::max) + MARGIN;
    let mut placed = Vec::with_capacity(edges.len());
    for edge in edges {
        let (start, control, end) = curve(&nodes[edge.from], &nodes[edge.to]);
        height = height.max(control.1 + MARGIN);
        let size = (text_width(&edge.label, LABEL_FONT) + 2.0 * LABEL_PADDING, text_height(LABEL_FONT));
        let label_rect = free_spot(start, control, end, size, &obstacles).unwrap_or(Rect {
            x: MARGIN,
            y: height,
            width: size.0,
            height: size.1,
        });
        height = height.max(label_rect.bottom() + MARGIN);
        width = width.max(label_rect.right() + MARGIN);
        obstacles.push(label_rect);
        placed.push(PlacedEdge { start, control, end, label: edge.label.clone(), label_rect });
    }
    Layout { width, height, nodes, edges: placed }
}

/// The layer of each node: one right of its furthest caller, ignoring calls that close a cycle.
fn layers(count: usize, edges: &[EdgeInput]) -> Vec<usize> {
    let mut outgoing: Vec<Vec<usize>> = vec![Vec::new(); count];
    for edge in edges.iter().filter(|e| e.from != e.to) {
        outgoing[edge.from].push(edge.to);
    }
    // Depth-first, iteratively: an edge to a node still on the stack closes a cycle.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    let mut mark = vec![Mark::New; count];
    let mut finished = Vec::with_capacity(count);
    let mut forward: Vec<Vec<usize>> = vec![Vec::new(); count];
    for root in 0..count {
        if mark[root] != Mark::New {
            continue;
        }
        let mut stack = vec![(root, 0usize)];
        mark[root] = Mark::OnStack;
        while let Some((node, next)) = stack.last_mut() {
            let node = *node;
            if let Some(&target) = outgoing[node].get(*next) {
                *next += 1;
                match mark[target] {
                    Mark::OnStack => {}
                    Mark::Done => forward[node].push(target),
                    Mark::New => {
                        forward[node].push(target);
                        mark[target] = Mark::OnStack;
                        stack.push((target, 0));
                    }
                }
            } else {
                mark[node] = Mark::Done;
                finished.push(node);
                stack.pop();
            }
        }
    }
    // Reverse finishing order is a topological order of the forward edges.
    let mut layer = vec![0; count];
    for &node in finished.iter().rev() {
        for &target in &forward[node] {
            layer[target] = layer[target].max(layer[node] + 1);
        }
    }
    layer
}

/// Nodes of each layer, top to bottom: first-seen order, then sorted by the mean row of their
/// callers in earlier layers, a few times over.
fn order_within_layers(layers: &[usize], edges: &[EdgeInput]) -> Vec<Vec<usize>> {
    let depth = layers.iter().copied().max().map_or(0, |deepest| deepest + 1);
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); depth];
    for (node, &layer) in layers.iter().enumerate() {
        rows[layer].push(node);
    }
    for _ in 0..ORDER_SWEEPS {
        let mut position = vec![0.0; layers.len()];
        for row in &rows {
            for (index, &node) in row.iter().enumerate() {
                position[node] = index as f64;
            }
        }
        for (layer, row) in rows.iter_mut().enumerate().skip(1) {
            let key = |node: usize| {
                let callers: Vec<f64> =
                    edges.iter().filter(|e| e.to == node && layers[e.from] < layer).map(|e| position[e.from]).collect();
                if callers.is_empty() {
                    position[node]
                } else {
                    callers.iter().sum::<f64>() / callers.len() as f64
                }
            };
            let mut keyed: Vec<(f64, usize)> = row.iter().map(|&node| (key(node), node)).collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            *row = keyed.into_iter().map(|(_, node)| node).collect();
            for (index, &node) in row.iter().enumerate() {
                position[node] = index as f64;
            }
        }
    }
    rows
}

/// Boxes: layers as columns as wide as their widest name, with room between columns for the
/// widest label of the edges leaving them; each column centred on the tallest.
fn place_nodes(names: &[String], layers: &[usize], rows: &[Vec<usize>], edges: &[EdgeInput]) -> Vec<PlacedNode> {
    let node_width = |node: usize| text_width(&names[node], NODE_FONT) + 2.0 * NODE_PADDING;
    let tallest = rows.iter().map(Vec::len).max().unwrap_or(0) as f64;
    let mut placed: HashMap<usize, PlacedNode> = HashMap::with_capacity(names.len());
    let mut x = MARGIN;
    for (layer, row) in rows.iter().enumerate() {
        let column = row.iter().map(|&node| node_width(node)).fold(0.0, f64::max);
        let top = MARGIN + (tallest - row.len() as f64) * ROW / 2.0;
        for (index, &node) in row.iter().enumerate() {
            let width = node_width(node);
            let rect = Rect { x: x + (column - width) / 2.0, y: top + ROW * index as f64, width, height: NODE_HEIGHT };
            placed.insert(node, PlacedNode { name: names[node].clone(), rect, layer: layers[node] });
        }
        let widest_label = edges
            .iter()
            .filter(|e| layers[e.from] == layer)
            .map(|e| text_width(&e.label, LABEL_FONT) + 2.0 * LABEL_PADDING)
            .fold(0.0, f64::max);
        x += column + (widest_label + 40.0).max(80.0);
    }
    (0..names.len()).filter_map(|node| placed.remove(&node)).collect()
}

/// The curve of an edge: a straight line from the caller's right side to a later layer's left
/// side; otherwise (same layer, a call back, or a call to itself) a curve bulging under the row.
fn curve(from: &PlacedNode, to: &PlacedNode) -> ((f64, f64), (f64, f64), (f64, f64)) {
    let middle = |r: &Rect| r.y + r.height / 2.0;
    if to.layer > from.layer {
        let start = (from.rect.right(), middle(&from.rect));
        let end = (to.rect.x, middle(&to.rect));
        return (start, ((start.0 + end.0) / 2.0, (start.1 + end.1) / 2.0), end);
    }
    let start = (from.rect.x + from.rect.width / 2.0, from.rect.bottom());
    let end = (to.rect.x + to.rect.width / 2.0 + if std::ptr::eq(from, to) { 12.0 } else { 0.0 }, to.rect.bottom());
    let control = ((start.0 + end.0) / 2.0, start.1.max(end.1) + ROW * 0.6);
    (start, control, end)
}

/// The first box of `size` near the curve that overlaps no obstacle and stays in the drawing.
fn free_spot(
    start: (f64, f64),
    control: (f64, f64),
    end: (f64, f64),
    size: (f64, f64),
    obstacles: &[Rect],
) -> Option<Rect> {
    let point = |t: f64| {
        let u = 1.0 - t;
        (
            u * u * start.0 + 2.0 * u * t * control.0 + t * t * end.0,
            u * u * start.1 + 2.0 * u * t * control.1 + t * t * end.1,
        )
    };
    let along = [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8];
    let shifts = (0..=LABEL_SHIFTS).flat_map(|k| {
        let step = k as f64 * size.1;
        if k == 0 {
            vec![0.0]
        } else {
            vec![-step, step]
        }
    });
    shifts
        .flat_map(|shift| along.iter().map(move |&t| (t, shift)))
        .map(|(t, shift)| {
            let (x, y) = point(t);
            Rect { x: (x - size.0 / 2.0).max(MARGIN / 2.0), y: y - size.1 / 2.0 + shift, width: size.0, height: size.1 }
        })
        .find(|candidate| candidate.y >= MARGIN / 2.0 && !obstacles.iter().any(|o| o.intersects(candidate)))
}

#[cfg(test)]
mod tests;
