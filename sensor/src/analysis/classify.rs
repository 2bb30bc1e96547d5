//! One explained verdict per device attribute (category, type, vendor,
//! model, OS, firmware), from the knowledge base's rules over the device's
//! evidence and the behavioural model's vote.
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
//! `unknown` and the candidates are listed. The model is one more voter:
//! its weight is the share of its trees that voted for the label (times
//! `MODEL_WEIGHT` where rules spoke too), and its reasons are the features
//! those trees tested. docs/classification.md
//! shows a worked example.

use std::collections::BTreeMap;

use classifiers::Model;
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

/// A vote with where its evidence came from: a knowledge-base rule or the
/// model.
struct Said<'a> {
    attribute: Attribute,
    label: String,
    /// The text the rule matched, or a feature and its value.
    text: String,
    weight: f64,
    /// The rule (`file:line`) or the model; a voter counts once.
    origin: &'a str,
    source: String,
    field: String,
    last_seen: Timestamp,
    flow_id: Option<u64>,
}

impl<'a> Said<'a> {
    fn of_rule(
        vote: Vote<'a>,
        field: &str,
        last_seen: Timestamp,
        flow_id: Option<u64>,
    ) -> Said<'a> {
        Said {
            attribute: vote.rule.attribute,
            label: vote.label,
            text: vote.text,
            weight: vote.rule.weight,
            origin: &vote.rule.origin,
            source: vote.rule.source.clone(),
            field: field.to_string(),
            last_seen,
            flow_id,
        }
    }
}

/// The model's name in reasons.
pub const MODEL_ORIGIN: &str = "model";
/// Where rules also spoke about an attribute, the model's vote weighs its
/// trees' share times this: even a unanimous forest only knows the classes
/// it was trained on, so a strong rule (weight 0.9: a registered vendor id,
/// an LLDP system description) still outweighs it on a device unlike any
/// it saw. Where no rule spoke, there is no conflict to settle and the
/// share stands.
pub const MODEL_WEIGHT: f64 = 0.85;

/// The verdicts for `device` from its evidence and its MAC's vendor, and
/// from its behaviour when a model is given.
pub fn classify(device: &Device, kb: &KnowledgeBase, model: Option<&Model>) -> Classification {
    let mut said: Vec<Said<'_>> = Vec::new();
    let mut votes = Vec::new();
    if let Some(oui) = &device.oui {
        kb.votes(
            "oui.vendor",
            &serde_json::Value::from(oui.organization.as_str()),
            &mut votes,
        );
        said.extend(
            votes
                .drain(..)
                .map(|vote| Said::of_rule(vote, "oui.vendor", device.first_seen, None)),
        );
    }
    for item in device.evidence.iter() {
        kb.votes(&item.field, &item.value, &mut votes);
        said.extend(
            votes
                .drain(..)
                .map(|vote| Said::of_rule(vote, &item.field, item.last_seen, item.flow_id)),
        );
    }
    for vote in model
        .map(|m| super::model::votes(m, device, &kb.taxonomy))
        .unwrap_or_default()
    {
        let weight = if said.iter().any(|s| s.attribute == vote.attribute) {
            vote.confidence * MODEL_WEIGHT
        } else {
            vote.confidence
        };
        // One entry per feature named, all one voter.
        for feature in &vote.features {
            let fed_by = if feature.texts.is_empty() {
                String::new()
            } else {
                format!(" from {}", feature.texts.join(", "))
            };
            said.push(Said {
                attribute: vote.attribute,
                label: vote.label.clone(),
                text: format!(
                    "{}{fed_by}; {:.0}% of the voting trees' tests",
                    round(feature.value),
                    feature.share * 100.0
                ),
                weight,
                origin: MODEL_ORIGIN,
                source: format!(
                    "behavioural model: {} of {} trees",
                    vote.trees.0, vote.trees.1
                ),
                field: format!("feature.{}", feature.name),
                last_seen: device.last_seen,
                flow_id: None,
            });
        }
    }
    let mut verdicts = BTreeMap::new();
    for attribute in Attribute::ALL {
        let of: Vec<&Said<'_>> = said.iter().filter(|s| s.attribute == attribute).collect();
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
            Box::new(Taxonomy::lineage(&s.label))
        } else {
            Box::new(std::iter::once(s.label.as_str()))
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
        for s in said.iter().filter(|s| counts(&s.label)) {
            if !rules.iter().any(|(origin, _)| *origin == s.origin) {
                rules.push((s.origin, s.weight));
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
        .filter(|s| supports_label(&chosen.label, &s.label))
        .map(|s| Reason {
            field: s.field.clone(),
            value: s.text.clone(),
            label: s.label.clone(),
            weight: s.weight,
            rule: s.origin.to_string(),
            source: s.source.clone(),
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
