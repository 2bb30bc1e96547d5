use super::*;
use crate::testing::{capture, messages};

fn run(
    parser: super::super::StreamParser,
    m: &crate::testing::Message,
) -> Result<Vec<Finding>, ParseError> {
    let mut out = Vec::new();
    parser(&Knowledge::default(), &m.context, &m.bytes, true, &mut out)?;
    Ok(out)
}

fn banner(f: &Finding) -> &str {
    f.fields["banner"].as_str().unwrap()
}

/// The FTP greeting equals tshark's `ftp.response.arg` of the 220 reply.
#[test]
fn ftp_banner_equals_tshark() {
    let expected = std::fs::read_to_string(capture("ndpi/ftp_failed.pcap.tshark-220.tsv")).unwrap();
    let mut compared = 0;
    for m in messages("ndpi/ftp_failed.pcap") {
        if !probe_ftp(&m.context, &m.bytes) {
            continue;
        }
        let fs = run(parse_ftp, &m).unwrap();
        let line = expected
            .lines()
            .find(|l| l.starts_with(&format!("{}\t{}\t", m.context.src_port, m.context.dst_port)))
            .unwrap();
        assert_eq!(banner(&fs[0]), line.rsplit('\t').next().unwrap());
        assert_eq!(fs[0].event_type, "ftp");
        assert_eq!(fs[0].about, About::Sender);
        compared += 1;
    }
    assert_eq!(compared, expected.lines().count());
    assert!(compared >= 1);
}

/// The Telnet banner equals the first non-empty line of tshark's
/// `telnet.data` from the server, negotiation skipped.
#[test]
fn telnet_banner_equals_tshark() {
    let expected =
        std::fs::read_to_string(capture("ndpi/telnet.pcap.tshark-first-line.txt")).unwrap();
    let m = messages("ndpi/telnet.pcap")
        .into_iter()
        .find(|m| m.context.carrier == Carrier::Tcp && m.context.src_port == 23)
        .unwrap();
    assert!(probe_telnet(&m.context, &m.bytes));
    assert_eq!(m.bytes[0], 0xff, "the server starts with IAC negotiation");
    let fs = run(parse_telnet, &m).unwrap();
    assert_eq!(fs[0].event_type, "telnet");
    assert_eq!(banner(&fs[0]), expected.trim());
}

#[test]
fn client_bytes_are_not_read() {
    // A client's login on port 21 or 23 gives nothing.
    let client = Context {
        carrier: Carrier::Tcp,
        src_port: 40000,
        dst_port: 21,
        to_server: true,
        src_mac: None,
        dst_mac: None,
    };
    let mut out = Vec::new();
    let k = Knowledge::default();
    assert_eq!(
        parse_ftp(&k, &client, b"USER bob\r\nPASS hunter2\r\n", true, &mut out),
        Ok(Progress::Done)
    );
    assert_eq!(
        parse_telnet(
            &k,
            &Context {
                dst_port: 23,
                ..client
            },
            b"bob\r\nhunter2\r\n",
            true,
            &mut out
        ),
        Ok(Progress::Done)
    );
    assert!(out.is_empty());
}

#[test]
fn banner_hostile_input() {
    let server = Context {
        carrier: Carrier::Tcp,
        src_port: 23,
        dst_port: 40000,
        to_server: false,
        src_mac: None,
        dst_mac: None,
    };
    let k = Knowledge::default();
    let mut out = Vec::new();
    // Multi-line FTP greeting.
    parse_ftp(
        &k,
        &Context {
            src_port: 21,
            ..server
        },
        b"220-Welcome\r\n220-to X\r\n220 ready\r\n",
        false,
        &mut out,
    )
    .unwrap();
    assert_eq!(banner(&out[0]), "Welcome\nto X\nready");
    for bytes in [
        &[0xff][..],
        &[0xff, 250, 1, 2, 3],
        &[0xff, 251],
        &[0xff; 5000],
        b"\r\n\r\n",
    ] {
        assert!(parse_telnet(&k, &server, bytes, true, &mut Vec::new()).is_err());
        let _ = parse_ftp(&k, &server, bytes, true, &mut Vec::new());
    }
    assert_eq!(
        parse_telnet(
            &k,
            &server,
            &[0xff, 251, 1, 0xff, 250, 24, 1, 0xff, 240],
            false,
            &mut Vec::new()
        ),
        Ok(Progress::NeedMore)
    );
    let long = vec![b'a'; 10_000];
    parse_telnet(&k, &server, &long, false, &mut out).unwrap();
    assert_eq!(banner(out.last().unwrap()).len(), MAX_BANNER);
}
