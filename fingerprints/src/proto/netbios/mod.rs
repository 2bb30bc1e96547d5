//! NetBIOS name service (RFC 1002): names, suffixes and workgroup.
//!
//! Windows, Samba and many NAS and printers register their computer name and
//! workgroup by broadcast (UDP 137) and announce themselves to the browser
//! service by datagram (UDP 138): the names a device calls itself.

use super::cursor::be16;
use super::dns::wire::read_name;
use super::{About, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError};

pub const NAME_PORT: u16 = 137;
pub const DATAGRAM_PORT: u16 = 138;

/// Names listed in one node-status answer (the count is one byte).
const MAX_NAMES: usize = 255;

pub const DISSECTORS: &[Dissector] = &[
    Dissector {
        name: "netbios",
        probe: probe_ns,
        parse: Parse::Message(parse_ns),
    },
    Dissector {
        name: "netbios",
        probe: probe_dgm,
        parse: Parse::Message(parse_dgm),
    },
];

fn probe_ns(c: &Context, _: &[u8]) -> bool {
    c.carrier == Carrier::Udp && c.either_port(&[NAME_PORT])
}

fn probe_dgm(c: &Context, _: &[u8]) -> bool {
    c.carrier == Carrier::Udp && c.src_port == DATAGRAM_PORT && c.dst_port == DATAGRAM_PORT
}

/// A decoded NetBIOS name: 15 characters and the suffix byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NbName {
    pub name: String,
    pub suffix: u8,
}

impl NbName {
    /// As Wireshark prints it: `NAME<1d>`.
    pub fn display(&self) -> String {
        format!("{}<{:02x}>", self.name, self.suffix)
    }

    fn from_raw(raw: &[u8]) -> Option<NbName> {
        let (&suffix, chars) = raw.split_last()?;
        // Unprintable bytes shown as Wireshark shows them:
        // `<01><02>__MSBROWSE__<02><01>`.
        let name = if chars.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            String::from_utf8_lossy(chars).trim_end().to_string()
        } else {
            chars
                .iter()
                .map(|&b| {
                    if b.is_ascii_graphic() {
                        char::from(b).to_string()
                    } else {
                        format!("<{b:02x}>")
                    }
                })
                .collect::<String>()
                .trim_end()
                .to_string()
        };
        Some(NbName { name, suffix })
    }
}

/// First-level decoding (RFC 1001 §14.1): 32 letters 'A'..'P', two per byte.
pub fn decode_label(label: &[u8]) -> Option<NbName> {
    if label.len() != 32 {
        return None;
    }
    let mut raw = [0u8; 16];
    for (i, pair) in label.chunks_exact(2).enumerate() {
        let hi = pair.first()?.checked_sub(b'A').filter(|n| *n < 16)?;
        let lo = pair.get(1)?.checked_sub(b'A').filter(|n| *n < 16)?;
        *raw.get_mut(i)? = (hi << 4) | lo;
    }
    NbName::from_raw(&raw)
}

fn name_at(msg: &[u8], at: usize) -> Result<(NbName, usize), ParseError> {
    let (name, next) = read_name(msg, at)?;
    let first = name
        .0
        .first()
        .ok_or(ParseError::Malformed("netbios empty name"))?;
    let decoded =
        decode_label(first.as_bytes()).ok_or(ParseError::Malformed("netbios name encoding"))?;
    Ok((decoded, next))
}

fn opcode_name(op: u8) -> &'static str {
    match op {
        0 => "query",
        5 => "registration",
        6 => "release",
        7 => "wack",
        8 | 9 => "refresh",
        _ => "unknown",
    }
}

/// Puts a name the sender owns where it belongs: its computer name, its
/// workgroup or its domain. `group` is the NB flag's G bit when known.
fn own_name(f: &mut Finding, n: &NbName, group: Option<bool>) {
    match (n.suffix, group) {
        (0x00, Some(true)) | (0x1e, _) | (0x1d, _) => {
            f.set("workgroup", n.name.clone());
        }
        (0x1b | 0x1c, _) => {
            f.set("domain", n.name.clone());
        }
        (0x00 | 0x20, _) => {
            f.set("name", n.name.clone());
        }
        _ => {}
    }
}

