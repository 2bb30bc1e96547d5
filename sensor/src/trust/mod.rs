//! Can this device be trusted right now? A score from 0 to 100 per device
//! (and per remote host), read from what the inventory holds when it is
//! read: the device's evidence, its classification, the ports it answers
//! on, and the anomalies the behaviour monitor raised about it. The score
//! is 100 minus each factor's deductions, each factor capped, so that a
//! reader can recompute it from its breakdown (docs/trust.md).

mod checks;

use serde::Serialize;

use crate::anomaly::{Anomaly, AnomalyReport, Subject};
use crate::capture::Timestamp;
use crate::inventory::{Device, EvidenceItem, InventorySnapshot, RemoteHost};

/// Proofs listed per deduction; the rest are counted.
const MAX_PROOFS: usize = 8;
/// Certificates expiring within this many days are forecast.
const FORECAST_DAYS: i64 = 90;

/// A device's trust: its score, why, and when it will turn risky.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trust {
    /// 100 minus the factors' `points`, at least 0.
    pub score: u8,
    /// When it was judged: the latest time the inventory knows.
    pub assessed_at: Timestamp,
    /// Every factor, in a fixed order, deductions or not.
    pub factors: Vec<Factor>,
    /// Risks to come, soonest first.
    pub risk_forecast: Vec<Risk>,
}

/// One factor of the score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Factor {
    pub factor: FactorName,
    /// The most this factor takes off the score.
    pub cap: u32,
    /// What it takes off: the sum of its deductions, at most `cap`.
    pub points: u32,
    pub deductions: Vec<Deduction>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FactorName {
    Identity,
    Certificates,
    Protocols,
    Credentials,
    Anomalies,
    Exposure,
}

impl FactorName {
    pub const ALL: [FactorName; 6] = [
        FactorName::Identity,
        FactorName::Certificates,
        FactorName::Protocols,
        FactorName::Credentials,
        FactorName::Anomalies,
        FactorName::Exposure,
    ];

    pub fn cap(self) -> u32 {
        match self {
            FactorName::Identity => 15,
            FactorName::Certificates => 30,
            FactorName::Protocols => 30,
            FactorName::Credentials => 40,
            FactorName::Anomalies => 30,
            FactorName::Exposure => 20,
        }
    }
}

/// One reason the score is lower, with the evidence behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deduction {
    /// The check that failed: `expired_certificate`, `telnet`, ...
    pub check: &'static str,
    pub points: u32,
    /// One sentence for a human.
    pub reason: String,
    /// What was seen (at most 8).
    pub evidence: Vec<Proof>,
    /// How many pieces of evidence in all.
    pub count: usize,
}

/// A piece of evidence: an inventory evidence item, a listening port, a
/// verdict or an anomaly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Proof {
    pub field: String,
    pub value: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<u64>,
}

impl Proof {
    fn of_item(item: &EvidenceItem) -> Proof {
        Proof {
            field: item.field.clone(),
            value: item.value.clone(),
            first_seen: Some(item.first_seen),
            last_seen: Some(item.last_seen),
            flow_id: item.flow_id,
        }
    }

    fn of_anomaly(anomaly: &Anomaly) -> Proof {
        Proof {
            field: format!("anomaly.{}", anomaly.kind.name()),
            value: anomaly.explanation.clone().into(),
            first_seen: Some(anomaly.first),
            last_seen: Some(anomaly.last),
            flow_id: anomaly.proof.flow_ids.first().copied(),
        }
    }

    fn of_value(field: &str, value: impl Into<serde_json::Value>) -> Proof {
        Proof {
            field: field.to_string(),
            value: value.into(),
            first_seen: None,
            last_seen: None,
            flow_id: None,
        }
    }
}

/// A risk to come: "risky in N days", and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Risk {
    /// Whole days from `assessed_at` (0: already).
    pub in_days: i64,
    pub at: Timestamp,
    pub reason: String,
    pub evidence: Proof,
}

/// What a subject's trust is judged from.
pub struct Inputs<'a> {
    pub evidence: Vec<&'a EvidenceItem>,
    /// Devices only: the category verdict's label and confidence.
    pub identity: Option<(&'a str, f64)>,
    /// Devices only: ports answered on, and those answered to the Internet.
    pub server_ports: Vec<String>,
    pub exposed_ports: Vec<String>,
    /// Anomalies about the subject.
    pub anomalies: Vec<&'a Anomaly>,
    pub now: Timestamp,
}

