use serde_json::Value;

use super::*;
use crate::proto::tls::tests::suricata_verify;
use crate::testing::{capture, messages};

fn get<'a>(f: &'a Finding, key: &str) -> Option<&'a serde_json::Value> {
    f.leaves()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// Each SNMP datagram against tshark's decode (`*.tshark-sysgroup.tsv`,
/// made with `derived/snmp-sysgroup.jq`): version, PDU type, whether the
/// community is public/private, and sysDescr, sysObjectID, sysName.
#[test]
fn snmp_equals_tshark() {
    let mut compared = 0;
    let mut sys_values = 0;
    for pcap in [
        "zeek/snmp/snmpv1_get.pcap",
        "zeek/snmp/snmpwalk-short.pcap",
        "zeek/snmp/snmpv2_get_bulk.pcap",
        "ndpi/snmp.pcap",
    ] {
        let tsv = std::fs::read_to_string(capture(&format!("{pcap}.tshark-sysgroup.tsv"))).unwrap();
        let rows: std::collections::HashMap<usize, Vec<&str>> = tsv
            .lines()
            .map(|l| {
                let cols: Vec<&str> = l.split('\t').collect();
                (cols[0].parse().unwrap(), cols)
            })
            .collect();
        let mut in_pcap = 0;
        for m in messages(pcap) {
            if !probe(&m.context, &m.bytes) {
                continue;
            }
            let row = &rows[&m.frame];
            let mut out = Vec::new();
            parse(&Knowledge::default(), &m.context, &m.bytes, &mut out)
                .unwrap_or_else(|e| panic!("{pcap} {}: {e}", m.frame));
            let f = &out[0];
            assert_eq!(f.event_type, "snmp");
            let version = get(f, "version").unwrap().as_u64().unwrap();
            if row[1].is_empty() {
                // tshark names the v3 version field differently.
                assert_eq!(version, 3);
            } else {
                assert_eq!(
                    version,
                    row[1].parse::<u64>().unwrap() + 1,
                    "{pcap} {}",
                    m.frame
                );
                assert_eq!(
                    get(f, "community_default").unwrap(),
                    &serde_json::json!(row[3] == "true")
                );
                if row[3] == "true" {
                    assert_eq!(
                        get(f, "community_present").unwrap(),
                        &serde_json::json!(true)
                    );
                }
            }
            if !row[2].is_empty() {
                let tag = 0xa0 + row[2].parse::<u8>().unwrap();
                assert_eq!(get(f, "pdu_type").unwrap(), pdu_type(tag).unwrap());
            }
            let mut expected = std::collections::BTreeMap::new();
            for pair in row[4].split('|').filter(|p| !p.is_empty()) {
                let (oid, value) = pair.split_once('=').unwrap();
                let value = if oid == SYS_OBJECT_ID {
                    value.to_string()
                } else {
                    let bytes: Vec<u8> = value
                        .split(':')
                        .map(|h| u8::from_str_radix(h, 16).unwrap())
                        .collect();
                    String::from_utf8(bytes).unwrap()
                };
                let key = match oid {
                    SYS_DESCR => "sys_descr",
                    SYS_OBJECT_ID => "sys_object_id",
                    _ => "sys_name",
                };
                expected.insert(key, value);
            }
            let mut ours = std::collections::BTreeMap::new();
            for key in ["sys_descr", "sys_object_id", "sys_name"] {
                if let Some(v) = get(f, key) {
                    ours.insert(key, v.as_str().unwrap().to_string());
                }
            }
            assert_eq!(ours, expected, "{pcap} frame {}", m.frame);
            sys_values += ours.len();
            compared += 1;
            in_pcap += 1;
        }
        assert_eq!(in_pcap, rows.len(), "{pcap}: every datagram tshark decoded");
    }
    assert!(compared >= 500, "{compared}");
    assert!(sys_values >= 10, "{sys_values}");
}

#[test]
fn snmp_sys_group_of_an_agent() {
    let m = messages("zeek/snmp/snmpwalk-short.pcap")
        .into_iter()
        .find(|m| m.frame == 2)
        .unwrap();
    let mut out = Vec::new();
    parse(&Knowledge::default(), &m.context, &m.bytes, &mut out).unwrap();
    assert_eq!(out[0].about, About::Sender);
    assert_eq!(m.context.src_port, 161);
    let descr = get(&out[0], "sys_descr").unwrap().as_str().unwrap();
    assert!(
        descr.starts_with("Linux ubuntu-512mb-sfo2-01 4.4.0-31-generic"),
        "{descr}"
    );
    // The community never appears in the fields.
    let json = serde_json::Value::Object(out[0].fields.clone()).to_string();
    assert!(!json.contains("public"), "{json}");
}

#[test]
fn snmp_hostile_input() {
    let k = Knowledge::default();
    for pcap in [
        "zeek/snmp/snmp-crash-62790.pcap",
        "zeek/snmp/snmp-oid-subidentifier-too-long.pcap",
    ] {
        for m in messages(pcap) {
            let _ = parse(&k, &m.context, &m.bytes, &mut Vec::new());
        }
    }
    let m = messages("zeek/snmp/snmpwalk-short.pcap").remove(1);
    for cut in 0..m.bytes.len() {
        assert!(parse(&k, &m.context, &m.bytes[..cut], &mut Vec::new()).is_err());
    }
    // Hostile lengths and OIDs.
    for bytes in [
        &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..],
        &[0x30, 0x80, 0x02, 0x01, 0x00],
        &[0x30, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        &[0x30, 0x03, 0x02, 0x09, 0x00],
    ] {
        assert!(parse(&k, &m.context, bytes, &mut Vec::new()).is_err());
    }
    assert!(ber::oid_string(&[0xff; 20]).is_err());
    assert!(ber::oid_string(&[0x2b, 0x81]).is_err());
    assert_eq!(
        ber::oid_string(&[0x2b, 6, 1, 2, 1, 1, 5, 0]).unwrap(),
        SYS_NAME
    );
}

