//! What the inventory knows about one device or remote host.

use std::net::IpAddr;

use fingerprints::{MacAddr, OuiMatch};
use serde::Serialize;

use super::evidence::Evidence;
use crate::capture::Timestamp;
use crate::decode::Vlans;
use crate::extract::{BindingSource, RouterEvidence};

/// Sets and maps in the inventory hash network-chosen keys; foldhash is
/// seeded per table, and much faster than SipHash.
pub type HashSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;
pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// An address whose traffic passed through a device not yet known to route:
/// what its remote-host record will start from if the device turns out to.
#[derive(Debug, Clone, Copy)]
pub struct Forwarded {
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub flows: u64,
    /// The first local peers it talked to.
    pub peers: [Option<IpAddr>; 2],
}

/// Protocols a device was seen speaking, by the layer that names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Protocol {
    Arp,
    Ipv4,
    Ipv6,
    Icmp,
    Icmpv6,
    Igmp,
    Tcp,
    Udp,
    Sctp,
    OtherIp,
    Dhcp,
    Ndp,
    Lldp,
    Eapol,
    /// 802.3 frames with an LLC header (CDP, STP, ...).
    Llc,
    OtherEthernet,
}

impl Protocol {
    const ALL: [Protocol; 16] = [
        Protocol::Arp,
        Protocol::Ipv4,
        Protocol::Ipv6,
        Protocol::Icmp,
        Protocol::Icmpv6,
        Protocol::Igmp,
        Protocol::Tcp,
        Protocol::Udp,
        Protocol::Sctp,
        Protocol::OtherIp,
        Protocol::Dhcp,
        Protocol::Ndp,
        Protocol::Lldp,
        Protocol::Eapol,
        Protocol::Llc,
        Protocol::OtherEthernet,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Arp => "arp",
            Protocol::Ipv4 => "ipv4",
            Protocol::Ipv6 => "ipv6",
            Protocol::Icmp => "icmp",
            Protocol::Icmpv6 => "icmpv6",
            Protocol::Igmp => "igmp",
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
            Protocol::OtherIp => "other_ip",
            Protocol::Dhcp => "dhcp",
            Protocol::Ndp => "ndp",
            Protocol::Lldp => "lldp",
            Protocol::Eapol => "eapol",
            Protocol::Llc => "llc",
            Protocol::OtherEthernet => "other_ethernet",
        }
    }

    /// The transport protocol of an IP packet.
    pub fn of_ip(protocol: u8) -> Protocol {
        match protocol {
            1 => Protocol::Icmp,
            2 => Protocol::Igmp,
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            58 => Protocol::Icmpv6,
            132 => Protocol::Sctp,
            _ => Protocol::OtherIp,
        }
    }

    /// A non-IP frame's protocol by EtherType (below 0x0600: an 802.3
    /// length, so LLC follows).
    pub fn of_ether_type(ether_type: u16) -> Protocol {
        match ether_type {
            0x88cc => Protocol::Lldp,
            0x888e => Protocol::Eapol,
            0..0x0600 => Protocol::Llc,
            _ => Protocol::OtherEthernet,
        }
    }
}

/// A set of [`Protocol`]s in one word.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProtocolSet(u32);

impl ProtocolSet {
    pub fn insert(&mut self, p: Protocol) {
        self.0 |= 1 << p as u8;
    }

    pub fn union(&mut self, other: ProtocolSet) {
        self.0 |= other.0;
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    pub fn contains(&self, p: Protocol) -> bool {
        self.0 & (1 << p as u8) != 0
    }

    pub fn iter(&self) -> impl Iterator<Item = Protocol> + '_ {
        Protocol::ALL.into_iter().filter(|p| self.contains(*p))
    }
}

impl Serialize for ProtocolSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(Protocol::name))
    }
}

/// Packets and bytes in one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Traffic {
    pub packets: u64,
    pub bytes: u64,
}

