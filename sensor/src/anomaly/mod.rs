//! Behaviour over time: baselines learnt online per device and per
//! category, detectors that judge each flow, binding and finding against
//! them, and the correlation of what they raise into ranked incidents.
//!
//! Workers hand over what their inventory batch holds (flows opened and
//! answered, address bindings, findings, traffic) each time they apply it.
//! The monitor merges every worker's records in time order up to the
//! earliest worker's clock, so the detectors see one stream, in the same
//! order whatever the number of workers. It runs on flows and bindings,
//! never per packet.
//!
//! One detector, one module: `scan` (host sweeps by Threshold Random Walk,
//! vertical scans, Telnet sweeps), `flood` (SYN floods, reflection),
//! `beacon` (periodic calls home), `device` (each device's baseline: new
//! peers, services and protocols, lateral movement, OT roles and writes,
//! identity drift, volume, silence), `spoof` (ARP/NDP conflicts, gateway
//! impersonation, rogue DHCP servers), `unusual` (a streaming model of
//! flow shapes, Half-Space Trees with a calibrated threshold). `incident`
//! correlates and ranks.

mod beacon;
mod config;
mod device;
mod flood;
mod incident;
mod record;
mod report;
mod scan;
mod spoof;
mod table;
mod unusual;

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

pub use config::AnomalyConfig;
pub use device::DeviceBaseline;
pub use incident::{CorrelationCounts, Incident, Status};
pub use report::{Anomaly, AnomalyKind, Severity, Subject};

use crate::capture::Timestamp;
use crate::export::eve::EventBuffer;
use crate::inventory::{Inventory, InventoryBatch};
use fingerprints::MacAddr;
use record::{Record, Timed};
use report::Raised;

/// Records waiting beyond this many are processed whatever the clocks say
/// (a worker that stopped sending would otherwise hold them all).
const MAX_PENDING: usize = 1 << 20;

/// The behaviour monitor shared by the workers.
pub struct Monitor {
    config: AnomalyConfig,
    state: Mutex<State>,
}

struct State {
    /// Each worker's stream time at its last submission (MAX: finished).
    clocks: Vec<Timestamp>,
    pending: Vec<Timed>,
    /// The records being processed (a buffer kept for its capacity).
    due: Vec<Timed>,
    /// Records up to this time were processed.
    watermark: Timestamp,
    /// The latest record time processed.
    latest: Timestamp,
    counters: MonitorCounters,
    scan: scan::ScanDetector,
    flood: flood::FloodDetector,
    beacon: beacon::BeaconDetector,
    devices: device::DeviceDetector,
    spoof: spoof::SpoofDetector,
    unusual: unusual::UnusualFlowDetector,
    correlator: incident::Correlator,
}

/// What the monitor read and dropped.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct MonitorCounters {
    pub records: u64,
    /// Records older than what was already processed (captures out of
    /// time order): processed at once.
    pub late_records: u64,
    /// Records processed before every worker's clock passed them (too many
    /// waiting).
    pub forced_records: u64,
    /// Devices tracked now.
    pub devices_tracked: usize,
    /// Entries dropped from the detectors' tables for their caps.
    pub evicted: u64,
    /// Scan contacts not followed because too many waited for an answer.
    pub contacts_dropped: u64,
    /// Ended flows the streaming model scored.
    pub flows_scored: u64,
    /// Its alarm threshold, calibrated on the learning period's scores
    /// (absent while it learns).
    pub unusual_flow_threshold: Option<f64>,
}

/// The monitor's results for the inventory document.
#[derive(Debug, Clone, Serialize)]
pub struct AnomalyReport {
    pub counts: CorrelationCounts,
    pub by_type: BTreeMap<AnomalyKind, u64>,
    pub by_severity: BTreeMap<Severity, u64>,
    /// Both at once: `{"port_scan": {"medium": 1}}`.
    pub by_type_and_severity: BTreeMap<AnomalyKind, BTreeMap<Severity, u64>>,
    pub monitor: MonitorCounters,
    /// Highest priority first.
    pub incidents: Vec<Incident>,
    /// In the order they were raised (the first 10,000).
    pub anomalies: Vec<Anomaly>,
}