fn parse_ns(
    _: &Knowledge,
    _: &Context,
    msg: &[u8],
    out: &mut Vec<Finding>,
) -> Result<(), ParseError> {
    let head = msg
        .get(..12)
        .ok_or(ParseError::Truncated("netbios header"))?;
    let word = |i: usize| u16::from_be_bytes([head[i], head[i + 1]]);
    let flags = word(2);
    let response = flags & 0x8000 != 0;
    let opcode = ((flags >> 11) & 0x0f) as u8;
    let (qd, an, ns, ar) = (word(4), word(6), word(8), word(10));
    let mut f = Finding::new("netbios", About::Sender);
    f.set("type", if response { "response" } else { "request" });
    f.set("opcode", opcode_name(opcode));
    f.set("id", word(0));
    let mut at = 12;
    let mut question = None;
    if qd > 0 {
        let (name, next) = name_at(msg, at)?;
        let qtype = be16(msg, next).ok_or(ParseError::Truncated("netbios question"))?;
        at = next + 4;
        f.set("rrname", name.display());
        f.set("rrtype", if qtype == 0x21 { "NBSTAT" } else { "NB" });
        question = Some(name);
    }
    // Registration, refresh and release requests carry the name and its
    // address in one additional record; answers in an answer record.
    let records = usize::from(an) + usize::from(ns) + usize::from(ar);
    let mut addresses = Vec::new();
    for _ in 0..records.min(8) {
        let Ok((name, next)) = name_at(msg, at) else {
            break;
        };
        let (Some(rtype), Some(rdlen)) = (be16(msg, next), be16(msg, next + 8)) else {
            return Err(ParseError::Truncated("netbios record"));
        };
        let start = next + 10;
        let rdata = msg
            .get(start..start + usize::from(rdlen))
            .ok_or(ParseError::Truncated("netbios rdata"))?;
        at = start + usize::from(rdlen);
        // Answers carry no question: the record names what was asked.
        if !f.fields.contains_key("rrname") {
            f.set("rrname", name.display());
        }
        match rtype {
            0x20 => {
                let mut group = None;
                for entry in rdata.chunks_exact(6) {
                    group.get_or_insert(entry[0] & 0x80 != 0);
                    let ip = std::net::Ipv4Addr::new(entry[2], entry[3], entry[4], entry[5]);
                    if addresses.len() < 16 {
                        addresses.push(ip.to_string());
                    }
                }
                // A request names the sender's own name; a positive query
                // answer is given by the name's owner.
                if !response || opcode == 0 {
                    own_name(&mut f, &name, group);
                }
            }
            0x21 if response => node_status(rdata, &mut f)?,
            _ => {}
        }
    }
    if !response && opcode != 0 {
        if let Some(name) = &question {
            if f.fields.get("name").is_none() && f.fields.get("workgroup").is_none() {
                own_name(&mut f, name, None);
            }
        }
    }
    if !addresses.is_empty() {
        f.set("addresses", addresses);
    }
    out.push(f);
    Ok(())
}

/// A node status answer (RFC 1002 §4.2.18): every name of the sender and
/// its unit id (MAC address).
fn node_status(rdata: &[u8], f: &mut Finding) -> Result<(), ParseError> {
    let (&count, rest) = rdata
        .split_first()
        .ok_or(ParseError::Truncated("netbios node status"))?;
    let mut names = Vec::new();
    let mut entries = rest.chunks_exact(18);
    for entry in entries.by_ref().take(usize::from(count).min(MAX_NAMES)) {
        let Some(name) = NbName::from_raw(entry.get(..16).unwrap_or_default()) else {
            continue;
        };
        let group = entry.get(16).map(|b| b & 0x80 != 0);
        names.push(name.display());
        own_name(f, &name, group);
    }
    if names.len() < usize::from(count) {
        return Err(ParseError::Truncated("netbios node status names"));
    }
    f.set("names", names);
    let stats = rest.get(usize::from(count) * 18..).unwrap_or_default();
    if let Some(mac) = stats.get(..6).and_then(crate::MacAddr::from_slice) {
        if mac.as_u64() != 0 {
            f.set("mac", mac.to_string());
        }
    }
    Ok(())
}

