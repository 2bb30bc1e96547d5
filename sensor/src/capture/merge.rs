//! Many capture files read as one stream in timestamp order.
//!
//! Files are sorted by their first packet and opened only when the merged
//! stream reaches that time, so a directory of rotated captures keeps one or
//! two files open, while captures of the same period from several taps are
//! interleaved packet by packet. A file that fails is reported and dropped;
//! the others go on.

use std::collections::VecDeque;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::file::Container;
use super::{CaptureError, CaptureFile, Packet, Timestamp};

/// The inputs named on the command line, expanded.
#[derive(Debug, Default)]
pub struct Inputs {
    /// Files to read, in a stable order.
    pub files: Vec<PathBuf>,
    /// Files inside named directories that are not captures (by magic number).
    pub skipped: Vec<PathBuf>,
}

/// Expands directories (recursively) into the capture files they hold.
/// Files named explicitly are always kept, so that a wrong one is reported.
pub fn expand_inputs(paths: &[PathBuf]) -> Inputs {
    let mut inputs = Inputs::default();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found);
            found.sort();
            for file in found {
                if looks_like_capture(&file) {
                    inputs.files.push(file);
                } else {
                    inputs.skipped.push(file);
                }
            }
        } else {
            inputs.files.push(path.clone());
        }
    }
    inputs
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, out),
            Ok(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
}

/// A capture by its magic number; a gzip file by the magic of what it
/// holds (a directory may hold compressed logs beside compressed captures).
fn looks_like_capture(path: &Path) -> bool {
    let mut head = [0u8; 4];
    let read = fs::File::open(path).and_then(|mut f| f.read_exact(&mut head));
    match (read, Container::of(&head)) {
        (Ok(()), Some(Container::Gzip)) => {
            let inner = fs::File::open(path)
                .and_then(|f| flate2::read::GzDecoder::new(f).read_exact(&mut head));
            inner.is_ok()
                && matches!(
                    Container::of(&head),
                    Some(Container::Pcap | Container::PcapNg)
                )
        }
        (Ok(()), found) => found.is_some(),
        _ => false,
    }
}

struct Pending {
    first_ts: Timestamp,
    path: PathBuf,
}

/// Capture files merged into one packet stream, ordered by timestamp.
pub struct MergedFiles {
    pending: VecDeque<Pending>,
    active: Vec<CaptureFile>,
    current: Option<usize>,
    errors: Vec<CaptureError>,
    total_bytes: u64,
    finished_bytes: u64,
}

impl MergedFiles {
    /// Opens the files. Files that cannot be read at all are reported by
    /// [`take_errors`](Self::take_errors), not returned as an error.
    pub fn new(paths: &[PathBuf]) -> MergedFiles {
        let mut merged = MergedFiles {
            pending: VecDeque::new(),
            active: Vec::new(),
            current: None,
            errors: Vec::new(),
            total_bytes: 0,
            finished_bytes: 0,
        };
        if let [only] = paths {
            // One file: no need to look ahead at its first packet.
            merged.pending.push_back(Pending {
                first_ts: Timestamp::default(),
                path: only.clone(),
            });
        } else {
            let mut firsts = Vec::with_capacity(paths.len());
            for path in paths {
                match first_timestamp(path) {
                    Ok(Some(first_ts)) => firsts.push(Pending {
                        first_ts,
                        path: path.clone(),
                    }),
                    Ok(None) => {}
                    Err(e) => merged.errors.push(e),
                }
            }
            firsts.sort_by_key(|p| p.first_ts);
            merged.pending.extend(firsts);
        }
        merged.total_bytes = merged
            .pending
            .iter()
            .map(|p| fs::metadata(&p.path).map(|m| m.len()).unwrap_or(0))
            .sum();
        merged
    }

    /// Moves to the next packet in time order; `false` when every file is done.
    pub fn advance(&mut self) -> bool {
        // One file open and none waiting: no choice to make.
        if let (Some(0), [file], true) = (
            self.current,
            self.active.as_mut_slice(),
            self.pending.is_empty(),
        ) {
            match file.advance() {
                Ok(true) => return true,
                Ok(false) => self.retire(0, None),
                Err(e) => self.retire(0, Some(e)),
            }
            self.current = None;
            return false;
        }
        if let Some(i) = self.current.take() {
            match self.active[i].advance() {
                Ok(true) => {}
                Ok(false) => self.retire(i, None),
                Err(e) => self.retire(i, Some(e)),
            }
        }
        self.open_due_files();
        self.current = self
            .active
            .iter()
            .enumerate()
            .filter_map(|(i, f)| Some((f.current_ts()?, i)))
            .min()
            .map(|(_, i)| i);
        self.current.is_some()
    }

    /// The packet [`advance`](Self::advance) moved to.
    pub fn current(&self) -> Option<Packet<'_>> {
        self.active.get(self.current?)?.current()
    }

    /// Errors met so far, each naming its file; the caller reports them.
    pub fn take_errors(&mut self) -> Vec<CaptureError> {
        std::mem::take(&mut self.errors)
    }

    /// Bytes of input read and in all, for progress reporting.
    pub fn progress(&self) -> (u64, u64) {
        let active: u64 = self
            .active
            .iter()
            .map(|f| f.position().min(f.file_len()))
            .sum();
        (self.finished_bytes + active, self.total_bytes)
    }

    fn retire(&mut self, i: usize, error: Option<CaptureError>) {
        let file = self.active.swap_remove(i);
        self.finished_bytes += file.file_len();
        self.errors.extend(error);
    }

    /// Opens pending files whose first packet is due: when nothing is open,
    /// or when they start no later than the earliest open file's packet.
    fn open_due_files(&mut self) {
        while let Some(next) = self.pending.front() {
            let earliest = self.active.iter().filter_map(CaptureFile::current_ts).min();
            if earliest.is_some_and(|t| next.first_ts > t) {
                return;
            }
            let Some(next) = self.pending.pop_front() else {
                return;
            };
            match CaptureFile::open(&next.path) {
                Ok(mut file) => match file.advance() {
                    Ok(true) => self.active.push(file),
                    Ok(false) => self.finished_bytes += file.file_len(),
                    Err(e) => {
                        self.finished_bytes += file.file_len();
                        self.errors.push(e);
                    }
                },
                Err(e) => self.errors.push(e),
            }
        }
    }
}

fn first_timestamp(path: &Path) -> Result<Option<Timestamp>, CaptureError> {
    let mut file = CaptureFile::open(path)?;
    Ok(if file.advance()? {
        file.current_ts()
    } else {
        None
    })
}
