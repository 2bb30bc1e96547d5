#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeSet, HashMap};

use super::*;
use crate::testing::{Message, capture, messages};

/// Rows of a tshark `-T fields -E header=y` file, by column name.
pub(crate) fn tshark_rows(relative: &str) -> Vec<HashMap<String, String>> {
    let path = capture(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{relative}: {e}"));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            header
                .iter()
                .zip(l.split('\t').chain(std::iter::repeat("")))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Runs the dissector whose probe takes `m`, as the sensor would, with the
/// whole direction at once.
pub(crate) fn run(dissectors: &[Dissector], m: &Message, out: &mut Vec<Finding>) -> bool {
    let knowledge = Knowledge {
        vendor_ids: crate::VendorIds::builtin(),
        ..Knowledge::default()
    };
    for d in dissectors {
        if !(d.probe)(&m.context, &m.bytes) {
            continue;
        }
        match d.parse {
            Parse::Message(p) => {
                let _ = p(&knowledge, &m.context, &m.bytes, out);
            }
            Parse::Stream(p) => {
                let _ = p(&knowledge, &m.context, &m.bytes, true, out);
            }
            Parse::Conversation(p) => {
                let _ = p(&knowledge, &m.context, &m.bytes, &[], true, out);
            }
        }
        return true;
    }
    false
}

pub(crate) fn findings(dissectors: &[Dissector], relative: &str) -> Vec<(Message, Finding)> {
    let mut all = Vec::new();
    for m in messages(relative) {
        let mut out = Vec::new();
        run(dissectors, &m, &mut out);
        all.extend(out.into_iter().map(|f| (m.clone(), f)));
    }
    all
}

pub(crate) fn str_at<'f>(f: &'f Finding, path: &str) -> Option<&'f serde_json::Value> {
    let mut v = f.fields.get(path.split('.').next()?)?;
    for part in path.split('.').skip(1) {
        v = v.get(part)?;
    }
    Some(v)
}

/// A field as tshark prints it: strings bare, numbers in decimal.
pub(crate) fn shown(f: &Finding, path: &str) -> String {
    match str_at(f, path) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

fn hex_to_dec(s: &str) -> String {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap().to_string(),
        None => s.to_string(),
    }
}

/// Every ListIdentity answer of the capture, field by field, equals
/// tshark's decode of it.
fn identities_equal_tshark(pcap: &str, tsv: &str) -> usize {
    let expected: BTreeSet<Vec<String>> = tshark_rows(tsv)
        .iter()
        .map(|r| {
            let vendor_name = r["_ws.col.V"].clone();
            let device_name = r["_ws.col.D"].clone();
            vec![
                hex_to_dec(&r["enip.lir.vendor"]),
                // tshark prints the id itself when its table has no name.
                if vendor_name.starts_with("0x") {
                    String::new()
                } else {
                    vendor_name
                },
                r["enip.lir.devtype"].clone(),
                if device_name == r["enip.lir.devtype"] {
                    String::new()
                } else {
                    device_name
                },
                r["enip.lir.prodcode"].clone(),
                r["_ws.col.R"].clone(),
                r["enip.lir.serial"].clone(),
                r["enip.lir.name"].clone(),
                hex_to_dec(&r["enip.lir.status"]),
                hex_to_dec(&r["enip.lir.state"]),
                r["enip.sinaddr"].clone(),
                r["enip.sinport"].clone(),
            ]
        })
        .collect();
    let got: BTreeSet<Vec<String>> = findings(DISSECTORS, pcap)
        .iter()
        .filter(|(_, f)| f.fields.contains_key("identity"))
        .map(|(_, f)| {
            assert_eq!(f.about, About::Sender);
            [
                "vendor_id",
                "vendor_name",
                "device_type",
                "device_type_name",
                "product_code",
                "revision",
                "serial",
                "product_name",
                "status",
                "state",
                "socket_address",
                "socket_port",
            ]
            .iter()
            .map(|k| shown(f, &format!("identity.{k}")))
            .collect()
        })
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(got, expected);
    expected.len()
}

#[test]
fn list_identity_of_a_1756_enbt_equals_tshark() {
    assert_eq!(
        identities_equal_tshark(
            "ics/EthernetIP/enip_test.pcap",
            "ics/EthernetIP/enip_test.enip.tshark.tsv"
        ),
        1
    );
}

