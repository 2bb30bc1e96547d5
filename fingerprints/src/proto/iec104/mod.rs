//! IEC 60870-5-104: the common addresses (stations) an RTU reports for and
//! the ASDU type ids it sends (measurements, commands) characterise a
//! telecontrol station and its controlling master.

use super::cursor::{Cursor, insert_bounded, summarise};
use super::{About, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError, Progress};

pub const DISSECTORS: &[Dissector] = &[Dissector {
    name: "iec104",
    probe,
    parse: Parse::Stream(parse_stream),
}];

const PORT: u16 = 2404;
/// APDUs read per stream direction.
const MAX_APDUS: usize = 256;
/// Distinct values kept per list.
const MAX_CODES: usize = 32;

fn probe(ctx: &Context, first: &[u8]) -> bool {
    ctx.carrier == Carrier::Tcp
        && ctx.either_port(&[PORT])
        && matches!(first, [0x68, length, ..] if *length >= 4)
}

#[derive(Debug, Default)]
struct Summary {
    apdus: usize,
    /// APCI formats seen: 0 I, 1 S, 3 U (as tshark numbers them).
    formats: Vec<u8>,
    u_functions: Vec<u8>,
    type_ids: Vec<u8>,
    common_addresses: Vec<u16>,
}

fn parse_stream(
    _knowledge: &Knowledge,
    _ctx: &Context,
    bytes: &[u8],
    last: bool,
    out: &mut Vec<Finding>,
) -> Result<Progress, ParseError> {
    summarise(
        bytes,
        last,
        MAX_APDUS,
        "APCI",
        |b, summary: &mut Summary| {
            let error = read_apdus(b, summary).err();
            (summary.apdus, error)
        },
        report,
        out,
    )
}

/// Reads APDUs; bytes that do not start one are skipped up to the next
/// start byte (0x68), as a station that lost framing would.
fn read_apdus(bytes: &[u8], summary: &mut Summary) -> Result<(), ParseError> {
    let mut cur = Cursor::new(bytes);
    let mut error = None;
    while cur.remaining() > 0 && summary.apdus < MAX_APDUS {
        let mut apdu = cur;
        let start = apdu.u8("start byte")?;
        let length = usize::from(apdu.u8("APDU length")?);
        if start != 0x68 || length < 4 {
            error = Some(ParseError::Malformed("APCI"));
            let skip = cur
                .rest()
                .iter()
                .skip(1)
                .position(|&b| b == 0x68)
                .map_or(cur.remaining(), |at| at + 1);
            cur.skip(skip, "resynchronisation")?;
            continue;
        }
        let body = apdu.take(length, "APDU")?;
        cur = apdu;
        summary.apdus += 1;
        let Some((&control, rest)) = body.split_first() else {
            continue;
        };
        let format = if control & 0x01 == 0 {
            0
        } else {
            control & 0x03
        };
        insert_bounded(&mut summary.formats, format, MAX_CODES);
        match format {
            3 => insert_bounded(&mut summary.u_functions, control >> 2, MAX_CODES),
            0 => {
                // ASDU after the four control octets: type id, variable
                // structure qualifier, two octets of cause, common address.
                let asdu = rest.get(3..).unwrap_or_default();
                let mut a = Cursor::new(asdu);
                if let Ok(type_id) = a.u8("type id") {
                    insert_bounded(&mut summary.type_ids, type_id, MAX_CODES);
                }
                if let (Ok(_vsq), Ok(_cot), Ok(address)) =
                    (a.u8("VSQ"), a.u16le("cause"), a.u16le("common address"))
                {
                    insert_bounded(&mut summary.common_addresses, address, MAX_CODES);
                }
            }
            _ => {}
        }
    }
    match error {
        Some(e) if summary.apdus == 0 => Err(e),
        _ => Ok(()),
    }
}

fn format_name(format: u8) -> &'static str {
    match format {
        0 => "I",
        1 => "S",
        _ => "U",
    }
}

/// U-format functions, by their bit (control octet shifted right by 2).
fn u_function_name(bits: u8) -> Option<&'static str> {
    Some(match bits {
        0x01 => "startdt_act",
        0x02 => "startdt_con",
        0x04 => "stopdt_act",
        0x08 => "stopdt_con",
        0x10 => "testfr_act",
        0x20 => "testfr_con",
        _ => return None,
    })
}

fn report(summary: &Summary, out: &mut Vec<Finding>) {
    let mut f = Finding::new("iec104", About::Sender);
    let formats: Vec<&str> = summary.formats.iter().map(|&t| format_name(t)).collect();
    f.set("apci_types", formats);
    if !summary.u_functions.is_empty() {
        let names: Vec<&str> = summary
            .u_functions
            .iter()
            .filter_map(|&u| u_function_name(u))
            .collect();
        f.set("u_functions", names);
    }
    if !summary.type_ids.is_empty() {
        f.set("type_ids", summary.type_ids.clone());
    }
    if !summary.common_addresses.is_empty() {
        f.set("common_addresses", summary.common_addresses.clone());
    }
    out.push(f);
}

#[cfg(test)]
mod tests;
