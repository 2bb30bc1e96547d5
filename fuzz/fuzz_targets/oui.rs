//! `fingerprints::OuiRegistry::load` on any text, then lookups.
//!
//! Input: registry text (`PREFIX<TAB>ORGANIZATION` lines), read as UTF-8
//! with invalid sequences replaced. It is loaded twice (the second load
//! replaces the first's entries, as a user's file corrects the shipped
//! one), then looked up with MACs made from each line's leading hex digits
//! (padded with 0 and with f, to hit both ends of a block) and from the
//! raw input bytes.

#![no_main]

use std::hint::black_box;

use fingerprints::{MacAddr, OuiRegistry};
use libfuzzer_sys::fuzz_target;

/// Lookups per input, at most.
const MAX_LOOKUPS: usize = 256;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut registry = OuiRegistry::default();
    match registry.load("fuzz", &text) {
        Ok(added) => {
            black_box(added);
            black_box(registry.load("fuzz-again", &text).ok());
        }
        Err(e) => {
            black_box(e.to_string());
        }
    }
    black_box((registry.len(), registry.is_empty()));

    let mut macs = Vec::new();
    for line in text.lines() {
        let digits: Vec<u8> = line
            .bytes()
            .take_while(u8::is_ascii_hexdigit)
            .take(12)
            .filter_map(|b| (b as char).to_digit(16).map(|d| d as u8))
            .collect();
        for pad in [0u8, 0xf] {
            let mut nibbles = digits.clone();
            nibbles.resize(12, pad);
            let mut octets = [0u8; 6];
            for (octet, pair) in octets.iter_mut().zip(nibbles.chunks(2)) {
                *octet = pair[0] << 4 | pair[1];
            }
            macs.push(MacAddr(octets));
        }
        if macs.len() >= MAX_LOOKUPS {
            break;
        }
    }
    macs.extend(data.chunks_exact(6).filter_map(MacAddr::from_slice));
    for mac in macs.into_iter().take(MAX_LOOKUPS) {
        let Some(found) = registry.lookup(mac) else {
            continue;
        };
        black_box((found.registry, found.organization, found.vendor));
        // The block found covers the MAC: its prefix is the MAC's leading
        // hex digits.
        let hex = format!("{:012X}", mac.as_u64());
        assert!(
            hex.starts_with(&found.prefix.to_ascii_uppercase()),
            "{mac} matched block {:?}",
            found.prefix
        );
        black_box(fingerprints::oui::short_vendor_name(found.organization));
    }
});