#[test]
fn list_identity_over_udp_and_tcp_equals_tshark() {
    // Five answers, over TCP and UDP, one vendor id missing from the table.
    assert_eq!(
        identities_equal_tshark(
            "arkime/arkime_synthetic.pcap",
            "arkime/arkime_synthetic.enip.tshark.tsv"
        ),
        5
    );
}

fn services_equal_tshark(pcap: &str, tsv: &str) -> BTreeSet<u64> {
    let expected: BTreeSet<u64> = tshark_rows(tsv)
        .iter()
        .flat_map(|r| {
            r["cip.sc"]
                .split(',')
                .map(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let got: BTreeSet<u64> = findings(DISSECTORS, pcap)
        .iter()
        .filter_map(|(_, f)| str_at(f, "cip.services"))
        .flat_map(|v| v.as_array().unwrap().iter().map(|s| s.as_u64().unwrap()))
        .collect();
    assert_eq!(got, expected, "{pcap}");
    got
}

#[test]
fn cip_services_equal_tshark() {
    // Multiple Service Packet (0x0a) holding Get Attribute List (0x03).
    assert_eq!(
        services_equal_tshark(
            "ics/EthernetIP/cip-multiple-1.pcap",
            "ics/EthernetIP/cip-multiple-1.cip.tshark.tsv"
        ),
        BTreeSet::from([0x03, 0x0a])
    );
    // Rockwell's vendor-specific "stop" service 0x07.
    assert_eq!(
        services_equal_tshark(
            "ics/EthernetIP/cip_stop_plc.pcap",
            "ics/EthernetIP/cip_stop_plc.cip.tshark.tsv"
        ),
        BTreeSet::from([0x07])
    );
    services_equal_tshark(
        "ics/EthernetIP/cip_unlock_cpu.pcap",
        "ics/EthernetIP/cip_unlock_cpu.cip.tshark.tsv",
    );
    // Forward Open (0x54), Read/Write Tag (0x4c, 0x4d), Unconnected Send
    // (0x52) and more, over TCP and UDP.
    services_equal_tshark(
        "arkime/arkime_synthetic.pcap",
        "arkime/arkime_synthetic.cip.tshark.tsv",
    );
}

#[test]
fn commands_of_a_session_are_listed() {
    let all = findings(DISSECTORS, "arkime/arkime_synthetic.pcap");
    let client = all
        .iter()
        .find(|(m, _)| m.context.carrier == Carrier::Tcp && m.context.dst_port == PORT)
        .unwrap();
    let commands = str_at(&client.1, "commands").unwrap();
    for c in ["RegisterSession", "ListServices", "SendRRData"] {
        assert!(commands.as_array().unwrap().iter().any(|v| v == c), "{c}");
    }
}

#[test]
fn hostile_bytes_give_errors_not_panics() {
    let knowledge = Knowledge::default();
    let ctx = Context {
        carrier: Carrier::Udp,
        src_port: PORT,
        dst_port: 5000,
        to_server: false,
        src_mac: None,
        dst_mac: None,
    };
    let m = messages("ics/EthernetIP/enip_test.pcap")
        .into_iter()
        .find(|m| m.context.src_port == PORT)
        .unwrap();
    for cut in 0..m.bytes.len() {
        let mut out = Vec::new();
        let _ = parse_datagram(&knowledge, &ctx, &m.bytes[..cut], &mut out);
        let _ = parse_stream(&knowledge, &ctx, &m.bytes[..cut], cut % 2 == 0, &mut out);
    }
    let mut out = Vec::new();
    assert!(parse_datagram(&knowledge, &ctx, &m.bytes[..30], &mut out).is_err());
    assert!(
        parse_datagram(
            &knowledge,
            &ctx,
            b"\xff\xffgarbage garbage garbage!!",
            &mut out
        )
        .is_err()
    );
    // Hostile counts and lengths.
    let mut evil = vec![0x63, 0, 0xff, 0xff];
    evil.extend([0u8; 20]);
    evil.extend([0xff; 300]);
    let _ = parse_datagram(&knowledge, &ctx, &evil, &mut out);
    let mut seed = 0x1234_5678u32;
    for _ in 0..2000 {
        let bytes: Vec<u8> = (0..64)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        let mut bytes = bytes;
        bytes[0] = 0x6f;
        bytes[1] = 0;
        let _ = parse_datagram(&knowledge, &ctx, &bytes, &mut out);
    }
}
