//! ClientHello and ServerHello bodies, and the fingerprints computed from
//! them (JA3, JA3S, JA4). Shared by TLS over TCP and QUIC, which carry the
//! same handshake messages.

use sha2::{Digest, Sha256};

use crate::proto::cursor::{hex, md5_hex, push_hex};
use crate::proto::{Finding, ParseError};

/// A bounds-checked cursor over handshake bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf
    }

    pub(crate) fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ParseError> {
        match (self.buf.get(..n), self.buf.get(n..)) {
            (Some(head), Some(tail)) => {
                self.buf = tail;
                Ok(head)
            }
            _ => Err(ParseError::Truncated(what)),
        }
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, ParseError> {
        Ok(self.bytes(1, what)?.first().copied().unwrap_or_default())
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, ParseError> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_be_bytes([
            b.first().copied().unwrap_or_default(),
            b.get(1).copied().unwrap_or_default(),
        ]))
    }

    pub(crate) fn u24(&mut self, what: &'static str) -> Result<usize, ParseError> {
        let b = self.bytes(3, what)?;
        Ok(b.iter().fold(0usize, |acc, &x| (acc << 8) | usize::from(x)))
    }

    /// A vector with a one-byte length.
    pub(crate) fn vec8(&mut self, what: &'static str) -> Result<&'a [u8], ParseError> {
        let n = self.u8(what)?;
        self.bytes(usize::from(n), what)
    }

    /// A vector with a two-byte length.
    pub(crate) fn vec16(&mut self, what: &'static str) -> Result<&'a [u8], ParseError> {
        let n = self.u16(what)?;
        self.bytes(usize::from(n), what)
    }
}

/// The u16 values of a list (ciphers, groups, signature algorithms); an odd
/// trailing byte is ignored.
fn u16s(bytes: &[u8]) -> Vec<u16> {
    bytes
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect()
}

/// RFC 8701 GREASE values (0x0a0a, 0x1a1a ... 0xfafa), which clients
/// insert at random and every fingerprint ignores.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

pub const EXT_SNI: u16 = 0x0000;
pub const EXT_GROUPS: u16 = 0x000a;
pub const EXT_POINT_FORMATS: u16 = 0x000b;
pub const EXT_SIG_ALGS: u16 = 0x000d;
pub const EXT_ALPN: u16 = 0x0010;
pub const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;

/// What a ClientHello offers, GREASE values included (in sent order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientHello {
    pub legacy_version: u16,
    pub ciphers: Vec<u16>,
    pub extensions: Vec<u16>,
    pub sni: Option<String>,
    /// ALPN protocol names, raw bytes (JA4 needs them as sent).
    pub alpns: Vec<Vec<u8>>,
    pub groups: Vec<u16>,
    pub point_formats: Vec<u8>,
    pub sig_algs: Vec<u16>,
    pub supported_versions: Vec<u16>,
    /// DTLS only: the cookie echoed from a HelloVerifyRequest (empty in the
    /// first hello).
    pub cookie: Vec<u8>,
}

impl ClientHello {
    /// Parses a TLS ClientHello body (after the 4-byte handshake header).
    pub fn parse(body: &[u8]) -> Result<ClientHello, ParseError> {
        Self::parse_with(body, false)
    }

    /// Parses a ClientHello body; `dtls` when it came over DTLS, whose
    /// hello has a cookie after the session id (RFC 6347 section 4.2.1).
    pub fn parse_with(body: &[u8], dtls: bool) -> Result<ClientHello, ParseError> {
        let mut r = Reader::new(body);
        let mut hello = ClientHello {
            legacy_version: r.u16("client hello version")?,
            ..ClientHello::default()
        };
        r.bytes(32, "client hello random")?;
        r.vec8("client hello session id")?;
        if dtls {
            hello.cookie = r.vec8("client hello cookie")?.to_vec();
        }
        let ciphers = r.vec16("client hello ciphers")?;
        if ciphers.len() % 2 != 0 {
            return Err(ParseError::Malformed("odd cipher suites length"));
        }
        hello.ciphers = u16s(ciphers);
        r.vec8("client hello compression")?;
        if r.is_empty() {
            // No extensions at all (SSLv3, old TLS 1.0 stacks).
            return Ok(hello);
        }
        let mut exts = Reader::new(r.vec16("client hello extensions")?);
        while !exts.is_empty() {
            let kind = exts.u16("extension type")?;
            let data = exts.vec16("extension data")?;
            hello.extensions.push(kind);
            // A malformed extension body keeps its type in the fingerprints;
            // only its content is lost.
            let _ = hello.read_extension(kind, data);
        }
        Ok(hello)
    }

