//! LLDP (IEEE 802.1AB) and LLDP-MED inventory: switches, phones, APs and
//! many embedded devices announce their name, model, firmware and serial
//! number to the link once every 30 s, the richest identity on a LAN.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::cursor::{be16, line_text};
use super::{About, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError};
use crate::MacAddr;

pub const DISSECTORS: &[Dissector] = &[Dissector {
    name: "lldp",
    probe,
    parse: Parse::Message(parse),
}];

const ETHER_TYPE: u16 = 0x88cc;
/// Most values a list field keeps (management addresses).
const MAX_LIST: usize = 8;
/// Longest text kept from one TLV, in bytes.
const MAX_TEXT: usize = 512;

fn probe(context: &Context, _bytes: &[u8]) -> bool {
    context.carrier
        == (Carrier::Ethernet {
            ether_type: ETHER_TYPE,
        })
}

/// The capability bits of IEEE 802.1AB 8.5.8, named as tcpdump names them.
const CAPABILITIES: [&str; 11] = [
    "Other",
    "Repeater",
    "Bridge",
    "WLAN AP",
    "Router",
    "Telephone",
    "Docsis",
    "Station Only",
    "C-VLAN",
    "S-VLAN",
    "TPMR",
];

/// A TLV's text.
fn text(bytes: &[u8]) -> String {
    line_text(bytes, MAX_TEXT)
}

fn mac(bytes: &[u8]) -> Option<String> {
    if bytes.len() != 6 {
        return None;
    }
    MacAddr::from_slice(bytes).map(|m| m.to_string())
}

/// An IANA address-family-prefixed address (AFI 1 = IPv4, 2 = IPv6).
fn network_address(bytes: &[u8]) -> Option<String> {
    match bytes.split_first()? {
        (1, a) => <[u8; 4]>::try_from(a)
            .ok()
            .map(|a| Ipv4Addr::from(a).to_string()),
        (2, a) => <[u8; 16]>::try_from(a)
            .ok()
            .map(|a| Ipv6Addr::from(a).to_string()),
        (6, a) => mac(a),
        _ => None,
    }
}

fn capability_names(bits: u16) -> Vec<serde_json::Value> {
    CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, name)| serde_json::Value::from(*name))
        .collect()
}

/// Chassis and port id: (subtype name, value as text).
fn id(kind: &str, value: &[u8]) -> Result<(&'static str, String), ParseError> {
    let (&subtype, rest) = value
        .split_first()
        .ok_or(ParseError::Malformed("lldp id without subtype"))?;
    let chassis = kind == "chassis";
    let name = match (chassis, subtype) {
        (true, 1) => "chassis_component",
        (true, 2) => "interface_alias",
        (true, 3) => "port_component",
        (true, 4) => "mac_address",
        (true, 5) => "network_address",
        (true, 6) => "interface_name",
        (true, 7) => "local",
        (false, 1) => "interface_alias",
        (false, 2) => "port_component",
        (false, 3) => "mac_address",
        (false, 4) => "network_address",
        (false, 5) => "interface_name",
        (false, 6) => "agent_circuit_id",
        (false, 7) => "local",
        _ => "reserved",
    };
    let value = match name {
        "mac_address" => mac(rest).ok_or(ParseError::Malformed("lldp id mac address"))?,
        "network_address" => {
            network_address(rest).ok_or(ParseError::Malformed("lldp id network address"))?
        }
        _ => text(rest),
    };
    Ok((name, value))
}

