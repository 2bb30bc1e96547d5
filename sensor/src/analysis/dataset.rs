//! Labelled devices for the model: a labels file, the devices of each
//! capture that it names, and what training, evaluation and
//! cross-validation make of them (`mirador train` and `mirador eval`).
//!
//! Each capture is analysed alone: the same device recorded in several
//! captures is one example per capture, and cross-validation keeps all of a
//! capture's examples on one side (never trained and tested on the same
//! capture).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use classifiers::metrics::Evaluation;
use classifiers::{Forest, ForestParams, Model};
use fingerprints::MacAddr;
use fingerprints::kb::{Attribute, KnowledgeBase};
use ndarray::Array2;

use super::classify::{UNKNOWN, classify};
use super::model::profile;
use crate::inventory::{Device, InventorySnapshot};

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{file}:{line}: {problem}")]
    Labels {
        file: String,
        line: u64,
        problem: String,
    },
    #[error("no labelled device found in the captures")]
    NoExamples,
    #[error("attribute {0}: {1}")]
    Train(String, classifiers::forest::TrainError),
}

/// One row of a labels file.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub mac: MacAddr,
    /// The capture it holds for (a path suffix); `None`: every capture.
    pub capture: Option<PathBuf>,
    pub values: BTreeMap<Attribute, String>,
}

/// A labels file: CSV with a header, `mac`, optionally `capture`, and any
/// of the attributes (`type`, `category`, `vendor`, `model`, `os`,
/// `firmware`).
#[derive(Debug, Clone, Default)]
pub struct Labels(Vec<Label>);

impl Labels {
    pub fn parse(file: &str, text: &str) -> Result<Labels, DatasetError> {
        let error = |line: u64, problem: String| DatasetError::Labels {
            file: file.to_string(),
            line,
            problem,
        };
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let header = reader
            .headers()
            .map_err(|e| error(1, e.to_string()))?
            .clone();
        let mut columns = Vec::new();
        for name in &header {
            columns.push(match name {
                "mac" | "capture" => None,
                other => Some(Attribute::parse(other).ok_or_else(|| {
                    error(
                        1,
                        format!(
                            "unknown column {other:?} (expected mac, capture, type, category, vendor, model, os, firmware)"
                        ),
                    )
                })?),
            });
        }
        let at = |name: &str| header.iter().position(|h| h == name);
        let mac_at = at("mac").ok_or_else(|| error(1, "no `mac` column".into()))?;
        let capture_at = at("capture");
        let mut labels = Vec::new();
        for record in reader.records() {
            let record =
                record.map_err(|e| error(e.position().map_or(0, |p| p.line()), e.to_string()))?;
            let line = record.position().map_or(0, |p| p.line());
            let mac_text = record.get(mac_at).unwrap_or_default();
            let mac: MacAddr = mac_text
                .parse()
                .map_err(|_| error(line, format!("{mac_text:?} is not a MAC address")))?;
            let values = columns
                .iter()
                .zip(record.iter())
                .filter_map(|(attribute, value)| {
                    attribute
                        .filter(|_| !value.is_empty())
                        .map(|a| (a, value.to_string()))
                })
                .collect();
            labels.push(Label {
                mac,
                capture: capture_at
                    .and_then(|i| record.get(i))
                    .filter(|c| !c.is_empty())
                    .map(PathBuf::from),
                values,
            });
        }
        Ok(Labels(labels))
    }

    /// The labels of `mac` in `capture`: a row for that capture first, else
    /// a row for every capture.
    pub fn of(&self, capture: &Path, mac: MacAddr) -> Option<&Label> {
        let rows = || self.0.iter().filter(move |l| l.mac == mac);
        rows()
            .find(|l| l.capture.as_deref().is_some_and(|c| capture.ends_with(c)))
            .or_else(|| rows().find(|l| l.capture.is_none()))
    }
}

/// A labelled device as one capture showed it.
#[derive(Debug, Clone)]
pub struct Example {
    pub capture: PathBuf,
    pub device: Device,
    pub labels: BTreeMap<Attribute, String>,
}

/// The labelled devices of each capture, analysed by `analyse`.
pub fn examples<E>(
    labels: &Labels,
    captures: &[PathBuf],
    mut analyse: impl FnMut(&Path) -> Result<InventorySnapshot, E>,
) -> Result<Vec<Example>, E> {
    let mut out = Vec::new();
    for capture in captures {
        let snapshot = analyse(capture)?;
        for device in snapshot.devices {
            if let Some(label) = labels.of(capture, device.mac) {
                out.push(Example {
                    capture: capture.clone(),
                    labels: label.values.clone(),
                    device,
                });
            }
        }
    }
    Ok(out)
}

/// How a model is grown: its forests, and the share of votes below which
/// it abstains (`unknown`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Training {
    pub forest: ForestParams,
    pub min_confidence: f64,
}

impl Default for Training {
    fn default() -> Training {
        Training {
            forest: ForestParams::default(),
            min_confidence: 0.5,
        }
    }
}

