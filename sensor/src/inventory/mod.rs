//! The device inventory, shared between the workers that update it and the
//! readers (exporters, the API) that read it while capture runs.
//!
//! A device is a unicast source MAC seen on the local segment. It is bound
//! to the IP addresses it announces (ARP, DHCP, NDP) or sends from. A MAC
//! through which traffic for many addresses passes is a router: the hosts
//! behind it are kept as remote hosts keyed on IP, never merged into it.

mod batch;
pub mod device;
pub mod evidence;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use fingerprints::kb::KnowledgeBase;
use fingerprints::{MacAddr, OuiRegistry};
use serde::Serialize;

pub use batch::{Claim, EndedFlow, FiledClaim, InventoryBatch, Sighting};
use device::Unheard;
pub use device::{CappedSet, Device, Inserted, Protocol, RemoteHost, ServicePort};
pub use evidence::EvidenceItem;
use evidence::{Evidence, EvidenceCaps, Statement};

type SharedMap<K, V> = DashMap<K, V, foldhash::fast::RandomState>;

use crate::capture::Timestamp;
use crate::extract::{BindingSource, Observation, RouterEvidence};

/// Caps and thresholds of the inventory.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InventoryConfig {
    /// Devices kept; beyond it the least recently seen are evicted.
    pub max_devices: usize,
    /// Remote hosts kept; beyond it the least recently seen are evicted.
    pub max_remote_hosts: usize,
    /// Addresses kept per device.
    pub max_ips_per_device: usize,
    /// Peers kept per device or remote host.
    pub max_peers: usize,
    /// Server ports kept per device.
    pub max_server_ports: usize,
    /// Evidence items kept per device or remote host.
    pub max_evidence: usize,
    /// Distinct values kept per evidence field (hostnames, domains ...).
    pub max_values_per_field: usize,
    /// A MAC forwarding traffic for this many IPv4 addresses it does not
    /// announce is a router (twice as many for IPv6, whose hosts have
    /// several addresses each).
    pub router_min_forwarded: usize,
}

impl Default for InventoryConfig {
    fn default() -> InventoryConfig {
        InventoryConfig {
            max_devices: 100_000,
            max_remote_hosts: 200_000,
            max_ips_per_device: 32,
            max_peers: 256,
            max_server_ports: 64,
            max_evidence: 256,
            max_values_per_field: 16,
            router_min_forwarded: 4,
        }
    }
}

/// Inventory counters, for the summary and metrics.
#[derive(Debug, Default)]
struct Counters {
    devices_evicted: AtomicU64,
    remote_hosts_evicted: AtomicU64,
    unheard_dropped: AtomicU64,
    evidence_evicted: AtomicU64,
    claims_unplaced: AtomicU64,
    /// Devices classified (not reusing verdicts still current).
    classified: AtomicU64,
}

/// The shared inventory.
pub struct Inventory {
    config: InventoryConfig,
    oui: OuiRegistry,
    /// The rules and model devices are classified by when the inventory is
    /// read.
    kb: KnowledgeBase,
    model: Option<std::sync::Arc<classifiers::Model>>,
    devices: SharedMap<MacAddr, Device>,
    remote_hosts: SharedMap<IpAddr, RemoteHost>,
    /// Router addresses announced by DHCP servers (bounded: a segment has few).
    router_ips: SharedMap<IpAddr, ()>,
    /// MACs others sent to that have not sent a frame themselves (yet).
    unheard: SharedMap<MacAddr, Unheard>,
    /// Addresses devices announced (ARP, DHCP, NDP): never remote hosts.
    announced: SharedMap<IpAddr, MacAddr>,
    counters: Counters,
}

const MAX_ROUTER_IPS: usize = 256;
/// Verdicts are made again after this much of a device's traffic (ns) even
/// without new evidence: its behaviour, which the model reads, moves on.
const RECLASSIFY_AFTER: u64 = 60 * Timestamp::NANOS_PER_SEC;
const MAX_UNHEARD: usize = 65_536;

