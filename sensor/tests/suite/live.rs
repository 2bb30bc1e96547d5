//! Live capture on a real interface: a veth pair whose far end lives in a
//! network namespace the test creates, with real UDP and TCP traffic sent
//! through it. Needs root and iproute2 (CI runs as root); skips visibly
//! otherwise.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::api;
use crate::support::{mirador, skip, tool};

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

/// A namespace with one end of a veth pair; removed when dropped.
struct Lab {
    namespace: String,
    host_if: String,
    lab_if: String,
    host_ip: String,
    lab_ip: String,
}

impl Lab {
    fn create() -> Option<Lab> {
        static LABS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = LABS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = (std::process::id() * 4 + n) % 10_000;
        let lab = Lab {
            namespace: format!("mirador-test-{id}"),
            host_if: format!("mrd{id}h"),
            lab_if: format!("mrd{id}l"),
            host_ip: format!("10.213.{}.1", id % 250),
            lab_ip: format!("10.213.{}.2", id % 250),
        };
        let ok = ip(&["netns", "add", &lab.namespace])
            && ip(&[
                "link",
                "add",
                &lab.host_if,
                "type",
                "veth",
                "peer",
                "name",
                &lab.lab_if,
            ])
            && ip(&["link", "set", &lab.lab_if, "netns", &lab.namespace])
            && ip(&[
                "addr",
                "add",
                &format!("{}/24", lab.host_ip),
                "dev",
                &lab.host_if,
            ])
            && ip(&["link", "set", &lab.host_if, "up"])
            && ip(&[
                "-n",
                &lab.namespace,
                "addr",
                "add",
                &format!("{}/24", lab.lab_ip),
                "dev",
                &lab.lab_if,
            ])
            && ip(&["-n", &lab.namespace, "link", "set", &lab.lab_if, "up"]);
        // A lab made only in part is removed by its drop.
        ok.then_some(lab)
    }

    /// Runs a Python program inside the namespace.
    fn python(&self, program: &str) -> bool {
        Command::new("ip")
            .args(["netns", "exec", &self.namespace, "python3", "-c", program])
            .status()
            .is_ok_and(|s| s.success())
    }

    fn lab_mac(&self) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.namespace, "cat"])
            .arg(
                Path::new("/sys/class/net")
                    .join(&self.lab_if)
                    .join("address"),
            )
            .output()
            .expect("read the MAC");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting the namespace deletes its veth end and so the pair; the
        // host end is deleted too in case the lab was made only in part.
        ip(&["netns", "del", &self.namespace]);
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .stderr(Stdio::null())
            .status();
    }
}

/// What a live run on the lab wrote.
struct LabRun {
    events: Vec<serde_json::Value>,
    inventory: serde_json::Value,
    stderr: String,
    udp_port: u64,
    tcp_port: u64,
}

/// Captures on the lab's host end with `extra` arguments while the lab
/// sends five UDP datagrams and one TCP exchange to the host.
fn run_lab(lab: &Lab, extra: &[&str]) -> LabRun {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (events, inventory) = (
        dir.path().join("events.jsonl"),
        dir.path().join("inventory.json"),
    );
    let listener =
        TcpListener::bind((lab.host_ip.as_str(), 0)).expect("listen on the veth address");
    let port = listener.local_addr().expect("address").port();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        let mut hello = [0u8; 5];
        conn.read_exact(&mut hello).expect("read");
        conn.write_all(b"world").expect("write");
    });
    let sensor = mirador()
        .args([
            "live",
            "--interface",
            &lab.host_if,
            "--duration",
            "5",
            "--workers",
            "2",
            "--no-table",
        ])
        .args(extra)
        .arg("--events")
        .arg(&events)
        .arg("--inventory")
        .arg(&inventory)
        .stderr(Stdio::piped())
        .spawn()
        .expect("mirador starts");
    std::thread::sleep(Duration::from_millis(1500));
    let sent = lab.python(&format!(
        "import socket\n\
         u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         for i in range(5): u.sendto(b'ping %d' % i, ('{host}', 9999))\n\
         t = socket.create_connection(('{host}', {port}), timeout=3)\n\
         t.sendall(b'hello'); assert t.recv(5) == b'world'; t.close()\n",
        host = lab.host_ip
    ));
    assert!(sent, "traffic could not be sent from the namespace");
    server.join().expect("server thread");
    let output = sensor.wait_with_output().expect("mirador ends");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    LabRun {
        events: std::fs::read_to_string(&events)
            .expect("events")
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON"))
            .collect(),
        inventory: serde_json::from_str(&std::fs::read_to_string(&inventory).expect("inventory"))
            .expect("JSON"),
        stderr,
        udp_port: 9999,
        tcp_port: u64::from(port),
    }
}

impl LabRun {
    fn flow(&self, proto: &str, port: u64) -> Option<&serde_json::Value> {
        self.events
            .iter()
            .find(|e| e["event_type"] == "flow" && e["proto"] == proto && e["dest_port"] == port)
    }
}

/// Root and the tools, and a lab, or a visible skip.
fn lab_for(test: &str) -> Option<Lab> {
    if !is_root() {
        skip(test, "needs root to create a network namespace");
        return None;
    }
    tool("ip", test)?;
    tool("python3", test)?;
    let lab = Lab::create();
    if lab.is_none() {
        skip(test, "cannot create a network namespace here");
    }
    lab
}

