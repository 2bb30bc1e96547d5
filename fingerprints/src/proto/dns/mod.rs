//! DNS, mDNS/DNS-SD and LLMNR: queries and answers, service types, instances, SRV targets, TXT keys.

use super::Dissector;

pub const DISSECTORS: &[Dissector] = &[];
