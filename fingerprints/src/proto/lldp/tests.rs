use super::*;
use crate::testing::{messages, tcpdump_frames};

/// The text after `marker` on the first line holding it.
fn after<'a>(lines: &'a [String], marker: &str) -> Option<&'a str> {
    lines
        .iter()
        .find_map(|l| l.find(marker).map(|i| l[i + marker.len()..].trim()))
}

/// The line following the first line holding `marker`.
fn next_line<'a>(lines: &'a [String], marker: &str) -> Option<&'a str> {
    let at = lines.iter().position(|l| l.contains(marker))?;
    lines.get(at + 1).map(|l| l.trim())
}

fn findings(pcap: &str) -> Vec<(usize, Result<Vec<Finding>, ParseError>)> {
    messages(pcap)
        .into_iter()
        .filter(|m| probe(&m.context, &m.bytes))
        .map(|m| {
            let mut out = Vec::new();
            let r = parse(&Knowledge::default(), &m.context, &m.bytes, &mut out);
            (m.frame, r.map(|_| out))
        })
        .collect()
}

fn field<'a>(f: &'a Finding, key: &str) -> Option<&'a serde_json::Value> {
    f.leaves()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

fn str_field(f: &Finding, key: &str) -> Option<String> {
    field(f, key).and_then(|v| v.as_str()).map(str::to_string)
}

