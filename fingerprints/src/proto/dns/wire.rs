//! A bounded DNS message reader. Our own rather than simple-dns because a
//! passive sensor wants every record it can read: simple-dns rejects a whole
//! message for one record of an unknown class or a truncated tail (mDNS
//! responders cut at the MTU), losing the records before it.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::proto::ParseError;
use crate::proto::cursor::be16;

/// Compression pointers followed for one name; RFC 1035 names have at most
/// 127 labels, so more jumps than this is a loop.
const MAX_JUMPS: usize = 64;
/// A name's length on the wire (RFC 1035 §2.3.4).
const MAX_NAME: usize = 255;
/// Records read from one message.
const MAX_RECORDS: usize = 256;

pub const TYPE_A: u16 = 1;
pub const TYPE_NS: u16 = 2;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_MX: u16 = 15;
pub const TYPE_TXT: u16 = 16;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_SRV: u16 = 33;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub id: u16,
    pub response: bool,
    pub opcode: u8,
    pub rcode: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub name: Name,
    pub rtype: u16,
}

/// A domain name as its labels (a label may itself hold dots: DNS-SD
/// instance names do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Name(pub Vec<String>);

impl Name {
    pub fn dotted(&self) -> String {
        self.0.join(".")
    }

    pub fn first(&self) -> Option<&str> {
        self.0.first().map(String::as_str)
    }

    /// The name without its first label.
    pub fn parent(&self) -> String {
        self.0.get(1..).unwrap_or_default().join(".")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    /// PTR, CNAME, NS.
    Name(Name),
    Mx(u16, Name),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: Name,
    },
    Txt(Vec<Vec<u8>>),
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: Name,
    pub rtype: u16,
    pub rdata: RData,
}

/// Which section a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Answer,
    Authority,
    Additional,
}

#[derive(Debug, Clone, Default)]
pub struct Message {
    pub header: Option<Header>,
    pub questions: Vec<Question>,
    pub records: Vec<(Section, Record)>,
    /// The message ended or broke before all its counted records were read.
    pub incomplete: bool,
}

/// Reads the name at `at`; returns it and the offset after it (after the
/// first pointer when compressed).
pub fn read_name(msg: &[u8], at: usize) -> Result<(Name, usize), ParseError> {
    let mut labels = Vec::new();
    let mut pos = at;
    let mut end = None;
    let mut jumps = 0;
    let mut wire_len = 0usize;
    loop {
        let len = *msg.get(pos).ok_or(ParseError::Truncated("dns name"))?;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    let next = end.unwrap_or(pos + 1);
                    return Ok((Name(labels), next));
                }
                let start = pos + 1;
                let stop = start + usize::from(len);
                let label = msg
                    .get(start..stop)
                    .ok_or(ParseError::Truncated("dns label"))?;
                wire_len += usize::from(len) + 1;
                if wire_len > MAX_NAME {
                    return Err(ParseError::Limit("dns name length"));
                }
                labels.push(String::from_utf8_lossy(label).into_owned());
                pos = stop;
            }
            0xc0 => {
                let target = usize::from(
                    be16(msg, pos).ok_or(ParseError::Truncated("dns pointer"))? & 0x3fff,
                );
                jumps += 1;
                if jumps > MAX_JUMPS {
                    return Err(ParseError::Limit("dns compression pointers"));
                }
                end.get_or_insert(pos + 2);
                pos = target;
            }
            _ => return Err(ParseError::Malformed("dns label type")),
        }
    }
}

