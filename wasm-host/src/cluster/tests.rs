use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::{Cluster, LoadBalancing};

fn endpoints(count: u16) -> Vec<SocketAddr> {
    (0..count).map(|i| SocketAddr::from(([127, 0, 0, 1], 9000 + i))).collect()
}

fn authorities() -> Vec<String> {
    (0..200).map(|i| format!("{i:016x}.cp.acgs-system.svc:5778")).collect()
}

#[test]
fn consistent_hashing_sends_one_authority_to_one_endpoint_and_spreads_the_authorities() {
    let cluster = Cluster::new(endpoints(2), LoadBalancing::ConsistentHash);
    let mut per_endpoint: BTreeMap<SocketAddr, usize> = BTreeMap::new();
    for authority in authorities() {
        let first = cluster.pick(&authority).expect("an endpoint");
        for _ in 0..5 {
            assert_eq!(cluster.pick(&authority), Some(first), "{authority} stays on {first}");
        }
        *per_endpoint.entry(first).or_default() += 1;
    }
    assert_eq!(per_endpoint.len(), 2, "both endpoints get authorities: {per_endpoint:?}");
    assert!(per_endpoint.values().all(|&n| n >= 60), "neither endpoint gets under 30 %: {per_endpoint:?}");
}

#[test]
fn removing_an_endpoint_moves_only_the_authorities_it_had() {
    let cluster = Cluster::new(endpoints(3), LoadBalancing::ConsistentHash);
    let before: Vec<SocketAddr> = authorities().iter().map(|a| cluster.pick(a).expect("endpoint")).collect();
    let removed = endpoints(3)[1];
    cluster.set_endpoints(endpoints(3).into_iter().filter(|e| *e != removed).collect());
    for (authority, was) in authorities().iter().zip(before) {
        let now = cluster.pick(authority).expect("endpoint");
        if was == removed {
            assert_ne!(now, removed, "{authority} left the removed endpoint");
        } else {
            assert_eq!(now, was, "{authority} stays where it was");
        }
    }
}

#[test]
fn round_robin_ignores_the_authority_and_takes_turns() {
    let cluster = Cluster::new(endpoints(2), LoadBalancing::RoundRobin);
    let picks: Vec<_> = (0..4).map(|_| cluster.pick("same.authority:5778").expect("endpoint")).collect();
    assert_eq!(picks, vec![endpoints(2)[0], endpoints(2)[1], endpoints(2)[0], endpoints(2)[1]]);
}

#[test]
fn a_cluster_without_endpoints_picks_none() {
    for load_balancing in [LoadBalancing::RoundRobin, LoadBalancing::ConsistentHash] {
        let cluster = Cluster::new(Vec::new(), load_balancing);
        assert_eq!(cluster.pick("a:1"), None, "{load_balancing:?}");
    }
}