/// Every LLDP frame of the tcpdump captures: system name, description,
/// chassis id, port id and management addresses equal what tcpdump printed.
#[test]
fn lldp_equals_tcpdump() {
    let mut compared = 0;
    let mut printed = 0;
    for (pcap, out) in [
        ("tcpdump/LLDP_and_CDP.pcap", "tcpdump/lldp_cdp-ev.out"),
        ("tcpdump/lldp_mudurl.pcap", "tcpdump/lldp_mudurl-v.out"),
        (
            "tcpdump/lldp-app-priority.pcap",
            "tcpdump/lldp-app-priority.out",
        ),
    ] {
        let expected = tcpdump_frames(out);
        printed += expected
            .values()
            .filter(|lines| lines[0].contains("LLDP, length"))
            .count();
        let found = findings(pcap);
        assert!(!found.is_empty(), "{pcap}");
        for (frame, result) in found {
            let lines = &expected[&frame];
            let fs = result.unwrap_or_else(|e| panic!("{pcap} frame {frame}: {e}"));
            let [f] = fs.as_slice() else {
                panic!("one finding")
            };
            assert_eq!(f.event_type, "lldp");
            assert_eq!(f.about, About::Sender);
            let name = after(lines, "System Name TLV (5), length ")
                .map(|s| s.split_once(": ").map(|(_, v)| v.to_string()).unwrap());
            assert_eq!(str_field(f, "system_name"), name, "{pcap} {frame}");
            let descr = next_line(lines, "System Description TLV").map(|s| s.replace("^J", "\n"));
            assert_eq!(str_field(f, "system_description"), descr, "{pcap} {frame}");
            let chassis = next_line(lines, "Chassis ID TLV").unwrap();
            assert!(chassis.starts_with("Subtype MAC address (4): "));
            assert_eq!(str_field(f, "chassis_id_subtype").unwrap(), "mac_address");
            assert_eq!(
                format!(
                    "Subtype MAC address (4): {}",
                    str_field(f, "chassis_id").unwrap()
                ),
                chassis
            );
            let port = next_line(lines, "Port ID TLV").unwrap();
            let (_, port_value) = port.split_once("): ").unwrap();
            assert_eq!(
                str_field(f, "port_id").unwrap(),
                port_value,
                "{pcap} {frame}"
            );
            let port_descr = after(lines, "Port Description TLV (4), length ")
                .map(|s| s.split_once(": ").unwrap().1.to_string());
            assert_eq!(str_field(f, "port_description"), port_descr);
            let addresses: Vec<String> = lines
                .iter()
                .filter(|l| l.contains("Management Address length"))
                .map(|l| l.rsplit_once(": ").unwrap().1.to_string())
                .collect();
            let ours: Vec<String> = field(f, "management_addresses")
                .map(|v| {
                    v.as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a.as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(ours, addresses, "{pcap} {frame}");
            if let Some(caps) = after(lines, "System  Capabilities [") {
                let names = caps.split_once(']').unwrap().0;
                let ours: Vec<&str> = field(f, "system_capabilities")
                    .unwrap()
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                assert_eq!(ours.join(", "), names);
            }
            if let Some(pvid) = after(lines, "port vlan id (PVID): ") {
                assert_eq!(
                    field(f, "port_vlan_id").unwrap(),
                    &serde_json::json!(pvid.parse::<u16>().unwrap())
                );
            }
            if let Some(url) = after(lines, "MUD-URL=") {
                assert_eq!(str_field(f, "mud_url").unwrap(), url);
            }
            compared += 1;
        }
    }
    // Every LLDP frame tcpdump printed: 8 in LLDP_and_CDP, 2 in lldp_mudurl,
    // 1 in lldp-app-priority.
    assert_eq!(compared, printed);
    assert_eq!(compared, 11);
}

/// No capture we hold carries LLDP-MED inventory, so this frame is built
/// from 802.1AB / ANSI/TIA-1057 by hand: a phone announcing its inventory.
#[test]
fn lldp_med_inventory() {
    fn tlv(kind: u8, value: &[u8]) -> Vec<u8> {
        let len = value.len() as u16;
        let mut v = vec![(kind << 1) | (len >> 8) as u8, len as u8];
        v.extend_from_slice(value);
        v
    }
    fn med(subtype: u8, value: &[u8]) -> Vec<u8> {
        let mut v = vec![0x00, 0x12, 0xbb, subtype];
        v.extend_from_slice(value);
        tlv(127, &v)
    }
    let mut frame = Vec::new();
    frame.extend(tlv(1, &[4, 0x00, 0x04, 0x0d, 0x01, 0x02, 0x03]));
    frame.extend(tlv(2, &[7, b'1']));
    frame.extend(tlv(3, &[0, 120]));
    frame.extend(tlv(8, &[5, 1, 10, 0, 0, 7, 2, 0, 0, 0, 1, 0]));
    frame.extend(med(1, &[0x00, 0x33, 3]));
    frame.extend(med(5, b"HW 2.1"));
    frame.extend(med(6, b"FW 1.0.4"));
    frame.extend(med(7, b"SIP 6.3.1"));
    frame.extend(med(8, b"FCH1234ABCD"));
    frame.extend(med(9, b"Avaya"));
    frame.extend(med(10, b"9611G"));
    frame.extend(med(11, b"asset-42"));
    frame.extend(tlv(0, &[]));
    let context = Context {
        carrier: Carrier::Ethernet { ether_type: 0x88cc },
        src_port: 0,
        dst_port: 0,
        to_server: true,
        src_mac: None,
        dst_mac: None,
    };
    let mut out = Vec::new();
    parse(&Knowledge::default(), &context, &frame, &mut out).unwrap();
    assert_eq!(
        serde_json::Value::Object(out[0].fields.clone()),
        serde_json::json!({
            "chassis_id": "00:04:0d:01:02:03",
            "chassis_id_subtype": "mac_address",
            "port_id": "1",
            "port_id_subtype": "local",
            "ttl": 120,
            "management_addresses": ["10.0.0.7"],
            "med": {
                "device_class": "endpoint_class_3",
                "hardware_revision": "HW 2.1",
                "firmware_revision": "FW 1.0.4",
                "software_revision": "SIP 6.3.1",
                "serial_number": "FCH1234ABCD",
                "manufacturer": "Avaya",
                "model_name": "9611G",
                "asset_id": "asset-42",
            }
        })
    );
    // Every prefix of the frame is an error, never a panic.
    for cut in 0..frame.len() - 2 {
        let mut out = Vec::new();
        assert!(parse(&Knowledge::default(), &context, &frame[..cut], &mut out).is_err());
        assert!(out.is_empty());
    }
}

/// tcpdump's crash and loop regressions: errors, quickly, never a panic.
#[test]
fn lldp_hostile_captures() {
    let start = std::time::Instant::now();
    let results: Vec<String> = [
        "tcpdump/lldp-infinite-loop-2.pcap",
        "tcpdump/lldp_asan.pcap",
        "tcpdump/lldp_mgmt_addr_tlv_asan.pcap",
        "tcpdump/lldp_8023_mtu-oobr.pcap",
    ]
    .iter()
    .flat_map(|pcap| findings(pcap))
    .map(|(_, r)| r.err().map(|e| e.to_string()).unwrap_or_default())
    .collect();
    assert_eq!(
        results,
        [
            "malformed lldp end tlv with a length",
            "malformed lldp mandatory tlv out of order",
            "malformed lldp mandatory tlv out of order",
            "malformed lldp mandatory tlv out of order",
        ]
    );
    // infinite-loop-1 is well-formed LLDP (tcpdump decodes it whole; the loop
    // was in tcpdump's own 802.1 printer): read once, quickly.
    let loop1 = findings("tcpdump/lldp-infinite-loop-1.pcap");
    let [(_, Ok(f))] = loop1.as_slice() else {
        panic!("{loop1:?}")
    };
    assert_eq!(str_field(&f[0], "chassis_id").unwrap(), "08:00:27:42:ba:59");
    assert!(start.elapsed().as_secs() < 5);
    // Garbage of every length.
    let context = Context {
        carrier: Carrier::Ethernet { ether_type: 0x88cc },
        src_port: 0,
        dst_port: 0,
        to_server: true,
        src_mac: None,
        dst_mac: None,
    };
    let mut seed = 0x1234_5678u32;
    for len in 0..600 {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        let _ = parse(&Knowledge::default(), &context, &bytes, &mut Vec::new());
    }
}
