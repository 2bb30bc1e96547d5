use super::*;
use crate::testing::{Message, capture, messages};

/// Each MQTT direction's finding, the parser fed as the sensor feeds it.
fn findings(pcap: &str) -> Vec<(Message, Finding)> {
    let all = messages(pcap);
    // Connections whose client direction the probe accepts.
    let clients: Vec<(u16, u16)> = all
        .iter()
        .filter(|m| probe(&m.context, &m.bytes))
        .map(|m| (m.context.src_port, m.context.dst_port))
        .collect();
    let mut out = Vec::new();
    for m in all {
        let c = &m.context;
        if c.carrier != Carrier::Tcp
            || !(clients.contains(&(c.src_port, c.dst_port))
                || clients.contains(&(c.dst_port, c.src_port)))
        {
            continue;
        }
        let mut found = Vec::new();
        let progress = parse(
            &Knowledge::default(),
            &m.context,
            &m.bytes,
            true,
            &mut found,
        )
        .unwrap_or_else(|e| panic!("{pcap} frame {}: {e}", m.frame));
        assert_eq!(progress, Progress::Done);
        let (mqtt, logins): (Vec<Finding>, Vec<Finding>) =
            found.into_iter().partition(|f| f.event_type == "mqtt");
        let [f] = mqtt.as_slice() else {
            panic!("{mqtt:?}")
        };
        // A CONNECT with a password is also a login.
        let password = f.get("mqtt.connect.password_present") == Some(&true.into());
        assert_eq!(logins.len(), usize::from(password), "{pcap}: {logins:?}");
        for login in &logins {
            assert_eq!(login.get("login.protocol"), Some(&"mqtt".into()));
            assert_eq!(login.get("login.username"), f.get("mqtt.connect.username"));
        }
        out.push((m.clone(), f.clone()));
    }
    out
}

fn get(f: &Finding, key: &str) -> Option<serde_json::Value> {
    f.leaves()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}

