//! Operation names, `METHOD /path`, with bounded cardinality: the query string and fragment are
//! dropped, configured path templates (`/v1/policies/{id}`, a `{…}` segment matches any one
//! non-empty segment) name the paths they match, and other paths are named literally until the
//! VM has seen `max_operations` distinct literal names; after that they are `METHOD (other)`.
//! Methods outside the usual upper-case token form, paths that are not UTF-8, not absolute or
//! longer than [`MAX_PATH_LEN`] are named `(other)` too, so hostile input cannot grow the set.

use std::collections::HashMap;
use std::rc::Rc;

/// Longest path named literally.
pub const MAX_PATH_LEN: usize = 256;
/// Requests whose names are remembered by their raw method and path before the cache starts
/// over (it saves the template matching and formatting on the hot path, and stays bounded
/// whatever paths arrive).
const CACHE_CAPACITY: usize = 4_096;
/// Longest method accepted as a method name.
const MAX_METHOD_LEN: usize = 16;
const OTHER: &str = "(other)";

#[derive(Debug, Clone)]
struct Template {
    text: String,
    segments: Vec<Option<String>>,
}

impl Template {
    fn new(text: &str) -> Self {
        let segments = text
            .split('/')
            .map(|segment| {
                (!(segment.starts_with('{') && segment.ends_with('}') && segment.len() > 2)).then(|| segment.to_owned())
            })
            .collect();
        Self { text: text.to_owned(), segments }
    }

    fn matches(&self, path: &str) -> bool {
        let mut parts = path.split('/');
        for expected in &self.segments {
            match (parts.next(), expected) {
                (Some(part), Some(literal)) if part == literal => {}
                (Some(part), None) if !part.is_empty() => {}
                _ => return false,
            }
        }
        parts.next().is_none()
    }
}

/// Names operations for one VM.
#[derive(Debug, Clone)]
pub struct OperationNamer {
    templates: Vec<Template>,
    max_literal: usize,
    /// Distinct literal (non-template) names handed out so far.
    literal: usize,
    named: HashMap<String, Rc<str>>,
    /// `METHOD path` as raw bytes → name.
    cache: HashMap<Vec<u8>, Rc<str>>,
    scratch: Vec<u8>,
}

impl OperationNamer {
    pub fn new(templates: &[String], max_literal: usize) -> Self {
        Self {
            templates: templates.iter().map(|t| Template::new(t)).collect(),
            max_literal,
            literal: 0,
            named: HashMap::new(),
            cache: HashMap::new(),
            scratch: Vec::new(),
        }
    }

    /// The operation name of a request.
    pub fn name(&mut self, method: &[u8], path: &[u8]) -> Rc<str> {
        let path = strip_query(path);
        if path.len() > MAX_PATH_LEN || method.len() > MAX_METHOD_LEN {
            return self.resolve(method, path);
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(method);
        self.scratch.push(b' ');
        self.scratch.extend_from_slice(path);
        if let Some(name) = self.cache.get(self.scratch.as_slice()) {
            return Rc::clone(name);
        }
        let name = self.resolve(method, path);
        if self.cache.len() >= CACHE_CAPACITY {
            self.cache.clear();
        }
        self.cache.insert(self.scratch.clone(), Rc::clone(&name));
        name
    }

    /// Names a request without the cache (the same input always gets the same name: literal
    /// names, once admitted, stay).
    fn resolve(&mut self, method: &[u8], path: &[u8]) -> Rc<str> {
        let method = match std::str::from_utf8(method) {
            Ok(m) if !m.is_empty() && m.len() <= MAX_METHOD_LEN && m.bytes().all(|b| b.is_ascii_uppercase()) => m,
            _ => OTHER,
        };
        let path = match std::str::from_utf8(path) {
            Ok(p) if p.starts_with('/') && p.len() <= MAX_PATH_LEN => p,
            _ => OTHER,
        };
        let (name, templated) = match self.templates.iter().find(|t| t.matches(path)) {
            Some(template) => (format!("{method} {}", template.text), true),
            None => (format!("{method} {path}"), false),
        };
        if let Some(known) = self.named.get(&name) {
            return Rc::clone(known);
        }
        let name = if templated || (self.literal < self.max_literal && path != OTHER) {
            self.literal += usize::from(!templated);
            name
        } else {
            format!("{method} {OTHER}")
        };
        let shared = self.named.entry(name).or_insert_with_key(|name| Rc::from(name.as_str()));
        Rc::clone(shared)
    }

    /// Distinct literal names tracked.
    pub fn literal_count(&self) -> usize {
        self.literal
    }
}

/// The path without `?query` or `#fragment`.
pub fn strip_query(path: &[u8]) -> &[u8] {
    let end = path.iter().position(|b| *b == b'?' || *b == b'#').unwrap_or(path.len());
    &path[..end]
}

#[cfg(test)]
mod tests;
