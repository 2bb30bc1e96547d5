//! Spoofing on the segment: an address announced by a second MAC while its
//! owner is alive (ARP or NDP poisoning, a MAC conflict), the router's
//! address taken over (gateway impersonation), a second DHCP server.

use std::net::IpAddr;

use fingerprints::MacAddr;

use super::config::AnomalyConfig;
use super::report::{AnomalyKind, Proof, Raised, Subject};
use super::table::Table;
use crate::capture::Timestamp;
use crate::extract::BindingSource;
use crate::inventory::{CappedSet, Inserted};

/// An owner silent for this long may have left: its address is free.
const OWNER_ALIVE_NS: u64 = 300 * Timestamp::NANOS_PER_SEC;
/// DHCP servers remembered per segment.
const DHCP_SERVERS: usize = 64;

#[derive(Debug, Default)]
struct Owner {
    mac: Option<MacAddr>,
    last: Timestamp,
    /// Flagged MACs, so that each conflict is reported once.
    flagged: CappedSet<MacAddr>,
}

pub struct SpoofDetector {
    owners: Table<IpAddr, Owner>,
    routers: CappedSet<IpAddr>,
    dhcp_servers: CappedSet<MacAddr>,
    first_dhcp_server: Option<(MacAddr, IpAddr)>,
}

impl SpoofDetector {
    pub fn new(config: &AnomalyConfig) -> SpoofDetector {
        SpoofDetector {
            owners: Table::new(config.max_tracked),
            routers: CappedSet::default(),
            dhcp_servers: CappedSet::default(),
            first_dhcp_server: None,
        }
    }

    pub fn evicted(&self) -> u64 {
        self.owners.evicted
    }

    pub fn router_address(&mut self, ip: IpAddr) {
        self.routers.insert(ip, 256);
    }

    /// A MAC announced (or was given) an address.
    pub fn binding(
        &mut self,
        ts: Timestamp,
        mac: MacAddr,
        ip: IpAddr,
        source: BindingSource,
        out: &mut Vec<Raised>,
    ) {
        // Traffic bindings are not announcements; DHCP hands addresses over.
        if !matches!(source, BindingSource::Arp | BindingSource::Ndp) || ip.is_unspecified() {
            return;
        }
        let owner = self.owners.touch(ip, ts);
        match owner.mac {
            Some(m) if m == mac => owner.last = owner.last.max(ts),
            Some(m) if ts.since(owner.last) < OWNER_ALIVE_NS => {
                if owner.flagged.insert(mac, 16) != Inserted::Known {
                    let gateway = self.routers.contains(&ip);
                    let (kind, score) = if gateway {
                        (AnomalyKind::GatewayImpersonation, 0.9)
                    } else {
                        (AnomalyKind::ArpSpoofing, 0.7)
                    };
                    let mut proof = Proof::default();
                    proof.add(owner.last, None);
                    proof.add(ts, None);
                    out.push(
                        Raised::new(kind, Subject { mac: Some(mac), ip: Some(ip) }, ip.to_string(), ts)
                            .score(score)
                            .explain(format!(
                                "{mac} announced {ip}{}, which {m} announced {:.1} s earlier and still holds",
                                if gateway { ", the router's address" } else { "" },
                                ts.since(owner.last) as f64 / 1e9
                            ))
                            .deviation("mac", mac.to_string(), m.to_string())
                            .proof(proof),
                    );
                }
                // Both claim it: the first stays the owner, the last word counts.
                owner.last = owner.last.max(ts);
            }
            _ => {
                owner.mac = Some(mac);
                owner.last = ts;
            }
        }
    }

    /// A datagram from UDP port 67 to port 68: its sender is a DHCP server.
    /// A second one on the segment is rogue (or a failover pair, which the
    /// explanation leaves to a human to confirm).
    pub fn dhcp_server(
        &mut self,
        ts: Timestamp,
        mac: MacAddr,
        ip: IpAddr,
        flow_id: u64,
        out: &mut Vec<Raised>,
    ) {
        let new = self.dhcp_servers.insert(mac, DHCP_SERVERS) != Inserted::Known;
        match self.first_dhcp_server {
            None => self.first_dhcp_server = Some((mac, ip)),
            Some((first, first_ip)) if new && first != mac => {
                let mut proof = Proof::default();
                proof.add(ts, Some(flow_id));
                out.push(
                    Raised::new(AnomalyKind::RogueDhcpServer, Subject { mac: Some(mac), ip: Some(ip) }, "dhcp server", ts)
                        .score(0.75)
                        .explain(format!(
                            "{mac} ({ip}) answers DHCP clients; {first} ({first_ip}) was the segment's DHCP server first (a rogue server, or a failover pair to confirm)"
                        ))
                        .deviation("dhcp_servers", self.dhcp_servers.len(), 1)
                        .proof(proof),
                );
            }
            _ => {}
        }
    }
}
