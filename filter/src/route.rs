//! What a request's method and path say about it, remembered per VM: its operation name, whether
//! the path is exempt, its category, and those of its span's fields they decide, encoded
//! ([`crate::span_wire::route_fields`]). All depend on the method, the path without its query
//! and the configuration alone, and working them out (template matching, formatting, the exempt
//! and category rules, the encoding) costs more than looking them up, on every request.
//!
//! The cache is direct-mapped: a (method, path) pair has one slot, chosen by a hash seeded at
//! random per VM, and a new pair takes the slot over. A client sending paths that share a slot
//! (it cannot know the seed) costs misses, each no dearer than a request without the cache;
//! there is no chain to grow and the memory is bounded by the slot count and the longest path
//! cached.

use std::hash::Hasher;
use std::rc::Rc;

use crate::category::Category;
use crate::mix_hash::MixHasher;
use crate::operation::{Operation, MAX_PATH_LEN};
use crate::words;

/// Slots in the cache (a power of two).
const SLOTS: usize = 1_024;
/// Longest method cached (a longer one is not a method name anyway).
const MAX_CACHED_METHOD: usize = 16;

/// What a (method, path) pair says about a request.
#[derive(Debug, Clone)]
pub struct Route {
    pub operation: Operation,
    pub exempt: bool,
    pub category: Category,
    /// The span's name, category, method and path fields, encoded.
    pub span_fields: Rc<[u8]>,
}

#[derive(Debug)]
struct Slot {
    method_len: usize,
    /// The method followed by the path.
    key: Vec<u8>,
    route: Route,
}

/// The per-VM cache.
#[derive(Debug)]
pub struct RouteCache {
    seed: u64,
    slots: Vec<Option<Slot>>,
}

impl RouteCache {
    /// An empty cache whose slots are chosen by a hash seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self { seed, slots: std::iter::repeat_with(|| None).take(SLOTS).collect() }
    }

    /// The route of `method` `path` (the path without its query): from the cache, or worked out
    /// by `resolve` and remembered.
    pub fn route(&mut self, method: &[u8], path: &[u8], resolve: impl FnOnce() -> Route) -> Route {
        if method.len() > MAX_CACHED_METHOD || path.len() > MAX_PATH_LEN {
            return resolve();
        }
        let mut hasher = MixHasher::seeded(self.seed);
        hasher.write(method);
        hasher.write(path);
        let index = hasher.finish() as usize & (SLOTS - 1);
        let slot = &mut self.slots[index];
        if let Some(cached) = slot {
            let (cached_method, cached_path) = cached.key.split_at(cached.method_len);
            if words::same(cached_method, method) && words::same(cached_path, path) {
                return cached.route.clone();
            }
        }
        let route = resolve();
        let mut key = slot.take().map(|old| old.key).unwrap_or_default();
        key.clear();
        key.extend_from_slice(method);
        key.extend_from_slice(path);
        *slot = Some(Slot { method_len: method.len(), key, route: route.clone() });
        route
    }
}

#[cfg(test)]
mod tests;
