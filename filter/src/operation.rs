//! Operation names, `METHOD /path`, with bounded cardinality: the query string and fragment are
//! dropped, configured path templates (`/v1/policies/{id}`, a `{…}` segment matches any one
//! non-empty segment) name the paths they match, and other paths are named literally until the
//! VM has seen `max_operations` distinct literal names; after that they are `METHOD (other)`.
//! Methods outside the usual upper-case token form, paths that are not UTF-8, not absolute or
//! longer than [`MAX_PATH_LEN`] are named `(other)` too, and so are methods beyond the standard
//! ones once a VM has named [`MAX_EXTENSION_METHODS`] others: hostile input cannot grow the set.

use std::collections::HashMap;
use std::rc::Rc;

use crate::words;

/// Longest path named literally.
pub const MAX_PATH_LEN: usize = 256;
/// Longest method accepted as a method name.
const MAX_METHOD_LEN: usize = 16;
/// The methods of RFC 9110 and PATCH (RFC 5789), always named as themselves.
const STANDARD_METHODS: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
/// Other methods (WebDAV's `PROPFIND`, an application's own) named as themselves per VM; later
/// ones are `(other)`, so that a client inventing methods cannot grow the set of names.
const MAX_EXTENSION_METHODS: usize = 16;
const OTHER: &str = "(other)";

/// An operation name as the VM's [`OperationNamer`] hands it out. The namer keeps one
/// allocation per name, so a name is compared and hashed by its address: the aggregates and
/// samplers keyed by it hash one word, not the name's bytes, on every request. Two namers (a VM
/// configured again) may each hand out the same text: their names are then different keys,
/// which costs an extra aggregate entry with the same labels (the control plane adds them up),
/// never two names merged.
#[derive(Debug, Clone)]
pub struct Operation(Rc<str>);

impl Operation {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PartialEq for Operation {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Operation {}

impl std::hash::Hash for Operation {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_usize(Rc::as_ptr(&self.0).cast::<u8>() as usize);
    }
}

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

/// Names operations for one VM. Every name it has handed out is kept (so that equal names are
/// one allocation); their number is bounded by the templates, the literal cap and the methods.
#[derive(Debug, Clone)]
pub struct OperationNamer {
    templates: Vec<Template>,
    max_literal: usize,
    /// Distinct literal (non-template) names handed out so far.
    literal: usize,
    /// Methods outside [`STANDARD_METHODS`] named as themselves so far.
    extension_methods: Vec<String>,
    named: HashMap<String, Operation>,
}

impl OperationNamer {
    pub fn new(templates: &[String], max_literal: usize) -> Self {
        Self {
            templates: templates.iter().map(|t| Template::new(t)).collect(),
            max_literal,
            literal: 0,
            extension_methods: Vec::new(),
            named: HashMap::new(),
        }
    }

    /// The operation name of a request (the same input always gets the same name: literal
    /// names, once admitted, stay). [`crate::route::RouteCache`] saves the work on the hot path.
    pub fn name(&mut self, method: &[u8], path: &[u8]) -> Operation {
        let path = strip_query(path);
        let method = self.method_name(method);
        let path = match std::str::from_utf8(path) {
            Ok(p) if p.starts_with('/') && p.len() <= MAX_PATH_LEN => p,
            _ => OTHER,
        };
        let (name, templated) = match self.templates.iter().find(|t| t.matches(path)) {
            Some(template) => (format!("{method} {}", template.text), true),
            None => (format!("{method} {path}"), false),
        };
        if let Some(known) = self.named.get(&name) {
            return known.clone();
        }
        let name = if templated || (self.literal < self.max_literal && path != OTHER) {
            self.literal += usize::from(!templated);
            name
        } else {
            format!("{method} {OTHER}")
        };
        self.named.entry(name).or_insert_with_key(|name| Operation(Rc::from(name.as_str()))).clone()
    }

    /// The method as the name shows it: itself when it is a standard method or one of the first
    /// [`MAX_EXTENSION_METHODS`] others in upper-case token form, else `(other)`.
    fn method_name<'a>(&mut self, method: &'a [u8]) -> &'a str {
        let Ok(method) = std::str::from_utf8(method) else { return OTHER };
        if STANDARD_METHODS.contains(&method) || self.extension_methods.iter().any(|known| known == method) {
            return method;
        }
        let token =
            !method.is_empty() && method.len() <= MAX_METHOD_LEN && method.bytes().all(|b| b.is_ascii_uppercase());
        if token && self.extension_methods.len() < MAX_EXTENSION_METHODS {
            self.extension_methods.push(method.to_owned());
            return method;
        }
        OTHER
    }

    /// Distinct literal names tracked.
    pub fn literal_count(&self) -> usize {
        self.literal
    }

    /// Distinct names handed out.
    pub fn name_count(&self) -> usize {
        self.named.len()
    }
}

/// The path without `?query` or `#fragment`.
pub fn strip_query(path: &[u8]) -> &[u8] {
    let end = words::find_either(path, b'?', b'#').unwrap_or(path.len());
    &path[..end]
}

/// The operation named `METHOD /path` (written as the namer writes it), from one namer per test
/// thread: what the tests of the modules keyed by operations record under.
#[cfg(test)]
pub(crate) fn interned(name: &str) -> Operation {
    thread_local! {
        static NAMER: std::cell::RefCell<OperationNamer> = std::cell::RefCell::new(OperationNamer::new(&[], usize::MAX));
    }
    let (method, path) = name.split_once(' ').expect("METHOD /path");
    let operation = NAMER.with(|namer| namer.borrow_mut().name(method.as_bytes(), path.as_bytes()));
    assert_eq!(operation.as_str(), name, "written as the namer writes it");
    operation
}

#[cfg(test)]
mod tests;
