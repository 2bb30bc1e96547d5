//! Trust: logins in clear are flagged on the right devices and no password
//! reaches any output; certificate and TLS findings agree with nDPI's risks
//! on the same servers.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

use serde_json::Value;

use crate::flows_ndpi::endpoint;
use crate::support::{Run, analyze, shared, skip, strings, tool, tshark_rows};

/// The device or remote host that uses `ip`.
fn subject(run: &Run, ip: IpAddr) -> Option<&Value> {
    let is = |v: &Value| v.as_str().and_then(|s| s.parse::<IpAddr>().ok()) == Some(ip);
    run.devices()
        .iter()
        .find(|d| {
            d["ips"]
                .as_array()
                .is_some_and(|ips| ips.iter().any(|b| is(&b["ip"])))
        })
        .or_else(|| {
            run.inventory["remote_hosts"]
                .as_array()?
                .iter()
                .find(|h| is(&h["ip"]))
        })
}

/// The checks its trust deducted for.
fn checks(subject: &Value) -> BTreeSet<String> {
    subject["trust"]["factors"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["deductions"].as_array().into_iter().flatten())
        .filter_map(|d| d["check"].as_str().map(str::to_string))
        .collect()
}

/// One login tshark sees: who sent it to whom, and the secrets it carries.
#[derive(Debug)]
struct Login {
    client: IpAddr,
    server: IpAddr,
    anonymous: bool,
    secrets: Vec<String>,
}

fn ip(text: &str) -> Option<IpAddr> {
    text.split(',').next()?.parse().ok()
}

/// The logins of a capture as tshark decodes them, with their passwords.
fn tshark_logins(tshark: &Path, capture: &Path) -> Vec<Login> {
    let rows = |filter: &str, fields: &[&str]| {
        let mut all = vec!["ip.src", "ip.dst", "ipv6.src", "ipv6.dst"];
        all.extend(fields);
        tshark_rows(tshark, capture, filter, &all)
            .into_iter()
            .filter_map(|r| {
                let client = ip(r.first()?).or_else(|| ip(r.get(2)?))?;
                let server = ip(r.get(1)?).or_else(|| ip(r.get(3)?))?;
                Some((client, server, r.get(4..).unwrap_or_default().to_vec()))
            })
            .collect::<Vec<_>>()
    };
    let mut logins = Vec::new();
    let mut users: BTreeMap<(IpAddr, IpAddr), String> = BTreeMap::new();
    for (c, s, f) in rows(
        "ftp.request.command == \"USER\" || ftp.request.command == \"PASS\"",
        &["ftp.request.command", "ftp.request.arg"],
    ) {
        if f[0] == "USER" {
            users.insert((c, s), f[1].clone());
        } else {
            let user = users.get(&(c, s)).cloned().unwrap_or_default();
            logins.push(Login {
                client: c,
                server: s,
                anonymous: user.eq_ignore_ascii_case("anonymous") || user == "ftp",
                secrets: vec![f[1].clone()],
            });
        }
    }
    for (c, s, f) in rows(
        "pop.request",
        &["pop.request.command", "pop.request.parameter"],
    ) {
        let command = f[0].to_ascii_uppercase();
        // PASS's argument, or a SASL PLAIN response line (base64).
        let decoded = fingerprints::proto::login::base64(f[0].as_bytes())
            .filter(|d| d.contains(&0))
            .and_then(|d| {
                let (_, p) = fingerprints::proto::login::sasl_plain(&d)?;
                Some(String::from_utf8_lossy(p).into_owned())
            });
        if command == "PASS" || decoded.is_some() {
            let mut secrets = vec![f[1].clone()];
            if let Some(p) = decoded {
                secrets = vec![f[0].clone(), p];
            }
            logins.push(Login {
                client: c,
                server: s,
                anonymous: false,
                secrets,
            });
        }
    }
    for (c, s, f) in rows("imap.request", &["imap.request"]) {
        let words: Vec<&str> = f[0].split_whitespace().collect();
        if words
            .get(1)
            .is_some_and(|w| w.eq_ignore_ascii_case("LOGIN"))
        {
            logins.push(Login {
                client: c,
                server: s,
                anonymous: false,
                secrets: words
                    .get(3)
                    .map(|p| p.trim_matches('"').to_string())
                    .into_iter()
                    .collect(),
            });
        }
    }
    for (c, s, f) in rows("http.authbasic", &["http.authbasic", "http.authorization"]) {
        let password = f[0]
            .split_once(':')
            .map(|(_, p)| p.to_string())
            .unwrap_or_default();
        logins.push(Login {
            client: c,
            server: s,
            anonymous: false,
            secrets: vec![password, f[1].trim_start_matches("Basic ").to_string()],
        });
    }
    for (c, s, f) in rows(
        "urlencoded-form",
        &["urlencoded-form.key", "urlencoded-form.value"],
    ) {
        let keys: Vec<&str> = f[0].split(',').collect();
        let values: Vec<&str> = f[1].split(',').collect();
        let secrets: Vec<String> = keys
            .iter()
            .zip(&values)
            .filter(|(k, _)| k.to_ascii_lowercase().contains("pass"))
            .map(|(_, v)| v.to_string())
            .collect();
        if !secrets.is_empty() {
            logins.push(Login {
                client: c,
                server: s,
                anonymous: false,
                secrets,
            });
        }
    }
    for (c, s, f) in rows("mqtt.passwd", &["mqtt.passwd"]) {
        logins.push(Login {
            client: c,
            server: s,
            anonymous: false,
            secrets: vec![f[0].clone()],
        });
    }
    logins
}