/// A model with one forest per labelled attribute of `examples`.
pub fn train(
    examples: &[Example],
    training: Training,
    trained_on: String,
) -> Result<Model, DatasetError> {
    if examples.is_empty() {
        return Err(DatasetError::NoExamples);
    }
    let vectors: Vec<_> = examples
        .iter()
        .map(|e| profile(&e.device).vector())
        .collect();
    let mut attributes = BTreeMap::new();
    let mut labelled: Vec<Attribute> = examples
        .iter()
        .flat_map(|e| e.labels.keys().copied())
        .collect();
    labelled.sort();
    labelled.dedup();
    for attribute in labelled {
        let rows: Vec<usize> = (0..examples.len())
            .filter(|i| examples[*i].labels.contains_key(&attribute))
            .collect();
        let mut classes: Vec<String> = rows
            .iter()
            .map(|i| examples[*i].labels[&attribute].clone())
            .collect();
        classes.sort();
        classes.dedup();
        let y: Vec<usize> = rows
            .iter()
            .map(|i| {
                classes
                    .binary_search(&examples[*i].labels[&attribute])
                    .unwrap_or(0)
            })
            .collect();
        let width = classifiers::features::LEN;
        let mut x = Array2::zeros((rows.len(), width));
        for (r, i) in rows.iter().enumerate() {
            x.row_mut(r).assign(&vectors[*i]);
        }
        let forest = Forest::train(&x, &y, classes, training.forest)
            .map_err(|e| DatasetError::Train(attribute.name().into(), e))?;
        attributes.insert(attribute.name().to_string(), forest);
    }
    Ok(Model::new(trained_on, training.min_confidence, attributes))
}

/// Whose verdicts are judged: the full classification (knowledge base and
/// model fused, as `analyze` reports it) or the model alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judged {
    Fused,
    ModelOnly,
}

/// (label, prediction) pairs per attribute for `examples` under `model`.
pub fn predictions(
    model: &Model,
    kb: &KnowledgeBase,
    examples: &[Example],
    judged: Judged,
    out: &mut BTreeMap<Attribute, Vec<(String, String)>>,
) {
    // The model alone still needs the taxonomy its category labels are in.
    let mut taxonomy_only = KnowledgeBase::default();
    taxonomy_only.taxonomy = kb.taxonomy.clone();
    let kb = if judged == Judged::Fused {
        kb
    } else {
        &taxonomy_only
    };
    for e in examples {
        let verdicts = classify(&e.device, kb, Some(model));
        for (attribute, truth) in &e.labels {
            let predicted = verdicts
                .get(*attribute)
                .map_or(UNKNOWN, |v| v.label.as_str());
            out.entry(*attribute)
                .or_default()
                .push((truth.clone(), predicted.to_string()));
        }
    }
}

/// Figures per attribute of `model` on `examples`.
pub fn evaluate(
    model: &Model,
    kb: &KnowledgeBase,
    examples: &[Example],
    judged: Judged,
) -> BTreeMap<Attribute, Evaluation> {
    let mut pairs = BTreeMap::new();
    predictions(model, kb, examples, judged, &mut pairs);
    pairs
        .into_iter()
        .map(|(a, p)| (a, Evaluation::of(&p)))
        .collect()
}

/// Cross-validation in `folds` folds grouped by capture: a model trained
/// on the other folds' captures judges each fold's. Captures are dealt to
/// folds label by label (of the first labelled attribute), so each fold
/// holds a share of every class.
pub fn cross_validate(
    examples: &[Example],
    kb: &KnowledgeBase,
    folds: usize,
    training: Training,
    judged: Judged,
) -> Result<BTreeMap<Attribute, Evaluation>, DatasetError> {
    let folds = folds.max(2);
    // One group per capture, with the label it is dealt by.
    let mut groups: Vec<(String, &Path)> = examples
        .iter()
        .map(|e| {
            let label = e.labels.values().next().cloned().unwrap_or_default();
            (label, e.capture.as_path())
        })
        .collect();
    groups.sort();
    groups.dedup_by(|a, b| a.1 == b.1);
    let fold_of: BTreeMap<&Path, usize> = groups
        .iter()
        .enumerate()
        .map(|(i, (_, capture))| (*capture, i % folds))
        .collect();
    let mut pairs = BTreeMap::new();
    for fold in 0..folds {
        let (test, train_set): (Vec<Example>, Vec<Example>) = examples
            .iter()
            .cloned()
            .partition(|e| fold_of.get(e.capture.as_path()) == Some(&fold));
        if test.is_empty() || train_set.is_empty() {
            continue;
        }
        let model = train(&train_set, training, format!("fold {fold}"))?;
        predictions(&model, kb, &test, judged, &mut pairs);
    }
    Ok(pairs
        .into_iter()
        .map(|(a, p)| (a, Evaluation::of(&p)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse_and_match_by_capture() {
        let text = "mac,capture,type,category\n\
                    50:c7:bf:00:c7:03,HS110/a.pcap,TP-LinkPlugHS110,iot/smart-plug\n\
                    50:c7:bf:00:c7:03,,TP-LinkPlug,\n";
        let labels = Labels::parse("l.csv", text).unwrap();
        let mac: MacAddr = "50:c7:bf:00:c7:03".parse().unwrap();
        let in_a = labels.of(Path::new("/data/HS110/a.pcap"), mac).unwrap();
        assert_eq!(in_a.values[&Attribute::Type], "TP-LinkPlugHS110");
        assert_eq!(in_a.values[&Attribute::Category], "iot/smart-plug");
        let elsewhere = labels.of(Path::new("/data/b.pcap"), mac).unwrap();
        assert_eq!(elsewhere.values.len(), 1, "an empty cell is no label");
    }

    #[test]
    fn bad_labels_name_file_and_line() {
        for (text, expected) in [
            ("mac,colour\n", "l.csv:1: unknown column \"colour\""),
            ("type\nplug\n", "l.csv:1: no `mac` column"),
            (
                "mac,type\n00:11:22:33:44:55,plug\nnot-a-mac,plug\n",
                "l.csv:3: \"not-a-mac\" is not a MAC",
            ),
        ] {
            let e = Labels::parse("l.csv", text).unwrap_err().to_string();
            assert!(e.starts_with(expected), "{e}");
        }
    }
}
