//! What the capture threads publish while they run, for readers on other
//! threads (the HTTP server's `/metrics`): each worker's counts, each
//! interface's drop counters, and how long the housekeeping stages take.
//!
//! Writers never wait: a worker publishes with `try_lock` at housekeeping
//! (never per packet), and when a reader holds the lock it publishes at
//! its next housekeeping instead. Readers copy and let go.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use prometheus::{Histogram, HistogramOpts, HistogramVec};

use super::WorkerStats;
use crate::capture::live::KernelStats;

/// What workers read when no interface is named: recorded captures.
pub const REPLAY: &str = "replay";

/// A stage of the housekeeping, timed once per run of it.
#[derive(Debug, Clone, Copy)]
#[repr(usize)]
pub enum Stage {
    /// Idle flows end (their events and last traffic go out).
    Expire,
    /// Active flows' traffic is credited to devices.
    Credit,
    /// The behaviour monitor takes the batch and runs the detectors.
    Monitor,
    /// The batch is applied to the shared inventory.
    Inventory,
    /// Buffered events are written out.
    Events,
    /// A reader's snapshot of the inventory, classification included.
    Snapshot,
}

impl Stage {
    const ALL: [Stage; 6] = [
        Stage::Expire,
        Stage::Credit,
        Stage::Monitor,
        Stage::Inventory,
        Stage::Events,
        Stage::Snapshot,
    ];

    fn name(self) -> &'static str {
        match self {
            Stage::Expire => "expire",
            Stage::Credit => "credit",
            Stage::Monitor => "monitor",
            Stage::Inventory => "inventory",
            Stage::Events => "events",
            Stage::Snapshot => "snapshot",
        }
    }
}

/// An interface's drops: by the kernel (or libpcap), and by mirador when a
/// worker fell behind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InterfaceDrops {
    pub kernel: KernelStats,
    pub by_mirador: u64,
}

/// Figures published by the capture threads.
pub struct Telemetry {
    /// Each worker's counts at its last housekeeping, by worker id.
    workers: Mutex<BTreeMap<usize, WorkerStats>>,
    /// The input each worker reads (an interface), by worker id; workers
    /// not named read recorded captures.
    inputs: Mutex<BTreeMap<usize, String>>,
    /// Each capture source's drops, by (interface, source id): an
    /// interface has one source per worker with AF_PACKET.
    drops: Mutex<BTreeMap<(String, usize), InterfaceDrops>>,
    /// Seconds per housekeeping stage, and each stage's histogram, looked
    /// up once: observing one is atomic, without a lock.
    stages: HistogramVec,
    by_stage: Vec<Histogram>,
}

impl Default for Telemetry {
    fn default() -> Telemetry {
        // From 10 µs to 2.6 s: a stage is a few hundred microseconds on a
        // busy worker, and a snapshot of a large inventory takes seconds.
        let buckets = prometheus::exponential_buckets(1e-5, 4.0, 10).unwrap_or_default();
        let opts = HistogramOpts::new(
            "mirador_stage_duration_seconds",
            "Time spent in each housekeeping stage (once per batch, never per packet).",
        )
        .buckets(buckets);
        let stages = HistogramVec::new(opts, &["stage"])
            .unwrap_or_else(|_| unreachable!("constant options are valid"));
        let by_stage = Stage::ALL
            .iter()
            .map(|s| stages.with_label_values(&[s.name()]))
            .collect();
        Telemetry {
            workers: Mutex::default(),
            inputs: Mutex::default(),
            drops: Mutex::default(),
            stages,
            by_stage,
        }
    }
}

impl Telemetry {
    /// Names the input worker `id` reads.
    pub fn name_input(&self, id: usize, input: &str) {
        if let Ok(mut inputs) = self.inputs.lock() {
            inputs.insert(id, input.to_string());
        }
    }

    /// A worker's counts so far; with `wait` false, skipped when a reader
    /// holds the lock (the next housekeeping publishes them).
    pub fn publish(&self, id: usize, stats: WorkerStats, wait: bool) {
        let guard = if wait {
            self.workers.lock().ok()
        } else {
            self.workers.try_lock().ok()
        };
        if let Some(mut workers) = guard {
            workers.insert(id, stats);
        }
    }

    /// A capture source's drop counters so far (totals, not increments).
    pub fn publish_drops(&self, interface: &str, source: usize, drops: InterfaceDrops) {
        if let Ok(mut all) = self.drops.try_lock() {
            all.insert((interface.to_string(), source), drops);
        }
    }

    /// Times `f` as `stage`.
    pub fn time<T>(&self, stage: Stage, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let result = f();
        self.by_stage[stage as usize].observe(started.elapsed().as_secs_f64());
        result
    }

    /// Counts summed per input, named as [`name_input`](Self::name_input)
    /// named them ([`REPLAY`] otherwise).
    pub fn by_input(&self) -> BTreeMap<String, WorkerStats> {
        let workers = self.workers.lock().map(|w| w.clone()).unwrap_or_default();
        let inputs = self.inputs.lock().map(|i| i.clone()).unwrap_or_default();
        let mut totals: BTreeMap<String, WorkerStats> = BTreeMap::new();
        for (id, stats) in &workers {
            let input = inputs.get(id).map_or(REPLAY, String::as_str);
            totals.entry(input.to_string()).or_default().add(stats);
        }
        totals
    }

    /// Drops summed per interface.
    pub fn drops(&self) -> BTreeMap<String, InterfaceDrops> {
        let all = self.drops.lock().map(|d| d.clone()).unwrap_or_default();
        let mut totals: BTreeMap<String, InterfaceDrops> = BTreeMap::new();
        for ((interface, _), d) in all {
            let total = totals.entry(interface).or_default();
            total.kernel.received += d.kernel.received;
            total.kernel.dropped += d.kernel.dropped;
            total.by_mirador += d.by_mirador;
        }
        totals
    }

    /// The stage histogram, to be gathered with the other metrics.
    pub fn stages(&self) -> &HistogramVec {
        &self.stages
    }
}
