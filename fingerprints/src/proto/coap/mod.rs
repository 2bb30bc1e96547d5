//! CoAP (RFC 7252): paths and /.well-known/core links.

use super::Dissector;

pub const DISSECTORS: &[Dissector] = &[];
