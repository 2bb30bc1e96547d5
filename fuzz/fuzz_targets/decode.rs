//! `sensor::decode::decode_frame` on any frame of any link type.
//!
//! Input: one selector byte (see `mirador_fuzz::link_type`: an index into
//! `LinkType::SUPPORTED`, or one unsupported link type), then the frame.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::capture::{Packet, Timestamp};
use sensor::decode::{self, DecodeError};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, frame)) = data.split_first() else {
        return;
    };
    let link_type = mirador_fuzz::link_type(selector);
    match decode::decode_frame(link_type, frame) {
        Ok(view) => mirador_fuzz::walk_view(&view),
        Err(e) => {
            std::hint::black_box((e.name(), e.index(), e.to_string()));
            if !link_type.is_supported() {
                assert_eq!(e, DecodeError::UnsupportedLinkType);
            }
        }
    }
    // The packet-level entry point must agree with the frame-level one.
    let packet = Packet {
        ts: Timestamp(0),
        link_type,
        data: frame,
        wire_len: frame.len() as u32,
    };
    std::hint::black_box(decode::decode(&packet).map(|v| v.network.clone()).ok());
});
