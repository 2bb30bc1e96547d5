#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use serde_json::Value;

use super::*;
use crate::testing::{Message, capture, messages};

/// What the sensor keeps of a direction.
const SENSOR_CAP: usize = 16 * 1024;

/// Feeds a direction as the sensor does: growing prefixes until `Done`,
/// the last one (at most 16 KiB) with `last`.
pub(crate) fn run(
    parse: super::super::StreamParser,
    bytes: &[u8],
) -> Result<Vec<Finding>, ParseError> {
    let knowledge = Knowledge::default();
    let ctx = Context {
        carrier: Carrier::Tcp,
        src_port: 0,
        dst_port: 0,
        to_server: true,
        src_mac: None,
        dst_mac: None,
    };
    let end = bytes.len().min(SENSOR_CAP);
    let mut len = 0;
    loop {
        len = (len + 700).min(end);
        let last = len == end;
        let mut out = Vec::new();
        let progress = parse(&knowledge, &ctx, &bytes[..len], last, &mut out)?;
        if progress == Progress::Done || last {
            return Ok(out);
        }
        assert!(out.is_empty(), "findings pushed before Done");
    }
}

fn str_at<'f>(f: &'f Finding, path: &str) -> Option<&'f str> {
    f.get(path)?.as_str()
}

fn tls_streams(relative: &str) -> Vec<Message> {
    messages(relative)
        .into_iter()
        .filter(|m| m.context.carrier == Carrier::Tcp && probe(&m.context, &m.bytes))
        .collect()
}

fn endpoint(m: &Message) -> (SocketAddr, SocketAddr) {
    (
        SocketAddr::new(m.src_ip.unwrap(), m.context.src_port),
        SocketAddr::new(m.dst_ip.unwrap(), m.context.dst_port),
    )
}

