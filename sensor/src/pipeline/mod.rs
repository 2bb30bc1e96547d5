//! The wiring: sources -> workers -> inventory and events. Offline replay
//! and live capture run the same workers; only the source differs.

#[cfg(feature = "libpcap")]
mod dispatch;
pub mod live;
pub mod shard;
mod worker;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::capture::{CaptureError, MergedFiles};
use crate::export::eve::EventOutput;
use crate::flow::FlowConfig;
use crate::inventory::Inventory;

pub use worker::{Worker, WorkerStats};

/// Everything the packet path shares: settings, the inventory it fills,
/// and where events go.
pub struct Sensor {
    pub workers: usize,
    pub flows: FlowConfig,
    pub inventory: Inventory,
    pub events: Option<EventOutput>,
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

impl Sensor {
    /// Reads capture files (merged in time order) through the workers.
    ///
    /// Each worker reads the whole stream and keeps its share of it: the
    /// packets its flows own (see [`shard`]). Reading twice costs less than
    /// handing packets from one thread to another, which copies each packet
    /// and adds a thread to the cores; the first worker reports progress
    /// and errors for all.
    pub fn analyze_files(&self, files: &[PathBuf], observer: &dyn RunObserver) -> RunReport {
        let started = Instant::now();
        let (stats, errors) = if self.workers <= 1 {
            self.read_share(files, 0, observer)
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..self.workers)
                    .map(|id| scope.spawn(move || self.read_share(files, id, observer)))
                    .collect();
                let mut total = WorkerStats::default();
                let mut errors = Vec::new();
                for (id, handle) in handles.into_iter().enumerate() {
                    if let Ok((stats, worker_errors)) = handle.join() {
                        total.add(&stats);
                        if id == 0 {
                            errors = worker_errors;
                        }
                    }
                }
                (total, errors)
            })
        };
        RunReport {
            stats,
            errors,
            elapsed: started.elapsed(),
        }
    }

    /// One worker's pass over the files: its share of the packets, and the
    /// input errors (reported to `observer` by worker 0 only).
    fn read_share(
        &self,
        files: &[PathBuf],
        id: usize,
        observer: &dyn RunObserver,
    ) -> (WorkerStats, Vec<CaptureError>) {
        let reports = id == 0;
        let mut source = MergedFiles::new(files);
        let mut worker = Worker::new(
            id,
            self.workers,
            self.flows,
            &self.inventory,
            self.events.as_ref(),
        );
        let mut errors = Vec::new();
        let report = |source: &mut MergedFiles, errors: &mut Vec<CaptureError>| {
            for e in source.take_errors() {
                if reports {
                    observer.error(&e);
                }
                errors.push(e);
            }
        };
        let mut count = 0u64;
        report(&mut source, &mut errors);
        while source.advance() {
            if let Some(p) = source.current() {
                worker.process_share(&p);
                count += 1;
                if reports && count % 65_536 == 0 {
                    let (read, total) = source.progress();
                    observer.progress(read, total);
                }
            }
            report(&mut source, &mut errors);
        }
        report(&mut source, &mut errors);
        if reports {
            let (read, total) = source.progress();
            observer.progress(read.max(total), total);
        }
        (worker.finish(), errors)
    }
}
