//! From decoded packets to identity observations. Each protocol that tells
//! who a device is has a parser in `fingerprints::proto`; this module picks
//! the parser with a cheap probe (EtherType, ports, ICMPv6 type), so the
//! cost falls only on the few packets that carry identity, and turns what
//! the parser read into [`Observation`]s for the inventory.

mod app;

use std::net::{IpAddr, Ipv4Addr};

use etherparse::{ArpPacketSlice, TransportSlice};
use fingerprints::MacAddr;
use fingerprints::proto::dhcp::{self, DhcpMessage, MessageType};
use fingerprints::proto::ndp::{NdpKind, NdpMessage};

use crate::capture::Timestamp;
use crate::decode::{IpPacket, Network, PacketView};

pub use app::{ExtractConfig, ExtractCounters, Extractor, MAX_DISSECTORS, Said};

/// How mirador learnt that a MAC uses an IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BindingSource {
    /// The device's own ARP request or reply.
    Arp,
    /// A DHCP server assigned it (ACK), or the client renewed it.
    Dhcp,
    /// IPv6 Neighbor Discovery (solicitation, advertisement, DAD).
    Ndp,
    /// The device sent traffic from it on the local segment.
    Traffic,
}

impl BindingSource {
    pub const ALL: [BindingSource; 4] = [
        BindingSource::Arp,
        BindingSource::Dhcp,
        BindingSource::Ndp,
        BindingSource::Traffic,
    ];

    pub fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// Why a MAC is taken for a router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouterEvidence {
    /// It sent an IPv6 Router Advertisement.
    RouterAdvertisement,
    /// It set the router flag in a Neighbor Advertisement.
    NeighborAdvertisementRouterFlag,
    /// It holds the address a DHCP server announced as the router.
    DhcpRouterOption,
    /// Traffic for many addresses it does not own passes through it.
    ForwardsTraffic,
}

impl RouterEvidence {
    pub const ALL: [RouterEvidence; 4] = [
        RouterEvidence::RouterAdvertisement,
        RouterEvidence::NeighborAdvertisementRouterFlag,
        RouterEvidence::DhcpRouterOption,
        RouterEvidence::ForwardsTraffic,
    ];
}

/// Something a packet says about the devices on the segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// `mac` uses `ip`.
    Binding {
        mac: MacAddr,
        ip: IpAddr,
        source: BindingSource,
    },
    /// `mac` routes.
    Router {
        mac: MacAddr,
        evidence: RouterEvidence,
    },
    /// A DHCP server names `ip` as the segment's router.
    RouterAddress { ip: IpAddr },
}

/// Everything the packet says, handed to `out` with its time.
pub fn observe(view: &PacketView<'_>, ts: Timestamp, out: &mut impl FnMut(Timestamp, Observation)) {
    let mut emit = |o| out(ts, o);
    match &view.network {
        Network::Arp(arp) => arp_binding(arp).into_iter().for_each(&mut emit),
        Network::Ip(ip) => match &ip.transport {
            Some(TransportSlice::Udp(udp))
                if udp.source_port() == dhcp::SERVER_PORT
                    || udp.destination_port() == dhcp::SERVER_PORT =>
            {
                dhcp_observations(view.src_mac, ip.src, udp.payload(), &mut emit);
            }
            Some(TransportSlice::Icmpv6(icmp)) => {
                ndp_observations(view.src_mac, ip, icmp.slice(), &mut emit);
            }
            _ => {}
        },
        Network::Other { .. } => {}
    }
}

/// ARP senders announce their own binding; probes (sender 0.0.0.0) do not.
fn arp_binding(arp: &ArpPacketSlice<'_>) -> Option<Observation> {
    let mac = MacAddr::from_slice(arp.sender_hw_addr()).filter(|m| m.is_unicast())?;
    let octets: [u8; 4] = arp.sender_protocol_addr().try_into().ok()?;
    let ip = Ipv4Addr::from(octets);
    (!ip.is_unspecified()).then_some(Observation::Binding {
        mac,
        ip: IpAddr::V4(ip),
        source: BindingSource::Arp,
    })
}

fn dhcp_observations(
    frame_src: Option<MacAddr>,
    ip_src: IpAddr,
    payload: &[u8],
    emit: &mut impl FnMut(Observation),
) {
    let Ok(msg) = DhcpMessage::parse(payload) else {
        return;
    };
    // A server identifies itself; unless a relay forwarded the reply, the
    // frame's sender is that server.
    if msg.op() == 2
        && let (Some(server_mac), Some(server_id)) = (
            frame_src.filter(|m| m.is_unicast()),
            msg.option_ipv4(dhcp::option::SERVER_ID),
        )
        && ip_src == IpAddr::V4(server_id)
    {
        emit(Observation::Binding {
            mac: server_mac,
            ip: ip_src,
            source: BindingSource::Dhcp,
        });
    }
    let Some(mac) = msg.client_mac().filter(|m| m.is_unicast()) else {
        return;
    };
    let mut bind = |ip: Ipv4Addr| {
        if !ip.is_unspecified() && !ip.is_broadcast() {
            emit(Observation::Binding {
                mac,
                ip: IpAddr::V4(ip),
                source: BindingSource::Dhcp,
            });
        }
    };
    match msg.message_type() {
        Some(MessageType::Ack) => {
            bind(msg.your_ip());
            if let Some(router) = msg.option_ipv4(dhcp::option::ROUTER) {
                emit(Observation::RouterAddress {
                    ip: IpAddr::V4(router),
                });
            }
        }
        // A client renewing or informing states the address it holds.
        Some(MessageType::Request | MessageType::Inform) => bind(msg.client_ip()),
        _ => {}
    }
}

fn ndp_observations(
    frame_src: Option<MacAddr>,
    ip: &IpPacket<'_>,
    icmpv6: &[u8],
    emit: &mut impl FnMut(Observation),
) {
    let Ok(msg) = NdpMessage::parse(icmpv6) else {
        return;
    };
    let mut bind = |mac: Option<MacAddr>, addr: Option<std::net::Ipv6Addr>| {
        if let (Some(mac), Some(addr)) = (mac.filter(|m| m.is_unicast()), addr)
            && !addr.is_unspecified()
            && !addr.is_multicast()
        {
            emit(Observation::Binding {
                mac,
                ip: IpAddr::V6(addr),
                source: BindingSource::Ndp,
            });
        }
    };
    let src = match ip.src {
        IpAddr::V6(a) => Some(a),
        IpAddr::V4(_) => None,
    };
    let sender = msg.source_link_addr().or(frame_src);
    match msg.kind {
        NdpKind::NeighborSolicitation => {
            if src.is_some_and(|a| a.is_unspecified()) {
                // Duplicate address detection: the sender is about to use
                // the target address.
                bind(frame_src, msg.target());
            } else {
                bind(msg.source_link_addr(), src);
            }
        }
        NdpKind::NeighborAdvertisement => {
            let owner = msg.target_link_addr().or(frame_src);
            bind(owner, msg.target());
            if msg.router_flag()
                && let Some(mac) = owner.filter(|m| m.is_unicast())
            {
                emit(Observation::Router {
                    mac,
                    evidence: RouterEvidence::NeighborAdvertisementRouterFlag,
                });
            }
        }
        NdpKind::RouterAdvertisement => {
            bind(sender, src);
            if let Some(mac) = sender.filter(|m| m.is_unicast()) {
                emit(Observation::Router {
                    mac,
                    evidence: RouterEvidence::RouterAdvertisement,
                });
            }
        }
        NdpKind::RouterSolicitation | NdpKind::Redirect => bind(msg.source_link_addr(), src),
    }
}
