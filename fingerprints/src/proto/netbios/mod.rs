//! NetBIOS name service (RFC 1002): names, suffixes and workgroup.

use super::Dissector;

pub const DISSECTORS: &[Dissector] = &[];