/// A consistent copy of the inventory, ready to serialise.
#[derive(Debug, Clone, Serialize)]
pub struct InventorySnapshot {
    pub devices: Vec<Device>,
    pub remote_hosts: Vec<RemoteHost>,
    pub devices_evicted: u64,
    pub remote_hosts_evicted: u64,
    /// Evidence items dropped for the per-device caps.
    pub evidence_evicted: u64,
    /// Findings about a party that is neither a device nor a remote host
    /// (a multicast receiver, a link-local address off its segment).
    pub claims_unplaced: u64,
}

impl Inventory {
    pub fn new(config: InventoryConfig, oui: OuiRegistry) -> Inventory {
        Inventory {
            config,
            oui,
            kb: KnowledgeBase::default(),
            model: None,
            devices: SharedMap::default(),
            remote_hosts: SharedMap::default(),
            router_ips: SharedMap::default(),
            unheard: SharedMap::default(),
            announced: SharedMap::default(),
            counters: Counters::default(),
        }
    }

    /// Classifies devices by `kb` in every snapshot (without one, devices
    /// get no verdicts).
    pub fn with_knowledge_base(mut self, kb: KnowledgeBase) -> Inventory {
        self.kb = kb;
        self
    }

    /// Adds the behavioural model's votes to every verdict.
    pub fn with_model(mut self, model: std::sync::Arc<classifiers::Model>) -> Inventory {
        self.model = Some(model);
        self
    }

    pub fn config(&self) -> &InventoryConfig {
        &self.config
    }

    /// Times a device was classified, verdicts reused not counted.
    pub fn classifications(&self) -> u64 {
        self.counters.classified.load(Ordering::Relaxed)
    }

    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    pub fn remote_host_count(&self) -> usize {
        self.remote_hosts.len()
    }

    pub fn device(&self, mac: MacAddr) -> Option<Device> {
        self.devices.get(&mac).map(|d| d.clone())
    }

    /// A device's category and its criticality (1 to 5), from its current
    /// verdict or one made now: anomalies are ranked by what a compromise
    /// of the device would cost.
    pub fn category(&self, mac: MacAddr) -> Option<(String, u8)> {
        if self.kb.is_empty() && self.model.is_none() {
            return None;
        }
        let device = self.devices.get(&mac)?.clone();
        let verdicts = match &device.classification {
            Some(v) if device.verdicts_are_current(RECLASSIFY_AFTER) => v.clone(),
            _ => crate::analysis::classify(&device, &self.kb, self.model.as_deref()),
        };
        let label = verdicts.label(fingerprints::kb::Attribute::Category)?;
        let criticality = fingerprints::kb::Taxonomy::lineage(label)
            .filter_map(|path| self.kb.taxonomy.get(path))
            .map(|c| c.criticality)
            .next()?;
        Some((label.to_string(), criticality))
    }

    /// Applies a worker's batch and empties it.
    pub fn apply(&self, batch: &mut InventoryBatch) {
        for (mac, activity) in &batch.activity {
            if let Some(first) = activity.first {
                let mut d = self.device_entry(*mac, first);
                d.seen(first);
                d.seen(activity.last);
                d.sent.add(activity.sent);
                d.received.add(activity.received);
                d.protocols.union(activity.protocols);
                for vlans in activity.vlans.into_iter().flatten() {
                    if d.vlans.len() < 16 && !d.vlans.contains(&vlans) {
                        d.vlans.insert(vlans);
                    }
                }
            } else if let Some(mut d) = self.devices.get_mut(mac) {
                d.received.add(activity.received);
            } else {
                self.unheard_entry(*mac, |u| u.received.add(activity.received));
            }
        }
        for (ts, observation) in &batch.observations {
            self.observe(*ts, *observation);
        }
        for sighting in &batch.sightings {
            self.sighting(sighting);
        }
        for filed in &batch.claims {
            self.claim(filed, &mut batch.path);
        }
        // One lookup per device, not per flow.
        batch.flows_ended.sort_unstable_by_key(|e| e.mac);
        for run in batch.flows_ended.chunk_by(|a, b| a.mac == b.mac) {
            if let Some(mut d) = self.devices.get_mut(&run[0].mac) {
                let behaviour = d.behaviour.get_or_insert_default();
                run.iter().for_each(|e| behaviour.flow(&e.summary));
            }
        }
        batch.clear();
        self.enforce_caps();
    }

