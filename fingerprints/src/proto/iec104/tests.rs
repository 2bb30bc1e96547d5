#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::proto::enip::tests::{findings, str_at, tshark_rows};
use crate::testing::messages;

type Direction = (String, String, String, String);
type Sets = [BTreeSet<String>; 4];

fn strings(v: Option<&serde_json::Value>) -> BTreeSet<String> {
    v.and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .map(|n| n.as_str().map_or_else(|| n.to_string(), str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Per TCP direction: APCI formats, U functions, ASDU type ids and common
/// addresses, from tshark and from the parser; returns the number of APDUs
/// tshark decoded.
fn directions_equal_tshark(pcap: &str, tsv: &str) -> usize {
    let rows = tshark_rows(tsv);
    let mut expected: BTreeMap<Direction, Sets> = BTreeMap::new();
    let mut apdus = 0;
    for r in &rows {
        let key = (
            r["ip.src"].clone(),
            r["tcp.srcport"].clone(),
            r["ip.dst"].clone(),
            r["tcp.dstport"].clone(),
        );
        let entry = expected.entry(key).or_default();
        let values = |c: &str| -> Vec<u64> {
            r[c].split('|')
                .filter(|s| !s.is_empty())
                .map(|s| match s.strip_prefix("0x") {
                    Some(h) => u64::from_str_radix(h, 16).unwrap(),
                    None => s.parse().unwrap(),
                })
                .collect()
        };
        let types = values("iec60870_104.type");
        apdus += types.len();
        entry[0].extend(types.iter().map(|&t| format_name(t as u8).to_string()));
        entry[1].extend(
            values("iec60870_104.utype")
                .iter()
                .filter_map(|&u| u_function_name(u as u8))
                .map(str::to_string),
        );
        entry[2].extend(values("iec60870_asdu.typeid").iter().map(u64::to_string));
        entry[3].extend(values("iec60870_asdu.addr").iter().map(u64::to_string));
    }
    expected.retain(|_, sets| sets.iter().any(|s| !s.is_empty()));
    let mut got: BTreeMap<Direction, Sets> = BTreeMap::new();
    for (m, f) in findings(DISSECTORS, pcap) {
        assert_eq!(f.about, About::Sender);
        let key = (
            m.src_ip.unwrap().to_string(),
            m.context.src_port.to_string(),
            m.dst_ip.unwrap().to_string(),
            m.context.dst_port.to_string(),
        );
        got.insert(
            key,
            [
                strings(str_at(&f, "apci_types")),
                strings(str_at(&f, "u_functions")),
                strings(str_at(&f, "type_ids")),
                strings(str_at(&f, "common_addresses")),
            ],
        );
    }
    assert_eq!(got, expected, "{pcap}");
    apdus
}

#[test]
fn apci_types_type_ids_and_addresses_equal_tshark() {
    for name in [
        "090813_diverse",
        "TestDissectIec104",
        "JavaRMI_and_IEC_Misc",
    ] {
        let n = directions_equal_tshark(
            &format!("ics/IEC60870-5-104/{name}.pcap"),
            &format!("ics/IEC60870-5-104/{name}.iec104.tshark.tsv"),
        );
        assert!(n > 50, "{name}: {n}");
    }
}

#[test]
fn hostile_bytes_give_errors_not_panics() {
    let knowledge = Knowledge::default();
    for m in messages("ics/IEC60870-5-104/TestDissectIec104.pcap") {
        for cut in (0..m.bytes.len()).step_by(3) {
            let mut out = Vec::new();
            let _ = parse_stream(&knowledge, &m.context, &m.bytes[..cut], true, &mut out);
            let _ = parse_stream(&knowledge, &m.context, &m.bytes[cut..], true, &mut out);
        }
    }
    let ctx = messages("ics/IEC60870-5-104/TestDissectIec104.pcap")[0].context;
    let mut out = Vec::new();
    assert!(parse_stream(&knowledge, &ctx, b"\x68\x02\x00\x00", true, &mut out).is_err());
    assert!(parse_stream(&knowledge, &ctx, b"\x68\xfe\x00", true, &mut out).is_err());
    assert!(parse_stream(&knowledge, &ctx, b"garbage", true, &mut out).is_err());
    assert!(out.is_empty());
}
