//! The wiring: sources -> workers -> inventory and events. Offline replay
//! and live capture run the same workers; only the source differs.

mod dispatch;
pub mod live;
pub mod shard;
pub mod telemetry;
mod worker;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::anomaly::{AnomalyReport, Monitor};
use crate::capture::{CaptureError, MergedFiles, Packet};
use crate::export::eve::EventOutput;
use crate::extract::ExtractConfig;
use crate::flow::{FlowConfig, Shares};
use crate::inventory::{Inventory, InventorySnapshot};
use dispatch::{Batch, Dispatcher, WhenFull};
use fingerprints::proto::Knowledge;
use telemetry::Telemetry;

pub use worker::{Worker, WorkerStats};

/// Everything the packet path shares: settings, the knowledge parsers
/// match against, the inventory it fills, and where events go.
pub struct Sensor {
    pub workers: usize,
    pub flows: FlowConfig,
    pub extract: ExtractConfig,
    pub knowledge: Knowledge,
    pub inventory: Inventory,
    /// Baselines and anomaly detection (`None`: off).
    pub monitor: Option<Monitor>,
    pub events: Option<EventOutput>,
    /// What the capture threads publish for readers while they run.
    pub telemetry: Telemetry,
}

/// What an offline run did.
#[derive(Debug)]
pub struct RunReport {
    pub stats: WorkerStats,
    pub errors: Vec<CaptureError>,
    pub elapsed: Duration,
}

/// A run's figures, for people (the closing summary) and for machines
/// (the inventory document's `stats`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunSummary {
    /// Capture files or interfaces read.
    pub inputs: Vec<String>,
    pub elapsed_seconds: f64,
    #[serde(flatten)]
    pub counts: WorkerStats,
    /// Frames the kernel (or libpcap) dropped before mirador saw them.
    pub dropped_by_kernel: u64,
    /// Frames mirador dropped because a worker fell behind.
    pub dropped_by_mirador: u64,
    /// Inputs that could not be read (whole or in part), each naming the input.
    pub input_errors: Vec<String>,
}

/// Callbacks of a run: progress as (bytes read, bytes in all), and each
/// input error as soon as it happens.
pub trait RunObserver: Sync {
    fn progress(&self, _read: u64, _total: u64) {}
    fn error(&self, _error: &CaptureError) {}
}

/// No one watching: errors stay in the run's report.
impl RunObserver for () {}

impl Sensor {
    /// One worker, no events, default caps, no p0f signatures (tests,
    /// benchmarks).
    pub fn new(flows: FlowConfig, inventory: Inventory) -> Sensor {
        Sensor {
            workers: 1,
            flows,
            extract: ExtractConfig::default(),
            knowledge: Knowledge::default(),
            inventory,
            monitor: None,
            events: None,
            telemetry: Telemetry::default(),
        }
    }

    /// A copy of the inventory, each device and host judged for trust
    /// against `anomalies` (the monitor's report, when there is one).
    pub fn judged_snapshot(&self, anomalies: Option<&AnomalyReport>) -> InventorySnapshot {
        let mut snapshot = self.inventory.snapshot();
        crate::trust::assess(&mut snapshot, anomalies);
        snapshot
    }

    /// Worker `id` of this sensor's workers.
    pub fn worker(&self, id: usize) -> Worker<'_> {
        Worker::new(id, self.workers, self)
    }

    /// Reads capture files (merged in time order) through the workers.
    ///
    /// The reading thread is worker 0: it keeps its own share of the flows
    /// and hands the other workers theirs in batches. Reading costs it about
    /// a third of what processing a packet costs, so its share is smaller,
    /// and with two workers both cores carry the same load.
    pub fn analyze_files(&self, files: &[PathBuf], observer: &dyn RunObserver) -> RunReport {
        let started = Instant::now();
        let mut source = MergedFiles::new(files);
        let mut errors = Vec::new();
        let mut report_errors = |source: &mut MergedFiles| {
            for e in source.take_errors() {
                observer.error(&e);
                errors.push(e);
            }
        };
        let mut count = 0u64;
        let mut read_all = |source: &mut MergedFiles, process: &mut dyn FnMut(&Packet<'_>)| {
            report_errors(source);
            while source.advance() {
                if let Some(p) = source.current() {
                    process(&p);
                    count += 1;
                    if count % 65_536 == 0 {
                        let (read, total) = source.progress();
                        observer.progress(read, total);
                    }
                }
                report_errors(source);
            }
            report_errors(source);
        };
        let stats = if self.workers <= 1 {
            let mut worker = self.worker(0);
            read_all(&mut source, &mut |p| worker.process(p));
            worker.finish()
        } else {
            std::thread::scope(|scope| {
                let (recycle_tx, recycle_rx) = crossbeam_channel::bounded(self.workers * 40);
                let mut senders = vec![None];
                let mut handles = Vec::with_capacity(self.workers);
                for id in 1..self.workers {
                    let (tx, rx) = crossbeam_channel::bounded::<Batch>(32);
                    senders.push(Some(tx));
                    let recycle = recycle_tx.clone();
                    let worker = self.worker(id);
                    handles.push(
                        scope.spawn(move || dispatch::work_on_batches(worker, rx, recycle, None)),
                    );
                }
                let shares = Shares::weighted(&reading_worker_weights(self.workers));
                let mut dispatcher = Dispatcher::new(shares, senders, recycle_rx, WhenFull::Wait);
                let mut worker = self.worker(0);
                read_all(&mut source, &mut |p| {
                    if dispatcher.dispatch(p) {
                        worker.process(p);
                    } else {
                        worker.stream_time(p.ts);
                    }
                });
                dispatcher.finish();
                let mut total = worker.finish();
                for h in handles {
                    if let Ok(stats) = h.join() {
                        total.add(&stats);
                    }
                }
                total
            })
        };
        let (read, total) = source.progress();
        observer.progress(read.max(total), total);
        RunReport {
            stats,
            errors,
            elapsed: started.elapsed(),
        }
    }
}

/// Shares of the flows when worker 0 also reads: reading a packet costs
/// about a third of processing it, so worker 0 takes less, and none once
/// reading alone keeps it busy (four workers and more).
fn reading_worker_weights(workers: usize) -> Vec<f64> {
    let others = (workers - 1) as f64;
    let reader = ((1.0 - others / 3.0) / workers as f64).max(0.0);
    let mut weights = vec![(1.0 - reader) / others; workers];
    weights[0] = reader;
    weights
}
