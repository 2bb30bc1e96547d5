//! PROFINET DCP: an IO device answering Identify (or announcing itself with
//! Hello) states its station name, vendor and device id, role, type of
//! station and IP settings, all in one Ethernet frame. Identify requests
//! name the station searched for, not the sender, so only answers and
//! Hellos are evidence about their sender.

use std::net::Ipv4Addr;

use super::cursor::{Cursor, nul_trimmed_text};
use super::{About, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError};

pub const DISSECTORS: &[Dissector] = &[Dissector {
    name: "profinet_dcp",
    probe,
    parse: Parse::Message(parse),
}];

const ETHER_TYPE: u16 = 0x8892;
const VLAN: u16 = 0x8100;
/// Blocks read per frame.
const MAX_BLOCKS: usize = 64;

const HELLO: u16 = 0xfefc;
const GET_SET: u16 = 0xfefd;
const IDENTIFY_REQUEST: u16 = 0xfefe;
const IDENTIFY_RESPONSE: u16 = 0xfeff;

fn probe(ctx: &Context, first: &[u8]) -> bool {
    dcp_payload(ctx, first).is_some_and(|p| {
        matches!(p.get(..2), Some(&[hi, lo]) if (HELLO..=IDENTIFY_RESPONSE).contains(&u16::from_be_bytes([hi, lo])))
    })
}

/// The PROFINET payload (frame id onwards), skipping an 802.1Q tag the
/// sensor left in place.
fn dcp_payload<'a>(ctx: &Context, bytes: &'a [u8]) -> Option<&'a [u8]> {
    match ctx.carrier {
        Carrier::Ethernet {
            ether_type: ETHER_TYPE,
        } => Some(bytes),
        Carrier::Ethernet { ether_type: VLAN } => match bytes.get(2..4) {
            Some(&[0x88, 0x92]) => bytes.get(4..),
            _ => None,
        },
        _ => None,
    }
}

/// What an Identify answer or a Hello says.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Dcp {
    pub station_name: Option<String>,
    pub type_of_station: Option<String>,
    pub vendor_id: Option<u16>,
    pub device_id: Option<u16>,
    pub device_role: Option<u8>,
    pub alias_name: Option<String>,
    pub ip: Option<Ipv4Addr>,
    pub netmask: Option<Ipv4Addr>,
    pub gateway: Option<Ipv4Addr>,
}

fn parse(
    knowledge: &Knowledge,
    ctx: &Context,
    bytes: &[u8],
    out: &mut Vec<Finding>,
) -> Result<(), ParseError> {
    let payload = dcp_payload(ctx, bytes).ok_or(ParseError::Malformed("PROFINET frame"))?;
    let mut cur = Cursor::new(payload);
    let frame_id = cur.u16be("frame id")?;
    let service_id = cur.u8("service id")?;
    let service_type = cur.u8("service type")?;
    cur.skip(4, "xid")?;
    cur.skip(2, "response delay")?;
    let length = usize::from(cur.u16be("DCP data length")?);
    let blocks = cur.take(length.min(cur.remaining()), "DCP blocks")?;
    let (kind, answer) = match (frame_id, service_id, service_type & 0x01) {
        (IDENTIFY_RESPONSE, 5, 1) => ("identify_response", true),
        (HELLO, 6, 0) => ("hello", true),
        (IDENTIFY_REQUEST, 5, 0) => ("identify_request", false),
        (GET_SET, 4, 0) => ("set_request", false),
        (GET_SET, 4, 1) => ("set_response", false),
        (GET_SET, 3, 0) => ("get_request", false),
        (GET_SET, 3, 1) => ("get_response", false),
        _ => return Ok(()),
    };
    let mut finding = Finding::new("profinet_dcp", About::Sender);
    finding.set("service", kind);
    if answer {
        let dcp = read_blocks(blocks)?;
        finding
            .set("station_name", dcp.station_name)
            .set("type_of_station", dcp.type_of_station)
            .set("vendor_id", dcp.vendor_id)
            .set(
                "vendor_name",
                dcp.vendor_id
                    .and_then(|id| knowledge.vendor_ids.name("profinet", u32::from(id))),
            )
            .set("device_id", dcp.device_id)
            .set("device_role", dcp.device_role)
            .set("device_roles", dcp.device_role.map(role_names))
            .set("alias_name", dcp.alias_name)
            .set("ip", dcp.ip.map(|a| a.to_string()))
            .set("netmask", dcp.netmask.map(|a| a.to_string()))
            .set("gateway", dcp.gateway.map(|a| a.to_string()));
    }
    out.push(finding);
    Ok(())
}

/// The blocks of an answer: option, suboption, length, block info, value.
pub fn read_blocks(blocks: &[u8]) -> Result<Dcp, ParseError> {
    let mut cur = Cursor::new(blocks);
    let mut dcp = Dcp::default();
    for _ in 0..MAX_BLOCKS {
        if cur.remaining() < 4 {
            break;
        }
        let option = cur.u8("option")?;
        let suboption = cur.u8("suboption")?;
        let length = usize::from(cur.u16be("block length")?);
        let block = cur.take(length, "block")?;
        // Blocks are padded to an even length.
        if length % 2 == 1 {
            let _ = cur.skip(1, "padding");
        }
        // Answers start each block with two bytes of block info.
        let value = block.get(2..).unwrap_or_default();
        match (option, suboption) {
            (1, 2) => {
                let mut v = Cursor::new(value);
                dcp.ip = v.u32be("IP address").ok().map(Ipv4Addr::from);
                dcp.netmask = v.u32be("netmask").ok().map(Ipv4Addr::from);
                dcp.gateway = v.u32be("gateway").ok().map(Ipv4Addr::from);
            }
            (2, 1) => dcp.type_of_station = Some(nul_trimmed_text(value)),
            (2, 2) => dcp.station_name = Some(nul_trimmed_text(value)),
            (2, 3) => {
                let mut v = Cursor::new(value);
                dcp.vendor_id = v.u16be("vendor id").ok();
                dcp.device_id = v.u16be("device id").ok();
            }
            (2, 4) => dcp.device_role = value.first().copied(),
            (2, 6) => dcp.alias_name = Some(nul_trimmed_text(value)),
            _ => {}
        }
    }
    Ok(dcp)
}

fn role_names(role: u8) -> Vec<&'static str> {
    [
        (0x01, "io-device"),
        (0x02, "io-controller"),
        (0x04, "io-multidevice"),
        (0x08, "pn-supervisor"),
    ]
    .iter()
    .filter(|(bit, _)| role & bit != 0)
    .map(|&(_, name)| name)
    .collect()
}

#[cfg(test)]
mod tests;
