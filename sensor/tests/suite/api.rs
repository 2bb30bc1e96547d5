//! The HTTP API and `/metrics` of the real `mirador` binary, on an
//! ephemeral loopback port, queried with a real HTTP client: metrics
//! checked by `promtool` and against the capture (capinfos) and the
//! inventory the same run wrote; devices, filters, pages, anomalies and
//! every path of the OpenAPI document; bearer tokens.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{captures_under, mirador, pcaps, tool};

/// A `mirador` serving on loopback; killed when dropped.
struct Served {
    child: Child,
    base: String,
    /// The inventory the run wrote (analyze), or served (serve).
    inventory: Value,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the child's stderr until a line containing `ready`, and returns
/// the address of its "serving ... on http://ADDR" line.
pub fn wait_for(child: &mut Child, ready: &str) -> String {
    let stderr = child.stderr.take().expect("stderr piped");
    let mut lines = BufReader::new(stderr).lines();
    let mut base = None;
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.expect("stderr is text");
        seen.push_str(&line);
        seen.push('\n');
        if base.is_none()
            && let Some(at) = line.find("on http://")
        {
            base = Some(line[at + 3..].to_string());
        }
        if line.contains(ready) {
            break;
        }
    }
    // Keep reading (and dropping) so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    base.unwrap_or_else(|| panic!("no address; mirador said:\n{seen}"))
}

/// `mirador analyze pcaps/ics --listen 127.0.0.1:0`, after its replay.
fn analyze_and_serve(extra: &[&str]) -> Served {
    let dir = tempfile::tempdir().expect("temporary directory");
    let inventory = dir.path().join("inventory.json");
    let mut child = mirador()
        .arg("analyze")
        .arg(pcaps().join("ics"))
        .arg("--inventory")
        .arg(&inventory)
        .args(["--no-table", "--progress", "never", "--workers", "2"])
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .expect("mirador starts");
    let base = wait_for(&mut child, "replay done");
    Served {
        child,
        base,
        inventory: read_json(&inventory),
        _dir: dir,
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("readable")).expect("JSON")
}

fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// GET with an optional bearer token: the status and the body.
pub fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let mut request = client().get(url);
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request.call().expect("the server answers");
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().expect("a text body"),
    )
}

impl Served {
    fn get(&self, path: &str) -> (u16, String) {
        get(&format!("{}{path}", self.base), None)
    }

    fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).expect("JSON")
    }

    fn devices(&self) -> &[Value] {
        self.inventory["devices"].as_array().expect("devices")
    }

    /// The MACs of one page of devices.
    fn macs(&self, query: &str) -> (u64, Vec<String>) {
        let page = self.json(&format!("/api/v1/devices?{query}"));
        let macs = page["devices"]
            .as_array()
            .expect("devices")
            .iter()
            .map(|d| d["mac"].as_str().expect("mac").to_string())
            .collect();
        (page["total"].as_u64().expect("total"), macs)
    }

    /// The inventory's MACs of devices `keep` accepts.
    fn inventory_macs(&self, keep: impl Fn(&Value) -> bool) -> Vec<String> {
        self.devices()
            .iter()
            .filter(|d| keep(d))
            .map(|d| d["mac"].as_str().expect("mac").to_string())
            .collect()
    }
}

/// Samples of the text exposition format: (name, labels) -> value.
pub fn samples(text: &str) -> BTreeMap<(String, BTreeMap<String, String>), f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("name and value");
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let labels = labels
            .split(',')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once('=').expect("label=value");
                (k.to_string(), v.trim_matches('"').to_string())
            })
            .collect();
        out.insert((name.to_string(), labels), value.parse().expect("a number"));
    }
    out
}

/// The sum of a metric's samples whose labels include `labels`.
pub fn sum(
    samples: &BTreeMap<(String, BTreeMap<String, String>), f64>,
    name: &str,
    labels: &[(&str, &str)],
) -> f64 {
    samples
        .iter()
        .filter(|((n, l), _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(v))
        })
        .map(|(_, v)| v)
        .sum()
}