fn s(f: &Finding, key: &str) -> String {
    match get(f, key) {
        Some(serde_json::Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// suricata-verify's expected CONNECT, CONNACK and PUBLISH values for
/// MQTT 3.1, 3.1.1 and 5.
#[test]
fn mqtt_equals_suricata_verify() {
    for (test, protocol, version) in [
        ("mqtt31-pub-userpass", "MQIsdp", 3),
        ("mqtt311-pub-userpass", "MQTT", 4),
        ("mqtt5-pub-userpass", "MQTT", 5),
    ] {
        let yaml =
            std::fs::read_to_string(capture(&format!("suricata-verify/{test}/test.yaml"))).unwrap();
        for line in [
            format!("mqtt.connect.protocol_string: {protocol}"),
            format!("mqtt.connect.protocol_version: {version}"),
            "mqtt.connect.client_id: myvoiceismypassport".into(),
            "mqtt.connect.username: user".into(),
            "mqtt.connect.flags.password: true".into(),
            "mqtt.connect.flags.clean_session: true".into(),
            "mqtt.connack.return_code: 0".into(),
            "mqtt.publish.topic: topicX".into(),
        ] {
            assert!(yaml.contains(&line), "{test}: {line}");
        }
        let found = findings(&format!("suricata-verify/{test}/input.pcap"));
        let (_, c) = found.iter().find(|(m, _)| m.context.to_server).unwrap();
        let (_, srv) = found.iter().find(|(m, _)| !m.context.to_server).unwrap();
        assert_eq!(s(c, "connect.protocol_string"), protocol);
        assert_eq!(get(c, "connect.protocol_version").unwrap(), version);
        assert_eq!(s(c, "connect.client_id"), "myvoiceismypassport");
        assert_eq!(s(c, "connect.username"), "user");
        assert_eq!(get(c, "connect.password_present").unwrap(), true);
        assert_eq!(get(c, "connect.flags.clean_session").unwrap(), true);
        assert_eq!(
            get(c, "publish_topics").unwrap(),
            serde_json::json!(["topicX"])
        );
        assert_eq!(get(srv, "connack.return_code").unwrap(), 0);
        // The password ("pass") never leaves the parser.
        let json = serde_json::Value::Object(c.fields.clone()).to_string();
        assert!(!json.contains("\"pass\""), "{json}");
        assert_eq!(c.about, About::Sender);
    }
}

/// tshark's decode of the nDPI and Zeek MQTT captures (`*.tshark-mqtt.tsv`):
/// protocol, version, client id, username, will topic, the client's
/// PUBLISH topics and the CONNACK return code.
#[test]
fn mqtt_equals_tshark() {
    let mut connects = 0;
    for pcap in ["ndpi/mqtt.pcap", "zeek/mqtt.pcap"] {
        let tsv = std::fs::read_to_string(capture(&format!("{pcap}.tshark-mqtt.tsv"))).unwrap();
        let rows: Vec<Vec<&str>> = tsv.lines().map(|l| l.split('\t').collect()).collect();
        for (m, f) in findings(pcap) {
            let (sp, dp) = (
                m.context.src_port.to_string(),
                m.context.dst_port.to_string(),
            );
            let mine: Vec<&Vec<&str>> = rows.iter().filter(|r| r[1] == sp && r[2] == dp).collect();
            if m.context.to_server {
                let connect = mine.iter().find(|r| r[3] == "1").unwrap();
                assert_eq!(s(&f, "connect.protocol_string"), connect[4]);
                assert_eq!(s(&f, "connect.protocol_version"), connect[5]);
                assert_eq!(s(&f, "connect.client_id"), connect[6]);
                // A password equal to the user name hides the user name
                // (nDPI's mqtt.pcap: tshark shows both the same).
                if f.get("mqtt.connect.password_is_username") == Some(&true.into()) {
                    assert_eq!(s(&f, "connect.username"), "");
                    assert!(!connect[7].is_empty());
                } else {
                    assert_eq!(s(&f, "connect.username"), connect[7]);
                }
                assert_eq!(s(&f, "connect.will.topic"), connect[8]);
                let mut topics: Vec<&str> = Vec::new();
                for r in &mine {
                    for (kind, topic) in r[3].split(',').zip(r[9].split(',')) {
                        if kind == "3" && !topics.contains(&topic) {
                            topics.push(topic);
                        }
                    }
                }
                let ours: Vec<String> = get(&f, "publish_topics")
                    .map(|v| {
                        v.as_array()
                            .unwrap()
                            .iter()
                            .map(|t| t.as_str().unwrap().into())
                            .collect()
                    })
                    .unwrap_or_default();
                assert_eq!(ours, topics, "{pcap} {sp}");
                connects += 1;
            } else {
                let connack = mine.iter().find(|r| r[3] == "2").unwrap();
                assert_eq!(s(&f, "connack.return_code"), connack[10]);
            }
        }
    }
    assert_eq!(connects, 4);
}

#[test]
fn mqtt_hostile_input() {
    let found = findings("suricata-verify/mqtt5-pub-userpass/input.pcap");
    let (m, _) = found.iter().find(|(m, _)| m.context.to_server).unwrap();
    let k = Knowledge::default();
    for cut in 0..m.bytes.len() {
        let mut out = Vec::new();
        let r = parse(&k, &m.context, &m.bytes[..cut], false, &mut out);
        assert!(matches!(r, Ok(Progress::NeedMore) | Err(_)) || !out.is_empty());
        let _ = parse(&k, &m.context, &m.bytes[..cut], true, &mut Vec::new());
    }
    // A remaining length of five bytes, a string past the body.
    for bytes in [
        &[0x10, 0xff, 0xff, 0xff, 0xff, 0x01][..],
        &[0x10, 0x06, 0x00, 0x04, b'M', b'Q', b'T', b'T'],
        &[0x10, 0x04, 0xff, 0xff, 0x00, 0x00],
    ] {
        assert!(parse(&k, &m.context, bytes, true, &mut Vec::new()).is_err());
    }
}
