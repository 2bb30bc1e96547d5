//! The device inventory against the IoT Sentinel labels: each labelled
//! device is found, bound to the IPv4 address its DHCP server assigned
//! (as tshark reads the DHCP ACK), and given the vendor its MAC block is
//! registered to.

use std::path::Path;
use std::process::Command;

use crate::support::{analyze, parallel, pcaps, shared, tool};

struct Label {
    capture: String,
    mac: String,
    vendor: String,
}

fn labels(dir: &Path) -> Vec<Label> {
    let text = std::fs::read_to_string(dir.join("labels.csv")).expect("labels.csv");
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some(Label {
                capture: f.first()?.to_string(),
                mac: f.get(2)?.to_ascii_lowercase(),
                vendor: f.get(3)?.to_string(),
            })
        })
        .collect()
}

/// Letters and digits, lower-cased: `eQ-3 Homematic` -> `eq3homematic`.
fn squash(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The IEEE organisation the MAC's block is registered to, from the
/// registry file shipped in `fingerprints/data` (the IEEE's own listing).
fn registered_organization(mac: &str) -> Option<String> {
    let registry = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fingerprints/data/oui.tsv");
    let text = std::fs::read_to_string(registry).ok()?;
    let hex: String = mac
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect::<String>()
        .to_uppercase();
    // Longest prefix first: MA-S (9 digits), MA-M (7), MA-L (6).
    [9, 7, 6].iter().find_map(|n| {
        let prefix = format!("{}\t", &hex[..*n]);
        text.lines()
            .find(|l| l.starts_with(&prefix))
            .map(|l| l[prefix.len()..].to_string())
    })
}

/// The addresses DHCP servers assigned to `mac` in `capture` (yiaddr of
/// the ACKs), as tshark dissects them.
fn dhcp_assigned(tshark: &Path, capture: &Path, mac: &str) -> Vec<String> {
    let out = Command::new(tshark)
        .arg("-r")
        .arg(capture)
        .args([
            "-Y",
            "dhcp.option.dhcp == 5",
            "-T",
            "fields",
            "-e",
            "dhcp.hw.mac_addr",
            "-e",
            "dhcp.ip.your",
        ])
        .output()
        .expect("tshark runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(m, _)| m.eq_ignore_ascii_case(mac))
        .map(|(_, ip)| ip.to_string())
        .collect()
}

/// Checks every label; returns failures.
fn check(dir: &Path, test: &str) -> (usize, Vec<String>) {
    let tshark = tool("tshark", test);
    let labels = labels(dir);
    let failures = parallel(&labels, |label| {
        let capture = dir.join(&label.capture);
        let run = analyze(&[&capture], &["--quiet"]);
        let mut problems = Vec::new();
        let Some(device) = run.device(&label.mac) else {
            return vec![format!(
                "{}: device {} not in the inventory",
                label.capture, label.mac
            )];
        };
        let ips: Vec<(String, Vec<String>)> = device["ips"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|b| {
                let sources = b["sources"].as_array().into_iter().flatten();
                let sources = sources
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect();
                (b["ip"].as_str().unwrap_or("").to_string(), sources)
            })
            .collect();
        if !ips.iter().any(|(ip, _)| ip.contains('.')) {
            problems.push(format!(
                "{}: {} has no IPv4 address",
                label.capture, label.mac
            ));
        }
        if let Some(tshark) = &tshark {
            for assigned in dhcp_assigned(tshark, &capture, &label.mac) {
                let bound = ips
                    .iter()
                    .any(|(ip, s)| *ip == assigned && s.iter().any(|s| s == "dhcp"));
                if !bound {
                    problems.push(format!(
                        "{}: DHCP assigned {assigned}, bound: {ips:?}",
                        label.capture
                    ));
                }
            }
        }
        // Where the block is registered to the labelled vendor, the
        // inventory must name that vendor.
        let brand = squash(label.vendor.split_whitespace().next().unwrap_or(""));
        if registered_organization(&label.mac).is_some_and(|org| squash(&org).contains(&brand)) {
            let vendor = device["vendor"].as_str().unwrap_or("");
            if !squash(vendor).contains(&brand) {
                problems.push(format!(
                    "{}: vendor {vendor:?}, label {:?}",
                    label.capture, label.vendor
                ));
            }
        }
        problems
    });
    (labels.len(), failures.into_iter().flatten().collect())
}

#[test]
fn fixture_devices_are_found_with_dhcp_address_and_vendor() {
    let (n, failures) = check(
        &pcaps().join("iot-sentinel"),
        "fixture_devices_are_found_with_dhcp_address_and_vendor",
    );
    assert!(n >= 10, "labels missing");
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn shared_iot_sentinel_devices_are_all_found() {
    let test = "shared_iot_sentinel_devices_are_all_found";
    let Some(shared) = shared(test) else {
        return;
    };
    let (n, failures) = check(&shared.join("iot-sentinel"), test);
    eprintln!(
        "IoT Sentinel: {n} labelled captures, {} problems",
        failures.len()
    );
    assert!(n >= 140, "labels missing");
    assert!(failures.is_empty(), "{failures:#?}");
}
