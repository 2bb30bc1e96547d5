//! EtherNet/IP: the ListIdentity answer names a device's vendor, type,
//! product, revision and serial number unasked by anyone but a scanner; the
//! CIP services a peer sends tell what it does to a PLC (start, stop,
//! writes). UDP datagrams and TCP streams share one parser.

use std::net::Ipv4Addr;

use super::cursor::{Cursor, insert_bounded, text};

use super::{About, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError, Progress};

pub const DISSECTORS: &[Dissector] = &[
    Dissector {
        name: "enip",
        probe: probe_udp,
        parse: Parse::Message(parse_datagram),
    },
    Dissector {
        name: "enip",
        probe: probe_tcp,
        parse: Parse::Stream(parse_stream),
    },
];

const PORT: u16 = 44818;
const HEADER: usize = 24;
/// Encapsulation messages read per datagram or stream direction.
const MAX_MESSAGES: usize = 256;
/// Distinct commands and CIP services kept.
const MAX_CODES: usize = 32;

fn probe_udp(ctx: &Context, first: &[u8]) -> bool {
    ctx.carrier == Carrier::Udp && ctx.either_port(&[PORT]) && looks_like_header(first)
}

fn probe_tcp(ctx: &Context, first: &[u8]) -> bool {
    ctx.carrier == Carrier::Tcp && ctx.either_port(&[PORT]) && looks_like_header(first)
}

fn looks_like_header(first: &[u8]) -> bool {
    match first.get(..2) {
        Some(&[lo, hi]) => command_name(u16::from_le_bytes([lo, hi])).is_some(),
        _ => false,
    }
}

/// The encapsulation commands of the EtherNet/IP specification.
fn command_name(command: u16) -> Option<&'static str> {
    Some(match command {
        0x0000 => "NOP",
        0x0004 => "ListServices",
        0x0063 => "ListIdentity",
        0x0064 => "ListInterfaces",
        0x0065 => "RegisterSession",
        0x0066 => "UnregisterSession",
        0x006f => "SendRRData",
        0x0070 => "SendUnitData",
        0x0072 => "IndicateStatus",
        0x0073 => "Cancel",
        _ => return None,
    })
}

/// CIP device types (Volume 1 of the CIP specification).
fn device_type_name(device_type: u16) -> Option<&'static str> {
    Some(match device_type {
        0 => "Generic Device (deprecated)",
        2 => "AC Drive",
        3 => "Motor Overload",
        4 => "Limit Switch",
        5 => "Inductive Proximity Switch",
        6 => "Photoelectric Sensor",
        7 => "General Purpose Discrete I/O",
        9 => "Resolver",
        12 => "Communications Adapter",
        14 => "Programmable Logic Controller",
        16 => "Position Controller",
        19 => "DC Drive",
        21 => "Contactor",
        22 => "Motor Starter",
        23 => "Soft Start",
        24 => "Human-Machine Interface",
        26 => "Mass Flow Controller",
        27 => "Pneumatic Valve",
        28 => "Vacuum Pressure Gauge",
        29 => "Process Control Value",
        30 => "Residual Gas Analyzer",
        31 => "DC Power Generator",
        32 => "RF Power Generator",
        33 => "Turbomolecular Vacuum Pump",
        34 => "Encoder",
        35 => "Safety Discrete I/O Device",
        36 => "Fluid Flow Controller",
        37 => "CIP Motion Drive",
        38 => "CompoNet Repeater",
        39 => "Mass Flow Controller, Enhanced",
        40 => "CIP Modbus Device",
        41 => "CIP Modbus Translator",
        42 => "Safety Analog I/O Device",
        43 => "Generic Device (keyable)",
        44 => "Managed Ethernet Switch",
        45 => "CIP Motion Safety Drive Device",
        46 => "Safety Drive Device",
        47 => "CIP Motion Encoder",
        48 => "CIP Motion Converter",
        49 => "CIP Motion I/O",
        50 => "ControlNet Physical Layer Component",
        51 => "Circuit Breaker",
        52 => "HART Device",
        53 => "CIP-HART Translator",
        200 => "Embedded Component",
        _ => return None,
    })
}

