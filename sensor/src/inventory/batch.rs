//! A worker's pending inventory updates. Workers touch only their own batch
//! per packet (no lock); the batch is applied to the shared inventory every
//! so often, which keeps the shared maps off the per-packet path.

use std::collections::HashMap;
use std::net::IpAddr;

use classifiers::FlowSummary;
use etherparse::TransportSlice;
use fingerprints::MacAddr;

use super::device::{Protocol, ProtocolSet, Traffic};
use super::is_local_network;
use crate::capture::Timestamp;
use crate::decode::{Network, PacketView, Vlans};
use crate::extract::Observation;
use crate::flow::Flow;

/// One MAC's activity since the last flush.
#[derive(Debug, Clone, Copy, Default)]
pub struct Activity {
    pub sent: Traffic,
    pub received: Traffic,
    /// When it sent its first and last frame (`None`: it only received).
    pub first: Option<Timestamp>,
    pub last: Timestamp,
    pub protocols: ProtocolSet,
    /// The VLAN tags it sent on (a few per flush is plenty).
    pub vlans: [Option<Vlans>; 4],
}

impl Activity {
    /// It sent frames between these times.
    fn sent_at(&mut self, first: Timestamp, last: Timestamp) {
        self.first = Some(self.first.map_or(first, |t| t.min(first)));
        self.last = self.last.max(last);
    }

    fn tagged(&mut self, vlans: Vlans) {
        if let Some(slot) = self.vlans.iter_mut().find(|v| v.is_none_or(|v| v == vlans)) {
            *slot = Some(vlans);
        }
    }
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
    pub dst_port: u16,
    pub protocol: u8,
    /// The sender is answering (the flow's server replying).
    pub reply: bool,
    /// The packet's TCP flags (0 for other transports).
    pub tcp_flags: u8,
    pub flow_id: u64,
}

/// A flow that ended, as one of its local ends saw it.
#[derive(Debug, Clone, Copy)]
pub struct EndedFlow {
    pub mac: MacAddr,
    pub flow_id: u64,
    /// When the stream ended it (`Flow::ended`).
    pub ended: Timestamp,
    pub summary: FlowSummary,
}

/// Updates waiting to be applied to the inventory.
pub struct InventoryBatch {
    pub(crate) activity: Vec<(MacAddr, Activity)>,
    index: HashMap<MacAddr, u32, foldhash::fast::RandomState>,
    /// A direct-mapped cache in front of `index`: a segment's traffic comes
    /// from few MACs, and this saves hashing on nearly every packet.
    recent: [(MacAddr, u32); RECENT],
    pub(crate) sightings: Vec<Sighting>,
    pub(crate) observations: Vec<(Timestamp, Observation)>,
    pub(crate) claims: Vec<FiledClaim>,
    /// Ended flows, as each local end saw them: its behaviour.
    pub(crate) flows_ended: Vec<EndedFlow>,
    /// Claims by a hash of who said what, to fold repeats.
    claim_index: HashMap<u64, u32, foldhash::fast::RandomState>,
    /// Scratch space for evidence names while claims are filed.
    pub(super) path: String,
}

/// What a protocol said about a device: the sender or receiver of a packet
/// (by MAC on the segment, else by IP address), or a device it named.
#[derive(Debug, Clone)]
pub struct Claim {
    pub ts: Timestamp,
    pub flow_id: Option<u64>,
    pub mac: Option<MacAddr>,
    pub ip: Option<IpAddr>,
    /// `mac` was named inside the message (a DHCP client): the device is
    /// created if it is not known yet.
    pub named: bool,
    pub finding: std::sync::Arc<fingerprints::proto::Finding>,
}

/// A claim as filed: the same words said again within one batch (a host's
/// every SYN, a repeated mDNS announcement) are one claim with a count.
#[derive(Debug, Clone)]
pub struct FiledClaim {
    pub claim: Claim,
    pub first: Timestamp,
    pub count: u64,
}

