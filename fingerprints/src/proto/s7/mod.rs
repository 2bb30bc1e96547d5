//! S7comm over ISO-on-TCP (TPKT, COTP): a Siemens PLC answers SZL reads
//! with its order number, firmware version, station and module names and
//! serial number; the jobs a client sends say whether it writes variables,
//! downloads blocks or stops the PLC. S7comm-plus (S7-1200/1500) is only
//! recognised: its payload is mostly encrypted or integrity protected.

use super::cursor::{Cursor, hex, insert_bounded, summarise, text};
use super::{About, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError, Progress};

pub const DISSECTORS: &[Dissector] = &[Dissector {
    name: "s7comm",
    probe,
    parse: Parse::Stream(parse_stream),
}];

const PORT: u16 = 102;
/// TPKT packets read per stream direction.
const MAX_PDUS: usize = 512;
/// Distinct function codes kept.
const MAX_CODES: usize = 32;
/// Bytes of a fragmented SZL answer kept.
const MAX_SZL: usize = 8192;

fn probe(ctx: &Context, first: &[u8]) -> bool {
    ctx.carrier == Carrier::Tcp && ctx.either_port(&[PORT]) && first.starts_with(&[0x03, 0x00])
}

/// The module identification (SZL 0x0011) and component identification
/// (SZL 0x001c) a PLC gave.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Szl {
    pub order_number: Option<String>,
    pub hardware_version: Option<u16>,
    pub basic_hardware: Option<String>,
    pub firmware_version: Option<String>,
    pub plc_name: Option<String>,
    pub module_name: Option<String>,
    pub plant_id: Option<String>,
    pub copyright: Option<String>,
    pub serial_number: Option<String>,
    pub module_type_name: Option<String>,
    pub memory_card_serial: Option<String>,
    pub location: Option<String>,
}

#[derive(Debug, Default)]
struct Summary {
    pdus: usize,
    plus: bool,
    function_codes: Vec<u8>,
    userdata_groups: Vec<u8>,
    password: bool,
    pdu_length: Option<u16>,
    calling_tsap: Option<String>,
    called_tsap: Option<String>,
    szl: Szl,
    /// A fragmented SZL answer being put together.
    pending: Vec<u8>,
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
        MAX_PDUS,
        "TPKT",
        |b, summary: &mut Summary| {
            let error = read_tpkts(b, summary).err();
            (summary.pdus, error)
        },
        report,
        out,
    )
}

fn read_tpkts(bytes: &[u8], summary: &mut Summary) -> Result<(), ParseError> {
    let mut cur = Cursor::new(bytes);
    while cur.remaining() > 0 && summary.pdus < MAX_PDUS {
        let mut tpkt = cur;
        if tpkt.u8("TPKT version")? != 3 {
            return Err(ParseError::Malformed("TPKT version"));
        }
        tpkt.skip(1, "TPKT reserved")?;
        let length = usize::from(tpkt.u16be("TPKT length")?);
        let body = tpkt.take(
            length
                .checked_sub(4)
                .ok_or(ParseError::Malformed("TPKT length"))?,
            "TPKT packet",
        )?;
        cur = tpkt;
        summary.pdus += 1;
        read_cotp(body, summary)?;
    }
    Ok(())
}

fn read_cotp(body: &[u8], summary: &mut Summary) -> Result<(), ParseError> {
    let mut cur = Cursor::new(body);
    let li = usize::from(cur.u8("COTP length")?);
    let header = cur.take(li, "COTP header")?;
    let Some(&pdu_type) = header.first() else {
        return Err(ParseError::Malformed("COTP header"));
    };
    match pdu_type & 0xf0 {
        // Data: S7comm or S7comm-plus.
        0xf0 => match cur.rest().first() {
            Some(0x32) => read_s7(cur.rest(), summary),
            Some(0x72) => {
                summary.plus = true;
                Ok(())
            }
            _ => Ok(()),
        },
        // Connection request or confirm: the TSAPs.
        0xe0 | 0xd0 => {
            connection_parameters(header.get(6..).unwrap_or_default(), summary);
            Ok(())
        }
        _ => Ok(()),
    }
}