    /// A copy of everything, devices sorted by MAC and hosts by address.
    pub fn snapshot(&self) -> InventorySnapshot {
        let mut devices: Vec<Device> = self.devices.iter().map(|d| d.clone()).collect();
        devices.sort_by_key(|d| d.mac);
        for d in &mut devices {
            if d.is_router() {
                d.keep_own_traffic();
            }
            d.ips.sort_by_key(|b| b.ip);
            d.evidence.sort();
            let classifies = !self.kb.is_empty() || self.model.is_some();
            if classifies && !d.verdicts_are_current(RECLASSIFY_AFTER) {
                let verdicts = crate::analysis::classify(d, &self.kb, self.model.as_deref());
                let made_at = (d.evidence.revision(), d.last_seen);
                // Kept with the device, for the next snapshots to reuse.
                if let Some(mut shared) = self.devices.get_mut(&d.mac)
                    && shared.evidence.revision() == made_at.0
                {
                    shared.classification = Some(verdicts.clone());
                    shared.classified_at = Some(made_at);
                }
                self.counters.classified.fetch_add(1, Ordering::Relaxed);
                d.classification = Some(verdicts);
            }
        }
        let mut remote_hosts: Vec<RemoteHost> =
            self.remote_hosts.iter().map(|h| h.clone()).collect();
        remote_hosts.sort_by_key(|h| h.ip);
        for h in &mut remote_hosts {
            h.evidence.sort();
        }
        InventorySnapshot {
            devices,
            remote_hosts,
            devices_evicted: self.counters.devices_evicted.load(Ordering::Relaxed),
            remote_hosts_evicted: self.counters.remote_hosts_evicted.load(Ordering::Relaxed),
            evidence_evicted: self.counters.evidence_evicted.load(Ordering::Relaxed),
            claims_unplaced: self.counters.claims_unplaced.load(Ordering::Relaxed),
        }
    }

