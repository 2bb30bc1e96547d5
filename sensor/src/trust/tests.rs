use super::*;
use crate::inventory::evidence::{Evidence, EvidenceCaps, Statement};

const CAPS: EvidenceCaps = EvidenceCaps {
    items: 256,
    values_per_field: 16,
};

/// 2024-01-01T00:00:00 UTC.
const NOW: u64 = 1_704_067_200;

fn evidence(items: &[(&'static str, &str, serde_json::Value)]) -> Evidence {
    let mut e = Evidence::default();
    for (i, (protocol, field, value)) in items.iter().enumerate() {
        e.record(
            &Statement {
                protocol,
                field,
                value,
                first: Timestamp::from_secs(NOW - 100),
                last: Timestamp::from_secs(NOW - 10),
                count: 1,
                flow_id: Some(i as u64 + 1),
            },
            CAPS,
        );
    }
    e
}

fn judge(e: &Evidence, identity: Option<(&str, f64)>, ports: &[&str]) -> Trust {
    Trust::assess(&Inputs {
        evidence: e.iter().collect(),
        identity,
        server_ports: ports.iter().map(|p| p.to_string()).collect(),
        exposed_ports: Vec::new(),
        anomalies: Vec::new(),
        now: Timestamp::from_secs(NOW),
    })
}

fn points(t: &Trust, factor: FactorName) -> u32 {
    t.factors
        .iter()
        .find(|f| f.factor == factor)
        .unwrap()
        .points
}

fn checks(t: &Trust) -> Vec<&'static str> {
    t.deductions().map(|d| d.check).collect()
}

#[test]
fn a_clean_device_scores_100_with_every_factor_listed() {
    let t = judge(
        &evidence(&[("dhcp", "dhcp.hostname", "cam".into())]),
        Some(("iot/camera", 0.9)),
        &[],
    );
    assert_eq!(t.score, 100);
    assert_eq!(t.factors.len(), 6);
    assert!(t.risk_forecast.is_empty());
}

#[test]
fn the_score_is_100_minus_capped_factor_points() {
    // A camera answering Telnet and HTTP, logged into with Mirai's root/xc3511
    // over Telnet, presenting an expired self-signed SHA-1 certificate.
    let e = evidence(&[
        ("telnet", "telnet.banner", "BusyBox login".into()),
        ("login", "login.protocol", "telnet".into()),
        ("login", "login.cleartext", true.into()),
        ("login", "login.default_credential", true.into()),
        ("tls", "tls.notafter", "2020-01-01T00:00:00".into()),
        ("tls", "tls.certificate.self_signed", true.into()),
        (
            "tls",
            "tls.certificate.signature_algorithm",
            "sha1WithRSAEncryption".into(),
        ),
        ("tls", "tls.certificate.validity_days", 3650.into()),
    ]);
    let t = judge(
        &e,
        Some(("iot/camera", 0.3)),
        &["tcp/23", "tcp/80", "udp/53"],
    );
    // Certificates: 20 + 10 + 10 + 5 = 45, capped at 30.
    assert_eq!(points(&t, FactorName::Certificates), 30);
    // Protocols: Telnet 15 (banner and login are one deduction).
    assert_eq!(points(&t, FactorName::Protocols), 15);
    // Credentials: default 40 + cleartext 20, capped at 40.
    assert_eq!(points(&t, FactorName::Credentials), 40);
    // Identity: round(10 x (1 - 0.3)) = 7.
    assert_eq!(points(&t, FactorName::Identity), 7);
    // Exposure: two admin ports, 3 each.
    assert_eq!(points(&t, FactorName::Exposure), 6);
    let taken: u32 = t.factors.iter().map(|f| f.points).sum();
    assert_eq!(u32::from(t.score), 100u32.saturating_sub(taken));
    assert_eq!(t.score, 2);
    let telnet = t.deductions().find(|d| d.check == "telnet").unwrap();
    assert_eq!(telnet.count, 2);
    assert!(
        telnet
            .evidence
            .iter()
            .all(|p| p.flow_id.is_some() && p.first_seen.is_some())
    );
}

#[test]
fn certificate_dates_are_judged_against_the_capture_time() {
    let e = evidence(&[
        ("tls", "tls.notafter", "2024-01-20T00:00:00".into()),
        ("tls", "tls.notafter", "2024-03-01T00:00:00".into()),
        ("tls", "tls.notafter", "2030-01-01T00:00:00".into()),
        ("tls", "tls.notbefore", "2024-06-01T00:00:00".into()),
        ("tls", "tls.certificate.weak_key", true.into()),
        (
            "tls",
            "tls.certificate.signature_algorithm",
            "md5WithRSAEncryption".into(),
        ),
    ]);
    let t = judge(&e, None, &[]);
    let found = checks(&t);
    for check in [
        "certificate_expiring",
        "certificate_not_yet_valid",
        "weak_key",
        "md5_signature",
    ] {
        assert!(found.contains(&check), "{check}: {found:?}");
    }
    assert!(!found.contains(&"expired_certificate"));
    // Risky in 19 days (the first certificate), then in 60; not the 2030 one.
    let days: Vec<i64> = t.risk_forecast.iter().map(|r| r.in_days).collect();
    assert_eq!(days, [19, 60]);
    assert!(t.risk_forecast[0].reason.contains("2024-01-20"));
}

#[test]
fn protocol_hygiene() {
    let e = evidence(&[
        ("tls", "tls.version", "TLS 1.0".into()),
        ("tls", "tls.cipher_suite", "TLS_RSA_WITH_RC4_128_SHA".into()),
        ("tls", "tls.cipher_suite", "TLS_AES_128_GCM_SHA256".into()),
        ("ssh", "ssh.server.proto_version", "1.5".into()),
        ("ssh", "ssh.client.proto_version", "1.99".into()),
        ("snmp", "snmp.version", 2.into()),
        ("snmp", "snmp.community_default", true.into()),
        ("mqtt", "mqtt.connect.password_present", true.into()),
        ("http", "http.credentials", "basic".into()),
    ]);
    let t = judge(&e, None, &[]);
    let found = checks(&t);
    for check in [
        "obsolete_tls",
        "weak_cipher",
        "no_forward_secrecy",
        "sshv1",
        "snmp_default_community",
        "mqtt_cleartext_credentials",
        "http_basic",
    ] {
        assert!(found.contains(&check), "{check}: {found:?}");
    }
    let cipher = t.deductions().find(|d| d.check == "weak_cipher").unwrap();
    assert_eq!(cipher.count, 1);
    let ssh = t.deductions().find(|d| d.check == "sshv1").unwrap();
    assert_eq!(ssh.count, 1, "1.99 speaks SSH 2");
    // SNMP v3 with a default community flag is no v1/v2c deduction.
    let v3 = evidence(&[
        ("snmp", "snmp.version", 3.into()),
        ("snmp", "snmp.community_default", true.into()),
    ]);
    assert!(!checks(&judge(&v3, None, &[])).contains(&"snmp_default_community"));
}

#[test]
fn score_changes_are_told_once() {
    let mut snapshot = InventorySnapshot {
        devices: Vec::new(),
        remote_hosts: Vec::new(),
        devices_evicted: 0,
        remote_hosts_evicted: 0,
        evidence_evicted: 0,
        claims_unplaced: 0,
    };
    let mac: fingerprints::MacAddr = "00:11:22:33:44:55".parse().unwrap();
    let mut d = Device::new(mac, None, Timestamp::from_secs(NOW));
    d.evidence = evidence(&[("telnet", "telnet.banner", "x".into())]);
    snapshot.devices.push(d);
    assess(&mut snapshot, None);
    let mut ledger = Ledger::default();
    let first = ledger.changes(&snapshot);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].previous, None);
    assert_eq!(first[0].trust.score, 85);
    assert!(ledger.changes(&snapshot).is_empty());
    snapshot.devices[0].evidence = evidence(&[("ftp", "ftp.banner", "x".into())]);
    assess(&mut snapshot, None);
    let changed = ledger.changes(&snapshot);
    assert_eq!(changed[0].previous, Some(85));
    assert_eq!(changed[0].trust.score, 90);
}