impl Monitor {
    pub fn new(config: AnomalyConfig, workers: usize) -> Monitor {
        Monitor {
            state: Mutex::new(State {
                clocks: vec![Timestamp::default(); workers.max(1)],
                pending: Vec::new(),
                due: Vec::new(),
                watermark: Timestamp::default(),
                latest: Timestamp::default(),
                counters: MonitorCounters::default(),
                scan: scan::ScanDetector::new(&config),
                flood: flood::FloodDetector::new(&config),
                beacon: beacon::BeaconDetector::new(&config),
                devices: device::DeviceDetector::new(&config),
                spoof: spoof::SpoofDetector::new(&config),
                unusual: unusual::UnusualFlowDetector::new(&config),
                correlator: incident::Correlator::default(),
            }),
            config,
        }
    }

    pub fn config(&self) -> &AnomalyConfig {
        &self.config
    }

    /// Takes what `batch` holds (call it before the inventory applies the
    /// batch) and runs the detectors over every worker's records up to the
    /// earliest worker clock. `clock` is the stream time `worker` has
    /// reached; `None` when it has finished.
    pub fn submit(
        &self,
        worker: usize,
        clock: Option<Timestamp>,
        batch: &InventoryBatch,
        inventory: &Inventory,
        events: &mut EventBuffer<'_>,
    ) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let s = &mut *state;
        let before = s.pending.len();
        record::read_batch(batch, &mut s.pending);
        s.counters.records += (s.pending.len() - before) as u64;
        if let Some(c) = s.clocks.get_mut(worker) {
            *c = clock.unwrap_or(Timestamp(u64::MAX));
        }
        let watermark = s.clocks.iter().copied().min().unwrap_or_default();
        let finished = watermark == Timestamp(u64::MAX);
        let forced = s.pending.len() > MAX_PENDING;
        if watermark <= s.watermark && !forced && !finished {
            return;
        }
        // Records of equal time and kind differ in their key's hash, so an
        // unstable sort orders them as a stable one would.
        s.pending.sort_unstable_by_key(Timed::sort_key);
        let due = s.pending.partition_point(|t| t.ts <= watermark);
        let ready = if forced || finished {
            s.pending.len()
        } else {
            due
        };
        if forced {
            s.counters.forced_records += (s.pending.len() - due) as u64;
        }
        let mut records = std::mem::take(&mut s.due);
        records.extend(s.pending.drain(..ready));
        let category = |mac: MacAddr| inventory.category(mac).map(|(c, _)| c);
        let mut raised = Vec::new();
        for Timed { ts, record, .. } in &records {
            if *ts < s.watermark {
                s.counters.late_records += 1;
            }
            s.latest = s.latest.max(*ts);
            s.process(*ts, record, &self.config, &category, &mut raised);
        }
        records.clear();
        s.due = records;
        s.watermark = s.watermark.max(if finished { s.latest } else { watermark });
        let now = if finished {
            Timestamp(u64::MAX)
        } else {
            s.watermark
        };
        s.scan.tick(now, &self.config, &mut raised);
        s.devices.tick(s.watermark, &self.config, &mut raised);
        let window = self.config.incident_window * Timestamp::NANOS_PER_SEC;
        for r in raised {
            let subject = r.subject;
            let outcome = s.correlator.raise(r, window, || {
                subject.mac.and_then(|m| inventory.category(m))
            });
            if let Some(i) = &outcome.opened {
                events.incident(i);
            }
            if let Some(a) = &outcome.anomaly {
                events.anomaly(a);
            }
        }
        let closed = if finished {
            s.correlator.close_all()
        } else {
            s.correlator.close_quiet(s.watermark, window)
        };
        closed.iter().for_each(|i| events.incident(i));
    }

    /// Anomalies, incidents and counts so far.
    pub fn report(&self) -> Option<AnomalyReport> {
        let s = self.state.lock().ok()?;
        let mut monitor = s.counters;
        monitor.devices_tracked = s.devices.tracked();
        monitor.evicted = s.scan.evicted()
            + s.flood.evicted()
            + s.beacon.evicted()
            + s.devices.evicted()
            + s.spoof.evicted()
            + s.unusual.evicted();
        monitor.contacts_dropped = s.scan.pending_dropped;
        monitor.flows_scored = s.unusual.scored;
        monitor.unusual_flow_threshold = s.unusual.threshold();
        let by_type_and_severity = s.correlator.by_kind_and_severity.clone();
        let mut by_severity: BTreeMap<Severity, u64> = BTreeMap::new();
        for (severity, n) in by_type_and_severity.values().flatten() {
            *by_severity.entry(*severity).or_default() += n;
        }
        Some(AnomalyReport {
            counts: s.correlator.counts,
            by_type: by_type_and_severity
                .iter()
                .map(|(kind, counts)| (*kind, counts.values().sum()))
                .collect(),
            by_severity,
            by_type_and_severity,
            monitor,
            incidents: s.correlator.incidents(),
            anomalies: s.correlator.anomalies.clone(),
        })
    }

    /// Every device's baseline, serialisable (for persistence).
    pub fn baselines(&self) -> Vec<(MacAddr, DeviceBaseline)> {
        let Ok(s) = self.state.lock() else {
            return Vec::new();
        };
        let mut all: Vec<(MacAddr, DeviceBaseline)> = s
            .devices
            .baselines()
            .map(|(m, b)| (*m, b.clone()))
            .collect();
        all.sort_by_key(|(m, _)| *m);
        all
    }
}

