//! The behavioural model: cross-validated on the IoT Sentinel captures
//! (grouped by capture), reproducible from its labels, and fused into the
//! verdicts `analyze` reports, with the features behind them.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{analyze, mirador, pcaps, shared};

fn labels() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../classifiers/data/iot-sentinel-labels.csv")
}

fn shipped_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../classifiers/models/default.json")
}

/// `mirador eval ... --json` as JSON.
fn eval_json(args: &[&str], captures: &Path) -> Value {
    let out = mirador()
        .arg("eval")
        .arg("--labels")
        .arg(labels())
        .args(args)
        .args(["--json", "-q"])
        .arg(captures)
        .output()
        .expect("mirador runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("eval --json prints JSON")
}

/// The (label, prediction) pairs of one attribute's confusion matrix that
/// are wrong, with their counts.
fn mistakes(figures: &Value) -> Vec<(String, String, u64)> {
    let columns: Vec<&str> = figures["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let mut out = Vec::new();
    for (i, row) in figures["confusion"].as_array().unwrap().iter().enumerate() {
        for (j, n) in row.as_array().unwrap().iter().enumerate() {
            let n = n.as_u64().unwrap();
            if i != j && n > 0 {
                out.push((columns[i].to_string(), columns[j].to_string(), n));
            }
        }
    }
    out
}

/// Products the dataset's authors call look-alikes: same vendor, same
/// firmware, same cloud; only their behaviour can tell them apart.
const LOOK_ALIKES: [&[&str]; 4] = [
    &["SmarterCoffee", "iKettle2"],
    &["EdimaxPlug1101W", "EdimaxPlug2101W"],
    &["TP-LinkPlugHS100", "TP-LinkPlugHS110"],
    &["WeMoSwitch", "WeMoInsightSwitch", "WeMoLink"],
];

#[test]
fn model_cross_validates_on_iot_sentinel_grouped_by_capture() {
    let Some(shared) = shared("model_cross_validates_on_iot_sentinel_grouped_by_capture") else {
        return;
    };
    let figures = eval_json(&["--cv", "5", "--model-only"], &shared.join("iot-sentinel"));
    let f1 = |a: &str| figures[a]["macro_f1"].as_f64().unwrap();
    let examples = figures["type"]["examples"].as_u64().unwrap();
    assert_eq!(examples, 140, "one example per capture");
    assert_eq!(figures["type"]["classes"].as_array().unwrap().len(), 27);
    // Measured: type 0.865 (IoT Sentinel's paper: 81.5% accuracy; IoTDevID:
    // F1 0.861), category 0.983, vendor 0.996.
    assert!(f1("type") >= 0.85, "type macro-F1 {}", f1("type"));
    assert!(
        f1("category") >= 0.95,
        "category macro-F1 {}",
        f1("category")
    );
    assert!(f1("vendor") >= 0.95, "vendor macro-F1 {}", f1("vendor"));
    // Where it is unsure it says so: a wrong type is only ever a
    // look-alike's, everything else it misses is `unknown`.
    for (label, predicted, n) in mistakes(&figures["type"]) {
        let alike = LOOK_ALIKES
            .iter()
            .any(|g| g.contains(&label.as_str()) && g.contains(&predicted.as_str()));
        assert!(
            predicted == "unknown" || alike,
            "{label} taken for {predicted} {n} times"
        );
    }
}

#[test]
fn shipped_model_is_what_its_labels_train() {
    let Some(shared) = shared("shipped_model_is_what_its_labels_train") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.json");
    let out = mirador()
        .arg("train")
        .arg("--labels")
        .arg(labels())
        .arg("-o")
        .arg(&model)
        .arg("-q")
        .arg(shared.join("iot-sentinel"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trained = std::fs::read_to_string(&model).unwrap();
    let shipped = std::fs::read_to_string(shipped_model()).unwrap();
    assert!(
        trained == shipped,
        "classifiers/models/default.json is not what `mirador train` makes from its labels: \
         train it again (docs/classification.md)"
    );
}

#[test]
fn analyze_fuses_the_model_into_verdicts_with_its_features() {
    let capture = pcaps().join("iot-sentinel/TP-LinkPlugHS110/Setup-A-1-STA.pcap");
    let mac = "50:c7:bf:00:c7:03";
    let run = analyze(&[&capture], &["--workers", "1"]);
    let device = run.device(mac).expect("the plug is in the inventory");
    let verdicts = &device["classification"];
    let kind = &verdicts["type"];
    assert_eq!(kind["label"], "TP-LinkPlugHS110", "{kind:#}");
    let reasons = kind["reasons"].as_array().unwrap();
    assert!(!reasons.is_empty());
    for r in reasons {
        assert_eq!(r["rule"], "model");
        assert!(r["field"].as_str().unwrap().starts_with("feature."), "{r}");
        assert!(
            r["source"].as_str().unwrap().contains("of 100 trees"),
            "{r}"
        );
    }
    // Rules and model agree on the category; both are cited.
    let category = &verdicts["category"];
    assert_eq!(category["label"], "iot/smart-plug");
    let cited: Vec<&str> = category["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    assert!(cited.contains(&"model"), "{cited:?}");
    assert!(cited.iter().any(|r| r.contains(".tsv:")), "{cited:?}");

    // `explain` reads the same verdicts back, features and tokens included.
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inventory.json");
    std::fs::write(&inventory, run.inventory.to_string()).unwrap();
    let out = mirador()
        .args(["explain", mac])
        .arg(&inventory)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("type: TP-LinkPlugHS110"), "{text}");
    assert!(text.contains("because feature."), "{text}");
    assert!(text.contains("dhcp.hostname = HS110(EU)"), "{text}");

    // Without the model, only the rules speak: no type.
    let run = analyze(&[&capture], &["--workers", "1", "--no-model"]);
    let verdicts = &run.device(mac).unwrap()["classification"];
    assert!(verdicts.get("type").is_none(), "{verdicts:#}");
    assert_eq!(verdicts["category"]["label"], "iot/smart-plug");
}

#[test]
fn shipped_model_names_the_bundled_iot_sentinel_devices() {
    // These captures are among those it was trained on: this checks the
    // way from capture to verdict, not how it generalises (the
    // cross-validation above does).
    let model = shipped_model();
    // The model alone: the rules name eQ-3's Homematic line plain `eQ-3`.
    let figures = eval_json(
        &["--model", model.to_str().unwrap(), "--model-only"],
        &pcaps().join("iot-sentinel"),
    );
    assert_eq!(figures["type"]["examples"], 10);
    for attribute in ["type", "category"] {
        assert_eq!(
            figures[attribute]["accuracy"],
            1.0,
            "{attribute}: {:?}",
            mistakes(&figures[attribute])
        );
    }
    // The dataset labels eQ-3's two products with two vendor names (`eQ-3`,
    // `eQ-3 Homematic`) on one MAC block; one may be taken for the other.
    let vendor = mistakes(&figures["vendor"]);
    assert!(
        vendor
            .iter()
            .all(|(l, p, _)| l.starts_with("eQ-3") && p.starts_with("eQ-3")),
        "{vendor:?}"
    );
}

#[test]
fn a_broken_model_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.json");
    let shipped = std::fs::read_to_string(shipped_model()).unwrap();
    for (text, expected) in [
        ("{\"format\": 1}".to_string(), "not a model file"),
        (
            shipped.replace("\"device/1\"", "\"device/0\""),
            "train it again",
        ),
        (
            shipped.replacen("{\"leaf\":0}", "{\"leaf\":999}", 1),
            "leaf names no class",
        ),
    ] {
        std::fs::write(&model, text).unwrap();
        let run = analyze(
            &[pcaps().join("iot-sentinel/Aria/Setup-C-8-STA.pcap")],
            &["--model", model.to_str().unwrap()],
        );
        assert_eq!(run.code(), Some(1), "{}", run.stderr());
        assert!(run.stderr().contains(expected), "{}", run.stderr());
    }
}
