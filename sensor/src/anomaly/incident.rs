//! Correlation: a device's anomalies closer than `incident_window` to each
//! other form one incident; an anomaly already in it (same type, subject
//! and object) folds into it instead of being raised again. An incident's
//! priority weighs its strongest score by the device's criticality (its
//! category's, 1 to 5) and by how many kinds of anomaly it gathers.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use super::report::{Anomaly, AnomalyKind, Raised, Severity, Subject};
use crate::capture::Timestamp;

/// Anomalies kept for the inventory document (events carry them all).
const KEPT_ANOMALIES: usize = 10_000;
/// Anomaly ids listed per incident.
const IDS_PER_INCIDENT: usize = 64;
/// The criticality of a device of unknown category: the taxonomy's middle.
const UNKNOWN_CRITICALITY: u8 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    Closed,
}

#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub id: u64,
    pub status: Status,
    pub subject: Subject,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// 1 (nuisance) to 5 (safety-critical); 3 when the category is unknown.
    pub criticality: u8,
    pub severity: Severity,
    /// In [0, 1]: the strongest score × (0.5 + criticality / 10), plus 0.05
    /// per further kind of anomaly.
    pub priority: f64,
    pub first: Timestamp,
    pub last: Timestamp,
    pub kinds: BTreeSet<AnomalyKind>,
    pub anomaly_ids: Vec<u64>,
    /// Anomalies raised, duplicates folded in included.
    pub raised: u64,
}

impl Incident {
    fn rank(&mut self, score: f64) {
        let weight = 0.5 + f64::from(self.criticality) / 10.0;
        let breadth = 0.05 * (self.kinds.len().saturating_sub(1)) as f64;
        let priority = (score * weight + breadth).min(1.0);
        self.priority = self.priority.max((priority * 1000.0).round() / 1000.0);
        self.severity = Severity::of(self.priority);
    }
}

/// Counts that show the reduction from raw anomalies to incidents.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct CorrelationCounts {
    /// Every anomaly a detector raised.
    pub raised: u64,
    /// Raised again within an open incident: folded, not reported again.
    pub folded: u64,
    /// Reported as `anomaly` events.
    pub reported: u64,
    pub incidents: u64,
}

#[derive(Default)]
pub struct Correlator {
    open: HashMap<Subject, Incident>,
    /// (incident, kind, about) -> index in `anomalies`, for folding.
    seen: HashMap<(u64, AnomalyKind, String), Option<usize>>,
    pub anomalies: Vec<Anomaly>,
    pub closed: Vec<Incident>,
    pub counts: CorrelationCounts,
    /// Anomalies reported, by type and severity.
    pub by_kind_and_severity: BTreeMap<AnomalyKind, BTreeMap<Severity, u64>>,
    next_id: u64,
}

/// What raising an anomaly changed: the anomaly to report (none when it
/// folded), and the incident when it opened.
pub struct Outcome {
    pub anomaly: Option<Anomaly>,
    pub opened: Option<Incident>,
}

impl Correlator {
    pub fn raise(
        &mut self,
        r: Raised,
        window: u64,
        category: impl FnOnce() -> Option<(String, u8)>,
    ) -> Outcome {
        self.counts.raised += 1;
        let key = r.subject.key();
        let mut opened = None;
        let stale = self
            .open
            .get(&key)
            .is_some_and(|i| r.ts.since(i.last) > window);
        if stale && let Some(done) = self.open.remove(&key) {
            self.close(done);
        }
        let incident = match self.open.entry(key) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                self.next_id += 1;
                self.counts.incidents += 1;
                let (category, criticality) = match category() {
                    Some((c, k)) => (Some(c), k),
                    None => (None, UNKNOWN_CRITICALITY),
                };
                let incident = v.insert(Incident {
                    id: self.next_id,
                    status: Status::Open,
                    subject: key,
                    category,
                    criticality,
                    severity: Severity::Info,
                    priority: 0.0,
                    first: r.ts,
                    last: r.ts,
                    kinds: BTreeSet::new(),
                    anomaly_ids: Vec::new(),
                    raised: 0,
                });
                opened = Some(incident.id);
                incident
            }
        };
        incident.raised += 1;
        incident.last = incident.last.max(r.ts);
        let fold_key = (incident.id, r.kind, r.about.clone());
        if let Some(&kept) = self.seen.get(&fold_key) {
            self.counts.folded += 1;
            if let Some(a) = kept.and_then(|at| self.anomalies.get_mut(at)) {
                a.last = a.last.max(r.ts);
                a.proof.merge(&r.proof);
            }
            return Outcome {
                anomaly: None,
                opened: None,
            };
        }
        incident.kinds.insert(r.kind);
        incident.rank(r.score);
        self.next_id += 1;
        let id = self.next_id;
        if incident.anomaly_ids.len() < IDS_PER_INCIDENT {
            incident.anomaly_ids.push(id);
        }
        let weight = 0.5 + f64::from(incident.criticality) / 10.0;
        let anomaly = Anomaly {
            id,
            kind: r.kind,
            severity: Severity::of((r.score * weight).min(1.0)),
            score: (r.score * 1000.0).round() / 1000.0,
            subject: r.subject,
            about: r.about,
            first: r.ts,
            last: r.ts,
            explanation: r.explanation,
            deviations: r.deviations,
            proof: r.proof,
            incident: incident.id,
        };
        let opened = opened.map(|_| incident.clone());
        self.counts.reported += 1;
        *self
            .by_kind_and_severity
            .entry(anomaly.kind)
            .or_default()
            .entry(anomaly.severity)
            .or_default() += 1;
        let kept = (self.anomalies.len() < KEPT_ANOMALIES).then_some(self.anomalies.len());
        if kept.is_some() {
            self.anomalies.push(anomaly.clone());
        }
        self.seen.insert(fold_key, kept);
        Outcome {
            anomaly: Some(anomaly),
            opened,
        }
    }

    /// Incidents quiet for longer than the window close; returned for their
    /// events.
    pub fn close_quiet(&mut self, now: Timestamp, window: u64) -> Vec<Incident> {
        let quiet: Vec<Subject> = self
            .open
            .iter()
            .filter(|(_, i)| now.since(i.last) > window)
            .map(|(k, _)| *k)
            .collect();
        self.close_all_of(quiet)
    }

    /// Every open incident closes (the end of the input).
    pub fn close_all(&mut self) -> Vec<Incident> {
        let all: Vec<Subject> = self.open.keys().copied().collect();
        self.close_all_of(all)
    }

    fn close_all_of(&mut self, mut keys: Vec<Subject>) -> Vec<Incident> {
        keys.sort();
        let mut done = Vec::with_capacity(keys.len());
        for k in keys {
            if let Some(i) = self.open.remove(&k) {
                done.push(self.close(i));
            }
        }
        done
    }

    fn close(&mut self, mut incident: Incident) -> Incident {
        incident.status = Status::Closed;
        self.seen.retain(|(id, _, _), _| *id != incident.id);
        if self.closed.len() < KEPT_ANOMALIES {
            self.closed.push(incident.clone());
        }
        incident
    }

    /// Open and closed incidents, highest priority first.
    pub fn incidents(&self) -> Vec<Incident> {
        let mut all: Vec<Incident> = self
            .closed
            .iter()
            .chain(self.open.values())
            .cloned()
            .collect();
        all.sort_by(|a, b| b.priority.total_cmp(&a.priority).then(a.id.cmp(&b.id)));
        all
    }
}
