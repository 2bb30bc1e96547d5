//! Modbus/TCP: which function codes a client uses (writes flag a station
//! that changes a process), which unit ids a server answers for, and Read
//! Device Identification answers, the one place Modbus names a vendor and
//! product.

use super::cursor::{Cursor, insert_bounded, summarise, text};
use super::{About, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError, Progress};

pub const DISSECTORS: &[Dissector] = &[Dissector {
    name: "modbus",
    probe,
    parse: Parse::Stream(parse_stream),
}];

const PORT: u16 = 502;
/// ADUs read per stream direction.
const MAX_ADUS: usize = 256;
/// Distinct codes and unit ids kept.
const MAX_CODES: usize = 32;
/// Function codes that change outputs or registers.
const WRITES: &[u8] = &[5, 6, 15, 16, 22, 23];

fn probe(ctx: &Context, first: &[u8]) -> bool {
    ctx.carrier == Carrier::Tcp && ctx.either_port(&[PORT]) && mbap_length(first).is_some()
}

/// The length field of an MBAP header whose protocol id is 0 (Modbus).
fn mbap_length(bytes: &[u8]) -> Option<usize> {
    match bytes.get(..7)? {
        &[_, _, 0, 0, hi, lo, _] => {
            let length = usize::from(u16::from_be_bytes([hi, lo]));
            (2..=254).contains(&length).then_some(length)
        }
        _ => None,
    }
}

/// A Read Device Identification answer's objects.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeviceId {
    pub vendor_name: Option<String>,
    pub product_code: Option<String>,
    pub revision: Option<String>,
    pub vendor_url: Option<String>,
    pub product_name: Option<String>,
    pub model_name: Option<String>,
    pub user_application_name: Option<String>,
    pub conformity_level: Option<u8>,
}

#[derive(Debug, Default)]
struct Summary {
    adus: usize,
    function_codes: Vec<u8>,
    unit_ids: Vec<u8>,
    exception_codes: Vec<u8>,
    device_id: Option<DeviceId>,
}

fn parse_stream(
    _knowledge: &Knowledge,
    ctx: &Context,
    bytes: &[u8],
    last: bool,
    out: &mut Vec<Finding>,
) -> Result<Progress, ParseError> {
    summarise(
        bytes,
        last,
        MAX_ADUS,
        "MBAP header",
        |b, summary: &mut Summary| {
            let error = read_adus(b, ctx.to_server, summary).err();
            (summary.adus, error)
        },
        |summary, out| report(ctx, summary, out),
        out,
    )
}

fn read_adus(bytes: &[u8], request: bool, summary: &mut Summary) -> Result<(), ParseError> {
    let mut cur = Cursor::new(bytes);
    while cur.remaining() > 0 && summary.adus < MAX_ADUS {
        let length = mbap_length(cur.rest()).ok_or(if cur.remaining() < 7 {
            ParseError::Truncated("MBAP header")
        } else {
            ParseError::Malformed("MBAP header")
        })?;
        let mut adu = cur;
        adu.skip(6, "MBAP header")?;
        let unit = adu.u8("unit id")?;
        let pdu = adu.take(length - 1, "PDU")?;
        cur = adu;
        summary.adus += 1;
        insert_bounded(&mut summary.unit_ids, unit, MAX_CODES);
        let Some(&fc) = pdu.first() else { continue };
        insert_bounded(&mut summary.function_codes, fc & 0x7f, MAX_CODES);
        if fc & 0x80 != 0 {
            if let Some(&code) = pdu.get(1) {
                insert_bounded(&mut summary.exception_codes, code, MAX_CODES);
            }
        } else if fc == 43 && !request && summary.device_id.is_none() {
            summary.device_id = device_identification(pdu).ok().flatten();
        }
    }
    Ok(())
}

/// The objects of a Read Device Identification answer (function 43, MEI
/// type 14); `None` for another MEI type.
pub fn device_identification(pdu: &[u8]) -> Result<Option<DeviceId>, ParseError> {
    let mut cur = Cursor::new(pdu);
    let _fc = cur.u8("function code")?;
    if cur.u8("MEI type")? != 14 {
        return Ok(None);
    }
    let _read_code = cur.u8("read device id code")?;
    let mut id = DeviceId {
        conformity_level: Some(cur.u8("conformity level")?),
        ..DeviceId::default()
    };
    let _more = cur.u8("more follows")?;
    let _next = cur.u8("next object id")?;
    let count = cur.u8("number of objects")?;
    for _ in 0..count {
        let object = cur.u8("object id")?;
        let length = usize::from(cur.u8("object length")?);
        let value = Some(text(cur.take(length, "object value")?));
        match object {
            0 => id.vendor_name = value,
            1 => id.product_code = value,
            2 => id.revision = value,
            3 => id.vendor_url = value,
            4 => id.product_name = value,
            5 => id.model_name = value,
            6 => id.user_application_name = value,
            _ => {}
        }
    }
    Ok(Some(id))
}

fn report(ctx: &Context, summary: &Summary, out: &mut Vec<Finding>) {
    let mut finding = Finding::new("modbus", About::Sender);
    finding
        .set("function_codes", summary.function_codes.clone())
        .set("unit_ids", summary.unit_ids.clone());
    if !summary.exception_codes.is_empty() {
        finding.set("exception_codes", summary.exception_codes.clone());
    }
    if ctx.to_server && summary.function_codes.iter().any(|fc| WRITES.contains(fc)) {
        finding.set("writes", true);
    }
    if let Some(id) = &summary.device_id {
        finding
            .set("device_id.vendor_name", id.vendor_name.clone())
            .set("device_id.product_code", id.product_code.clone())
            .set("device_id.revision", id.revision.clone())
            .set("device_id.vendor_url", id.vendor_url.clone())
            .set("device_id.product_name", id.product_name.clone())
            .set("device_id.model_name", id.model_name.clone())
            .set(
                "device_id.user_application_name",
                id.user_application_name.clone(),
            )
            .set("device_id.conformity_level", id.conformity_level);
    }
    out.push(finding);
}

#[cfg(test)]
mod tests;
