//! TLS handshakes (ClientHello, ServerHello, Certificate): SNI, ALPN, JA3, JA3S, JA4, X.509.

use super::Dissector;

pub const DISSECTORS: &[Dissector] = &[];
