//! EtherNet/IP: ListIdentity and CIP services.

use super::Dissector;

pub const DISSECTORS: &[Dissector] = &[];
