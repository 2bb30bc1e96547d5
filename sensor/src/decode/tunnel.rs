//! Tunnels whose inner packets are the traffic worth watching: IP-in-IP
//! (4in4, 6in4, 4in6, 6in6), GRE (RFC 2784/2890, with ERSPAN types II and
//! III, transparent Ethernet bridging, and PPTP's enhanced GRE), VXLAN
//! (RFC 7348), GTP-U (3GPP TS 29.281) and TZSP. Mirror feeds often arrive
//! as ERSPAN or VXLAN, so without this a sensor would see only the tunnel.

use serde::Serialize;

use super::link::{Inner, ppp};

/// The kind of tunnel a packet was carried in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TunnelKind {
    IpInIp,
    Gre,
    Erspan,
    Vxlan,
    Gtp,
    Tzsp,
}

const IPPROTO_IPIP: u8 = 4;
const IPPROTO_IPV6: u8 = 41;
const IPPROTO_GRE: u8 = 47;
const IPPROTO_UDP: u8 = 17;
const UDP_VXLAN: u16 = 4789;
const UDP_GTP_U: u16 = 2152;
const UDP_TZSP: u16 = 37008;

/// Whether an IP packet of this protocol (and UDP destination port) may
/// carry a tunnel mirador opens: such packets need a full decode to find
/// the flow they belong to.
pub fn may_carry(protocol: u8, udp_dst_port: u16) -> bool {
    matches!(protocol, IPPROTO_IPIP | IPPROTO_IPV6 | IPPROTO_GRE)
        || (protocol == IPPROTO_UDP && matches!(udp_dst_port, UDP_VXLAN | UDP_GTP_U | UDP_TZSP))
}

/// The packet inside an IP packet's payload, if the payload is a tunnel
/// mirador opens. `udp_dst_port` is set for UDP payloads (the UDP payload
/// is given then, not the UDP header).
pub(super) fn open(
    protocol: u8,
    payload: &[u8],
    udp_dst_port: Option<u16>,
) -> Option<(TunnelKind, Inner<'_>)> {
    match (protocol, udp_dst_port) {
        (IPPROTO_IPIP | IPPROTO_IPV6, _) => Some((TunnelKind::IpInIp, Inner::Ip(payload))),
        (IPPROTO_GRE, _) => gre(payload),
        (IPPROTO_UDP, Some(UDP_VXLAN)) => vxlan(payload),
        (IPPROTO_UDP, Some(UDP_GTP_U)) => gtp_u(payload),
        (IPPROTO_UDP, Some(UDP_TZSP)) => tzsp(payload),
        _ => None,
    }
}

fn gre(b: &[u8]) -> Option<(TunnelKind, Inner<'_>)> {
    let flags = *b.first()?;
    let version = b.get(1)? & 0x07;
    let protocol = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]);
    // Optional fields after the 4-byte base header: checksum+reserved (C),
    // key (K), sequence number (S); version 1 always has a key and may
    // carry an acknowledgment number (A, in the second byte).
    let mut len = 4;
    if flags & 0x80 != 0 {
        len += 4;
    }
    if flags & 0x20 != 0 {
        len += 4;
    }
    if flags & 0x10 != 0 {
        len += 4;
    }
    match version {
        0 => {}
        1 if protocol == 0x880b => {
            if b.get(1)? & 0x80 != 0 {
                len += 4;
            }
            return Some((TunnelKind::Gre, ppp(b.get(len..)?)?));
        }
        _ => return None,
    }
    let body = b.get(len..)?;
    Some(match protocol {
        0x0800 | 0x86dd => (TunnelKind::Gre, Inner::Ip(body)),
        // Transparent Ethernet bridging (NVGRE and friends).
        0x6558 => (TunnelKind::Gre, Inner::Ethernet(body)),
        // ERSPAN type II: an 8-byte header, then the mirrored frame. A
        // GRE header without a sequence number is ERSPAN type I: no header.
        0x88be if flags & 0x10 == 0 => (TunnelKind::Erspan, Inner::Ethernet(body)),
        0x88be => (TunnelKind::Erspan, Inner::Ethernet(body.get(8..)?)),
        // ERSPAN type III: a 12-byte header, plus 8 bytes when O is set.
        0x22eb => {
            let optional = if body.get(11)? & 0x01 != 0 { 8 } else { 0 };
            (
                TunnelKind::Erspan,
                Inner::Ethernet(body.get(12 + optional..)?),
            )
        }
        _ => return None,
    })
}

