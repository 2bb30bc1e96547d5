//! SSH banners and KEXINIT: HASSH and HASSHServer.

use super::Dissector;

pub const DISSECTORS: &[Dissector] = &[];
