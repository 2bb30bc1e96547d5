use super::*;
use crate::testing::{messages, tcpdump_frames};

/// The value tcpdump printed for a CDP TLV: the text after "bytes: ",
/// without quotes, or the indented lines that follow when it is empty.
fn tlv(lines: &[String], name: &str) -> Option<String> {
    let at = lines
        .iter()
        .position(|l| l.trim_start().starts_with(name))?;
    let line = &lines[at];
    let value = line.split_once("bytes: ").or(line.split_once("byte: "))?.1;
    if !value.is_empty() {
        return Some(value.trim_matches('\'').to_string());
    }
    let more: Vec<&str> = lines[at + 1..]
        .iter()
        .take_while(|l| l.starts_with("\t  "))
        .map(|l| l.trim())
        .collect();
    Some(more.join("\n"))
}

fn str_field(f: &Finding, key: &str) -> Option<String> {
    f.leaves()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(a) => a
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        })
}

/// Every CDP frame tcpdump decoded: device id, version string, platform,
/// port, addresses, capabilities, VTP domain, native VLAN and duplex equal
/// tcpdump's.
#[test]
fn cdp_equals_tcpdump() {
    let mut compared = 0;
    for (pcap, out) in [
        ("tcpdump/LLDP_and_CDP.pcap", "tcpdump/lldp_cdp-ev.out"),
        ("tcpdump/3560_CDP.pcap", "tcpdump/cdp-v.out"),
    ] {
        let expected = tcpdump_frames(out);
        for m in messages(pcap) {
            if !probe(&m.context, &m.bytes) {
                continue;
            }
            let lines = &expected[&m.frame];
            assert!(lines[0].contains("CDPv2"));
            let mut fs = Vec::new();
            parse(&Knowledge::default(), &m.context, &m.bytes, &mut fs).unwrap();
            let f = &fs[0];
            assert_eq!(f.event_type, "cdp");
            let check = |key: &str, name: &str| {
                assert_eq!(
                    str_field(f, key),
                    tlv(lines, name),
                    "{pcap} {} {key}",
                    m.frame
                );
            };
            check("device_id", "Device-ID");
            check("software_version", "Version String");
            check("platform", "Platform");
            check("port_id", "Port-ID");
            check("native_vlan", "Native VLAN ID");
            check("duplex", "Duplex");
            let vtp = tlv(lines, "VTP Management Domain").filter(|v| !v.is_empty());
            assert_eq!(str_field(f, "vtp_domain"), vtp);
            let caps = tlv(lines, "Capability").unwrap();
            assert_eq!(
                str_field(f, "capabilities").unwrap(),
                caps.split_once("): ").unwrap().1
            );
            let address =
                |name| tlv(lines, name).map(|v| v.rsplit_once(' ').unwrap().1.to_string());
            assert_eq!(str_field(f, "addresses"), address("Address"));
            assert_eq!(
                str_field(f, "management_addresses"),
                address("Management Addresses")
            );
            compared += 1;
        }
    }
    // 4 CDP frames in LLDP_and_CDP, 3 in 3560_CDP.
    let printed: usize = ["tcpdump/lldp_cdp-ev.out", "tcpdump/cdp-v.out"]
        .iter()
        .map(|o| {
            tcpdump_frames(o)
                .values()
                .filter(|l| l[0].contains("CDPv2"))
                .count()
        })
        .sum();
    assert_eq!(compared, printed);
    assert_eq!(compared, 7);
}

#[test]
fn cdp_hostile_input() {
    let m = messages("tcpdump/3560_CDP.pcap")
        .into_iter()
        .find(|m| probe(&m.context, &m.bytes))
        .unwrap();
    // Every cut inside a TLV is an error, never a panic.
    for cut in 0..m.bytes.len() {
        let _ = parse(
            &Knowledge::default(),
            &m.context,
            &m.bytes[..cut],
            &mut Vec::new(),
        );
    }
    assert!(
        parse(
            &Knowledge::default(),
            &m.context,
            &m.bytes[..12],
            &mut Vec::new()
        )
        .is_err()
    );
    let mut seed = 0x9e37_79b9u32;
    for len in 0..400 {
        let mut bytes = SNAP.to_vec();
        bytes.extend((0..len).map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as u8
        }));
        let _ = parse(&Knowledge::default(), &m.context, &bytes, &mut Vec::new());
    }
}
