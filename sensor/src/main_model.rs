//! The model commands of the `mirador` binary (declared in main.rs):
//! `train`, `eval` and `explain`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use classifiers::metrics::Evaluation;
use classifiers::{ForestParams, Model};
use fingerprints::kb::Attribute;
use sensor::analysis::dataset::{self, Example, Judged, Labels, Training};
use sensor::flow::FlowConfig;
use sensor::inventory::InventorySnapshot;
use serde_json::Value;

use crate::{Common, Console, build_sensor, load_knowledge_base, read_data};

/// Labelled captures and how a forest is grown on them.
#[derive(clap::Args)]
struct Labelled {
    /// Labels: CSV with a header: `mac`, optionally `capture`, and any of
    /// `type`, `category`, `vendor`, `model`, `os`, `firmware`.
    #[arg(long, value_name = "CSV")]
    labels: PathBuf,
    #[command(flatten)]
    forest: ForestArgs,
    /// Capture files or directories; each capture is analysed on its own.
    #[arg(required = true, value_name = "CAPTURE")]
    inputs: Vec<PathBuf>,
}

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Where the model goes.
    #[arg(short, long, value_name = "FILE", default_value = "model.json")]
    output: PathBuf,
    #[command(flatten)]
    data: Labelled,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Instead of judging one model, cross-validate: train on the other
    /// folds' captures and judge each fold's (grouped by capture).
    #[arg(long, value_name = "FOLDS")]
    cv: Option<usize>,
    /// Judge the model's votes alone, not the verdicts fused with the
    /// knowledge base.
    #[arg(long)]
    model_only: bool,
    /// One JSON object: per attribute, accuracy, macro_f1, per-class
    /// figures and the confusion matrix.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    data: Labelled,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args)]
struct ForestArgs {
    /// Trees per forest.
    #[arg(long, value_name = "N", default_value_t = ForestParams::default().trees)]
    trees: usize,
    /// Share of the features drawn as candidates at each split.
    #[arg(long, value_name = "SHARE", default_value_t = ForestParams::default().feature_share)]
    feature_share: f64,
    /// Seed of the bootstrap samples and feature subsets.
    #[arg(long, value_name = "N", default_value_t = ForestParams::default().seed)]
    seed: u64,
    /// Below this share of its trees' votes the model says `unknown`.
    #[arg(long, value_name = "SHARE", default_value_t = Training::default().min_confidence)]
    min_confidence: f64,
}

impl ForestArgs {
    fn training(&self) -> Training {
        Training {
            forest: ForestParams {
                trees: self.trees.max(1),
                feature_share: self.feature_share.clamp(0.01, 1.0),
                seed: self.seed,
                ..ForestParams::default()
            },
            min_confidence: self.min_confidence.clamp(0.0, 1.0),
        }
    }
}

#[derive(clap::Args)]
pub struct ExplainArgs {
    /// The device's MAC address.
    #[arg(value_name = "DEVICE")]
    device: String,
    /// An inventory JSON file (from --inventory), or captures to analyse.
    #[arg(required = true, value_name = "INVENTORY|CAPTURE")]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    common: Common,
}

/// The devices of `labels` in each capture, each capture analysed alone.
fn labelled_examples(
    common: &Common,
    labels_path: &Path,
    inputs: &[PathBuf],
) -> Result<Vec<Example>> {
    let labels = Labels::parse(&labels_path.display().to_string(), &read_data(labels_path)?)?;
    let captures = sensor::capture::merge::expand_inputs(inputs).files;
    let examples = dataset::examples(&labels, &captures, |capture| analyse(common, capture, None))?;
    if examples.is_empty() {
        bail!(
            "no device of {} was found in the captures",
            labels_path.display()
        );
    }
    if !common.quiet {
        eprintln!(
            "mirador: {} labelled devices in {} captures",
            examples.len(),
            captures.len()
        );
    }
    Ok(examples)
}

/// One capture's inventory.
fn analyse(
    common: &Common,
    capture: &Path,
    model: Option<Arc<Model>>,
) -> Result<InventorySnapshot> {
    let mut sensor = build_sensor(
        common,
        FlowConfig::offline(),
        load_knowledge_base(common)?,
        model,
    )?;
    // One worker: where a claim lands can still depend on how workers
    // interleave (a router found late), and a model must be reproducible.
    sensor.workers = 1;
    sensor.analyze_files(&[capture.to_path_buf()], &Console { bar: None });
    Ok(sensor.inventory.snapshot())
}

