//! One explained verdict per device attribute (category, vendor, model, OS,
//! firmware), from the knowledge base's rules over the device's evidence.
//!
//! Each rule that matches votes for a label with its weight. The support of
//! a label is `1 - Π(1 - w)` over the distinct rules that vote for it (two
//! independent hints are stronger than either); a category is also
//! supported by the votes for the categories below it (a camera is an IoT
//! device). The support of its rivals is that of the votes for other labels
//! (for a category: for categories neither above nor below it). The
//! confidence combines both by Dempster's rule: `s (1 - r) / (1 - s r)`. The
//! verdict is the label with the highest confidence, for categories the
//! most specific one that reaches `CONFIDENT`; below that the label is
//! `unknown` and the candidates are listed. docs/classification.md shows a
//! worked example.

use std::collections::BTreeMap;

use fingerprints::kb::{Attribute, KnowledgeBase, Taxonomy, Vote};
use serde::Serialize;

use crate::capture::Timestamp;
use crate::inventory::Device;

/// The confidence a verdict needs to name a label rather than `unknown`.
pub const CONFIDENT: f64 = 0.5;
/// Reasons and candidates listed per verdict.
const LISTED: usize = 5;

/// A device's verdicts, by attribute; an attribute no rule spoke about is
/// absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Classification(pub BTreeMap<Attribute, Verdict>);

impl Classification {
    pub fn get(&self, attribute: Attribute) -> Option<&Verdict> {
        self.0.get(&attribute)
    }

    /// The label of an attribute, when it is not `unknown`.
    pub fn label(&self, attribute: Attribute) -> Option<&str> {
        self.get(attribute)
            .map(|v| v.label.as_str())
            .filter(|l| *l != UNKNOWN)
    }
}

pub const UNKNOWN: &str = "unknown";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The label, or `unknown` when no candidate reaches `CONFIDENT`.
    pub label: String,
    /// In [0, 1]: of the label, or of the best candidate when `unknown`.
    pub confidence: f64,
    /// The evidence behind the label (or the best candidate), strongest first.
    pub reasons: Vec<Reason>,
    /// The labels considered, with their confidences, best first.
    pub candidates: Vec<Candidate>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub label: String,
    pub confidence: f64,
    pub support: f64,
}

/// One piece of evidence and the rule that read it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    /// The evidence field and the value the rule matched.
    pub field: String,
    pub value: String,
    /// The label this evidence voted for (for a category, it may be a more
    /// specific one than the verdict).
    pub label: String,
    pub weight: f64,
    /// The rule: `file:line`, and the public fact it is written from.
    pub rule: String,
    pub source: String,
    /// When the device said it, and in which flow it last did.
    pub last_seen: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<u64>,
}

/// A vote with where its evidence came from.
struct Said<'kb> {
    vote: Vote<'kb>,
    field: String,
    last_seen: Timestamp,
    flow_id: Option<u64>,
}

/// The verdicts for `device` from its evidence and its MAC's vendor.
pub fn classify(device: &Device, kb: &KnowledgeBase) -> Classification {
    let mut said: Vec<Said<'_>> = Vec::new();
    let mut votes = Vec::new();
    if let Some(oui) = &device.oui {
        kb.votes(
            "oui.vendor",
            &serde_json::Value::from(oui.organization.as_str()),
            &mut votes,
        );
        said.extend(votes.drain(..).map(|vote| Said {
            vote,
            field: "oui.vendor".into(),
            last_seen: device.first_seen,
            flow_id: None,
        }));
    }
    for item in device.evidence.iter() {
        kb.votes(&item.field, &item.value, &mut votes);
        said.extend(votes.drain(..).map(|vote| Said {
            vote,
            field: item.field.clone(),
            last_seen: item.last_seen,
            flow_id: item.flow_id,
        }));
    }
    let mut verdicts = BTreeMap::new();
    for attribute in Attribute::ALL {
        let of: Vec<&Said<'_>> = said
            .iter()
            .filter(|s| s.vote.rule.attribute == attribute)
            .collect();
        if let Some(verdict) = decide(attribute, &of) {
            verdicts.insert(attribute, verdict);
        }
    }
    Classification(verdicts)
}

