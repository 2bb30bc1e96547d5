//! SNMP v1/v2c/v3: agents answer with their system group (sysDescr names
//! model and firmware, sysObjectID the vendor's product tree, sysName the
//! configured name), and a default community is a finding of its own. The
//! community string itself is a secret and never leaves this module.

mod ber;

use super::cursor::line_text;
use super::{About, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError};
use ber::{Reader, TAG_INTEGER, TAG_OCTET_STRING, TAG_OID, TAG_SEQUENCE, oid_string};

pub const DISSECTORS: &[Dissector] = &[Dissector {
    name: "snmp",
    probe,
    parse: Parse::Message(parse),
}];

/// Varbind names kept in `snmp.vars`.
const MAX_VARS: usize = 16;
/// Communities that ship as defaults (RFC 1157 examples and common vendor
/// defaults); matched exactly, case-sensitively.
const DEFAULT_COMMUNITIES: &[&[u8]] = &[
    b"public",
    b"private",
    b"community",
    b"admin",
    b"manager",
    b"secret",
    b"cisco",
    b"write",
    b"read",
    b"snmp",
    b"snmpd",
    b"monitor",
    b"default",
    b"0392a0",
    b"ILMI",
    b"all private",
];
const SYS_DESCR: &str = "1.3.6.1.2.1.1.1.0";
const SYS_OBJECT_ID: &str = "1.3.6.1.2.1.1.2.0";
const SYS_NAME: &str = "1.3.6.1.2.1.1.5.0";

fn probe(context: &Context, bytes: &[u8]) -> bool {
    context.carrier == Carrier::Udp
        && context.either_port(&[161, 162])
        && bytes.first() == Some(&TAG_SEQUENCE)
}

fn pdu_type(tag: u8) -> Option<&'static str> {
    Some(match tag {
        0xa0 => "get_request",
        0xa1 => "get_next_request",
        0xa2 => "response",
        0xa3 => "set_request",
        0xa4 => "trap_v1",
        0xa5 => "get_bulk_request",
        0xa6 => "inform_request",
        0xa7 => "trap_v2",
        0xa8 => "report",
        _ => return None,
    })
}

fn parse(
    _knowledge: &Knowledge,
    _context: &Context,
    bytes: &[u8],
    out: &mut Vec<Finding>,
) -> Result<(), ParseError> {
    let mut message = Reader::new(bytes).enter(TAG_SEQUENCE, "snmp message")?;
    let version = message.uint(TAG_INTEGER, "snmp version")?;
    let mut f = Finding::new("snmp", About::Sender);
    let pdu = match version {
        0 | 1 => {
            f.set("version", version + 1);
            let community = message.value(TAG_OCTET_STRING, "snmp community")?;
            f.set("community_present", !community.is_empty());
            f.set(
                "community_default",
                DEFAULT_COMMUNITIES.contains(&community),
            );
            message
        }
        3 => {
            f.set("version", 3);
            let mut global = message.enter(TAG_SEQUENCE, "snmp v3 header")?;
            let _id = global.value(TAG_INTEGER, "snmp v3 msgID")?;
            let _max = global.value(TAG_INTEGER, "snmp v3 max size")?;
            let flags = global.value(TAG_OCTET_STRING, "snmp v3 flags")?;
            let encrypted = flags.first().is_some_and(|b| b & 0x02 != 0);
            f.set("encrypted", encrypted);
            let _security = message.value(TAG_OCTET_STRING, "snmp v3 security parameters")?;
            if encrypted {
                out.push(f);
                return Ok(());
            }
            let mut scoped = message.enter(TAG_SEQUENCE, "snmp v3 scoped pdu")?;
            let _engine = scoped.value(TAG_OCTET_STRING, "snmp v3 context engine")?;
            let _name = scoped.value(TAG_OCTET_STRING, "snmp v3 context name")?;
            scoped
        }
        _ => return Err(ParseError::Malformed("snmp version")),
    };
    let mut pdu = pdu;
    let (tag, body) = pdu.any("snmp pdu")?;
    let kind = pdu_type(tag).ok_or(ParseError::Malformed("snmp pdu type"))?;
    f.set("pdu_type", kind);
    let mut body = Reader::new(body);
    if tag == 0xa4 {
        // Trap-PDU: enterprise, agent-addr, generic, specific, time-stamp.
        let enterprise = body.value(TAG_OID, "snmp trap enterprise")?;
        f.set("trap_type.oid", oid_string(enterprise)?);
        let addr = body.value(0x40, "snmp trap agent address")?;
        if let Ok(a) = <[u8; 4]>::try_from(addr) {
            f.set("trap_type.address", std::net::Ipv4Addr::from(a).to_string());
        }
        let generic = body.uint(TAG_INTEGER, "snmp trap generic")?;
        let name = match generic {
            0 => "cold_start",
            1 => "warm_start",
            2 => "link_down",
            3 => "link_up",
            4 => "authentication_failure",
            5 => "egp_neighbor_loss",
            _ => "enterprise_specific",
        };
        f.set("trap_type.trap_type", name);
        let _specific = body.value(TAG_INTEGER, "snmp trap specific")?;
        let _time = body.any("snmp trap time-stamp")?;
    } else {
        let _request_id = body.value(TAG_INTEGER, "snmp request id")?;
        let error = body.uint(TAG_INTEGER, "snmp error status")?;
        if error != 0 {
            f.set("error", error);
        }
        let _index = body.value(TAG_INTEGER, "snmp error index")?;
    }
    let mut bindings = body.enter(TAG_SEQUENCE, "snmp varbind list")?;
    let mut vars: Vec<serde_json::Value> = Vec::new();
    // Each varbind consumes at least two bytes: bounded by the input.
    while !bindings.is_empty() {
        let mut bind = bindings.enter(TAG_SEQUENCE, "snmp varbind")?;
        let name = oid_string(bind.value(TAG_OID, "snmp varbind name")?)?;
        let (vtag, value) = bind.any("snmp varbind value")?;
        if vars.len() < MAX_VARS {
            vars.push(name.clone().into());
        }
        // Values in answers only: a request's are NULL.
        if !matches!(tag, 0xa2 | 0xa4 | 0xa6 | 0xa7) {
            continue;
        }
        match (name.as_str(), vtag) {
            (SYS_DESCR, TAG_OCTET_STRING) => {
                f.set("sys_descr", text(value));
            }
            (SYS_NAME, TAG_OCTET_STRING) => {
                f.set("sys_name", text(value));
            }
            (SYS_OBJECT_ID, TAG_OID) => {
                f.set("sys_object_id", oid_string(value)?);
            }
            _ => {}
        }
    }
    if !vars.is_empty() {
        f.set("vars", vars);
    }
    out.push(f);
    Ok(())
}

fn text(bytes: &[u8]) -> String {
    line_text(bytes, 1024)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
