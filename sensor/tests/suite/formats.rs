//! Capture formats and link types: every fixture is read whole, with the
//! packet count and timestamps tshark reads, and decoded without errors.

use std::path::Path;
use std::process::Command;

use crate::support::{analyze, captures_under, flow_events, parallel, pcaps, tool};

/// tshark's frame count and first/last epoch times (as printed, to the
/// nanosecond) of a capture.
fn tshark_frames(tshark: &Path, capture: &Path) -> (u64, Vec<String>) {
    let out = Command::new(tshark)
        .arg("-r")
        .arg(capture)
        .args(["-T", "fields", "-e", "frame.time_epoch"])
        .output()
        .expect("tshark runs");
    let times: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    (times.len() as u64, times)
}

/// `1418145369.924505488` -> `2014-12-09T17:16:09.924505+0000` (EVE style,
/// microseconds, truncated).
fn eve_time(epoch: &str) -> String {
    let (secs, frac) = epoch.split_once('.').unwrap_or((epoch, "0"));
    let secs: i64 = secs.parse().expect("seconds");
    let micros = format!("{:0<6}", &frac[..frac.len().min(6)]);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros}+0000",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Fixtures whose frames were corrupted on purpose (Wireshark's fuzz-test
/// corpus), with the number of frames mirador cannot decode.
const CORRUPT: &[(&str, u64)] = &[("ndpi/fuzz-2006-06-26-2594.pcap", 10)];

#[test]
fn every_fixture_is_read_whole_as_tshark_reads_it() {
    let Some(tshark) = tool("tshark", "every_fixture_is_read_whole_as_tshark_reads_it") else {
        return;
    };
    let captures = captures_under(&pcaps());
    assert!(captures.len() >= 40, "fixtures missing");
    let failures: Vec<String> = parallel(&captures, |cap| {
        let (frames, times) = tshark_frames(&tshark, cap);
        let run = analyze(&[cap], &["--quiet"]);
        let mut problems = Vec::new();
        if run.code() != Some(0) {
            problems.push(format!("exit {:?}: {}", run.code(), run.stderr()));
        }
        if run.stat("packets") != frames {
            problems.push(format!(
                "{} packets, tshark reads {frames}",
                run.stat("packets")
            ));
        }
        let mut sorted = times.clone();
        sorted.sort_by(|a, b| {
            a.parse::<f64>()
                .unwrap_or(0.0)
                .total_cmp(&b.parse::<f64>().unwrap_or(0.0))
        });
        if let (Some(first), Some(last)) = (sorted.first(), sorted.last()) {
            let stats = &run.inventory["stats"];
            for (field, want) in [("first_packet", first), ("last_packet", last)] {
                if stats[field] != eve_time(want).as_str() {
                    problems.push(format!("{field} {} but tshark {want}", stats[field]));
                }
            }
        }
        let errors: u64 = run.inventory["stats"]["decode_errors"]
            .as_object()
            .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
            .unwrap_or(0);
        let corrupt_on_purpose = CORRUPT
            .iter()
            .find(|(name, _)| cap.ends_with(name))
            .map_or(0, |(_, n)| *n);
        if errors != corrupt_on_purpose {
            problems.push(format!("{errors} decode errors"));
        }
        problems
            .into_iter()
            .map(|p| format!("{}: {p}", cap.display()))
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn nanosecond_timestamps_keep_their_precision() {
    let Some(tshark) = tool("tshark", "nanosecond_timestamps_keep_their_precision") else {
        return;
    };
    // A TCP handshake in a nanosecond pcap: SYN and ACK go to the server,
    // so the server-bound gap is frame 3 minus frame 1, to the nanosecond.
    let cap = pcaps().join("tcpdump/tcp-handshake-nano.pcap");
    let (frames, times) = tshark_frames(&tshark, &cap);
    assert_eq!(frames, 3);
    let nanos = |t: &str| -> i128 {
        let (s, f) = t.split_once('.').expect("fractional epoch");
        s.parse::<i128>().expect("seconds") * 1_000_000_000
            + format!("{f:0<9}")[..9]
                .parse::<i128>()
                .expect("nanoseconds")
    };
    let gap_us = (nanos(&times[2]) - nanos(&times[0])) as f64 / 1000.0;
    assert!(
        gap_us.fract() != 0.0,
        "the test needs a gap with sub-microsecond digits"
    );
    let run = analyze(&[&cap], &["--quiet"]);
    let flow = run.flows().next().expect("the handshake is one flow");
    assert_eq!(flow["flow"]["pkts_toserver"], 2);
    assert_eq!(
        flow["flow"]["toserver"]["iat_us"]["max"].as_f64(),
        Some(gap_us)
    );
    assert_eq!(flow["flow"]["start"], eve_time(&times[0]).as_str());
    assert_eq!(flow["flow"]["end"], eve_time(&times[2]).as_str());
}

#[test]
fn gzip_captures_read_like_the_originals() {
    let dir = pcaps();
    for (gz, plain) in [
        ("derived/selfsigned.pcap.gz", "ndpi/selfsigned.pcap"),
        (
            "derived/dns-google-nsid.pcapng.gz",
            "ndpi/dns-google-nsid.pcapng",
        ),
    ] {
        let a = analyze(&[dir.join(gz)], &["--quiet"]);
        let b = analyze(&[dir.join(plain)], &["--quiet"]);
        assert_eq!(a.code(), Some(0), "{}", a.stderr());
        assert!(a.stat("packets") > 0);
        assert_eq!(
            a.inventory["stats"]["packets"],
            b.inventory["stats"]["packets"]
        );
        assert_eq!(a.inventory["devices"], b.inventory["devices"]);
        assert_eq!(flow_events(&a), flow_events(&b), "{gz}");
    }
}

#[test]
fn one_pcapng_with_five_link_types_decodes_them_all() {
    let run = analyze(&[pcaps().join("derived/mixed-links.pcapng")], &["--quiet"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    // Each source capture's traffic is there: Linux cooked v1 and v2, raw
    // IP, BSD loopback, PPP.
    let ports: Vec<u64> = run
        .flows()
        .flat_map(|f| [f["src_port"].as_u64(), f["dest_port"].as_u64()])
        .flatten()
        .collect();
    for port in [8612, 3389, 443] {
        assert!(ports.contains(&port), "no flow on port {port}");
    }
    let errors = &run.inventory["stats"]["decode_errors"];
    assert_eq!(errors["unsupported_link_type"], 0);
    assert_eq!(errors["link"], 0);
}