    fn read_extension(&mut self, kind: u16, data: &[u8]) -> Result<(), ParseError> {
        let mut r = Reader::new(data);
        match kind {
            EXT_SNI => {
                let mut list = Reader::new(r.vec16("server name list")?);
                while !list.is_empty() {
                    let name_type = list.u8("server name type")?;
                    let name = list.vec16("server name")?;
                    if name_type == 0 && self.sni.is_none() {
                        self.sni = Some(String::from_utf8_lossy(name).into_owned());
                    }
                }
            }
            EXT_ALPN => {
                let mut list = Reader::new(r.vec16("alpn list")?);
                while !list.is_empty() {
                    self.alpns.push(list.vec8("alpn name")?.to_vec());
                }
            }
            EXT_GROUPS => self.groups = u16s(r.vec16("supported groups")?),
            EXT_POINT_FORMATS => self.point_formats = r.vec8("point formats")?.to_vec(),
            EXT_SIG_ALGS => self.sig_algs = u16s(r.vec16("signature algorithms")?),
            EXT_SUPPORTED_VERSIONS => self.supported_versions = u16s(r.vec8("supported versions")?),
            _ => {}
        }
        Ok(())
    }

    /// The highest version offered: supported_versions if sent, else the
    /// hello's version field. DTLS numbers count down (1.2 is 0xfefd, 1.3
    /// 0xfefc), so among DTLS versions the newest is the smallest.
    pub fn max_version(&self) -> u16 {
        if self.extensions.contains(&EXT_SUPPORTED_VERSIONS) {
            let offered = self
                .supported_versions
                .iter()
                .copied()
                .filter(|v| !is_grease(*v));
            if self.supported_versions.iter().any(|v| is_dtls_version(*v)) {
                offered.filter(|v| is_dtls_version(*v)).min().unwrap_or(0)
            } else {
                offered.max().unwrap_or(0)
            }
        } else {
            self.legacy_version
        }
    }

    /// Salesforce JA3: version, ciphers, extensions, groups, point formats,
    /// in decimal, GREASE removed.
    pub fn ja3_string(&self) -> String {
        format!(
            "{},{},{},{},{}",
            self.legacy_version,
            dashed(self.ciphers.iter().copied()),
            dashed(self.extensions.iter().copied()),
            dashed(self.groups.iter().copied()),
            self.point_formats
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("-"),
        )
    }

    /// FoxIO's JA4 (the BSD-licensed TLS client fingerprint). `transport` is
    /// `'t'` (TCP), `'q'` (QUIC) or `'d'` (DTLS).
    pub fn ja4(&self, transport: char) -> String {
        let ciphers: Vec<u16> = self
            .ciphers
            .iter()
            .copied()
            .filter(|c| !is_grease(*c))
            .collect();
        let exts: Vec<u16> = self
            .extensions
            .iter()
            .copied()
            .filter(|e| !is_grease(*e))
            .collect();
        let sni = if self.extensions.contains(&EXT_SNI) {
            'd'
        } else {
            'i'
        };
        let alpn = ja4_alpn(self.alpns.first().map(Vec::as_slice).unwrap_or_default());
        let a = format!(
            "{transport}{}{sni}{:02}{:02}{alpn}",
            ja4_version(self.max_version()),
            ciphers.len().min(99),
            exts.len().min(99),
        );

        let mut sorted = ciphers;
        sorted.sort_unstable();
        let b = truncated_sha256(&hex_list(&sorted));

        let mut sorted: Vec<u16> = exts
            .into_iter()
            .filter(|e| *e != EXT_SNI && *e != EXT_ALPN)
            .collect();
        sorted.sort_unstable();
        let c = if sorted.is_empty() {
            truncated_sha256("")
        } else {
            let sig_algs: Vec<u16> = self
                .sig_algs
                .iter()
                .copied()
                .filter(|s| !is_grease(*s))
                .collect();
            let mut text = hex_list(&sorted);
            if !sig_algs.is_empty() {
                text.push('_');
                text.push_str(&hex_list(&sig_algs));
            }
            truncated_sha256(&text)
        };
        format!("{a}_{b}_{c}")
    }

