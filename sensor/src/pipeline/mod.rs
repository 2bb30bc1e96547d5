//! The wiring: sources -> workers -> inventory and events. Offline replay
//! and live capture run the same workers; only the source differs.

mod dispatch;
pub mod live;
mod worker;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::capture::{CaptureError, MergedFiles};
use crate::export::eve::EventOutput;
use crate::flow::FlowConfig;
use crate::inventory::Inventory;

pub use dispatch::shard;
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
pub trait RunObserver {
    fn progress(&self, _read: u64, _total: u64) {}
    fn error(&self, _error: &CaptureError) {}
}

impl Sensor {
    /// Reads capture files (merged in time order) through the workers.
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
        report_errors(&mut source);
        let mut count = 0u64;
        let mut each = |source: &MergedFiles, run: &mut dyn FnMut(&crate::capture::Packet<'_>)| {
            if let Some(p) = source.current() {
                run(&p);
                count += 1;
                if count % 65_536 == 0 {
                    let (read, total) = source.progress();
                    observer.progress(read, total);
                }
            }
        };
        let stats = if self.workers <= 1 {
            let mut worker = Worker::new(0, 1, self.flows, &self.inventory, self.events.as_ref());
            while source.advance() {
                each(&source, &mut |p| worker.process(p));
                report_errors(&mut source);
            }
            report_errors(&mut source);
            worker.finish()
        } else {
            std::thread::scope(|scope| {
                // Bounded (an array, no allocation per message) and never
                // full: it holds at most the batches in circulation.
                let (recycle_tx, recycle_rx) = crossbeam_channel::bounded(self.workers * 40);
                let mut senders = Vec::with_capacity(self.workers);
                let mut handles = Vec::with_capacity(self.workers);
                for id in 0..self.workers {
                    let (tx, rx) = crossbeam_channel::bounded::<dispatch::Batch>(32);
                    senders.push(tx);
                    let recycle = recycle_tx.clone();
                    handles.push(scope.spawn(move || {
                        let mut worker = Worker::new(
                            id,
                            self.workers,
                            self.flows,
                            &self.inventory,
                            self.events.as_ref(),
                        );
                        for batch in rx {
                            for p in batch.packets() {
                                worker.process(&p);
                            }
                            let _ = recycle.try_send(batch);
                        }
                        worker.finish()
                    }));
                }
                let mut dispatcher =
                    dispatch::Dispatcher::new(senders, recycle_rx, dispatch::WhenFull::Wait);
                while source.advance() {
                    each(&source, &mut |p| dispatcher.dispatch(p));
                    report_errors(&mut source);
                }
                report_errors(&mut source);
                dispatcher.finish();
                let mut total = WorkerStats::default();
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
