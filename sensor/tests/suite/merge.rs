//! Many inputs read as one: a capture split into files (or a directory of
//! them) gives the same flows and devices as the capture itself, and so
//! does spreading the work over several workers.

use std::path::Path;

use crate::support::{Run, analyze, flow_events, pcaps};

/// Writes the records of a legacy pcap whose index satisfies `keep`.
fn split_pcap(source: &Path, target: &Path, keep: impl Fn(usize) -> bool) {
    let bytes = std::fs::read(source).expect("capture");
    let mut out = bytes[..24].to_vec();
    let (mut at, mut index) = (24, 0);
    while at + 16 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().expect("4 bytes")) as usize;
        let end = at + 16 + len;
        if keep(index) {
            out.extend_from_slice(&bytes[at..end]);
        }
        (at, index) = (end, index + 1);
    }
    std::fs::write(target, out).expect("write");
}

fn assert_same_results(a: &Run, b: &Run, what: &str) {
    assert_eq!(a.code(), Some(0), "{what}: {}", a.stderr());
    assert_eq!(b.code(), Some(0), "{what}: {}", b.stderr());
    assert_eq!(a.stat("packets"), b.stat("packets"), "{what}");
    assert_eq!(flow_events(a), flow_events(b), "{what}: flows differ");
    assert_eq!(
        a.inventory["devices"], b.inventory["devices"],
        "{what}: devices differ"
    );
    assert_eq!(
        a.inventory["remote_hosts"], b.inventory["remote_hosts"],
        "{what}: remote hosts differ"
    );
}

#[test]
fn interleaved_files_merge_back_into_the_capture() {
    let original = pcaps().join("iot-sentinel/D-LinkCam/Setup-C-7-STA.pcap");
    let dir = tempfile::tempdir().expect("temporary directory");
    let (odd, even) = (dir.path().join("odd.pcap"), dir.path().join("even.pcap"));
    split_pcap(&original, &odd, |i| i % 2 == 1);
    split_pcap(&original, &even, |i| i % 2 == 0);
    let whole = analyze(&[&original], &["--workers", "1"]);
    assert!(whole.stat("packets") > 100);
    let merged = analyze(&[&odd, &even], &["--workers", "1"]);
    assert_same_results(&whole, &merged, "two interleaved files");
    let from_dir = analyze(&[dir.path()], &["--workers", "1"]);
    assert_same_results(&whole, &from_dir, "a directory of them");
}

#[test]
fn worker_count_does_not_change_the_results() {
    // Many devices, a router, remote hosts, several link types and tunnels.
    let inputs = [
        pcaps().join("iot-sentinel"),
        pcaps().join("ndpi"),
        pcaps().join("zeek"),
    ];
    let one = analyze(&inputs, &["--workers", "1"]);
    for workers in ["2", "3"] {
        let many = analyze(&inputs, &["--workers", workers]);
        assert_same_results(&one, &many, &format!("{workers} workers"));
    }
}