#[test]
fn live_capture_sees_real_traffic_on_a_veth_pair() {
    let Some(lab) = lab_for("live_capture_sees_real_traffic_on_a_veth_pair") else {
        return;
    };
    let run = run_lab(&lab, &[]);
    assert!(
        run.stderr.contains("dropped: 0 by the kernel"),
        "{}",
        run.stderr
    );
    let udp = run.flow("UDP", run.udp_port).expect("the UDP flow");
    assert_eq!(udp["src_ip"], lab.lab_ip.as_str());
    assert_eq!(udp["flow"]["pkts_toserver"], 5);
    let tcp = run.flow("TCP", run.tcp_port).expect("the TCP flow");
    assert_eq!(tcp["src_ip"], lab.lab_ip.as_str());
    assert_eq!(tcp["tcp"]["syn"], true);
    assert_eq!(tcp["tcp"]["fin"], true);
    assert!(
        tcp["flow"]["pkts_toclient"].as_u64().unwrap_or(0) >= 3,
        "{tcp}"
    );

    let mac = lab.lab_mac();
    let device = run.inventory["devices"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["mac"] == mac.as_str()))
        .unwrap_or_else(|| panic!("{mac} missing: {}", run.inventory));
    let bound = device["ips"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|b| b["ip"] == lab.lab_ip.as_str());
    let sources = bound.map(|b| b["sources"].to_string()).unwrap_or_default();
    assert!(sources.contains("arp"), "{device}");
    // veth MACs are generated by the kernel: locally administered.
    assert_eq!(device["locally_administered"], true);
    assert!(device["vendor"].is_null());
    assert!(run.inventory["stats"]["packets"].as_u64().unwrap_or(0) >= 10);
}

/// `--listen` while capturing: the interface's packets and drops in
/// `/metrics` as traffic comes, and the device in the API.
#[test]
fn live_capture_serves_metrics_and_the_api_while_it_runs() {
    let test = "live_capture_serves_metrics_and_the_api_while_it_runs";
    let Some(lab) = lab_for(test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let inventory = dir.path().join("inventory.json");
    let mut sensor = mirador()
        .args(["live", "--interface", &lab.host_if, "--duration", "10"])
        .args(["--workers", "2", "--no-table", "--listen", "127.0.0.1:0"])
        .arg("--inventory")
        .arg(&inventory)
        .stderr(Stdio::piped())
        .spawn()
        .expect("mirador starts");
    let base = api::wait_for(&mut sensor, "serving");
    std::thread::sleep(Duration::from_millis(1000));
    let sent = lab.python(&format!(
        "import socket\n\
         u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         for i in range(20): u.sendto(b'ping %d' % i, ('{host}', 9999))\n",
        host = lab.host_ip
    ));
    assert!(sent, "traffic could not be sent from the namespace");
    // Workers publish at their housekeeping, about once a second.
    let mut metrics = Default::default();
    let mut packets = 0.0;
    for _ in 0..30 {
        let (status, text) = api::get(&format!("{base}/metrics"), None);
        assert_eq!(status, 200, "{text}");
        metrics = api::samples(&text);
        packets = api::sum(
            &metrics,
            "mirador_packets_total",
            &[("interface", &lab.host_if)],
        );
        if packets >= 20.0 {
            api::promtool_accepts(&text, test);
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(packets >= 20.0, "{metrics:?}");
    let drops = [("interface", lab.host_if.as_str()), ("by", "kernel")];
    assert!(
        metrics
            .keys()
            .any(|(name, labels)| name == "mirador_dropped_packets_total"
                && drops
                    .iter()
                    .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(v))),
        "{metrics:?}"
    );
    assert_eq!(
        api::sum(&metrics, "mirador_dropped_packets_total", &drops),
        0.0
    );
    // The device with the address it sent from: the API's view of the
    // inventory is made again when 2 s old.
    let mac = lab.lab_mac();
    let mut device = String::new();
    for _ in 0..30 {
        let (status, body) = api::get(&format!("{base}/api/v1/devices/{mac}"), None);
        assert!(status == 200 || status == 404, "{body}");
        device = body;
        if status == 200 && device.contains(&lab.lab_ip) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(device.contains(&lab.lab_ip), "{device}");

    let output = sensor.wait_with_output().expect("mirador ends");
    assert!(output.status.success());
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&inventory).expect("inventory"))
            .expect("JSON");
    assert!(written["stats"]["packets"].as_f64().unwrap_or(0.0) >= packets);
}

/// With the `libpcap` feature, a BPF filter keeps only what it matches.
#[cfg(feature = "libpcap")]
#[test]
fn libpcap_capture_applies_the_bpf_filter() {
    let Some(lab) = lab_for("libpcap_capture_applies_the_bpf_filter") else {
        return;
    };
    let run = run_lab(&lab, &["--filter", "udp port 9999"]);
    assert_eq!(
        run.flow("UDP", run.udp_port)
            .map(|f| &f["flow"]["pkts_toserver"]),
        Some(&5.into())
    );
    assert!(
        run.flow("TCP", run.tcp_port).is_none(),
        "the filter let TCP through"
    );
    // Every event about packets is UDP (trust events are about devices).
    let protocols: Vec<&serde_json::Value> =
        run.events.iter().filter_map(|e| e.get("proto")).collect();
    assert!(
        !protocols.is_empty() && protocols.iter().all(|p| *p == "UDP"),
        "{protocols:?}"
    );
}

#[test]
fn live_capture_without_the_capability_says_what_it_needs() {
    let test = "live_capture_without_the_capability_says_what_it_needs";
    if !is_root() {
        skip(test, "needs root to drop to an unprivileged user");
        return;
    }
    let Some(setpriv) = tool("setpriv", test) else {
        return;
    };
    let output = Command::new(setpriv)
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_mirador"))
        .args(["live", "--interface", "lo", "--duration", "1"])
        .output()
        .expect("setpriv runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("CAP_NET_RAW"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}
