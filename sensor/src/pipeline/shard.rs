//! Which worker owns a packet: the one its flow's symmetric hash names, so
//! both directions of a flow meet in one worker and no lock is needed.
//! Packets outside flows go by their source MAC.

use std::net::IpAddr;

use etherparse::{EtherType, IpNumber, Ipv4HeaderSlice, Ipv6HeaderSlice};

use crate::capture::{LinkType, Packet};
use crate::decode;
use crate::flow::{Endpoint, FlowKey, FlowPacket, Shares};

/// The owner of a packet, decoding it only if its headers alone do not say.
pub fn of_packet(p: &Packet<'_>, shares: &Shares) -> usize {
    if let Some(key) = plain_flow_key(p) {
        return shares.owner(key.spread());
    }
    let Ok(view) = decode::decode(p) else {
        return 0;
    };
    match FlowPacket::new(p.ts, 0, &view) {
        Some(fp) => shares.owner(fp.key.spread()),
        None => view.src_mac.map_or(0, |m| {
            shares.owner(m.as_u64().wrapping_mul(0x9e37_79b9_7f4a_7c15))
        }),
    }
}

/// The flow key of the common packet, read from its headers alone:
/// Ethernet (VLAN tags allowed), IPv4 or IPv6 without extension headers or
/// fragmentation, TCP or UDP not bound for a tunnel port. The reading
/// thread runs this for every packet, so it skips the full decode; any other
/// packet returns `None` and takes the full decode, which gives the same key.
pub fn plain_flow_key(p: &Packet<'_>) -> Option<FlowKey> {
    if p.link_type != LinkType::ETHERNET {
        return None;
    }
    let decode::EthernetFrame {
        vlans,
        ether_type,
        payload,
        ..
    } = decode::ethernet(p.data).ok()?;
    let (src, dst, protocol, transport) = match EtherType(ether_type) {
        EtherType::IPV4 => {
            let ip = Ipv4HeaderSlice::from_slice(payload).ok()?;
            if ip.is_fragmenting_payload() {
                return None;
            }
            let header_len = ip.slice().len();
            (
                IpAddr::V4(ip.source_addr()),
                IpAddr::V4(ip.destination_addr()),
                ip.protocol(),
                payload.get(header_len..)?,
            )
        }
        EtherType::IPV6 => {
            let ip = Ipv6HeaderSlice::from_slice(payload).ok()?;
            (
                IpAddr::V6(ip.source_addr()),
                IpAddr::V6(ip.destination_addr()),
                ip.next_header(),
                payload.get(40..)?,
            )
        }
        _ => return None,
    };
    if protocol != IpNumber::TCP && protocol != IpNumber::UDP {
        return None;
    }
    let ports = transport.get(..4)?;
    let src_port = u16::from_be_bytes([ports[0], ports[1]]);
    let dst_port = u16::from_be_bytes([ports[2], ports[3]]);
    if decode::may_carry_tunnel(protocol.0, dst_port) {
        return None;
    }
    let src = Endpoint {
        ip: src,
        port: src_port,
    };
    let dst = Endpoint {
        ip: dst,
        port: dst_port,
    };
    Some(FlowKey::new(src, dst, protocol.0, vlans).0)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::capture::CaptureFile;
    use crate::decode;

    /// The header-only shortcut must put every packet in the worker the
    /// full decode would: checked on every packet of every fixture.
    #[test]
    fn plain_flow_keys_agree_with_full_decode() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pcaps");
        let files = crate::capture::merge::expand_inputs(&[fixtures]).files;
        let (mut shortcut, mut packets) = (0, 0);
        for path in files {
            let Ok(mut file) = CaptureFile::open(&path) else {
                continue;
            };
            while let Ok(true) = file.advance() {
                let Some(p) = file.current() else { break };
                packets += 1;
                if let Some(key) = plain_flow_key(&p) {
                    shortcut += 1;
                    // A packet the full decode rejects (a TCP header shorter
                    // than it says, in the fuzzing captures) is counted as a
                    // decode error by whichever worker gets it.
                    let Ok(view) = decode::decode(&p) else {
                        continue;
                    };
                    let full = FlowPacket::new(p.ts, 0, &view).map(|f| f.key);
                    assert_eq!(Some(key), full, "{}: packet {packets}", path.display());
                }
            }
        }
        assert!(
            packets > 2000 && shortcut * 2 > packets,
            "{shortcut} of {packets}"
        );
    }
}
