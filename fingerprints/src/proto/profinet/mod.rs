//! PROFINET DCP: station name, vendor and device id, role, IP.

use super::Dissector;

pub const DISSECTORS: &[Dissector] = &[];