impl Traffic {
    pub fn add(&mut self, other: Traffic) {
        self.packets += other.packets;
        self.bytes += other.bytes;
    }
}

/// An address a device uses, how it was learnt, and when.
#[derive(Debug, Clone, Serialize)]
pub struct IpBinding {
    pub ip: IpAddr,
    #[serde(serialize_with = "serialize_sources")]
    pub sources: u8,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
}

impl IpBinding {
    pub fn has_source(&self, source: BindingSource) -> bool {
        self.sources & source.bit() != 0
    }

    /// Learnt from the device's own protocol messages, not just its traffic.
    pub fn is_announced(&self) -> bool {
        self.sources & !BindingSource::Traffic.bit() != 0
    }
}

fn serialize_sources<S: serde::Serializer>(bits: &u8, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(
        BindingSource::ALL
            .into_iter()
            .filter(|b| bits & b.bit() != 0),
    )
}

/// A set that stops growing at its cap, counting what it refused;
/// serialised as a sorted list (the count is not).
#[derive(Debug, Clone)]
pub struct CappedSet<T: std::hash::Hash + Eq> {
    items: HashSet<T>,
    /// Inserts refused for the cap.
    pub overflow: u64,
}

/// What an insert into a [`CappedSet`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// The item was there already.
    Known,
    Added,
    /// New, but the set was full: counted in `overflow`, not kept.
    Refused,
}

impl<T: std::hash::Hash + Eq> Default for CappedSet<T> {
    fn default() -> Self {
        CappedSet {
            items: HashSet::default(),
            overflow: 0,
        }
    }
}

impl<T: std::hash::Hash + Eq> CappedSet<T> {
    pub fn insert(&mut self, item: T, cap: usize) -> Inserted {
        if self.items.contains(&item) {
            Inserted::Known
        } else if self.items.len() < cap {
            self.items.insert(item);
            Inserted::Added
        } else {
            self.overflow += 1;
            Inserted::Refused
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn is_full(&self, cap: usize) -> bool {
        self.items.len() >= cap
    }

    pub fn contains(&self, item: &T) -> bool {
        self.items.contains(item)
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }

    /// Keeps only the items `keep` accepts.
    pub fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        self.items.retain(keep);
    }
}

impl<'de, T: std::hash::Hash + Eq + serde::Deserialize<'de>> serde::Deserialize<'de>
    for CappedSet<T>
{
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(CappedSet {
            items: Vec::<T>::deserialize(d)?.into_iter().collect(),
            overflow: 0,
        })
    }
}

impl<T: std::hash::Hash + Eq + Serialize + Ord> Serialize for CappedSet<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut sorted: Vec<&T> = self.items.iter().collect();
        sorted.sort();
        s.collect_seq(sorted)
    }
}

/// A transport port a device answered on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServicePort {
    pub protocol: u8,
    pub port: u16,
}

impl std::fmt::Display for ServicePort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Protocol::of_ip(self.protocol).name(), self.port)
    }
}