impl Trust {
    /// Judges one subject.
    pub fn assess(inputs: &Inputs<'_>) -> Trust {
        let mut deductions: Vec<(FactorName, Deduction)> = Vec::new();
        checks::run(inputs, &mut deductions);
        let factors: Vec<Factor> = FactorName::ALL
            .iter()
            .map(|&name| {
                let deductions: Vec<Deduction> = deductions
                    .iter()
                    .filter(|(f, _)| *f == name)
                    .map(|(_, d)| d.clone())
                    .collect();
                let sum: u32 = deductions.iter().map(|d| d.points).sum();
                Factor {
                    factor: name,
                    cap: name.cap(),
                    points: sum.min(name.cap()),
                    deductions,
                }
            })
            .collect();
        let taken: u32 = factors.iter().map(|f| f.points).sum();
        Trust {
            score: u8::try_from(100u32.saturating_sub(taken)).unwrap_or(0),
            assessed_at: inputs.now,
            factors,
            risk_forecast: checks::forecast(inputs),
        }
    }

    /// The deductions of every factor.
    pub fn deductions(&self) -> impl Iterator<Item = &Deduction> {
        self.factors.iter().flat_map(|f| &f.deductions)
    }
}

/// Who a subject is, for matching anomalies.
fn is_about(anomaly: &Anomaly, subject: &Subject) -> bool {
    match (subject.mac, anomaly.subject.mac) {
        (Some(mac), Some(theirs)) => mac == theirs,
        (None, None) => subject.ip.is_some() && subject.ip == anomaly.subject.ip,
        _ => false,
    }
}

fn device_inputs<'a>(d: &'a Device, anomalies: &'a [Anomaly], now: Timestamp) -> Inputs<'a> {
    let subject = Subject {
        mac: Some(d.mac),
        ip: None,
    };
    let ports = |set: &crate::inventory::CappedSet<_>| -> Vec<String> {
        let mut ports: Vec<String> = set
            .iter()
            .map(|(_, p): &(std::net::IpAddr, crate::inventory::ServicePort)| p.to_string())
            .collect();
        ports.sort();
        ports.dedup();
        ports
    };
    Inputs {
        evidence: d.evidence.iter().collect(),
        identity: d
            .classification
            .as_ref()
            .and_then(|c| c.get(fingerprints::kb::Attribute::Category))
            .map(|v| (v.label.as_str(), v.confidence)),
        server_ports: ports(&d.server_ports),
        exposed_ports: ports(&d.exposed_ports),
        anomalies: anomalies.iter().filter(|a| is_about(a, &subject)).collect(),
        now,
    }
}

fn remote_inputs<'a>(h: &'a RemoteHost, anomalies: &'a [Anomaly], now: Timestamp) -> Inputs<'a> {
    let subject = Subject {
        mac: None,
        ip: Some(h.ip),
    };
    Inputs {
        evidence: h.evidence.iter().collect(),
        identity: None,
        server_ports: Vec::new(),
        exposed_ports: Vec::new(),
        anomalies: anomalies.iter().filter(|a| is_about(a, &subject)).collect(),
        now,
    }
}

/// Judges every device and remote host of `snapshot`, at the latest time
/// it knows.
pub fn assess(snapshot: &mut InventorySnapshot, anomalies: Option<&AnomalyReport>) {
    let now = snapshot
        .devices
        .iter()
        .map(|d| d.last_seen)
        .chain(snapshot.remote_hosts.iter().map(|h| h.last_seen))
        .max()
        .unwrap_or_default();
    let anomalies = anomalies.map_or(&[][..], |r| r.anomalies.as_slice());
    for d in &mut snapshot.devices {
        let trust = Trust::assess(&device_inputs(d, anomalies, now));
        d.trust = Some(trust);
    }
    for h in &mut snapshot.remote_hosts {
        let trust = Trust::assess(&remote_inputs(h, anomalies, now));
        h.trust = Some(trust);
    }
}

/// The last score told per device, so that a `trust` event is emitted
/// only when a score changes. Bounded by the inventory's devices.
#[derive(Debug, Default)]
pub struct Ledger {
    scores: std::collections::HashMap<fingerprints::MacAddr, u8>,
}

/// A device whose score is new or changed.
pub struct Change<'a> {
    pub subject: Subject,
    pub previous: Option<u8>,
    pub trust: &'a Trust,
}

impl Ledger {
    /// The devices of `snapshot` whose score changed since the last call
    /// (all of them the first time); forgets devices no longer there.
    pub fn changes<'s>(&mut self, snapshot: &'s InventorySnapshot) -> Vec<Change<'s>> {
        let mut changes = Vec::new();
        let mut seen = std::collections::HashMap::with_capacity(snapshot.devices.len());
        for d in &snapshot.devices {
            let Some(trust) = &d.trust else { continue };
            let previous = self.scores.get(&d.mac).copied();
            seen.insert(d.mac, trust.score);
            if previous != Some(trust.score) {
                changes.push(Change {
                    subject: Subject {
                        mac: Some(d.mac),
                        ip: d.ips.first().map(|b| b.ip),
                    },
                    previous,
                    trust,
                });
            }
        }
        self.scores = seen;
        changes
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
