//! Frames to layered views, without copying: the link layer by link type
//! (here), then etherparse's lax slicing for VLANs, ARP, IPv4, IPv6 with its
//! extension headers, TCP, UDP, ICMP and ICMPv6. Lax slicing keeps the
//! headers of frames cut short by a small snap length, which is what most
//! mirror-port captures are. What cannot be decoded is counted by reason.

mod link;
mod tunnel;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{
    ArpPacketSlice, EtherType, Ethernet2Slice, Icmpv4Slice, Icmpv6Slice, IpNumber, LaxIpSlice,
    SingleVlanSlice, TcpSlice, TransportSlice, UdpSlice,
};
use fingerprints::MacAddr;

use crate::capture::{LinkType, Packet};

pub use tunnel::{TunnelKind, may_carry as may_carry_tunnel};

/// The outer and inner 802.1Q tags (QinQ), if any.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vlans {
    pub outer: Option<u16>,
    pub inner: Option<u16>,
}

impl Vlans {
    pub fn push(&mut self, id: u16) {
        if self.outer.is_none() {
            self.outer = Some(id);
        } else if self.inner.is_none() {
            self.inner = Some(id);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.outer.is_none()
    }

    /// The tags outermost first, as EVE's `vlan` array lists them.
    pub fn ids(&self) -> impl Iterator<Item = u16> {
        self.outer.into_iter().chain(self.inner)
    }
}

/// Where an IP packet sits in its datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fragment {
    /// Not fragmented.
    Whole,
    /// The first fragment: it holds the transport header.
    First,
    /// A later fragment: payload only, no ports.
    Later,
}

/// An IP packet with its addresses read out and its layers borrowed.
#[derive(Debug, Clone)]
pub struct IpPacket<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IP protocol number of the payload (after IPv6 extension headers).
    pub protocol: u8,
    /// TTL or hop limit.
    pub ttl: u8,
    pub fragment: Fragment,
    /// The transport header and payload, when the packet holds them whole.
    pub transport: Option<TransportSlice<'a>>,
    /// The IP payload (possibly cut short by the snap length).
    pub payload: &'a [u8],
    /// The whole packet from its IP header on, as captured (TCP SYN
    /// fingerprints read the IP header).
    pub bytes: &'a [u8],
}

impl IpPacket<'_> {
    /// Source and destination ports of TCP and UDP; zero for other protocols.
    pub fn ports(&self) -> (u16, u16) {
        match &self.transport {
            Some(TransportSlice::Tcp(t)) => (t.source_port(), t.destination_port()),
            Some(TransportSlice::Udp(u)) => (u.source_port(), u.destination_port()),
            _ => (0, 0),
        }
    }
}

/// The network layer of a frame.
#[derive(Debug, Clone)]
pub enum Network<'a> {
    Ip(IpPacket<'a>),
    Arp(ArpPacketSlice<'a>),
    /// A frame mirador does not decode here (LLDP, CDP and other LLC frames,
    /// PROFINET ...): its EtherType, or for 802.3 frames the length field,
    /// and the bytes after it.
    Other {
        ether_type: u16,
        payload: &'a [u8],
    },
}

/// A decoded frame: link-layer addresses, VLAN tags and the network layer.
/// For a tunnelled packet, the innermost packet mirador could open.
#[derive(Debug, Clone)]
pub struct PacketView<'a> {
    pub src_mac: Option<MacAddr>,
    pub dst_mac: Option<MacAddr>,
    pub vlans: Vlans,
    /// The outermost tunnel the packet was carried in.
    pub tunnel: Option<TunnelKind>,
    pub network: Network<'a>,
}

/// Why a frame could not be decoded; counted per reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DecodeError {
    #[error("unsupported link type")]
    UnsupportedLinkType,
    #[error("truncated or malformed link-layer header")]
    Link,
    #[error("truncated or malformed VLAN or MPLS header")]
    LinkExtension,
    #[error("truncated or malformed ARP packet")]
    Arp,
    #[error("truncated or malformed IP header")]
    Ip,
    #[error("truncated or malformed IP extension header")]
    IpExtension,
    #[error("truncated or malformed TCP header")]
    Tcp,
    #[error("truncated or malformed UDP header")]
    Udp,
    #[error("truncated or malformed ICMP message")]
    Icmp,
}

impl DecodeError {
    pub const ALL: [DecodeError; 9] = [
        DecodeError::UnsupportedLinkType,
        DecodeError::Link,
        DecodeError::LinkExtension,
        DecodeError::Arp,
        DecodeError::Ip,
        DecodeError::IpExtension,
        DecodeError::Tcp,
        DecodeError::Udp,
        DecodeError::Icmp,
    ];

