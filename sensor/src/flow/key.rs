//! Flow identity: the 5-tuple plus VLAN tags, in a canonical order so that
//! both directions of a conversation map to one key and one worker.

use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;

use crate::decode::Vlans;

/// One end of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

/// A bidirectional flow's key. `a` is the lower endpoint, so the key is the
/// same whichever direction a packet travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub a: Endpoint,
    pub b: Endpoint,
    pub protocol: u8,
    pub vlans: Vlans,
}

impl FlowKey {
    /// The key of a packet from `src` to `dst`, and whether `src` is `a`.
    pub fn new(src: Endpoint, dst: Endpoint, protocol: u8, vlans: Vlans) -> (FlowKey, bool) {
        let src_is_a = src <= dst;
        let (a, b) = if src_is_a { (src, dst) } else { (dst, src) };
        (
            FlowKey {
                a,
                b,
                protocol,
                vlans,
            },
            src_is_a,
        )
    }

    /// The worker that owns this flow, out of `workers`: the same for both
    /// directions, and stable across runs.
    pub fn shard(&self, workers: usize) -> usize {
        let hash = foldhash::fast::FixedState::with_seed(0x6d69_7261_646f_72).hash_one(self);
        // Multiply-shift maps the hash evenly onto [0, workers).
        ((u128::from(hash) * workers as u128) >> 64) as usize
    }
}

/// Hashes keys for the per-worker tables (any seed will do there).
pub type FlowHasher = foldhash::fast::RandomState;

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(ip: &str, port: u16) -> Endpoint {
        Endpoint {
            ip: ip.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
            port,
        }
    }

    #[test]
    fn both_directions_share_key_and_shard() {
        let (c, s) = (ep("192.168.1.13", 55744), ep("140.82.114.4", 443));
        let (k1, c_is_a) = FlowKey::new(c, s, 6, Vlans::default());
        let (k2, s_is_a) = FlowKey::new(s, c, 6, Vlans::default());
        assert_eq!(k1, k2);
        assert_ne!(c_is_a, s_is_a);
        for n in 1..8 {
            assert_eq!(k1.shard(n), k2.shard(n));
            assert!(k1.shard(n) < n);
        }
        let tagged = Vlans {
            outer: Some(10),
            inner: None,
        };
        assert_ne!(FlowKey::new(c, s, 6, tagged).0, k1);
    }

    #[test]
    fn shards_spread_flows() {
        let mut counts = [0usize; 4];
        for port in 1000..5000 {
            let (k, _) = FlowKey::new(ep("10.0.0.1", port), ep("10.0.0.2", 80), 6, Vlans::default());
            counts[k.shard(4)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
    }
}
