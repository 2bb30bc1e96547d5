//! Prometheus metrics, in the text exposition format (`/metrics`). Names
//! and meanings: `docs/operations.md`.
//!
//! Counts live where they are made (workers' stats, the inventory, the
//! monitor); each scrape gathers them into a fresh registry, so a value is
//! never reset and re-added under a reader. Only the stage-duration
//! histogram accumulates across scrapes (in [`Telemetry`]).

use std::collections::BTreeMap;

use prometheus::core::{Collector, GenericCounterVec, GenericGaugeVec};
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use serde_json::Value;

use super::view::View;
use crate::decode::DecodeError;
use crate::pipeline::Sensor;
use crate::pipeline::telemetry::Telemetry;

/// A registry filled for one scrape.
struct Scrape {
    registry: Registry,
}

impl Scrape {
    fn register<C: Collector + Clone + 'static>(&self, collector: C) -> C {
        // Names are constants, each registered once per scrape.
        let _ = self.registry.register(Box::new(collector.clone()));
        collector
    }

    fn counter(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.register(
            GenericCounterVec::new(Opts::new(name, help), labels)
                .unwrap_or_else(|_| unreachable!("constant names and labels are valid")),
        )
    }

    fn gauge(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.register(
            GenericGaugeVec::new(Opts::new(name, help), labels)
                .unwrap_or_else(|_| unreachable!("constant names and labels are valid")),
        )
    }

    fn histogram(&self, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
        self.register(
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
                .unwrap_or_else(|_| unreachable!("constant names and buckets are valid")),
        )
    }

    /// A counter without labels, at `value`.
    fn total(&self, name: &str, help: &str, value: u64) {
        let counter = IntCounter::new(name, help)
            .unwrap_or_else(|_| unreachable!("constant names are valid"));
        counter.inc_by(value);
        self.register(counter);
    }

    fn text(&self) -> String {
        let mut out = Vec::new();
        // Encoding into memory fails only on a malformed family, which the
        // constants above rule out.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every metric: the inventory's and the anomalies' from `view`, and with
/// a running `sensor`, the capture's (packets, drops, errors, flows, tables,
/// stage durations).
pub fn render(view: &View, sensor: Option<&Sensor>) -> String {
    let scrape = Scrape {
        registry: Registry::new(),
    };
    scrape
        .gauge(
            "mirador_build_info",
            "Always 1; the version of mirador serving.",
            &["version"],
        )
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1);
    let tables = Tables {
        entries: scrape.gauge(
            "mirador_table_entries",
            "Entries in a bounded table.",
            &["table"],
        ),
        capacity: scrape.gauge(
            "mirador_table_capacity",
            "The cap of a bounded table: beyond it the least recently used entries are evicted.",
            &["table"],
        ),
        evictions: scrape.counter(
            "mirador_table_evictions_total",
            "Entries dropped from a bounded table to respect its cap.",
            &["table"],
        ),
    };
    inventory(&scrape, &tables, view);
    anomalies(&scrape, view.anomalies());
    if let Some(sensor) = sensor {
        capture(&scrape, &tables, sensor);
    }
    scrape.text()
}

/// The bounded tables: inventory, flows, the monitor's.
struct Tables {
    entries: IntGaugeVec,
    capacity: IntGaugeVec,
    evictions: IntCounterVec,
}

fn inventory(scrape: &Scrape, tables: &Tables, view: &View) {
    let devices = scrape.gauge(
        "mirador_devices",
        "Devices in the inventory, by the label of their category verdict (unclassified: none).",
        &["category"],
    );
    let mut by_category: BTreeMap<&str, i64> = BTreeMap::new();
    for d in &view.devices {
        *by_category
            .entry(d.category.as_deref().unwrap_or("unclassified"))
            .or_default() += 1;
    }
    for (category, n) in by_category {
        devices.with_label_values(&[category]).set(n);
    }
    let trust = scrape.histogram(
        "mirador_device_trust",
        "Devices by trust score (0 to 100; docs/trust.md).",
        (1..=10).map(|b| f64::from(b) * 10.0).collect(),
    );
    for score in view.devices.iter().filter_map(|d| d.trust) {
        trust.observe(f64::from(score));
    }
    let (entries, evictions) = (&tables.entries, &tables.evictions);
    let doc = &view.document;
    entries
        .with_label_values(&["devices"])
        .set(view.devices.len() as i64);
    if let Some(hosts) = doc["remote_hosts"].as_array() {
        entries
            .with_label_values(&["remote_hosts"])
            .set(hosts.len() as i64);
    }
    for (table, field) in [
        ("devices", "devices_evicted"),
        ("remote_hosts", "remote_hosts_evicted"),
        ("evidence", "evidence_evicted"),
    ] {
        if let Some(n) = doc[field].as_u64() {
            evictions.with_label_values(&[table]).inc_by(n);
        }
    }
    let monitor = &doc["anomalies"]["monitor"];
    if let Some(n) = monitor["devices_tracked"].as_i64() {
        entries.with_label_values(&["anomaly_devices"]).set(n);
    }
    if let Some(n) = monitor["evicted"].as_u64() {
        evictions.with_label_values(&["anomaly"]).inc_by(n);
    }
}

