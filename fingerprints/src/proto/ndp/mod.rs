//! IPv6 Neighbor Discovery (RFC 4861): which MAC answers for which IPv6
//! address, and which MACs are routers.

use std::net::Ipv6Addr;

use crate::mac::MacAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NdpError {
    #[error("ICMPv6 type {0} is not a Neighbor Discovery message")]
    NotNdp(u8),
    #[error("{kind:?} message of {len} bytes is shorter than its fixed part")]
    Truncated { kind: NdpKind, len: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdpKind {
    RouterSolicitation,
    RouterAdvertisement,
    NeighborSolicitation,
    NeighborAdvertisement,
    Redirect,
}

impl NdpKind {
    /// ICMPv6 type -> kind, and the length of the fixed part before options
    /// (counted from the ICMPv6 type byte).
    fn from_icmp_type(icmp_type: u8) -> Option<(NdpKind, usize)> {
        Some(match icmp_type {
            133 => (NdpKind::RouterSolicitation, 8),
            134 => (NdpKind::RouterAdvertisement, 16),
            135 => (NdpKind::NeighborSolicitation, 24),
            136 => (NdpKind::NeighborAdvertisement, 24),
            137 => (NdpKind::Redirect, 40),
            _ => return None,
        })
    }
}

const OPT_SOURCE_LINK_ADDR: u8 = 1;
const OPT_TARGET_LINK_ADDR: u8 = 2;

/// A Neighbor Discovery message borrowed from the ICMPv6 bytes (starting at
/// the type byte).
#[derive(Debug, Clone, Copy)]
pub struct NdpMessage<'a> {
    pub kind: NdpKind,
    bytes: &'a [u8],
    options_at: usize,
}

impl<'a> NdpMessage<'a> {
    pub fn parse(icmpv6: &'a [u8]) -> Result<NdpMessage<'a>, NdpError> {
        let icmp_type = *icmpv6.first().ok_or(NdpError::NotNdp(0))?;
        let (kind, fixed) =
            NdpKind::from_icmp_type(icmp_type).ok_or(NdpError::NotNdp(icmp_type))?;
        if icmpv6.len() < fixed {
            return Err(NdpError::Truncated {
                kind,
                len: icmpv6.len(),
            });
        }
        Ok(NdpMessage {
            kind,
            bytes: icmpv6,
            options_at: fixed,
        })
    }

    /// The address asked about (NS), answered for (NA) or redirected to.
    pub fn target(&self) -> Option<Ipv6Addr> {
        match self.kind {
            NdpKind::NeighborSolicitation | NdpKind::NeighborAdvertisement | NdpKind::Redirect => {
                let octets: [u8; 16] = self.bytes.get(8..24)?.try_into().ok()?;
                Some(Ipv6Addr::from(octets))
            }
            _ => None,
        }
    }

    /// The R flag of a Neighbor Advertisement: the sender is a router.
    pub fn router_flag(&self) -> bool {
        self.kind == NdpKind::NeighborAdvertisement && self.bytes[4] & 0x80 != 0
    }

    /// The sender's link-layer address (option 1).
    pub fn source_link_addr(&self) -> Option<MacAddr> {
        self.link_addr_option(OPT_SOURCE_LINK_ADDR)
    }

    /// The target's link-layer address (option 2).
    pub fn target_link_addr(&self) -> Option<MacAddr> {
        self.link_addr_option(OPT_TARGET_LINK_ADDR)
    }

    fn link_addr_option(&self, wanted: u8) -> Option<MacAddr> {
        let mut at = self.options_at;
        // Each option is (type, length in units of 8 octets, data); a zero
        // length is invalid and would loop forever, so it ends the walk.
        while let [kind, units, ..] = *self.bytes.get(at..)? {
            let len = usize::from(units) * 8;
            if len == 0 {
                return None;
            }
            let option = self.bytes.get(at..at + len)?;
            if kind == wanted {
                return MacAddr::from_slice(&option[2..]);
            }
            at += len;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbor_advertisement_binds_target_to_mac() {
        let mut na = vec![136, 0, 0, 0, 0xe0, 0, 0, 0];
        na.extend_from_slice(
            &"fe80::217:88ff:fe24:76ff"
                .parse::<Ipv6Addr>()
                .map(|a| a.octets())
                .unwrap_or_default(),
        );
        na.extend_from_slice(&[2, 1, 0x00, 0x17, 0x88, 0x24, 0x76, 0xff]);
        let m = NdpMessage::parse(&na).expect("valid NA");
        assert_eq!(m.kind, NdpKind::NeighborAdvertisement);
        assert!(m.router_flag());
        assert_eq!(
            m.target().map(|t| t.to_string()).as_deref(),
            Some("fe80::217:88ff:fe24:76ff")
        );
        assert_eq!(
            m.target_link_addr().map(|m| m.to_string()).as_deref(),
            Some("00:17:88:24:76:ff")
        );
        assert_eq!(m.source_link_addr(), None);
    }

    #[test]
    fn hostile_options_end_the_walk() {
        // Router solicitation with a zero-length option, then a truncated one.
        assert_eq!(
            NdpMessage::parse(&[133, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 2])
                .ok()
                .and_then(|m| m.source_link_addr()),
            None
        );
        assert_eq!(
            NdpMessage::parse(&[133, 0, 0, 0, 0, 0, 0, 0, 1, 2, 1, 2])
                .ok()
                .and_then(|m| m.source_link_addr()),
            None
        );
        assert!(matches!(
            NdpMessage::parse(&[135, 0, 0, 0]),
            Err(NdpError::Truncated { .. })
        ));
        assert_eq!(
            NdpMessage::parse(&[128, 0]).err(),
            Some(NdpError::NotNdp(128))
        );
        assert_eq!(NdpMessage::parse(&[]).err(), Some(NdpError::NotNdp(0)));
    }
}
