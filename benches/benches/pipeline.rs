//! Micro-benchmarks of the per-packet path over real captures held in
//! memory (see `benches::fixtures` for which), in packets per second:
//!
//! - `decode`: `sensor::decode::decode` alone;
//! - `worker/warm`: one worker's whole per-packet path (decode, flow,
//!   extract, inventory batch and its application) in steady state: the
//!   worker has seen the packets before, and each iteration replays them
//!   later in time, so flows are updated rather than created;
//! - `worker/cold`: a new worker and inventory for every iteration, so
//!   every flow and device is created (and the worker finished).
//!
//! Run with `cargo bench -p benches --bench pipeline`; a short run:
//! `cargo bench -p benches --bench pipeline -- --warm-up-time 1 --measurement-time 2`.

use std::hint::black_box;

use benches::fixtures::{PacketSet, analyze_sensor, fixture_files};
use benches::timeline::NANOS_PER_SEC;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sensor::flow::FlowConfig;
use sensor::pipeline::Worker;

/// Packets held at most: enough for a varied mix, few enough that an
/// iteration stays short.
const MAX_PACKETS: usize = 200_000;

/// The flow settings of `mirador analyze`, with an idle timeout long enough
/// that replaying the set does not time its flows out.
fn flow_config(set: &PacketSet) -> FlowConfig {
    let offline = FlowConfig::offline();
    FlowConfig {
        idle_timeout: offline.idle_timeout.max(set.span_ns() / NANOS_PER_SEC + 60),
        ..offline
    }
}

fn pipeline(c: &mut Criterion) {
    let (files, source) = fixture_files();
    let set = PacketSet::load(&files, MAX_PACKETS);
    if set.is_empty() {
        eprintln!("pipeline: skipped: no packets found in {source}");
        return;
    }
    eprintln!(
        "pipeline: {} packets ({} kB) of {} captures from {source}",
        set.len(),
        set.bytes() / 1000,
        set.files
    );
    let flows = flow_config(&set);

    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(set.len() as u64));

    group.bench_function("decode", |b| {
        b.iter(|| {
            let mut decoded = 0u32;
            for p in set.packets(0) {
                decoded += u32::from(sensor::decode::decode(black_box(&p)).is_ok());
            }
            decoded
        })
    });

    let sensor = analyze_sensor(flows);
    let mut worker = Worker::new(0, 1, &sensor);
    let step = set.span_ns() + NANOS_PER_SEC;
    let mut shift = 0;
    for p in set.packets(shift) {
        worker.process(&p);
    }
    group.bench_function("worker/warm", |b| {
        b.iter(|| {
            shift += step;
            for p in set.packets(shift) {
                worker.process(black_box(&p));
            }
        })
    });

    group.bench_function("worker/cold", |b| {
        b.iter_batched_ref(
            || analyze_sensor(flows),
            |sensor| {
                let mut worker = Worker::new(0, 1, sensor);
                for p in set.packets(0) {
                    worker.process(black_box(&p));
                }
                worker.finish()
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