impl Default for InventoryBatch {
    fn default() -> InventoryBatch {
        InventoryBatch {
            activity: Vec::new(),
            index: HashMap::default(),
            recent: [(MacAddr::ZERO, u32::MAX); RECENT],
            sightings: Vec::new(),
            observations: Vec::new(),
            claims: Vec::new(),
            flows_ended: Vec::new(),
            claim_index: HashMap::default(),
            path: String::new(),
        }
    }
}

impl InventoryBatch {
    /// A frame outside any flow (ARP, LLDP, a later IP fragment): its
    /// traffic and the protocols it shows.
    pub fn frame(&mut self, view: &PacketView<'_>, ts: Timestamp, len: u32) {
        let traffic = Traffic {
            packets: 1,
            bytes: u64::from(len),
        };
        if let Some(mac) = view.src_mac.filter(|m| m.is_unicast()) {
            let a = self.entry(mac);
            a.sent_at(ts, ts);
            a.sent.add(traffic);
            a.tagged(view.vlans);
            protocols_of(view, &mut a.protocols);
        }
        if let Some(mac) = view.dst_mac.filter(|m| m.is_unicast()) {
            self.entry(mac).received.add(traffic);
        }
    }

    /// The protocols the first packet of a flow's direction shows for its
    /// sender (a flow's later packets show the same).
    pub fn protocols(&mut self, view: &PacketView<'_>, ts: Timestamp) {
        if let Some(mac) = view.src_mac.filter(|m| m.is_unicast()) {
            let a = self.entry(mac);
            a.sent_at(ts, ts);
            a.tagged(view.vlans);
            protocols_of(view, &mut a.protocols);
        }
    }

    /// Credits the devices at both ends with what the flow carried since it
    /// was last credited.
    pub fn flow_traffic(&mut self, flow: &mut Flow) {
        let [to_server, to_client] = flow.take_uncredited();
        let ends = [
            (flow.client_mac, &flow.to_server, to_server),
            (flow.server_mac, &flow.to_client, to_client),
        ];
        for (i, (sender, dir, (packets, bytes))) in ends.into_iter().enumerate() {
            if packets == 0 {
                continue;
            }
            let traffic = Traffic { packets, bytes };
            let (first, last) = (
                dir.first.unwrap_or(flow.start),
                dir.last.unwrap_or(flow.end),
            );
            if let Some(mac) = sender.filter(|m| m.is_unicast()) {
                let a = self.entry(mac);
                a.sent_at(first, last);
                a.sent.add(traffic);
            }
            let receiver = if i == 0 {
                flow.server_mac
            } else {
                flow.client_mac
            };
            if let Some(mac) = receiver.filter(|m| m.is_unicast()) {
                self.entry(mac).received.add(traffic);
            }
        }
    }

    /// A flow ended: what it was, for the behaviour of the devices at its
    /// ends (a flow cut by the active timeout counts each time it is cut).
    pub fn flow_ended(&mut self, flow: &Flow) {
        let mut gaps = flow.to_server.iat_us;
        gaps.merge(&flow.to_client.iat_us);
        let ends = [
            (
                flow.client_mac,
                true,
                &flow.to_server,
                &flow.to_client,
                flow.server.ip,
            ),
            (
                flow.server_mac,
                false,
                &flow.to_client,
                &flow.to_server,
                flow.client.ip,
            ),
        ];
        for (mac, as_client, sent, received, peer) in ends {
            let Some(mac) = mac.filter(|m| m.is_unicast()) else {
                continue;
            };
            // A fixed seed: every worker's batch must name a destination
            // alike, or its flows split between keys and look aperiodic.
            let destination = {
                use std::hash::BuildHasher;
                foldhash::fast::FixedState::default().hash_one((peer, flow.server.port))
            };
            self.flows_ended.push(EndedFlow {
                mac,
                flow_id: flow.id,
                ended: flow.ended,
                summary: FlowSummary {
                    as_client,
                    transport: flow.protocol(),
                    service_port: flow.server.port,
                    peer_is_local: is_local_network(peer),
                    destination,
                    start_us: (flow.start.0 / 1000) as i64,
                    duration_us: (flow.end.since(flow.start) / 1000) as i64,
                    packets_sent: sent.pkts,
                    packets_received: received.pkts,
                    bytes_sent: sent.bytes,
                    bytes_received: received.bytes,
                    mean_sent_len: sent.pkt_len.mean(),
                    mean_gap_us: gaps.mean(),
                },
            });
        }
    }

