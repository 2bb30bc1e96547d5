//! SSH: the identification banner names the implementation and version
//! (`OpenSSH_7.4`, `dropbear_2019.78`, an embedded stack), and the KEXINIT
//! algorithm lists fingerprint the client or server (HASSH, Salesforce).

use super::cursor::{be32, md5_hex};
use super::{About, Context, Dissector, Finding, Knowledge, Parse, ParseError, Progress};

pub const DISSECTORS: &[Dissector] = &[Dissector {
    name: "ssh",
    probe,
    parse: Parse::Stream(parse),
}];

/// RFC 4253 4.2: a server may send other lines before its banner.
const MAX_PRELUDE: usize = 8 * 1024;
/// RFC 4253 4.2: the identification line is at most 255 bytes.
const MAX_BANNER: usize = 255;
/// RFC 4253 6.1: packets of at least 35000 bytes must be handled; a
/// KEXINIT is far smaller.
const MAX_PACKET: usize = 35_000;
const MSG_KEXINIT: u8 = 20;

fn probe(context: &Context, bytes: &[u8]) -> bool {
    context.carrier == super::Carrier::Tcp && bytes.starts_with(b"SSH-")
}

/// The banner line's end: (line without CR LF, bytes after it).
/// A line and the bytes after it.
type Line<'a> = (&'a [u8], &'a [u8]);

fn banner(bytes: &[u8]) -> Result<Option<Line<'_>>, ParseError> {
    let mut rest = bytes;
    // Each line consumes at least its LF: bounded by MAX_PRELUDE.
    loop {
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            if rest.starts_with(b"SSH-") && rest.len() > MAX_BANNER {
                return Err(ParseError::Limit("ssh banner"));
            }
            if bytes.len() > MAX_PRELUDE {
                return Err(ParseError::Limit("ssh lines before the banner"));
            }
            return Ok(None);
        };
        let line = rest.get(..end).unwrap_or_default();
        let after = rest.get(end + 1..).unwrap_or_default();
        if line.starts_with(b"SSH-") {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            return Ok(Some((line, after)));
        }
        if bytes.len() - after.len() > MAX_PRELUDE {
            return Err(ParseError::Limit("ssh lines before the banner"));
        }
        rest = after;
    }
}

/// A length field: the big-endian u32 at `at`.
fn length_at(bytes: &[u8], at: usize) -> Option<usize> {
    usize::try_from(be32(bytes, at)?).ok()
}

/// The KEXINIT's ten name-lists, from its payload (message type first).
fn name_lists(payload: &[u8]) -> Result<Vec<String>, ParseError> {
    // Type (1) and cookie (16).
    let mut at = 17usize;
    let mut lists = Vec::with_capacity(10);
    for _ in 0..10 {
        let len = length_at(payload, at).ok_or(ParseError::Truncated("ssh kexinit name-list"))?;
        let start = at + 4;
        let list = start
            .checked_add(len)
            .and_then(|end| payload.get(start..end))
            .ok_or(ParseError::Malformed("ssh kexinit name-list length"))?;
        if !list.is_ascii() {
            return Err(ParseError::Malformed("ssh kexinit name-list"));
        }
        lists.push(String::from_utf8_lossy(list).into_owned());
        at = start + len;
    }
    Ok(lists)
}

fn parse(
    _knowledge: &Knowledge,
    context: &Context,
    bytes: &[u8],
    last: bool,
    out: &mut Vec<Finding>,
) -> Result<Progress, ParseError> {
    let Some((line, after)) = banner(bytes)? else {
        return if last {
            Err(ParseError::Truncated("ssh banner"))
        } else {
            Ok(Progress::NeedMore)
        };
    };
    let side = if context.to_server {
        "client"
    } else {
        "server"
    };
    // "SSH-protoversion-softwareversion SP comments".
    let ident = line.get(4..).unwrap_or_default();
    let ident = String::from_utf8_lossy(ident);
    let (proto, software) = ident
        .split_once('-')
        .ok_or(ParseError::Malformed("ssh banner"))?;
    let software = software.split_once(' ').map_or(software, |(s, _)| s);
    let mut f = Finding::new("ssh", About::Sender);
    f.set(&format!("{side}.proto_version"), proto);
    f.set(&format!("{side}.software_version"), software);
    match kexinit(after, last)? {
        Some(lists) => {
            // HASSH: kex;enc;mac;cmp of the sender's own direction.
            let (enc, mac, cmp) = if context.to_server {
                (2, 4, 6)
            } else {
                (3, 5, 7)
            };
            let get = |i: usize| lists.get(i).map(String::as_str).unwrap_or_default();
            let string = format!("{};{};{};{}", get(0), get(enc), get(mac), get(cmp));
            f.set(&format!("{side}.hassh.hash"), md5_hex(&string));
            f.set(&format!("{side}.hassh.string"), string);
        }
        None if !last => return Ok(Progress::NeedMore),
        None => {}
    }
    out.push(f);
    Ok(Progress::Done)
}

/// The first binary packet after the banner, if it is a whole KEXINIT.
fn kexinit(bytes: &[u8], last: bool) -> Result<Option<Vec<String>>, ParseError> {
    let Some(len) = length_at(bytes, 0) else {
        return Ok(None);
    };
    if len > MAX_PACKET {
        return Err(ParseError::Limit("ssh packet length"));
    }
    let Some(packet) = bytes.get(4..4 + len) else {
        return if last {
            Err(ParseError::Truncated("ssh kexinit"))
        } else {
            Ok(None)
        };
    };
    let padding = usize::from(*packet.first().ok_or(ParseError::Malformed("ssh packet"))?);
    let payload = packet
        .get(1..len.saturating_sub(padding))
        .filter(|p| !p.is_empty())
        .ok_or(ParseError::Malformed("ssh packet padding"))?;
    if payload.first() != Some(&MSG_KEXINIT) {
        return Err(ParseError::Malformed("ssh first packet is not kexinit"));
    }
    name_lists(payload).map(Some)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
