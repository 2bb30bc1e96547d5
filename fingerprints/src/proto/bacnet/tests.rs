#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use super::*;
use crate::proto::enip::tests::{findings, shown, tshark_rows};
use crate::testing::messages;

/// Every I-Am of the capture, by frame, equals tshark's decode; returns
/// how many.
fn i_ams_equal_tshark(pcap: &str, tsv: &str) -> usize {
    let expected: BTreeMap<usize, Vec<String>> = tshark_rows(tsv)
        .into_iter()
        .map(|r| {
            let prefix = if r["routed"] == "1" { "routed." } else { "" };
            (
                r["frame"].parse().unwrap(),
                vec![
                    prefix.to_string(),
                    r["device_instance"].clone(),
                    r["max_apdu"].clone(),
                    r["segmentation"].clone(),
                    r["vendor_id"].clone(),
                    r["vendor_name"].clone(),
                ],
            )
        })
        .collect();
    let got: BTreeMap<usize, Vec<String>> = findings(DISSECTORS, pcap)
        .into_iter()
        .filter_map(|(m, f)| {
            let prefix = if f.fields.contains_key("routed") {
                "routed."
            } else {
                ""
            };
            let iam = |k: &str| shown(&f, &format!("{prefix}iam.{k}"));
            if iam("device_instance").is_empty() {
                return None;
            }
            assert_eq!(f.about, About::Sender);
            Some((
                m.frame,
                vec![
                    prefix.to_string(),
                    iam("device_instance"),
                    iam("max_apdu"),
                    iam("segmentation"),
                    iam("vendor_id"),
                    iam("vendor_name"),
                ],
            ))
        })
        .collect();
    assert_eq!(got, expected, "{pcap}");
    got.len()
}

#[test]
fn i_am_equals_tshark() {
    assert_eq!(
        i_ams_equal_tshark("ndpi/bacnet.pcap", "ndpi/bacnet.iam.tshark.tsv"),
        5
    );
    assert_eq!(
        i_ams_equal_tshark(
            "ics/BACnet/bacnet_test.pcap",
            "ics/BACnet/bacnet_test.iam.tshark.tsv"
        ),
        0
    );
}

#[test]
fn routed_and_llc_i_am_equal_tshark() {
    // BACnet/IP I-Ams routed from network 1, the same over 802.2 LLC, and
    // direct ones.
    assert_eq!(
        i_ams_equal_tshark(
            "arkime/bacnet-stack-services.pcap",
            "arkime/bacnet-stack-services.iam.tshark.tsv"
        ),
        22
    );
}

#[test]
fn read_property_answers_equal_tshark() {
    let key = |p: &str| match p {
        "vendor-identifier" => "vendor_id",
        "vendor-name" => "vendor_name",
        "firmware-revision" => "firmware_revision",
        "application-software-version" => "application_software_version",
        "object-name" => "object_name",
        "model-name" => "model_name",
        "description" => "description",
        "location" => "location",
        other => panic!("{other}"),
    };
    let rows = tshark_rows("ics/BACnet/bacnet_test.readproperty.tshark.tsv");
    let all = findings(DISSECTORS, "ics/BACnet/bacnet_test.pcap");
    let mut compared = 0;
    for r in &rows {
        let frame: usize = r["frame"].parse().unwrap();
        let got = all
            .iter()
            .find(|(m, _)| m.frame == frame)
            .map(|(m, f)| {
                assert_eq!(m.context.src_port, PORT);
                shown(f, &format!("device.{}", key(&r["property"])))
            })
            .unwrap_or_default();
        // Empty strings are not evidence: not reported.
        assert_eq!(got, r["value"], "frame {frame}");
        compared += 1;
    }
    assert_eq!(compared, 8);
    // The device in a user's words.
    let vendor = all
        .iter()
        .find(|(_, f)| shown(f, "device.vendor_name") == "JCI");
    assert!(vendor.is_some());
}

#[test]
fn who_is_marks_the_asker() {
    let all = findings(DISSECTORS, "ndpi/bacnet.pcap");
    let who_is = all
        .iter()
        .filter(|(_, f)| shown(f, "who_is") == "true")
        .count();
    assert!(who_is > 0);
}

#[test]
fn hostile_bytes_give_errors_not_panics() {
    let knowledge = Knowledge::default();
    for m in messages("ics/BACnet/bacnet_test.pcap")
        .into_iter()
        .chain(messages("arkime/bacnet-stack-services.pcap"))
    {
        for cut in 0..m.bytes.len() {
            let mut out = Vec::new();
            let _ = parse_ip(&knowledge, &m.context, &m.bytes[..cut], &mut out);
            let _ = parse_llc(&knowledge, &m.context, &m.bytes[..cut], &mut out);
            let _ = parse_npdu(&knowledge, m.bytes.get(cut..).unwrap(), false, &mut out);
        }
    }
    let mut out = Vec::new();
    let ctx = crate::testing::messages("ndpi/bacnet.pcap")[0].context;
    assert!(parse_ip(&knowledge, &ctx, &[0x81, 0x0a, 0, 40, 1, 0, 0x10], &mut out).is_err());
    assert!(parse_ip(&knowledge, &ctx, b"\x80garbage", &mut out).is_err());
    // A tag claiming four gigabytes.
    assert!(parse_apdu(&[0x30, 1, 12, 0x0d, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
    // Endless opening tags in a ReadPropertyMultiple answer.
    let mut deep = vec![0x30, 1, 14];
    deep.extend([0x1e; 1000]);
    assert!(parse_apdu(&deep).is_err());
}
