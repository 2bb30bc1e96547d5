use super::*;
use crate::testing::{capture, messages};

/// Version, mode, stratum and reference id against tshark's decode of
/// nDPI's NTPv2/v3/v4 captures (`*.tshark-ntp.tsv`).
#[test]
fn ntp_equals_tshark() {
    let mut compared = 0;
    for v in ["NTPv2", "NTPv3", "NTPv4"] {
        let tsv =
            std::fs::read_to_string(capture(&format!("ndpi/{v}.pcap.tshark-ntp.tsv"))).unwrap();
        for (m, line) in messages(&format!("ndpi/{v}.pcap")).iter().zip(tsv.lines()) {
            assert!(probe(&m.context, &m.bytes));
            let cols: Vec<&str> = line.split('\t').collect();
            let mut out = Vec::new();
            parse(&Knowledge::default(), &m.context, &m.bytes, &mut out).unwrap();
            let f = &out[0].fields;
            assert_eq!(f["version"].to_string(), cols[1]);
            let mode: u8 = cols[2].parse().unwrap();
            assert_eq!(f["mode"], mode_name(mode));
            if !cols[3].is_empty() {
                assert_eq!(f["stratum"].to_string(), cols[3]);
                let refid = u32::from_str_radix(cols[4], 16).unwrap();
                let expected = (refid != 0).then(|| Ipv4Addr::from(refid).to_string());
                assert_eq!(
                    f.get("reference_id")
                        .and_then(|v| v.as_str())
                        .map(str::to_string),
                    expected
                );
            }
            compared += 1;
        }
    }
    assert_eq!(compared, 3);
}

#[test]
fn ntp_reference_of_a_primary_server() {
    let mut packet = [0u8; 48];
    packet[0] = (4 << 3) | 4;
    packet[1] = 1;
    packet[12..16].copy_from_slice(b"GPS\0");
    let context = Context {
        carrier: Carrier::Udp,
        src_port: 123,
        dst_port: 123,
        to_server: false,
        src_mac: None,
        dst_mac: None,
    };
    let mut out = Vec::new();
    parse(&Knowledge::default(), &context, &packet, &mut out).unwrap();
    assert_eq!(out[0].fields["reference_id"], "GPS");
    assert_eq!(out[0].fields["mode"], "server");
    for cut in 1..48 {
        assert!(
            parse(
                &Knowledge::default(),
                &context,
                &packet[..cut],
                &mut Vec::new()
            )
            .is_err()
        );
    }
    assert!(parse(&Knowledge::default(), &context, &[], &mut Vec::new()).is_err());
}
