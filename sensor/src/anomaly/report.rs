//! What the detectors raise: an anomaly names its device, what left which
//! baseline and by how much, and the flows and times that show it.

use std::net::IpAddr;

use fingerprints::MacAddr;
use serde::Serialize;

use crate::capture::Timestamp;

/// The detector that raised an anomaly, as `anomaly.type` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// A source whose first contacts to many hosts fail (a host sweep).
    HostScan,
    /// A source trying many ports of one host.
    PortScan,
    /// Telnet (23/2323) sweeps: how Mirai and its kin spread.
    TelnetScan,
    SynFlood,
    /// Replies from amplifying services to an address that did not ask.
    Amplification,
    /// Periodic connections to one destination with low jitter.
    Beaconing,
    /// An internal peer the device never talked to.
    NewPeer,
    /// A service the device never used (as client) or offered (as server).
    NewPort,
    /// A protocol the device never spoke.
    NewProtocol,
    /// An internal host reached on an administration service (SMB, RDP,
    /// SSH, Telnet, WinRM, VNC) the device never used.
    LateralMovement,
    /// A field device acting as the client of an OT protocol, or an OT
    /// write, download or stop from a client that never sent one.
    OtUnusualClient,
    OtWrite,
    /// An address claimed by a second MAC while the first is alive.
    ArpSpoofing,
    /// The router's address claimed by another MAC.
    GatewayImpersonation,
    /// A second DHCP server answering on the segment.
    RogueDhcpServer,
    /// A fingerprint learnt as stable changed (DHCP options, TCP SYN,
    /// JA4, hostname, vendor class).
    IdentityDrift,
    VolumeSpike,
    /// A regularly active device went quiet.
    DeviceSilent,
    /// The streaming model found a flow unlike the ones it learnt.
    UnusualFlow,
}

impl AnomalyKind {
    /// The name `anomaly.type` gives it: `host_scan`.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// Priority bands, from score and criticality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// The band of a priority in [0, 1].
    pub fn of(priority: f64) -> Severity {
        match priority {
            p if p >= 0.85 => Severity::Critical,
            p if p >= 0.65 => Severity::High,
            p if p >= 0.4 => Severity::Medium,
            p if p >= 0.2 => Severity::Low,
            _ => Severity::Info,
        }
    }
}

/// Who an anomaly is about: a device (by MAC) and the address it used, or
/// a host beyond a router (by address alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Subject {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
}

impl Subject {
    /// The key incidents group on: the device's MAC, else its address.
    pub fn key(&self) -> Subject {
        match self.mac {
            Some(mac) => Subject {
                mac: Some(mac),
                ip: None,
            },
            None => *self,
        }
    }
}

/// One feature that left its baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Deviation {
    pub feature: String,
    pub observed: serde_json::Value,
    /// What the baseline held (a mean, a set's size, a threshold).
    pub baseline: serde_json::Value,
}

/// Flows (their ids in `flow` events) and packet times that show it;
/// capped, with how many there were in all.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Proof {
    pub flow_ids: Vec<u64>,
    pub times: Vec<Timestamp>,
    pub count: u64,
}

const PROOF_CAP: usize = 16;

impl Proof {
    pub fn add(&mut self, ts: Timestamp, flow_id: Option<u64>) {
        self.count += 1;
        if self.times.len() < PROOF_CAP {
            self.times.push(ts);
        }
        if let Some(id) = flow_id
            && self.flow_ids.len() < PROOF_CAP
            && !self.flow_ids.contains(&id)
        {
            self.flow_ids.push(id);
        }
    }

    pub fn merge(&mut self, other: &Proof) {
        self.count += other.count;
        for &t in &other.times {
            if self.times.len() < PROOF_CAP {
                self.times.push(t);
            }
        }
        for &id in &other.flow_ids {
            if self.flow_ids.len() < PROOF_CAP && !self.flow_ids.contains(&id) {
                self.flow_ids.push(id);
            }
        }
    }
}

/// What a detector raised.
#[derive(Debug, Clone, Serialize)]
pub struct Anomaly {
    /// Unique per run, in the order anomalies were raised.
    pub id: u64,
    #[serde(rename = "type")]
    pub kind: AnomalyKind,
    pub severity: Severity,
    /// How far from normal, in [0, 1], before the device's criticality.
    pub score: f64,
    pub subject: Subject,
    /// What it was about beyond the subject (a scanned host, a beacon's
    /// destination, a field name): duplicates share kind, subject and this.
    pub about: String,
    pub first: Timestamp,
    pub last: Timestamp,
    pub explanation: String,
    pub deviations: Vec<Deviation>,
    pub proof: Proof,
    /// The incident it belongs to.
    pub incident: u64,
}

/// An anomaly as a detector hands it to the correlator (ids, severity and
/// incident are set there).
#[derive(Debug, Clone)]
pub struct Raised {
    pub kind: AnomalyKind,
    pub score: f64,
    pub subject: Subject,
    pub about: String,
    pub ts: Timestamp,
    pub explanation: String,
    pub deviations: Vec<Deviation>,
    pub proof: Proof,
}

impl Raised {
    pub fn new(
        kind: AnomalyKind,
        subject: Subject,
        about: impl Into<String>,
        ts: Timestamp,
    ) -> Raised {
        Raised {
            kind,
            score: 0.5,
            subject,
            about: about.into(),
            ts,
            explanation: String::new(),
            deviations: Vec::new(),
            proof: Proof::default(),
        }
    }

    pub fn score(mut self, score: f64) -> Raised {
        self.score = score.clamp(0.0, 1.0);
        self
    }

    pub fn explain(mut self, explanation: impl Into<String>) -> Raised {
        self.explanation = explanation.into();
        self
    }

    pub fn deviation(
        mut self,
        feature: impl Into<String>,
        observed: impl Into<serde_json::Value>,
        baseline: impl Into<serde_json::Value>,
    ) -> Raised {
        self.deviations.push(Deviation {
            feature: feature.into(),
            observed: observed.into(),
            baseline: baseline.into(),
        });
        self
    }

    pub fn proof(mut self, proof: Proof) -> Raised {
        self.proof = proof;
        self
    }
}

/// A transport's name in explanations and `about` fields.
pub fn transport(protocol: u8) -> &'static str {
    match protocol {
        6 => "tcp",
        17 => "udp",
        _ => "ip",
    }
}
