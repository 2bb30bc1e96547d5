//! BACnet/IP: I-Am and ReadProperty answers.

use super::Dissector;

pub const DISSECTORS: &[Dissector] = &[];