/// Datagram service (RFC 1002 §4.4): the source name is the sender's; the
/// destination of a browser announcement is its workgroup.
fn parse_dgm(
    _: &Knowledge,
    _: &Context,
    msg: &[u8],
    out: &mut Vec<Finding>,
) -> Result<(), ParseError> {
    let kind = *msg
        .first()
        .ok_or(ParseError::Truncated("netbios datagram"))?;
    if !(0x10..=0x12).contains(&kind) {
        // Errors and queries carry no source name.
        return Err(ParseError::Malformed("netbios datagram type"));
    }
    if msg.len() < 14 {
        return Err(ParseError::Truncated("netbios datagram header"));
    }
    let mut f = Finding::new("netbios", About::Sender);
    f.set("type", "datagram");
    let (source, next) = name_at(msg, 14)?;
    f.set("source_name", source.display());
    own_name(&mut f, &source, Some(false));
    if let Ok((dest, _)) = name_at(msg, next) {
        f.set("destination_name", dest.display());
        if matches!(dest.suffix, 0x1d | 0x1e) {
            f.set("workgroup", dest.name.clone());
        }
    }
    out.push(f);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::testing::{capture, messages};

    fn run(path: &str) -> Vec<(usize, Result<Vec<Finding>, ParseError>)> {
        let knowledge = Knowledge::default();
        messages(path)
            .into_iter()
            .filter_map(|m| {
                let d = DISSECTORS
                    .iter()
                    .find(|d| (d.probe)(&m.context, &m.bytes))?;
                let Parse::Message(p) = d.parse else {
                    return None;
                };
                let mut out = Vec::new();
                Some((
                    m.frame,
                    p(&knowledge, &m.context, &m.bytes, &mut out).map(|_| out),
                ))
            })
            .collect()
    }

    /// Question names and datagram source/destination names equal
    /// tshark's, frame by frame.
    #[test]
    fn names_equal_tshark() {
        let mut compared = 0;
        for path in ["ndpi/netbios.pcap", "ndpi/anyconnect-vpn.pcap"] {
            let ours = run(path);
            let table = std::fs::read_to_string(capture(&format!(
                "tshark/netbios_{}.tsv",
                path.replace('/', "_")
            )))
            .unwrap();
            for line in table.lines() {
                let cols: Vec<&str> = line.split('\t').collect();
                let frame: usize = cols[0].parse().unwrap();
                let (_, found) = ours.iter().find(|(n, _)| *n == frame).unwrap();
                let f = &found
                    .as_ref()
                    .unwrap_or_else(|e| panic!("{path} {frame}: {e}"))[0];
                // tshark adds the suffix's meaning to answer names.
                let first = cols[1].split('\u{1f}').next().unwrap();
                let first = first.split(" (").next().unwrap();
                if !first.is_empty() {
                    assert_eq!(f.fields["rrname"], first, "{path} {frame}");
                }
                if !cols[2].is_empty() {
                    assert_eq!(f.fields["source_name"], cols[2], "{path} {frame}");
                    assert_eq!(f.fields["destination_name"], cols[3], "{path} {frame}");
                }
                compared += 1;
            }
        }
        assert_eq!(compared, 273);
    }

    /// A Windows laptop registers its name (frame 561 of anyconnect-vpn);
    /// a datagram names the sender and its workgroup.
    #[test]
    fn registration_names_the_sender() {
        let ours = run("ndpi/anyconnect-vpn.pcap");
        let (_, f) = ours.iter().find(|(n, _)| *n == 561).unwrap();
        let f = &f.as_ref().unwrap()[0];
        assert_eq!(f.fields["opcode"], "registration");
        assert_eq!(f.fields["name"], "LP-B043053-W764");
        let ours = run("ndpi/netbios.pcap");
        let dgm = ours
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok())
            .flatten()
            .find(|f| f.fields.get("type").is_some_and(|t| t == "datagram"))
            .unwrap();
        assert!(dgm.fields.contains_key("name"));
    }

    #[test]
    fn hostile_input() {
        let knowledge = Knowledge::default();
        for m in messages("ndpi/anyconnect-vpn.pcap")
            .iter()
            .filter(|m| m.context.either_port(&[NAME_PORT]))
        {
            let mut out = Vec::new();
            for len in 0..m.bytes.len() {
                let _ = parse_ns(&knowledge, &m.context, &m.bytes[..len], &mut out);
            }
            for i in 0..m.bytes.len() {
                let mut b = m.bytes.clone();
                b[i] = 0xff;
                let _ = parse_ns(&knowledge, &m.context, &b, &mut out);
                let _ = parse_dgm(&knowledge, &m.context, &b, &mut out);
            }
        }
        assert_eq!(decode_label(b"ZZ"), None);
    }
}