/// The identity item (type 0x000c) of a ListIdentity answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub protocol_version: u16,
    pub socket_ip: Ipv4Addr,
    pub socket_port: u16,
    pub vendor_id: u16,
    pub device_type: u16,
    pub product_code: u16,
    pub revision_major: u8,
    pub revision_minor: u8,
    pub status: u16,
    pub serial: u32,
    pub product_name: String,
    pub state: Option<u8>,
}

/// What one datagram or stream direction said.
#[derive(Debug, Default)]
struct Summary {
    commands: Vec<u16>,
    services: Vec<u8>,
    identity: Option<Identity>,
}

fn parse_datagram(
    knowledge: &Knowledge,
    _ctx: &Context,
    bytes: &[u8],
    out: &mut Vec<Finding>,
) -> Result<(), ParseError> {
    let mut summary = Summary::default();
    let (_, error) = read_messages(bytes, &mut summary);
    report(knowledge, &summary, out);
    match error {
        Some(e) if summary.commands.is_empty() => Err(e),
        _ => Ok(()),
    }
}

fn parse_stream(
    knowledge: &Knowledge,
    _ctx: &Context,
    bytes: &[u8],
    last: bool,
    out: &mut Vec<Finding>,
) -> Result<Progress, ParseError> {
    let mut summary = Summary::default();
    let (messages, error) = read_messages(bytes, &mut summary);
    let truncated = matches!(error, Some(ParseError::Truncated(_)));
    if !last && messages < MAX_MESSAGES && (error.is_none() || truncated) {
        return Ok(Progress::NeedMore);
    }
    report(knowledge, &summary, out);
    match error {
        Some(e) if summary.commands.is_empty() => Err(e),
        _ => Ok(Progress::Done),
    }
}

/// Reads encapsulation messages until the bytes end; returns how many were
/// read whole and the error that stopped it, if any.
fn read_messages(bytes: &[u8], summary: &mut Summary) -> (usize, Option<ParseError>) {
    let mut cur = Cursor::new(bytes);
    let mut n = 0;
    while cur.remaining() > 0 {
        if n >= MAX_MESSAGES {
            return (n, None);
        }
        match read_message(&mut cur, summary) {
            Ok(()) => n += 1,
            Err(e) => return (n, Some(e)),
        }
    }
    (n, None)
}

fn read_message(cur: &mut Cursor, summary: &mut Summary) -> Result<(), ParseError> {
    if cur.remaining() < HEADER {
        return Err(ParseError::Truncated("encapsulation header"));
    }
    let mut head = *cur;
    let command = head.u16le("command")?;
    let length = usize::from(head.u16le("length")?);
    if command_name(command).is_none() {
        return Err(ParseError::Malformed("encapsulation command"));
    }
    head.skip(HEADER - 4, "encapsulation header")?;
    let data = head.take(length, "encapsulation data")?;
    *cur = head;
    insert_bounded(&mut summary.commands, command, MAX_CODES);
    match command {
        0x0063 if !data.is_empty() => {
            if let Some(identity) = list_identity(data)? {
                summary.identity.get_or_insert(identity);
            }
        }
        0x006f | 0x0070 => cip_services(data, &mut summary.services),
        _ => {}
    }
    Ok(())
}

/// The identity item of a ListIdentity answer's item list.
pub fn list_identity(data: &[u8]) -> Result<Option<Identity>, ParseError> {
    let mut cur = Cursor::new(data);
    let count = cur.u16le("item count")?;
    for _ in 0..count.min(16) {
        let item_type = cur.u16le("item type")?;
        let length = usize::from(cur.u16le("item length")?);
        let item = cur.take(length, "identity item")?;
        if item_type == 0x000c {
            return identity_item(item).map(Some);
        }
    }
    Ok(None)
}