    fn device_entry(
        &self,
        mac: MacAddr,
        ts: Timestamp,
    ) -> dashmap::mapref::one::RefMut<'_, MacAddr, Device> {
        // Looked up first: `entry` reserves room even for a known key.
        if let Some(d) = self.devices.get_mut(&mac) {
            return d;
        }
        self.devices.entry(mac).or_insert_with(|| {
            let mut d = Device::new(mac, self.oui.lookup(mac), ts);
            if let Some((_, unheard)) = self.unheard.remove(&mac) {
                d.received.add(unheard.received);
                for (local, peer) in unheard.peers.into_iter().flatten() {
                    d.add_peer(local, peer, self.config.max_peers);
                }
            }
            d
        })
    }

    /// Notes what others' traffic says about a MAC that has not spoken.
    /// The table is bounded: when full, it starts over (counted).
    fn unheard_entry(&self, mac: MacAddr, update: impl FnOnce(&mut Unheard)) {
        // Known MACs first: counting the table locks every shard.
        if !self.unheard.contains_key(&mac) && self.unheard.len() >= MAX_UNHEARD {
            self.counters
                .unheard_dropped
                .fetch_add(self.unheard.len() as u64, Ordering::Relaxed);
            self.unheard.clear();
        }
        update(&mut self.unheard.entry(mac).or_default());
    }

    fn observe(&self, ts: Timestamp, observation: Observation) {
        match observation {
            Observation::Binding { mac, ip, source } => {
                let mut d = self.device_entry(mac, ts);
                d.seen(ts);
                d.bind(ip, source, ts, self.config.max_ips_per_device);
                // An address the device announces is its own, not one it forwards.
                d.forwarded.remove(&ip);
                drop(d);
                // The device announced it: it is no host behind a router, even
                // if another worker's batch took it for one first.
                // Looked up first: inserting reserves room even for a key
                // already there, and most announcements repeat.
                let known = self.announced.get(&ip).is_some_and(|m| *m == mac);
                if !known && self.announced.len() < self.config.max_devices.saturating_mul(4) {
                    self.announced.insert(ip, mac);
                }
                self.remote_hosts.remove(&ip);
                // Checked after the announcement is recorded: a worker
                // recording the router address at the same time checks the
                // announcements after recording it, so one of the two sees
                // the other.
                if self.router_ips.contains_key(&ip) {
                    self.promote(mac, RouterEvidence::DhcpRouterOption, ts);
                }
            }
            Observation::Router { mac, evidence } => self.promote(mac, evidence, ts),
            Observation::RouterAddress { ip } => {
                let new = !self.router_ips.contains_key(&ip);
                if new && self.router_ips.len() < MAX_ROUTER_IPS {
                    self.router_ips.insert(ip, ());
                }
                // Every device already bound to it (heard before the DHCP
                // server named it; two may claim one address): looked for
                // once per address, then each new binding checks the list.
                let owners: Vec<MacAddr> = if new {
                    self.devices
                        .iter()
                        .filter(|d| d.binding(ip).is_some())
                        .map(|d| d.mac)
                        .collect()
                } else {
                    self.announced.get(&ip).map(|m| *m).into_iter().collect()
                };
                for mac in owners {
                    self.promote(mac, RouterEvidence::DhcpRouterOption, ts);
                }
            }
        }
    }

    fn sighting(&self, s: &Sighting) {
        let cap = self.config.max_peers;
        let opens_flow = !s.reply;
        match s.src_mac.filter(|m| m.is_unicast()) {
            Some(mac) => {
                let mut d = self.device_entry(mac, s.ts);
                // A router's own traffic (from an address it announces)
                // counts like any host's; what it forwards belongs to the
                // hosts behind it.
                let own = d.binding(s.src_ip).is_some_and(|b| b.is_announced());
                if d.is_router() && !own {
                    if self.receives_for(&mut d, s.src_ip, s.dst_ip, s.ts, opens_flow) {
                        d.router.insert(RouterEvidence::ForwardsTraffic);
                    }
                    drop(d);
                    self.remote(s.src_ip, s.ts, Some(mac), s.dst_ip, opens_flow);
                } else {
                    d.add_peer(s.src_ip, s.dst_ip, cap);
                    if s.reply {
                        let port = ServicePort {
                            protocol: s.protocol,
                            port: s.src_port,
                        };
                        d.server_ports
                            .insert((s.src_ip, port), self.config.max_server_ports);
                        if !is_local_network(s.dst_ip) {
                            d.exposed_ports
                                .insert((s.src_ip, port), self.config.max_server_ports);
                        }
                    }
                    let forwards = self.uses_address(&mut d, s.src_ip, s.dst_ip, s.ts, opens_flow);
                    drop(d);
                    if forwards {
                        self.promote(mac, RouterEvidence::ForwardsTraffic, s.ts);
                    }
                    // It sends from the address a DHCP server names as the
                    // router, whichever of the two was heard first.
                    if self.router_ips.contains_key(&s.src_ip) {
                        self.promote(mac, RouterEvidence::DhcpRouterOption, s.ts);
                    }
                }
            }
            None => self.remote(s.src_ip, s.ts, None, s.dst_ip, opens_flow),
        }
        match s.dst_mac.filter(|m| m.is_unicast()) {
            Some(mac) => {
                let Some(mut d) = self.devices.get_mut(&mac) else {
                    self.unheard_entry(mac, |u| {
                        let pair = (s.dst_ip, s.src_ip);
                        if let Some(free) = u.peers.iter_mut().find(|p| p.is_none_or(|p| p == pair))
                        {
                            *free = Some(pair);
                        }
                    });
                    return;
                };
                let forwards = self.receives_for(&mut d, s.dst_ip, s.src_ip, s.ts, opens_flow);
                if d.is_router() && d.binding(s.dst_ip).is_none() {
                    drop(d);
                    self.remote(s.dst_ip, s.ts, Some(mac), s.src_ip, opens_flow);
                } else {
                    d.add_peer(s.dst_ip, s.src_ip, cap);
                    drop(d);
                }
                if forwards {
                    self.promote(mac, RouterEvidence::ForwardsTraffic, s.ts);
                }
            }
            None if s.src_mac.is_none() => self.remote(s.dst_ip, s.ts, None, s.src_ip, opens_flow),
            None => {}
        }
    }

    /// Files what a protocol said under the device or remote host it is
    /// about. A router's MAC carries the words of the hosts behind it:
    /// those go to the remote host of the address, unless the router owns it.
    fn claim(&self, filed: &FiledClaim, path: &mut String) {
        let c = &filed.claim;
        let caps = EvidenceCaps {
            items: self.config.max_evidence,
            values_per_field: self.config.max_values_per_field,
        };
        let record = |evidence: &mut Evidence, path: &mut String| {
            let mut evicted = 0;
            c.finding.for_each_leaf(path, |field, value| {
                if is_evidence(field) {
                    evicted += evidence.record(
                        &Statement {
                            protocol: c.finding.event_type,
                            field,
                            value,
                            first: filed.first,
                            last: c.ts,
                            count: filed.count,
                            flow_id: c.flow_id,
                        },
                        caps,
                    );
                }
            });
            self.counters
                .evidence_evicted
                .fetch_add(evicted, Ordering::Relaxed);
        };
        if let Some(mac) = c.mac.filter(|m| m.is_unicast()) {
            let device = if c.named {
                Some(self.device_entry(mac, c.ts))
            } else {
                self.devices.get_mut(&mac)
            };
            if let Some(mut d) = device {
                let own = c.ip.is_none_or(|ip| {
                    !d.is_router() || d.binding(ip).is_some_and(|b| b.is_announced())
                });
                if own {
                    record(&mut d.evidence, path);
                    return;
                }
            }
        }
        match c.ip.and_then(|ip| self.remote_entry(ip, c.ts)) {
            Some(mut host) => record(&mut host.evidence, path),
            None => {
                self.counters
                    .claims_unplaced
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A non-router device sent from `ip`: bind it as traffic unless it is
    /// another device's announced address; count it toward forwarding.
    /// Returns whether the device now looks like a router.
    fn uses_address(
        &self,
        d: &mut Device,
        ip: IpAddr,
        peer: IpAddr,
        ts: Timestamp,
        opens_flow: bool,
    ) -> bool {
        let own = link_local(ip) || d.binding(ip).is_some_and(|b| b.is_announced());
        if own || routable(ip) {
            d.bind(
                ip,
                BindingSource::Traffic,
                ts,
                self.config.max_ips_per_device,
            );
        }
        !own && self.receives_for(d, ip, peer, ts, opens_flow)
    }

    /// Traffic for `ip` passes through the device. Returns whether the
    /// device now looks like a router.
    fn receives_for(
        &self,
        d: &mut Device,
        ip: IpAddr,
        peer: IpAddr,
        ts: Timestamp,
        opens_flow: bool,
    ) -> bool {
        if !routable(ip) || d.binding(ip).is_some_and(|b| b.is_announced()) {
            return false;
        }
        let min = self.config.router_min_forwarded;
        if let Some(f) = d.forwarded.get_mut(&ip) {
            f.first_seen = f.first_seen.min(ts);
            f.last_seen = f.last_seen.max(ts);
            f.flows += u64::from(opens_flow);
            if let Some(free) = f.peers.iter_mut().find(|p| p.is_none_or(|p| p == peer)) {
                *free = Some(peer);
            }
        } else if d.forwarded.len() < 4 * min {
            let forwarded = device::Forwarded {
                first_seen: ts,
                last_seen: ts,
                flows: u64::from(opens_flow),
                peers: [Some(peer), None],
            };
            d.forwarded.insert(ip, forwarded);
        }
        let v4 = d.forwarded.keys().filter(|a| a.is_ipv4()).count();
        let v6 = d.forwarded.len() - v4;
        v4 >= min || v6 >= 2 * min
    }

    /// Marks `mac` as a router. Addresses it was bound to only by traffic
    /// belonged to hosts behind it: they move to the remote hosts.
    fn promote(&self, mac: MacAddr, evidence: RouterEvidence, ts: Timestamp) {
        let mut d = self.device_entry(mac, ts);
        let was_router = d.is_router();
        d.router.insert(evidence);
        if was_router {
            return;
        }
        let mut behind = std::mem::take(&mut d.forwarded);
        let router_ips = &self.router_ips;
        d.ips.retain(|b| {
            let keep = b.is_announced() || router_ips.contains_key(&b.ip);
            if !keep {
                behind.entry(b.ip).or_insert(device::Forwarded {
                    first_seen: b.first_seen,
                    last_seen: b.last_seen,
                    flows: 0,
                    peers: [None; 2],
                });
            }
            keep
        });
        drop(d);
        for (ip, f) in behind {
            let Some(mut h) = self.remote_entry(ip, f.first_seen) else {
                continue;
            };
            h.seen(f.first_seen);

            h.seen(f.last_seen);
            h.flows += f.flows;
            h.via.insert(mac, 4);
            for peer in f.peers.into_iter().flatten() {
                h.peers.insert(peer, self.config.max_peers);
            }
        }
    }

    /// Traffic of a host behind `via` (or on a link without MACs);
    /// `opens_flow` for the first packet of a flow, so flows count once.
    fn remote(
        &self,
        ip: IpAddr,
        ts: Timestamp,
        via: Option<MacAddr>,
        peer: IpAddr,
        opens_flow: bool,
    ) {
        let Some(mut h) = self.remote_entry(ip, ts) else {
            return;
        };
        h.seen(ts);

        h.flows += u64::from(opens_flow);
        if let Some(mac) = via {
            h.via.insert(mac, 4);
        }
        h.peers.insert(peer, self.config.max_peers);
    }

    /// The remote host `ip`, created if needed; `None` for addresses that
    /// cannot be one (not routable, or announced by a local device).
    fn remote_entry(
        &self,
        ip: IpAddr,
        ts: Timestamp,
    ) -> Option<dashmap::mapref::one::RefMut<'_, IpAddr, RemoteHost>> {
        if !routable(ip) {
            return None;
        }
        if let Some(host) = self.remote_hosts.get_mut(&ip) {
            return Some(host);
        }
        // Checked under the entry's lock: an announcement, which records
        // the address before removing its remote host, cannot slip between.
        let entry = self.remote_hosts.entry(ip);
        if self.announced.contains_key(&ip) {
            return None;
        }
        Some(entry.or_insert_with(|| RemoteHost::new(ip, ts)))
    }

    /// Evicts the least recently seen entries of a table over its cap, a
    /// sixteenth of the cap at a time so that eviction stays rare.
    fn enforce_caps(&self) {
        evict_oldest(
            &self.devices,
            self.config.max_devices,
            |d| d.last_seen,
            &self.counters.devices_evicted,
        );
        evict_oldest(
            &self.remote_hosts,
            self.config.max_remote_hosts,
            |h| h.last_seen,
            &self.counters.remote_hosts_evicted,
        );
    }
}

/// Fields that change with every message (transaction and message ids)
/// say nothing about who sent it: they stay in the events only.
fn is_evidence(path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path);
    !matches!(
        last,
        "id" | "transaction_id" | "message_id" | "elapsed_time"
    )
}