fn json_files(dir: &str, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(capture(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(suffix))
        .collect();
    names.sort();
    names
}

/// FoxIO's expected JA4 (python/test/testdata/<capture>.json, key `JA4.1`:
/// the first ClientHello of the stream) for every TLS-over-TCP client of
/// the captures in pcaps/ja4/.
#[test]
fn ja4_equals_foxio_for_every_tls_client() {
    let mut total = 0;
    let mut deviations = 0;
    let mut failures = Vec::new();
    for json in json_files("ja4/expected", ".json") {
        let name = json.trim_end_matches(".json");
        let expected: Vec<Value> = serde_json::from_str(
            &std::fs::read_to_string(capture(&format!("ja4/expected/{json}"))).unwrap(),
        )
        .unwrap();
        let streams = tls_streams(&format!("ja4/{name}"));
        for entry in &expected {
            let Some(ja4) = entry["JA4.1"].as_str() else {
                continue;
            };
            let client = SocketAddr::new(
                entry["src"].as_str().unwrap().parse::<IpAddr>().unwrap(),
                entry["srcport"].as_str().unwrap().parse().unwrap(),
            );
            let server = SocketAddr::new(
                entry["dst"].as_str().unwrap().parse::<IpAddr>().unwrap(),
                entry["dstport"].as_str().unwrap().parse().unwrap(),
            );
            total += 1;
            let Some(stream) = streams.iter().find(|m| endpoint(m) == (client, server)) else {
                failures.push(format!("{name} {client}: no TLS stream"));
                continue;
            };
            let findings = run(parse_stream, &stream.bytes).unwrap();
            let ours = findings.first().and_then(|f| str_at(f, "tls.ja4"));
            // FoxIO's test data predate the spec's hex rule for an ALPN
            // that is not alphanumeric (0xba 0xad: spec "bd", data "99";
            // FoxIO-LLC/ja4 issue 326): the spec is followed, the rest of
            // the fingerprint must still agree.
            if name == "tls-non-ascii-alpn.pcapng" {
                assert_eq!(ours, Some(ja4.replace("d151699_", "d1516bd_").as_str()));
                deviations += 1;
                continue;
            }
            if ours != Some(ja4) {
                failures.push(format!("{name} {client}: {ours:?} != {ja4}"));
            }
            if let Some(domain) = entry["domain"].as_str() {
                assert_eq!(
                    findings.first().and_then(|f| str_at(f, "tls.sni")),
                    Some(domain)
                );
            }
        }
    }
    eprintln!(
        "JA4 equal to FoxIO for {}/{total} TLS clients ({deviations} per the newer spec's ALPN rule)",
        total - failures.len() - deviations
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(total >= 130, "{total}");
}

/// One flow line of nDPI's result file: its two endpoints and its bracketed
/// `[key: value]` items.
pub(crate) fn ndpi_flows(out: &str) -> Vec<(SocketAddr, SocketAddr, HashMap<String, String>)> {
    let mut flows = Vec::new();
    for line in std::fs::read_to_string(capture(out)).unwrap().lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (Some(&proto), Some(&a), Some(&arrow), Some(&b)) =
            (words.get(1), words.get(2), words.get(3), words.get(4))
        else {
            continue;
        };
        if !matches!(proto, "TCP" | "UDP") || !matches!(arrow, "<->" | "->") {
            continue;
        }
        let (Ok(a), Ok(b)) = (a.parse::<SocketAddr>(), b.parse::<SocketAddr>()) else {
            continue;
        };
        let mut items = HashMap::new();
        for item in line.split('[').skip(1) {
            let item = item.trim_end().trim_end_matches(']');
            if let Some((k, v)) = item.split_once(": ") {
                items.insert(k.to_string(), v.to_string());
            }
        }
        flows.push((a, b, items));
    }
    flows
}

/// JA3 of clients and JA3S of servers equal nDPI's `JA3C` and `JA3S`; the
/// certificate's SHA-1 and validity equal nDPI's too.
#[test]
fn ja3_ja3s_and_certificates_equal_ndpi() {
    let captures = [
        "selfsigned.pcap",
        "tls_cipher_lens.pcap",
        "tls-rdn-extract.pcap",
        "ssl-cert-name-mismatch.pcap",
        "tls_malicious_sha1.pcapng",
        "tls_2_reasms.pcapng",
    ];
    let (mut ja3, mut ja3s, mut certs) = ((0, 0), (0, 0), (0, 0));
    let mut failures = Vec::new();
    for name in captures {
        let streams = tls_streams(&format!("ndpi/{name}"));
        for (a, b, items) in ndpi_flows(&format!("ndpi/result/{name}.out")) {
            if a.port() == b.port() && a.ip() == b.ip() {
                continue;
            }
            let mut client = None;
            let mut server = None;
            for m in streams.iter().filter(|m| {
                let (s, d) = endpoint(m);
                (s, d) == (a, b) || (s, d) == (b, a)
            }) {
                for f in run(parse_stream, &m.bytes).unwrap_or_default() {
                    if str_at(&f, "tls.ja3.hash").is_some() {
                        client = Some(f);
                    } else {
                        server = Some(f);
                    }
                }
            }
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
                client.as_ref().and_then(|f| str_at(f, "tls.ja3.hash")),
                items.get("JA3C"),
            );
            check(
                &mut ja3s,
                "JA3S",
                server.as_ref().and_then(|f| str_at(f, "tls.ja3s.hash")),
                items.get("JA3S"),
            );
            let sha1 = server
                .as_ref()
                .and_then(|f| str_at(f, "tls.fingerprint"))
                .map(|s| s.replace(':', ""));
            let sha1_theirs = items.get("Certificate SHA-1").map(|s| s.replace(':', ""));
            check(
                &mut certs,
                "certificate SHA-1",
                sha1.as_deref(),
                sha1_theirs.as_ref(),
            );
            if let (Some(f), Some(validity)) = (&server, items.get("Validity")) {
                let ours = format!(
                    "{} - {}",
                    str_at(f, "tls.notbefore")
                        .unwrap_or_default()
                        .replace('T', " "),
                    str_at(f, "tls.notafter")
                        .unwrap_or_default()
                        .replace('T', " ")
                );
                assert_eq!(&ours, validity, "{name}");
            }
            // nDPI's issuer and subject keep only some attributes (no DC),
            // so names are compared against Zeek instead.
        }
    }
    eprintln!(
        "nDPI: JA3C {}/{}, JA3S {}/{}, certificate SHA-1 {}/{}",
        ja3.0, ja3.1, ja3s.0, ja3s.1, certs.0, certs.1
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        ja3.1 >= 6 && ja3s.1 >= 5 && certs.1 >= 4,
        "{ja3:?} {ja3s:?} {certs:?}"
    );
}

/// Zeek's x509.log rows, by SHA-256 fingerprint: field name -> value.
fn zeek_x509(relative: &str) -> HashMap<String, HashMap<String, String>> {
    let text = std::fs::read_to_string(capture(relative)).unwrap();
    let mut names: Vec<String> = Vec::new();
    let mut rows = HashMap::new();
    for line in text.lines() {
        if let Some(fields) = line.strip_prefix("#fields\t") {
            names = fields.split('\t').map(str::to_string).collect();
        } else if !line.starts_with('#') {
            let row: HashMap<String, String> = names
                .iter()
                .cloned()
                .zip(line.split('\t').map(str::to_string))
                .collect();
            rows.insert(row["fingerprint"].clone(), row);
        }
    }
    rows
}