impl Serialize for ServicePort {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The registry entry of a device's MAC.
#[derive(Debug, Clone, Serialize)]
pub struct OuiInfo {
    pub prefix: String,
    pub registry: fingerprints::oui::Registry,
    pub organization: String,
}

/// A device: a unicast source MAC seen on the local segment.
#[derive(Debug, Clone, Serialize)]
pub struct Device {
    pub mac: MacAddr,
    /// The vendor, short form of the IEEE registration of the MAC's block.
    pub vendor: Option<String>,
    pub oui: Option<OuiInfo>,
    /// The MAC is locally administered (randomised or assigned by
    /// software), so its prefix names no vendor.
    pub locally_administered: bool,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub ips: Vec<IpBinding>,
    /// Addresses announced or used that did not fit under the cap.
    pub ips_overflow: u64,
    pub sent: Traffic,
    pub received: Traffic,
    pub protocols: ProtocolSet,
    /// Peer IP addresses it exchanged traffic with.
    #[serde(serialize_with = "serialize_remotes")]
    pub peers: CappedSet<(IpAddr, IpAddr)>,
    /// New peers not kept because `peers` was full (a peer may be counted twice).
    pub peers_overflow: u64,
    /// Ports it answered on, as `tcp/80`, `udp/53`.
    #[serde(serialize_with = "serialize_remotes")]
    pub server_ports: CappedSet<(IpAddr, ServicePort)>,
    /// Of those, the ports it answered to clients outside the local
    /// networks: what is reachable from the Internet.
    #[serde(serialize_with = "serialize_remotes")]
    pub exposed_ports: CappedSet<(IpAddr, ServicePort)>,
    #[serde(serialize_with = "serialize_vlans")]
    pub vlans: HashSet<Vlans>,
    /// Why the device is taken for a router (empty: it is not one).
    pub router: RouterEvidenceSet,
    /// Remote addresses whose traffic it forwarded, counted toward the
    /// router verdict (kept only until then).
    #[serde(skip)]
    pub forwarded: HashMap<IpAddr, Forwarded>,
    /// What it said about itself, protocol by protocol.
    pub evidence: Evidence,
    /// What its flows looked like (allocated with its first ended flow).
    #[serde(skip)]
    pub behaviour: Option<Box<classifiers::DeviceBehaviour>>,
    /// Verdicts on what it is, made from `evidence` when the inventory is
    /// read (see `analysis::classify`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classification: Option<crate::analysis::Classification>,
    /// The evidence revision and the time (`last_seen`) the verdicts were
    /// made at: they are made again only when new evidence came, or on a
    /// timer as behaviour accrues.
    #[serde(skip)]
    pub classified_at: Option<(u64, Timestamp)>,
    /// Its trust score, judged when the inventory is read (`trust`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust: Option<crate::trust::Trust>,
}

/// Pairs of (local address, value) as the distinct values, sorted.
fn serialize_remotes<T: Serialize + Ord + Copy + std::hash::Hash, S: serde::Serializer>(
    pairs: &CappedSet<(IpAddr, T)>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut values: Vec<T> = pairs.iter().map(|(_, v)| *v).collect();
    values.sort();
    values.dedup();
    s.collect_seq(values)
}

fn serialize_vlans<S: serde::Serializer>(vlans: &HashSet<Vlans>, s: S) -> Result<S::Ok, S::Error> {
    let mut ids: Vec<Vec<u16>> = vlans
        .iter()
        .filter(|v| !v.is_empty())
        .map(|v| v.ids().collect())
        .collect();
    ids.sort();
    s.collect_seq(ids)
}

impl Device {
    pub fn new(mac: MacAddr, oui: Option<OuiMatch<'_>>, ts: Timestamp) -> Device {
        Device {
            mac,
            vendor: oui.map(|m| m.vendor.to_string()),
            oui: oui.map(|m| OuiInfo {
                prefix: m.prefix.to_string(),
                registry: m.registry,
                organization: m.organization.to_string(),
            }),
            locally_administered: mac.is_locally_administered(),
            first_seen: ts,
            last_seen: ts,
            ips: Vec::new(),
            ips_overflow: 0,
            sent: Traffic::default(),
            received: Traffic::default(),
            protocols: ProtocolSet::default(),
            peers: CappedSet::default(),
            peers_overflow: 0,
            server_ports: CappedSet::default(),
            exposed_ports: CappedSet::default(),
            vlans: HashSet::default(),
            router: RouterEvidenceSet::default(),
            forwarded: HashMap::default(),
            evidence: Evidence::default(),
            behaviour: None,
            classification: None,
            classified_at: None,
            trust: None,
        }
    }

    pub fn seen(&mut self, ts: Timestamp) {
        self.first_seen = self.first_seen.min(ts);
        self.last_seen = self.last_seen.max(ts);
    }

