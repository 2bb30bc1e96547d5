//! Broken inputs, made from real captures: a clear error naming the file
//! (and the offset), no panic, the other inputs still analysed, what was
//! read still written, and exit status 1.

use std::path::{Path, PathBuf};

use crate::support::{analyze, pcaps};

/// The broken files, each with a fragment its error message must contain.
fn broken_files(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let capture = std::fs::read(pcaps().join("ndpi/KakaoTalk_chat.pcap")).expect("fixture");
    let pcapng = std::fs::read(pcaps().join("ndpi/dns-google-nsid.pcapng")).expect("fixture");
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    };
    // Legacy pcap: 24-byte file header, then 16-byte record headers whose
    // bytes 8..12 are the captured length.
    let first_len = u32::from_le_bytes(capture[32..36].try_into().expect("4 bytes")) as usize;
    let second = 24 + 16 + first_len;
    let mut corrupt = capture.clone();
    corrupt[second + 8..second + 12].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    let mut unknown_link = capture.clone();
    unknown_link[20..24].copy_from_slice(&147u32.to_le_bytes());
    vec![
        (
            write("truncated.pcap", &capture[..capture.len() - 7]),
            "truncated at offset",
        ),
        (
            write("truncated.pcapng", &pcapng[..pcapng.len() / 2]),
            "truncated at offset",
        ),
        (write("corrupt-length.pcap", &corrupt), "corrupt at offset"),
        (write("empty.pcap", b""), "empty file"),
        (
            write(
                "not-a-capture.pcap",
                b"this is a text file, not a capture\n",
            ),
            "not a pcap or pcapng capture",
        ),
        (write("unknown-link.pcap", &unknown_link), "link type 147"),
        (dir.join("missing.pcap"), "cannot open"),
    ]
}

#[test]
fn each_broken_input_is_named_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("temporary directory");
    for (file, message) in broken_files(dir.path()) {
        let run = analyze(&[&file], &[]);
        let stderr = run.stderr();
        assert_eq!(run.code(), Some(1), "{}: {stderr}", file.display());
        assert!(!stderr.contains("panicked"), "{stderr}");
        let line = stderr
            .lines()
            .find(|l| l.contains(&*file.to_string_lossy()))
            .unwrap_or_else(|| panic!("no error names {}: {stderr}", file.display()));
        assert!(line.contains(message), "{line:?} lacks {message:?}");
        // The inventory is written even so, with the error in it.
        assert!(
            run.inventory["stats"]["input_errors"][0]
                .as_str()
                .is_some_and(|e| e.contains(message))
        );
    }
}

#[test]
fn good_inputs_are_analysed_beside_broken_ones() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let broken = broken_files(dir.path());
    let good = pcaps().join("iot-sentinel/TP-LinkPlugHS110/Setup-A-1-STA.pcap");
    let mut inputs: Vec<PathBuf> = broken.iter().map(|(p, _)| p.clone()).collect();
    inputs.push(good.clone());
    let run = analyze(&inputs, &[]);
    assert_eq!(run.code(), Some(1));
    assert_eq!(
        run.inventory["stats"]["input_errors"]
            .as_array()
            .map(Vec::len),
        Some(broken.len())
    );
    // The good capture's device is there, as when it is read alone.
    let alone = analyze(&[&good], &[]);
    assert_eq!(alone.code(), Some(0));
    let plug = "50:c7:bf:00:c7:03";
    assert!(run.device(plug).is_some());
    assert_eq!(
        run.device(plug).map(|d| &d["ips"]),
        alone.device(plug).map(|d| &d["ips"])
    );
    // What the truncated capture held before the cut is kept: its flows
    // are among the events.
    assert!(
        run.flows()
            .any(|f| f["src_ip"] == "10.24.82.188" || f["dest_ip"] == "10.24.82.188")
    );
}

#[test]
fn a_cut_capture_keeps_what_came_before_the_cut() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let whole = pcaps().join("ndpi/KakaoTalk_chat.pcap");
    let bytes = std::fs::read(&whole).expect("fixture");
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let full = analyze(&[&whole], &[]);
    let half = analyze(&[&cut], &[]);
    assert_eq!(half.code(), Some(1));
    let (n_half, n_full) = (half.stat("packets"), full.stat("packets"));
    assert!(
        n_half > n_full / 3 && n_half < n_full,
        "{n_half} of {n_full} packets"
    );
}
