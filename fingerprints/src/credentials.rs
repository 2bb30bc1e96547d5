//! Vendor default credentials, known by hash only: parsers that see a login
//! in clear hash what they saw and look it up, so neither the data file nor
//! any output holds a password.
//!
//! Format (`data/default-credentials.tsv`): lines of
//! `SHA256<TAB>VENDOR<TAB>SOURCE`, the hash being SHA-256 of the user name,
//! a zero byte and the password, in lowercase hex; `#` starts a comment
//! line. A later entry for the same hash replaces an earlier one, so a
//! user's file loaded after the shipped one corrects it.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::DataError;

/// The shipped list.
pub const BUILTIN: &str = include_str!("../data/default-credentials.tsv");

/// Who ships a default credential, and where the list says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultCredential {
    /// The vendor, or `-` when the source names none.
    pub vendor: String,
    /// `mirai`, `vendor-doc`, or the user's own word.
    pub source: String,
}

/// Default credentials by the hash of `user \0 password`.
#[derive(Debug, Clone, Default)]
pub struct DefaultCredentials {
    by_hash: HashMap<[u8; 32], DefaultCredential>,
}

/// The key a credential is known by.
pub fn digest(user: &[u8], password: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(user);
    hasher.update([0u8]);
    hasher.update(password);
    hasher.finalize().into()
}

impl DefaultCredentials {
    /// The shipped list.
    pub fn builtin() -> DefaultCredentials {
        let mut list = DefaultCredentials::default();
        // The shipped file is checked by the test suite.
        if let Err(e) = list.load("builtin default-credentials.tsv", BUILTIN) {
            debug_assert!(false, "{e}");
        }
        list
    }

    /// Adds the entries of one file; returns how many.
    pub fn load(&mut self, source_name: &str, text: &str) -> Result<usize, DataError> {
        let mut entries = Vec::new();
        for (line_no, line) in crate::data_lines(text) {
            let err = |message: String| DataError::new(source_name, line_no, message);
            let mut columns = line.split('\t');
            let (Some(hash), Some(vendor), Some(source), None) = (
                columns.next(),
                columns.next(),
                columns.next(),
                columns.next(),
            ) else {
                return Err(err("expected SHA256<TAB>VENDOR<TAB>SOURCE".into()));
            };
            let key =
                parse_hash(hash).ok_or_else(|| err(format!("{hash:?} is not 64 hex digits")))?;
            entries.push((
                key,
                DefaultCredential {
                    vendor: vendor.trim().to_string(),
                    source: source.trim().to_string(),
                },
            ));
        }
        let n = entries.len();
        self.by_hash.extend(entries);
        Ok(n)
    }

    /// The entry for this user name and password, if it is a default.
    pub fn find(&self, user: &[u8], password: &[u8]) -> Option<&DefaultCredential> {
        self.by_hash.get(&digest(user, password))
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let text = text.as_bytes();
    if text.len() != 64 {
        return None;
    }
    let mut key = [0u8; 32];
    for (byte, pair) in key.iter_mut().zip(text.chunks_exact(2)) {
        let digit = |c: u8| (c as char).to_digit(16);
        *byte = u8::try_from(digit(*pair.first()?)? * 16 + digit(*pair.get(1)?)?).ok()?;
    }
    Some(key)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_list_loads_and_knows_mirai_and_vendor_defaults() {
        let mut list = DefaultCredentials::default();
        let n = list.load("builtin", BUILTIN).unwrap();
        assert!(n >= 60, "{n} entries");
        // Ubiquiti's documented factory login, also in Mirai's table.
        let ubnt = list.find(b"ubnt", b"ubnt").unwrap();
        assert_eq!(ubnt.vendor, "Ubiquiti");
        assert!(ubnt.source.contains("mirai") && ubnt.source.contains("vendor-doc"));
        // Mirai's first entry, and a blank password.
        assert!(list.find(b"root", b"xc3511").is_some());
        assert!(list.find(b"admin", b"").is_some());
        assert!(
            list.find(b"admin", b"correct horse battery staple")
                .is_none()
        );
        assert!(list.find(b"root", b"xc351").is_none());
    }

    #[test]
    fn a_bad_line_is_named_by_file_and_line() {
        let err = DefaultCredentials::default()
            .load("mine.tsv", "# c\nabc\tX\tmine\n")
            .unwrap_err();
        assert_eq!(err.to_string(), "mine.tsv:2: \"abc\" is not 64 hex digits");
        let err = DefaultCredentials::default()
            .load("mine.tsv", "abc\tX\n")
            .unwrap_err();
        assert!(err.to_string().starts_with("mine.tsv:1: expected"));
    }

    #[test]
    fn a_users_file_adds_and_corrects_entries() {
        let mut list = DefaultCredentials::builtin();
        let line = format!(
            "{}\tAcme\tmine\n",
            crate::proto::cursor::hex(&digest(b"op", b"op123"))
        );
        list.load("mine.tsv", &line).unwrap();
        assert_eq!(list.find(b"op", b"op123").unwrap().vendor, "Acme");
        let line = format!(
            "{}\tUbiquiti Inc\tmine\n",
            crate::proto::cursor::hex(&digest(b"ubnt", b"ubnt"))
        );
        list.load("mine.tsv", &line).unwrap();
        assert_eq!(list.find(b"ubnt", b"ubnt").unwrap().vendor, "Ubiquiti Inc");
    }
}
