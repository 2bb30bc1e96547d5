//! The whole per-packet path: a sequence of frames fed to one
//! `sensor::pipeline::Worker` over a fresh `Inventory` (decode, flows,
//! extract, inventory batches, EVE flow events, and with one worker the
//! behaviour monitor's detectors), then `finish()`, an inventory snapshot
//! serialised as the exporters do, and the anomaly report.
//!
//! Input:
//!
//! ```text
//! config: u8                   bit 0-1: worker id and count (1 of 1, 1 of 2, 2 of 2, 2 of 3)
//!                              bit 2:   offline flow timeouts instead of live ones
//!                              bit 3-4: flow table size 4, 64, 1024 or 16
//!                              bit 5:   tiny inventory and monitor caps (evictions),
//!                                       and no learning period
//!                              bit 6:   flow events written (to a sink)
//! then frames, each:
//!   link: u8                   link type selector (`mirador_fuzz::link_type`)
//!   dt: u8                     time since the previous frame: low 6 bits
//!                              times 1 us, 1 ms, 1 s or 100 s (top 2 bits);
//!                              0xff jumps to 16 s before the last time a
//!                              `Timestamp` can hold (pcapng files can say so)
//!   len: u16, big-endian       frame length (cut to what is left)
//!   frame: [u8; len]
//! ```
//!
//! The flow table is kept small: `FlowTracker` preallocates up to 65,536
//! entries, which per input would cost more than the packets.

#![no_main]

use std::hint::black_box;
use std::sync::OnceLock;

use fingerprints::OuiRegistry;
use libfuzzer_sys::fuzz_target;
use sensor::anomaly::{AnomalyConfig, Monitor};
use sensor::capture::{Packet, Timestamp};
use sensor::export::eve::EventOutput;
use sensor::flow::FlowConfig;
use sensor::inventory::{Inventory, InventoryConfig};
use sensor::pipeline::Sensor;

/// 2020-09-13, so that timestamps look like capture times.
const START: Timestamp = Timestamp(1_600_000_000 * Timestamp::NANOS_PER_SEC);

/// 16 s before the last nanosecond a `Timestamp` holds: capture files can
/// carry such times (a pcapng timestamp is 64 bits of any unit).
const LATE: Timestamp = Timestamp(u64::MAX - 16 * Timestamp::NANOS_PER_SEC);

/// Frames per input, at most.
const MAX_FRAMES: u64 = 4096;

/// One line in this many of the shipped OUI registry is loaded per input.
const OUI_SAMPLE: usize = 64;

/// The inventory's OUI registry: a sample of the one shipped with mirador.
/// `OuiRegistry::builtin()` parses all 48,000 lines, which costs about 15 ms,
/// far more than the packets of an input; the registry is not `Clone`, so a
/// sample of its text (every 64th line, about 760 blocks of all three
/// sizes) is loaded per input instead. Vendor lookups still hit and miss.
fn registry() -> OuiRegistry {
    static SAMPLE: OnceLock<String> = OnceLock::new();
    let sample = SAMPLE.get_or_init(|| {
        fingerprints::oui::BUILTIN_OUI_TSV
            .lines()
            .filter(|line| !line.starts_with('#'))
            .step_by(OUI_SAMPLE)
            .flat_map(|line| [line, "\n"])
            .collect()
    });
    let mut registry = OuiRegistry::default();
    registry
        .load("builtin oui.tsv sample", sample)
        .expect("a sample of the shipped registry loads");
    registry
}

fn delta(dt: u8) -> u64 {
    let unit = match dt >> 6 {
        0 => 1_000,
        1 => 1_000_000,
        2 => Timestamp::NANOS_PER_SEC,
        _ => 100 * Timestamp::NANOS_PER_SEC,
    };
    u64::from(dt & 0x3f) * unit
}

fuzz_target!(|data: &[u8]| {
    let Some((&config, mut rest)) = data.split_first() else {
        return;
    };
    let (id, workers) = [(0, 1), (0, 2), (1, 2), (1, 3)][usize::from(config & 0x03)];
    let timeouts = if config & 0x04 != 0 {
        FlowConfig::offline()
    } else {
        FlowConfig::live()
    };
    let flow_config = FlowConfig {
        max_flows: [4, 64, 1024, 16][usize::from((config >> 3) & 0x03)] * workers,
        ..timeouts
    };
    let inventory_config = if config & 0x20 != 0 {
        InventoryConfig {
            max_devices: 3,
            max_remote_hosts: 3,
            max_ips_per_device: 2,
            max_peers: 2,
            max_server_ports: 2,
            max_evidence: 4,
            max_values_per_field: 2,
            router_min_forwarded: 2,
        }
    } else {
        InventoryConfig::default()
    };
    let monitor_config = if config & 0x20 != 0 {
        AnomalyConfig {
            learning_period: 0,
            max_tracked: 16,
            max_per_device: 2,
            ..AnomalyConfig::default()
        }
    } else {
        AnomalyConfig::default()
    };
    let sensor = Sensor {
        workers,
        events: (config & 0x40 != 0).then(|| EventOutput::new(Box::new(std::io::sink()))),
        // The monitor waits for every worker's clock: only a lone worker
        // lets it run.
        monitor: (workers == 1).then(|| Monitor::new(monitor_config, 1)),
        ..Sensor::new(flow_config, Inventory::new(inventory_config, registry()))
    };
    let mut worker = sensor.worker(id);
    let mut ts = START;
    let mut frames = 0u64;
    while let [link, dt, len_hi, len_lo, tail @ ..] = rest {
        if frames >= MAX_FRAMES {
            break;
        }
        let len = usize::from(u16::from_be_bytes([*len_hi, *len_lo])).min(tail.len());
        let (frame, next) = tail.split_at(len);
        rest = next;
        ts = match *dt {
            0xff => ts.max(LATE),
            dt => Timestamp(ts.0.saturating_add(delta(dt))),
        };
        let packet = Packet {
            ts,
            link_type: mirador_fuzz::link_type(*link),
            data: frame,
            // Frames cut short by the snap length are the common case.
            wire_len: (frame.len() as u32).saturating_add(u32::from(*dt & 0x0f)),
        };
        worker.process(&packet);
        frames += 1;
        if frames % 64 == 0 {
            black_box(worker.stats());
        }
    }
    let stats = worker.finish();
    assert_eq!(stats.packets, frames, "every frame is counted once");
    black_box(serde_json::to_vec(&stats).ok());
    black_box(stats.decode_errors_by_reason().count());
    if let Some(events) = &sensor.events {
        black_box(events.finish().ok());
    }
    if let Some(monitor) = &sensor.monitor {
        black_box(serde_json::to_vec(&monitor.report()).ok());
        black_box(serde_json::to_vec(&monitor.baselines()).ok());
    }
    let inventory = &sensor.inventory;
    black_box((inventory.device_count(), inventory.remote_host_count()));
    let snapshot = inventory.snapshot();
    for device in &snapshot.devices {
        black_box(inventory.device(device.mac));
    }
    black_box(serde_json::to_vec(&snapshot).ok());
});
