//! Every capture of the shared corpus (about 2,800, among them some 230
//! crash regressions from tcpdump's test suite and fuzzers' finds): mirador
//! must end on each, without a panic and within a time bound.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{captures_under, mirador, parallel, shared};

const TIME_BOUND: Duration = Duration::from_secs(60);

/// Runs mirador on one capture; `Some(reason)` if it crashed or hung.
fn crash_or_hang(capture: &PathBuf) -> Option<String> {
    let mut child = mirador()
        .args([
            "analyze",
            "--quiet",
            "--workers",
            "1",
            "--inventory",
            "/dev/null",
        ])
        .arg(capture)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mirador starts");
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                return match status.code() {
                    // 0: read whole; 1: an input error, reported.
                    Some(0 | 1) if !stderr.contains("panicked") => None,
                    code => Some(format!("exit {code:?}: {}", stderr.trim())),
                };
            }
            Ok(None) if started.elapsed() > TIME_BOUND => {
                let _ = child.kill();
                return Some(format!("still running after {TIME_BOUND:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Some(format!("wait failed: {e}")),
        }
    }
}

#[test]
fn every_shared_capture_ends_without_a_crash() {
    let Some(shared) = shared("every_shared_capture_ends_without_a_crash") else {
        return;
    };
    let captures = captures_under(&shared);
    assert!(
        captures.len() > 2000,
        "corpus incomplete: {}",
        captures.len()
    );
    let failures: Vec<String> = parallel(&captures, |c| {
        crash_or_hang(c).map(|why| format!("{}: {why}", c.display()))
    })
    .into_iter()
    .flatten()
    .collect();
    eprintln!(
        "sweep: {} captures, {} crashed or hung",
        captures.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
}
