//! DNP3: link addresses and function codes.

use super::Dissector;

pub const DISSECTORS: &[Dissector] = &[];
