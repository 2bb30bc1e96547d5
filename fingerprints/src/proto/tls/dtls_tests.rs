#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use super::*;
use crate::proto::tls::tests::ndpi_flows;
use crate::testing::{DatagramStream, Message, messages};

/// Payload packets of a flow the sensor tries the probes on
/// (`PROBED_PACKETS` in sensor/src/extract/app.rs).
const PROBE_PACKETS: usize = 8;

/// The UDP datagram inside a GTP-U G-PDU (which the sensor opens and
/// `testing::messages` does not): (source, destination, payload).
fn gtp_inner(m: &Message) -> Option<(SocketAddr, SocketAddr, Vec<u8>)> {
    if !m.context.either_port(&[2152]) {
        return None;
    }
    let flags = *m.bytes.first()?;
    if flags >> 5 != 1 || m.bytes.get(1) != Some(&0xff) || flags & 0x07 != 0 {
        return None;
    }
    let inner = etherparse::SlicedPacket::from_ip(m.bytes.get(8..)?).ok()?;
    let (src, dst) = match inner.net? {
        etherparse::NetSlice::Ipv4(ip) => (
            IpAddr::from(ip.header().source_addr()),
            IpAddr::from(ip.header().destination_addr()),
        ),
        etherparse::NetSlice::Ipv6(ip) => (
            IpAddr::from(ip.header().source_addr()),
            IpAddr::from(ip.header().destination_addr()),
        ),
        _ => return None,
    };
    let etherparse::TransportSlice::Udp(udp) = inner.transport? else {
        return None;
    };
    Some((
        SocketAddr::new(src, udp.source_port()),
        SocketAddr::new(dst, udp.destination_port()),
        udp.payload().to_vec(),
    ))
}

/// The directions the sensor would parse, and the flows whose first DTLS
/// hello came after the sensor's probe window.
fn directions(
    relative: &str,
    window: usize,
) -> (Vec<DatagramStream>, Vec<(SocketAddr, SocketAddr)>) {
    let mut late = Vec::new();
    // Per flow: payload packets seen, and whether DTLS was recognised.
    let mut flows: HashMap<(SocketAddr, SocketAddr), (usize, bool)> = HashMap::new();
    let mut out: Vec<DatagramStream> = Vec::new();
    let mut index: HashMap<(SocketAddr, SocketAddr), usize> = HashMap::new();
    for mut m in messages(relative) {
        if m.context.carrier != Carrier::Udp || m.bytes.is_empty() {
            continue;
        }
        let mut src = SocketAddr::new(m.src_ip.unwrap(), m.context.src_port);
        let mut dst = SocketAddr::new(m.dst_ip.unwrap(), m.context.dst_port);
        if let Some((s, d, payload)) = gtp_inner(&m) {
            (src, dst, m.bytes) = (s, d, payload);
            (m.context.src_port, m.context.dst_port) = (s.port(), d.port());
        }
        let key = if src < dst { (src, dst) } else { (dst, src) };
        let flow = flows.entry(key).or_default();
        if !flow.1 {
            flow.0 += 1;
            if !probe(&m.context, &m.bytes) {
                continue;
            }
            if flow.0 > window {
                late.push((src, dst));
                flow.0 = usize::MAX / 2;
                continue;
            }
            flow.1 = true;
        }
        let i = *index.entry((src, dst)).or_insert_with(|| {
            out.push(DatagramStream::new(src, dst));
            out.len() - 1
        });
        out[i].push(&m.bytes);
    }
    (out, late)
}

fn str_at<'f>(f: &'f Finding, path: &str) -> Option<&'f str> {
    f.get(path)?.as_str()
}

/// The captures of nDPI's DTLS tests, and of its STUN and WebRTC tests
/// where DTLS follows STUN on the same ports.
const CAPTURES: &[&str] = &[
    "dtls.pcap",
    "dtls2.pcap",
    "dtls_certificate_fragments.pcap",
    "dtls_old_version.pcapng",
    "dtls_session_id_and_coockie_both.pcap",
    "stun_dtls_rtp.pcapng",
    "stun_dtls_unidirectional_client.pcap",
    "stun.pcap",
    "stun_google_meet.pcapng",
    "stun_zoom.pcapng",
    "google_meet.pcapng",
    "os_detected.pcapng",
    "geforcenow.pcapng",
];