/// Zeek writes names leaf-first without spaces, escaping commas; ours (and
/// Suricata's, nDPI's) are root-first with ", ".
fn zeek_name(name: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            ',' => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    parts.reverse();
    // OpenSSL's short names where x509-parser (and so Suricata) differ.
    parts
        .iter()
        .map(|p| {
            if let Some(v) = p.strip_prefix("emailAddress=") {
                format!("Email={v}")
            } else if let Some(v) = p.strip_prefix("street=") {
                format!("streetAddress={v}")
            } else {
                p.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every leaf certificate read from a capture is in Zeek's x509.log, with
/// the same serial, subject, issuer, validity, key and SANs.
#[test]
fn certificates_equal_zeek_x509_log() {
    let traces = [
        "tls-conn-with-extensions",
        "ecdhe",
        "telesec",
        "certificate-with-sct",
        "tls1_1",
        "ecdsa-cert",
        "tls1.2",
        "ml-dsa-44-cert",
        "google-duplicate",
    ];
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for trace in traces {
        let rows = zeek_x509(&format!("zeek/baseline/{trace}.x509.log"));
        let mut found = 0;
        for m in tls_streams(&format!("zeek/tls/{trace}.pcap")) {
            for f in run(parse_stream, &m.bytes).unwrap_or_default() {
                let Some(sha256) = str_at(&f, "tls.certificate.sha256") else {
                    continue;
                };
                found += 1;
                let Some(row) = rows.get(sha256) else {
                    mismatches.push(format!("{trace}: {sha256} not in x509.log"));
                    continue;
                };
                checked += 1;
                let mut same = |what: &str, ours: String, theirs: String| {
                    if ours != theirs {
                        mismatches.push(format!("{trace} {what}: {ours:?} != {theirs:?}"));
                    }
                };
                let serial = str_at(&f, "tls.serial").unwrap().replace(':', "");
                same(
                    "serial",
                    serial.trim_start_matches('0').into(),
                    row["certificate.serial"].trim_start_matches('0').into(),
                );
                same(
                    "subject",
                    str_at(&f, "tls.subject").unwrap().into(),
                    zeek_name(&row["certificate.subject"]),
                );
                same(
                    "issuer",
                    str_at(&f, "tls.issuerdn").unwrap().into(),
                    zeek_name(&row["certificate.issuer"]),
                );
                for (ours, theirs) in [
                    ("tls.notbefore", "certificate.not_valid_before"),
                    ("tls.notafter", "certificate.not_valid_after"),
                ] {
                    let epoch: f64 = row[theirs].parse().unwrap();
                    same(
                        ours,
                        str_at(&f, ours).unwrap().into(),
                        crate::proto::rfc3339(epoch as i64),
                    );
                }
                if let Ok(bits) = row["certificate.key_length"].parse::<u64>() {
                    let ours = f.fields["certificate"]["key_bits"].as_u64().unwrap_or(0);
                    same("key bits", ours.to_string(), bits.to_string());
                }
                let key_type = match row["certificate.key_type"].as_str() {
                    "rsa" => "RSA",
                    "ecdsa" => "EC",
                    "dsa" => "DSA",
                    _ => "",
                };
                if !key_type.is_empty() {
                    same(
                        "key type",
                        str_at(&f, "tls.certificate.key_type").unwrap().into(),
                        key_type.into(),
                    );
                }
                if row["san.dns"] != "-" {
                    let ours: Vec<&str> = f.fields["certificate"]["san"]
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    same("san", ours.join(","), row["san.dns"].clone());
                }
            }
        }
        assert!(found > 0, "{trace}: no certificate read");
    }
    eprintln!(
        "certificates equal to Zeek's x509.log: {}/{}",
        checked - mismatches.len().min(checked),
        checked
    );
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    assert!(checked >= 9);
}

/// What a user sees for GitHub's server in FoxIO's https3-301-get capture
/// (a TLS 1.0 chain of two DigiCert certificates).
#[test]
fn github_server_certificate() {
    let streams = tls_streams("ja4/https3-301-get.pcap");
    let server = streams.iter().find(|m| !m.context.to_server).unwrap();
    let f = &run(parse_stream, &server.bytes).unwrap()[0];
    assert_eq!(f.event_type, "tls");
    assert_eq!(f.about, About::Sender);
    assert_eq!(str_at(f, "tls.version"), Some("TLS 1.0"));
    assert!(
        str_at(f, "tls.subject")
            .unwrap()
            .ends_with("O=GitHub, Inc., CN=github.com")
    );
    assert_eq!(
        str_at(f, "tls.issuerdn"),
        Some("C=US, O=DigiCert Inc, OU=www.digicert.com, CN=DigiCert High Assurance EV CA-1")
    );
    assert_eq!(f.fields["certificate"]["chain_length"], 2);
    assert_eq!(f.fields["certificate"]["self_signed"], false);
    assert_eq!(
        str_at(f, "tls.cipher_suite"),
        Some("TLS_RSA_WITH_RC4_128_SHA")
    );
    let client = streams.iter().find(|m| m.context.to_server).unwrap();
    let c = &run(parse_stream, &client.bytes).unwrap()[0];
    assert_eq!(str_at(c, "tls.sni"), Some("www.github.com"));
}

/// nDPI's self-signed test certificate: subject equals issuer.
#[test]
fn self_signed_certificate() {
    let streams = tls_streams("ndpi/selfsigned.pcap");
    let server = streams.iter().find(|m| !m.context.to_server).unwrap();
    let f = &run(parse_stream, &server.bytes).unwrap()[0];
    assert_eq!(f.fields["certificate"]["self_signed"], true);
    assert_eq!(
        str_at(f, "tls.subject"),
        Some("C=IT, ST=Some-State, O=ntop.org")
    );
    let client = streams.iter().find(|m| m.context.to_server).unwrap();
    let c = &run(parse_stream, &client.bytes).unwrap()[0];
    assert_eq!(
        c.fields["client_alpns"],
        serde_json::json!(["h2", "http/1.1"])
    );
    assert_eq!(str_at(c, "tls.sni"), Some("localhost"));
}

#[test]
fn probe_needs_a_hello() {
    let ctx = Context {
        carrier: Carrier::Tcp,
        src_port: 1234,
        dst_port: 8443,
        to_server: true,
        src_mac: None,
        dst_mac: None,
    };
    assert!(probe(&ctx, &[22, 3, 1, 0, 200, 1]));
    assert!(probe(&ctx, &[22, 3, 3, 0, 80, 2]));
    assert!(!probe(&ctx, &[22, 3, 1, 0, 200, 11]));
    assert!(!probe(&ctx, b"GET / HTTP/1.1\r\n"));
    assert!(!probe(&ctx, &[]));
    assert!(!probe(
        &Context {
            carrier: Carrier::Udp,
            ..ctx
        },
        &[22, 3, 1, 0, 200, 1]
    ));
}

/// Truncated, cut and corrupted handshakes give errors or partial
/// findings, never a panic.
#[test]
fn hostile_input() {
    let knowledge = Knowledge::default();
    let ctx = Context {
        carrier: Carrier::Tcp,
        src_port: 1,
        dst_port: 443,
        to_server: true,
        src_mac: None,
        dst_mac: None,
    };
    let parse =
        |bytes: &[u8], last: bool| parse_stream(&knowledge, &ctx, bytes, last, &mut Vec::new());
    assert!(parse(&[], true).is_err());
    assert!(parse(&[22, 3, 1, 0xff, 0xff], true).is_err());
    assert_eq!(
        parse(&[22, 3, 1, 0, 10, 1, 0], false),
        Ok(Progress::NeedMore)
    );
    assert!(parse(&[22, 3, 1, 0, 10, 1, 0], true).is_err());
    assert!(parse(&[23, 3, 3, 0, 1, 0], true).is_err());
    // A hello announcing 16 MB, spread over records: a limit, not a hoard.
    let mut huge = Vec::new();
    for i in 0..8 {
        huge.extend_from_slice(&[22, 3, 1, 0x40, 0x00]);
        let mut body = vec![0u8; 0x4000];
        if i == 0 {
            body[..4].copy_from_slice(&[1, 0xff, 0xff, 0xff]);
        }
        huge.extend_from_slice(&body);
    }
    assert!(parse(&huge, false).is_err());

    let streams = tls_streams("ja4/https3-301-get.pcap");
    for m in &streams {
        let bytes = &m.bytes[..m.bytes.len().min(6000)];
        for cut in 0..bytes.len() {
            let _ = parse(&bytes[..cut], true);
        }
        for i in 0..bytes.len().min(600) {
            let mut corrupt = bytes.to_vec();
            corrupt[i] ^= 0x5a;
            let _ = parse(&corrupt, true);
            corrupt[i] = 0xff;
            let _ = parse(&corrupt, true);
        }
    }
}