    /// A short stable name, for counters and metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            DecodeError::UnsupportedLinkType => "unsupported_link_type",
            DecodeError::Link => "link",
            DecodeError::LinkExtension => "link_extension",
            DecodeError::Arp => "arp",
            DecodeError::Ip => "ip",
            DecodeError::IpExtension => "ip_extension",
            DecodeError::Tcp => "tcp",
            DecodeError::Udp => "udp",
            DecodeError::Icmp => "icmp",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Decodes one captured frame.
pub fn decode<'a>(packet: &Packet<'a>) -> Result<PacketView<'a>, DecodeError> {
    decode_frame(packet.link_type, packet.data)
}

/// Tunnels opened inside tunnels, at most.
const MAX_TUNNEL_DEPTH: u8 = 3;

/// Decodes a frame of the given link type.
pub fn decode_frame(link_type: LinkType, data: &[u8]) -> Result<PacketView<'_>, DecodeError> {
    let frame = link::strip(link_type, data)?;
    let outer = PacketView {
        src_mac: frame.src_mac,
        dst_mac: frame.dst_mac,
        vlans: Vlans::default(),
        tunnel: None,
        network: Network::Other {
            ether_type: 0,
            payload: &[],
        },
    };
    decode_inner(outer, frame.inner, 0)
}

/// An Ethernet II frame with its VLAN tags (802.1Q, QinQ) read.
pub struct EthernetFrame<'a> {
    pub src: MacAddr,
    pub dst: MacAddr,
    pub vlans: Vlans,
    /// The EtherType after the tags, and what follows it.
    pub ether_type: u16,
    pub payload: &'a [u8],
}

pub fn ethernet(bytes: &[u8]) -> Result<EthernetFrame<'_>, DecodeError> {
    let eth = Ethernet2Slice::from_slice_without_fcs(bytes).map_err(|_| DecodeError::Link)?;
    let (mut ether_type, mut payload) = (eth.ether_type(), eth.payload_slice());
    let mut vlans = Vlans::default();
    while matches!(
        ether_type,
        EtherType::VLAN_TAGGED_FRAME
            | EtherType::PROVIDER_BRIDGING
            | EtherType::VLAN_DOUBLE_TAGGED_FRAME
    ) {
        let tag = SingleVlanSlice::from_slice(payload).map_err(|_| DecodeError::LinkExtension)?;
        vlans.push(tag.vlan_identifier().value());
        (ether_type, payload) = (tag.ether_type(), tag.payload_slice());
    }
    Ok(EthernetFrame {
        src: MacAddr(eth.source()),
        dst: MacAddr(eth.destination()),
        vlans,
        ether_type: ether_type.0,
        payload,
    })
}

/// Decodes what follows the link header into `view`, opening tunnels: the
/// view then shows the inner packet, with the inner MACs and VLAN tags when
/// the tunnel carries Ethernet, and the outer ones when it carries IP.
fn decode_inner<'a>(
    mut view: PacketView<'a>,
    inner: link::Inner<'a>,
    depth: u8,
) -> Result<PacketView<'a>, DecodeError> {
    let (ether_type, payload) = match inner {
        link::Inner::Ethernet(bytes) => {
            let frame = ethernet(bytes)?;
            if depth > 0 {
                view.dst_mac = Some(frame.dst);
                view.src_mac = Some(frame.src);
            }
            // A tunnel's inner frame keeps the outer tags unless it has its own.
            if !frame.vlans.is_empty() || depth == 0 {
                view.vlans = frame.vlans;
            }
            (frame.ether_type, frame.payload)
        }
        link::Inner::EtherType(ether_type, bytes) => (ether_type, bytes),
        link::Inner::Ip(bytes) => (EtherType::IPV4.0, bytes),
    };
    view.network = match EtherType(ether_type) {
        EtherType::IPV4 | EtherType::IPV6 => Network::Ip(ip_packet(payload)?),
        EtherType::ARP => {
            Network::Arp(ArpPacketSlice::from_slice(payload).map_err(|_| DecodeError::Arp)?)
        }
        // MPLS and PPPoE sit between the link layer and IP.
        _ => match link::unwrap_tunnel_shim((ether_type, payload)) {
            Some(ip) => Network::Ip(ip_packet(ip?)?),
            None => Network::Other {
                ether_type,
                payload,
            },
        },
    };
    if depth < MAX_TUNNEL_DEPTH
        && let Network::Ip(ip) = &view.network
        && let Some((kind, inner)) = tunnel_in(ip)
    {
        let mut tunnelled = view.clone();
        tunnelled.tunnel = Some(view.tunnel.unwrap_or(kind));
        // Something that only looked like a tunnel stays the outer packet.
        if let Ok(decoded) = decode_inner(tunnelled, inner, depth + 1) {
            return Ok(decoded);
        }
    }
    Ok(view)
}