/// JA3 of every DTLS client and JA3S of every DTLS server equal nDPI's
/// `JA3C` and `JA3S`; the certificate's SHA-1 and validity equal nDPI's;
/// JA4's cipher and extension parts equal nDPI's.
#[test]
fn ja3_ja3s_and_certificates_equal_ndpi() {
    compare_with_ndpi(PROBE_PACKETS);
}

/// The same without the sensor's probe window: the parser reads every
/// DTLS flow nDPI reads, the one whose hello is the 7th packet included.
#[test]
fn every_ndpi_dtls_flow_without_the_probe_window() {
    compare_with_ndpi(usize::MAX / 4);
}

fn compare_with_ndpi(window: usize) {
    let (mut ja3, mut ja3s, mut certs, mut ja4) = ((0, 0), (0, 0), (0, 0), (0, 0));
    let mut failures = Vec::new();
    let mut beyond_window = Vec::new();
    let mut found = 0;
    for name in CAPTURES {
        let (dirs, late) = directions(&format!("ndpi/{name}"), window);
        let mut by_flow: HashMap<(SocketAddr, SocketAddr), Vec<Finding>> = HashMap::new();
        for d in &dirs {
            match d.feed(parse_stream) {
                Ok(findings) => {
                    found += findings.len();
                    by_flow.entry((d.src, d.dst)).or_default().extend(findings)
                }
                Err(e) => eprintln!("{name} {} -> {}: {e}", d.src, d.dst),
            }
        }
        for (a, b, items) in ndpi_flows(&format!("ndpi/result/{name}.out")) {
            if !items.get("proto").is_some_and(|p| p.contains("DTLS")) {
                continue;
            }
            if late.contains(&(a, b)) || late.contains(&(b, a)) {
                // The sensor probes a flow's first 6 payload packets only.
                beyond_window.push(format!("{name} {a} <-> {b}"));
                continue;
            }
            let findings: Vec<&Finding> = [(a, b), (b, a)]
                .iter()
                .filter_map(|k| by_flow.get(k))
                .flatten()
                .collect();
            let client = findings
                .iter()
                .find(|f| str_at(f, "tls.ja3.hash").is_some());
            let server = findings
                .iter()
                .find(|f| str_at(f, "tls.ja3s.hash").is_some());
            let mut check = |count: &mut (usize, usize),
                             what: &str,
                             ours: Option<&str>,
                             theirs: Option<&String>| {
                let Some(theirs) = theirs else { return };
                let theirs = theirs.split(' ').next().unwrap_or_default();
                count.1 += 1;
                if ours.is_some_and(|o| o.eq_ignore_ascii_case(theirs)) {
                    count.0 += 1;
                } else {
                    failures.push(format!("{name} {a} {what}: {ours:?} != {theirs}"));
                }
            };
            check(
                &mut ja3,
                "JA3C",
                client.and_then(|f| str_at(f, "tls.ja3.hash")),
                items.get("JA3C"),
            );
            check(
                &mut ja3s,
                "JA3S",
                server.and_then(|f| str_at(f, "tls.ja3s.hash")),
                items.get("JA3S"),
            );
            let sha1 = server
                .and_then(|f| str_at(f, "tls.fingerprint"))
                .map(|s| s.replace(':', ""));
            let sha1_theirs = items.get("Certificate SHA-1").map(|s| s.replace(':', ""));
            check(
                &mut certs,
                "certificate SHA-1",
                sha1.as_deref(),
                sha1_theirs.as_ref(),
            );
            // nDPI's JA4 letters differ from the spec (version from the
            // numerically largest DTLS version, SNI letter from the host
            // name, ALPN's first two characters): compare the two hashes.
            // nDPI also hashes an empty extension list where the spec
            // writes twelve zeros.
            let hashes = |s: &str| {
                s.split_once('_')
                    .map(|(_, h)| h.replace("e3b0c44298fc", "000000000000"))
            };
            let ja4_theirs = items.get("JA4").and_then(|s| hashes(s));
            check(
                &mut ja4,
                "JA4 hashes",
                client
                    .and_then(|f| str_at(f, "tls.ja4"))
                    .and_then(hashes)
                    .as_deref(),
                ja4_theirs.as_ref(),
            );
            if let (Some(f), Some(validity)) = (server, items.get("Validity"))
                && str_at(f, "tls.notbefore").is_some()
            {
                let ours = format!(
                    "{} - {}",
                    str_at(f, "tls.notbefore").unwrap().replace('T', " "),
                    str_at(f, "tls.notafter").unwrap().replace('T', " ")
                );
                assert_eq!(&ours, validity, "{name} {a}");
            }
        }
    }
    eprintln!(
        "nDPI DTLS: JA3C {}/{}, JA3S {}/{}, certificate SHA-1 {}/{}, JA4 hashes {}/{}; \
         {found} findings; DTLS after the probe window: {beyond_window:?}",
        ja3.0, ja3.1, ja3s.0, ja3s.1, certs.0, certs.1, ja4.0, ja4.1
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        ja3.1 >= 16 && ja3s.1 >= 12 && certs.1 >= 9,
        "{ja3:?} {ja3s:?} {certs:?}"
    );
    assert!(beyond_window.len() <= 1, "{beyond_window:?}");
    assert_eq!(ja3.1 + beyond_window.len(), 17);
}

