//! SNMP v1/v2c: community (flagged, never written out), sysDescr, sysObjectID, sysName.

use super::Dissector;

pub const DISSECTORS: &[Dissector] = &[];
