//! CoAP (RFC 7252): constrained devices name their resources in Uri-Path,
//! and a `/.well-known/core` answer (RFC 6690 link format) lists what the
//! device offers (`</sensors/temp>;rt="temperature-c"`).

use super::{About, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError};

pub const DISSECTORS: &[Dissector] = &[Dissector {
    name: "coap",
    probe,
    parse: Parse::Message(parse),
}];

/// Options read per message, links kept, and path segments kept.
const MAX_OPTIONS: usize = 64;
const MAX_LINKS: usize = 32;
const MAX_TEXT: usize = 256;
const URI_PATH: u32 = 11;
const CONTENT_FORMAT: u32 = 12;
/// Content-Format 40: application/link-format.
const LINK_FORMAT: u32 = 40;

fn probe(context: &Context, bytes: &[u8]) -> bool {
    context.carrier == Carrier::Udp
        && context.either_port(&[5683])
        && bytes.first().is_some_and(|b| b >> 6 == 1 && b & 0x0f <= 8)
}

fn code_name(code: u8) -> String {
    match code {
        1 => "GET".into(),
        2 => "POST".into(),
        3 => "PUT".into(),
        4 => "DELETE".into(),
        5 => "FETCH".into(),
        6 => "PATCH".into(),
        7 => "iPATCH".into(),
        c => format!("{}.{:02}", c >> 5, c & 0x1f),
    }
}

/// An option's extended delta or length (RFC 7252 3.1).
fn extended(nibble: u8, rest: &mut &[u8]) -> Result<u32, ParseError> {
    let (value, used) = match nibble {
        13 => (
            u32::from(*rest.first().ok_or(ParseError::Truncated("coap option"))?) + 13,
            1,
        ),
        14 => {
            let b = rest.get(..2).ok_or(ParseError::Truncated("coap option"))?;
            let v = u16::from_be_bytes([
                b.first().copied().unwrap_or_default(),
                b.get(1).copied().unwrap_or_default(),
            ]);
            (u32::from(v) + 269, 2)
        }
        15 => return Err(ParseError::Malformed("coap option nibble 15")),
        n => (u32::from(n), 0),
    };
    *rest = rest.get(used..).unwrap_or_default();
    Ok(value)
}

fn parse(
    _knowledge: &Knowledge,
    _context: &Context,
    bytes: &[u8],
    out: &mut Vec<Finding>,
) -> Result<(), ParseError> {
    let header = bytes.get(..4).ok_or(ParseError::Truncated("coap header"))?;
    let (first, code) = (
        header.first().copied().unwrap_or_default(),
        header.get(1).copied().unwrap_or_default(),
    );
    if first >> 6 != 1 {
        return Err(ParseError::Malformed("coap version"));
    }
    let tkl = usize::from(first & 0x0f);
    if tkl > 8 {
        return Err(ParseError::Malformed("coap token length"));
    }
    let message_id = u16::from_be_bytes([
        header.get(2).copied().unwrap_or_default(),
        header.get(3).copied().unwrap_or_default(),
    ]);
    let mut rest = bytes
        .get(4 + tkl..)
        .ok_or(ParseError::Truncated("coap token"))?;
    let mut f = Finding::new("coap", About::Sender);
    let kind = match (first >> 4) & 3 {
        0 => "CON",
        1 => "NON",
        2 => "ACK",
        _ => "RST",
    };
    f.set("type", kind);
    f.set("code", code_name(code));
    f.set("message_id", message_id);
    let mut number = 0u32;
    let mut path: Vec<String> = Vec::new();
    let mut format = None;
    let mut payload: &[u8] = &[];
    for _ in 0..MAX_OPTIONS {
        let Some((&b, after)) = rest.split_first() else {
            break;
        };
        if b == 0xff {
            payload = after;
            break;
        }
        rest = after;
        let delta = extended(b >> 4, &mut rest)?;
        let len = extended(b & 0x0f, &mut rest)?;
        let len = usize::try_from(len).map_err(|_| ParseError::Malformed("coap option length"))?;
        let value = rest
            .get(..len)
            .ok_or(ParseError::Truncated("coap option value"))?;
        rest = rest.get(len..).unwrap_or_default();
        number = number
            .checked_add(delta)
            .ok_or(ParseError::Malformed("coap option number"))?;
        match number {
            URI_PATH => {
                let v = value.get(..MAX_TEXT).unwrap_or(value);
                path.push(String::from_utf8_lossy(v).into_owned());
            }
            CONTENT_FORMAT => {
                format = Some(value.iter().fold(0u32, |acc, &d| (acc << 8) | u32::from(d)));
            }
            _ => {}
        }
    }
    if !path.is_empty() {
        f.set("uri_path", format!("/{}", path.join("/")));
    }
    if code == 0x45 && format == Some(LINK_FORMAT) {
        let text = String::from_utf8_lossy(payload.get(..8192).unwrap_or(payload)).into_owned();
        let links: Vec<serde_json::Value> = text
            .split(',')
            .filter_map(|l| {
                let l = l.trim();
                let start = l.find('<')?;
                let end = l.find('>')?;
                l.get(start + 1..end)
                    .map(|s| serde_json::Value::from(s.to_string()))
            })
            .take(MAX_LINKS)
            .collect();
        if !links.is_empty() {
            f.set("links", links);
        }
    }
    out.push(f);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
