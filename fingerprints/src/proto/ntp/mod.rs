//! NTP: mode, stratum, reference.

use super::Dissector;

pub const DISSECTORS: &[Dissector] = &[];
