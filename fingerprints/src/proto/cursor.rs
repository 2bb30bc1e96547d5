//! Bounds-checked reading of packet bytes, shared by the protocol modules:
//! a cursor whose every read says what was truncated instead of panicking,
//! and the small readers and formatters many protocols need.

use crate::proto::ParseError;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ParseError> {
        let end = self.pos.checked_add(n).ok_or(ParseError::Truncated(what))?;
        let bytes = self
            .buf
            .get(self.pos..end)
            .ok_or(ParseError::Truncated(what))?;
        self.pos = end;
        Ok(bytes)
    }

    pub(crate) fn skip(&mut self, n: usize, what: &'static str) -> Result<(), ParseError> {
        self.take(n, what).map(|_| ())
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, ParseError> {
        Ok(self.take(1, what)?.first().copied().unwrap_or_default())
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], ParseError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    pub(crate) fn u16be(&mut self, what: &'static str) -> Result<u16, ParseError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u16le(&mut self, what: &'static str) -> Result<u16, ParseError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u32be(&mut self, what: &'static str) -> Result<u32, ParseError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u32le(&mut self, what: &'static str) -> Result<u32, ParseError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
}

/// Text as a device wrote it: lossy UTF-8, trailing NULs and spaces cut.
pub(crate) fn text(bytes: &[u8]) -> String {
    let end = bytes
        .iter()
        .rposition(|&b| b != 0 && b != b' ')
        .map_or(0, |i| i + 1);
    let bytes = bytes.get(..end).unwrap_or_default();
    let cut = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(bytes.get(..cut).unwrap_or_default()).into_owned()
}

/// Adds `value` to a small sorted set kept as a vector, up to `cap` entries.
pub(crate) fn insert_bounded<T: Ord>(set: &mut Vec<T>, value: T, cap: usize) {
    if let Err(at) = set.binary_search(&value)
        && set.len() < cap
    {
        set.insert(at, value);
    }
}

/// How the OT stream parsers read a direction: its messages are read from
/// the start and summarised (function codes, addresses, identity); more
/// bytes are asked for until `max` messages, the end of the direction, or
/// an error other than a message cut short. `read` fills the summary and
/// returns how many messages it read; `what` names the header an empty
/// direction lacks.
pub(crate) fn summarise<S: Default>(
    bytes: &[u8],
    last: bool,
    max: usize,
    what: &'static str,
    read: impl FnOnce(&[u8], &mut S) -> (usize, Option<ParseError>),
    report: impl FnOnce(&S, &mut Vec<crate::proto::Finding>),
    out: &mut Vec<crate::proto::Finding>,
) -> Result<crate::proto::Progress, ParseError> {
    let mut summary = S::default();
    let (messages, error) = read(bytes, &mut summary);
    let truncated = matches!(error, Some(ParseError::Truncated(_)));
    if !last && messages < max && (error.is_none() || truncated) {
        return Ok(crate::proto::Progress::NeedMore);
    }
    if messages == 0 {
        return Err(error.unwrap_or(ParseError::Truncated(what)));
    }
    report(&summary, out);
    Ok(crate::proto::Progress::Done)
}

/// The big-endian u16 at `at`, if the bytes hold it.
pub(crate) fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(*bytes.get(at..)?.first_chunk::<2>()?))
}

/// The big-endian u32 at `at`, if the bytes hold it.
pub(crate) fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(*bytes.get(at..)?.first_chunk::<4>()?))
}

/// Lower-case hex digits, no separator (hashes).
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 * bytes.len());
    for &b in bytes {
        push_hex(&mut out, b, false);
    }
    out
}

/// Hex bytes joined by colons (`01:00:1a`), as identifiers and serials
/// are usually shown.
pub(crate) fn colon_hex(bytes: &[u8], upper: bool) -> String {
    let mut out = String::with_capacity(3 * bytes.len());
    for (i, &b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        push_hex(&mut out, b, upper);
    }
    out
}

/// Appends a byte's two hex digits (hashes and fingerprints are built on
/// the hot path: a table instead of the formatting machinery).
pub(crate) fn push_hex(out: &mut String, b: u8, upper: bool) {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    out.push(char::from(digits[usize::from(b >> 4)]));
    out.push(char::from(digits[usize::from(b & 0xf)]));
}

/// The MD5 of a text in lower-case hex (JA3, JA3S, HASSH).
pub(crate) fn md5_hex(text: &str) -> String {
    use md5::Digest;
    hex(&md5::Md5::digest(text.as_bytes()))
}

/// A string field as sent: lossy UTF-8, trailing NULs cut (DHCP options,
/// PROFINET names).
pub(crate) fn nul_trimmed_text(bytes: &[u8]) -> String {
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    String::from_utf8_lossy(bytes.get(..end).unwrap_or_default()).into_owned()
}

/// A line of text a device describes itself with (LLDP, CDP, SNMP): at
/// most `max` bytes, lossy UTF-8, without trailing NULs, blanks and line
/// ends.
pub(crate) fn line_text(bytes: &[u8], max: usize) -> String {
    let bytes = bytes.get(..max).unwrap_or(bytes);
    String::from_utf8_lossy(bytes)
        .trim_end_matches(['\0', ' ', '\r', '\n'])
        .to_string()
}