    /// A peer, and the local address the device used with it.
    pub fn add_peer(&mut self, local: IpAddr, peer: IpAddr, cap: usize) {
        if self.peers.insert((local, peer), cap) == Inserted::Refused {
            self.peers_overflow += 1;
        }
    }

    /// Keeps only what the device did from addresses it announces: for a
    /// router, the rest was traffic it forwarded. Done when the inventory is
    /// read, so the result does not depend on when the router was found.
    pub fn keep_own_traffic(&mut self) {
        let ips = &self.ips;
        let own = |ip: &IpAddr| ips.iter().any(|b| b.ip == *ip && b.is_announced());
        self.peers.retain(|(l, _)| own(l));
        self.server_ports.retain(|(l, _)| own(l));
        self.exposed_ports.retain(|(l, _)| own(l));
    }

    pub fn binding(&self, ip: IpAddr) -> Option<&IpBinding> {
        self.ips.iter().find(|b| b.ip == ip)
    }

    /// Records that the device uses `ip`; returns false if the cap kept it out.
    pub fn bind(&mut self, ip: IpAddr, source: BindingSource, ts: Timestamp, cap: usize) -> bool {
        if let Some(b) = self.ips.iter_mut().find(|b| b.ip == ip) {
            b.sources |= source.bit();
            b.first_seen = b.first_seen.min(ts);
            b.last_seen = b.last_seen.max(ts);
            return true;
        }
        if self.ips.len() >= cap {
            self.ips_overflow += 1;
            return false;
        }
        self.ips.push(IpBinding {
            ip,
            sources: source.bit(),
            first_seen: ts,
            last_seen: ts,
        });
        true
    }

    pub fn is_router(&self) -> bool {
        !self.router.is_empty()
    }

    /// Whether its verdicts still stand: made since its last new evidence,
    /// less than `timer` nanoseconds of its traffic ago.
    pub fn verdicts_are_current(&self, timer: u64) -> bool {
        self.classification.is_some()
            && self.classified_at.is_some_and(|(revision, at)| {
                revision == self.evidence.revision() && self.last_seen.since(at) < timer
            })
    }
}

/// The kinds of evidence that a device routes, gathered as they come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouterEvidenceSet(u8);

impl RouterEvidenceSet {
    pub fn insert(&mut self, evidence: RouterEvidence) {
        self.0 |= 1 << evidence as u8;
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = RouterEvidence> + '_ {
        RouterEvidence::ALL
            .into_iter()
            .filter(|e| self.0 & 1 << *e as u8 != 0)
    }
}

impl Serialize for RouterEvidenceSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// What others' traffic told about a MAC before it sent a frame itself;
/// merged into the device when it does, whichever worker sees that first.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unheard {
    pub received: Traffic,
    /// (its address, the peer's address) of what it was sent.
    pub peers: [Option<(IpAddr, IpAddr)>; 4],
}

/// A host known only by its IP address: behind a router, or seen on a link
/// that carries no MAC addresses.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteHost {
    pub ip: IpAddr,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Routers (MACs) its traffic passed through.
    pub via: CappedSet<MacAddr>,
    /// Flows it took part in.
    pub flows: u64,
    /// Local peers (IP addresses) it exchanged traffic with.
    pub peers: CappedSet<IpAddr>,
    /// What it said about itself (a server's certificate, its banners ...).
    pub evidence: Evidence,
    /// Its trust score, judged when the inventory is read (`trust`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust: Option<crate::trust::Trust>,
}

impl RemoteHost {
    pub fn new(ip: IpAddr, ts: Timestamp) -> RemoteHost {
        RemoteHost {
            ip,
            first_seen: ts,
            last_seen: ts,
            via: CappedSet::default(),
            flows: 0,
            peers: CappedSet::default(),
            evidence: Evidence::default(),
            trust: None,
        }
    }

    pub fn seen(&mut self, ts: Timestamp) {
        self.first_seen = self.first_seen.min(ts);
        self.last_seen = self.last_seen.max(ts);
    }
}
