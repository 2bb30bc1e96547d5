#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use super::*;
use crate::proto::enip::tests::{findings, shown, tshark_rows};
use crate::testing::messages;

fn hex_to_dec(s: &str) -> String {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap().to_string(),
        None => s.to_string(),
    }
}

const COLUMNS: &[(&str, &str)] = &[
    ("station_name", "pn_dcp.suboption_device_nameofstation"),
    ("vendor_id", "pn_dcp.suboption_vendor_id"),
    ("device_id", "pn_dcp.suboption_device_id"),
    (
        "type_of_station",
        "pn_dcp.suboption_device_devicevendorvalue",
    ),
    ("device_role", "pn_dcp.suboption_device_role"),
    ("ip", "pn_dcp.suboption_ip_ip"),
    ("netmask", "pn_dcp.suboption_ip_subnetmask"),
    ("gateway", "pn_dcp.suboption_ip_standard_gateway"),
];

/// Every Identify answer and Hello of the capture, by frame, equals
/// tshark's decode; returns how many.
fn answers_equal_tshark(pcap: &str, tsv: &str) -> usize {
    let expected: BTreeMap<usize, Vec<String>> = tshark_rows(tsv)
        .into_iter()
        .filter(|r| {
            (r["pn_rt.frame_id"] == "65279" && r["pn_dcp.service_type"] == "1")
                || r["pn_rt.frame_id"] == "65276"
        })
        .map(|r| {
            (
                r["frame.number"].parse().unwrap(),
                COLUMNS.iter().map(|(_, c)| hex_to_dec(&r[*c])).collect(),
            )
        })
        .collect();
    let got: BTreeMap<usize, Vec<String>> = findings(DISSECTORS, pcap)
        .into_iter()
        .filter(|(_, f)| matches!(shown(f, "service").as_str(), "identify_response" | "hello"))
        .map(|(m, f)| {
            assert_eq!(f.about, About::Sender);
            (m.frame, COLUMNS.iter().map(|(k, _)| shown(&f, k)).collect())
        })
        .collect();
    assert_eq!(got, expected, "{pcap}");
    got.len()
}

#[test]
fn identify_answers_equal_tshark() {
    // An S7-300 behind an 802.1Q tag, and a SCALANCE X208.
    assert_eq!(
        answers_equal_tshark(
            "ics/profinet/profinet-wireshark-bug.pcap",
            "ics/profinet/profinet-wireshark-bug.dcp.tshark.tsv"
        ),
        1
    );
    assert_eq!(
        answers_equal_tshark(
            "ics/profinet/ChangeIPUsingDCP.pcap",
            "ics/profinet/ChangeIPUsingDCP.dcp.tshark.tsv"
        ),
        1
    );
    let all = findings(DISSECTORS, "ics/profinet/profinet-wireshark-bug.pcap");
    let (_, plc) = all
        .iter()
        .find(|(_, f)| shown(f, "service") == "identify_response")
        .unwrap();
    assert_eq!(shown(plc, "vendor_name"), "Siemens AG");
    assert_eq!(shown(plc, "type_of_station"), "S7-300EC");
    assert_eq!(shown(plc, "device_roles"), "[\"io-controller\"]");
}

#[test]
fn identify_requests_name_no_one() {
    // Fourteen Identify requests filtered by station name: the name is the
    // station searched for, not the sender's.
    let all = findings(DISSECTORS, "ics/profinet/PROFINET-RT.pcap");
    assert_eq!(
        answers_equal_tshark(
            "ics/profinet/PROFINET-RT.pcap",
            "ics/profinet/PROFINET-RT.dcp.tshark.tsv"
        ),
        0
    );
    assert_eq!(
        all.iter()
            .filter(|(_, f)| shown(f, "service") == "identify_request")
            .count(),
        tshark_rows("ics/profinet/PROFINET-RT.dcp.tshark.tsv").len()
    );
    assert!(all.iter().all(|(_, f)| shown(f, "station_name").is_empty()));
}

#[test]
fn hostile_bytes_give_errors_not_panics() {
    let knowledge = Knowledge::default();
    for m in messages("ics/profinet/profinet-wireshark-bug.pcap")
        .into_iter()
        .chain(messages("ics/profinet/ChangeIPUsingDCP.pcap"))
    {
        for cut in 0..m.bytes.len() {
            let mut out = Vec::new();
            let _ = parse(&knowledge, &m.context, &m.bytes[..cut], &mut out);
            let mut flipped = m.bytes.clone();
            flipped[cut] ^= 0xff;
            let _ = parse(&knowledge, &m.context, &flipped, &mut out);
        }
    }
    let ctx = Context {
        carrier: Carrier::Ethernet {
            ether_type: ETHER_TYPE,
        },
        src_port: 0,
        dst_port: 0,
        to_server: true,
        src_mac: None,
        dst_mac: None,
    };
    let mut out = Vec::new();
    assert!(parse(&knowledge, &ctx, &[0xfe, 0xff, 5], &mut out).is_err());
    assert!(!probe(&ctx, b"\x80\x00garbage"));
}