fn vxlan(b: &[u8]) -> Option<(TunnelKind, Inner<'_>)> {
    // Flags byte with the I bit (valid VNI) set; 8-byte header.
    (b.len() > 8 && b[0] & 0x08 != 0).then(|| (TunnelKind::Vxlan, Inner::Ethernet(&b[8..])))
}

fn gtp_u(b: &[u8]) -> Option<(TunnelKind, Inner<'_>)> {
    let flags = *b.first()?;
    // Version 1, protocol type GTP, message type T-PDU (user data).
    if flags >> 5 != 1 || flags & 0x10 == 0 || *b.get(1)? != 0xff {
        return None;
    }
    let mut at = 8;
    if flags & 0x07 != 0 {
        // Sequence number, N-PDU number, next extension header type.
        at += 4;
        let mut next = *b.get(at - 1)?;
        while next != 0 {
            // Extension headers: length in 4-byte units, next type last.
            let units = usize::from(*b.get(at)?);
            if units == 0 {
                return None;
            }
            at += units * 4;
            next = *b.get(at - 1)?;
        }
    }
    Some((TunnelKind::Gtp, Inner::Ip(b.get(at..)?)))
}

fn tzsp(b: &[u8]) -> Option<(TunnelKind, Inner<'_>)> {
    // Version 1, type 0 (received tag list) or 1 (packet for transmit),
    // encapsulated protocol 1 (Ethernet); then tagged fields up to END.
    if *b.first()? != 1 || *b.get(1)? > 1 || u16::from_be_bytes([*b.get(2)?, *b.get(3)?]) != 1 {
        return None;
    }
    let mut at = 4;
    loop {
        match *b.get(at)? {
            0 => at += 1,
            1 => return Some((TunnelKind::Tzsp, Inner::Ethernet(b.get(at + 1..)?))),
            _ => at += 2 + usize::from(*b.get(at + 1)?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_gre_erspan_and_vxlan() {
        let gre_ip = [0x00, 0x00, 0x08, 0x00, 0x45];
        assert!(matches!(
            open(47, &gre_ip, None),
            Some((TunnelKind::Gre, Inner::Ip([0x45])))
        ));
        let keyed = [0x20, 0x00, 0x86, 0xdd, 0, 0, 0, 1, 0x60];
        assert!(matches!(
            open(47, &keyed, None),
            Some((TunnelKind::Gre, Inner::Ip([0x60])))
        ));
        let erspan2 = [
            0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 0xaa,
        ];
        assert!(matches!(
            open(47, &erspan2, None),
            Some((TunnelKind::Erspan, Inner::Ethernet([0xaa])))
        ));
        let vx = [0x08, 0, 0, 0, 0, 0, 1, 0, 0xbb];
        assert!(matches!(
            open(17, &vx, Some(4789)),
            Some((TunnelKind::Vxlan, Inner::Ethernet([0xbb])))
        ));
        assert!(open(17, &vx[..8], Some(4789)).is_none());
        assert!(open(17, &vx, Some(53)).is_none());
    }

    #[test]
    fn gtp_extension_loops_end() {
        // Extension header with zero length must not loop forever.
        let bad = [0x34, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x85, 0, 0, 0, 0];
        assert!(open(17, &bad, Some(2152)).is_none());
        let plain = [0x30, 0xff, 0, 4, 0, 0, 0, 1, 0x45, 0, 0, 0];
        assert!(matches!(
            open(17, &plain, Some(2152)),
            Some((TunnelKind::Gtp, Inner::Ip([0x45, ..])))
        ));
        // TZSP tag loops end at the end of the buffer.
        assert!(open(17, &[1, 0, 0, 1, 0, 0, 5, 200], Some(37008)).is_none());
    }
}
