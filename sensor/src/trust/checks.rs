//! The checks behind each factor, and the forecast. Each check reads
//! evidence fields as the inventory names them; its points are in
//! docs/trust.md.

use fingerprints::proto::{rfc3339, unix_seconds};
use serde_json::Value;

use super::{Deduction, FORECAST_DAYS, FactorName, Inputs, MAX_PROOFS, Proof, Risk};
use crate::anomaly::AnomalyKind;
use crate::capture::Timestamp;
use crate::inventory::EvidenceItem;

const DAY: i64 = 86_400;
/// Admin services a device should not offer on a network it shares.
const ADMIN_PORTS: [&str; 13] = [
    "tcp/22", "tcp/23", "tcp/2323", "tcp/139", "tcp/445", "tcp/3389", "tcp/5900", "tcp/5985",
    "tcp/5986", "tcp/80", "tcp/8080", "tcp/443", "tcp/8443",
];
/// Cipher suite name parts that mark a weak cipher.
const WEAK_CIPHERS: [&str; 6] = ["_RC4_", "_3DES_", "_DES_", "_NULL_", "_EXPORT", "_anon_"];

/// A failed check's deduction from the evidence items that failed it.
fn deduct(
    out: &mut Vec<(FactorName, Deduction)>,
    factor: FactorName,
    check: &'static str,
    points: u32,
    reason: &str,
    proofs: Vec<Proof>,
) {
    if proofs.is_empty() {
        return;
    }
    let count = proofs.len();
    out.push((
        factor,
        Deduction {
            check,
            points,
            reason: reason.to_string(),
            evidence: proofs.into_iter().take(MAX_PROOFS).collect(),
            count,
        },
    ));
}

/// The items of `field` whose value passes `test`, as proofs.
fn items(inputs: &Inputs<'_>, field: &str, test: impl Fn(&Value) -> bool) -> Vec<Proof> {
    matching(inputs, field, test).map(Proof::of_item).collect()
}

fn matching<'i>(
    inputs: &'i Inputs<'_>,
    field: &'i str,
    test: impl Fn(&Value) -> bool + 'i,
) -> impl Iterator<Item = &'i EvidenceItem> + 'i {
    inputs
        .evidence
        .iter()
        .copied()
        .filter(move |i| i.field == field && test(&i.value))
}

/// Items of any of `fields` whose value passes `test`.
fn any_items(inputs: &Inputs<'_>, fields: &[&str], test: impl Fn(&Value) -> bool) -> Vec<Proof> {
    fields
        .iter()
        .flat_map(|f| items(inputs, f, &test))
        .collect()
}