fn udp() -> Context {
    Context {
        carrier: Carrier::Udp,
        src_port: 5000,
        dst_port: 5001,
        to_server: true,
        src_mac: None,
        dst_mac: None,
    }
}

/// A DTLS 1.2 ClientHello of `exts` extension bytes, split into fragments
/// of `chunk` bytes, one record per datagram, as a length-prefixed stream.
fn fragmented_hello(cookie: &[u8], chunk: usize) -> Vec<u8> {
    let mut body = vec![0xfe, 0xfd];
    body.extend_from_slice(&[7; 32]);
    body.push(0); // session id
    body.push(cookie.len() as u8);
    body.extend_from_slice(cookie);
    body.extend_from_slice(&[0, 4, 0xc0, 0x2b, 0xc0, 0x2f]);
    body.extend_from_slice(&[1, 0]);
    // Extensions: SNI "a.example", supported groups 23.
    let sni = b"a.example";
    let mut exts = vec![0, 0];
    exts.extend_from_slice(&((sni.len() + 5) as u16).to_be_bytes());
    exts.extend_from_slice(&((sni.len() + 3) as u16).to_be_bytes());
    exts.push(0);
    exts.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    exts.extend_from_slice(sni);
    exts.extend_from_slice(&[0, 10, 0, 4, 0, 2, 0, 23]);
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);

    let mut stream = Vec::new();
    // Fragments in reverse order, plus a STUN datagram in between.
    let offsets: Vec<usize> = (0..body.len()).step_by(chunk).collect();
    for (n, &off) in offsets.iter().rev().enumerate() {
        let frag = &body[off..(off + chunk).min(body.len())];
        let mut record = vec![22, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, n as u8];
        record.extend_from_slice(&((frag.len() + 12) as u16).to_be_bytes());
        record.push(1);
        record.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        record.extend_from_slice(&[0, 0]);
        record.extend_from_slice(&(off as u32).to_be_bytes()[1..]);
        record.extend_from_slice(&(frag.len() as u32).to_be_bytes()[1..]);
        record.extend_from_slice(frag);
        stream.extend_from_slice(&(record.len() as u16).to_be_bytes());
        stream.extend_from_slice(&record);
        let stun = [
            0u8, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
        ];
        stream.extend_from_slice(&(stun.len() as u16).to_be_bytes());
        stream.extend_from_slice(&stun);
    }
    stream
}

#[test]
fn hello_fragmented_out_of_order_among_stun() {
    let stream = fragmented_hello(&[0xaa; 20], 17);
    let mut out = Vec::new();
    let progress = parse_stream(&Knowledge::default(), &udp(), &stream, false, &mut out).unwrap();
    assert_eq!(progress, Progress::Done, "a hello with a cookie is final");
    let f = &out[0];
    assert_eq!(f.event_type, "tls");
    assert_eq!(str_at(f, "tls.sni"), Some("a.example"));
    assert_eq!(f.get("tls.dtls"), Some(&serde_json::Value::Bool(true)));
    assert_eq!(str_at(f, "tls.version"), Some("DTLS 1.2"));
    assert_eq!(
        str_at(f, "tls.ja3.string"),
        Some("65277,49195-49199,0-10,23,")
    );
    assert!(str_at(f, "tls.ja4").unwrap().starts_with("dd2d020200_"));

    // Without a cookie, the parser waits for the next flight.
    let stream = fragmented_hello(&[], 40);
    let mut out = Vec::new();
    let progress = parse_stream(&Knowledge::default(), &udp(), &stream, false, &mut out).unwrap();
    assert_eq!(progress, Progress::NeedMore);
    let progress = parse_stream(&Knowledge::default(), &udp(), &stream, true, &mut out).unwrap();
    assert_eq!(progress, Progress::Done);
    assert_eq!(out.len(), 1);
}