/// `promtool check metrics` on `text`, when promtool is installed.
pub fn promtool_accepts(text: &str, test: &str) {
    let Some(promtool) = tool("promtool", test) else {
        return;
    };
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), text.as_bytes())
        .expect("metrics written to promtool");
    let output = child.wait_with_output().expect("promtool ends");
    assert!(
        output.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Packets in the captures under `dir` by capinfos, or a visible skip.
fn capinfos_packets(dir: &Path, test: &str) -> Option<u64> {
    let capinfos = tool("capinfos", test)?;
    let files: Vec<PathBuf> = captures_under(dir);
    let output = Command::new(capinfos)
        .args(["-T", "-r", "-c"])
        .args(&files)
        .output()
        .expect("capinfos runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let counts: Vec<u64> = text
        .lines()
        .filter_map(|l| l.rsplit('\t').next()?.trim().parse().ok())
        .collect();
    assert_eq!(
        counts.len(),
        files.len(),
        "capinfos read every capture: {text}"
    );
    Some(counts.iter().sum())
}

#[test]
fn metrics_of_a_replay_pass_promtool_and_count_what_the_capture_holds() {
    let test = "metrics_of_a_replay_pass_promtool_and_count_what_the_capture_holds";
    let served = analyze_and_serve(&[]);
    let (status, text) = served.get("/metrics");
    assert_eq!(status, 200);
    promtool_accepts(&text, test);
    let m = samples(&text);
    let stats = &served.inventory["stats"];

    // Packets and bytes: the capture's, by capinfos, and the summary's.
    let packets = sum(&m, "mirador_packets_total", &[("interface", "replay")]);
    assert_eq!(Some(packets), stats["packets"].as_f64());
    if let Some(expected) = capinfos_packets(&pcaps().join("ics"), test) {
        assert_eq!(packets, expected as f64);
    }
    assert_eq!(
        Some(sum(&m, "mirador_bytes_total", &[])),
        stats["bytes"].as_f64()
    );

    // Devices by category: the inventory's verdicts.
    let mut by_category: BTreeMap<String, f64> = BTreeMap::new();
    for d in served.devices() {
        let label = d["classification"]["category"]["label"]
            .as_str()
            .unwrap_or("unclassified");
        *by_category.entry(label.to_string()).or_default() += 1.0;
    }
    assert!(by_category.contains_key("ot/plc"), "{by_category:?}");
    for (category, n) in &by_category {
        assert_eq!(
            sum(&m, "mirador_devices", &[("category", category)]),
            *n,
            "{category}"
        );
    }
    assert_eq!(
        sum(&m, "mirador_devices", &[]),
        served.devices().len() as f64
    );

    // Trust: the histogram counts every device, under each bound those
    // the inventory scores at most that.
    let scores: Vec<u64> = served
        .devices()
        .iter()
        .filter_map(|d| d["trust"]["score"].as_u64())
        .collect();
    assert_eq!(scores.len(), served.devices().len());
    assert_eq!(
        sum(&m, "mirador_device_trust_count", &[]),
        scores.len() as f64
    );
    for bound in [50, 90, 100] {
        assert_eq!(
            sum(
                &m,
                "mirador_device_trust_bucket",
                &[("le", &bound.to_string())]
            ),
            scores.iter().filter(|s| **s <= bound).count() as f64,
            "le {bound}"
        );
    }

    // Anomalies by type and severity: those the inventory lists.
    let anomalies = served.inventory["anomalies"]["anomalies"]
        .as_array()
        .expect("anomalies");
    assert!(!anomalies.is_empty());
    for a in anomalies {
        let (kind, severity) = (a["type"].as_str().unwrap(), a["severity"].as_str().unwrap());
        let listed = anomalies
            .iter()
            .filter(|b| b["type"] == kind && b["severity"] == severity)
            .count();
        assert_eq!(
            sum(
                &m,
                "mirador_anomalies_total",
                &[("type", kind), ("severity", severity)]
            ),
            listed as f64
        );
    }
    let incidents = served.inventory["anomalies"]["incidents"]
        .as_array()
        .expect("incidents");
    assert_eq!(sum(&m, "mirador_incidents", &[]), incidents.len() as f64);

    // Parse errors by protocol and reason, flows, tables: the summary's.
    for (protocol, reasons) in stats["extract"]["parse_errors"]
        .as_object()
        .expect("parse errors")
    {
        for (reason, n) in reasons.as_object().expect("reasons") {
            assert_eq!(
                Some(sum(
                    &m,
                    "mirador_parse_errors_total",
                    &[("protocol", protocol), ("reason", reason)]
                )),
                n.as_f64()
            );
        }
    }
    assert_eq!(
        Some(sum(&m, "mirador_flows_created_total", &[])),
        stats["flows"]["created"].as_f64()
    );
    assert_eq!(sum(&m, "mirador_table_entries", &[("table", "flows")]), 0.0);
    assert_eq!(
        sum(&m, "mirador_table_capacity", &[("table", "devices")]),
        100_000.0
    );
    // Housekeeping was timed, once per run of each stage.
    assert!(
        sum(
            &m,
            "mirador_stage_duration_seconds_count",
            &[("stage", "inventory")]
        ) > 0.0
    );
}

#[test]
fn the_api_serves_the_inventory_filtered_and_in_pages() {
    let served = analyze_and_serve(&[]);
    let all = served.inventory_macs(|_| true);
    assert!(all.len() > 20, "{all:?}");

    // Every device, in the inventory's order, without evidence.
    let page = served.json("/api/v1/devices?limit=1000");
    assert_eq!(page["total"], all.len());
    let listed = page["devices"].as_array().unwrap();
    assert_eq!(listed.len(), all.len());
    assert!(listed.iter().all(|d| d.get("evidence").is_none()));
    assert_eq!(served.macs("limit=1000").1, all);

    // Pages of 10 make up the whole list; past the end, none.
    let mut paged = Vec::new();
    for offset in (0..all.len()).step_by(10) {
        let (total, macs) = served.macs(&format!("limit=10&offset={offset}"));
        assert_eq!(total as usize, all.len());
        assert!(macs.len() <= 10);
        paged.extend(macs);
    }
    assert_eq!(paged, all);
    let (total, none) = served.macs(&format!("offset={}", all.len() + 5));
    assert_eq!((total as usize, none.len()), (all.len(), 0));
    assert_eq!(served.json("/api/v1/devices")["limit"], 100);

    // Filters, against the inventory.
    let category = |d: &Value| {
        d["classification"]["category"]["label"]
            .as_str()
            .map(str::to_string)
    };
    let plcs = served.inventory_macs(|d| category(d).as_deref() == Some("ot/plc"));
    assert!(!plcs.is_empty());
    assert_eq!(served.macs("category=ot/plc").1, plcs);
    let ot =
        served.inventory_macs(|d| category(d).is_some_and(|c| c == "ot" || c.starts_with("ot/")));
    assert!(ot.len() > plcs.len());
    assert_eq!(served.macs("category=ot").1, ot);
    let siemens = served.inventory_macs(|d| {
        d["vendor"]
            .as_str()
            .is_some_and(|v| v.eq_ignore_ascii_case("siemens"))
            || d["classification"]["vendor"]["label"]
                .as_str()
                .is_some_and(|v| v.eq_ignore_ascii_case("siemens"))
    });
    assert!(siemens.len() > 10, "{siemens:?}");
    assert_eq!(served.macs("vendor=SIEMENS&limit=1000").1, siemens);
    let recent = served
        .inventory_macs(|d| d["last_seen"].as_str().unwrap() >= "2015-01-01T00:00:00.000000+0000");
    assert!(!recent.is_empty() && recent.len() < all.len());
    assert_eq!(served.macs("seen_since=2015-01-01T00:00:00Z").1, recent);
    assert_eq!(served.macs("seen_since=2015-01-01").1, recent);
    // Trust: under 95 (cleartext OT protocols and exposed services cost
    // the field devices trust), as the inventory scores them.
    let distrusted =
        served.inventory_macs(|d| d["trust"]["score"].as_u64().is_some_and(|t| t < 95));
    assert!(
        !distrusted.is_empty() && distrusted.len() < all.len(),
        "{distrusted:?}"
    );
    assert_eq!(served.macs("trust_below=95&limit=1000").1, distrusted);
    let (total, both) = served.macs("category=ot&vendor=siemens&limit=2");
    let expected: Vec<&String> = ot.iter().filter(|m| siemens.contains(m)).collect();
    assert_eq!(total as usize, expected.len());
    assert_eq!(
        both.iter().collect::<Vec<_>>(),
        expected[..2.min(expected.len())]
    );

    // Bad parameters are told, not served.
    for bad in [
        "limit=0",
        "limit=5000",
        "limit=ten",
        "offset=-1",
        "seen_since=yesterday",
        "categroy=ot",
    ] {
        let (status, body) = served.get(&format!("/api/v1/devices?{bad}"));
        assert_eq!(status, 400, "{bad}: {body}");
        let error: Value = serde_json::from_str(&body).expect("a JSON error");
        assert!(error["error"].is_string(), "{body}");
    }

    // One device, whole: the inventory's object, evidence included.
    let mac = &plcs[0];
    let device = served.json(&format!("/api/v1/devices/{mac}"));
    let stored = served
        .devices()
        .iter()
        .find(|d| d["mac"] == mac.as_str())
        .unwrap();
    assert_eq!(&device, stored);
    assert!(!device["evidence"].as_array().unwrap().is_empty());
    let shouted = mac.to_uppercase().replace(':', "-");
    assert_eq!(served.json(&format!("/api/v1/devices/{shouted}")), device);
    for unknown in ["02:00:00:00:00:01", "not-a-mac", "00:11"] {
        let (status, body) = served.get(&format!("/api/v1/devices/{unknown}"));
        assert_eq!(status, 404, "{unknown}: {body}");
    }
    assert_eq!(served.get("/api/v1/nothing").0, 404);
}

#[test]
fn the_api_serves_anomalies_and_every_documented_path() {
    let served = analyze_and_serve(&[]);
    let listed = served.inventory["anomalies"]["anomalies"]
        .as_array()
        .unwrap()
        .clone();
    let page = served.json("/api/v1/anomalies");
    assert_eq!(page["total"], listed.len());
    assert_eq!(page["anomalies"].as_array().unwrap(), &listed);
    let subject = listed[0]["subject"]["mac"].as_str().unwrap();
    let of_subject: Vec<&Value> = listed
        .iter()
        .filter(|a| a["subject"]["mac"] == subject)
        .collect();
    let page = served.json(&format!(
        "/api/v1/anomalies?device={}",
        subject.to_uppercase()
    ));
    assert_eq!(
        page["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        of_subject
    );
    let kind = listed[0]["type"].as_str().unwrap();
    let page = served.json(&format!("/api/v1/anomalies?type={kind}&severity=critical"));
    let critical = listed
        .iter()
        .filter(|a| a["type"] == kind && a["severity"] == "critical")
        .count();
    assert_eq!(page["total"], critical);
    assert_eq!(served.get("/api/v1/anomalies?limit=1001").0, 400);

    // Every path of the OpenAPI document answers with a status it lists.
    let doc = served.json("/api/v1/openapi.json");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 6, "{paths:?}");
    for (path, item) in paths {
        let url = path.replace("{id}", subject);
        let (status, body) = served.get(&url);
        let documented = item["get"]["responses"].as_object().unwrap();
        assert!(
            documented.contains_key(&status.to_string()),
            "{path}: {status} is not among {:?}: {body}",
            documented.keys()
        );
        assert_ne!(status, 404, "{path}");
    }
}

#[test]
fn serve_needs_a_token_off_loopback_and_then_checks_it() {
    let test = "serve_needs_a_token_off_loopback_and_then_checks_it";
    // An inventory written by analyze.
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inventory.json");
    let written = mirador()
        .arg("analyze")
        .arg(pcaps().join("iot-sentinel"))
        .arg("--inventory")
        .arg(&inventory)
        .args(["--quiet", "--progress", "never"])
        .status()
        .unwrap();
    assert!(written.success());

    // Every address, no token: refused at once, saying why.
    let refused = mirador()
        .arg("serve")
        .arg(&inventory)
        .args(["--listen", "0.0.0.0:0"])
        .env_remove("MIRADOR_API_TOKEN")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(said.contains("--api-token"), "{said}");

    // With a token (from the environment), every request must carry it.
    let mut child = mirador()
        .arg("serve")
        .arg(&inventory)
        .args(["--listen", "0.0.0.0:0"])
        .env("MIRADOR_API_TOKEN", "s3cret")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = wait_for(&mut child, "serving");
    let served = Served {
        child,
        base: base.replace("0.0.0.0", "127.0.0.1"),
        inventory: read_json(&inventory),
        _dir: dir,
    };
    for path in [
        "/metrics",
        "/api/v1/devices",
        "/api/v1/openapi.json",
        "/nothing",
    ] {
        let url = format!("{}{path}", served.base);
        assert_eq!(get(&url, None).0, 401, "{path} without a token");
        assert_eq!(get(&url, Some("s3cre")).0, 401, "{path} with a wrong token");
    }
    let authorised = |path: &str| {
        let (status, body) = get(&format!("{}{path}", served.base), Some("s3cret"));
        assert_eq!(status, 200, "{path}: {body}");
        body
    };
    // The stored inventory, served as it was written.
    let page: Value = serde_json::from_str(&authorised("/api/v1/devices?limit=1000")).unwrap();
    assert_eq!(page["total"], served.devices().len());
    let mac = served.devices()[0]["mac"].as_str().unwrap();
    let device: Value =
        serde_json::from_str(&authorised(&format!("/api/v1/devices/{mac}"))).unwrap();
    assert_eq!(device, served.devices()[0]);
    // Its metrics: the inventory's (no capture runs).
    let text = authorised("/metrics");
    promtool_accepts(&text, test);
    let m = samples(&text);
    assert_eq!(
        sum(&m, "mirador_devices", &[]),
        served.devices().len() as f64
    );
    assert_eq!(sum(&m, "mirador_packets_total", &[]), 0.0);
}

#[test]
fn serve_refuses_what_is_not_an_inventory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.json");
    std::fs::write(&path, r#"{"event_type": "flow"}"#).unwrap();
    let output = mirador()
        .arg("serve")
        .arg(&path)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(said.contains("not a mirador inventory"), "{said}");
    assert!(!said.contains("panicked"), "{said}");
}