    /// Sets the fields a ClientHello gives (in a `tls` or `quic` event):
    /// `sni`, `client_alpns`, `supported_versions`, `ja3`, `ja4` and the
    /// offered lists in `client_handshake`.
    pub fn set_fields(&self, finding: &mut Finding, transport: char) {
        finding.set("sni", self.sni.clone());
        if !self.alpns.is_empty() {
            let alpns: Vec<String> = self
                .alpns
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            finding.set("client_alpns", alpns);
        }
        let versions: Vec<String> = self
            .supported_versions
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .map(version_name)
            .collect();
        if !versions.is_empty() {
            finding.set("supported_versions", versions);
        }
        let ja3 = self.ja3_string();
        finding.set("ja3.hash", md5_hex(&ja3));
        finding.set("ja3.string", ja3);
        finding.set("ja4", self.ja4(transport));
        finding.set(
            "client_handshake.version",
            version_name(self.legacy_version),
        );
        for (name, list) in [
            ("ciphers", &self.ciphers),
            ("exts", &self.extensions),
            ("sig_algs", &self.sig_algs),
        ] {
            let list: Vec<u16> = list.iter().copied().filter(|x| !is_grease(*x)).collect();
            if !list.is_empty() {
                finding.set(&format!("client_handshake.{name}"), list);
            }
        }
    }
}

/// What a ServerHello chose.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerHello {
    pub legacy_version: u16,
    pub cipher: u16,
    pub extensions: Vec<u16>,
    /// From supported_versions (TLS 1.3).
    pub selected_version: Option<u16>,
    pub alpn: Option<Vec<u8>>,
}

impl ServerHello {
    /// Parses a ServerHello body (after the 4-byte handshake header).
    pub fn parse(body: &[u8]) -> Result<ServerHello, ParseError> {
        let mut r = Reader::new(body);
        let legacy_version = r.u16("server hello version")?;
        r.bytes(32, "server hello random")?;
        r.vec8("server hello session id")?;
        let mut hello = ServerHello {
            legacy_version,
            cipher: r.u16("server hello cipher")?,
            ..ServerHello::default()
        };
        r.u8("server hello compression")?;
        if r.is_empty() {
            return Ok(hello);
        }
        let mut exts = Reader::new(r.vec16("server hello extensions")?);
        while !exts.is_empty() {
            let kind = exts.u16("extension type")?;
            let data = exts.vec16("extension data")?;
            hello.extensions.push(kind);
            let mut d = Reader::new(data);
            match kind {
                EXT_SUPPORTED_VERSIONS => hello.selected_version = d.u16("selected version").ok(),
                EXT_ALPN => {
                    let alpn = d
                        .vec16("alpn list")
                        .and_then(|list| Reader::new(list).vec8("alpn name"));
                    hello.alpn = alpn.ok().map(<[u8]>::to_vec);
                }
                _ => {}
            }
        }
        Ok(hello)
    }

    /// The version in use: supported_versions' choice, else the version field.
    pub fn version(&self) -> u16 {
        self.selected_version.unwrap_or(self.legacy_version)
    }

    /// Salesforce JA3S: version, cipher, extensions, in decimal.
    pub fn ja3s_string(&self) -> String {
        format!(
            "{},{},{}",
            self.legacy_version,
            self.cipher,
            dashed(self.extensions.iter().copied())
        )
    }
}

fn dashed(values: impl Iterator<Item = u16>) -> String {
    values
        .filter(|v| !is_grease(*v))
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join("-")
}

fn hex_list(values: &[u16]) -> String {
    let mut out = String::with_capacity(5 * values.len());
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for b in v.to_be_bytes() {
            push_hex(&mut out, b, false);
        }
    }
    out
}

