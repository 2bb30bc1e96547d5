//! NTP (RFC 5905): the version and mode tell an embedded SNTP client from a
//! full ntpd, and a server's stratum and reference id say what it syncs to
//! (a GPS clock, an upstream server).

use std::net::Ipv4Addr;

use super::{About, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError};

pub const DISSECTORS: &[Dissector] = &[Dissector {
    name: "ntp",
    probe,
    parse: Parse::Message(parse),
}];

fn probe(context: &Context, bytes: &[u8]) -> bool {
    context.carrier == Carrier::Udp
        && context.either_port(&[123])
        && bytes
            .first()
            .is_some_and(|b| (1..=4).contains(&((b >> 3) & 7)))
}

fn mode_name(mode: u8) -> &'static str {
    match mode {
        1 => "symmetric_active",
        2 => "symmetric_passive",
        3 => "client",
        4 => "server",
        5 => "broadcast",
        6 => "control",
        7 => "private",
        _ => "reserved",
    }
}

fn parse(
    _knowledge: &Knowledge,
    _context: &Context,
    bytes: &[u8],
    out: &mut Vec<Finding>,
) -> Result<(), ParseError> {
    let first = *bytes.first().ok_or(ParseError::Truncated("ntp header"))?;
    let version = (first >> 3) & 7;
    let mode = first & 7;
    if !(1..=4).contains(&version) {
        return Err(ParseError::Malformed("ntp version"));
    }
    let mut f = Finding::new("ntp", About::Sender);
    f.set("version", version);
    f.set("mode", mode_name(mode));
    // Control (6) and private (7) messages have another layout.
    if mode < 6 {
        let header = bytes.get(..48).ok_or(ParseError::Truncated("ntp header"))?;
        let stratum = header.get(1).copied().unwrap_or_default();
        let refid = header.get(12..16).unwrap_or_default();
        f.set("stratum", stratum);
        f.set("poll", header.get(2).copied().unwrap_or_default());
        f.set(
            "precision",
            header
                .get(3)
                .map(|&p| i8::from_ne_bytes([p]))
                .unwrap_or_default(),
        );
        let reference = match stratum {
            // Kiss code (0) or primary source (1): four ASCII characters.
            0 | 1 => {
                let s: String = refid
                    .iter()
                    .take_while(|&&b| b != 0)
                    .map(|&b| {
                        if b.is_ascii_graphic() {
                            char::from(b)
                        } else {
                            '?'
                        }
                    })
                    .collect();
                (!s.is_empty()).then_some(s)
            }
            _ => <[u8; 4]>::try_from(refid)
                .ok()
                .filter(|a| a != &[0; 4])
                .map(|a| Ipv4Addr::from(a).to_string()),
        };
        if let Some(r) = reference {
            f.set("reference_id", r);
        }
    }
    out.push(f);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
