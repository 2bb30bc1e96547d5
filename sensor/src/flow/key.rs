//! Flow identity: the 5-tuple plus VLAN tags, in a canonical order so that
//! both directions of a conversation map to one key and one worker.

use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;

use crate::decode::Vlans;

/// One end of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

/// A bidirectional flow's key: addresses as 128-bit integers, the lower
/// endpoint first, so the key is the same whichever direction a packet
/// travels, and comparing or hashing it takes a few machine words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    lo_ip: u128,
    hi_ip: u128,
    /// The lower endpoint's port in the high half.
    ports: u32,
    ipv6: bool,
    pub protocol: u8,
    pub vlans: Vlans,
}

/// Hashes the key as three machine words: this runs for every packet, and
/// the derived hash would feed each field separately.
impl Hash for FlowKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u128(self.lo_ip);
        state.write_u128(self.hi_ip);
        let vlan = |v: Option<u16>| v.map_or(0, |id| u64::from(id) | 0x1_0000);
        state.write_u64(
            u64::from(self.ports)
                ^ (u64::from(self.protocol) | u64::from(self.ipv6) << 8) << 32
                ^ vlan(self.vlans.outer) << 40
                ^ vlan(self.vlans.inner) << 21,
        );
    }
}

fn ip_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_bits()),
        IpAddr::V6(a) => a.to_bits(),
    }
}

impl FlowKey {
    /// The key of a packet from `src` to `dst`, and whether `src` is the
    /// lower endpoint (which tells the packet's direction in the flow).
    pub fn new(src: Endpoint, dst: Endpoint, protocol: u8, vlans: Vlans) -> (FlowKey, bool) {
        let (s, d) = ((ip_bits(src.ip), src.port), (ip_bits(dst.ip), dst.port));
        let src_is_lo = s <= d;
        let (lo, hi) = if src_is_lo { (s, d) } else { (d, s) };
        (
            FlowKey {
                lo_ip: lo.0,
                hi_ip: hi.0,
                ports: u32::from(lo.1) << 16 | u32::from(hi.1),
                ipv6: src.ip.is_ipv6(),
                protocol,
                vlans,
            },
            src_is_lo,
        )
    }

    /// A hash of the flow, the same for both directions and stable across
    /// runs: it decides which worker owns the flow.
    pub fn spread(&self) -> u64 {
        foldhash::fast::FixedState::with_seed(0x006d_6972_6164_6f72).hash_one(self)
    }

    /// The worker that owns this flow when `workers` share flows evenly.
    pub fn shard(&self, workers: usize) -> usize {
        Shares::even(workers).owner(self.spread())
    }
}

/// How flows are shared out among workers: worker `i` owns the hashes below
/// `bounds[i]` (and above the previous bound).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shares {
    bounds: Vec<u64>,
}

impl Shares {
    /// Every worker an equal share.
    pub fn even(workers: usize) -> Shares {
        Shares::weighted(&vec![1.0; workers.max(1)])
    }

    /// Shares in proportion to `weights` (one per worker).
    pub fn weighted(weights: &[f64]) -> Shares {
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let mut bounds: Vec<u64> = weights
            .iter()
            .map(|w| {
                acc += w / total;
                (acc * u64::MAX as f64) as u64
            })
            .collect();
        if let Some(last) = bounds.last_mut() {
            *last = u64::MAX;
        }
        Shares { bounds }
    }

    pub fn workers(&self) -> usize {
        self.bounds.len()
    }

    /// The worker owning `spread`.
    pub fn owner(&self, spread: u64) -> usize {
        self.bounds.iter().position(|b| spread <= *b).unwrap_or(0)
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
            let (k, _) = FlowKey::new(
                ep("10.0.0.1", port),
                ep("10.0.0.2", 80),
                6,
                Vlans::default(),
            );
            counts[k.shard(4)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
    }
}
