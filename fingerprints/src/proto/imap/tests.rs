use super::*;
use crate::testing::messages;

/// `ndpi/imap.pcap`: tshark's `imap.request` shows `C00001 LOGIN samir
/// pfres`; the greeting is Dovecot's.
#[test]
fn imap_login_and_greeting_from_the_capture() {
    let k = crate::testing::knowledge_with_default_credentials();
    let mut out = Vec::new();
    for m in messages("ndpi/imap.pcap") {
        if m.context.carrier == Carrier::Tcp && m.context.server_port() == 143 {
            parse(&k, &m.context, &m.bytes, true, &mut out).unwrap();
        }
    }
    let login = out.iter().find(|f| f.event_type == "login").unwrap();
    assert_eq!(login.get("login.protocol"), Some(&"imap".into()));
    assert_eq!(login.get("login.mechanism"), Some(&"login".into()));
    assert_eq!(login.get("login.username"), Some(&"samir".into()));
    assert_eq!(login.get("login.cleartext"), Some(&true.into()));
    let banner = out.iter().find(|f| f.event_type == "imap").unwrap();
    assert!(!banner.fields["banner"].as_str().unwrap().is_empty());
    let text: String = out
        .iter()
        .map(|f| serde_json::to_string(&f.fields).unwrap())
        .collect();
    assert!(!text.contains("pfres"), "{text}");
}

#[test]
fn imap_quoted_literal_and_sasl_logins() {
    let k = crate::testing::knowledge_with_default_credentials();
    let mut out = Vec::new();
    parse(
        &k,
        &crate::testing::tcp_client(143),
        b"a1 LOGIN \"ad\\\"min\" {6}\r\nhunter\r\na2 SELECT INBOX\r\n",
        false,
        &mut out,
    )
    .unwrap();
    assert_eq!(out[0].get("login.username"), Some(&"ad\"min".into()));
    let mut out = Vec::new();
    // AUTHENTICATE PLAIN with the response on the next line: \0root\0vizxv.
    parse(
        &k,
        &crate::testing::tcp_client(143),
        b"a1 AUTHENTICATE PLAIN\r\nAHJvb3QAdml6eHY=\r\na2 LIST\r\n",
        false,
        &mut out,
    )
    .unwrap();
    assert_eq!(out[0].get("login.mechanism"), Some(&"plain".into()));
    assert_eq!(
        out[0].get("login.default_credential_vendor"),
        Some(&"Dahua".into())
    );
    // STARTTLS first: nothing.
    let mut out = Vec::new();
    assert_eq!(
        parse(
            &k,
            &crate::testing::tcp_client(143),
            b"a1 STARTTLS\r\n\x16\x03",
            false,
            &mut out
        ),
        Ok(Progress::Done)
    );
    assert!(out.is_empty());
    // Hostile input never panics.
    for bytes in [
        &b"a LOGIN {99999999999999999999}\r\nx\r\n"[..],
        b"a LOGIN \"x",
        b"a LOGIN {3}\r\n",
        b"* OK",
        b"\r\n",
    ] {
        let _ = parse(
            &k,
            &crate::testing::tcp_client(143),
            bytes,
            true,
            &mut Vec::new(),
        );
        let server = Context {
            to_server: false,
            src_port: 143,
            dst_port: 40000,
            ..crate::testing::tcp_client(143)
        };
        let _ = parse(&k, &server, bytes, true, &mut Vec::new());
    }
}
