//! SSDP (UPnP discovery over HTTPU): NOTIFY, M-SEARCH and responses.

use super::Dissector;

pub const DISSECTORS: &[Dissector] = &[];
