//! BACnet/IP (and BACnet over 802.2 LLC): a device's I-Am gives its
//! instance number and vendor; its answers to ReadProperty give vendor
//! name, model, firmware and names as the device states them. Who-Is marks
//! a workstation that discovers devices.
//!
//! A message that came through a BACnet router (an NPDU source address) or
//! a BBMD (Forwarded-NPDU) describes a device behind the sender, so its
//! identity goes under `routed` rather than to the sender.

use super::cursor::Cursor;
use super::{About, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError};

pub const DISSECTORS: &[Dissector] = &[
    Dissector {
        name: "bacnet",
        probe: probe_ip,
        parse: Parse::Message(parse_ip),
    },
    Dissector {
        name: "bacnet",
        probe: probe_llc,
        parse: Parse::Message(parse_llc),
    },
];

const PORT: u16 = 47808;
/// Tags read per APDU.
const MAX_TAGS: usize = 256;
/// ReadPropertyMultiple results read per answer.
const MAX_RESULTS: usize = 64;
/// Characters kept of a property string.
const MAX_TEXT: usize = 256;

fn probe_ip(ctx: &Context, first: &[u8]) -> bool {
    ctx.carrier == Carrier::Udp && ctx.either_port(&[PORT]) && first.first() == Some(&0x81)
}

fn probe_llc(ctx: &Context, first: &[u8]) -> bool {
    matches!(ctx.carrier, Carrier::Ethernet { ether_type } if ether_type < 0x0600)
        && first.starts_with(&[0x82, 0x82, 0x03])
}

fn parse_ip(
    knowledge: &Knowledge,
    _ctx: &Context,
    bytes: &[u8],
    out: &mut Vec<Finding>,
) -> Result<(), ParseError> {
    let mut cur = Cursor::new(bytes);
    if cur.u8("BVLC type")? != 0x81 {
        return Err(ParseError::Malformed("BVLC type"));
    }
    let function = cur.u8("BVLC function")?;
    let length = usize::from(cur.u16be("BVLC length")?);
    let body = bytes
        .get(4..length.min(bytes.len()))
        .ok_or(ParseError::Malformed("BVLC length"))?;
    let (npdu, forwarded) = match function {
        // Original-Unicast, Original-Broadcast, Distribute-Broadcast.
        0x09..=0x0b => (body, false),
        // Forwarded-NPDU: the original source's B/IP address first.
        0x04 => (
            body.get(6..)
                .ok_or(ParseError::Truncated("Forwarded-NPDU"))?,
            true,
        ),
        _ => return Ok(()),
    };
    parse_npdu(knowledge, npdu, forwarded, out)
}

fn parse_llc(
    knowledge: &Knowledge,
    _ctx: &Context,
    bytes: &[u8],
    out: &mut Vec<Finding>,
) -> Result<(), ParseError> {
    let npdu = bytes.get(3..).ok_or(ParseError::Truncated("LLC header"))?;
    parse_npdu(knowledge, npdu, false, out)
}

/// What one APDU says about its sender.
#[derive(Debug, Default)]
struct Said {
    who_is: bool,
    iam: Option<IAm>,
    properties: Vec<(u32, String)>,
    vendor_id: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IAm {
    device_instance: u32,
    max_apdu: u32,
    segmentation: u32,
    vendor_id: u32,
}

fn parse_npdu(
    knowledge: &Knowledge,
    npdu: &[u8],
    forwarded: bool,
    out: &mut Vec<Finding>,
) -> Result<(), ParseError> {
    let mut cur = Cursor::new(npdu);
    if cur.u8("NPDU version")? != 0x01 {
        return Err(ParseError::Malformed("NPDU version"));
    }
    let control = cur.u8("NPDU control")?;
    if control & 0x20 != 0 {
        cur.skip(2, "DNET")?;
        let dlen = usize::from(cur.u8("DLEN")?);
        cur.skip(dlen, "DADR")?;
    }
    let mut source_network = None;
    if control & 0x08 != 0 {
        source_network = Some(cur.u16be("SNET")?);
        let slen = usize::from(cur.u8("SLEN")?);
        cur.skip(slen, "SADR")?;
    }
    if control & 0x20 != 0 {
        cur.skip(1, "hop count")?;
    }
    if control & 0x80 != 0 {
        // A network layer message: no APDU.
        return Ok(());
    }
    let said = parse_apdu(cur.rest())?;
    report(knowledge, &said, forwarded, source_network, out);
    Ok(())
}

fn parse_apdu(apdu: &[u8]) -> Result<Said, ParseError> {
    let mut cur = Cursor::new(apdu);
    let first = cur.u8("APDU type")?;
    let mut said = Said::default();
    match first >> 4 {
        // Unconfirmed request.
        1 => match cur.u8("service choice")? {
            0 => said.iam = Some(i_am(cur.rest())?),
            8 => said.who_is = true,
            _ => {}
        },
        // Complex ACK.
        3 => {
            cur.skip(1, "invoke id")?;
            if first & 0x08 != 0 {
                // A segment: only the first one holds the service's start,
                // and values may be cut; leave segmented answers alone.
                return Ok(said);
            }
            match cur.u8("service choice")? {
                12 => read_property_ack(cur.rest(), &mut said)?,
                14 => read_property_multiple_ack(cur.rest(), &mut said)?,
                _ => {}
            }
        }
        _ => {}
    }
    Ok(said)
}

/// One BACnet tag: application or context, its number and its value bytes
/// (empty for opening and closing tags).
#[derive(Debug, Clone, Copy)]
struct Tag<'a> {
    number: u8,
    context: bool,
    opening: bool,
    closing: bool,
    /// The length/value/type field (an application boolean's value).
    lvt: u32,
    value: &'a [u8],
}

