#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::proto::enip::tests::{findings, shown, str_at, tshark_rows};
use crate::testing::messages;

type Direction = (String, String, String, String);

const SZL_KEYS: &[&str] = &[
    "order_number",
    "hardware_version",
    "basic_hardware",
    "firmware_version",
    "plc_name",
    "module_name",
    "plant_id",
    "copyright",
    "serial_number",
    "module_type_name",
    "memory_card_serial",
    "location",
];

fn direction(r: &std::collections::HashMap<String, String>) -> Direction {
    (
        r["ip.src"].clone(),
        r["tcp.srcport"].clone(),
        r["ip.dst"].clone(),
        r["tcp.dstport"].clone(),
    )
}

/// tshark's SZL 0x0011 and 0x001c records, per PLC stream direction, in
/// mirador's terms (the last answer wins, as in the parser).
fn expected_szl(tsv: &str) -> BTreeMap<Direction, BTreeMap<String, String>> {
    let mut out: BTreeMap<Direction, BTreeMap<String, String>> = BTreeMap::new();
    for r in tshark_rows(tsv) {
        let entry = out.entry(direction(&r)).or_default();
        let mut put = |k: &str, v: &str| {
            let v = v.trim_end();
            if !v.is_empty() {
                entry.insert(k.to_string(), v.to_string());
            }
        };
        let column = |c: &str| -> Vec<String> { r[c].split('|').map(str::to_string).collect() };
        let (indexes, mlfbs, ausbgs, ausbes) = (
            column("s7comm.szl.xy11.0001.index"),
            column("s7comm.szl.xy11.0001.anz"),
            column("s7comm.szl.xy11.0001.ausbg"),
            column("s7comm.szl.xy11.0001.ausbe"),
        );
        for (i, index) in indexes.iter().enumerate() {
            match index.as_str() {
                "0x0001" => {
                    put("order_number", &mlfbs[i]);
                    put("hardware_version", &ausbgs[i]);
                }
                "0x0006" => put("basic_hardware", &mlfbs[i]),
                "0x0007" => {
                    let g: u16 = ausbgs[i].parse().unwrap();
                    let e: u16 = ausbes[i].parse().unwrap();
                    if g >> 8 == u16::from(b'V') {
                        put(
                            "firmware_version",
                            &format!("V{}.{}.{}", g & 0xff, e >> 8, e & 0xff),
                        );
                    }
                }
                _ => {}
            }
        }
        for (key, c) in [
            ("plc_name", "s7comm.szl.001c.0001.name"),
            ("module_name", "s7comm.szl.001c.0002.name"),
            ("plant_id", "s7comm.szl.001c.0003.tag"),
            ("copyright", "s7comm.szl.001c.0004.copyright"),
            ("serial_number", "s7comm.szl.001c.0005.serialn"),
            ("module_type_name", "s7comm.szl.001c.0007.cputypname"),
            ("memory_card_serial", "s7comm.szl.001c.0008.snmcmmc"),
            ("location", "s7comm.szl.001c.000b.loc_id"),
        ] {
            put(key, &r[c]);
        }
    }
    out
}

fn szl_equals_tshark(pcap: &str, tsv: &str) -> usize {
    let expected = expected_szl(tsv);
    let mut got: BTreeMap<Direction, BTreeMap<String, String>> = BTreeMap::new();
    for (m, f) in findings(DISSECTORS, pcap) {
        let fields: BTreeMap<String, String> = SZL_KEYS
            .iter()
            .map(|k| (k.to_string(), shown(&f, &format!("szl.{k}"))))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        if fields.is_empty() {
            continue;
        }
        assert_eq!(f.about, About::Sender);
        assert_eq!(m.context.src_port, PORT);
        got.insert(
            (
                m.src_ip.unwrap().to_string(),
                m.context.src_port.to_string(),
                m.dst_ip.unwrap().to_string(),
                m.context.dst_port.to_string(),
            ),
            fields,
        );
    }
    assert_eq!(got, expected, "{pcap}");
    got.values().map(BTreeMap::len).sum()
}

#[test]
fn szl_module_and_component_identification_equal_tshark() {
    // An S7-315-2 PN/DP read by snap7: 12 identity fields, one answer in
    // two fragments.
    assert_eq!(
        szl_equals_tshark(
            "ics/s7/snap7_s300_everything.pcapng",
            "ics/s7/snap7_s300_everything.szl.tshark.tsv"
        ),
        10
    );
    let all = findings(DISSECTORS, "ics/s7/snap7_s300_everything.pcapng");
    let plc = all
        .iter()
        .find(|(_, f)| str_at(f, "szl.order_number").is_some())
        .unwrap();
    assert_eq!(shown(&plc.1, "szl.order_number"), "6ES7 315-2EH14-0AB0");
    assert_eq!(shown(&plc.1, "szl.firmware_version"), "V3.2.7");
    assert_eq!(shown(&plc.1, "szl.module_type_name"), "CPU 315-2 PN/DP");
    assert_eq!(shown(&plc.1, "szl.serial_number"), "S C-B1U393142011");
}

#[test]
fn szl_of_other_plcs_equal_tshark() {
    for name in [
        "s7comm_reading_plc_status",
        "tia_s300_goOnline",
        "s7comm_reading_setting_plc_time",
    ] {
        let pcap = if name.starts_with("tia") {
            format!("ics/s7/{name}.pcapng")
        } else {
            format!("ics/s7/{name}.pcap")
        };
        let n = szl_equals_tshark(&pcap, &format!("ics/s7/{name}.szl.tshark.tsv"));
        assert!(n > 0, "{name}");
    }
}