fn read_rdata(msg: &[u8], rtype: u16, start: usize, data: &[u8]) -> Result<RData, ParseError> {
    Ok(match rtype {
        TYPE_A => match <[u8; 4]>::try_from(data) {
            Ok(a) => RData::A(Ipv4Addr::from(a)),
            Err(_) => return Err(ParseError::Malformed("dns A length")),
        },
        TYPE_AAAA => match <[u8; 16]>::try_from(data) {
            Ok(a) => RData::Aaaa(Ipv6Addr::from(a)),
            Err(_) => return Err(ParseError::Malformed("dns AAAA length")),
        },
        TYPE_PTR | TYPE_CNAME | TYPE_NS => RData::Name(read_name(msg, start)?.0),
        TYPE_MX => {
            let pref = be16(msg, start).ok_or(ParseError::Truncated("dns MX"))?;
            RData::Mx(pref, read_name(msg, start + 2)?.0)
        }
        TYPE_SRV => {
            let field = |i: usize| be16(data, i).ok_or(ParseError::Truncated("dns SRV"));
            RData::Srv {
                priority: field(0)?,
                weight: field(2)?,
                port: field(4)?,
                target: read_name(msg, start + 6)?.0,
            }
        }
        TYPE_TXT => {
            let mut strings = Vec::new();
            let mut rest = data;
            while let Some((&len, tail)) = rest.split_first() {
                let s = tail
                    .get(..usize::from(len))
                    .ok_or(ParseError::Truncated("dns TXT"))?;
                strings.push(s.to_vec());
                rest = tail.get(usize::from(len)..).unwrap_or_default();
            }
            RData::Txt(strings)
        }
        _ => RData::Other,
    })
}

/// Reads a message as far as it goes: a broken header is an error; a broken
/// record ends the reading, keeping what came before (`incomplete`).
pub fn parse(msg: &[u8]) -> Result<Message, ParseError> {
    let head = msg.get(..12).ok_or(ParseError::Truncated("dns header"))?;
    let word = |i: usize| u16::from_be_bytes([head[i], head[i + 1]]);
    let flags = word(2);
    let mut out = Message {
        header: Some(Header {
            id: word(0),
            response: flags & 0x8000 != 0,
            opcode: ((flags >> 11) & 0x0f) as u8,
            rcode: (flags & 0x0f) as u8,
        }),
        ..Message::default()
    };
    let counts = [word(4), word(6), word(8), word(10)];
    let mut at = 12;
    for _ in 0..counts[0] {
        if out.questions.len() >= MAX_RECORDS {
            out.incomplete = true;
            return Ok(out);
        }
        let Ok((name, next)) = read_name(msg, at) else {
            out.incomplete = true;
            return Ok(out);
        };
        let Some(rtype) = be16(msg, next) else {
            out.incomplete = true;
            return Ok(out);
        };
        if msg.len() < next + 4 {
            out.incomplete = true;
            return Ok(out);
        }
        out.questions.push(Question { name, rtype });
        at = next + 4;
    }
    let sections = [
        (Section::Answer, counts[1]),
        (Section::Authority, counts[2]),
        (Section::Additional, counts[3]),
    ];
    for (section, count) in sections {
        for _ in 0..count {
            if out.records.len() >= MAX_RECORDS {
                out.incomplete = true;
                return Ok(out);
            }
            match read_record(msg, at) {
                Ok((record, next)) => {
                    out.records.push((section, record));
                    at = next;
                }
                Err(_) => {
                    out.incomplete = true;
                    return Ok(out);
                }
            }
        }
    }
    Ok(out)
}

fn read_record(msg: &[u8], at: usize) -> Result<(Record, usize), ParseError> {
    let (name, next) = read_name(msg, at)?;
    let rtype = be16(msg, next).ok_or(ParseError::Truncated("dns record"))?;
    let rdlen = be16(msg, next + 8).ok_or(ParseError::Truncated("dns record"))?;
    let start = next + 10;
    let end = start + usize::from(rdlen);
    let data = msg
        .get(start..end)
        .ok_or(ParseError::Truncated("dns rdata"))?;
    let rdata = read_rdata(msg, rtype, start, data).unwrap_or(RData::Other);
    Ok((Record { name, rtype, rdata }, end))
}

/// The mnemonic Suricata prints for a record type.
pub fn type_name(rtype: u16) -> String {
    match rtype {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        35 => "NAPTR",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        64 => "SVCB",
        65 => "HTTPS",
        255 => "ANY",
        other => return format!("TYPE{other}"),
    }
    .to_string()
}

/// The mnemonic Suricata prints for a response code.
pub fn rcode_name(rcode: u8) -> String {
    match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        other => return format!("RCODE{other}"),
    }
    .to_string()
}
