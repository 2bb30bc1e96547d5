//! The IEEE MAC address block registry (MA-L, MA-M, MA-S and the older IAB),
//! loaded from `data/oui.tsv` (format in `data/README.md`).
//!
//! A MAC belongs to the longest registered prefix that covers it: a 36-bit
//! MA-S block inside a 24-bit MA-L block names the small vendor, not the
//! block's holder (often the IEEE itself or a module maker).

use serde::Serialize;

use crate::DataError;
use crate::mac::MacAddr;

/// The snapshot of the registry shipped with mirador.
pub const BUILTIN_OUI_TSV: &str = include_str!("../data/oui.tsv");

/// The size of a registered block, named after the IEEE registry that assigns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Registry {
    /// 24-bit prefix (OUI).
    #[serde(rename = "MA-L")]
    MaL,
    /// 28-bit prefix.
    #[serde(rename = "MA-M")]
    MaM,
    /// 36-bit prefix (MA-S, and IAB blocks which have the same size).
    #[serde(rename = "MA-S")]
    MaS,
}

impl Registry {
    fn prefix_bits(self) -> u32 {
        match self {
            Registry::MaL => 24,
            Registry::MaM => 28,
            Registry::MaS => 36,
        }
    }

    fn from_hex_digits(digits: usize) -> Option<Registry> {
        match digits {
            6 => Some(Registry::MaL),
            7 => Some(Registry::MaM),
            9 => Some(Registry::MaS),
            _ => None,
        }
    }
}

/// What the registry says about one MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OuiMatch<'r> {
    pub registry: Registry,
    /// The registered prefix, as hex digits (`B0C554`, `70B3D5F2F`).
    pub prefix: &'r str,
    /// The organisation exactly as registered.
    pub organization: &'r str,
    /// The organisation without legal-form suffixes (`D-Link International` ->
    /// `D-Link`), for tables and for matching against vendor names.
    pub vendor: &'r str,
}

struct Entry {
    key: u64,
    /// Which loaded text, and where in it the line's prefix and organisation are.
    text: u32,
    prefix: (u32, u8),
    organization: (u32, u32),
}

/// The registry, searchable by MAC address. It keeps the files' text and
/// points into it, so loading allocates per file, not per entry.
#[derive(Default)]
pub struct OuiRegistry {
    texts: Vec<std::borrow::Cow<'static, str>>,
    /// One sorted table per block size, searched longest prefix first.
    tables: [Vec<Entry>; 3],
}

const ORDER: [Registry; 3] = [Registry::MaS, Registry::MaM, Registry::MaL];

impl OuiRegistry {
    /// The registry snapshot shipped with mirador.
    pub fn builtin() -> OuiRegistry {
        let mut registry = OuiRegistry::default();
        // The shipped file is checked by the test suite, so it always loads.
        if let Err(e) = registry.load_text("builtin oui.tsv", BUILTIN_OUI_TSV.into()) {
            debug_assert!(false, "{e}");
        }
        registry
    }

    /// Adds the entries of a registry file; an entry for a prefix already
    /// present replaces it, so a user's file can correct the shipped one.
    pub fn load(&mut self, source: &str, text: &str) -> Result<usize, DataError> {
        self.load_text(source, text.to_string().into())
    }