/// Job function codes per client direction equal tshark's.
fn functions_equal_tshark(pcap: &str, tsv: &str) -> BTreeSet<u64> {
    let mut expected: BTreeMap<Direction, BTreeSet<u64>> = BTreeMap::new();
    for r in tshark_rows(tsv) {
        expected.entry(direction(&r)).or_default().extend(
            r["s7comm.param.func"]
                .split('|')
                .filter(|s| !s.is_empty())
                .map(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()),
        );
    }
    let mut got: BTreeMap<Direction, BTreeSet<u64>> = BTreeMap::new();
    for (m, f) in findings(DISSECTORS, pcap) {
        if let Some(codes) = str_at(&f, "function_codes") {
            got.insert(
                (
                    m.src_ip.unwrap().to_string(),
                    m.context.src_port.to_string(),
                    m.dst_ip.unwrap().to_string(),
                    m.context.dst_port.to_string(),
                ),
                codes
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_u64().unwrap())
                    .collect(),
            );
        }
    }
    assert_eq!(got, expected, "{pcap}");
    got.into_values().flatten().collect()
}

#[test]
fn job_functions_equal_tshark() {
    let downloads = functions_equal_tshark(
        "ics/s7/s7comm_downloading_block_db1.pcap",
        "ics/s7/s7comm_downloading_block_db1.func.tshark.tsv",
    );
    assert!(downloads.is_superset(&BTreeSet::from([0x1a, 0x1b, 0x1c])));
    let stop = functions_equal_tshark(
        "ics/s7/step7_s300_stop.pcapng",
        "ics/s7/step7_s300_stop.func.tshark.tsv",
    );
    assert!(stop.contains(&0x29));
    for name in [
        "snap7_s300_everything.pcapng",
        "s7comm_reading_plc_status.pcap",
        "tia_s300_goOnline.pcapng",
        "s7comm_reading_setting_plc_time.pcap",
    ] {
        let base = name.rsplit_once('.').unwrap().0;
        functions_equal_tshark(
            &format!("ics/s7/{name}"),
            &format!("ics/s7/{base}.func.tshark.tsv"),
        );
    }
    let all = findings(DISSECTORS, "ics/s7/step7_s300_stop.pcapng");
    assert!(all.iter().any(|(_, f)| {
        str_at(f, "functions")
            .and_then(|v| v.as_array())
            .is_some_and(|a| a.iter().any(|n| n == "plc_stop"))
    }));
}

#[test]
fn s7comm_plus_is_recognised_and_classic_is_not() {
    let plus = findings(DISSECTORS, "ics/s7/S7-1511_db6w0_HMI.pcap");
    assert!(plus.iter().any(|(_, f)| shown(f, "plus") == "true"));
    let classic = findings(DISSECTORS, "ics/s7/snap7_s300_everything.pcapng");
    assert!(classic.iter().all(|(_, f)| shown(f, "plus").is_empty()));
}

/// The capture holds frames 3 to 5 of the client's direction after a gap,
/// so the password frame is parsed on its own.
#[test]
fn a_password_is_noted_never_shown() {
    let frames = crate::testing::frames("ics/s7/step7_s300_AuthPassword.pcapng");
    // Ethernet, IPv4 and TCP headers without options.
    let payload = &frames[2].1[54..];
    assert_eq!(&payload[..2], &[3, 0]);
    let ctx = messages("ics/s7/step7_s300_AuthPassword.pcapng")[0].context;
    let mut out = Vec::new();
    parse_stream(&Knowledge::default(), &ctx, payload, true, &mut out).unwrap();
    assert_eq!(shown(&out[0], "password_present"), "true");
    // The obfuscated password bytes appear nowhere.
    let text = serde_json::to_string(&out[0].fields).unwrap();
    assert!(!text.contains("21") && !text.contains("3a1b"), "{text}");
    // The PLC's answer is about the security group too.
    let all = findings(DISSECTORS, "ics/s7/step7_s300_AuthPassword.pcapng");
    assert!(
        all.iter()
            .any(|(m, f)| m.context.src_port == PORT && shown(f, "userdata_groups") == "[4,5]")
    );
}

#[test]
fn hostile_bytes_give_errors_not_panics() {
    let knowledge = Knowledge::default();
    for m in messages("ics/s7/snap7_s300_everything.pcapng") {
        for cut in (0..m.bytes.len()).step_by(7) {
            let mut out = Vec::new();
            let _ = parse_stream(&knowledge, &m.context, &m.bytes[..cut], true, &mut out);
            let mut flipped = m.bytes.clone();
            if let Some(b) = flipped.get_mut(cut) {
                *b ^= 0xff;
            }
            let _ = parse_stream(&knowledge, &m.context, &flipped, true, &mut out);
        }
    }
    let ctx = messages("ics/s7/snap7_s300_everything.pcapng")[0].context;
    let mut out = Vec::new();
    assert!(parse_stream(&knowledge, &ctx, b"\x03\x00\x00\x02", true, &mut out).is_err());
    assert!(parse_stream(&knowledge, &ctx, b"garbage", true, &mut out).is_err());
    // An SZL list claiming 65535 records of 65535 bytes.
    let mut szl = Szl::default();
    assert!(read_szl(&[0, 0x1c, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 1], &mut szl).is_ok());
}