/// One event per SNMP message that parses, as Suricata writes one per
/// message, named as Suricata names its fields, and the messages that do
/// not parse. Representations put as Suricata's:
/// - `pdu_type`: `encrypted` for an encrypted v3 PDU (mirador:
///   `encrypted: true` and no PDU type);
/// - `community`: mirador never writes the community, only whether one was
///   sent (`community_present`), which is what is compared;
/// - `trap_oid`, `trap_address`: Suricata 9's names in alerts for v1
///   traps' `trap_type.oid` and `trap_type.address`.
fn suricata_events(pcap: &str) -> (Vec<suricata_verify::Event>, Vec<String>) {
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for m in messages(pcap) {
        if !probe(&m.context, &m.bytes) {
            continue;
        }
        let mut out = Vec::new();
        if let Err(e) = parse(&Knowledge::default(), &m.context, &m.bytes, &mut out) {
            errors.push(format!("frame {}: {e}", m.frame));
            continue;
        }
        let [f] = out.as_slice() else {
            panic!("{pcap} frame {}: {out:?}", m.frame)
        };
        let mut e = suricata_verify::Event::new();
        e.insert("src_ip".into(), m.src_ip.unwrap().to_string().into());
        e.insert("src_port".into(), m.context.src_port.into());
        e.insert("dest_ip".into(), m.dst_ip.unwrap().to_string().into());
        e.insert("dest_port".into(), m.context.dst_port.into());
        e.insert("proto".into(), "UDP".into());
        e.insert("pcap_cnt".into(), m.frame.into());
        for (key, value) in f.leaves() {
            e.insert(format!("snmp.{key}"), value.clone());
        }
        if get(f, "encrypted") == Some(&true.into()) {
            e.insert("snmp.pdu_type".into(), "encrypted".into());
        }
        if let Some(present) = get(f, "community_present") {
            e.insert("snmp.community".into(), present.clone());
        }
        for (ours, suricata) in [("oid", "trap_oid"), ("address", "trap_address")] {
            if let Some(v) = get(f, &format!("trap_type.{ours}")) {
                e.insert(format!("snmp.{suricata}"), v.clone());
            }
        }
        events.push(e);
    }
    (events, errors)
}

/// The fields of Suricata's `snmp` event that mirador's events carry.
const SURICATA_SNMP: suricata_verify::Protocol = suricata_verify::Protocol {
    event_type: "snmp",
    alerts: true,
    emitted: &[
        "src_ip",
        "src_port",
        "dest_ip",
        "dest_port",
        "proto",
        "pcap_cnt",
        "snmp.version",
        "snmp.pdu_type",
        "snmp.vars",
        "snmp.community",
        "snmp.trap_oid",
        "snmp.trap_address",
        "snmp.trap_type.oid",
        "snmp.trap_type.address",
        "snmp.trap_type.trap_type",
    ],
    // Not mirador's: the rule an alert is for (each of snmp-trap-oid's
    // rules matches one trap field, so its alerts are its traps); the v3
    // user name (`usm`).
    skipped: &["alert.signature_id", "snmp.usm"],
    // Only whether a community was sent is compared.
    expected: |key, v| match (key, v) {
        ("snmp.community", Value::String(s)) => (!s.is_empty()).into(),
        (_, v) => v,
    },
};

/// Where mirador's SNMP parser differs from Suricata's on these captures;
/// each must still be seen, so that a change shows here.
const KNOWN_DIFFERENCES: &[&str] = &[
    // Frame 7 of snmp-trap-oid is a v1 trap whose PDU tag is written in
    // BER's high-tag-number form (bf 04 for [4]): tshark and Suricata read
    // it (enterprise 1.3.6.1.4.1.4.1.2.21, agent 127.0.0.1), mirador's BER
    // reader takes single-byte tags only and rejects the message. Frames 8
    // to 12 are malformed for tshark too (no alert from Suricata either).
    "snmp-trap-oid: check 1: count: expected at least 7, ours 6",
    "snmp-trap-oid: check 2: count: expected at least 7, ours 6",
];

/// suricata-verify's `snmp` checks (and the `alert` checks on SNMP fields):
/// each field mirador emits equals Suricata's, message by message.
#[test]
fn snmp_equals_suricata_verify() {
    // Test, protocol fields compared at least (the test.yaml's fields that
    // mirador emits, so that a field skipped by mistake fails).
    let tests = [
        ("snmp-v2c-get", 8),
        ("snmp-v3-encrypted", 5),
        ("snmp-v3-unauth", 5),
        ("snmp-trap-oid", 2),
    ];
    let mismatches = suricata_verify::compare_all(&tests, &SURICATA_SNMP, |test| {
        let (events, errors) = suricata_events(&suricata_verify::pcap(test));
        let not_parsed: Vec<String> = if test == "snmp-trap-oid" {
            (7..=12)
                .map(|n| format!("frame {n}: malformed snmp pdu"))
                .collect()
        } else {
            Vec::new()
        };
        assert_eq!(errors, not_parsed, "{test}");
        events
    });
    assert_eq!(mismatches, KNOWN_DIFFERENCES);
}
