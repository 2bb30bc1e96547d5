#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::proto::enip::tests::{findings, str_at, tshark_rows};
use crate::testing::messages;

type Direction = (String, String, String, String);
type Sets = [BTreeSet<u64>; 3];

fn numbers(v: Option<&serde_json::Value>) -> BTreeSet<u64> {
    v.and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|n| n.as_u64()).collect())
        .unwrap_or_default()
}

/// Per direction (TCP stream or UDP datagrams): link source and destination
/// addresses and application function codes, from tshark and from the
/// parser; returns the number of link frames tshark decoded.
fn directions_equal_tshark(pcap: &str, tsv: &str) -> usize {
    let rows = tshark_rows(tsv);
    let mut expected: BTreeMap<Direction, Sets> = BTreeMap::new();
    for r in &rows {
        let port = |tcp: &str, udp: &str| {
            if r[tcp].is_empty() {
                r[udp].clone()
            } else {
                r[tcp].clone()
            }
        };
        let key = (
            r["ip.src"].clone(),
            port("tcp.srcport", "udp.srcport"),
            r["ip.dst"].clone(),
            port("tcp.dstport", "udp.dstport"),
        );
        let entry = expected.entry(key).or_default();
        for (i, column) in ["dnp3.src", "dnp3.dst", "dnp3.al.func"].iter().enumerate() {
            entry[i].extend(r[*column].split('|').filter_map(|s| s.parse::<u64>().ok()));
        }
    }
    let mut got: BTreeMap<Direction, Sets> = BTreeMap::new();
    for (m, f) in findings(DISSECTORS, pcap) {
        assert_eq!(f.about, About::Sender);
        let key = (
            m.src_ip.unwrap().to_string(),
            m.context.src_port.to_string(),
            m.dst_ip.unwrap().to_string(),
            m.context.dst_port.to_string(),
        );
        let entry = got.entry(key).or_default();
        entry[0].extend(numbers(str_at(&f, "src_addresses")));
        entry[1].extend(numbers(str_at(&f, "dst_addresses")));
        entry[2].extend(numbers(str_at(&f, "function_codes")));
    }
    assert_eq!(got, expected, "{pcap}");
    rows.len()
}

#[test]
fn addresses_and_function_codes_equal_tshark() {
    // Zeek's DNP3 test trace: 115 frames, master 3 and outstation 4.
    assert_eq!(
        directions_equal_tshark(
            "ics/dnp3/bro-dnp3.pcap",
            "ics/dnp3/bro-dnp3.dnp3.tshark.tsv"
        ),
        115
    );
    for name in ["file_list_directory", "full_exchange"] {
        directions_equal_tshark(
            &format!("ics/dnp3/{name}.pcap"),
            &format!("ics/dnp3/{name}.dnp3.tshark.tsv"),
        );
    }
    // Over TCP and UDP.
    directions_equal_tshark(
        "arkime/dnp3_synthetic.pcap",
        "arkime/dnp3_synthetic.dnp3.tshark.tsv",
    );
}

#[test]
fn hostile_bytes_give_errors_not_panics() {
    let knowledge = Knowledge::default();
    for m in messages("ics/dnp3/full_exchange.pcap") {
        for cut in 0..m.bytes.len() {
            let mut out = Vec::new();
            let _ = parse_stream(
                &knowledge,
                &m.context,
                &m.bytes[..cut],
                cut % 2 == 0,
                &mut out,
            );
            let _ = parse_datagram(&knowledge, &m.context, &m.bytes[..cut], &mut out);
        }
    }
    let ctx = messages("ics/dnp3/full_exchange.pcap")[0].context;
    let mut out = Vec::new();
    assert!(parse_stream(&knowledge, &ctx, b"\x05\x64\x02", true, &mut out).is_err());
    assert!(parse_stream(&knowledge, &ctx, b"garbage!", true, &mut out).is_err());
    assert!(
        parse_datagram(
            &knowledge,
            &ctx,
            b"\x05\x64\xff\xc4\x01\x00\x02\x00\x00\x00",
            &mut out
        )
        .is_err()
    );
    assert!(out.is_empty());
}