fn parse(
    _knowledge: &Knowledge,
    _context: &Context,
    bytes: &[u8],
    out: &mut Vec<Finding>,
) -> Result<(), ParseError> {
    let mut f = Finding::new("lldp", About::Sender);
    let mut addresses: Vec<serde_json::Value> = Vec::new();
    let mut rest = bytes;
    let mut index = 0usize;
    let mut ended = false;
    // Every TLV consumes at least its two header bytes: bounded by the input.
    while let Some((header, after)) = rest.split_first_chunk::<2>() {
        let kind = header[0] >> 1;
        let len = usize::from(u16::from_be_bytes(*header) & 0x01ff);
        let value = after.get(..len).ok_or(ParseError::Truncated("lldp tlv"))?;
        rest = after.get(len..).unwrap_or_default();
        // 802.1AB 9.2: chassis id, port id and TTL come first, in order.
        let mandatory = [1u8, 2, 3];
        if mandatory.get(index).is_some_and(|&want| kind != want) {
            return Err(ParseError::Malformed("lldp mandatory tlv out of order"));
        }
        index += 1;
        match kind {
            0 => {
                if len != 0 {
                    return Err(ParseError::Malformed("lldp end tlv with a length"));
                }
                ended = true;
                break;
            }
            1 => {
                let (subtype, value) = id("chassis", value)?;
                f.set("chassis_id", value);
                f.set("chassis_id_subtype", subtype);
            }
            2 => {
                let (subtype, value) = id("port", value)?;
                f.set("port_id", value);
                f.set("port_id_subtype", subtype);
            }
            3 => {
                let ttl = be16(value, 0).ok_or(ParseError::Malformed("lldp ttl"))?;
                f.set("ttl", ttl);
            }
            4 => {
                f.set("port_description", text(value));
            }
            5 => {
                f.set("system_name", text(value));
            }
            6 => {
                f.set("system_description", text(value));
            }
            7 => {
                let (Some(system), Some(enabled)) = (be16(value, 0), be16(value, 2)) else {
                    return Err(ParseError::Malformed("lldp capabilities"));
                };
                f.set("system_capabilities", capability_names(system));
                f.set("enabled_capabilities", capability_names(enabled));
            }
            8 => {
                let (&alen, after) = value
                    .split_first()
                    .ok_or(ParseError::Malformed("lldp management address"))?;
                let addr = after
                    .get(..usize::from(alen))
                    .ok_or(ParseError::Malformed("lldp management address length"))?;
                if let Some(a) = network_address(addr) {
                    if addresses.len() < MAX_LIST && !addresses.iter().any(|v| v == &a) {
                        addresses.push(a.into());
                    }
                }
            }
            127 => org_specific(value, &mut f)?,
            _ => {}
        }
    }
    if index < 3 {
        return Err(ParseError::Truncated("lldp mandatory tlvs"));
    }
    if !ended {
        return Err(ParseError::Truncated("lldp without end tlv"));
    }
    if !addresses.is_empty() {
        f.set("management_addresses", addresses);
    }
    out.push(f);
    Ok(())
}

/// Organizationally specific TLVs worth an identity: 802.1 port VLAN,
/// LLDP-MED device class and inventory, the IANA MUD URL (RFC 8520).
fn org_specific(value: &[u8], f: &mut Finding) -> Result<(), ParseError> {
    let (Some(oui), Some(&subtype)) = (value.get(..3), value.get(3)) else {
        return Err(ParseError::Malformed("lldp organizationally specific tlv"));
    };
    let info = value.get(4..).unwrap_or_default();
    match (oui, subtype) {
        ([0x00, 0x80, 0xc2], 1) => {
            let vid = be16(info, 0).ok_or(ParseError::Malformed("lldp port vlan id"))?;
            f.set("port_vlan_id", vid);
        }
        ([0x00, 0x12, 0xbb], 1) => {
            let class = match info.get(2) {
                Some(1) => "endpoint_class_1",
                Some(2) => "endpoint_class_2",
                Some(3) => "endpoint_class_3",
                Some(4) => "network_connectivity",
                _ => "not_defined",
            };
            f.set("med.device_class", class);
        }
        ([0x00, 0x12, 0xbb], 5..=11) => {
            let key = match subtype {
                5 => "med.hardware_revision",
                6 => "med.firmware_revision",
                7 => "med.software_revision",
                8 => "med.serial_number",
                9 => "med.manufacturer",
                10 => "med.model_name",
                _ => "med.asset_id",
            };
            let t = text(info);
            if !t.is_empty() {
                f.set(key, t);
            }
        }
        ([0x00, 0x00, 0x5e], 1) => {
            f.set("mud_url", text(info));
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
