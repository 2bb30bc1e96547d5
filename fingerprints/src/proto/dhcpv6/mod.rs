//! DHCPv6 (RFC 8415): DUID, option request list, vendor class, FQDN.

use super::Dissector;

pub const DISSECTORS: &[Dissector] = &[];
