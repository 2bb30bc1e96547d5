//! S7comm (SZL reads) and S7comm-plus presence.

use super::Dissector;

pub const DISSECTORS: &[Dissector] = &[];
