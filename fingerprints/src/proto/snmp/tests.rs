use super::*;
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
