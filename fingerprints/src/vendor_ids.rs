//! Numeric vendor identifiers that industrial and building protocols carry
//! (ODVA's EtherNet/IP vendor ids, ASHRAE's BACnet vendor ids, PROFIBUS &
//! PROFINET International's vendor ids), mapped to names.
//!
//! Format, one table per file `data/vendor-ids/<protocol>.tsv`: lines of
//! `ID<TAB>NAME`, the id in decimal or `0x` hex; `#` starts a comment line.
//! A later entry for the same id replaces an earlier one, so a user's file
//! loaded after the shipped one corrects it.

use std::collections::HashMap;

use crate::DataError;

/// The vendor-id tables shipped with mirador: (protocol, file text).
pub const BUILTIN: &[(&str, &str)] = &[
    ("enip", include_str!("../data/vendor-ids/enip.tsv")),
    ("bacnet", include_str!("../data/vendor-ids/bacnet.tsv")),
    ("profinet", include_str!("../data/vendor-ids/profinet.tsv")),
];

/// Vendor names by protocol and numeric id.
#[derive(Debug, Clone, Default)]
pub struct VendorIds {
    tables: HashMap<String, HashMap<u32, String>>,
}

impl VendorIds {
    /// The shipped tables.
    pub fn builtin() -> VendorIds {
        let mut ids = VendorIds::default();
        for (protocol, text) in BUILTIN {
            // The shipped files are checked by the test suite.
            if let Err(e) = ids.load(protocol, &format!("builtin {protocol}.tsv"), text) {
                debug_assert!(false, "{e}");
            }
        }
        ids
    }

    /// Adds the entries of one protocol's table; returns how many.
    pub fn load(&mut self, protocol: &str, source: &str, text: &str) -> Result<usize, DataError> {
        let mut entries = Vec::new();
        for (line_no, line) in crate::data_lines(text) {
            let err = |message: String| DataError::new(source, line_no, message);
            let (id, name) = line
                .split_once('\t')
                .ok_or_else(|| err("expected ID<TAB>NAME".into()))?;
            let id = match id.strip_prefix("0x").or_else(|| id.strip_prefix("0X")) {
                Some(hex) => u32::from_str_radix(hex, 16),
                None => id.parse(),
            }
            .map_err(|_| err(format!("vendor id {id:?} is not a number")))?;
            let name = name.trim();
            if name.is_empty() {
                return Err(err(format!("vendor id {id} has no name")));
            }
            entries.push((id, name.to_string()));
        }
        let n = entries.len();
        self.tables
            .entry(protocol.to_string())
            .or_default()
            .extend(entries);
        Ok(n)
    }

    /// The vendor named by `id` in `protocol`'s table.
    pub fn name(&self, protocol: &str, id: u32) -> Option<&str> {
        self.tables.get(protocol)?.get(&id).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_tables_load_and_name_well_known_vendors() {
        let mut ids = VendorIds::default();
        for (protocol, text) in BUILTIN {
            let n = ids.load(protocol, protocol, text).unwrap();
            assert!(n > 0, "{protocol} table is empty");
        }
        assert_eq!(
            ids.name("enip", 1),
            Some("Rockwell Automation/Allen-Bradley")
        );
        assert_eq!(ids.name("bacnet", 0), Some("ASHRAE"));
        assert_eq!(ids.name("profinet", 0x002a), Some("Siemens AG"));
    }

    #[test]
    fn a_bad_line_is_named_by_file_and_line() {
        let err = VendorIds::default()
            .load("enip", "mine.tsv", "# c\n1\tA\nx\tB\n")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "mine.tsv:3: vendor id \"x\" is not a number"
        );
    }

    #[test]
    fn a_later_entry_corrects_an_earlier_one() {
        let mut ids = VendorIds::builtin();
        ids.load("enip", "mine.tsv", "1\tRockwell\n").unwrap();
        assert_eq!(ids.name("enip", 1), Some("Rockwell"));
    }
}