    fn load_text(
        &mut self,
        source: &str,
        text: std::borrow::Cow<'static, str>,
    ) -> Result<usize, DataError> {
        let text_index = self.texts.len() as u32;
        let mut parsed: [Vec<Entry>; 3] = Default::default();
        // Byte-level scanning: this runs over ~50,000 lines at every start.
        let mut line_start = 0usize;
        for (index, raw) in text.as_bytes().split(|&b| b == b'\n').enumerate() {
            let start = line_start;
            line_start += raw.len() + 1;
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            if line.first().is_none_or(|&b| b == b'#') || line.trim_ascii().is_empty() {
                continue;
            }
            let err = |message: String| DataError::new(source, index + 1, message);
            let tab = line
                .iter()
                .position(|&b| b == b'\t')
                .ok_or_else(|| err("expected PREFIX<TAB>ORGANIZATION".into()))?;
            let (prefix, organization) = (&line[..tab], &line[tab + 1..]);
            let shown = || String::from_utf8_lossy(prefix).into_owned();
            let registry = Registry::from_hex_digits(prefix.len()).ok_or_else(|| {
                err(format!(
                    "prefix {:?} must have 6 (MA-L), 7 (MA-M) or 9 (MA-S) hex digits",
                    shown()
                ))
            })?;
            let key = prefix
                .iter()
                .try_fold(0u64, |acc, &b| {
                    Some(acc << 4 | u64::from((b as char).to_digit(16)?))
                })
                .ok_or_else(|| err(format!("prefix {:?} is not hexadecimal", shown())))?;
            let org = organization.trim_ascii();
            if org.is_empty() {
                return Err(err("empty organization name".into()));
            }
            let leading = organization.len() - organization.trim_ascii_start().len();
            parsed[table_index(registry)].push(Entry {
                key,
                text: text_index,
                prefix: (start as u32, prefix.len() as u8),
                organization: ((start + tab + 1 + leading) as u32, org.len() as u32),
            });
        }
        let added = parsed.iter().map(Vec::len).sum();
        self.texts.push(text);
        for (table, new) in self.tables.iter_mut().zip(parsed) {
            table.extend(new);
            // Stable sort keeps load order among equal keys; keep the last.
            table.sort_by_key(|e| e.key);
            table.dedup_by(|later, earlier| {
                let same = later.key == earlier.key;
                if same {
                    std::mem::swap(later, earlier);
                }
                same
            });
        }
        Ok(added)
    }

