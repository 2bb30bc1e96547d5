use super::*;
use crate::testing::{capture, messages};

/// Type, code, message id and Uri-Path against tshark's decode of nDPI's
/// coap_mqtt.pcap (`*.tshark-coap.tsv`).
#[test]
fn coap_equals_tshark() {
    let tsv = std::fs::read_to_string(capture("ndpi/coap_mqtt.pcap.tshark-coap.tsv")).unwrap();
    let rows: std::collections::HashMap<usize, Vec<&str>> = tsv
        .lines()
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (c[0].parse().unwrap(), c)
        })
        .collect();
    let mut compared = 0;
    let mut paths = 0;
    for m in messages("ndpi/coap_mqtt.pcap") {
        let Some(row) = rows.get(&m.frame) else {
            continue;
        };
        assert!(probe(&m.context, &m.bytes), "frame {}", m.frame);
        let mut out = Vec::new();
        parse(&Knowledge::default(), &m.context, &m.bytes, &mut out).unwrap();
        let f = &out[0].fields;
        let kind = ["CON", "NON", "ACK", "RST"][row[1].parse::<usize>().unwrap()];
        assert_eq!(f["type"], kind);
        assert_eq!(f["code"], code_name(row[2].parse().unwrap()));
        assert_eq!(f["message_id"].to_string(), row[3]);
        // tshark reconstructs a response's path from its request.
        if row[4].starts_with('/') && row[2].parse::<u8>().unwrap() < 32 {
            assert_eq!(f["uri_path"], row[4], "frame {}", m.frame);
            paths += 1;
        }
        compared += 1;
    }
    assert_eq!(compared, rows.len());
    assert!(paths >= 3, "{paths}");
}

/// RFC 6690's example answer to GET /.well-known/core, by hand: no capture
/// we hold carries one.
#[test]
fn coap_well_known_core_links() {
    let mut msg = vec![0x60, 0x45, 0x12, 0x34];
    // Content-Format (12) = 40, one byte.
    msg.extend_from_slice(&[0xc1, 40, 0xff]);
    msg.extend_from_slice(b"</sensors/temp>;if=\"sensor\",</sensors/light>;if=\"sensor\"");
    let context = Context {
        carrier: Carrier::Udp,
        src_port: 5683,
        dst_port: 40000,
        to_server: false,
        src_mac: None,
        dst_mac: None,
    };
    let mut out = Vec::new();
    parse(&Knowledge::default(), &context, &msg, &mut out).unwrap();
    assert_eq!(out[0].fields["code"], "2.05");
    assert_eq!(out[0].fields["type"], "ACK");
    assert_eq!(
        out[0].fields["links"],
        serde_json::json!(["/sensors/temp", "/sensors/light"])
    );
    for cut in 0..6 {
        let r = parse(
            &Knowledge::default(),
            &context,
            &msg[..cut],
            &mut Vec::new(),
        );
        assert!(r.is_err() || cut >= 4);
    }
    // Option nibbles of 15, extended lengths past the end.
    for bad in [
        &[0x40, 1, 0, 0, 0xf0][..],
        &[0x40, 1, 0, 0, 0xbe, 0xff],
        &[0x40, 1, 0, 0, 0x1e, 0xff, 0xff],
    ] {
        assert!(parse(&Knowledge::default(), &context, bad, &mut Vec::new()).is_err());
    }
}