#[test]
fn probe_needs_a_dtls_hello_record() {
    let (dirs, _) = directions("ndpi/dtls2.pcap", PROBE_PACKETS);
    assert_eq!(dirs.len(), 2);
    let first = &dirs[0].bytes[2..dirs[0].ends[0]];
    assert!(probe(&udp(), first));
    let tcp = Context {
        carrier: Carrier::Tcp,
        ..udp()
    };
    assert!(!probe(&tcp, first));
    // A TLS record, STUN, RTP, DTLS application data.
    assert!(!probe(&udp(), &[22, 3, 1, 0, 5, 1, 0, 0, 1, 0]));
    assert!(!probe(
        &udp(),
        &[0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0, 0, 0]
    ));
    assert!(!probe(
        &udp(),
        &[0x80, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    ));
    let mut data = first.to_vec();
    data[0] = 23;
    assert!(!probe(&udp(), &data));
    assert!(!probe(&udp(), &first[..12]));
}

#[test]
fn hostile_input() {
    let k = Knowledge::default();
    let mut out = Vec::new();
    // No DTLS at all.
    assert!(parse_stream(&k, &udp(), &[], true, &mut out).is_err());
    assert!(parse_stream(&k, &udp(), &[0, 3, 1, 2, 3], true, &mut out).is_err());
    // A fragment claiming bytes beyond its message.
    let mut bad = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 14];
    bad.extend_from_slice(&[1, 0, 0, 4, 0, 0, 0, 0, 3, 0, 0, 2, 9, 9]);
    let mut stream = (bad.len() as u16).to_be_bytes().to_vec();
    stream.extend_from_slice(&bad);
    assert!(parse_stream(&k, &udp(), &stream, true, &mut out).is_err());
    // A 16 MiB message is refused, not allocated.
    bad[14..17].copy_from_slice(&[0xff, 0xff, 0xff]);
    bad[20..23].copy_from_slice(&[0, 0, 0]);
    let mut stream = (bad.len() as u16).to_be_bytes().to_vec();
    stream.extend_from_slice(&bad);
    assert!(parse_stream(&k, &udp(), &stream, true, &mut out).is_err());
    // Every prefix and corruption of real directions.
    for name in ["dtls2.pcap", "dtls_certificate_fragments.pcap", "stun.pcap"] {
        let (dirs, _) = directions(&format!("ndpi/{name}"), PROBE_PACKETS);
        for d in &dirs {
            for cut in (0..d.bytes.len()).step_by(7) {
                let _ = parse_stream(&k, &udp(), &d.bytes[..cut], true, &mut out);
            }
            let mut bytes = d.bytes.clone();
            for i in (2..bytes.len()).step_by(5) {
                bytes[i] ^= 0x5a;
                let _ = parse_stream(&k, &udp(), &bytes, true, &mut out);
                bytes[i] ^= 0x5a;
            }
        }
    }
    assert!(out.iter().all(|f| f.event_type == "tls"));
}

#[test]
fn dtls13_client_and_server() {
    let (dirs, _) = directions("ndpi/dtls.pcap", PROBE_PACKETS);
    let findings: Vec<Finding> = dirs
        .iter()
        .filter(|d| d.dst.port() == 11111 || d.src.port() == 11111)
        .flat_map(|d| d.feed(parse_stream).unwrap())
        .collect();
    let client = findings
        .iter()
        .find(|f| f.get("tls.ja4").is_some())
        .unwrap();
    // supported_versions offers DTLS 1.3 (0xfefc) and 1.2 (0xfefd): the
    // newest is the smallest number (nDPI's JA4 says d2).
    assert_eq!(str_at(client, "tls.version"), Some("DTLS 1.3"));
    assert!(str_at(client, "tls.ja4").unwrap().starts_with("dd3i2706"));
    let server = findings
        .iter()
        .find(|f| f.get("tls.ja3s.hash").is_some())
        .unwrap();
    assert_eq!(str_at(server, "tls.version"), Some("DTLS 1.3"));
    assert_eq!(
        str_at(server, "tls.cipher_suite"),
        Some("TLS_AES_128_GCM_SHA256")
    );
}
