//! Pure fingerprinting of bytes for mirador: MAC addresses and their vendors,
//! and one module per protocol that carries identity. Parsers take `&[u8]`
//! and return borrowed views or typed errors; data files are parsed from text
//! handed in by the caller. No I/O, no threads.

pub mod credentials;
pub mod kb;
pub mod mac;
pub mod oui;
pub mod proto;
#[cfg(test)]
pub mod testing;
pub mod vendor_ids;

pub use credentials::DefaultCredentials;
pub use mac::MacAddr;
pub use oui::{OuiMatch, OuiRegistry};
pub use vendor_ids::VendorIds;

/// A data file entry that could not be loaded: which file, which line, why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}: {message}")]
pub struct DataError {
    pub source_name: String,
    pub line: usize,
    pub message: String,
}

impl DataError {
    pub fn new(source_name: &str, line: usize, message: String) -> DataError {
        DataError {
            source_name: source_name.to_string(),
            line,
            message,
        }
    }
}

/// The entry lines of a tab-separated data file, with their line numbers
/// (from 1): line ends without `\r`, blank lines and `#` comments left out.
pub(crate) fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line.trim_end_matches('\r')))
        .filter(|(_, line)| !line.trim().is_empty() && !line.starts_with('#'))
}