fn tag<'a>(cur: &mut Cursor<'a>) -> Result<Tag<'a>, ParseError> {
    let first = cur.u8("tag")?;
    let mut number = first >> 4;
    if number == 0x0f {
        number = cur.u8("extended tag number")?;
    }
    let context = first & 0x08 != 0;
    let lvt = first & 0x07;
    let mut tag = Tag {
        number,
        context,
        opening: false,
        closing: false,
        lvt: u32::from(lvt),
        value: &[],
    };
    if context && lvt == 6 {
        tag.opening = true;
        return Ok(tag);
    }
    if context && lvt == 7 {
        tag.closing = true;
        return Ok(tag);
    }
    if !context && number == 1 {
        // Boolean: the value is in the LVT field.
        return Ok(tag);
    }
    let length = match lvt {
        5 => match cur.u8("tag length")? {
            254 => u32::from(cur.u16be("tag length")?),
            255 => cur.u32be("tag length")?,
            n => u32::from(n),
        },
        n => u32::from(n),
    };
    tag.lvt = length;
    tag.value = cur.take(
        usize::try_from(length).map_err(|_| ParseError::Limit("tag length"))?,
        "tag value",
    )?;
    Ok(tag)
}

fn unsigned(value: &[u8]) -> Result<u32, ParseError> {
    if value.is_empty() || value.len() > 4 {
        return Err(ParseError::Malformed("unsigned"));
    }
    Ok(value
        .iter()
        .fold(0u32, |acc, &b| acc.wrapping_shl(8) | u32::from(b)))
}

fn i_am(body: &[u8]) -> Result<IAm, ParseError> {
    let mut cur = Cursor::new(body);
    let object = unsigned(tag(&mut cur)?.value)?;
    if object >> 22 != 8 {
        return Err(ParseError::Malformed("I-Am object type"));
    }
    Ok(IAm {
        device_instance: object & 0x3f_ffff,
        max_apdu: unsigned(tag(&mut cur)?.value)?,
        segmentation: unsigned(tag(&mut cur)?.value)?,
        vendor_id: unsigned(tag(&mut cur)?.value)?,
    })
}

/// The device properties mirador keeps, by property identifier.
fn property_key(property: u32) -> Option<&'static str> {
    Some(match property {
        121 => "vendor_name",
        70 => "model_name",
        44 => "firmware_revision",
        12 => "application_software_version",
        77 => "object_name",
        28 => "description",
        58 => "location",
        120 => "vendor_id",
        _ => return None,
    })
}

/// Records `property` of a device object if it is one mirador keeps.
fn record(said: &mut Said, object: u32, property: u32, value: &Tag) {
    if object >> 22 != 8 || property_key(property).is_none() || value.context {
        return;
    }
    match (property, value.number) {
        (120, 2) => said.vendor_id = unsigned(value.value).ok(),
        (_, 7) => {
            if let Some(text) = character_string(value.value) {
                said.properties.push((property, text));
            }
        }
        _ => {}
    }
}

