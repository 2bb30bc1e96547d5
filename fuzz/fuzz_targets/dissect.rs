//! Every protocol parser of `fingerprints::proto::dissectors()`, and the p0f
//! SYN signature and matcher, on any bytes.
//!
//! Input: a selector byte (`% (dissectors + 1)` picks a dissector, the last
//! value the p0f path; `MIRADOR_FUZZ_DISSECTOR=<name>` pins one dissector
//! so that a campaign covers one parser), a flags byte (bit 0: the bytes go
//! client -> server; bit 1: TCP rather than UDP for a stream parser), then
//! the message. A stream parser sees the message grow in three steps, as
//! reassembly shows it, the last one with `last`. The probe runs too.
//! Findings are serialised. Errors are expected; panics and hangs are bugs.

#![no_main]

use std::hint::black_box;
use std::sync::OnceLock;

use fingerprints::proto::{
    self, Carrier, Context, Dissector, Knowledge, Parse, Progress, tcp_syn,
};
use libfuzzer_sys::fuzz_target;

fn knowledge() -> &'static Knowledge {
    static KNOWLEDGE: OnceLock<Knowledge> = OnceLock::new();
    KNOWLEDGE.get_or_init(|| {
        let p0f = tcp_syn::P0fDatabase::load(
            "p0f.fp",
            include_str!("../../fingerprints/data/p0f.fp"),
        )
        .unwrap_or_default();
        Knowledge {
            p0f,
            vendor_ids: fingerprints::VendorIds::builtin(),
            default_credentials: fingerprints::DefaultCredentials::builtin(),
        }
    })
}

fn pinned() -> Option<&'static Dissector> {
    static PINNED: OnceLock<Option<&'static Dissector>> = OnceLock::new();
    *PINNED.get_or_init(|| {
        let name = std::env::var("MIRADOR_FUZZ_DISSECTOR").ok()?;
        proto::dissectors().iter().find(|d| d.name == name)
    })
}

fuzz_target!(|data: &[u8]| {
    let [selector, flags, message @ ..] = data else {
        return;
    };
    let all = proto::dissectors();
    let knowledge = knowledge();
    let dissector = match pinned() {
        Some(d) => d,
        None => match all.get(usize::from(*selector) % (all.len() + 1)) {
            Some(d) => d,
            None => {
                if let Ok(Some(signature)) = tcp_syn::signature(message) {
                    let finding = tcp_syn::finding_of(&knowledge.p0f, &signature);
                    black_box(serde_json::to_string(&finding.fields).ok());
                }
                return;
            }
        },
    };
    let stream_over_tcp = flags & 2 != 0;
    let carrier = match dissector.parse {
        Parse::Message(_) if message.first() == Some(&0xaa) => {
            Carrier::Ethernet { ether_type: 0x0026 }
        }
        Parse::Message(_) => Carrier::Udp,
        Parse::Stream(_) if stream_over_tcp => Carrier::Tcp,
        Parse::Stream(_) => Carrier::Udp,
        Parse::Conversation(_) => Carrier::Tcp,
    };
    let context = Context {
        carrier,
        src_port: 40000,
        dst_port: 40000,
        to_server: flags & 1 != 0,
        src_mac: None,
        dst_mac: None,
    };
    black_box((dissector.probe)(&context, message));
    let mut findings = Vec::new();
    match dissector.parse {
        Parse::Message(parse) => {
            black_box(parse(knowledge, &context, message, &mut findings).is_ok());
        }
        Parse::Stream(parse) => {
            grow(message, |prefix, last| {
                parse(knowledge, &context, prefix, last, &mut findings)
            });
        }
        Parse::Conversation(parse) => {
            // The other direction's bytes are the message's second half.
            let (own, peer) = message.split_at(message.len() / 2);
            grow(own, |prefix, last| {
                parse(knowledge, &context, prefix, peer, last, &mut findings)
            });
        }
    }
    for finding in &findings {
        black_box(serde_json::to_string(&finding.fields).ok());
        black_box(finding.leaves().len());
    }
});

/// Shows a stream parser its bytes as they would grow: a third, two
/// thirds, then all of them as the last call.
fn grow(
    bytes: &[u8],
    mut parse: impl FnMut(&[u8], bool) -> Result<Progress, proto::ParseError>,
) {
    let cuts = [bytes.len() / 3, 2 * bytes.len() / 3, bytes.len()];
    for (i, cut) in cuts.into_iter().enumerate() {
        let last = i == cuts.len() - 1;
        let prefix = bytes.get(..cut).unwrap_or(bytes);
        match parse(prefix, last) {
            Ok(Progress::NeedMore) if !last => continue,
            _ => break,
        }
    }
}
