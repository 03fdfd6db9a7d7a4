//! An upstream cluster of the proxy, as the callouts see it: its endpoints (what EDS delivers,
//! replaceable while the proxy runs, as Kubernetes replaces them when a pod goes away) and the
//! load balancer's choice of endpoint for one call.
//!
//! Envoy's Wasm `Context::httpCall` and `Context::grpcCall` give every callout a hash policy on
//! the `:authority` header ("set default hash policy to be based on :authority to enable
//! consistent hash", source/extensions/common/wasm/context.cc). A cluster with a consistent-hash
//! load balancer (RING_HASH or MAGLEV, which an Istio DestinationRule's
//! `loadBalancer.consistentHash` selects) therefore sends every call with the same `:authority`
//! to the same endpoint while the endpoint set is unchanged, and removing an endpoint moves only
//! the authorities it had. Other policies ignore the hash and spread the calls. This host models
//! both properties, not Envoy's ring positions: consistent hashing is rendezvous hashing here.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

/// How the cluster picks an endpoint for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadBalancing {
    /// The hash is ignored; calls go to the endpoints in turn (Istio's default LEAST_REQUEST
    /// spreads them likewise).
    RoundRobin,
    /// RING_HASH / MAGLEV: the call's `:authority` picks the endpoint.
    ConsistentHash,
}

/// A named cluster's endpoints and load balancing; clones share the endpoints.
#[derive(Debug, Clone)]
pub struct Cluster {
    endpoints: Arc<RwLock<Vec<SocketAddr>>>,
    load_balancing: LoadBalancing,
    next: Arc<AtomicUsize>,
}

impl Cluster {
    /// A cluster over `endpoints`.
    pub fn new(endpoints: Vec<SocketAddr>, load_balancing: LoadBalancing) -> Self {
        Self { endpoints: Arc::new(RwLock::new(endpoints)), load_balancing, next: Arc::new(AtomicUsize::new(0)) }
    }

    /// Replaces the endpoints, as an EDS update does; calls already made keep theirs.
    pub fn set_endpoints(&self, endpoints: Vec<SocketAddr>) {
        *self.endpoints.write().unwrap_or_else(PoisonError::into_inner) = endpoints;
    }

    /// The endpoints now.
    pub fn endpoints(&self) -> Vec<SocketAddr> {
        self.endpoints.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The endpoint a call with this `:authority` goes to; `None` when the cluster has none
    /// (Envoy answers such a call with a 503 "no healthy upstream").
    pub(crate) fn pick(&self, authority: &str) -> Option<SocketAddr> {
        let endpoints = self.endpoints.read().unwrap_or_else(PoisonError::into_inner);
        match self.load_balancing {
            LoadBalancing::RoundRobin => {
                let turn = self.next.fetch_add(1, Ordering::Relaxed);
                endpoints.get(turn.checked_rem(endpoints.len())?).copied()
            }
            LoadBalancing::ConsistentHash => {
                endpoints.iter().copied().max_by_key(|endpoint| weight(authority, endpoint))
            }
        }
    }
}

impl From<SocketAddr> for Cluster {
    /// A one-endpoint cluster.
    fn from(endpoint: SocketAddr) -> Self {
        Self::new(vec![endpoint], LoadBalancing::RoundRobin)
    }
}

/// The rendezvous weight of `endpoint` for `authority` (SipHash with fixed keys: the same in
/// every VM and run).
fn weight(authority: &str, endpoint: &SocketAddr) -> u64 {
    let mut hasher = DefaultHasher::new();
    authority.hash(&mut hasher);
    endpoint.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests;
