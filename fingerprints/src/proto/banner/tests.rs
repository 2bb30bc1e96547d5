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

/// The serialised fields of every finding, to look for secrets in.
fn written(out: &[Finding]) -> String {
    out.iter()
        .map(|f| serde_json::to_string(&f.fields).unwrap())
        .collect()
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
        // The server's greetings (the probe also takes a client speaking first).
        if m.context.to_server || !probe_ftp(&m.context, &m.bytes) {
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
    let mut fs = Vec::new();
    parse_telnet(
        &Knowledge::default(),
        &m.context,
        &m.bytes,
        &[],
        true,
        &mut fs,
    )
    .unwrap();
    assert_eq!(fs[0].event_type, "telnet");
    assert_eq!(banner(&fs[0]), expected.trim());
}

/// The client of `ndpi/telnet.pcap` types `fake` at `login:` and `user` at
/// `Password:` (tshark's `telnet.data`); the server does not echo the
/// name (the client echoes locally), so it is not shown.
#[test]
fn telnet_login_is_read_from_the_conversation_without_the_password() {
    let all = messages("ndpi/telnet.pcap");
    let side = |to_server: bool| {
        all.iter()
            .find(|m| m.context.carrier == Carrier::Tcp && m.context.to_server == to_server)
            .unwrap()
    };
    let (client, server) = (side(true), side(false));
    let mut out = Vec::new();
    let k = crate::testing::knowledge_with_default_credentials();
    assert_eq!(
        parse_telnet(
            &k,
            &client.context,
            &client.bytes,
            &server.bytes,
            false,
            &mut out
        ),
        Ok(Progress::NeedMore),
        "the client's side waits for the end of the direction"
    );
    assert!(out.is_empty());
    parse_telnet(
        &k,
        &client.context,
        &client.bytes,
        &server.bytes,
        true,
        &mut out,
    )
    .unwrap();
    let [f] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(f.event_type, "login");
    assert_eq!(f.about, About::Both);
    assert_eq!(f.get("login.protocol"), Some(&"telnet".into()));
    assert_eq!(f.get("login.cleartext"), Some(&true.into()));
    assert_eq!(f.get("login.attempts"), Some(&1.into()));
    assert_eq!(f.get("login.username"), None);
    assert!(!written(&out).contains("user\""));
}

#[test]
fn telnet_prompts_pair_with_typed_lines() {
    let client = crate::testing::tcp_client(23);
    let k = crate::testing::knowledge_with_default_credentials();
    let mut out = Vec::new();
    // Character mode: the server echoes the name, not the password; a
    // backspace edits the line; the first try fails.
    let server = b"\xff\xfb\x01login: admin\r\nPassword: \r\nLogin incorrect\r\nlogin: root\r\nPassword: \r\n# ";
    let typed = b"\xff\xfd\x01admin\r\nsecreX\x08t\r\nroot\r\0xc3511\r\nls\r\n";
    parse_telnet(&k, &client, typed, server, true, &mut out).unwrap();
    let f = &out[0];
    assert_eq!(f.get("login.attempts"), Some(&2.into()));
    assert_eq!(f.get("login.username"), Some(&"root".into()));
    assert_eq!(f.get("login.default_credential"), Some(&true.into()));
    assert_eq!(
        f.get("login.default_credential_vendor"),
        Some(&"XiongMai".into())
    );
    let text = written(&out);
    assert!(
        !text.contains("secret") && !text.contains("xc3511"),
        "{text}"
    );
    // No prompt, no login; the server side waits for the prompts' answers.
    let mut out = Vec::new();
    parse_telnet(&k, &client, typed, b"Welcome\r\n", true, &mut out).unwrap();
    assert!(out.is_empty());
    let server_side = Context {
        to_server: false,
        src_port: 23,
        dst_port: 40000,
        ..client
    };
    assert_eq!(
        parse_telnet(&k, &server_side, b"login: ", &[], false, &mut out),
        Ok(Progress::NeedMore)
    );
}

/// `ftp-password-pass-command.pcap` (Zeek): `USER Admin`, `PASS qwerty`
/// (tshark's `ftp.request.arg`); `bruteforce.pcap`: `USER bro` with
/// passwords 1, 2, 3 ... in one connection.
#[test]
fn ftp_logins_are_read_without_the_password() {
    let k = crate::testing::knowledge_with_default_credentials();
    for (capture, user, attempts, secret) in [
        (
            "zeek/ftp/ftp-password-pass-command.pcap",
            "Admin",
            1,
            "qwerty",
        ),
        ("zeek/ftp/bruteforce.pcap", "bro", 1, "PASS"),
    ] {
        let mut out = Vec::new();
        let mut connections = 0;
        for m in messages(capture) {
            if m.context.carrier != Carrier::Tcp || m.context.dst_port != 21 {
                continue;
            }
            connections += 1;
            parse_ftp(&k, &m.context, &m.bytes, true, &mut out).unwrap();
        }
        assert!(connections >= 1, "{capture}");
        assert_eq!(
            out.len(),
            connections,
            "{capture}: one login per connection"
        );
        for f in &out {
            assert_eq!(f.event_type, "login");
            assert_eq!(f.get("login.protocol"), Some(&"ftp".into()));
            assert_eq!(f.get("login.username"), Some(&user.into()), "{capture}");
            assert_eq!(f.get("login.cleartext"), Some(&true.into()));
            assert!(f.get("login.attempts").unwrap().as_u64().unwrap() >= attempts);
        }
        assert!(!written(&out).contains(secret), "{capture}");
    }
}

#[test]
fn ftp_anonymous_and_tls_logins() {
    let client = crate::testing::tcp_client(21);
    let k = crate::testing::knowledge_with_default_credentials();
    let mut out = Vec::new();
    parse_ftp(
        &k,
        &client,
        b"USER anonymous\r\nPASS me@example.com\r\nPWD\r\n",
        false,
        &mut out,
    )
    .unwrap();
    assert_eq!(out[0].get("login.anonymous"), Some(&true.into()));
    assert_eq!(out[0].get("login.cleartext"), Some(&false.into()));
    assert!(!written(&out).contains("me@example"));
    // AUTH TLS before any USER: nothing in clear.
    let mut out = Vec::new();
    assert_eq!(
        parse_ftp(&k, &client, b"AUTH TLS\r\n\x16\x03\x01", false, &mut out),
        Ok(Progress::Done)
    );
    assert!(out.is_empty());
    // The login is reported once the session moves on, not before.
    assert_eq!(
        parse_ftp(&k, &client, b"USER ubnt\r\nPASS ubnt\r\n", false, &mut out),
        Ok(Progress::NeedMore)
    );
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
        assert!(parse_telnet(&k, &server, bytes, &[], true, &mut Vec::new()).is_err());
        let client = Context {
            to_server: true,
            ..server
        };
        let _ = parse_telnet(&k, &client, bytes, bytes, true, &mut Vec::new());
        let _ = parse_ftp(&k, &client, bytes, true, &mut Vec::new());
        let _ = parse_ftp(&k, &server, bytes, true, &mut Vec::new());
    }
    assert_eq!(
        parse_telnet(
            &k,
            &server,
            &[0xff, 251, 1, 0xff, 250, 24, 1, 0xff, 240],
            &[],
            false,
            &mut Vec::new()
        ),
        Ok(Progress::NeedMore)
    );
    let long = vec![b'a'; 10_000];
    parse_telnet(&k, &server, &long, &[], false, &mut out).unwrap();
    assert_eq!(banner(out.last().unwrap()).len(), MAX_BANNER);
}
