//! Live capture. With AF_PACKET (the default), each worker reads its own
//! socket of the interface's fanout group, so the kernel does the sharding.
//! With libpcap (feature `libpcap`, for BPF filters), one reader per
//! interface spreads packets over the workers, dropping (and counting)
//! rather than stalling when a worker falls behind.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ScopedJoinHandle;
use std::time::{Duration, Instant};

use super::telemetry::InterfaceDrops;
use super::{Sensor, Worker, WorkerStats};
use crate::capture::Timestamp;
use crate::capture::live::{AfPacketSource, KernelStats, LiveError, fanout_group};

/// How long a worker waits for packets before doing its housekeeping.
const READ_TIMEOUT: Duration = Duration::from_millis(200);
/// libpcap readers publish their drop counters this often, looking at the
/// clock every so many packets (and whenever idle).
#[cfg(feature = "libpcap")]
const PUBLISH_EVERY: Duration = Duration::from_secs(1);
#[cfg(feature = "libpcap")]
const PUBLISH_CHECK_PACKETS: u32 = 4096;

/// Where live packets come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend<'a> {
    /// AF_PACKET sockets with PACKET_FANOUT; no system library needed.
    AfPacket,
    /// libpcap, with an optional BPF filter expression.
    #[cfg(feature = "libpcap")]
    Libpcap { filter: Option<&'a str> },
    #[doc(hidden)]
    #[cfg(not(feature = "libpcap"))]
    _Unused(std::marker::PhantomData<&'a ()>),
}

/// How a live run is steered from outside.
pub struct LiveOptions<'a> {
    pub interfaces: &'a [String],
    pub backend: Backend<'a>,
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
    /// Kernel (or libpcap) counters per interface.
    pub kernel: Vec<(String, KernelStats)>,
    /// Packets mirador dropped because a worker fell behind.
    pub dropped: u64,
    /// Sources that failed while capturing.
    pub errors: Vec<LiveError>,
    pub elapsed: Duration,
}

impl LiveReport {
    fn add_kernel(&mut self, interface: &str, k: KernelStats) {
        match self.kernel.iter_mut().find(|(name, _)| name == interface) {
            Some((_, total)) => {
                total.received += k.received;
                total.dropped += k.dropped;
            }
            None => self.kernel.push((interface.to_string(), k)),
        }
    }
}

impl Sensor {
    /// Captures until stopped. Every source is opened before any packet is
    /// read, so a missing interface or capability fails at once.
    pub fn capture_live(&self, options: &LiveOptions<'_>) -> Result<LiveReport, LiveError> {
        match options.backend {
            #[cfg(feature = "libpcap")]
            Backend::Libpcap { filter } => self.capture_libpcap(options, filter),
            _ => self.capture_fanout(options),
        }
    }

    fn capture_fanout(&self, options: &LiveOptions<'_>) -> Result<LiveReport, LiveError> {
        let started = Instant::now();
        let mut sources = Vec::new();
        for (index, interface) in options.interfaces.iter().enumerate() {
            for _ in 0..self.workers {
                sources.push(AfPacketSource::open(
                    interface,
                    fanout_group(index),
                    READ_TIMEOUT,
                )?);
            }
        }
        let total_workers = sources.len();
        let stop = options.stop;
        let mut report = std::thread::scope(|scope| {
            let handles: Vec<_> = sources
                .into_iter()
                .enumerate()
                .map(|(id, mut source)| {
                    scope.spawn(move || {
                        self.telemetry.name_input(id, source.interface());
                        let mut worker = Worker::new(id, total_workers, self);
                        let mut error = None;
                        let mut published = 0;
                        while !stop.load(Ordering::Relaxed) {
                            match source.next_packet() {
                                Ok(Some(packet)) => worker.process(&packet),
                                Ok(None) => worker.tick(Timestamp::now()),
                                Err(e) => {
                                    error = Some(e);
                                    break;
                                }
                            }
                            // The kernel's counters with the worker's own.
                            if worker.housekeepings() != published {
                                published = worker.housekeepings();
                                let kernel = source.kernel_stats();
                                self.telemetry.publish_drops(
                                    source.interface(),
                                    id,
                                    InterfaceDrops {
                                        kernel,
                                        by_mirador: 0,
                                    },
                                );
                            }
                        }
                        let kernel = source.kernel_stats();
                        (
                            worker.finish(),
                            source.interface().to_string(),
                            kernel,
                            error,
                        )
                    })
                })
                .collect();
            self.supervise(options, started, &handles);
            let mut report = LiveReport::empty();
            for (stats, interface, kernel, error) in
                handles.into_iter().filter_map(|h| h.join().ok())
            {
                report.stats.add(&stats);
                report.add_kernel(&interface, kernel);
                report.errors.extend(error);
            }
            report
        });
        report.elapsed = started.elapsed();
        Ok(report)
    }

