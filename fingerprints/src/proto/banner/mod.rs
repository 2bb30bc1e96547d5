//! Telnet and FTP server banners: embedded devices greet with their model
//! and firmware (`220 Printer FTP 4.8.7 ready`, `BusyBox v1.19 ... login:`).
//! Only the server's greeting is read; what the client types (user names,
//! passwords) is not.

use super::{About, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError, Progress};

pub const DISSECTORS: &[Dissector] = &[
    Dissector {
        name: "ftp",
        probe: probe_ftp,
        parse: Parse::Stream(parse_ftp),
    },
    Dissector {
        name: "telnet",
        probe: probe_telnet,
        parse: Parse::Stream(parse_telnet),
    },
];

/// Bytes read while looking for a banner.
const MAX_SCAN: usize = 4096;
/// Longest banner kept.
const MAX_BANNER: usize = 256;
const TELNET_PORTS: [u16; 2] = [23, 2323];

fn probe_ftp(context: &Context, bytes: &[u8]) -> bool {
    context.carrier == Carrier::Tcp && context.server_port() == 21 && bytes.starts_with(b"220")
}

fn probe_telnet(context: &Context, _bytes: &[u8]) -> bool {
    context.carrier == Carrier::Tcp && TELNET_PORTS.contains(&context.server_port())
}

fn clip(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(MAX_BANNER) {
        Some((at, _)) => s.get(..at).unwrap_or(s).to_string(),
        None => s.to_string(),
    }
}

/// The server's "220" greeting (RFC 959 4.2): its first line's text; a
/// multi-line reply ("220-") is taken whole, lines joined by a newline.
fn parse_ftp(
    _knowledge: &Knowledge,
    context: &Context,
    bytes: &[u8],
    last: bool,
    out: &mut Vec<Finding>,
) -> Result<Progress, ParseError> {
    if context.to_server {
        return Ok(Progress::Done);
    }
    if !bytes.starts_with(b"220") {
        return Err(ParseError::Malformed("ftp greeting"));
    }
    let scan = bytes.get(..MAX_SCAN).unwrap_or(bytes);
    let text = String::from_utf8_lossy(scan);
    let mut lines = Vec::new();
    let mut complete = false;
    // Bounded by MAX_SCAN bytes.
    for line in text.split_inclusive('\n') {
        if !line.ends_with('\n') {
            break;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if lines.is_empty() {
            let rest = line.get(3..).unwrap_or_default();
            lines.push(rest.get(1..).unwrap_or_default().to_string());
            if !rest.starts_with('-') {
                complete = true;
                break;
            }
        } else if let Some(rest) = line.strip_prefix("220 ") {
            lines.push(rest.to_string());
            complete = true;
            break;
        } else {
            lines.push(line.strip_prefix("220-").unwrap_or(line).to_string());
        }
    }
    if !complete {
        if !last && bytes.len() < MAX_SCAN {
            return Ok(Progress::NeedMore);
        }
        if lines.is_empty() {
            return Err(ParseError::Truncated("ftp greeting"));
        }
    }
    let banner: Vec<&str> = lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    let mut f = Finding::new("ftp", About::Sender);
    f.set("banner", clip(&banner.join("\n")));
    out.push(f);
    Ok(Progress::Done)
}

/// The server's first printable line, Telnet option negotiation (IAC
/// commands, RFC 854/855) skipped.
fn parse_telnet(
    _knowledge: &Knowledge,
    context: &Context,
    bytes: &[u8],
    last: bool,
    out: &mut Vec<Finding>,
) -> Result<Progress, ParseError> {
    if context.to_server {
        return Ok(Progress::Done);
    }
    let scan = bytes.get(..MAX_SCAN).unwrap_or(bytes);
    let mut text = Vec::new();
    let mut at = 0usize;
    let mut line = None;
    while let Some(&b) = scan.get(at) {
        if b == 0xff {
            match scan.get(at + 1) {
                // WILL, WONT, DO, DONT and their option.
                Some(251..=254) => at += 3,
                // Subnegotiation up to IAC SE.
                Some(250) => {
                    let end = scan
                        .get(at + 2..)
                        .and_then(|r| r.windows(2).position(|w| w == [0xff, 240]));
                    match end {
                        Some(e) => at += 2 + e + 2,
                        None => break,
                    }
                }
                Some(_) => at += 2,
                None => break,
            }
            continue;
        }
        at += 1;
        if b == b'\n' || b == b'\r' {
            let s = String::from_utf8_lossy(&text).trim().to_string();
            if !s.is_empty() {
                line = Some(s);
                break;
            }
            text.clear();
        } else if b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80 {
            text.push(b);
        }
    }
    let line = match line {
        Some(l) => l,
        None => {
            let s = String::from_utf8_lossy(&text).trim().to_string();
            // A prompt without newline ("login: ") counts once the stream
            // has nothing more to give.
            if !last && bytes.len() < MAX_SCAN {
                return Ok(Progress::NeedMore);
            }
            if s.is_empty() {
                return Err(ParseError::Truncated("telnet banner"));
            }
            s
        }
    };
    let mut f = Finding::new("telnet", About::Sender);
    f.set("banner", clip(&line));
    out.push(f);
    Ok(Progress::Done)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