fn connection_parameters(mut params: &[u8], summary: &mut Summary) {
    for _ in 0..16 {
        let [code, length, rest @ ..] = params else {
            return;
        };
        let Some(value) = rest.get(..usize::from(*length)) else {
            return;
        };
        let hex = hex(value);
        match code {
            0xc1 => summary.calling_tsap = Some(hex),
            0xc2 => summary.called_tsap = Some(hex),
            _ => {}
        }
        params = rest.get(usize::from(*length)..).unwrap_or_default();
    }
}

fn read_s7(pdu: &[u8], summary: &mut Summary) -> Result<(), ParseError> {
    let mut cur = Cursor::new(pdu);
    cur.skip(1, "protocol id")?;
    let rosctr = cur.u8("ROSCTR")?;
    cur.skip(4, "S7 header")?;
    let param_length = usize::from(cur.u16be("parameter length")?);
    let data_length = usize::from(cur.u16be("data length")?);
    if matches!(rosctr, 2 | 3) {
        cur.skip(2, "error class and code")?;
    }
    let param = cur.take(param_length, "S7 parameters")?;
    let data = cur.take(data_length, "S7 data")?;
    match rosctr {
        1 | 3 => {
            let Some(&function) = param.first() else {
                return Ok(());
            };
            if rosctr == 1 {
                insert_bounded(&mut summary.function_codes, function, MAX_CODES);
            }
            if function == 0xf0 {
                // Setup communication: reserved, AmQ calling, AmQ called,
                // PDU length.
                let mut p = Cursor::new(param);
                p.skip(6, "setup communication")?;
                summary.pdu_length = Some(p.u16be("PDU length")?);
            }
        }
        7 => read_userdata(param, data, summary)?,
        _ => {}
    }
    Ok(())
}

fn read_userdata(param: &[u8], data: &[u8], summary: &mut Summary) -> Result<(), ParseError> {
    let mut p = Cursor::new(param);
    p.skip(4, "userdata head")?;
    let _method = p.u8("method")?;
    let type_group = p.u8("type and function group")?;
    let subfunction = p.u8("subfunction")?;
    let _sequence = p.u8("sequence number")?;
    let (kind, group) = (type_group >> 4, type_group & 0x0f);
    insert_bounded(&mut summary.userdata_groups, group, MAX_CODES);
    // Security functions, PLC password: say that one was sent, never what.
    if group == 5 && subfunction == 1 && kind == 4 {
        summary.password = true;
    }
    // Only answers (type 8) to Read SZL (CPU functions, subfunction 1).
    if kind != 8 || group != 4 || subfunction != 1 {
        return Ok(());
    }
    let last_unit = match (p.u8("data unit reference"), p.u8("last data unit")) {
        (Ok(_), Ok(last)) => last == 0,
        _ => true,
    };
    let mut d = Cursor::new(data);
    if d.u8("return code")? != 0xff {
        return Ok(());
    }
    d.skip(1, "transport size")?;
    let length = usize::from(d.u16be("data length")?);
    let payload = d.take(length.min(d.remaining()), "SZL data")?;
    if summary.pending.len() + payload.len() <= MAX_SZL {
        summary.pending.extend_from_slice(payload);
    }
    if last_unit {
        let whole = std::mem::take(&mut summary.pending);
        read_szl(&whole, &mut summary.szl)?;
    }
    Ok(())
}

/// An SZL list: id, index, record length and count, then the records.
fn read_szl(list: &[u8], szl: &mut Szl) -> Result<(), ParseError> {
    let mut cur = Cursor::new(list);
    let id = cur.u16be("SZL id")?;
    let _index = cur.u16be("SZL index")?;
    let record_length = usize::from(cur.u16be("SZL record length")?);
    let count = cur.u16be("SZL record count")?;
    if record_length < 2 {
        return Ok(());
    }
    for _ in 0..count {
        let Ok(record) = cur.take(record_length, "SZL record") else {
            // A record cut by a lost fragment: keep what came whole.
            break;
        };
        let mut r = Cursor::new(record);
        let index = r.u16be("record index")?;
        match id & 0x00ff {
            0x11 => module_identification(index, r.rest(), szl),
            0x1c => component_identification(index, r.rest(), szl),
            _ => {}
        }
    }
    Ok(())
}