/// An IPv4 or IPv6 packet (the version nibble decides) and its transport
/// header. Packets cut short by the snap length keep what they have.
fn ip_packet(bytes: &[u8]) -> Result<IpPacket<'_>, DecodeError> {
    let (ip, extension_error) = LaxIpSlice::from_slice(bytes).map_err(|_| DecodeError::Ip)?;
    // Checked before anything walks the extension headers: etherparse
    // 0.21's extension iterator reads past its slice when the lax parse
    // stopped at a malformed header after a good one (found by fuzzing).
    if extension_error.is_some() {
        return Err(DecodeError::IpExtension);
    }
    let (src, dst, ttl, first) = match &ip {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            (
                IpAddr::V4(Ipv4Addr::from(h.source())),
                IpAddr::V4(Ipv4Addr::from(h.destination())),
                h.ttl(),
                h.fragments_offset().value() == 0,
            )
        }
        LaxIpSlice::Ipv6(v6) => {
            let h = v6.header();
            (
                IpAddr::V6(Ipv6Addr::from(h.source())),
                IpAddr::V6(Ipv6Addr::from(h.destination())),
                h.hop_limit(),
                ipv6_first_fragment(v6),
            )
        }
    };
    let payload = ip.payload();
    let fragment = match (payload.fragmented, first) {
        (false, _) => Fragment::Whole,
        (true, true) => Fragment::First,
        (true, false) => Fragment::Later,
    };
    let protocol = payload.ip_number;
    let body = payload.payload;
    let transport = match fragment {
        Fragment::Whole => transport(protocol, body)?,
        // The first fragment still starts with the transport header, whose
        // ports place it in its flow; a short one is no error.
        Fragment::First => transport(protocol, body).ok().flatten(),
        Fragment::Later => None,
    };
    Ok(IpPacket {
        src,
        dst,
        protocol: protocol.0,
        ttl,
        fragment,
        transport,
        payload: body,
        bytes,
    })
}

fn transport(protocol: IpNumber, body: &[u8]) -> Result<Option<TransportSlice<'_>>, DecodeError> {
    Ok(Some(match protocol {
        IpNumber::TCP => {
            TransportSlice::Tcp(TcpSlice::from_slice(body).map_err(|_| DecodeError::Tcp)?)
        }
        IpNumber::UDP => {
            TransportSlice::Udp(UdpSlice::from_slice_lax(body).map_err(|_| DecodeError::Udp)?)
        }
        IpNumber::ICMP => {
            TransportSlice::Icmpv4(Icmpv4Slice::from_slice(body).map_err(|_| DecodeError::Icmp)?)
        }
        IpNumber::IPV6_ICMP => {
            TransportSlice::Icmpv6(Icmpv6Slice::from_slice(body).map_err(|_| DecodeError::Icmp)?)
        }
        _ => return Ok(None),
    }))
}

fn tunnel_in<'a>(ip: &IpPacket<'a>) -> Option<(TunnelKind, link::Inner<'a>)> {
    if ip.fragment != Fragment::Whole {
        return None;
    }
    match &ip.transport {
        Some(TransportSlice::Udp(udp)) => {
            tunnel::open(ip.protocol, udp.payload(), Some(udp.destination_port()))
        }
        Some(_) => None,
        None => tunnel::open(ip.protocol, ip.payload, None),
    }
}

/// Whether an IPv6 packet starts its datagram (no fragment header, or one
/// with offset zero).
fn ipv6_first_fragment(ip: &etherparse::LaxIpv6Slice<'_>) -> bool {
    ip.extensions().clone().into_iter().all(|ext| match ext {
        etherparse::Ipv6ExtensionSlice::Fragment(f) => f.fragment_offset().value() == 0,
        _ => true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pinned by the fuzzer: an IPv6 packet whose second extension header
    /// is malformed, in a Linux cooked v2 frame. Walking its extension
    /// headers read past the slice (a crash in release builds).
    #[test]
    fn malformed_second_ipv6_extension_header_is_a_decode_error() {
        let frame = [
            0x86, 0xdd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x01, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x4e, 0x00, 0x00, 0x00, 0x60, 0x05, 0xc2, 0xe4, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x09, 0x26, 0x27,
            0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x34, 0x35, 0x36, 0x37, 0x36, 0x37, 0x34, 0x35,
            0x36, 0x37, 0x00, 0x00, 0x00, 0x00, 0x24, 0x25, 0x28, 0x35, 0x36, 0x37,
        ];
        let result = decode_frame(LinkType::LINUX_SLL2, &frame);
        assert_eq!(result.err(), Some(DecodeError::IpExtension));
    }
}