/// A CharacterString value: its character set byte, then the text.
fn character_string(value: &[u8]) -> Option<String> {
    let (&set, text) = value.split_first()?;
    let decoded: String = match set {
        // UTF-8 (formerly ANSI X3.4).
        0 => String::from_utf8_lossy(text).into_owned(),
        // UCS-2, big-endian.
        4 => char::decode_utf16(
            text.chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]])),
        )
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect(),
        // UCS-4, big-endian.
        3 => text
            .chunks_exact(4)
            .map(|p| {
                char::from_u32(u32::from_be_bytes([p[0], p[1], p[2], p[3]]))
                    .unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect(),
        // ISO 8859-1.
        5 => text.iter().map(|&b| char::from(b)).collect(),
        _ => String::from_utf8_lossy(text).into_owned(),
    };
    Some(
        decoded
            .trim_end_matches('\0')
            .chars()
            .take(MAX_TEXT)
            .collect(),
    )
}

fn read_property_ack(body: &[u8], said: &mut Said) -> Result<(), ParseError> {
    let mut cur = Cursor::new(body);
    let object = unsigned(tag(&mut cur)?.value)?;
    let property = unsigned(tag(&mut cur)?.value)?;
    let mut next = tag(&mut cur)?;
    if next.context && next.number == 2 && !next.opening {
        // Array index.
        next = tag(&mut cur)?;
    }
    if !(next.opening && next.number == 3) {
        return Err(ParseError::Malformed("ReadProperty-ACK value"));
    }
    let value = tag(&mut cur)?;
    record(said, object, property, &value);
    Ok(())
}

fn read_property_multiple_ack(body: &[u8], said: &mut Said) -> Result<(), ParseError> {
    let mut cur = Cursor::new(body);
    let mut object = None;
    let mut property = None;
    let mut depth = 0usize;
    let mut results = 0usize;
    for _ in 0..MAX_TAGS {
        if cur.remaining() == 0 {
            return Ok(());
        }
        let t = tag(&mut cur)?;
        match (depth, t.context, t.number) {
            _ if t.closing => depth = depth.saturating_sub(1),
            _ if t.opening && depth == 1 && t.number == 4 => {
                depth += 1;
                // The value's first tag.
                let value = tag(&mut cur)?;
                if let (Some(o), Some(p)) = (object, property) {
                    record(said, o, p, &value);
                }
                if value.opening {
                    depth += 1;
                } else if value.closing {
                    depth = depth.saturating_sub(1);
                }
                results += 1;
                if results >= MAX_RESULTS {
                    return Ok(());
                }
            }
            _ if t.opening => depth += 1,
            (0, true, 0) => object = unsigned(t.value).ok(),
            (1, true, 2) => property = unsigned(t.value).ok(),
            _ => {}
        }
    }
    Err(ParseError::Limit("ReadPropertyMultiple-ACK tags"))
}

fn segmentation_name(segmentation: u32) -> Option<&'static str> {
    Some(match segmentation {
        0 => "segmented-both",
        1 => "segmented-transmit",
        2 => "segmented-receive",
        3 => "no-segmentation",
        _ => return None,
    })
}

fn report(
    knowledge: &Knowledge,
    said: &Said,
    forwarded: bool,
    source_network: Option<u16>,
    out: &mut Vec<Finding>,
) {
    if !said.who_is
        && said.iam.is_none()
        && said.properties.iter().all(|(_, v)| v.is_empty())
        && said.vendor_id.is_none()
    {
        return;
    }
    let mut finding = Finding::new("bacnet", About::Sender);
    if said.who_is {
        finding.set("who_is", true);
    }
    let routed = forwarded || source_network.is_some();
    let prefix = if routed {
        finding
            .set("routed.forwarded", forwarded)
            .set("routed.source_network", source_network);
        "routed."
    } else {
        ""
    };
    if let Some(iam) = said.iam {
        finding
            .set(&format!("{prefix}iam.device_instance"), iam.device_instance)
            .set(&format!("{prefix}iam.vendor_id"), iam.vendor_id)
            .set(
                &format!("{prefix}iam.vendor_name"),
                knowledge.vendor_ids.name("bacnet", iam.vendor_id),
            )
            .set(&format!("{prefix}iam.max_apdu"), iam.max_apdu)
            .set(
                &format!("{prefix}iam.segmentation"),
                segmentation_name(iam.segmentation),
            );
    }
    for (property, value) in &said.properties {
        if value.is_empty() {
            continue;
        }
        if let Some(key) = property_key(*property) {
            finding.set(&format!("{prefix}device.{key}"), value.as_str());
        }
    }
    if let Some(vendor_id) = said.vendor_id {
        finding.set(&format!("{prefix}device.vendor_id"), vendor_id);
    }
    out.push(finding);
}

#[cfg(test)]
mod tests;