/// SZL 0x0011 records: order number (MLFB), module type, two versions.
fn module_identification(index: u16, record: &[u8], szl: &mut Szl) {
    let mut r = Cursor::new(record);
    let (Ok(mlfb), Ok(_type), Ok(ausbg), Ok(ausbe)) = (
        r.take(20, "MLFB"),
        r.u16be("module type"),
        r.u16be("version"),
        r.u16be("version"),
    ) else {
        return;
    };
    let order_number = text(mlfb);
    let some = |s: String| (!s.is_empty()).then_some(s);
    match index {
        0x0001 => {
            szl.order_number = some(order_number);
            szl.hardware_version = Some(ausbg);
        }
        0x0006 => szl.basic_hardware = some(order_number),
        0x0007 => {
            let [tag, major] = ausbg.to_be_bytes();
            let [minor, patch] = ausbe.to_be_bytes();
            if tag == b'V' {
                szl.firmware_version = Some(format!("V{major}.{minor}.{patch}"));
            }
        }
        _ => {}
    }
}

/// SZL 0x001c records: one text per index.
fn component_identification(index: u16, record: &[u8], szl: &mut Szl) {
    let value = {
        let text = text(record.get(..32.min(record.len())).unwrap_or_default());
        (!text.is_empty()).then_some(text)
    };
    match index {
        0x0001 => szl.plc_name = value,
        0x0002 => szl.module_name = value,
        0x0003 => szl.plant_id = value,
        0x0004 => szl.copyright = value,
        0x0005 => szl.serial_number = value,
        0x0007 => szl.module_type_name = value,
        0x0008 => szl.memory_card_serial = value,
        0x000b => szl.location = value,
        _ => {}
    }
}

/// Names of the job functions (S7comm protocol ids).
fn function_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0x00 => "cpu_services",
        0x04 => "read_var",
        0x05 => "write_var",
        0x1a => "request_download",
        0x1b => "download_block",
        0x1c => "download_ended",
        0x1d => "start_upload",
        0x1e => "upload",
        0x1f => "end_upload",
        0x28 => "plc_control",
        0x29 => "plc_stop",
        0xf0 => "setup_communication",
        _ => return None,
    })
}

fn report(summary: &Summary, out: &mut Vec<Finding>) {
    let mut f = Finding::new("s7comm", About::Sender);
    if summary.plus {
        f.set("plus", true);
    }
    if !summary.function_codes.is_empty() {
        f.set("function_codes", summary.function_codes.clone());
        let names: Vec<&str> = summary
            .function_codes
            .iter()
            .filter_map(|&c| function_name(c))
            .collect();
        f.set("functions", names);
    }
    if !summary.userdata_groups.is_empty() {
        f.set("userdata_groups", summary.userdata_groups.clone());
    }
    if summary.password {
        f.set("password_present", true);
    }
    let s = &summary.szl;
    f.set("setup.pdu_length", summary.pdu_length)
        .set("tsap.calling", summary.calling_tsap.clone())
        .set("tsap.called", summary.called_tsap.clone())
        .set("szl.order_number", s.order_number.clone())
        .set("szl.hardware_version", s.hardware_version)
        .set("szl.basic_hardware", s.basic_hardware.clone())
        .set("szl.firmware_version", s.firmware_version.clone())
        .set("szl.plc_name", s.plc_name.clone())
        .set("szl.module_name", s.module_name.clone())
        .set("szl.plant_id", s.plant_id.clone())
        .set("szl.copyright", s.copyright.clone())
        .set("szl.serial_number", s.serial_number.clone())
        .set("szl.module_type_name", s.module_type_name.clone())
        .set("szl.memory_card_serial", s.memory_card_serial.clone())
        .set("szl.location", s.location.clone());
    if !f.fields.is_empty() {
        out.push(f);
    }
}

#[cfg(test)]
mod tests;
