//! `sensor::capture::CaptureFile` (pcap-parser through mirador's wrapper)
//! on any file: legacy pcap, pcapng and gzip, recognised by magic number.
//! Errors are expected; panics and hangs are bugs. Each packet read is
//! decoded too, as the workers would.
//!
//! Input: the file's bytes. It is written to a file in the temporary
//! directory whose name holds the process id (one file per fuzzing
//! process), and removed after each input. Keep inputs small
//! (`-max_len=65536`): a record up to 16 MiB is legal.

#![no_main]

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sensor::capture::CaptureFile;

/// Packets read per input, at most (a gzip member can expand a small input
/// into very many packets).
const MAX_PACKETS: usize = 100_000;

fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("mirador-fuzz-capture-{}.bin", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = path();
    if std::fs::write(path, data).is_err() {
        return;
    }
    read(path);
    let _ = std::fs::remove_file(path);
});

fn read(path: &PathBuf) {
    let mut file = match CaptureFile::open(path) {
        Ok(file) => file,
        Err(e) => {
            black_box((e.to_string(), e.path()));
            return;
        }
    };
    black_box((file.path(), file.file_len()));
    for _ in 0..MAX_PACKETS {
        match file.advance() {
            Ok(true) => {
                let packet = file
                    .current()
                    .expect("advance() returned true, so there is a current packet");
                assert_eq!(file.current_ts(), Some(packet.ts));
                assert!(packet.wire_len as usize >= packet.data.len());
                black_box(packet.ts.to_string());
                match sensor::decode::decode(&packet) {
                    Ok(view) => {
                        black_box(view.network);
                    }
                    Err(e) => {
                        black_box(e);
                    }
                }
                black_box(file.position());
            }
            Ok(false) => {
                assert!(file.current().is_none());
                return;
            }
            Err(e) => {
                black_box((e.to_string(), e.path()));
                return;
            }
        }
    }
}