    /// The longest registered block covering `mac`. Locally administered
    /// addresses are not assigned by the IEEE and never match.
    pub fn lookup(&self, mac: MacAddr) -> Option<OuiMatch<'_>> {
        if mac.is_locally_administered() {
            return None;
        }
        let bits = mac.as_u64();
        ORDER.iter().find_map(|&registry| {
            let key = bits >> (48 - registry.prefix_bits());
            let table = &self.tables[table_index(registry)];
            let i = table.binary_search_by_key(&key, |e| e.key).ok()?;
            let e = &table[i];
            let text = self.texts.get(e.text as usize)?;
            let prefix =
                text.get(e.prefix.0 as usize..e.prefix.0 as usize + usize::from(e.prefix.1))?;
            let (start, len) = (e.organization.0 as usize, e.organization.1 as usize);
            let organization = text.get(start..start + len)?;
            Some(OuiMatch {
                registry,
                prefix,
                organization,
                vendor: short_vendor_name(organization),
            })
        })
    }

    /// Number of registered blocks.
    pub fn len(&self) -> usize {
        self.tables.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn table_index(registry: Registry) -> usize {
    match registry {
        Registry::MaS => 0,
        Registry::MaM => 1,
        Registry::MaL => 2,
    }
}

/// Words that name a legal form or a generic business line rather than the
/// brand, dropped from the end of an organisation name.
const SUFFIXES: &[&str] = &[
    "ab",
    "ag",
    "as",
    "bv",
    "co",
    "company",
    "corp",
    "corporation",
    "electronic",
    "electronics",
    "gmbh",
    "inc",
    "incorporated",
    "international",
    "kg",
    "kk",
    "limited",
    "llc",
    "ltd",
    "nv",
    "oy",
    "plc",
    "pte",
    "pty",
    "sa",
    "sas",
    "spa",
    "srl",
    "tech",
    "technologies",
    "technology",
];

/// `TP-LINK TECHNOLOGIES CO.,LTD.` -> `TP-LINK`; `Philips Lighting BV` ->
/// `Philips Lighting`. Never shortens a name to nothing.
pub fn short_vendor_name(organization: &str) -> &str {
    let mut name = organization.trim();
    loop {
        let trimmed = name.trim_end_matches([' ', ',', '.', '(', ')']);
        let cut = trimmed.rfind([' ', ',']).map_or(0, |i| i + 1);
        let token = &trimmed[cut..];
        // `Co.,Ltd` hides two suffixes in one token.
        let is_suffix = is_suffix_word(token)
            || token
                .split(['.', ','])
                .filter(|w| !w.is_empty())
                .all(is_suffix_word);
        if cut == 0 || !is_suffix {
            return trimmed;
        }
        name = &trimmed[..cut];
    }
}

/// Whether a word, ignoring case and punctuation (`S.A.`), is a suffix.
fn is_suffix_word(word: &str) -> bool {
    let mut letters = [0u8; 16];
    let mut n = 0;
    for b in word.bytes().filter(u8::is_ascii_alphanumeric) {
        if n == letters.len() {
            return false;
        }
        letters[n] = b.to_ascii_lowercase();
        n += 1;
    }
    std::str::from_utf8(&letters[..n]).is_ok_and(|w| SUFFIXES.contains(&w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(s: &str) -> MacAddr {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn shortens_registered_names() {
        let cases = [
            ("D-Link International", "D-Link"),
            ("TP-LINK TECHNOLOGIES CO.,LTD.", "TP-LINK"),
            ("Edimax Technology Co. Ltd.", "Edimax"),
            ("Belkin International Inc.", "Belkin"),
            ("Philips Lighting BV", "Philips Lighting"),
            ("Hi-flying electronics technology Co.,Ltd", "Hi-flying"),
            ("Cisco Systems, Inc", "Cisco Systems"),
            ("Withings", "Withings"),
            (
                "International Business Machines Corporation",
                "International Business Machines",
            ),
            ("Limited", "Limited"),
        ];
        for (org, short) in cases {
            assert_eq!(short_vendor_name(org), short, "{org}");
        }
    }

    #[test]
    fn longest_prefix_wins_and_user_entries_override() {
        let mut r = OuiRegistry::default();
        let text = "# test\n70B3D5\tIEEE Registration Authority\n70B3D5F2F\tTELEPLATFORMS\n001788\tPhilips Lighting BV\n";
        assert_eq!(r.load("t", text).ok(), Some(3));
        let m = r.lookup(mac("70:b3:d5:f2:f0:01"));
        assert_eq!(
            m.map(|m| (m.registry, m.organization)),
            Some((Registry::MaS, "TELEPLATFORMS"))
        );
        let m = r.lookup(mac("70:b3:d5:00:00:01"));
        assert_eq!(m.map(|m| m.registry), Some(Registry::MaL));
        assert_eq!(
            r.lookup(mac("00:17:88:24:76:ff")).map(|m| m.vendor),
            Some("Philips Lighting")
        );
        assert!(r.load("user.tsv", "001788\tSignify\n").is_ok());
        assert_eq!(
            r.lookup(mac("00:17:88:24:76:ff")).map(|m| m.organization),
            Some("Signify")
        );
        // Locally administered addresses are never registered.
        assert_eq!(r.lookup(mac("02:17:88:24:76:ff")), None);
    }

    #[test]
    fn names_file_and_line_of_bad_entries() {
        let mut r = OuiRegistry::default();
        let e = r.load("my.tsv", "001788\tok\n00178\tbad\n").err();
        assert_eq!(e.as_ref().map(|e| e.line), Some(2));
        assert!(
            e.map(|e| e.to_string())
                .unwrap_or_default()
                .starts_with("my.tsv:2:")
        );
        assert!(r.load("my.tsv", "001788 no tab\n").is_err());
        assert!(r.load("my.tsv", "00178G\tx\n").is_err());
    }

    #[test]
    fn builtin_snapshot_loads_whole() {
        let mut r = OuiRegistry::default();
        let n = r.load("oui.tsv", BUILTIN_OUI_TSV);
        assert!(matches!(n, Ok(n) if n > 40_000), "{n:?}");
        assert_eq!(
            r.lookup(mac("b0:c5:54:25:5b:0e")).map(|m| m.vendor),
            Some("D-Link")
        );
        assert_eq!(
            r.lookup(mac("00:00:0c:12:34:56")).map(|m| m.vendor),
            Some("Cisco Systems")
        );
    }
}