    pub fn sighting(&mut self, sighting: Sighting) {
        self.sightings.push(sighting);
    }

    pub fn observation(&mut self, ts: Timestamp, observation: Observation) {
        self.observations.push((ts, observation));
    }

    pub fn claim(&mut self, claim: Claim) {
        use std::hash::{BuildHasher, Hash, Hasher};
        let mut h = self.claim_index.hasher().build_hasher();
        (claim.mac, claim.ip, claim.named).hash(&mut h);
        hash_finding(&claim.finding, &mut h);
        let key = h.finish();
        if let Some(&at) = self.claim_index.get(&key)
            && let Some(filed) = self.claims.get_mut(at as usize)
            && (std::sync::Arc::ptr_eq(&filed.claim.finding, &claim.finding)
                || filed.claim.finding == claim.finding)
            && (filed.claim.mac, filed.claim.ip, filed.claim.named)
                == (claim.mac, claim.ip, claim.named)
        {
            filed.count += 1;
            filed.first = filed.first.min(claim.ts);
            filed.claim.ts = filed.claim.ts.max(claim.ts);
            filed.claim.flow_id = claim.flow_id.or(filed.claim.flow_id);
            return;
        }
        self.claim_index.insert(key, self.claims.len() as u32);
        self.claims.push(FiledClaim {
            first: claim.ts,
            count: 1,
            claim,
        });
    }

    /// Claims waiting to be filed.
    pub fn claims(&self) -> usize {
        self.claims.len()
    }

    /// Whether the batch has grown enough to be applied now, whatever the time.
    pub fn is_full(&self) -> bool {
        self.activity.len() >= 4096
            || self.sightings.len()
                + self.observations.len()
                + self.claims.len()
                + self.flows_ended.len()
                >= 4096
    }

    pub fn is_empty(&self) -> bool {
        self.activity.is_empty()
            && self.sightings.is_empty()
            && self.observations.is_empty()
            && self.claims.is_empty()
            && self.flows_ended.is_empty()
    }

    pub(super) fn clear(&mut self) {
        self.activity.clear();
        self.index.clear();
        self.recent = [(MacAddr::ZERO, u32::MAX); RECENT];
        self.sightings.clear();
        self.observations.clear();
        self.claims.clear();
        self.flows_ended.clear();
        self.claim_index.clear();
    }

    fn entry(&mut self, mac: MacAddr) -> &mut Activity {
        let slot = (mac.as_u64().wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize % RECENT;
        let at = match self.recent[slot] {
            (m, at) if m == mac && at != u32::MAX => at,
            _ => {
                let next = self.activity.len() as u32;
                let at = *self.index.entry(mac).or_insert(next);
                if at == next {
                    self.activity.push((mac, Activity::default()));
                }
                self.recent[slot] = (mac, at);
                at
            }
        };
        &mut self.activity[at as usize].1
    }
}

const RECENT: usize = 64;

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

/// Feeds a finding's event type and fields to a hasher.
fn hash_finding(finding: &fingerprints::proto::Finding, h: &mut impl std::hash::Hasher) {
    use std::hash::Hash;
    finding.event_type.hash(h);
    finding.fields.iter().for_each(|(k, v)| {
        k.hash(h);
        super::evidence::hash_value(v, h);
    });
}