/// The Telnet sample's logins: tshark has no field for what a Telnet
/// client types, so these are its `telnet.data` lines (client to server,
/// backspaces applied) at the `Password:` prompts.
fn telnet_logins() -> Vec<Login> {
    let login = |client: &str, server: &str, password: &str| Login {
        client: client.parse().unwrap(),
        server: server.parse().unwrap(),
        anonymous: false,
        secrets: vec![password.to_string()],
    };
    vec![
        login("192.168.1.140", "192.168.1.194", "capture"),
        login("10.100.18.5", "10.100.16.1", "barrymanilow"),
        login("192.168.0.2", "192.168.0.1", "user"),
    ]
}

/// Whether `secret` is in the outputs: any JSON string equal to it, or
/// containing it when it is long enough not to be a common word; in the
/// console output, as a whole word.
fn leaks(run: &Run, capture: &Path, secret: &str) -> bool {
    if secret.len() < 3 {
        return false;
    }
    let mut values = Vec::new();
    run.events.iter().for_each(|e| strings(e, &mut values));
    strings(&run.inventory, &mut values);
    let path = capture.display().to_string();
    let in_json = values
        .iter()
        .filter(|v| **v != path)
        .any(|v| *v == secret || (secret.len() >= 6 && v.contains(secret)));
    let console = format!(
        "{}{}",
        String::from_utf8_lossy(&run.output.stdout),
        run.stderr()
    )
    .replace(&path, "");
    let in_console = console
        .split(|c: char| c.is_whitespace() || "()[]{},;\"'".contains(c))
        .any(|w| w == secret || (secret.len() >= 6 && w.contains(secret)));
    in_json || in_console
}

