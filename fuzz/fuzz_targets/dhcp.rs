//! `fingerprints::proto::dhcp::DhcpMessage::parse` and every accessor.
//!
//! Input: a UDP payload. Its last byte is also looked up as an option code.

#![no_main]

use fingerprints::proto::dhcp::DhcpMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match DhcpMessage::parse(data) {
        Ok(msg) => mirador_fuzz::walk_dhcp(&msg, data.last().copied()),
        Err(e) => {
            std::hint::black_box(e.to_string());
        }
    }
});