/// The first 12 hex digits of SHA-256, or twelve zeros for an empty list.
fn truncated_sha256(text: &str) -> String {
    if text.is_empty() {
        return "000000000000".to_string();
    }
    let mut hex = hex(&Sha256::digest(text.as_bytes()));
    hex.truncate(12);
    hex
}

/// A DTLS version number (0xfeff DTLS 1.0, 0xfefd 1.2, 0xfefc 1.3).
pub fn is_dtls_version(v: u16) -> bool {
    v >> 8 == 0xfe
}

/// JA4's two characters for a version.
fn ja4_version(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// JA4's ALPN characters: the first and last of the first protocol when
/// both are ASCII alphanumerics, else the first and last hex digits.
fn ja4_alpn(alpn: &[u8]) -> String {
    let (Some(&first), Some(&last)) = (alpn.first(), alpn.last()) else {
        return "00".to_string();
    };
    if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() {
        format!("{}{}", char::from(first), char::from(last))
    } else {
        let hex = hex(alpn);
        let first = hex.chars().next().unwrap_or('0');
        let last = hex.chars().last().unwrap_or('0');
        format!("{first}{last}")
    }
}

/// Suricata's names for protocol versions.
pub fn version_name(v: u16) -> String {
    match v {
        0x0002 => "SSLv2".to_string(),
        0x0300 => "SSLv3".to_string(),
        0x0301 => "TLS 1.0".to_string(),
        0x0302 => "TLS 1.1".to_string(),
        0x0303 => "TLS 1.2".to_string(),
        0x0304 => "TLS 1.3".to_string(),
        0xfeff => "DTLS 1.0".to_string(),
        0xfefd => "DTLS 1.2".to_string(),
        0xfefc => "DTLS 1.3".to_string(),
        // OpenSSL's pre-standard DTLS (DTLS1_BAD_VER, Cisco AnyConnect).
        0x0100 => "DTLS 0.9".to_string(),
        0x7f00..=0x7fff => format!("TLS 1.3 draft-{}", v & 0xff),
        _ => format!("0x{v:04x}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn grease_values() {
        assert!(is_grease(0x0a0a));
        assert!(is_grease(0xfafa));
        assert!(!is_grease(0x0a1a));
        assert!(!is_grease(0xeeee));
    }

    #[test]
    fn alpn_characters_follow_the_spec_examples() {
        // The examples of FoxIO's technical_details/JA4.md.
        assert_eq!(ja4_alpn(b"h2"), "h2");
        assert_eq!(ja4_alpn(b"http/1.1"), "h1");
        assert_eq!(ja4_alpn(b"x"), "xx");
        assert_eq!(ja4_alpn(b""), "00");
        assert_eq!(ja4_alpn(&[0xab]), "ab");
        assert_eq!(ja4_alpn(&[0x20]), "20");
        assert_eq!(ja4_alpn(&[0xab, 0xcd]), "ad");
        assert_eq!(ja4_alpn(&[0x20, 0x61]), "21");
        assert_eq!(ja4_alpn(&[0x30, 0xab]), "3b");
        assert_eq!(ja4_alpn(&[0x61, 0x20]), "60");
        assert_eq!(ja4_alpn(&[0x30, 0x31, 0xab, 0xcd]), "3d");
        assert_eq!(ja4_alpn(&[0x30, 0xab, 0xcd, 0x31]), "01");
    }

    #[test]
    fn hashes_follow_the_spec_example() {
        // The worked example of JA4.md.
        let hello = ClientHello {
            legacy_version: 0x0303,
            ciphers: vec![
                0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
                0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
            ],
            extensions: vec![
                0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023,
                0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015,
            ],
            alpns: vec![b"h2".to_vec()],
            sig_algs: vec![
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
            ],
            supported_versions: vec![0x0304, 0x0303],
            ..ClientHello::default()
        };
        assert_eq!(hello.ja4('t'), "t13d1516h2_8daaf6152771_e5627efa2ab1");
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(ClientHello::parse(&[]).is_err());
        assert!(ClientHello::parse(&[3, 3, 0]).is_err());
        assert!(ServerHello::parse(&[3]).is_err());
        for len in 0..60 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = ClientHello::parse(&bytes);
            let _ = ServerHello::parse(&bytes);
        }
    }
}
