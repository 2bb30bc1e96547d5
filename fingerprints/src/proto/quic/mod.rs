//! QUIC Initial packets (RFC 9000/9001), decrypted with the public salt: the ClientHello inside, JA4 with the `q` prefix.

use super::Dissector;

pub const DISSECTORS: &[Dissector] = &[];
