//! LLDP (IEEE 802.1AB) and LLDP-MED inventory.

use super::Dissector;

pub const DISSECTORS: &[Dissector] = &[];
