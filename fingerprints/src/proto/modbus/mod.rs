//! Modbus/TCP: function codes, unit ids, Read Device Identification.

use super::Dissector;

pub const DISSECTORS: &[Dissector] = &[];