/// Every login of the shared corpus's cleartext captures is a `login`
/// event from its client to its server, both ends lose trust for it (but
/// for FTP's anonymous logins), and none of its secrets is in the events,
/// the inventory, the table or the summary.
#[test]
fn cleartext_logins_are_flagged_on_both_ends_without_their_passwords() {
    const TEST: &str = "cleartext_logins_are_flagged_on_both_ends_without_their_passwords";
    let (Some(corpus), Some(tshark)) = (shared(TEST), tool("tshark", TEST)) else {
        return;
    };
    let mut captures: Vec<_> = [
        "attacks-dev/malcolm-pcap/pcaps/protocols/Telnet.pcap",
        "attacks-dev/malcolm-pcap/pcaps/plugins/zeek-sniffpass/http_post.trace",
        "attacks-dev/malcolm-pcap/pcaps/protocols/MQTT.pcap",
        "ndpi/pcap/ftp.pcap",
        "ndpi/pcap/ftp_failed.pcap",
        "ndpi/pcap/pop3.pcap",
        "ndpi/pcap/imap.pcap",
        "ndpi/pcap/http_auth.pcap",
        "ndpi/pcap/mqtt.pcap",
    ]
    .iter()
    .map(|c| corpus.join(c))
    .collect();
    let ftp = corpus.join("zeek/Traces/ftp");
    captures.extend(crate::support::captures_under(&ftp));
    let (mut expected, mut flagged, mut secrets) = (0, 0, 0);
    let mut per_capture = Vec::new();
    for capture in &captures {
        let mut logins = tshark_logins(&tshark, capture);
        if capture.ends_with("Telnet.pcap") {
            logins.extend(telnet_logins());
        }
        if logins.is_empty() {
            continue;
        }
        let run = analyze(&[capture], &[]);
        assert_eq!(
            run.code(),
            Some(0),
            "{}: {}",
            capture.display(),
            run.stderr()
        );
        let events: Vec<&Value> = run
            .events
            .iter()
            .filter(|e| e["event_type"] == "login")
            .collect();
        let mut found = 0;
        for login in &logins {
            expected += 1;
            let event = events.iter().find(|e| {
                ip(e["src_ip"].as_str().unwrap_or_default()) == Some(login.client)
                    && ip(e["dest_ip"].as_str().unwrap_or_default()) == Some(login.server)
            });
            let Some(event) = event else {
                eprintln!("{}: no login event for {login:?}", capture.display());
                continue;
            };
            assert_eq!(
                event["login"]["anonymous"] == true,
                login.anonymous,
                "{}: {event}",
                capture.display()
            );
            // Both ends lose trust for a credential in clear (loopback
            // addresses are in the inventory neither as devices nor hosts).
            if !login.anonymous {
                for end in [login.client, login.server] {
                    if let Some(s) = subject(&run, end) {
                        assert!(
                            checks(s).contains("cleartext_credential"),
                            "{}: {end} of {login:?}",
                            capture.display()
                        );
                    } else {
                        assert!(
                            end.is_loopback(),
                            "{}: {end} not in the inventory",
                            capture.display()
                        );
                    }
                }
            }
            found += 1;
            for secret in &login.secrets {
                secrets += 1;
                assert!(
                    !leaks(&run, capture, secret),
                    "{}: a password of {} characters is in the outputs",
                    capture.display(),
                    secret.len()
                );
            }
        }
        flagged += found;
        per_capture.push(format!(
            "{}: {found}/{}",
            capture.file_name().unwrap().to_string_lossy(),
            logins.len()
        ));
    }
    eprintln!(
        "cleartext logins flagged {flagged}/{expected} ({}); {secrets} passwords, none in any output",
        per_capture.join(", ")
    );
    assert!(expected >= 20, "logins found by tshark: {expected}");
    assert_eq!(flagged, expected);
}

/// nDPI's risks that mirador's trust checks correspond to.
/// nDPI's "expired" is any date outside the validity; its "weak cipher" a
/// suite without forward secrecy (RC4 and the like it calls insecure, a
/// class it raises no risk for).
const RISKS: [(&str, &[&str]); 4] = [
    (
        "TLS Cert Expired",
        &["expired_certificate", "certificate_not_yet_valid"],
    ),
    ("Self-signed Cert", &["self_signed_certificate"]),
    ("Obsolete TLS (v1.1 or older)", &["obsolete_tls", "ssl"]),
    ("Weak TLS Cipher", &["no_forward_secrecy"]),
];

/// A flow's client and server.
type Ends = ((IpAddr, u16), (IpAddr, u16));

/// The server's `tls` event of each flow of a run, by (client, server)
/// endpoints: the event with the server's choices (cipher suite, JA3S).
fn server_hellos(run: &Run) -> BTreeMap<Ends, &Value> {
    let end = |e: &Value, ip: &str, port: &str| {
        Some((
            e[ip].as_str()?.parse::<IpAddr>().ok()?,
            u16::try_from(e[port].as_u64()?).ok()?,
        ))
    };
    run.events
        .iter()
        .filter(|e| e["event_type"] == "tls" && !e["tls"]["cipher_suite"].is_null())
        .filter_map(|e| {
            Some((
                (
                    end(e, "src_ip", "src_port")?,
                    end(e, "dest_ip", "dest_port")?,
                ),
                e,
            ))
        })
        .collect()
}

/// The trust checks one `tls` event fails, judged by the same rules as a
/// device's evidence, at the event's time (when the certificate was
/// presented, as nDPI judges it).
fn judge_event(event: &Value) -> BTreeSet<&'static str> {
    let now = event["timestamp"]
        .as_str()
        .and_then(|t| t.get(..19))
        .and_then(fingerprints::proto::unix_seconds)
        .map_or_else(Default::default, |s| {
            sensor::capture::Timestamp::from_secs(u64::try_from(s).unwrap_or(0))
        });
    use sensor::inventory::evidence::{Evidence, EvidenceCaps, Statement};
    let mut leaves = Vec::new();
    fn walk(prefix: String, v: &Value, out: &mut Vec<(String, Value)>) {
        match v {
            Value::Object(map) => map
                .iter()
                .for_each(|(k, v)| walk(format!("{prefix}.{k}"), v, out)),
            leaf => out.push((prefix, leaf.clone())),
        }
    }
    walk("tls".into(), &event["tls"], &mut leaves);
    let mut evidence = Evidence::default();
    let caps = EvidenceCaps {
        items: 256,
        values_per_field: 16,
    };
    for (field, value) in &leaves {
        evidence.record(
            &Statement {
                protocol: "tls",
                field,
                value,
                first: now,
                last: now,
                count: 1,
                flow_id: None,
            },
            caps,
        );
    }
    let trust = sensor::trust::Trust::assess(&sensor::trust::Inputs {
        evidence: evidence.iter().collect(),
        identity: None,
        server_ports: Vec::new(),
        exposed_ports: Vec::new(),
        anomalies: Vec::new(),
        now,
    });
    trust.deductions().map(|d| d.check).collect()
}

