//! What the tests share: running the `mirador` binary on captures and
//! reading what it wrote, finding the fixtures and the optional shared
//! corpus, and the independent tools used as oracles.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// Says that a test skips part or all of its checks, and why. Written to
/// the process's stderr directly: the test harness hides what tests print
/// with `eprintln!` unless they fail, and a skip must be seen.
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {why}");
}

/// The project's fixture captures.
pub fn pcaps() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../pcaps")
}

/// The shared corpus beside the project (`../shared/captures`), when this
/// checkout has it. Tests that need it say so when they skip.
pub fn shared(test: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/captures");
    if dir.is_dir() {
        Some(dir)
    } else {
        skip(test, "../shared/captures is not present beside the project");
        None
    }
}

/// An independent tool on the PATH, or a visible skip.
pub fn tool(name: &str, test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        skip(
            test,
            &format!("`{name}` is not installed (.ci/run installs it)"),
        );
    }
    found
}

pub fn mirador() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mirador"))
}

/// One `mirador analyze` run with its outputs read back.
pub struct Run {
    pub output: Output,
    pub events: Vec<Value>,
    pub inventory: Value,
}

impl Run {
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    pub fn flows(&self) -> impl Iterator<Item = &Value> {
        self.events.iter().filter(|e| e["event_type"] == "flow")
    }

    pub fn devices(&self) -> &[Value] {
        self.inventory["devices"]
            .as_array()
            .map_or(&[], Vec::as_slice)
    }

    pub fn device(&self, mac: &str) -> Option<&Value> {
        self.devices().iter().find(|d| d["mac"] == mac)
    }

    pub fn stat(&self, name: &str) -> u64 {
        self.inventory["stats"][name].as_u64().unwrap_or(0)
    }
}

/// Runs `mirador analyze INPUTS... EXTRA...` writing events and inventory
/// to temporary files, and reads them back.
pub fn analyze<P: AsRef<Path>>(inputs: &[P], extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("temporary directory");
    let events = dir.path().join("events.jsonl");
    let inventory = dir.path().join("inventory.json");
    let output = mirador()
        .arg("analyze")
        .args(inputs.iter().map(AsRef::as_ref))
        .arg("--events")
        .arg(&events)
        .arg("--inventory")
        .arg(&inventory)
        .args(["--no-table", "--progress", "never"])
        .args(extra)
        .output()
        .expect("mirador runs");
    let events = std::fs::read_to_string(&events)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each event line is JSON"))
        .collect();
    let inventory = std::fs::read_to_string(&inventory)
        .ok()
        .map(|t| serde_json::from_str(&t).expect("inventory is JSON"))
        .unwrap_or(Value::Null);
    Run {
        output,
        events,
        inventory,
    }
}

/// A flow's identity without direction: protocol and the two endpoints,
/// addresses compared as addresses (not as strings, which tools format
/// differently).
pub type FlowId = (String, [(IpAddr, u16); 2]);

pub fn flow_id(proto: &str, a: (IpAddr, u16), b: (IpAddr, u16)) -> FlowId {
    let mut ends = [a, b];
    ends.sort();
    (proto.to_ascii_uppercase(), ends)
}

/// Per-direction packets and bytes of a flow, oriented from `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub pkts_from: u64,
    pub bytes_from: u64,
    pub pkts_to: u64,
    pub bytes_to: u64,
}

/// mirador's flows by identity, each with its client endpoint and counts.
pub type FlowsById = HashMap<FlowId, Vec<((IpAddr, u16), Counts)>>;

/// mirador's flow events by identity.
pub fn flows_by_id(run: &Run) -> FlowsById {
    let mut map: HashMap<FlowId, Vec<_>> = HashMap::new();
    for e in run.flows() {
        let ip = |k: &str| e[k].as_str().and_then(|s| s.parse::<IpAddr>().ok());
        let port = |k: &str| e[k].as_u64().unwrap_or(0) as u16;
        let (Some(src), Some(dst)) = (ip("src_ip"), ip("dest_ip")) else {
            continue;
        };
        let f = &e["flow"];
        let n = |k: &str| f[k].as_u64().unwrap_or(0);
        let counts = Counts {
            pkts_from: n("pkts_toserver"),
            bytes_from: n("bytes_toserver"),
            pkts_to: n("pkts_toclient"),
            bytes_to: n("bytes_toclient"),
        };
        let id = flow_id(
            e["proto"].as_str().unwrap_or(""),
            (src, port("src_port")),
            (dst, port("dest_port")),
        );
        map.entry(id)
            .or_default()
            .push(((src, port("src_port")), counts));
    }
    map
}

/// Whether one of mirador's flows for `id` has these counts, seen from `from`.
pub fn has_counts(flows: &FlowsById, id: &FlowId, from: (IpAddr, u16), want: Counts) -> bool {
    flows.get(id).is_some_and(|list| {
        list.iter().any(|(client, c)| {
            let oriented = if *client == from {
                *c
            } else {
                Counts {
                    pkts_from: c.pkts_to,
                    bytes_from: c.bytes_to,
                    pkts_to: c.pkts_from,
                    bytes_to: c.bytes_from,
                }
            };
            oriented == want
        })
    })
}

/// Runs `work` over `items` on two threads (the machines here have two
/// cores), keeping the items' order in the results.
pub fn parallel<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = 2;
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(|| c.iter().map(&work).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker thread"))
            .collect()
    })
}

/// Capture files under `dir`, recursively, sorted.
pub fn captures_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if is_capture_name(&p) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

pub fn is_capture_name(p: &Path) -> bool {
    let name = p.to_string_lossy().to_ascii_lowercase();
    [
        ".pcap",
        ".pcapng",
        ".cap",
        ".pcap.gz",
        ".pcapng.gz",
        ".dmp",
        ".trace",
    ]
    .iter()
    .any(|ext| name.ends_with(ext))
}

/// Flow events without what depends on scheduling (flow ids), sorted.
pub fn flow_events(run: &Run) -> Vec<Value> {
    let mut events: Vec<Value> = run
        .flows()
        .cloned()
        .map(|mut e| {
            e.as_object_mut().map(|o| o.remove("flow_id"));
            e
        })
        .collect();
    events.sort_by_key(|e| e.to_string());
    events
}

/// `tshark -T fields` rows of a capture.
pub fn tshark_rows(
    tshark: &Path,
    capture: &Path,
    filter: &str,
    fields: &[&str],
) -> Vec<Vec<String>> {
    let mut cmd = Command::new(tshark);
    cmd.arg("-r")
        .arg(capture)
        .args(["-Y", filter, "-T", "fields"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// Every string value in a JSON document.
pub fn strings<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}
