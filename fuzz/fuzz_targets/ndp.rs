//! `fingerprints::proto::ndp::NdpMessage::parse` and every accessor.
//!
//! Input: an ICMPv6 message, from its type byte.

#![no_main]

use fingerprints::proto::ndp::NdpMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match NdpMessage::parse(data) {
        Ok(msg) => mirador_fuzz::walk_ndp(&msg),
        Err(e) => {
            std::hint::black_box(e.to_string());
        }
    }
});
