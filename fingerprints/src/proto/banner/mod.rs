//! Telnet and FTP banners.

use super::Dissector;

pub const DISSECTORS: &[Dissector] = &[];