fn evict_oldest<K, V>(
    map: &SharedMap<K, V>,
    cap: usize,
    last_seen: impl Fn(&V) -> Timestamp,
    evicted: &AtomicU64,
) where
    K: std::hash::Hash + Eq + Clone,
{
    if map.len() <= cap {
        return;
    }
    let excess = map.len() - cap + cap / 16;
    let mut by_age: Vec<(Timestamp, K)> = map
        .iter()
        .map(|e| (last_seen(e.value()), e.key().clone()))
        .collect();
    by_age.sort_by_key(|(t, _)| *t);
    for (_, key) in by_age.into_iter().take(excess) {
        if map.remove(&key).is_some() {
            evicted.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Addresses that can name one host beyond the link: not unspecified,
/// multicast, broadcast, loopback or link-local.
fn routable(ip: IpAddr) -> bool {
    !link_local(ip)
        && match ip {
            IpAddr::V4(a) => {
                !(a.is_unspecified() || a.is_multicast() || a.is_broadcast() || a.is_loopback())
            }
            IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast() || a.is_loopback()),
        }
}

/// An address of a local network: private or unique-local, or one that
/// is not routed at all (link-local, loopback, multicast, broadcast). The
/// rest of the Internet is remote.
pub fn is_local_network(ip: IpAddr) -> bool {
    !routable(ip)
        || match ip {
            IpAddr::V4(a) => a.is_private(),
            IpAddr::V6(a) => a.is_unique_local(),
        }
}

/// A unicast host of a local network (not a group, broadcast or loopback
/// address): what a device can scan, or move to.
pub fn is_internal_host(ip: IpAddr) -> bool {
    routable(ip)
        && match ip {
            IpAddr::V4(a) => a.is_private(),
            IpAddr::V6(a) => a.is_unique_local(),
        }
}

/// Link-local addresses never cross a router, so whoever sends from one owns it.
fn link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => a.is_unicast_link_local(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::FlowConfig;
    use crate::pipeline::Sensor;

    fn capture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../pcaps/iot-sentinel")
            .join(name)
    }

    #[test]
    fn verdicts_are_made_again_only_when_new_evidence_comes() {
        let Ok(kb) = KnowledgeBase::builtin() else {
            panic!("the shipped knowledge base loads")
        };
        let inventory = Inventory::new(InventoryConfig::default(), OuiRegistry::builtin())
            .with_knowledge_base(kb);
        let sensor = Sensor::new(FlowConfig::offline(), inventory);
        sensor.analyze_files(&[capture("TP-LinkPlugHS110/Setup-A-1-STA.pcap")], &());
        let first = sensor.inventory.snapshot();
        let made = sensor.inventory.classifications();
        assert_eq!(made, first.devices.len() as u64);
        // Nothing new: the verdicts are reused, and the same.
        let second = sensor.inventory.snapshot();
        assert_eq!(sensor.inventory.classifications(), made);
        let verdicts = |s: &InventorySnapshot| {
            s.devices
                .iter()
                .map(|d| d.classification.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(verdicts(&first), verdicts(&second));
        // Another capture, other devices: they are classified, the plug's
        // verdicts (no new evidence, no new traffic) stand.
        let plug: MacAddr = "50:c7:bf:00:c7:03".parse().unwrap_or(MacAddr::ZERO);
        let made_at = sensor.inventory.device(plug).and_then(|d| d.classified_at);
        assert!(made_at.is_some());
        sensor.analyze_files(&[capture("EdimaxPlug1101W/Setup-C-12-STA.pcap")], &());
        let third = sensor.inventory.snapshot();
        let new = third.devices.len() - first.devices.len();
        assert!(new > 0);
        assert!(sensor.inventory.classifications() >= made + new as u64);
        assert_eq!(
            sensor.inventory.device(plug).and_then(|d| d.classified_at),
            made_at
        );
    }
}
