//! Link-layer headers etherparse does not read: BSD loopback, Linux cooked
//! v2, PPP, Cisco HDLC and PPI framing, and the MPLS and PPPoE shims between
//! Ethernet and IP.

use fingerprints::MacAddr;

use super::DecodeError;
use crate::capture::LinkType;

/// What follows the link header.
pub(super) enum Inner<'a> {
    /// A whole Ethernet II frame, for etherparse to slice (VLAN tags included).
    Ethernet(&'a [u8]),
    /// A payload announced by an EtherType.
    EtherType(u16, &'a [u8]),
    /// An IP packet (version from its first nibble).
    Ip(&'a [u8]),
}

/// A frame with its link header read.
pub(super) struct LinkFrame<'a> {
    pub src_mac: Option<MacAddr>,
    pub dst_mac: Option<MacAddr>,
    pub inner: Inner<'a>,
}

const ETHERTYPE_MPLS: u16 = 0x8847;
const ETHERTYPE_MPLS_MULTICAST: u16 = 0x8848;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;
/// Linux ARPHRD_ETHER: the SLL address field is a MAC.
const ARPHRD_ETHER: u16 = 1;

fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

fn frame(inner: Inner<'_>) -> LinkFrame<'_> {
    LinkFrame {
        src_mac: None,
        dst_mac: None,
        inner,
    }
}

pub(super) fn strip(link_type: LinkType, data: &[u8]) -> Result<LinkFrame<'_>, DecodeError> {
    let short = DecodeError::Link;
    Ok(match link_type {
        LinkType::ETHERNET => {
            if data.len() < 14 {
                return Err(short);
            }
            LinkFrame {
                dst_mac: MacAddr::from_slice(data),
                src_mac: MacAddr::from_slice(&data[6..]),
                inner: Inner::Ethernet(data),
            }
        }
        LinkType::RAW
        | LinkType::RAW_DLT12
        | LinkType::RAW_DLT14
        | LinkType::IPV4
        | LinkType::IPV6 => frame(Inner::Ip(data)),
        // A 4-byte address family (host or network order); the IP version
        // nibble tells IPv4 from IPv6 whatever the family's numbering.
        LinkType::NULL | LinkType::LOOP => frame(Inner::Ip(data.get(4..).ok_or(short)?)),
        LinkType::LINUX_SLL => {
            let protocol = be16(data, 14).ok_or(short)?;
            let hatype = be16(data, 2).ok_or(short)?;
            let addr_len = be16(data, 4).ok_or(short)?;
            LinkFrame {
                src_mac: (hatype == ARPHRD_ETHER && addr_len == 6)
                    .then(|| MacAddr::from_slice(&data[6..]))
                    .flatten(),
                dst_mac: None,
                inner: Inner::EtherType(protocol, &data[16..]),
            }
        }
        LinkType::LINUX_SLL2 => {
            let protocol = be16(data, 0).ok_or(short)?;
            let hatype = be16(data, 8).ok_or(short)?;
            let addr_len = *data.get(11).ok_or(short)?;
            let payload = data.get(20..).ok_or(short)?;
            LinkFrame {
                src_mac: (hatype == ARPHRD_ETHER && addr_len == 6)
                    .then(|| MacAddr::from_slice(&data[12..]))
                    .flatten(),
                dst_mac: None,
                inner: Inner::EtherType(protocol, payload),
            }
        }
        // Cisco HDLC frames (address 0x0f unicast, 0x8f broadcast) are also
        // written under the PPP link types by some capture tools.
        LinkType::PPP | LinkType::PPP_HDLC if !matches!(data.first(), Some(0x0f | 0x8f)) => {
            frame(ppp(data).ok_or(short)?)
        }
        LinkType::PPP | LinkType::PPP_HDLC | LinkType::C_HDLC => {
            let protocol = be16(data, 2).ok_or(short)?;
            frame(Inner::EtherType(protocol, &data[4..]))
        }
        LinkType::PPI => {
            let header_len =
                u16::from_le_bytes(data.get(2..4).ok_or(short)?.try_into().map_err(|_| short)?);
            let dlt =
                u32::from_le_bytes(data.get(4..8).ok_or(short)?.try_into().map_err(|_| short)?);
            let inner = data.get(usize::from(header_len)..).ok_or(short)?;
            if dlt == LinkType::PPI.0 {
                return Err(short);
            }
            strip(LinkType(dlt), inner)?
        }
        _ => return Err(DecodeError::UnsupportedLinkType),
    })
}

/// A PPP frame: optional address/control bytes (0xff 0x03), the protocol
/// field (one byte when compressed, which makes it odd), the payload.
pub(super) fn ppp(frame: &[u8]) -> Option<Inner<'_>> {
    let body = frame.strip_prefix(&[0xff, 0x03]).unwrap_or(frame);
    let (protocol, payload) = match body.first()? {
        b if b & 1 == 1 => (u16::from(*b), &body[1..]),
        _ => (be16(body, 0)?, &body[2..]),
    };
    Some(match protocol {
        PPP_IPV4 | PPP_IPV6 => Inner::Ip(payload),
        // Link control and other non-IP PPP traffic: nothing to decode.
        _ => Inner::EtherType(0, payload),
    })
}

