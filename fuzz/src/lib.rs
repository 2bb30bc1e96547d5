//! Helpers shared by mirador's fuzz targets: how a byte picks a link type,
//! and walks over decoded views and parsed messages that call every
//! accessor, so that a panic in any of them is found.
//!
//! Every value read is passed to [`std::hint::black_box`] so that the
//! optimiser cannot drop an accessor whose result is unused.

use std::hint::black_box;

use etherparse::TransportSlice;
use fingerprints::proto::dhcp::{self, DhcpMessage};
use fingerprints::proto::ndp::NdpMessage;
use sensor::capture::LinkType;
use sensor::decode::{Network, PacketView};

/// A link type mirador does not decode (IEEE 802.11), to exercise the
/// rejection path.
pub const UNSUPPORTED_LINK_TYPE: LinkType = LinkType(105);

/// Number of link types a selector byte chooses among: the supported ones
/// in the order of `LinkType::SUPPORTED`, then [`UNSUPPORTED_LINK_TYPE`].
pub const LINK_CHOICES: usize = LinkType::SUPPORTED.len() + 1;

/// The link type a selector byte names: `byte % LINK_CHOICES` indexes
/// `LinkType::SUPPORTED`, and its last value is the unsupported type.
/// (`seeds.py` writes seed selectors with the same rule.)
pub fn link_type(selector: u8) -> LinkType {
    LinkType::SUPPORTED
        .get(usize::from(selector) % LINK_CHOICES)
        .copied()
        .unwrap_or(UNSUPPORTED_LINK_TYPE)
}

/// Reads everything a decoded frame offers, and parses the identity
/// protocols it carries (DHCP, NDP) as `extract` does.
pub fn walk_view(view: &PacketView<'_>) {
    if let Some(mac) = view.src_mac {
        walk_mac(mac);
    }
    if let Some(mac) = view.dst_mac {
        walk_mac(mac);
    }
    black_box(view.vlans.is_empty());
    for id in view.vlans.ids() {
        black_box(id);
    }
    black_box(view.tunnel);
    match &view.network {
        Network::Ip(ip) => {
            black_box((ip.src, ip.dst, ip.protocol, ip.ttl, ip.fragment));
            black_box(ip.payload.len());
            let (src_port, dst_port) = ip.ports();
            black_box(sensor::decode::may_carry_tunnel(ip.protocol, dst_port));
            black_box(src_port);
            match &ip.transport {
                Some(TransportSlice::Tcp(tcp)) => {
                    black_box((tcp.source_port(), tcp.destination_port()));
                    black_box((tcp.sequence_number(), tcp.acknowledgment_number()));
                    black_box((tcp.data_offset(), tcp.fin(), tcp.syn(), tcp.rst()));
                    black_box((tcp.psh(), tcp.ack(), tcp.urg(), tcp.ece(), tcp.cwr()));
                    black_box((tcp.ns(), tcp.window_size(), tcp.checksum()));
                    black_box(tcp.urgent_pointer());
                    for option in tcp.options_iterator() {
                        black_box(option.ok());
                    }
                    black_box((tcp.header_slice().len(), tcp.payload().len()));
                }
                Some(TransportSlice::Udp(udp)) => {
                    black_box((udp.source_port(), udp.destination_port()));
                    black_box((udp.length(), udp.checksum(), udp.payload_len_source()));
                    black_box((udp.header_slice().len(), udp.payload().len()));
                    if udp.source_port() == dhcp::SERVER_PORT
                        || udp.destination_port() == dhcp::SERVER_PORT
                        || udp.source_port() == dhcp::CLIENT_PORT
                        || udp.destination_port() == dhcp::CLIENT_PORT
                    {
                        if let Ok(msg) = DhcpMessage::parse(udp.payload()) {
                            walk_dhcp(&msg, None);
                        }
                    }
                }
                Some(TransportSlice::Icmpv4(icmp)) => {
                    black_box((icmp.icmp_type(), icmp.type_u8(), icmp.code_u8()));
                    black_box((icmp.checksum(), icmp.bytes5to8(), icmp.header_len()));
                    black_box((icmp.header(), icmp.payload().len()));
                }
                Some(TransportSlice::Icmpv6(icmp)) => {
                    black_box((icmp.icmp_type(), icmp.type_u8(), icmp.code_u8()));
                    black_box((icmp.checksum(), icmp.bytes5to8(), icmp.header_len()));
                    black_box((icmp.header(), icmp.payload().len()));
                    black_box(icmp.payload_slice().ok());
                    if let Ok(msg) = NdpMessage::parse(icmp.slice()) {
                        walk_ndp(&msg);
                    }
                }
                Some(other) => {
                    black_box(other);
                }
                None => {}
            }
        }
        Network::Arp(arp) => {
            black_box((arp.hw_addr_type(), arp.proto_addr_type()));
            black_box((arp.hw_addr_size(), arp.proto_addr_size(), arp.operation()));
            black_box((arp.sender_hw_addr(), arp.sender_protocol_addr()));
            black_box((arp.target_hw_addr(), arp.target_protocol_addr()));
            black_box(arp.to_packet());
        }
        Network::Other {
            ether_type,
            payload,
        } => {
            black_box((ether_type, payload.len()));
        }
    }
    // Debug formatting reads every field of the view and of etherparse's
    // slices; the EVE writer formats some of them too.
    black_box(format!("{view:?}"));
}

/// Reads every accessor of a MAC address.
pub fn walk_mac(mac: fingerprints::MacAddr) {
    black_box((
        mac.is_group(),
        mac.is_unicast(),
        mac.is_locally_administered(),
    ));
    black_box(mac.as_u64());
    black_box(mac.to_string());
}

/// Reads every accessor of a DHCP message and iterates all its options.
/// `extra_code` is one more option code to look up (taken from the input).
pub fn walk_dhcp(msg: &DhcpMessage<'_>, extra_code: Option<u8>) {
    black_box((msg.op(), msg.xid()));
    black_box((msg.client_ip(), msg.your_ip(), msg.relay_ip()));
    if let Some(mac) = msg.client_mac() {
        walk_mac(mac);
    }
    let mut errors = 0usize;
    for option in msg.options() {
        match option {
            Ok(o) => {
                black_box((o.code, o.data));
            }
            Err(e) => {
                errors += 1;
                black_box(e.to_string());
            }
        }
    }
    // The iterator ends after a malformed option: one error at most.
    assert!(errors <= 1, "DhcpOptions yielded {errors} errors");
    black_box(msg.message_type());
    for code in [
        dhcp::option::PAD,
        dhcp::option::SUBNET_MASK,
        dhcp::option::ROUTER,
        dhcp::option::REQUESTED_IP,
        dhcp::option::MESSAGE_TYPE,
        dhcp::option::SERVER_ID,
        dhcp::option::END,
    ]
    .into_iter()
    .chain(extra_code)
    {
        black_box(msg.option(code));
        black_box(msg.option_ipv4(code));
    }
}

/// Reads every accessor of a Neighbor Discovery message.
pub fn walk_ndp(msg: &NdpMessage<'_>) {
    black_box(msg.kind);
    black_box(msg.target());
    black_box(msg.router_flag());
    if let Some(mac) = msg.source_link_addr() {
        walk_mac(mac);
    }
    if let Some(mac) = msg.target_link_addr() {
        walk_mac(mac);
    }
}