fn is_true(v: &Value) -> bool {
    v == &Value::Bool(true)
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// A date field's Unix time.
fn seconds(v: &Value) -> Option<i64> {
    unix_seconds(text(v))
}

fn now_secs(inputs: &Inputs<'_>) -> i64 {
    i64::try_from(inputs.now.0 / Timestamp::NANOS_PER_SEC).unwrap_or(i64::MAX)
}

pub(super) fn run(inputs: &Inputs<'_>, out: &mut Vec<(FactorName, Deduction)>) {
    identity(inputs, out);
    certificates(inputs, out);
    protocols(inputs, out);
    credentials(inputs, out);
    anomalies(inputs, out);
    exposure(inputs, out);
}

fn identity(inputs: &Inputs<'_>, out: &mut Vec<(FactorName, Deduction)>) {
    use FactorName::Identity;
    if let Some((label, confidence)) = inputs.identity {
        let points = (10.0 * (1.0 - confidence.clamp(0.0, 1.0))).round() as u32;
        if confidence < 0.5 && points > 0 {
            deduct(
                out,
                Identity,
                "uncertain_identity",
                points,
                &format!("what it is is uncertain: category {label} at confidence {confidence:.2}"),
                vec![Proof::of_value(
                    "classification.category",
                    serde_json::json!({"label": label, "confidence": confidence}),
                )],
            );
        }
    }
    let drifts = inputs
        .anomalies
        .iter()
        .filter(|a| a.kind == AnomalyKind::IdentityDrift)
        .map(|a| Proof::of_anomaly(a))
        .collect::<Vec<_>>();
    let points = 10 * u32::try_from(drifts.len()).unwrap_or(u32::MAX);
    deduct(
        out,
        Identity,
        "identity_drift",
        points,
        "a fingerprint that held steady changed (new firmware, or another device behind its address)",
        drifts,
    );
}

fn certificates(inputs: &Inputs<'_>, out: &mut Vec<(FactorName, Deduction)>) {
    use FactorName::Certificates;
    // Validity is judged when the certificate was last presented (what
    // the evidence proves); the 30 days to come from the assessment time.
    let presented = |item: &EvidenceItem| {
        i64::try_from(item.last_seen.0 / Timestamp::NANOS_PER_SEC).unwrap_or(i64::MAX)
    };
    let dated = |field: &'static str, test: &dyn Fn(i64, &EvidenceItem) -> bool| -> Vec<Proof> {
        matching(inputs, field, |_| true)
            .filter(|i| seconds(&i.value).is_some_and(|t| test(t, i)))
            .map(Proof::of_item)
            .collect()
    };
    let now = now_secs(inputs);
    deduct(
        out,
        Certificates,
        "expired_certificate",
        20,
        "a certificate it presented had expired",
        dated("tls.notafter", &|t, i| t < presented(i)),
    );
    deduct(
        out,
        Certificates,
        "certificate_expiring",
        5,
        "a certificate it presents expires within 30 days",
        dated("tls.notafter", &|t, i| {
            t >= presented(i) && t >= now && t < now + 30 * DAY
        }),
    );
    deduct(
        out,
        Certificates,
        "certificate_not_yet_valid",
        15,
        "a certificate it presented was not valid yet (or its clock is wrong)",
        dated("tls.notbefore", &|t, i| t > presented(i)),
    );
    deduct(
        out,
        Certificates,
        "self_signed_certificate",
        10,
        "a certificate it presents is self-signed: nothing vouches for it",
        items(inputs, "tls.certificate.self_signed", is_true),
    );
    deduct(
        out,
        Certificates,
        "weak_key",
        15,
        "a certificate's key is weak (RSA or DSA under 2048 bits, EC under 224)",
        items(inputs, "tls.certificate.weak_key", is_true),
    );
    let signature = |hash: &'static str| {
        items(inputs, "tls.certificate.signature_algorithm", move |v| {
            text(v).to_ascii_lowercase().contains(hash)
        })
    };
    deduct(
        out,
        Certificates,
        "md5_signature",
        15,
        "a certificate is signed with MD5, which is broken",
        [signature("md5"), signature("md2")].concat(),
    );
    deduct(
        out,
        Certificates,
        "sha1_signature",
        10,
        "a certificate is signed with SHA-1, which is deprecated",
        signature("sha1"),
    );
    deduct(
        out,
        Certificates,
        "long_validity",
        5,
        "a certificate is valid for more than 398 days (the CA/Browser Forum limit): it is not rotated",
        items(inputs, "tls.certificate.validity_days", |v| {
            v.as_i64().is_some_and(|d| d > 398)
        }),
    );
}

fn protocols(inputs: &Inputs<'_>, out: &mut Vec<(FactorName, Deduction)>) {
    use FactorName::Protocols;
    let login_over =
        |protocol: &'static str| items(inputs, "login.protocol", move |v| text(v) == protocol);
    deduct(
        out,
        Protocols,
        "telnet",
        15,
        "it speaks Telnet: logins and sessions in clear",
        [
            items(inputs, "telnet.banner", |_| true),
            login_over("telnet"),
        ]
        .concat(),
    );
    deduct(
        out,
        Protocols,
        "ftp",
        10,
        "it speaks FTP: logins and files in clear",
        [items(inputs, "ftp.banner", |_| true), login_over("ftp")].concat(),
    );
    deduct(
        out,
        Protocols,
        "http_basic",
        10,
        "HTTP Basic authentication without TLS",
        [
            items(inputs, "http.credentials", |v| text(v) == "basic"),
            items(inputs, "login.mechanism", |v| text(v) == "basic"),
        ]
        .concat(),
    );
    let v1_v2c = matching(inputs, "snmp.version", |v| {
        matches!(v.as_u64(), Some(1 | 2))
    })
    .next()
    .is_some();
    if v1_v2c {
        deduct(
            out,
            Protocols,
            "snmp_default_community",
            15,
            "SNMP v1/v2c with a well-known default community",
            items(inputs, "snmp.community_default", is_true),
        );
    }
    deduct(
        out,
        Protocols,
        "mqtt_cleartext_credentials",
        10,
        "MQTT with a password and no TLS",
        items(inputs, "mqtt.connect.password_present", is_true),
    );
    deduct(
        out,
        Protocols,
        "ssl",
        15,
        "SSL 2 or 3: broken",
        items(inputs, "tls.version", |v| {
            matches!(text(v), "SSLv2" | "SSLv3")
        }),
    );
    deduct(
        out,
        Protocols,
        "obsolete_tls",
        8,
        "TLS 1.0 or 1.1, DTLS 1.0: deprecated (RFC 8996)",
        items(inputs, "tls.version", |v| {
            matches!(text(v), "TLS 1.0" | "TLS 1.1" | "DTLS 1.0" | "DTLS 0.9")
        }),
    );
    deduct(
        out,
        Protocols,
        "weak_cipher",
        10,
        "a weak cipher suite was chosen (RC4, DES, 3DES, NULL, EXPORT, anonymous)",
        items(inputs, "tls.cipher_suite", |v| {
            WEAK_CIPHERS.iter().any(|w| text(v).contains(w))
        }),
    );
    deduct(
        out,
        Protocols,
        "no_forward_secrecy",
        5,
        "a cipher suite with RSA key exchange was chosen: no forward secrecy (removed in TLS 1.3)",
        items(inputs, "tls.cipher_suite", |v| {
            text(v).starts_with("TLS_RSA_WITH_")
        }),
    );
    deduct(
        out,
        Protocols,
        "sshv1",
        15,
        "SSH protocol 1: broken",
        any_items(
            inputs,
            &["ssh.server.proto_version", "ssh.client.proto_version"],
            |v| text(v).starts_with("1.") && text(v) != "1.99",
        ),
    );
}