/// For every TLS flow of nDPI's captures whose ServerHello mirador read,
/// the risks nDPI gives the flow are compared with the trust checks the
/// server's `tls` event fails. Agreement per risk type.
#[test]
fn certificate_and_tls_findings_agree_with_ndpi_risks() {
    const TEST: &str = "certificate_and_tls_findings_agree_with_ndpi_risks";
    let Some(corpus) = shared(TEST) else {
        return;
    };
    let results = corpus.join("ndpi/result");
    let mut outs: Vec<_> = std::fs::read_dir(&results)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            std::fs::read_to_string(p).is_ok_and(|t| RISKS.iter().any(|(risk, _)| t.contains(risk)))
        })
        .collect();
    outs.sort();
    if outs.is_empty() {
        skip(TEST, "no nDPI result names these risks");
        return;
    }
    // Per risk: (both, nDPI only, mirador only, neither).
    let mut tally: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    let mut disagreements: BTreeMap<String, usize> = BTreeMap::new();
    let runs = crate::support::parallel(&outs, |out| {
        let name = out.file_name().unwrap().to_string_lossy().into_owned();
        let capture = corpus.join("ndpi/pcap").join(name.trim_end_matches(".out"));
        (
            out.clone(),
            capture.exists().then(|| analyze(&[&capture], &[])),
        )
    });
    for (out, run) in runs {
        let Some(run) = run else { continue };
        let hellos = server_hellos(&run);
        let text = std::fs::read_to_string(&out).unwrap();
        for line in text.lines() {
            let mut words = line.split_whitespace().skip(2);
            let (Some(client), Some(_arrow), Some(server)) = (
                words.next().and_then(endpoint),
                words.next(),
                words.next().and_then(endpoint),
            ) else {
                continue;
            };
            let Some(event) = hellos
                .get(&(client, server))
                .or_else(|| hellos.get(&(server, client)))
            else {
                continue;
            };
            let ours = judge_event(event);
            for (risk, names) in RISKS {
                let theirs = line.contains(risk);
                let mine = names.iter().any(|n| ours.contains(n));
                let slot = match (theirs, mine) {
                    (true, true) => 0,
                    (true, false) => 1,
                    (false, true) => 2,
                    (false, false) => 3,
                };
                tally.entry(risk).or_default()[slot] += 1;
                if theirs != mine {
                    let why = format!(
                        "{risk}: nDPI {theirs}, mirador {mine}: {} {} {} notafter {}",
                        out.file_name().unwrap().to_string_lossy(),
                        event["tls"]["version"],
                        event["tls"]["cipher_suite"],
                        event["tls"]["notafter"]
                    );
                    *disagreements.entry(why).or_default() += 1;
                }
            }
        }
    }
    for (risk, [both, theirs, mine, neither]) in &tally {
        let total = both + theirs + mine + neither;
        eprintln!(
            "nDPI agreement, {risk}: {}/{total} flows ({both} both, {theirs} nDPI only, {mine} mirador only)",
            both + neither
        );
    }
    for (why, n) in &disagreements {
        eprintln!("  {n} x {why}");
    }
    // What nDPI flags, mirador flags; mirador flags more where nDPI reads
    // less (see docs/trust.md: TLS 1.0 ServerHellos nDPI reports as 1.2,
    // DTLS 1.0, certificates of flows nDPI stopped inspecting).
    for (risk, _) in RISKS {
        let [both, theirs, mine, neither] = tally.get(risk).copied().unwrap_or_default();
        assert!(both > 0, "{risk}: no flow where both flag it");
        let total = both + theirs + mine + neither;
        assert!(
            theirs * 50 <= total,
            "{risk}: {theirs}/{total} flagged by nDPI only"
        );
        assert!(
            (both + neither) * 100 >= total * 80,
            "{risk}: agreement {}/{total}",
            both + neither
        );
    }
}
