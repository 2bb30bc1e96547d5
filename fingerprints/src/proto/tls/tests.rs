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
                let days = |field: &str| row[field].parse::<f64>().unwrap() as i64;
                same(
                    "validity days",
                    f.fields["certificate"]["validity_days"].to_string(),
                    ((days("certificate.not_valid_after") - days("certificate.not_valid_before"))
                        .div_euclid(86_400))
                    .to_string(),
                );
                if let Ok(bits) = row["certificate.key_length"].parse::<u64>() {
                    let ours = f.fields["certificate"]["key_bits"].as_u64().unwrap_or(0);
                    same("key bits", ours.to_string(), bits.to_string());
                    // Zeek's key type and length judged by the same floor.
                    let weak = match row["certificate.key_type"].as_str() {
                        "rsa" | "dsa" => bits < 2048,
                        "ecdsa" => bits < 224,
                        _ => false,
                    };
                    same(
                        "weak key",
                        f.fields["certificate"]["weak_key"].to_string(),
                        weak.to_string(),
                    );
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

/// Suricata's name of a version where it differs from mirador's.
fn suricata_version(ours: &str) -> String {
    match ours {
        "TLS 1.0" => "TLSv1",
        other => other,
    }
    .to_string()
}

/// One event per TCP connection with a hello, as Suricata writes one `tls`
/// event per flow: the client's hello and the server's hello and
/// certificate together. Where the two directions both have a field
/// (`tls.version`), the server's is Suricata's: the version in use; without
/// a ServerHello, Suricata (8.0.3 on, ticket 5713) writes the client's
/// highest, as mirador's client event does. Suricata 8's
/// `tls.server_handshake` is read off mirador's JA3S string (the
/// ServerHello's version field, cipher and extensions).
///
/// With `upgraded`, a direction that does not start with a hello is read
/// from its first hello on (TLS after an HTTP CONNECT or a STARTTLS, which
/// Suricata follows and mirador's probe does not).
fn suricata_events(pcap: &str, upgraded: bool) -> Vec<suricata_verify::Event> {
    type Connection = ((SocketAddr, SocketAddr), Option<Finding>, Option<Finding>);
    let mut connections: Vec<Connection> = Vec::new();
    for m in messages(pcap) {
        if m.context.carrier != Carrier::Tcp {
            continue;
        }
        let (src, dst) = endpoint(&m);
        let key = if m.context.to_server {
            (src, dst)
        } else {
            (dst, src)
        };
        let start = if upgraded {
            (0..m.bytes.len()).find(|&i| probe(&m.context, &m.bytes[i..]))
        } else {
            probe(&m.context, &m.bytes).then_some(0)
        };
        let found = start
            .and_then(|i| run(parse_stream, &m.bytes[i..]).ok())
            .and_then(|f| f.into_iter().next());
        let at = match connections.iter().position(|(k, ..)| *k == key) {
            Some(at) => at,
            None => {
                connections.push((key, None, None));
                connections.len() - 1
            }
        };
        if m.context.to_server {
            connections[at].1 = found;
        } else {
            connections[at].2 = found;
        }
    }
    connections
        .into_iter()
        .filter(|(_, c, s)| c.is_some() || s.is_some())
        .map(|((client, server), c, s)| {
            let mut e = suricata_verify::Event::new();
            e.insert("src_ip".into(), client.ip().to_string().into());
            e.insert("src_port".into(), client.port().into());
            e.insert("dest_ip".into(), server.ip().to_string().into());
            e.insert("dest_port".into(), server.port().into());
            e.insert("proto".into(), "TCP".into());
            for f in c.iter().chain(&s) {
                for (key, value) in f.leaves() {
                    e.insert(format!("tls.{key}"), value.clone());
                }
            }
            let version = s
                .as_ref()
                .or(c.as_ref())
                .and_then(|f| str_at(f, "tls.version"));
            e.insert(
                "tls.version".into(),
                version
                    .map_or("UNDETERMINED".into(), suricata_version)
                    .into(),
            );
            if let Some(alpn) = s.as_ref().and_then(|s| s.get("tls.server_alpn")) {
                e.insert("tls.server_alpns".into(), Value::Array(vec![alpn.clone()]));
            }
            if let Some(ja3s) = s.as_ref().and_then(|s| str_at(s, "tls.ja3s.string")) {
                let parts: Vec<&str> = ja3s.split(',').collect();
                let version = hello::version_name(parts[0].parse().unwrap());
                e.insert(
                    "tls.server_handshake.version".into(),
                    suricata_version(&version).into(),
                );
                let cipher: u16 = parts[1].parse().unwrap();
                e.insert("tls.server_handshake.cipher".into(), cipher.into());
                let exts: Vec<Value> = parts[2]
                    .split('-')
                    .filter(|x| !x.is_empty())
                    .map(|x| x.parse::<u16>().unwrap().into())
                    .collect();
                e.insert("tls.server_handshake.exts".into(), exts.into());
            }
            e
        })
        .collect()
}

/// The fields of Suricata's `tls` event that mirador's events carry.
const SURICATA_TLS: suricata_verify::Protocol = suricata_verify::Protocol {
    event_type: "tls",
    alerts: false,
    emitted: &[
        "src_ip",
        "src_port",
        "dest_ip",
        "dest_port",
        "proto",
        "tls.sni",
        "tls.version",
        "tls.subject",
        "tls.issuerdn",
        "tls.serial",
        "tls.fingerprint",
        "tls.notbefore",
        "tls.notafter",
        "tls.ja3.string",
        "tls.ja3.hash",
        "tls.ja3s.string",
        "tls.ja3s.hash",
        "tls.ja4",
        "tls.client_alpns",
        "tls.server_alpns",
        "tls.client_handshake.version",
        "tls.client_handshake.ciphers",
        "tls.client_handshake.exts",
        "tls.client_handshake.sig_algs",
        "tls.server_handshake.version",
        "tls.server_handshake.cipher",
        "tls.server_handshake.exts",
    ],
    // pcap_cnt: the packet after which Suricata wrote the flow's event, not
    // one of the hellos'; community_id: a flow hash the sensor's events
    // carry, not the parser's; tls.from_proto: the protocol that started
    // TLS (STARTTLS); ether.*: the sensor's, not the parser's.
    skipped: &[
        "pcap_cnt",
        "community_id",
        "tls.from_proto",
        "ether.src_mac",
        "ether.dest_mac",
    ],
    expected: |_, v| v,
};

/// Where mirador's `tls` events differ from Suricata's on these captures;
/// each must still be seen, so that a change shows here.
const KNOWN_DIFFERENCES: &[&str] = &[
    // TLS inside an HTTP CONNECT tunnel (frames 4-6 are the CONNECT and its
    // 200): Suricata follows the CONNECT, mirador's probe wants a hello at
    // the start of the direction. The fields themselves are compared in
    // tls_after_connect_and_starttls_equals_suricata_verify.
    "bug-2430: check 2: count: expected 1, ours 0",
    // A ClientHello without signature_algorithms: Suricata hashes
    // "0005,000a,000b,0017,0023,ff01_" (it always joins extensions and
    // signature algorithms with `_`, rust/src/ja4.rs), FoxIO's JA4.md says
    // "If there are no signature algorithms in the hello packet, then the
    // string ends without an underscore", as mirador does.
    "bug-5713-02-ja4: check 2: tls.ja4: expected \"t10i070600_c50f5591e341_ce66f3b797c1\", ours \"t10i070600_c50f5591e341_c39ab67fec8e\"",
    // TLS after LDAP StartTLS: as bug-2430.
    "ldap-starttls: check 2: count: expected at least 1, ours 0",
    // A TCP Fast Open SYN carries the ClientHello (frame 1) and the server
    // does not take it; the client retries and the port pair is reused with
    // a new server sequence number (frame 14). Suricata (8.0.3 on) writes
    // two `tls` events, icloud.com and TLS 1.3 in both; mirador's messages
    // (one connection per address and port pair, SYN payloads not read)
    // give one connection, with those values.
    "tcp-fastopen-10-syn-data-ignore: check 8: count: expected 2, ours 1",
];

/// suricata-verify's `tls` checks: each field mirador emits equals
/// Suricata's, for every check that holds for the newest Suricata.
#[test]
fn tls_equals_suricata_verify() {
    // Test, protocol fields compared at least (the test.yaml's fields that
    // mirador emits, so that a field skipped by mistake fails).
    let tests = [
        ("bug-2430", 0),
        ("bug-2646-01", 8),
        ("bug-2646-02", 8),
        ("bug-4702-02", 1),
        ("bug-5713-01", 1),
        ("bug-5713-02-ja4", 2),
        ("bug-5758", 1),
        ("bug-7264-tcp-3whs-ack-data-tls-01", 1),
        ("community-id-ipv4", 2),
        ("community-id-ipv6", 4),
        ("exception-policy-default-01", 1),
        ("ja4-cl-handshake", 4),
        ("ja4-sv-handshake", 3),
        ("ja4-tls", 1),
        ("ja4-tls-quic", 1),
        ("ldap-starttls", 0),
        ("sslv2-tls-upgrade-01", 7),
        ("tcp-fastopen-10-syn-data-ignore", 2),
        ("tcp-fastopen-11-reject-syn-data", 2),
        ("tls-alpn-client-log-01", 2),
        ("tls-alpn-log-detect-02", 3),
        ("tls-duplicate-hello", 1),
    ];
    let mismatches = suricata_verify::compare_all(&tests, &SURICATA_TLS, |test| {
        suricata_events(&suricata_verify::pcap(test), false)
    });
    assert_eq!(mismatches, KNOWN_DIFFERENCES);
}

/// The captures where TLS starts after an HTTP CONNECT or an LDAP
/// StartTLS, read from the first hello of each direction on: the
/// certificate fields equal Suricata's.
#[test]
fn tls_after_connect_and_starttls_equals_suricata_verify() {
    for (test, fields) in [("bug-2430", 2), ("ldap-starttls", 6)] {
        let events = suricata_events(&suricata_verify::pcap(test), true);
        let outcome = suricata_verify::compare(test, &SURICATA_TLS, &events);
        assert_eq!(outcome.compared, fields, "{test}");
        assert_eq!(outcome.mismatches, Vec::<String>::new());
    }
}

/// suricata-verify's checks (`pcaps/suricata-verify/<test>/test.yaml`) read
/// and compared with mirador's events; shared by the DHCP, SNMP and TLS
/// tests.
///
/// A check is `filter: {count: N, match: {field: value, ...}}`: exactly N
/// of Suricata's EVE events carry every listed value. Each protocol's test
/// turns mirador's findings into one event per Suricata event (a DHCP or
/// SNMP message, a TLS connection) named as Suricata names its fields, and
/// [`compare`] counts the events that carry every value. Fields mirador
/// does not emit are listed by each protocol and skipped; a check that
/// skips none must match exactly N events, one that skips some at least N
/// (the skipped fields could only narrow the match). A field listed neither
/// as emitted nor as skipped fails the test.
pub(crate) mod suricata_verify {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::Value;

    use crate::testing::capture;

    /// One `filter` check.
    #[derive(Debug)]
    pub(crate) struct Filter {
        /// It holds for the newest Suricata (not limited by `lt-version`).
        pub newest: bool,
        pub count: usize,
        pub fields: Vec<(String, Value)>,
    }

    /// An event as Suricata names its fields: `src_ip`, `pcap_cnt` ...
    /// and the protocol's own (`tls.sni`); arrays whole (`dhcp.params`).
    pub(crate) type Event = BTreeMap<String, Value>;

    /// What a protocol's events hold.
    pub(crate) struct Protocol {
        /// Suricata's `event_type`, also the prefix of its fields.
        pub event_type: &'static str,
        /// Also read `alert` checks whose fields include the protocol's
        /// (the alert carries the transaction's fields).
        pub alerts: bool,
        /// Fields (without `[index]`) that the events carry.
        pub emitted: &'static [&'static str],
        /// Fields mirador does not emit: not compared.
        pub skipped: &'static [&'static str],
        /// Suricata's value put as mirador writes it, where the two differ
        /// only in representation.
        pub expected: fn(&str, Value) -> Value,
    }

    /// What [`compare`] found for one test.
    #[derive(Debug, Default)]
    pub(crate) struct Outcome {
        /// Protocol fields compared with an event (the fields of checks
        /// with a count above zero; envelope fields such as `src_ip` not
        /// included).
        pub compared: usize,
        /// Fields skipped.
        pub skipped: BTreeSet<String>,
        /// `test: check N: field: expected X, ours Y`, N counting the
        /// test.yaml's `filter` checks from 1.
        pub mismatches: Vec<String>,
    }

    fn indent(line: &str) -> usize {
        line.len() - line.trim_start().len()
    }

    fn unescape(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('0') => out.push('\0'),
                Some(hex @ ('u' | 'x')) => {
                    let n = if hex == 'u' { 4 } else { 2 };
                    let digits: String = chars.by_ref().take(n).collect();
                    let code = u32::from_str_radix(&digits, 16).unwrap();
                    out.push(char::from_u32(code).unwrap());
                }
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        }
        out
    }

    /// A YAML scalar or flow sequence of scalars, as test.yaml writes
    /// them.
    fn scalar(s: &str) -> Value {
        let s = s.trim();
        if let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            return Value::String(unescape(inner));
        }
        if let Some(inner) = s.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
            return Value::String(inner.replace("''", "'"));
        }
        if let Some(inner) = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            return Value::Array(
                inner
                    .split(',')
                    .filter(|x| !x.trim().is_empty())
                    .map(scalar)
                    .collect(),
            );
        }
        match s {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => match s.parse::<i64>() {
                Ok(n) if !(s.starts_with('0') && s.len() > 1) => n.into(),
                _ => Value::String(s.to_string()),
            },
        }
    }

    /// The `filter` checks of a test.yaml, in order.
    pub(crate) fn filters(test: &str) -> Vec<Filter> {
        let path = capture(&format!("suricata-verify/{test}/test.yaml"));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            if !lines[i].trim_start().starts_with("- filter:") {
                i += 1;
                continue;
            }
            let base = indent(lines[i]);
            let end = (i + 1..lines.len())
                .find(|&j| indent(lines[j]) <= base)
                .unwrap_or(lines.len());
            out.push(filter(&lines[i + 1..end]));
            i = end;
        }
        out
    }

    fn filter(block: &[&str]) -> Filter {
        let top = block.iter().map(|l| indent(l)).min().unwrap();
        let mut newest = true;
        let mut count = None;
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut section = "";
        let mut entry_indent = usize::MAX;
        for line in block {
            let trimmed = line.trim();
            if section == "match" && indent(line) > entry_indent {
                // A plain scalar continued on the next line.
                let last = fields.last_mut().unwrap();
                last.1.push(' ');
                last.1.push_str(trimmed);
                continue;
            }
            let (key, value) = trimmed.split_once(':').unwrap_or((trimmed, ""));
            if indent(line) == top {
                section = key;
                entry_indent = usize::MAX;
                if key == "count" {
                    count = Some(value.trim().parse().unwrap());
                }
                continue;
            }
            match section {
                "requires" if key == "lt-version" => newest = false,
                "match" => {
                    entry_indent = indent(line);
                    fields.push((key.to_string(), value.trim().to_string()));
                }
                _ => {}
            }
        }
        Filter {
            newest,
            count: count.unwrap(),
            fields: fields.into_iter().map(|(k, v)| (k, scalar(&v))).collect(),
        }
    }

    /// The capture a test reads, as copied here: its own `input.pcap`, else
    /// the `input.pcap` of the test its `pcap:` line names.
    pub(crate) fn pcap(test: &str) -> String {
        let own = format!("suricata-verify/{test}/input.pcap");
        if capture(&own).exists() {
            return own;
        }
        let yaml =
            std::fs::read_to_string(capture(&format!("suricata-verify/{test}/test.yaml"))).unwrap();
        let named = yaml
            .lines()
            .find_map(|l| l.strip_prefix("pcap:"))
            .unwrap()
            .trim();
        let dir = named
            .strip_prefix("../")
            .and_then(|p| p.rsplit_once('/'))
            .unwrap()
            .0;
        format!("suricata-verify/{dir}/input.pcap")
    }

    /// A field of an event, `[index]` into an array (a string counts as an
    /// array of one).
    fn lookup(event: &Event, key: &str) -> Option<Value> {
        match key.strip_suffix(']').and_then(|k| k.rsplit_once('[')) {
            Some((base, index)) => {
                let index: usize = index.parse().unwrap();
                match event.get(base)? {
                    Value::Array(items) => items.get(index).cloned(),
                    one @ Value::String(_) if index == 0 => Some(one.clone()),
                    _ => None,
                }
            }
            None => event.get(key).cloned(),
        }
    }

    fn base(key: &str) -> &str {
        key.split_once('[').map_or(key, |(b, _)| b)
    }

    /// Addresses compared as addresses (test.yaml writes IPv6 in full).
    fn canonical(key: &str, value: Value) -> Value {
        match (&value, key) {
            (Value::String(s), "src_ip" | "dest_ip") => s
                .parse::<std::net::IpAddr>()
                .map_or(value, |ip| ip.to_string().into()),
            _ => value,
        }
    }

    fn show(v: Option<&Value>) -> String {
        v.map_or_else(|| "(none)".to_string(), Value::to_string)
    }

    /// Compares the events with a test's checks of `protocol`.
    /// [`compare`] over several tests, each with the protocol fields it must
    /// compare at least (so that a field skipped by mistake fails);
    /// `events` gives a test's events. Returns every mismatch, in order.
    pub(crate) fn compare_all(
        tests: &[(&str, usize)],
        protocol: &Protocol,
        mut events: impl FnMut(&str) -> Vec<Event>,
    ) -> Vec<String> {
        let mut mismatches = Vec::new();
        for &(test, fields) in tests {
            let outcome = compare(test, protocol, &events(test));
            eprintln!(
                "{test}: {} fields compared, skipped {:?}",
                outcome.compared, outcome.skipped
            );
            assert!(
                outcome.compared >= fields,
                "{test}: {} fields compared, {fields} expected",
                outcome.compared
            );
            mismatches.extend(outcome.mismatches);
        }
        mismatches
    }

    pub(crate) fn compare(test: &str, protocol: &Protocol, events: &[Event]) -> Outcome {
        let mut outcome = Outcome::default();
        let prefix = format!("{}.", protocol.event_type);
        for (n, check) in filters(test).into_iter().enumerate() {
            let n = n + 1;
            if !check.newest {
                continue;
            }
            let Some(event_type) = check
                .fields
                .iter()
                .find(|(k, _)| k == "event_type")
                .and_then(|(_, v)| v.as_str())
            else {
                continue;
            };
            let ours = event_type == protocol.event_type
                || (protocol.alerts
                    && event_type == "alert"
                    && check.fields.iter().any(|(k, _)| k.starts_with(&prefix)));
            if !ours {
                continue;
            }
            let mut wanted = Vec::new();
            let mut complete = true;
            for (key, value) in &check.fields {
                if key == "event_type" {
                    continue;
                }
                if protocol.skipped.contains(&base(key)) {
                    outcome.skipped.insert(key.clone());
                    complete = false;
                } else if protocol.emitted.contains(&base(key)) {
                    let value = canonical(key, (protocol.expected)(base(key), value.clone()));
                    wanted.push((key.as_str(), value));
                } else {
                    panic!("{test}: field {key} neither emitted nor skipped");
                }
            }
            let hits = |e: &Event| {
                wanted
                    .iter()
                    .filter(|(k, v)| lookup(e, k).as_ref() == Some(v))
                    .count()
            };
            let matching = events.iter().filter(|e| hits(e) == wanted.len()).count();
            if check.count > 0 && !events.is_empty() {
                outcome.compared += wanted
                    .iter()
                    .filter(|(k, _)| k.starts_with(&prefix))
                    .count();
            }
            let ok = if complete {
                matching == check.count
            } else {
                matching >= check.count
            };
            if ok {
                continue;
            }
            let line = format!("{test}: check {n}: ");
            // The first event closest to the check, field by field.
            match events.iter().rev().max_by_key(|e| hits(e)) {
                Some(closest) if check.count > 0 && hits(closest) < wanted.len() => {
                    for (k, v) in &wanted {
                        let got = lookup(closest, k);
                        if got.as_ref() != Some(v) {
                            outcome.mismatches.push(format!(
                                "{line}{k}: expected {v}, ours {}",
                                show(got.as_ref())
                            ));
                        }
                    }
                }
                _ => outcome.mismatches.push(format!(
                    "{line}count: expected {}{}, ours {matching}",
                    if complete { "" } else { "at least " },
                    check.count
                )),
            }
        }
        outcome
    }
}
