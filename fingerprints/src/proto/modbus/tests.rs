#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::proto::enip::tests::{findings, shown, str_at, tshark_rows};

type Direction = (String, String, String, String);

fn numbers(v: Option<&serde_json::Value>) -> BTreeSet<u64> {
    v.and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|n| n.as_u64()).collect())
        .unwrap_or_default()
}

/// Per TCP direction: function codes, unit ids and exception codes, from
/// tshark and from the parser; returns the number of directions compared.
fn directions_equal_tshark(pcap: &str, tsv: &str) -> usize {
    let mut expected: BTreeMap<Direction, [BTreeSet<u64>; 3]> = BTreeMap::new();
    for r in tshark_rows(tsv) {
        let key = (
            r["ip.src"].clone(),
            r["tcp.srcport"].clone(),
            r["ip.dst"].clone(),
            r["tcp.dstport"].clone(),
        );
        let entry = expected.entry(key).or_default();
        for (i, column) in ["modbus.func_code", "mbtcp.unit_id", "modbus.exception_code"]
            .iter()
            .enumerate()
        {
            entry[i].extend(r[*column].split(',').filter_map(|s| s.parse::<u64>().ok()));
        }
    }
    let mut got: BTreeMap<Direction, [BTreeSet<u64>; 3]> = BTreeMap::new();
    for (m, f) in findings(DISSECTORS, pcap) {
        let key = (
            m.src_ip.unwrap().to_string(),
            m.context.src_port.to_string(),
            m.dst_ip.unwrap().to_string(),
            m.context.dst_port.to_string(),
        );
        got.insert(
            key,
            [
                numbers(str_at(&f, "function_codes")),
                numbers(str_at(&f, "unit_ids")),
                numbers(str_at(&f, "exception_codes")),
            ],
        );
    }
    assert_eq!(got, expected, "{pcap}");
    got.len()
}

#[test]
fn function_codes_unit_ids_and_exceptions_equal_tshark() {
    assert_eq!(
        directions_equal_tshark("ndpi/modbus.pcap", "ndpi/modbus.modbus.tshark.tsv"),
        2
    );
    assert_eq!(
        directions_equal_tshark(
            "ics/ModbusTCP/modbus_test_data_part1.pcap",
            "ics/ModbusTCP/modbus_test_data_part1.modbus.tshark.tsv"
        ),
        6
    );
}

#[test]
fn a_client_that_writes_is_flagged() {
    let all = findings(DISSECTORS, "ics/ModbusTCP/modbus_test_data_part1.pcap");
    let writers: Vec<_> = all
        .iter()
        .filter(|(_, f)| shown(f, "writes") == "true")
        .collect();
    assert!(!writers.is_empty());
    for (m, f) in &all {
        let codes = numbers(str_at(f, "function_codes"));
        let writes = codes.iter().any(|c| WRITES.contains(&(*c as u8)));
        assert_eq!(shown(f, "writes") == "true", m.context.to_server && writes);
    }
}

/// The capture corpus has Read Device Identification requests but no
/// answer, so the answer is built by hand after the Modbus Application
/// Protocol specification V1.1b3, section 6.21 (MEI type 14).
#[test]
fn read_device_identification_answer() {
    let objects: &[(u8, &str)] = &[
        (0, "Schneider Electric"),
        (1, "BMX P34 2020"),
        (2, "v2.8"),
        (3, "http://www.schneider-electric.com"),
        (4, "Modicon M340"),
        (5, "BMX P34 2020"),
    ];
    let mut pdu = vec![43, 14, 3, 0x83, 0, 0, objects.len() as u8];
    for (id, value) in objects {
        pdu.extend([*id, value.len() as u8]);
        pdu.extend(value.as_bytes());
    }
    let mut bytes = vec![0, 1, 0, 0];
    bytes.extend(((pdu.len() + 1) as u16).to_be_bytes());
    bytes.push(0xff);
    bytes.extend(&pdu);
    let ctx = Context {
        carrier: Carrier::Tcp,
        src_port: PORT,
        dst_port: 40000,
        to_server: false,
        src_mac: None,
        dst_mac: None,
    };
    assert!(probe(&ctx, &bytes));
    let mut out = Vec::new();
    assert_eq!(
        parse_stream(&Knowledge::default(), &ctx, &bytes, false, &mut out),
        Ok(Progress::NeedMore)
    );
    assert!(out.is_empty());
    parse_stream(&Knowledge::default(), &ctx, &bytes, true, &mut out).unwrap();
    let f = &out[0];
    assert_eq!(f.about, About::Sender);
    assert_eq!(shown(f, "device_id.vendor_name"), "Schneider Electric");
    assert_eq!(shown(f, "device_id.product_code"), "BMX P34 2020");
    assert_eq!(shown(f, "device_id.revision"), "v2.8");
    assert_eq!(
        shown(f, "device_id.vendor_url"),
        "http://www.schneider-electric.com"
    );
    assert_eq!(shown(f, "device_id.product_name"), "Modicon M340");
    assert_eq!(shown(f, "device_id.model_name"), "BMX P34 2020");
    assert_eq!(shown(f, "function_codes"), "[43]");
    // Every cut of the answer: an error or a partial answer, never a panic.
    for cut in 0..bytes.len() {
        let mut out = Vec::new();
        let _ = parse_stream(&Knowledge::default(), &ctx, &bytes[..cut], true, &mut out);
        let _ = device_identification(&pdu[..cut.min(pdu.len())]);
    }
}

#[test]
fn garbage_is_an_error() {
    let ctx = crate::testing::tcp_client(PORT);
    let mut out = Vec::new();
    assert!(
        parse_stream(
            &Knowledge::default(),
            &ctx,
            b"GET / HTTP/1.1\r\n",
            true,
            &mut out
        )
        .is_err()
    );
    assert!(parse_stream(&Knowledge::default(), &ctx, &[0, 1, 0], true, &mut out).is_err());
    assert!(!probe(&ctx, b"GET / HTTP/1.1\r\n"));
    assert!(out.is_empty());
}
