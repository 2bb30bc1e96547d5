//! CDP (Cisco Discovery Protocol): Cisco switches, routers, phones and APs
//! announce their name, model, IOS version and addresses every 60 s.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::cursor::{be16, be32, line_text};
use super::{About, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError};

pub const DISSECTORS: &[Dissector] = &[Dissector {
    name: "cdp",
    probe,
    parse: Parse::Message(parse),
}];

/// LLC SNAP header: DSAP/SSAP 0xaa, UI, Cisco OUI, PID 0x2000.
const SNAP: [u8; 8] = [0xaa, 0xaa, 0x03, 0x00, 0x00, 0x0c, 0x20, 0x00];
/// Most addresses kept per list.
const MAX_LIST: usize = 8;
const MAX_TEXT: usize = 1024;

fn probe(context: &Context, bytes: &[u8]) -> bool {
    matches!(context.carrier, Carrier::Ethernet { ether_type } if ether_type < 0x0600)
        && bytes.starts_with(&SNAP)
}

/// Capability bits, named as tcpdump names them.
const CAPABILITIES: [&str; 11] = [
    "Router",
    "Transparent Bridge",
    "Source Route Bridge",
    "L2 Switch",
    "L3 capable",
    "IGMP snooping",
    "L1 capable",
    "VoIP Phone",
    "Remotely Managed Device",
    "CVTA",
    "Two Port MAC Relay",
];

fn text(bytes: &[u8]) -> String {
    line_text(bytes, MAX_TEXT)
}

/// An address list (TLVs 0x0002 and 0x0016): a count, then per address the
/// protocol type, protocol, and address (NLPID 0xcc = IPv4; 802.2 SNAP
/// with EtherType 0x86dd = IPv6).
fn addresses(value: &[u8]) -> Result<Vec<serde_json::Value>, ParseError> {
    let count = be32(value, 0).ok_or(ParseError::Malformed("cdp address count"))?;
    let mut rest = value.get(4..).unwrap_or_default();
    let mut out: Vec<serde_json::Value> = Vec::new();
    // Each address takes at least 4 bytes: bounded by the value's length.
    for _ in 0..count {
        let (Some(&ptype), Some(&plen)) = (rest.first(), rest.get(1)) else {
            return Err(ParseError::Truncated("cdp address"));
        };
        let plen = usize::from(plen);
        let proto = rest
            .get(2..2 + plen)
            .ok_or(ParseError::Truncated("cdp address protocol"))?;
        let alen = usize::from(be16(rest, 2 + plen).ok_or(ParseError::Truncated("cdp address"))?);
        let start = 4 + plen;
        let addr = rest
            .get(start..start + alen)
            .ok_or(ParseError::Truncated("cdp address value"))?;
        rest = rest.get(start + alen..).unwrap_or_default();
        let ip = match (ptype, proto, addr.len()) {
            (1, [0xcc], 4) => <[u8; 4]>::try_from(addr)
                .ok()
                .map(|a| Ipv4Addr::from(a).to_string()),
            (2, [.., 0x86, 0xdd], 16) => <[u8; 16]>::try_from(addr)
                .ok()
                .map(|a| Ipv6Addr::from(a).to_string()),
            _ => None,
        };
        if let Some(ip) = ip {
            if out.len() < MAX_LIST && !out.iter().any(|v| v == &ip) {
                out.push(ip.into());
            }
        }
    }
    Ok(out)
}

fn parse(
    _knowledge: &Knowledge,
    _context: &Context,
    bytes: &[u8],
    out: &mut Vec<Finding>,
) -> Result<(), ParseError> {
    let cdp = bytes
        .strip_prefix(&SNAP)
        .ok_or(ParseError::Malformed("cdp snap header"))?;
    let (Some(&version), Some(&ttl)) = (cdp.first(), cdp.get(1)) else {
        return Err(ParseError::Truncated("cdp header"));
    };
    if !(1..=2).contains(&version) {
        return Err(ParseError::Malformed("cdp version"));
    }
    let mut rest = cdp.get(4..).ok_or(ParseError::Truncated("cdp header"))?;
    let mut f = Finding::new("cdp", About::Sender);
    f.set("version", version);
    f.set("ttl", ttl);
    let mut tlvs = 0;
    // Each TLV is at least its 4 header bytes: bounded by the input.
    while !rest.is_empty() {
        let (Some(kind), Some(len)) = (be16(rest, 0), be16(rest, 2)) else {
            return Err(ParseError::Truncated("cdp tlv header"));
        };
        let len = usize::from(len);
        if len < 4 {
            return Err(ParseError::Malformed("cdp tlv length"));
        }
        let value = rest.get(4..len).ok_or(ParseError::Truncated("cdp tlv"))?;
        rest = rest.get(len..).unwrap_or_default();
        tlvs += 1;
        match kind {
            0x0001 => {
                f.set("device_id", text(value));
            }
            0x0002 => {
                let a = addresses(value)?;
                if !a.is_empty() {
                    f.set("addresses", a);
                }
            }
            0x0003 => {
                f.set("port_id", text(value));
            }
            0x0004 => {
                let bits = be32(value, 0).ok_or(ParseError::Malformed("cdp capabilities"))?;
                let names: Vec<serde_json::Value> = CAPABILITIES
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| bits & (1 << i) != 0)
                    .map(|(_, n)| serde_json::Value::from(*n))
                    .collect();
                f.set("capabilities", names);
            }
            0x0005 => {
                f.set("software_version", text(value));
            }
            0x0006 => {
                f.set("platform", text(value));
            }
            0x0009 => {
                let domain = text(value);
                if !domain.is_empty() {
                    f.set("vtp_domain", domain);
                }
            }
            0x000a => {
                let vlan = be16(value, 0).ok_or(ParseError::Malformed("cdp native vlan"))?;
                f.set("native_vlan", vlan);
            }
            0x000b => {
                let duplex = match value.first() {
                    Some(0) => "half",
                    Some(1) => "full",
                    _ => return Err(ParseError::Malformed("cdp duplex")),
                };
                f.set("duplex", duplex);
            }
            0x000e => {
                // Appliance VLAN-ID: the voice VLAN offered to phones.
                if let Some(vlan) = be16(value, 1) {
                    f.set("voice_vlan", vlan);
                }
            }
            0x0014 => {
                f.set("system_name", text(value));
            }
            0x0016 => {
                let a = addresses(value)?;
                if !a.is_empty() {
                    f.set("management_addresses", a);
                }
            }
            _ => {}
        }
    }
    if tlvs == 0 {
        return Err(ParseError::Truncated("cdp without tlvs"));
    }
    out.push(f);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
