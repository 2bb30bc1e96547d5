//! A worker's pending inventory updates. Workers touch only their own batch
//! per packet (no lock); the batch is applied to the shared inventory every
//! so often, which keeps the shared maps off the per-packet path.

use std::collections::HashMap;
use std::net::IpAddr;

use etherparse::TransportSlice;
use fingerprints::MacAddr;

use super::device::{Protocol, ProtocolSet, Traffic};
use crate::capture::Timestamp;
use crate::decode::{Network, PacketView, Vlans};
use crate::extract::Observation;

/// One MAC's activity since the last flush.
#[derive(Debug, Clone, Copy, Default)]
pub struct Activity {
    pub sent: Traffic,
    pub received: Traffic,
    pub first: Timestamp,
    pub last: Timestamp,
    pub protocols: ProtocolSet,
    pub vlans: Vlans,
}

/// The first packet of one direction of a flow: who sent it from which
/// address, through which MACs, to whom.
#[derive(Debug, Clone, Copy)]
pub struct Sighting {
    pub ts: Timestamp,
    pub src_mac: Option<MacAddr>,
    pub src_ip: IpAddr,
    pub src_port: u16,
    pub dst_mac: Option<MacAddr>,
    pub dst_ip: IpAddr,
    pub protocol: u8,
    /// The sender is answering (the flow's server replying).
    pub reply: bool,
}

/// Updates waiting to be applied to the inventory.
#[derive(Default)]
pub struct InventoryBatch {
    pub(super) activity: HashMap<MacAddr, Activity, foldhash::fast::RandomState>,
    pub(super) sightings: Vec<Sighting>,
    pub(super) observations: Vec<(Timestamp, Observation)>,
}

impl InventoryBatch {
    /// Counts one frame for its source and destination MACs.
    pub fn packet(&mut self, view: &PacketView<'_>, ts: Timestamp, wire_len: u32) {
        let traffic = Traffic {
            packets: 1,
            bytes: u64::from(wire_len),
        };
        if let Some(mac) = view.src_mac.filter(|m| m.is_unicast()) {
            let a = self.entry(mac, ts);
            a.sent.add(traffic);
            a.vlans = view.vlans;
            protocols_of(view, &mut a.protocols);
        }
        if let Some(mac) = view.dst_mac.filter(|m| m.is_unicast()) {
            self.entry(mac, ts).received.add(traffic);
        }
    }

    pub fn sighting(&mut self, sighting: Sighting) {
        self.sightings.push(sighting);
    }

    pub fn observation(&mut self, ts: Timestamp, observation: Observation) {
        self.observations.push((ts, observation));
    }

    /// Whether the batch has grown enough to be applied now, whatever the time.
    pub fn is_full(&self) -> bool {
        self.activity.len() >= 4096 || self.sightings.len() + self.observations.len() >= 4096
    }

    pub fn is_empty(&self) -> bool {
        self.activity.is_empty() && self.sightings.is_empty() && self.observations.is_empty()
    }

    pub(super) fn clear(&mut self) {
        self.activity.clear();
        self.sightings.clear();
        self.observations.clear();
    }

    fn entry(&mut self, mac: MacAddr, ts: Timestamp) -> &mut Activity {
        let a = self.activity.entry(mac).or_insert(Activity {
            first: ts,
            last: ts,
            ..Activity::default()
        });
        a.first = a.first.min(ts);
        a.last = a.last.max(ts);
        a
    }
}

/// The protocols a frame shows its sender speaking.
fn protocols_of(view: &PacketView<'_>, set: &mut ProtocolSet) {
    match &view.network {
        Network::Arp(_) => set.insert(Protocol::Arp),
        Network::Other { ether_type, .. } => set.insert(Protocol::of_ether_type(*ether_type)),
        Network::Ip(ip) => {
            set.insert(if ip.src.is_ipv4() {
                Protocol::Ipv4
            } else {
                Protocol::Ipv6
            });
            set.insert(Protocol::of_ip(ip.protocol));
            match &ip.transport {
                Some(TransportSlice::Udp(u)) if matches!(u.source_port(), 67 | 68) => {
                    set.insert(Protocol::Dhcp)
                }
                Some(TransportSlice::Icmpv6(i)) if (133..=137).contains(&i.type_u8()) => {
                    set.insert(Protocol::Ndp)
                }
                _ => {}
            }
        }
    }
}