pub fn train(args: TrainArgs) -> Result<ExitCode> {
    let examples = labelled_examples(&args.common, &args.data.labels, &args.data.inputs)?;
    let captures: std::collections::BTreeSet<&Path> =
        examples.iter().map(|e| e.capture.as_path()).collect();
    let trained_on = format!(
        "{} labelled devices in {} captures, labels {}",
        examples.len(),
        captures.len(),
        args.data.labels.file_name().map_or_else(
            || args.data.labels.display().to_string(),
            |n| n.to_string_lossy().into_owned()
        )
    );
    let model = dataset::train(&examples, args.data.forest.training(), trained_on)?;
    std::fs::write(&args.output, model.to_json() + "\n")
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    if !args.common.quiet {
        for (attribute, forest) in &model.attributes {
            eprintln!(
                "mirador: {attribute}: {} classes, {} trees",
                forest.classes.len(),
                forest.trees.len()
            );
        }
        eprintln!("mirador: model written to {}", args.output.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn eval(args: EvalArgs) -> Result<ExitCode> {
    let kb = load_knowledge_base(&args.common)?;
    let examples = labelled_examples(&args.common, &args.data.labels, &args.data.inputs)?;
    let judged = if args.model_only {
        Judged::ModelOnly
    } else {
        Judged::Fused
    };
    let figures = match args.cv {
        Some(folds) => {
            dataset::cross_validate(&examples, &kb, folds, args.data.forest.training(), judged)?
        }
        None => {
            let Some(model) = load_model(&args.common)? else {
                bail!("--no-model: nothing to evaluate (use --model FILE or --cv FOLDS)");
            };
            dataset::evaluate(&model, &kb, &examples, judged)
        }
    };
    if args.json {
        let by_name: BTreeMap<&str, &Evaluation> =
            figures.iter().map(|(a, e)| (a.name(), e)).collect();
        println!("{}", serde_json::to_string_pretty(&by_name)?);
    } else {
        for (attribute, e) in &figures {
            print!("{}", report(*attribute, e));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An evaluation as text: the figures, per class, and the confusion matrix
/// with classes numbered.
fn report(attribute: Attribute, e: &Evaluation) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: {} examples, accuracy {:.3}, macro-F1 {:.3}",
        attribute.name(),
        e.examples,
        e.accuracy,
        e.macro_f1
    );
    let _ = writeln!(
        s,
        "  {:>3}  {:<28} {:>9} {:>7} {:>6} {:>8}",
        "#", "class", "precision", "recall", "F1", "support"
    );
    for (i, c) in e.classes.iter().enumerate() {
        let _ = writeln!(
            s,
            "  {:>3}  {:<28} {:>9.3} {:>7.3} {:>6.3} {:>8}",
            i + 1,
            c.label,
            c.precision,
            c.recall,
            c.f1,
            c.support
        );
    }
    for (i, extra) in e.columns.iter().enumerate().skip(e.classes.len()) {
        let _ = writeln!(s, "  {:>3}  {extra} (predicted, not a label)", i + 1);
    }
    let _ = writeln!(s, "  confusion (row: label, column: prediction, by #):");
    let _ = write!(s, "  {:>3} ", "");
    for j in 0..e.columns.len() {
        let _ = write!(s, "{:>3}", j + 1);
    }
    let _ = writeln!(s);
    for (i, row) in e.confusion.iter().enumerate() {
        let _ = write!(s, "  {:>3} ", i + 1);
        for n in row {
            let _ = if *n == 0 {
                write!(s, "{:>3}", ".")
            } else {
                write!(s, "{n:>3}")
            };
        }
        let _ = writeln!(s);
    }
    s
}

/// The model named by --model, else the shipped one; none with --no-model.
pub fn load_model(common: &Common) -> Result<Option<Arc<Model>>> {
    if common.no_model {
        return Ok(None);
    }
    let (name, text) = match &common.model {
        Some(path) => (path.display().to_string(), read_data(path)?),
        None => (
            "the shipped model".to_string(),
            classifiers::DEFAULT_MODEL.to_string(),
        ),
    };
    let model = Model::from_json(&text).with_context(|| format!("cannot load {name}"))?;
    Ok(Some(Arc::new(model)))
}

pub fn explain(args: ExplainArgs) -> Result<ExitCode> {
    let common = &args.common;
    let mac = args.device.to_ascii_lowercase();
    let inventory: Value = match &args.inputs[..] {
        [one] if one.extension().is_some_and(|x| x == "json") => {
            serde_json::from_str(&read_data(one)?)
                .with_context(|| format!("{} is not an inventory JSON file", one.display()))?
        }
        inputs => {
            let sensor = build_sensor(
                common,
                FlowConfig::offline(),
                load_knowledge_base(common)?,
                load_model(common)?,
            )?;
            let files = sensor::capture::merge::expand_inputs(inputs).files;
            sensor.analyze_files(&files, &Console { bar: None });
            serde_json::to_value(sensor.inventory.snapshot())?
        }
    };
    let device = inventory["devices"]
        .as_array()
        .and_then(|all| all.iter().find(|d| d["mac"].as_str() == Some(mac.as_str())));
    let Some(device) = device else {
        bail!("no device {mac} in the inventory");
    };
    print!("{}", explanation(device));
    Ok(ExitCode::SUCCESS)
}

/// A device's verdicts with their reasons and candidates, then its evidence.
fn explanation(device: &Value) -> String {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut s = String::new();
    let ips: Vec<String> = device["ips"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| text(&b["ip"]))
        .collect();
    let _ = writeln!(
        s,
        "device {} ({}) {}",
        text(&device["mac"]),
        device["vendor"].as_str().unwrap_or("vendor unknown"),
        ips.join(" ")
    );
    match device["classification"].as_object() {
        None => {
            let _ = writeln!(s, "no verdicts (no knowledge base or model spoke)");
        }
        Some(verdicts) => {
            for (attribute, v) in verdicts {
                let _ = writeln!(
                    s,
                    "\n{attribute}: {} (confidence {})",
                    text(&v["label"]),
                    v["confidence"]
                );
                for r in v["reasons"].as_array().into_iter().flatten() {
                    let _ = writeln!(
                        s,
                        "  because {} = {} -> {} (weight {}; {}; {})",
                        text(&r["field"]),
                        text(&r["value"]),
                        text(&r["label"]),
                        r["weight"],
                        text(&r["rule"]),
                        text(&r["source"])
                    );
                }
                let candidates: Vec<String> = v["candidates"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| format!("{} {}", text(&c["label"]), c["confidence"]))
                    .collect();
                let _ = writeln!(s, "  candidates: {}", candidates.join(", "));
            }
        }
    }
    let evidence = device["evidence"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(s, "\nevidence ({} items):", evidence.len());
    for e in &evidence {
        let _ = writeln!(
            s,
            "  {} = {} (x{}, last {})",
            text(&e["field"]),
            text(&e["value"]),
            e["count"],
            text(&e["last_seen"])
        );
    }
    s
}
