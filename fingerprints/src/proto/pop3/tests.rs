use super::*;
use crate::testing::messages;

/// `ndpi/pop3.pcap` (tshark's `pop.request`): one connection sends `user
/// cicciopernacchio@mail.com` and `pass pippozzo`; three send `AUTH PLAIN`
/// with the base64 of `digitalinvestigator@networksims.com` and `napier` or
/// `napier123`; two only ask for capabilities.
#[test]
fn pop3_logins_from_the_capture() {
    let k = crate::testing::knowledge_with_default_credentials();
    let mut out = Vec::new();
    for m in messages("ndpi/pop3.pcap") {
        if m.context.carrier == Carrier::Tcp && m.context.server_port() == 110 {
            let _ = parse(&k, &m.context, &m.bytes, true, &mut out);
        }
    }
    let logins: Vec<&Finding> = out.iter().filter(|f| f.event_type == "login").collect();
    assert_eq!(logins.len(), 4, "{out:?}");
    let user = |name: &str, mechanism: &str| {
        logins
            .iter()
            .filter(|f| {
                f.get("login.username") == Some(&name.into())
                    && f.get("login.mechanism") == Some(&mechanism.into())
            })
            .count()
    };
    assert_eq!(user("cicciopernacchio@mail.com", "user_pass"), 1);
    assert_eq!(user("digitalinvestigator@networksims.com", "plain"), 3);
    assert_eq!(out.iter().filter(|f| f.event_type == "pop3").count(), 6);
    let text: String = out
        .iter()
        .map(|f| serde_json::to_string(&f.fields).unwrap())
        .collect();
    for secret in ["pippozzo", "napier", "AGRpZ2l0YWxp"] {
        assert!(!text.contains(secret), "{text}");
    }
}

#[test]
fn pop3_apop_sasl_and_stls() {
    let k = crate::testing::knowledge_with_default_credentials();
    let mut out = Vec::new();
    parse(
        &k,
        &crate::testing::tcp_client(110),
        b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\nSTAT\r\n",
        false,
        &mut out,
    )
    .unwrap();
    assert_eq!(out[0].get("login.mechanism"), Some(&"apop".into()));
    assert_eq!(out[0].get("login.cleartext"), Some(&false.into()));
    assert_eq!(out[0].get("login.username"), Some(&"mrose".into()));
    // AUTH LOGIN: base64 of "admin", then of "admin" (password = user name).
    let mut out = Vec::new();
    parse(
        &k,
        &crate::testing::tcp_client(110),
        b"AUTH LOGIN\r\nYWRtaW4=\r\nYWRtaW4=\r\nSTAT\r\n",
        false,
        &mut out,
    )
    .unwrap();
    assert_eq!(out[0].get("login.password_is_username"), Some(&true.into()));
    assert_eq!(out[0].get("login.username"), None);
    assert_eq!(out[0].get("login.default_credential"), Some(&true.into()));
    let mut out = Vec::new();
    assert_eq!(
        parse(
            &k,
            &crate::testing::tcp_client(110),
            b"CAPA\r\nSTLS\r\n\x16\x03",
            false,
            &mut out
        ),
        Ok(Progress::Done)
    );
    assert!(out.is_empty());
    // The greeting leaves out the APOP timestamp.
    let server = Context {
        to_server: false,
        src_port: 110,
        dst_port: 40000,
        ..crate::testing::tcp_client(110)
    };
    let mut out = Vec::new();
    parse(
        &k,
        &server,
        b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n",
        false,
        &mut out,
    )
    .unwrap();
    assert_eq!(out[0].fields["banner"], "POP3 server ready");
    for bytes in [
        &b"AUTH PLAIN\r\n"[..],
        b"AUTH LOGIN\r\n!!\r\n",
        b"+OK",
        b"PASS",
    ] {
        let _ = parse(
            &k,
            &crate::testing::tcp_client(110),
            bytes,
            true,
            &mut Vec::new(),
        );
        let _ = parse(&k, &server, bytes, true, &mut Vec::new());
    }
}
