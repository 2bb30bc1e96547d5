//! The captures the micro-benchmarks run on, and their packets held in
//! memory so that reading files stays out of the measurement.
//!
//! Captures are taken from `$MIRADOR_BENCH_CAPTURES` (files or directories,
//! separated like `PATH`) when it is set, else from the first of these that
//! holds any capture: the workspace's `pcaps/` (the test fixtures), then
//! `../shared/captures/ndpi/pcap` beside the workspace.

use std::ops::Range;
use std::path::{Path, PathBuf};

use sensor::capture::merge::expand_inputs;
use sensor::capture::{CaptureFile, LinkType, Packet, Timestamp};

use crate::timeline::{NANOS_PER_SEC, Timeline};

/// Names capture files or directories to use instead of the defaults.
pub const CAPTURES_ENV: &str = "MIRADOR_BENCH_CAPTURES";

/// Where the packet timeline starts: 2024-01-01T00:00:00Z.
const START_NS: u64 = 1_704_067_200 * NANOS_PER_SEC;

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    let benches = Path::new(env!("CARGO_MANIFEST_DIR"));
    benches.parent().unwrap_or(benches).to_path_buf()
}

/// Directories searched for captures, in order of preference.
pub fn default_dirs() -> Vec<PathBuf> {
    let root = workspace_root();
    vec![
        root.join("pcaps"),
        root.join("../shared/captures/ndpi/pcap"),
    ]
}

/// The capture files to benchmark on, and where they were found (for
/// messages). No files when there are none anywhere.
pub fn fixture_files() -> (Vec<PathBuf>, String) {
    if let Some(paths) = std::env::var_os(CAPTURES_ENV) {
        let paths: Vec<PathBuf> = std::env::split_paths(&paths).collect();
        let files = expand_inputs(&paths).files;
        return (files, format!("${CAPTURES_ENV}"));
    }
    for dir in default_dirs() {
        let files = expand_inputs(std::slice::from_ref(&dir)).files;
        if !files.is_empty() {
            return (files, dir.display().to_string());
        }
    }
    let searched: Vec<String> = default_dirs()
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    (Vec::new(), searched.join(", "))
}

#[derive(Debug, Clone)]
struct Stored {
    ts: u64,
    link_type: LinkType,
    wire_len: u32,
    bytes: Range<usize>,
}

/// Packets held in memory, on one timeline: each capture keeps its gaps
/// (clamped to one second) and follows the one before it.
#[derive(Debug, Default)]
pub struct PacketSet {
    data: Vec<u8>,
    packets: Vec<Stored>,
    /// Capture files that gave packets.
    pub files: usize,
    /// Files that could not be read to their end.
    pub errors: Vec<String>,
}

impl PacketSet {
    /// Reads the files in order until `max_packets` are held. Packets of
    /// every link type mirador decodes are kept.
    pub fn load(files: &[PathBuf], max_packets: usize) -> PacketSet {
        let mut set = PacketSet::default();
        let mut timeline = Timeline::starting_at(START_NS);
        for path in files {
            if set.packets.len() >= max_packets {
                break;
            }
            let mut file = match CaptureFile::open(path) {
                Ok(file) => file,
                Err(e) => {
                    set.errors.push(e.to_string());
                    continue;
                }
            };
            timeline.start_file();
            let before = set.packets.len();
            while set.packets.len() < max_packets {
                match file.advance() {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        set.errors.push(e.to_string());
                        break;
                    }
                }
                if let Some(p) = file.current() {
                    set.push(timeline.place(p.ts.0), &p);
                }
            }
            if set.packets.len() > before {
                set.files += 1;
            }
        }
        set
    }

    fn push(&mut self, ts: u64, p: &Packet<'_>) {
        let start = self.data.len();
        self.data.extend_from_slice(p.data);
        self.packets.push(Stored {
            ts,
            link_type: p.link_type,
            wire_len: p.wire_len,
            bytes: start..self.data.len(),
        });
    }

    pub fn len(&self) -> usize {
        self.packets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Captured bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// Nanoseconds from the first packet to the last.
    pub fn span_ns(&self) -> u64 {
        match (self.packets.first(), self.packets.last()) {
            (Some(first), Some(last)) => last.ts - first.ts,
            _ => 0,
        }
    }

    /// The packets in order, their timestamps moved `shift_ns` later (to
    /// replay the set as if it came again).
    pub fn packets(&self, shift_ns: u64) -> impl Iterator<Item = Packet<'_>> + '_ {
        self.packets.iter().map(move |s| Packet {
            ts: Timestamp(s.ts + shift_ns),
            link_type: s.link_type,
            data: self.data.get(s.bytes.clone()).unwrap_or_default(),
            wire_len: s.wire_len,
        })
    }
}

/// A sensor as `mirador analyze` builds it: the shipped OUI registry,
/// vendor ids and p0f signatures, so that benchmarks pay for every
/// protocol parser.
pub fn analyze_sensor(flows: sensor::flow::FlowConfig) -> sensor::pipeline::Sensor {
    use fingerprints::proto::{Knowledge, tcp_syn::P0fDatabase};
    let p0f_path = workspace_root().join("fingerprints/data/p0f.fp");
    let p0f = std::fs::read_to_string(&p0f_path)
        .ok()
        .and_then(|text| P0fDatabase::load(&p0f_path.display().to_string(), &text).ok())
        .unwrap_or_default();
    let inventory = sensor::inventory::Inventory::new(
        sensor::inventory::InventoryConfig::default(),
        fingerprints::OuiRegistry::builtin(),
    );
    sensor::pipeline::Sensor {
        knowledge: Knowledge {
            p0f,
            vendor_ids: fingerprints::VendorIds::builtin(),
            default_credentials: fingerprints::DefaultCredentials::builtin(),
        },
        ..sensor::pipeline::Sensor::new(flows, inventory)
    }
}
