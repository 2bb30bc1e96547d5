//! Cisco Discovery Protocol over LLC/SNAP.

use super::Dissector;

pub const DISSECTORS: &[Dissector] = &[];
