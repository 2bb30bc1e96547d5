//! Live capture: one worker thread per socket of each interface's fanout
//! group, each running the same per-packet path as offline replay.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{Sensor, Worker, WorkerStats};
use crate::capture::Timestamp;
use crate::capture::live::{AfPacketSource, KernelStats, LiveError, fanout_group};

/// How long a socket read waits before the worker does its housekeeping.
const READ_TIMEOUT: Duration = Duration::from_millis(200);

/// How a live run is steered from outside.
pub struct LiveOptions<'a> {
    pub interfaces: &'a [String],
    /// Set (by a signal handler) to stop the capture.
    pub stop: &'a AtomicBool,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Called every `checkpoint_every` while capture runs, to publish the
    /// inventory.
    pub checkpoint_every: Duration,
    pub checkpoint: &'a (dyn Fn(&Sensor) + Sync),
}

/// What a live run did.
#[derive(Debug)]
pub struct LiveReport {
    pub stats: WorkerStats,
    /// Kernel counters per interface.
    pub kernel: Vec<(String, KernelStats)>,
    /// Sockets that failed while capturing.
    pub errors: Vec<LiveError>,
    pub elapsed: Duration,
}

impl Sensor {
    /// Captures until stopped. All sockets are opened before any packet is
    /// read, so a missing interface or capability fails at once.
    pub fn capture_live(&self, options: &LiveOptions<'_>) -> Result<LiveReport, LiveError> {
        let started = Instant::now();
        let mut sources = Vec::new();
        for (index, interface) in options.interfaces.iter().enumerate() {
            for _ in 0..self.workers {
                sources.push(AfPacketSource::open(interface, fanout_group(index), READ_TIMEOUT)?);
            }
        }
        let total_workers = sources.len();
        let stop = options.stop;
        let results = std::thread::scope(|scope| {
            let handles: Vec<_> = sources
                .into_iter()
                .enumerate()
                .map(|(id, mut source)| {
                    scope.spawn(move || {
                        let mut worker =
                            Worker::new(id, total_workers, self.flows, &self.inventory, self.events.as_ref());
                        let mut error = None;
                        while !stop.load(Ordering::Relaxed) {
                            match source.next() {
                                Ok(Some(packet)) => worker.process(&packet),
                                Ok(None) => worker.tick(Timestamp::now()),
                                Err(e) => {
                                    error = Some(e);
                                    break;
                                }
                            }
                        }
                        let kernel = source.kernel_stats();
                        (worker.finish(), source.interface().to_string(), kernel, error)
                    })
                })
                .collect();
            let mut last_checkpoint = Instant::now();
            while !stop.load(Ordering::Relaxed) && handles.iter().any(|h| !h.is_finished()) {
                std::thread::sleep(Duration::from_millis(100));
                if options.duration.is_some_and(|d| started.elapsed() >= d) {
                    stop.store(true, Ordering::Relaxed);
                }
                if last_checkpoint.elapsed() >= options.checkpoint_every {
                    (options.checkpoint)(self);
                    last_checkpoint = Instant::now();
                }
            }
            stop.store(true, Ordering::Relaxed);
            handles.into_iter().filter_map(|h| h.join().ok()).collect::<Vec<_>>()
        });
        let mut report = LiveReport {
            stats: WorkerStats::default(),
            kernel: Vec::new(),
            errors: Vec::new(),
            elapsed: started.elapsed(),
        };
        for (stats, interface, kernel, error) in results {
            report.stats.add(&stats);
            match report.kernel.iter_mut().find(|(name, _)| *name == interface) {
                Some((_, total)) => {
                    total.received += kernel.received;
                    total.dropped += kernel.dropped;
                }
                None => report.kernel.push((interface, kernel)),
            }
            report.errors.extend(error);
        }
        Ok(report)
    }
}