impl State {
    fn process(
        &mut self,
        ts: Timestamp,
        record: &Record,
        config: &AnomalyConfig,
        category: &dyn Fn(MacAddr) -> Option<String>,
        out: &mut Vec<Raised>,
    ) {
        match record {
            Record::Opened(c) => {
                if let Some(mac) = c
                    .client_mac
                    .filter(|_| c.protocol == 17 && (c.client_port, c.server_port) == (67, 68))
                {
                    self.spoof.dhcp_server(ts, mac, c.client, c.flow_id, out);
                }
                self.scan.opened(ts, c);
                self.flood.opened(ts, c, config, out);
                let remote = !crate::inventory::is_local_network(c.server);
                self.beacon.opened(ts, c, remote, config, out);
                self.devices.contact(ts, c, false, config, category, out);
            }
            Record::Answered(c) => {
                if let Some(mac) = c
                    .server_mac
                    .filter(|_| c.protocol == 17 && (c.server_port, c.client_port) == (67, 68))
                {
                    self.spoof.dhcp_server(ts, mac, c.server, c.flow_id, out);
                }
                self.scan.answered(ts, c, config, out);
                self.flood.answered(c);
                if c.tcp_flags & crate::flow::tcp_flags::RST == 0 {
                    self.devices.contact(ts, c, true, config, category, out);
                }
            }
            Record::Binding { mac, ip, source } => self.spoof.binding(ts, *mac, *ip, *source, out),
            Record::RouterAddress(ip) => self.spoof.router_address(*ip),
            Record::Said { mac, ip, finding } => {
                let Some(mac) = mac.filter(|m| m.is_unicast()) else {
                    return;
                };
                if ip.is_none_or(crate::inventory::is_local_network) {
                    self.devices.said(
                        ts,
                        Subject {
                            mac: Some(mac),
                            ip: *ip,
                        },
                        finding,
                        config,
                        category,
                        out,
                    );
                }
            }
            Record::Sent { mac, bytes } => {
                self.devices.sent(ts, *mac, *bytes, config, category, out)
            }
            Record::Ended(e) => self.unusual.ended(e, config, out),
        }
    }
}
