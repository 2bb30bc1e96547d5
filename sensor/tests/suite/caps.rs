//! Bounded memory: the flow table and the inventory keep to their caps,
//! evict the longest idle or least recently seen, and count it; no packet
//! is lost from the flows on the way.

use crate::support::{analyze, pcaps};

#[test]
fn flow_cap_evicts_the_longest_idle_and_counts_it() {
    let capture = pcaps().join("iot-sentinel/D-LinkCam/Setup-C-7-STA.pcap");
    let free = analyze(&[&capture], &["--workers", "1"]);
    let capped = analyze(&[&capture], &["--workers", "1", "--max-flows", "4"]);
    assert_eq!(capped.code(), Some(0), "{}", capped.stderr());
    let evicted = capped.inventory["stats"]["flows"]["evicted"]
        .as_u64()
        .unwrap_or(0);
    assert!(evicted > 0, "no flow evicted with room for four");
    assert_eq!(
        capped
            .flows()
            .filter(|f| f["flow"]["reason"] == "evicted")
            .count() as u64,
        evicted
    );
    // Evicted flows are reported, and a later packet starts a new flow: the
    // packets counted in flows are the same as without the cap.
    let packets = |run: &crate::support::Run| -> u64 {
        run.flows()
            .map(|f| {
                f["flow"]["pkts_toserver"].as_u64().unwrap_or(0)
                    + f["flow"]["pkts_toclient"].as_u64().unwrap_or(0)
            })
            .sum()
    };
    assert_eq!(packets(&capped), packets(&free));
    assert!(capped.flows().count() > free.flows().count());
}

#[test]
fn device_cap_keeps_the_most_recently_seen() {
    let inputs = [pcaps().join("iot-sentinel")];
    let free = analyze(&inputs, &["--workers", "1"]);
    let capped = analyze(&inputs, &["--workers", "1", "--max-devices", "4"]);
    assert!(free.devices().len() > 4);
    assert!(
        capped.devices().len() <= 4,
        "{} devices",
        capped.devices().len()
    );
    assert!(capped.inventory["devices_evicted"].as_u64().unwrap_or(0) > 0);
    // The ones kept are exactly the four last heard from.
    let last_seen = |d: &serde_json::Value| d["last_seen"].as_str().unwrap_or("").to_string();
    let mut recent: Vec<String> = free.devices().iter().map(last_seen).collect();
    recent.sort();
    let mut kept: Vec<String> = capped.devices().iter().map(last_seen).collect();
    kept.sort();
    assert_eq!(kept, recent[recent.len() - 4..]);
}