fn decide(attribute: Attribute, said: &[&Said<'_>]) -> Option<Verdict> {
    // Candidate labels: every label voted for and, for categories, their
    // ancestors.
    let mut labels: Vec<&str> = Vec::new();
    for s in said {
        let lineage: Box<dyn Iterator<Item = &str>> = if attribute == Attribute::Category {
            Box::new(Taxonomy::lineage(&s.vote.label))
        } else {
            Box::new(std::iter::once(s.vote.label.as_str()))
        };
        for label in lineage {
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
    }
    let supports_label = |label: &str, voted: &str| {
        if attribute == Attribute::Category {
            Taxonomy::lineage(voted).any(|l| l == label)
        } else {
            voted.eq_ignore_ascii_case(label)
        }
    };
    // Labels that do not compete: a category and its ancestors.
    let related = |a: &str, b: &str| supports_label(a, b) || supports_label(b, a);
    // `1 - Π(1 - w)` over the distinct rules (a rule counts once, however
    // many values it matched) whose votes pass `counts`.
    let combined = |counts: &dyn Fn(&str) -> bool| {
        let mut rules: Vec<(&str, f64)> = Vec::new();
        for s in said.iter().filter(|s| counts(&s.vote.label)) {
            if !rules
                .iter()
                .any(|(origin, _)| *origin == s.vote.rule.origin)
            {
                rules.push((&s.vote.rule.origin, s.vote.rule.weight));
            }
        }
        1.0 - rules.iter().map(|(_, w)| 1.0 - w).product::<f64>()
    };
    let mut candidates: Vec<Candidate> = labels
        .iter()
        .map(|&label| {
            let support = combined(&|voted| supports_label(label, voted));
            let rival = combined(&|voted| !related(label, voted));
            // Dempster's rule for two exclusive hypotheses: the mass where
            // both bodies of evidence would be right is impossible and
            // dropped.
            let conflict = 1.0 - support * rival;
            let confidence = if conflict > 0.0 {
                support * (1.0 - rival) / conflict
            } else {
                0.0
            };
            Candidate {
                label: label.to_string(),
                confidence: round(confidence),
                support: round(support),
            }
        })
        .collect();
    // Best first; among equals the more specific category.
    candidates.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then_with(|| depth(&b.label).cmp(&depth(&a.label)))
            .then_with(|| a.label.cmp(&b.label))
    });
    let chosen = if attribute == Attribute::Category {
        candidates
            .iter()
            .filter(|c| c.confidence >= CONFIDENT)
            .max_by_key(|c| depth(&c.label))
            .or(candidates.first())
    } else {
        candidates.first()
    }?
    .clone();
    let mut reasons: Vec<Reason> = said
        .iter()
        .filter(|s| supports_label(&chosen.label, &s.vote.label))
        .map(|s| Reason {
            field: s.field.clone(),
            value: s.vote.text.clone(),
            label: s.vote.label.clone(),
            weight: s.vote.rule.weight,
            rule: s.vote.rule.origin.clone(),
            source: s.vote.rule.source.clone(),
            last_seen: s.last_seen,
            flow_id: s.flow_id,
        })
        .collect();
    reasons.sort_by(|a, b| {
        b.weight
            .total_cmp(&a.weight)
            .then_with(|| a.rule.cmp(&b.rule))
    });
    reasons.dedup_by(|a, b| a.rule == b.rule && a.value == b.value);
    reasons.truncate(LISTED);
    candidates.truncate(LISTED);
    Some(Verdict {
        label: if chosen.confidence >= CONFIDENT {
            chosen.label
        } else {
            UNKNOWN.to_string()
        },
        confidence: chosen.confidence,
        reasons,
        candidates,
    })
}

fn depth(category: &str) -> usize {
    category.matches('/').count()
}

/// Three decimals: confidences are read by people and compared in tests.
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests;
