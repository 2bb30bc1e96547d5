//! Frames to layered views, without copying: the link layer by link type
//! (here), then etherparse's lax slicing for VLANs, ARP, IPv4, IPv6 with its
//! extension headers, TCP, UDP, ICMP and ICMPv6. Lax slicing keeps the
//! headers of frames cut short by a small snap length, which is what most
//! mirror-port captures are. What cannot be decoded is counted by reason.

mod link;
mod tunnel;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{
    ArpPacketSlice, LaxNetSlice, LaxSlicedPacket, TransportSlice, err::Layer,
};
use fingerprints::MacAddr;

use crate::capture::{LinkType, Packet};

pub use tunnel::TunnelKind;

/// The outer and inner 802.1Q tags (QinQ), if any.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vlans {
    pub outer: Option<u16>,
    pub inner: Option<u16>,
}

impl Vlans {
    fn push(&mut self, id: u16) {
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
    Other { ether_type: u16, payload: &'a [u8] },
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

    fn from_layer(layer: Layer) -> DecodeError {
        match layer {
            Layer::LinuxSllHeader | Layer::Ethernet2Header | Layer::EtherPayload => {
                DecodeError::Link
            }
            Layer::VlanHeader | Layer::MacsecHeader | Layer::MacsecPacket => {
                DecodeError::LinkExtension
            }
            Layer::Arp => DecodeError::Arp,
            Layer::IpHeader
            | Layer::Ipv4Header
            | Layer::Ipv4Packet
            | Layer::Ipv6Header
            | Layer::Ipv6Packet => DecodeError::Ip,
            Layer::IpAuthHeader
            | Layer::Ipv6ExtHeader
            | Layer::Ipv6HopByHopHeader
            | Layer::Ipv6DestOptionsHeader
            | Layer::Ipv6RouteHeader
            | Layer::Ipv6FragHeader => DecodeError::IpExtension,
            Layer::TcpHeader => DecodeError::Tcp,
            Layer::UdpHeader | Layer::UdpPayload => DecodeError::Udp,
            _ => DecodeError::Icmp,
        }
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

/// Decodes what follows the link header into `view`, opening tunnels: the
/// view then shows the inner packet, with the inner MACs and VLAN tags when
/// the tunnel carries Ethernet, and the outer ones when it carries IP.
fn decode_inner<'a>(
    mut view: PacketView<'a>,
    inner: link::Inner<'a>,
    depth: u8,
) -> Result<PacketView<'a>, DecodeError> {
    let sliced = match inner {
        link::Inner::Ethernet(bytes) => {
            let sliced = LaxSlicedPacket::from_ethernet(bytes).map_err(|_| DecodeError::Link)?;
            if depth > 0 {
                view.dst_mac = MacAddr::from_slice(bytes);
                view.src_mac = bytes.get(6..).and_then(MacAddr::from_slice);
            }
            let mut vlans = Vlans::default();
            for ext in &sliced.link_exts {
                if let etherparse::LaxLinkExtSlice::Vlan(v) = ext {
                    vlans.push(v.vlan_identifier().value());
                }
            }
            if !vlans.is_empty() || depth == 0 {
                view.vlans = vlans;
            }
            sliced
        }
        link::Inner::EtherType(ether_type, bytes) => {
            LaxSlicedPacket::from_ether_type(etherparse::EtherType(ether_type), bytes)
        }
        link::Inner::Ip(bytes) => LaxSlicedPacket::from_ip(bytes).map_err(|_| DecodeError::Ip)?,
    };
    view.network = match network_of(&sliced)? {
        Some(network) => network,
        // etherparse stops at EtherTypes it does not know; MPLS and PPPoE
        // are unwrapped here and the IP packet inside sliced again.
        None => match link::unwrap_tunnel_shim(ether_type_payload(&sliced)) {
            Some(Ok(ip)) => {
                let inner = LaxSlicedPacket::from_ip(ip).map_err(|_| DecodeError::Ip)?;
                network_of(&inner)?.ok_or(DecodeError::Ip)?
            }
            Some(Err(e)) => return Err(e),
            None => {
                let (ether_type, payload) = ether_type_payload(&sliced);
                Network::Other {
                    ether_type,
                    payload,
                }
            }
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

/// The EtherType and payload etherparse stopped at (after any VLAN tags).
fn ether_type_payload<'a>(sliced: &LaxSlicedPacket<'a>) -> (u16, &'a [u8]) {
    let payload = match sliced.link_exts.last() {
        Some(etherparse::LaxLinkExtSlice::Vlan(v)) => Some(v.payload()),
        _ => match &sliced.link {
            Some(etherparse::LinkSlice::Ethernet2(e)) => Some(e.payload()),
            Some(etherparse::LinkSlice::EtherPayload(p)) => Some(p.clone()),
            _ => None,
        },
    };
    payload.map_or((0, &[]), |p| (p.ether_type.0, p.payload))
}

fn network_of<'a>(sliced: &LaxSlicedPacket<'a>) -> Result<Option<Network<'a>>, DecodeError> {
    let net = match &sliced.net {
        Some(net) => net,
        None => {
            return match &sliced.stop_err {
                Some((_, layer)) => Err(DecodeError::from_layer(*layer)),
                None => Ok(None),
            };
        }
    };
    let (src, dst, ttl, fragmented, is_first, payload) = match net {
        LaxNetSlice::Arp(arp) => return Ok(Some(Network::Arp(arp.clone()))),
        LaxNetSlice::Ipv4(ip) => {
            let h = ip.header();
            let first = h.fragments_offset().value() == 0;
            (
                IpAddr::V4(Ipv4Addr::from(h.source())),
                IpAddr::V4(Ipv4Addr::from(h.destination())),
                h.ttl(),
                ip.is_payload_fragmented(),
                first,
                ip.payload(),
            )
        }
        LaxNetSlice::Ipv6(ip) => {
            let h = ip.header();
            let first = ipv6_first_fragment(ip);
            (
                IpAddr::V6(Ipv6Addr::from(h.source())),
                IpAddr::V6(Ipv6Addr::from(h.destination())),
                h.hop_limit(),
                ip.is_payload_fragmented(),
                first,
                ip.payload(),
            )
        }
    };
    let fragment = match (fragmented, is_first) {
        (false, _) => Fragment::Whole,
        (true, true) => Fragment::First,
        (true, false) => Fragment::Later,
    };
    // A transport header that should be there but is not, in a packet that
    // is not fragmented, is a decode error; cut-short payloads are not.
    if fragment == Fragment::Whole
        && sliced.transport.is_none()
        && let Some((_, layer)) = &sliced.stop_err
    {
        return Err(DecodeError::from_layer(*layer));
    }
    let transport = match fragment {
        // etherparse leaves fragments alone; the first one still starts
        // with the transport header, whose ports place it in its flow.
        Fragment::First => first_fragment_transport(payload.ip_number.0, payload.payload),
        _ => sliced.transport.clone(),
    };
    Ok(Some(Network::Ip(IpPacket {
        src,
        dst,
        protocol: payload.ip_number.0,
        ttl,
        fragment,
        transport,
        payload: payload.payload,
    })))
}

fn first_fragment_transport(protocol: u8, payload: &[u8]) -> Option<TransportSlice<'_>> {
    match protocol {
        6 => etherparse::TcpSlice::from_slice(payload).ok().map(TransportSlice::Tcp),
        17 => etherparse::UdpSlice::from_slice_lax(payload).ok().map(TransportSlice::Udp),
        _ => None,
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
