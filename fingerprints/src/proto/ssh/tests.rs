use super::*;
use crate::testing::{capture, messages};

/// Each SSH direction's finding, fed to the parser as the sensor does: a
/// growing prefix until Done.
fn findings(pcap: &str) -> Vec<(crate::testing::Message, Finding)> {
    let mut all = Vec::new();
    for m in messages(pcap) {
        if m.context.carrier != super::super::Carrier::Tcp || !m.bytes.starts_with(b"SSH-") {
            continue;
        }
        let mut out = Vec::new();
        let mut end = 1;
        loop {
            end = (end * 2).min(m.bytes.len());
            let last = end == m.bytes.len();
            let progress = parse(
                &Knowledge::default(),
                &m.context,
                &m.bytes[..end],
                last,
                &mut out,
            )
            .unwrap_or_else(|e| panic!("{pcap} frame {}: {e}", m.frame));
            if progress == Progress::Done || last {
                break;
            }
        }
        let [f] = out.as_slice() else {
            panic!("{pcap}: {out:?}")
        };
        all.push((m.clone(), f.clone()));
    }
    all
}

fn get(f: &Finding, key: &str) -> String {
    f.leaves()
        .into_iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("{key} missing in {:?}", f.fields))
}

/// suricata-verify's expected `match` values (test.yaml) and rule contents
/// (test.rules) for the HASSH tests.
#[test]
fn hassh_equals_suricata_verify() {
    for (test, client, server) in [
        (
            "ssh-hassh",
            "2dd6531c7e89d3c925db9214711be76a",
            "6832f1ce43d4397c2c0a3e2f8c94334e",
        ),
        (
            "ssh-hassh-reassembled",
            "3cc67862bceac0f334c62ad1b76895b4",
            "3cc67862bceac0f334c62ad1b76895b4",
        ),
    ] {
        let yaml =
            std::fs::read_to_string(capture(&format!("suricata-verify/{test}/test.yaml"))).unwrap();
        assert!(yaml.contains(&format!("ssh.client.hassh.hash: \"{client}\"")));
        assert!(yaml.contains(&format!("ssh.server.hassh.hash: \"{server}\"")));
        let rules = std::fs::read_to_string(capture(&format!("suricata-verify/{test}/test.rules")))
            .unwrap();
        let content = |sig: &str| {
            let line = rules
                .lines()
                .find(|l| l.contains(&format!("{sig};")))
                .unwrap();
            line.split("content:\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string()
        };
        let found = findings(&format!("suricata-verify/{test}/input.pcap"));
        let c = found.iter().find(|(m, _)| m.context.to_server).unwrap();
        let s = found.iter().find(|(m, _)| !m.context.to_server).unwrap();
        assert_eq!(get(&c.1, "client.hassh.hash"), client, "{test}");
        assert_eq!(get(&s.1, "server.hassh.hash"), server, "{test}");
        assert!(get(&c.1, "client.hassh.string").contains(&content("ssh.hassh.string")));
        assert!(get(&s.1, "server.hassh.string").contains(&content("ssh.hassh.server.string")));
        assert_eq!(c.1.about, About::Sender);
    }
}

#[test]
fn banners_equal_suricata_verify() {
    let found = findings("suricata-verify/ssh-banner-only/input.pcap");
    let c = found.iter().find(|(m, _)| m.context.to_server).unwrap();
    let s = found.iter().find(|(m, _)| !m.context.to_server).unwrap();
    assert_eq!(get(&c.1, "client.proto_version"), "2.0");
    assert_eq!(get(&s.1, "server.proto_version"), "2.0");
    assert_eq!(
        get(&c.1, "client.software_version"),
        "OpenSSH_for_Windows_7.7"
    );
    assert_eq!(get(&s.1, "server.software_version"), "OpenSSH_7.4");
    let found = findings("suricata-verify/ssh-newkeys/input.pcap");
    let c = found.iter().find(|(m, _)| m.context.to_server).unwrap();
    assert_eq!(get(&c.1, "client.software_version"), "libssh-0.7.2");
}

/// nDPI's `HASSH-C`, `HASSH-S` and `Server:` banner for both flows of
/// ndpi/ssh.pcap.
#[test]
fn hassh_equals_ndpi() {
    let result = std::fs::read_to_string(capture("ndpi/result/ssh.pcap.out")).unwrap();
    let found = findings("ndpi/ssh.pcap");
    let mut compared = 0;
    for line in result.lines().filter(|l| l.contains("[HASSH-C: ")) {
        let tag = |name: &str| {
            line.split(&format!("[{name}: "))
                .nth(1)
                .unwrap()
                .split(']')
                .next()
                .unwrap()
                .to_string()
        };
        let client_port: u16 = line
            .split("TCP ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let c = found
            .iter()
            .find(|(m, _)| m.context.to_server && m.context.src_port == client_port)
            .unwrap();
        let s = found
            .iter()
            .find(|(m, _)| !m.context.to_server && m.context.dst_port == client_port)
            .unwrap();
        assert_eq!(
            get(&c.1, "client.hassh.hash"),
            tag("HASSH-C").to_lowercase()
        );
        assert_eq!(
            get(&s.1, "server.hassh.hash"),
            tag("HASSH-S").to_lowercase()
        );
        compared += 1;
    }
    assert_eq!(compared, 2);
    // Banners: tshark's `ssh.protocol` per sending port (nDPI labels the
    // two banners the other way round in this capture).
    let tshark = std::fs::read_to_string(capture("ndpi/ssh.pcap.tshark-banners.tsv")).unwrap();
    let mut banners = 0;
    for line in tshark.lines() {
        let [src, dst, banner] = line.split('\t').collect::<Vec<_>>()[..] else {
            panic!("{line}")
        };
        let (src, dst): (u16, u16) = (src.parse().unwrap(), dst.parse().unwrap());
        let (m, f) = found
            .iter()
            .find(|(m, _)| m.context.src_port == src && m.context.dst_port == dst)
            .unwrap();
        let side = if m.context.to_server {
            "client"
        } else {
            "server"
        };
        assert_eq!(
            format!(
                "SSH-{}-{}",
                get(f, &format!("{side}.proto_version")),
                get(f, &format!("{side}.software_version"))
            ),
            banner.split(' ').next().unwrap()
        );
        banners += 1;
    }
    assert_eq!(banners, 2);
}

#[test]
fn ssh_hostile_input() {
    let context = Context {
        carrier: super::super::Carrier::Tcp,
        src_port: 50000,
        dst_port: 22,
        to_server: true,
        src_mac: None,
        dst_mac: None,
    };
    let k = Knowledge::default();
    let found = findings("suricata-verify/ssh-hassh/input.pcap");
    let bytes = &found
        .iter()
        .find(|(m, _)| m.context.to_server)
        .unwrap()
        .0
        .bytes;
    for cut in 0..bytes.len().min(3000) {
        let _ = parse(&k, &context, &bytes[..cut], true, &mut Vec::new());
        let _ = parse(&k, &context, &bytes[..cut], false, &mut Vec::new());
    }
    // A hostile packet length is refused, not awaited.
    let mut evil = b"SSH-2.0-x\r\n".to_vec();
    evil.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 4, 20]);
    assert_eq!(
        parse(&k, &context, &evil, false, &mut Vec::new()),
        Err(ParseError::Limit("ssh packet length"))
    );
    // Name-list lengths past the packet.
    let mut evil = b"SSH-2.0-x\r\n".to_vec();
    let mut payload = vec![20u8];
    payload.extend_from_slice(&[0; 16]);
    payload.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff]);
    let len = (payload.len() + 1 + 4) as u32;
    evil.extend_from_slice(&len.to_be_bytes());
    evil.push(4);
    evil.extend_from_slice(&payload);
    evil.extend_from_slice(&[0; 4]);
    assert!(parse(&k, &context, &evil, true, &mut Vec::new()).is_err());
    // A long line without end.
    let long = [b"SSH-".as_slice(), &[b'a'; 1000]].concat();
    assert!(parse(&k, &context, &long, false, &mut Vec::new()).is_err());
}