fn identity_item(item: &[u8]) -> Result<Identity, ParseError> {
    let mut cur = Cursor::new(item);
    let protocol_version = cur.u16le("protocol version")?;
    let _family = cur.u16be("sin_family")?;
    let socket_port = cur.u16be("sin_port")?;
    let socket_ip = Ipv4Addr::from(cur.u32be("sin_addr")?);
    cur.skip(8, "sin_zero")?;
    let vendor_id = cur.u16le("vendor id")?;
    let device_type = cur.u16le("device type")?;
    let product_code = cur.u16le("product code")?;
    let revision_major = cur.u8("revision")?;
    let revision_minor = cur.u8("revision")?;
    let status = cur.u16le("status")?;
    let serial = cur.u32le("serial number")?;
    let name_length = usize::from(cur.u8("product name length")?);
    let product_name = text(cur.take(name_length, "product name")?);
    let state = cur.u8("state").ok();
    Ok(Identity {
        protocol_version,
        socket_ip,
        socket_port,
        vendor_id,
        device_type,
        product_code,
        revision_major,
        revision_minor,
        status,
        serial,
        product_name,
        state,
    })
}

/// The CIP service codes of a SendRRData or SendUnitData message, those
/// inside a Multiple Service Packet included.
fn cip_services(data: &[u8], services: &mut Vec<u8>) {
    let mut cur = Cursor::new(data);
    // Interface handle and timeout.
    if cur.skip(6, "interface handle").is_err() {
        return;
    }
    let Ok(count) = cur.u16le("item count") else {
        return;
    };
    for _ in 0..count.min(16) {
        let (Ok(item_type), Ok(length)) = (cur.u16le("item type"), cur.u16le("item length")) else {
            return;
        };
        let Ok(item) = cur.take(usize::from(length), "item") else {
            return;
        };
        let cip = match item_type {
            0x00b2 => item,
            // Connected data: a sequence count first.
            0x00b1 => item.get(2..).unwrap_or_default(),
            _ => continue,
        };
        cip_message(cip, services, 0);
    }
}

fn cip_message(cip: &[u8], services: &mut Vec<u8>, depth: usize) {
    let Some(&first) = cip.first() else { return };
    let service = first & 0x7f;
    insert_bounded(services, service, MAX_CODES);
    if service != 0x0a || depth > 0 {
        return;
    }
    // Multiple Service Packet: the request carries a path, the reply a
    // general status; then a count and offsets from the count.
    let body = if first & 0x80 == 0 {
        let path_words = usize::from(cip.get(1).copied().unwrap_or_default());
        cip.get(2 + 2 * path_words..)
    } else {
        let extended_words = usize::from(cip.get(3).copied().unwrap_or_default());
        cip.get(4 + 2 * extended_words..)
    };
    let Some(body) = body else { return };
    let mut cur = Cursor::new(body);
    let Ok(count) = cur.u16le("service count") else {
        return;
    };
    for _ in 0..count.min(64) {
        let Ok(offset) = cur.u16le("service offset") else {
            return;
        };
        if let Some(inner) = body.get(usize::from(offset)..) {
            cip_message(inner, services, depth + 1);
        }
    }
}

fn report(knowledge: &Knowledge, summary: &Summary, out: &mut Vec<Finding>) {
    if summary.commands.is_empty() {
        return;
    }
    let mut finding = Finding::new("enip", About::Sender);
    let commands: Vec<&str> = summary
        .commands
        .iter()
        .filter_map(|&c| command_name(c))
        .collect();
    finding.set("commands", commands);
    if !summary.services.is_empty() {
        finding.set("cip.services", summary.services.clone());
    }
    if let Some(id) = &summary.identity {
        finding
            .set("identity.protocol_version", id.protocol_version)
            .set("identity.vendor_id", id.vendor_id)
            .set(
                "identity.vendor_name",
                knowledge.vendor_ids.name("enip", u32::from(id.vendor_id)),
            )
            .set("identity.device_type", id.device_type)
            .set(
                "identity.device_type_name",
                device_type_name(id.device_type),
            )
            .set("identity.product_code", id.product_code)
            .set(
                "identity.revision",
                format!("{}.{:02}", id.revision_major, id.revision_minor),
            )
            .set("identity.status", id.status)
            .set("identity.serial", format!("0x{:08x}", id.serial))
            .set("identity.product_name", id.product_name.as_str())
            .set("identity.state", id.state)
            .set("identity.socket_address", id.socket_ip.to_string())
            .set("identity.socket_port", id.socket_port);
    }
    out.push(finding);
}

#[cfg(test)]
pub(crate) mod tests;