    #[cfg(feature = "libpcap")]
    fn capture_libpcap(
        &self,
        options: &LiveOptions<'_>,
        filter: Option<&str>,
    ) -> Result<LiveReport, LiveError> {
        use super::dispatch::{Batch, Dispatcher, WhenFull, work_on_batches};
        use crate::capture::libpcap::PcapSource;
        use crate::flow::Shares;

        let started = Instant::now();
        let sources = options
            .interfaces
            .iter()
            .map(|interface| PcapSource::open(interface, filter))
            .collect::<Result<Vec<_>, _>>()?;
        let stop = options.stop;
        let mut report = std::thread::scope(|scope| {
            // Bounded (an array, no allocation per message) and large enough
            // for every batch in circulation.
            let (recycle_tx, recycle_rx) = crossbeam_channel::bounded::<Batch>(self.workers * 80);
            let mut senders = Vec::with_capacity(self.workers);
            let mut workers = Vec::with_capacity(self.workers);
            // Every worker reads every interface.
            let inputs = options.interfaces.join("+");
            for id in 0..self.workers {
                self.telemetry.name_input(id, &inputs);
                let (tx, rx) = crossbeam_channel::bounded::<Batch>(64);
                senders.push(tx);
                let (worker, recycle) = (self.worker(id), recycle_tx.clone());
                workers.push(
                    scope.spawn(move || work_on_batches(worker, rx, recycle, Some(READ_TIMEOUT))),
                );
            }
            let readers: Vec<_> = sources
                .into_iter()
                .enumerate()
                .map(|(reader, mut source)| {
                    let to_workers = senders.iter().cloned().map(Some).collect();
                    let mut dispatcher = Dispatcher::new(
                        Shares::even(self.workers),
                        to_workers,
                        recycle_rx.clone(),
                        WhenFull::Drop,
                    );
                    scope.spawn(move || {
                        let mut error = None;
                        let mut published = Instant::now();
                        let mut since_check = 0u32;
                        while !stop.load(Ordering::Relaxed) {
                            match source.next_packet() {
                                Ok(Some(packet)) => {
                                    // Every worker has a queue: nothing comes back.
                                    dispatcher.dispatch(&packet);
                                    since_check += 1;
                                }
                                Ok(None) => {
                                    dispatcher.flush();
                                    std::thread::sleep(Duration::from_millis(1));
                                    since_check = PUBLISH_CHECK_PACKETS;
                                }
                                Err(e) => {
                                    error = Some(e);
                                    break;
                                }
                            }
                            // The clock is read every so many packets, and
                            // the counters published once a second.
                            if since_check >= PUBLISH_CHECK_PACKETS {
                                since_check = 0;
                                if published.elapsed() >= PUBLISH_EVERY {
                                    published = Instant::now();
                                    let drops = InterfaceDrops {
                                        kernel: source.kernel_stats(),
                                        by_mirador: dispatcher.dropped,
                                    };
                                    self.telemetry
                                        .publish_drops(source.interface(), reader, drops);
                                }
                            }
                        }
                        let kernel = source.kernel_stats();
                        (
                            dispatcher.finish(),
                            source.interface().to_string(),
                            kernel,
                            error,
                        )
                    })
                })
                .collect();
            drop(senders);
            self.supervise(options, started, &readers);
            let mut report = LiveReport::empty();
            for (dropped, interface, kernel, error) in
                readers.into_iter().filter_map(|h| h.join().ok())
            {
                report.dropped += dropped;
                report.add_kernel(&interface, kernel);
                report.errors.extend(error);
            }
            for stats in workers.into_iter().filter_map(|h| h.join().ok()) {
                report.stats.add(&stats);
            }
            report
        });
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// Watches a run from the calling thread: stops it after the duration or
    /// on request, and publishes the inventory at each checkpoint.
    fn supervise<T>(
        &self,
        options: &LiveOptions<'_>,
        started: Instant,
        threads: &[ScopedJoinHandle<'_, T>],
    ) {
        let mut last_checkpoint = Instant::now();
        while !options.stop.load(Ordering::Relaxed) && threads.iter().any(|h| !h.is_finished()) {
            std::thread::sleep(Duration::from_millis(100));
            if options.duration.is_some_and(|d| started.elapsed() >= d) {
                options.stop.store(true, Ordering::Relaxed);
            }
            if last_checkpoint.elapsed() >= options.checkpoint_every {
                (options.checkpoint)(self);
                last_checkpoint = Instant::now();
            }
        }
        options.stop.store(true, Ordering::Relaxed);
    }
}

impl LiveReport {
    fn empty() -> LiveReport {
        LiveReport {
            stats: WorkerStats::default(),
            kernel: Vec::new(),
            dropped: 0,
            errors: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }
}
