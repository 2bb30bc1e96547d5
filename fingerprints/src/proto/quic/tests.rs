#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::SocketAddr;

use super::*;
use crate::proto::tls::tests::ndpi_flows;
use crate::testing::{DatagramStream, capture, messages};

fn client_directions(relative: &str) -> Vec<DatagramStream> {
    let mut out: Vec<DatagramStream> = Vec::new();
    let mut index: HashMap<(SocketAddr, SocketAddr), usize> = HashMap::new();
    let mut seen: std::collections::HashSet<(SocketAddr, SocketAddr)> = Default::default();
    for m in messages(relative) {
        if m.context.carrier != Carrier::Udp {
            continue;
        }
        let src = SocketAddr::new(m.src_ip.unwrap(), m.context.src_port);
        let dst = SocketAddr::new(m.dst_ip.unwrap(), m.context.dst_port);
        // The flow's first datagram decides, as the sensor's probe does.
        let flow = if src < dst { (src, dst) } else { (dst, src) };
        if seen.insert(flow) && probe(&m.context, &m.bytes) {
            index.insert((src, dst), out.len());
            out.push(DatagramStream::new(src, dst));
        }
        if let Some(&i) = index.get(&(src, dst)) {
            out[i].push(&m.bytes);
        }
    }
    out
}

fn field<'f>(f: &'f Finding, key: &str) -> Option<&'f str> {
    f.get(&format!("tls.{key}"))?.as_str()
}

/// FoxIO's expected JA4 for the QUIC clients of its captures: the rust
/// implementation's snapshots (`rust/ja4/src/snapshots/*.snap`, entries
/// with `transport: udp`); the python test data have no QUIC entries.
#[test]
fn ja4_equals_foxio_for_quic_clients() {
    let mut total = 0;
    let mut equal = 0;
    for name in [
        "chrome-cloudflare-quic-with-secrets.pcapng",
        "quic-tls-handshake.pcapng",
        "quic-with-several-tls-frames.pcapng",
    ] {
        let snap =
            std::fs::read_to_string(capture(&format!("ja4/expected/ja4__insta@{name}.snap")))
                .unwrap();
        let directions = client_directions(&format!("ja4/{name}"));
        for entry in snap.split("\n- ").skip(1) {
            let get = |key: &str| {
                entry
                    .lines()
                    .find_map(|l| l.trim().strip_prefix(&format!("{key}: ")))
                    .map(|v| v.trim_matches('\'').to_string())
            };
            if get("transport").as_deref() != Some("udp") {
                continue;
            }
            let Some(ja4) = get("ja4") else { continue };
            total += 1;
            let src_port: u16 = get("src_port").unwrap().parse().unwrap();
            let d = directions
                .iter()
                .find(|d| d.src.port() == src_port)
                .unwrap_or_else(|| panic!("{name}: no QUIC client on port {src_port}"));
            let findings = d.feed(parse_stream).unwrap();
            let f = &findings[0];
            assert_eq!(f.event_type, "tls");
            assert_eq!(field(f, "ja4"), Some(ja4.as_str()), "{name}");
            assert_eq!(field(f, "sni"), get("tls_server_name").as_deref(), "{name}");
            assert_eq!(field(f, "quic.version"), Some("1"));
            equal += 1;
        }
    }
    eprintln!("QUIC JA4 equal to FoxIO for {equal}/{total} clients");
    assert_eq!(total, 3);
}

