//! A small BER reader for SNMP: definite lengths of at most four bytes,
//! single-byte tags, no recursion (the caller walks SNMP's fixed shape), so
//! every step consumes input and nothing is allocated from a length field.

use super::ParseError;

pub const TAG_INTEGER: u8 = 0x02;
pub const TAG_OCTET_STRING: u8 = 0x04;
pub const TAG_OID: u8 = 0x06;
pub const TAG_SEQUENCE: u8 = 0x30;
/// Longest OID encoding accepted (RFC 2578: at most 128 sub-identifiers).
const MAX_OID_BYTES: usize = 256;

/// A cursor over consecutive TLVs.
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next TLV, whatever its tag.
    pub fn any(&mut self, what: &'static str) -> Result<(u8, &'a [u8]), ParseError> {
        let (&tag, after) = self.rest.split_first().ok_or(ParseError::Truncated(what))?;
        if tag & 0x1f == 0x1f {
            return Err(ParseError::Malformed(what));
        }
        let (&first, mut after) = after.split_first().ok_or(ParseError::Truncated(what))?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return Err(ParseError::Malformed(what));
            }
            let digits = after.get(..n).ok_or(ParseError::Truncated(what))?;
            after = after.get(n..).unwrap_or_default();
            digits
                .iter()
                .fold(0usize, |acc, &d| (acc << 8) | usize::from(d))
        };
        let value = after.get(..len).ok_or(ParseError::Truncated(what))?;
        self.rest = after.get(len..).unwrap_or_default();
        Ok((tag, value))
    }

    /// The next TLV's value, which must carry `tag`.
    pub fn value(&mut self, tag: u8, what: &'static str) -> Result<&'a [u8], ParseError> {
        match self.any(what)? {
            (t, value) if t == tag => Ok(value),
            _ => Err(ParseError::Malformed(what)),
        }
    }

    /// A reader over the next TLV's contents, which must carry `tag`.
    pub fn enter(&mut self, tag: u8, what: &'static str) -> Result<Reader<'a>, ParseError> {
        self.value(tag, what).map(Reader::new)
    }

    /// A non-negative integer of at most 8 bytes.
    pub fn uint(&mut self, tag: u8, what: &'static str) -> Result<u64, ParseError> {
        let value = self.value(tag, what)?;
        let value = match value {
            [0, rest @ ..] if !rest.is_empty() => rest,
            v => v,
        };
        if value.is_empty() || value.len() > 8 || value.first().is_some_and(|b| b & 0x80 != 0) {
            return Err(ParseError::Malformed(what));
        }
        Ok(value.iter().fold(0u64, |acc, &d| (acc << 8) | u64::from(d)))
    }
}

/// An OBJECT IDENTIFIER's contents in dotted form.
pub fn oid_string(bytes: &[u8]) -> Result<String, ParseError> {
    if bytes.is_empty() {
        return Err(ParseError::Malformed("snmp oid"));
    }
    if bytes.len() > MAX_OID_BYTES {
        return Err(ParseError::Limit("snmp oid"));
    }
    let mut parts: Vec<u64> = Vec::new();
    let mut acc = 0u64;
    let mut pending = false;
    for &b in bytes {
        if acc > (u64::MAX >> 7) {
            return Err(ParseError::Malformed("snmp oid sub-identifier"));
        }
        acc = (acc << 7) | u64::from(b & 0x7f);
        pending = true;
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let first = (acc / 40).min(2);
                parts.push(first);
                parts.push(acc - first * 40);
            } else {
                parts.push(acc);
            }
            acc = 0;
            pending = false;
        }
    }
    if pending {
        return Err(ParseError::Truncated("snmp oid"));
    }
    Ok(parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join("."))
}