fn credentials(inputs: &Inputs<'_>, out: &mut Vec<(FactorName, Deduction)>) {
    use FactorName::Credentials;
    deduct(
        out,
        Credentials,
        "default_credential",
        40,
        "a vendor default credential was used to log in (Mirai's list, vendor documentation)",
        items(inputs, "login.default_credential", is_true),
    );
    deduct(
        out,
        Credentials,
        "cleartext_credential",
        20,
        "a password crossed the network in clear",
        items(inputs, "login.cleartext", is_true),
    );
    deduct(
        out,
        Credentials,
        "password_is_username",
        20,
        "a password equals its user name",
        any_items(
            inputs,
            &[
                "login.password_is_username",
                "mqtt.connect.password_is_username",
            ],
            is_true,
        ),
    );
}

fn anomalies(inputs: &Inputs<'_>, out: &mut Vec<(FactorName, Deduction)>) {
    // By kind, the strongest of each; identity drift counts under identity.
    let mut kinds: Vec<AnomalyKind> = inputs
        .anomalies
        .iter()
        .map(|a| a.kind)
        .filter(|k| *k != AnomalyKind::IdentityDrift)
        .collect();
    kinds.sort();
    kinds.dedup();
    for kind in kinds {
        let of_kind: Vec<_> = inputs.anomalies.iter().filter(|a| a.kind == kind).collect();
        let score = of_kind.iter().map(|a| a.score).fold(0.0, f64::max);
        let points = (20.0 * score).round() as u32;
        out.push((
            FactorName::Anomalies,
            Deduction {
                check: "anomaly",
                points,
                reason: format!("{} (score {score:.2})", kind.name()),
                count: of_kind.len(),
                evidence: of_kind
                    .iter()
                    .take(MAX_PROOFS)
                    .map(|a| Proof::of_anomaly(a))
                    .collect(),
            },
        ));
    }
}

fn exposure(inputs: &Inputs<'_>, out: &mut Vec<(FactorName, Deduction)>) {
    use FactorName::Exposure;
    let admin: Vec<Proof> = inputs
        .server_ports
        .iter()
        .filter(|p| ADMIN_PORTS.contains(&p.as_str()))
        .map(|p| Proof::of_value("server_ports", p.as_str()))
        .collect();
    let points = 3 * u32::try_from(admin.len()).unwrap_or(u32::MAX);
    deduct(
        out,
        Exposure,
        "admin_services",
        points,
        "it answers on administration services (SSH, Telnet, SMB, RDP, VNC, WinRM, HTTP)",
        admin,
    );
    deduct(
        out,
        Exposure,
        "internet_exposed",
        10,
        "it answered clients outside the local networks",
        inputs
            .exposed_ports
            .iter()
            .map(|p| Proof::of_value("exposed_ports", p.as_str()))
            .collect(),
    );
}

/// Certificates that will expire within 90 days, and silences: when the
/// device turns (or turned) risky, and why.
pub(super) fn forecast(inputs: &Inputs<'_>) -> Vec<Risk> {
    let now = now_secs(inputs);
    let mut risks: Vec<Risk> = matching(inputs, "tls.notafter", |_| true)
        .filter_map(|item| {
            let expires = seconds(&item.value)?;
            let days = (expires - now).div_euclid(DAY);
            (expires >= now && days <= FORECAST_DAYS).then(|| Risk {
                in_days: days,
                at: Timestamp::from_secs(u64::try_from(expires).unwrap_or(0)),
                reason: format!("a certificate it presents expires on {}", rfc3339(expires)),
                evidence: Proof::of_item(item),
            })
        })
        .collect();
    risks.extend(
        inputs
            .anomalies
            .iter()
            .filter(|a| a.kind == AnomalyKind::DeviceSilent)
            .map(|a| Risk {
                in_days: 0,
                at: a.first,
                reason: format!("it fell silent: {}", a.explanation),
                evidence: Proof::of_anomaly(a),
            }),
    );
    risks.sort_by_key(|r| (r.in_days, r.at));
    risks
}