/// MPLS label stacks and PPPoE sessions between the link layer and IP:
/// `Some(Ok(ip))` for the IP packet inside, `Some(Err)` when the shim is cut
/// short, `None` when the EtherType is not one of them or carries no IP.
pub(super) fn unwrap_tunnel_shim(
    (ether_type, payload): (u16, &[u8]),
) -> Option<Result<&[u8], DecodeError>> {
    let short = Some(Err(DecodeError::LinkExtension));
    match ether_type {
        ETHERTYPE_MPLS | ETHERTYPE_MPLS_MULTICAST => {
            let mut at = 0;
            loop {
                let Some(label) = payload.get(at..at + 4) else {
                    return short;
                };
                at += 4;
                if label[2] & 0x01 != 0 {
                    break;
                }
            }
            let inner = &payload[at..];
            match inner.first().map(|b| b >> 4) {
                Some(4) | Some(6) => Some(Ok(inner)),
                _ => None,
            }
        }
        ETHERTYPE_PPPOE_SESSION => match ppp(payload.get(6..)?)? {
            Inner::Ip(ip) => Some(Ok(ip)),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooked_headers_give_source_mac_and_protocol() {
        let mut sll = vec![
            0, 0, 0, 1, 0, 6, 0x00, 0x17, 0x88, 0x24, 0x76, 0xff, 0, 0, 0x08, 0x00,
        ];
        sll.extend_from_slice(&[0x45]);
        let f = strip(LinkType::LINUX_SLL, &sll).ok();
        assert_eq!(
            f.as_ref()
                .and_then(|f| f.src_mac)
                .map(|m| m.to_string())
                .as_deref(),
            Some("00:17:88:24:76:ff")
        );
        assert!(matches!(
            f.map(|f| f.inner),
            Some(Inner::EtherType(0x0800, [0x45]))
        ));
        let mut sll2 = vec![
            0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 0x00, 0x17, 0x88, 0x24, 0x76, 0xff, 0, 0,
        ];
        sll2.push(0x60);
        let f = strip(LinkType::LINUX_SLL2, &sll2).ok();
        assert!(matches!(
            f.map(|f| f.inner),
            Some(Inner::EtherType(0x86dd, [0x60]))
        ));
        assert!(strip(LinkType::LINUX_SLL2, &sll2[..10]).is_err());
    }

    #[test]
    fn decodes_every_supported_link_type() {
        for link_type in LinkType::SUPPORTED {
            let r = strip(link_type, &[0u8; 64]);
            assert!(
                !matches!(r, Err(DecodeError::UnsupportedLinkType)),
                "{link_type}"
            );
        }
    }

    #[test]
    fn shims_unwrap_to_ip() {
        let mpls = [0, 0, 0x10, 64, 0, 0, 0x21, 64, 0x45, 0];
        assert_eq!(
            unwrap_tunnel_shim((ETHERTYPE_MPLS, &mpls)),
            Some(Ok(&mpls[8..]))
        );
        assert_eq!(
            unwrap_tunnel_shim((ETHERTYPE_MPLS, &mpls[..6])),
            Some(Err(DecodeError::LinkExtension))
        );
        let pppoe = [0x11, 0, 0, 1, 0, 4, 0, 0x21, 0x45, 0];
        assert_eq!(
            unwrap_tunnel_shim((ETHERTYPE_PPPOE_SESSION, &pppoe)),
            Some(Ok(&pppoe[8..]))
        );
        assert_eq!(unwrap_tunnel_shim((0x88cc, &pppoe)), None);
        assert!(matches!(
            strip(LinkType(127), &pppoe),
            Err(DecodeError::UnsupportedLinkType)
        ));
    }
}
