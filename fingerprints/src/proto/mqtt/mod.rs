//! MQTT CONNECT, CONNACK and first PUBLISH topics.

use super::Dissector;

pub const DISSECTORS: &[Dissector] = &[];