/// JA3 and JA4 of QUIC clients (v1, v2, drafts 29 and 34, hellos split
/// over several Initials and out of order) equal nDPI's `JA3C` and `JA4`.
#[test]
fn ja3_and_ja4_equal_ndpi_for_quic_clients() {
    let captures = [
        "quic_frags_ch_in_multiple_packets.pcapng",
        "quic_crypto_aes_auth_size.pcap",
        "quic_frags_different_dcid.pcapng",
        "quic-34.pcap",
        "quic-29.pcap",
        "quic-v2.pcapng",
        "quic-33.pcapng",
        "quic-forcing-vn-with-data.pcapng",
        "quic_frags_ch_out_of_order_same_packet_craziness.pcapng",
    ];
    let (mut ja3, mut ja4, mut total) = (0, 0, 0);
    let mut failures = Vec::new();
    for name in captures {
        let directions = client_directions(&format!("ndpi/{name}"));
        for (a, b, items) in ndpi_flows(&format!("ndpi/result/{name}.out")) {
            let Some(ja3c) = items.get("JA3C") else {
                continue;
            };
            total += 1;
            let Some(d) = directions
                .iter()
                .find(|d| (d.src, d.dst) == (a, b) || (d.src, d.dst) == (b, a))
            else {
                failures.push(format!("{name} {a}: no QUIC client"));
                continue;
            };
            let f = match d.feed(parse_stream) {
                Ok(f) if !f.is_empty() => f.into_iter().next().unwrap(),
                other => {
                    failures.push(format!("{name} {a}: {other:?}"));
                    continue;
                }
            };
            if field(&f, "ja3.hash") == Some(ja3c.as_str()) {
                ja3 += 1;
            } else {
                failures.push(format!(
                    "{name} {a}: JA3 {:?} != {ja3c}",
                    field(&f, "ja3.hash")
                ));
            }
            // nDPI derives JA4's two ALPN characters its own way ("h3-29"
            // gives "h3", the spec's first and last characters give "h9"):
            // the rest must agree.
            let mask =
                |s: &str| format!("{}??{}", s.get(..8).unwrap_or(s), s.get(10..).unwrap_or(""));
            // nDPI also writes "d" (domain) for QUIC hellos it flags
            // itself as "Missing SNI TLS Extn"; the spec says "i".
            let mut theirs = items.get("JA4").map(|s| mask(s));
            if items.get("Risk").is_some_and(|r| r.contains("Missing SNI")) {
                assert_eq!(field(&f, "sni"), None);
                theirs = theirs.map(|t| t.replacen("d", "i", 1));
            }
            if field(&f, "ja4").map(mask) == theirs {
                ja4 += 1;
            } else {
                failures.push(format!(
                    "{name} {a}: JA4 {:?} != {:?}",
                    field(&f, "ja4"),
                    items.get("JA4")
                ));
            }
        }
    }
    eprintln!("QUIC vs nDPI: JA3C {ja3}/{total}, JA4 but its ALPN characters {ja4}/{total}");
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(total >= 120, "{total}");
}

/// RFC 9001 appendix A: the client Initial keys of DCID 8394c8f03e515708.
#[test]
fn rfc9001_initial_keys() {
    let p = params(V1).unwrap();
    let keys = Keys::derive(&p, &[0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08]).unwrap();
    let hex = crate::proto::cursor::hex;
    assert_eq!(hex(&keys.key), "1f369613dd76d5467730efcbe3b1a22d");
    assert_eq!(hex(&keys.iv), "fa044b2f42a3fd3b46fb255c");
    assert_eq!(hex(&keys.hp), "9f50449e04a0e810283a1e9933adedd2");
    // RFC 9369 appendix A.1 for v2.
    let keys = Keys::derive(
        &params(V2).unwrap(),
        &[0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08],
    )
    .unwrap();
    assert_eq!(hex(&keys.key), "8b1a0bc121284290a29e0971b5cd045d");
    assert_eq!(hex(&keys.hp), "45b95e15235d6f45a6b19cbcb0294ba9");
}

/// Cut, corrupted and forged Initials give errors, never a panic.
#[test]
fn hostile_input() {
    let knowledge = Knowledge::default();
    let ctx = Context {
        carrier: Carrier::Udp,
        src_port: 5000,
        dst_port: 443,
        to_server: true,
        src_mac: None,
        dst_mac: None,
    };
    let parse =
        |bytes: &[u8], last: bool| parse_stream(&knowledge, &ctx, bytes, last, &mut Vec::new());
    assert!(parse(&[], true).is_err());
    assert_eq!(parse(&[0, 5, 0xc0], false), Ok(Progress::NeedMore));
    // A forged Initial: right header, payload that does not decrypt.
    let mut forged = vec![
        0xc0, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0x44, 0xd0,
    ];
    forged.resize(1250, 0x11);
    let mut stream = (forged.len() as u16).to_be_bytes().to_vec();
    stream.extend_from_slice(&forged);
    assert!(matches!(
        parse(&stream, true),
        Err(ParseError::Malformed(_))
    ));
    assert!(probe(&ctx, &forged));
    assert!(!probe(&ctx, &forged[..600]));
    assert!(!probe(
        &Context {
            carrier: Carrier::Tcp,
            ..ctx
        },
        &forged
    ));

    let d = &client_directions("ja4/quic-with-several-tls-frames.pcapng")[0];
    let first = &d.bytes[..d.ends[0]];
    for cut in 0..first.len() {
        let _ = parse(&first[..cut], true);
    }
    for i in 2..first.len().min(400) {
        let mut corrupt = first.to_vec();
        corrupt[i] ^= 0x80;
        let _ = parse(&corrupt, true);
    }
}
