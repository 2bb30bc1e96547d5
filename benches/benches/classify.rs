//! Classifying one device: the knowledge base's rules and the shipped
//! behavioural model over a device's evidence and behaviour, per device
//! (the budget: under 50 microseconds). Devices are those of the
//! IoT Sentinel fixtures in pcaps/, each analysed alone.
//!
//! - `classify/rules`: knowledge base only;
//! - `classify/rules+model`: what `analyze` does for each device;
//! - `classify/model`: the feature vector and the forests alone.
//!
//! Run with `cargo bench -p benches --bench classify`.

use std::hint::black_box;

use benches::fixtures::{analyze_sensor, workspace_root};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fingerprints::kb::KnowledgeBase;
use sensor::analysis::{classify, model};
use sensor::capture::merge::expand_inputs;
use sensor::flow::FlowConfig;
use sensor::inventory::Device;

fn devices() -> Vec<Device> {
    let dir = workspace_root().join("pcaps/iot-sentinel");
    let mut devices = Vec::new();
    for capture in expand_inputs(&[dir]).files {
        let sensor = analyze_sensor(FlowConfig::offline());
        sensor.analyze_files(&[capture], &());
        devices.extend(sensor.inventory.snapshot().devices);
    }
    devices
}

fn bench(c: &mut Criterion) {
    let devices = devices();
    let (Ok(kb), Ok(model)) = (
        KnowledgeBase::builtin(),
        classifiers::Model::from_json(classifiers::DEFAULT_MODEL),
    ) else {
        eprintln!("classify: skipped: the shipped knowledge base or model does not load");
        return;
    };
    eprintln!("classify: {} devices", devices.len());
    let mut group = c.benchmark_group("classify");
    group.throughput(Throughput::Elements(devices.len() as u64));
    group.bench_function("rules", |b| {
        b.iter(|| {
            devices
                .iter()
                .for_each(|d| drop(black_box(classify(d, &kb, None))))
        })
    });
    group.bench_function("rules+model", |b| {
        b.iter(|| {
            devices
                .iter()
                .for_each(|d| drop(black_box(classify(d, &kb, Some(&model)))))
        })
    });
    group.bench_function("model", |b| {
        b.iter(|| {
            devices
                .iter()
                .for_each(|d| drop(black_box(model::votes(&model, d, &kb.taxonomy))))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