fn anomalies(scrape: &Scrape, section: &Value) {
    if section.is_null() {
        return;
    }
    let anomalies = scrape.counter(
        "mirador_anomalies_total",
        "Anomalies reported (duplicates folded into an incident not counted), by type and severity.",
        &["type", "severity"],
    );
    for (kind, by_severity) in section["by_type_and_severity"]
        .as_object()
        .into_iter()
        .flatten()
    {
        for (severity, n) in by_severity.as_object().into_iter().flatten() {
            anomalies
                .with_label_values(&[kind, severity])
                .inc_by(n.as_u64().unwrap_or_default());
        }
    }
    scrape.total(
        "mirador_anomalies_raised_total",
        "Anomalies raised by the detectors, duplicates included.",
        section["counts"]["raised"].as_u64().unwrap_or_default(),
    );
    let incidents = scrape.gauge(
        "mirador_incidents",
        "Incidents kept (open, and the latest 10,000 closed), by severity and status.",
        &["severity", "status"],
    );
    let mut counts: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for i in section["incidents"].as_array().into_iter().flatten() {
        let key = (
            i["severity"].as_str().unwrap_or("info"),
            i["status"].as_str().unwrap_or("open"),
        );
        *counts.entry(key).or_default() += 1;
    }
    for ((severity, status), n) in counts {
        incidents.with_label_values(&[severity, status]).set(n);
    }
    if let Some(n) = section["monitor"]["contacts_dropped"].as_u64() {
        scrape.total(
            "mirador_anomaly_contacts_dropped_total",
            "TCP first contacts the scan detector did not follow: too many awaited an answer.",
            n,
        );
    }
}

fn capture(scrape: &Scrape, tables: &Tables, sensor: &Sensor) {
    let telemetry: &Telemetry = &sensor.telemetry;
    let packets = scrape.counter(
        "mirador_packets_total",
        "Frames read, by interface (replay: recorded captures).",
        &["interface"],
    );
    let bytes = scrape.counter(
        "mirador_bytes_total",
        "Captured bytes of the frames read, by interface.",
        &["interface"],
    );
    let by_input = telemetry.by_input();
    let mut total = crate::pipeline::WorkerStats::default();
    for (input, stats) in &by_input {
        packets.with_label_values(&[input]).inc_by(stats.packets);
        bytes.with_label_values(&[input]).inc_by(stats.bytes);
        total.add(stats);
    }
    let drops = scrape.counter(
        "mirador_dropped_packets_total",
        "Frames dropped before analysis, by interface and by whom: the kernel (or libpcap), or mirador when a worker fell behind.",
        &["interface", "by"],
    );
    for (interface, d) in telemetry.drops() {
        drops
            .with_label_values(&[&interface, "kernel"])
            .inc_by(d.kernel.dropped);
        drops
            .with_label_values(&[&interface, "mirador"])
            .inc_by(d.by_mirador);
    }
    let decode = scrape.counter(
        "mirador_decode_errors_total",
        "Frames that could not be decoded, by reason (the layer that failed).",
        &["reason"],
    );
    for e in DecodeError::ALL {
        decode
            .with_label_values(&[e.name()])
            .inc_by(total.decode_errors[e.index()]);
    }
    let parse = scrape.counter(
        "mirador_parse_errors_total",
        "Identity messages that could not be parsed, by protocol and reason.",
        &["protocol", "reason"],
    );
    for (protocol, reason, n) in total.extract.parse_errors_by_protocol() {
        parse.with_label_values(&[protocol, reason]).inc_by(n);
    }
    parse
        .with_label_values(&["tcp_syn", "malformed"])
        .inc_by(total.extract.syn_errors);
    let findings = scrape.counter(
        "mirador_findings_total",
        "What identity protocols said (one per message read), by protocol.",
        &["protocol"],
    );
    for (protocol, n) in total.extract.findings_by_protocol() {
        findings.with_label_values(&[protocol]).inc_by(n);
    }
    let events = scrape.counter(
        "mirador_events_total",
        "Events made (written when --events is on), by kind: flow, protocol.",
        &["kind"],
    );
    events
        .with_label_values(&["flow"])
        .inc_by(total.flow_events);
    events
        .with_label_values(&["protocol"])
        .inc_by(total.protocol_events);
    scrape.total(
        "mirador_flows_created_total",
        "Flows opened.",
        total.flows.created,
    );
    scrape.total(
        "mirador_classifications_total",
        "Devices classified (verdicts still current are reused, not counted).",
        sensor.inventory.classifications(),
    );
    caps(tables, sensor);
    tables
        .entries
        .with_label_values(&["flows"])
        .set(i64::try_from(total.flows.live).unwrap_or(i64::MAX));
    tables
        .evictions
        .with_label_values(&["flows"])
        .inc_by(total.flows.evicted);
    scrape.register(telemetry.stages().clone());
}

/// The caps a running sensor was given.
fn caps(tables: &Tables, sensor: &Sensor) {
    let config = sensor.inventory.config();
    let mut caps = vec![
        ("devices", config.max_devices),
        ("remote_hosts", config.max_remote_hosts),
        ("flows", sensor.flows.max_flows),
    ];
    if let Some(monitor) = &sensor.monitor {
        caps.push(("anomaly_devices", monitor.config().max_tracked));
    }
    for (table, cap) in caps {
        tables
            .capacity
            .with_label_values(&[table])
            .set(i64::try_from(cap).unwrap_or(i64::MAX));
    }
}
