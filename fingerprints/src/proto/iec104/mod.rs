//! IEC 60870-5-104: common addresses and type ids.

use super::Dissector;

pub const DISSECTORS: &[Dissector] = &[];
