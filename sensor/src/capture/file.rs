//! Capture files: legacy pcap (microsecond and nanosecond, either byte
//! order), pcapng (several sections and interfaces, each with its own link
//! type and timestamp resolution), and either of them gzip-compressed.
//! pcap-parser reads the blocks; this module turns them into [`Packet`]s and
//! every failure into a [`CaptureError`] that names the file and the offset.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pcap_parser::pcapng::Block;
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{PcapBlockOwned, PcapError};

use super::{LinkType, Packet, Timestamp};

/// Initial read buffer; it grows for larger records up to [`MAX_RECORD`].
const BUFFER: usize = 1 << 20;
/// No real frame comes near this; a larger record length is corruption, and
/// growing the buffer to follow it would let a hostile file exhaust memory.
const MAX_RECORD: usize = 16 << 20;

/// What a file's first bytes say it is: directories are searched for these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Container {
    /// Legacy pcap: either byte order, micro- or nanosecond, or the
    /// "modified" variant.
    Pcap,
    PcapNg,
    Gzip,
}

impl Container {
    pub(super) fn of(head: &[u8]) -> Option<Container> {
        match head {
            [0xd4, 0xc3, 0xb2, 0xa1, ..]
            | [0xa1, 0xb2, 0xc3, 0xd4, ..]
            | [0x4d, 0x3c, 0xb2, 0xa1, ..]
            | [0xa1, 0xb2, 0x3c, 0x4d, ..]
            | [0x34, 0xcd, 0xb2, 0xa1, ..] => Some(Container::Pcap),
            [0x0a, 0x0d, 0x0d, 0x0a, ..] => Some(Container::PcapNg),
            [0x1f, 0x8b, ..] => Some(Container::Gzip),
            _ => None,
        }
    }
}

/// Why a capture file could not be read (further).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{path}: cannot open: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("{path}: empty file")]
    Empty { path: PathBuf },
    #[error("{path}: not a pcap or pcapng capture (it starts with {magic})")]
    NotACapture { path: PathBuf, magic: String },
    #[error("{path}: truncated at offset {offset}: {what}")]
    Truncated {
        path: PathBuf,
        offset: u64,
        what: &'static str,
    },
    #[error("{path}: corrupt at offset {offset}: {what}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        what: String,
    },
    #[error("{path}: {packets} packets skipped: link type {link_type} is not supported")]
    UnsupportedLinkType {
        path: PathBuf,
        link_type: LinkType,
        packets: u64,
    },
    #[error("{path}: read error at offset {offset}: {what}")]
    Read {
        path: PathBuf,
        offset: u64,
        what: String,
    },
}

impl CaptureError {
    pub fn path(&self) -> &Path {
        match self {
            CaptureError::Open { path, .. }
            | CaptureError::Empty { path }
            | CaptureError::NotACapture { path, .. }
            | CaptureError::Truncated { path, .. }
            | CaptureError::Corrupt { path, .. }
            | CaptureError::UnsupportedLinkType { path, .. }
            | CaptureError::Read { path, .. } => path,
        }
    }
}

/// One interface of a pcapng section (or the single link of a legacy file).
#[derive(Debug, Clone, Copy)]
struct Interface {
    link_type: LinkType,
    /// Whether mirador decodes `link_type` (looked up once, not per packet).
    supported: bool,
    /// Timestamp units per second.
    units_per_sec: u64,
    /// Nanoseconds per unit when the resolution divides a second evenly
    /// (micro- and nanoseconds): a multiplication per packet, not a division.
    nanos_per_unit: Option<u64>,
    /// Seconds added to every timestamp (pcapng `if_tsoffset`).
    offset_secs: i64,
}

impl Interface {
    fn new(link_type: LinkType, units_per_sec: u64, offset_secs: i64) -> Interface {
        Interface {
            link_type,
            supported: link_type.is_supported(),
            units_per_sec,
            nanos_per_unit: (units_per_sec > 0 && 1_000_000_000 % units_per_sec == 0)
                .then(|| 1_000_000_000 / units_per_sec),
            offset_secs,
        }
    }
}

/// The packet the file is positioned on: where its bytes sit in the reader's
/// buffer, and what the record said about it.
#[derive(Debug, Clone, Copy)]
struct Current {
    ts: Timestamp,
    link_type: LinkType,
    supported: bool,
    start: usize,
    len: usize,
    wire_len: u32,
}

/// What one block of the file turned out to be.
enum Step {
    Skip(usize),
    Packet {
        consumed: usize,
        data_addr: usize,
        current: Current,
    },
    Refill,
    Grow,
    End,
}

/// An open capture file, positioned on one packet at a time: [`advance`]
/// moves to the next packet and [`current`] lends it out. Splitting the two
/// lets several files stay positioned at once, which merging needs.
///
/// [`advance`]: CaptureFile::advance
/// [`current`]: CaptureFile::current
pub struct CaptureFile {
    path: PathBuf,
    reader: Box<dyn PcapReaderIterator + Send>,
    interfaces: Vec<Interface>,
    /// A legacy pcap file's one interface, once its header is read.
    legacy: Option<Interface>,
    current: Option<Current>,
    /// Bytes of the current block, consumed when moving on.
    pending: usize,
    buffer_size: usize,
    last_ts: Timestamp,
    read_error: Arc<Mutex<Option<io::Error>>>,
    compressed_len: u64,
    /// Packets skipped for their link type, and the first such type.
    unsupported: Option<(LinkType, u64)>,
    /// Byte order of the current pcapng section (`None` outside pcapng).
    section_big_endian: Option<bool>,
}

impl CaptureFile {
    /// Opens a capture, recognising pcap, pcapng and gzip by their magic
    /// numbers rather than by file name.
    pub fn open(path: &Path) -> Result<CaptureFile, CaptureError> {
        let open_err = |source| CaptureError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(open_err)?;
        let compressed_len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut magic = [0u8; 4];
        let got = read_full(&mut file, &mut magic).map_err(open_err)?;
        let file = File::open(path).map_err(open_err)?;
        let read_error = Arc::new(Mutex::new(None));
        let input: Box<dyn Read + Send> = match Container::of(&magic[..got]) {
            Some(Container::Gzip) => Box::new(flate2::read::MultiGzDecoder::new(file)),
            _ => Box::new(file),
        };
        let input = FullReads {
            inner: input,
            error: Arc::clone(&read_error),
        };
        let reader = match pcap_parser::create_reader(BUFFER, input) {
            Ok(reader) => reader,
            Err(e) => return Err(open_error(path, e, &read_error)),
        };
        Ok(CaptureFile {
            path: path.to_path_buf(),
            reader,
            interfaces: Vec::new(),
            legacy: None,
            current: None,
            pending: 0,
            buffer_size: BUFFER,
            last_ts: Timestamp::default(),
            read_error,
            compressed_len,
            unsupported: None,
            section_big_endian: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the file on disk (compressed size for gzip files).
    pub fn file_len(&self) -> u64 {
        self.compressed_len
    }

    /// Bytes of capture data read so far (uncompressed).
    pub fn position(&self) -> u64 {
        self.reader.consumed() as u64
    }

    /// Moves to the next packet. `Ok(false)` at the end of the file.
    pub fn advance(&mut self) -> Result<bool, CaptureError> {
        if self.pending > 0 {
            self.reader.consume_noshift(self.pending);
            self.pending = 0;
        }
        self.current = None;
        loop {
            let offset = self.reader.consumed() as u64;
            if let Some(length) = self
                .section_big_endian
                .and_then(|big_endian| undersized_block(self.reader.data(), big_endian))
            {
                return Err(self.corrupt(
                    offset,
                    format!("block length {length} is shorter than a block header"),
                ));
            }
            let legacy = self.legacy.filter(|i| i.supported);
            let step = match (self.reader.next(), legacy) {
                // The common record, handled here rather than through
                // `classify`: this runs once per packet per worker.
                (Ok((consumed, PcapBlockOwned::Legacy(b))), Some(iface)) => {
                    let frac = u64::from(b.ts_usec) * iface.nanos_per_unit.unwrap_or(1000);
                    Step::Packet {
                        consumed,
                        data_addr: b.data.as_ptr() as usize,
                        current: Current {
                            ts: Timestamp(u64::from(b.ts_sec) * Timestamp::NANOS_PER_SEC + frac),
                            link_type: iface.link_type,
                            supported: true,
                            start: 0,
                            len: b.data.len(),
                            wire_len: b.origlen.max(b.data.len() as u32),
                        },
                    }
                }
                (Ok((consumed, block)), _) => {
                    if let PcapBlockOwned::NG(Block::SectionHeader(shb)) = &block {
                        self.section_big_endian = Some(shb.big_endian());
                    }
                    let header = matches!(block, PcapBlockOwned::LegacyHeader(_));
                    let step = classify(&block, consumed, &mut self.interfaces, self.last_ts);
                    if header {
                        self.legacy = self.interfaces.first().copied();
                    }
                    step.map_err(|what| self.corrupt(offset, what))?
                }
                (Err(PcapError::Eof), _) => Step::End,
                (Err(PcapError::Incomplete(_)), _) => Step::Refill,
                (Err(PcapError::BufferTooSmall), _) => Step::Grow,
                (Err(PcapError::UnexpectedEof), _) => {
                    return Err(CaptureError::Truncated {
                        path: self.path.clone(),
                        offset,
                        what: "the last record is cut short",
                    });
                }
                (Err(PcapError::ReadError), _) => return Err(self.read_failure(offset)),
                (Err(e), _) => {
                    let what = describe(&e);
                    return Err(self.corrupt(offset, what));
                }
            };
            match step {
                Step::Skip(consumed) => self.reader.consume_noshift(consumed),
                Step::Refill => {
                    if self.reader.refill().is_err() {
                        return Err(self.read_failure(offset));
                    }
                }
                Step::Grow => {
                    self.buffer_size *= 2;
                    if self.buffer_size > MAX_RECORD || !self.reader.grow(self.buffer_size) {
                        return Err(self.corrupt(
                            offset,
                            format!("record longer than {} MiB", MAX_RECORD >> 20),
                        ));
                    }
                }
                Step::End => {
                    return match self.unsupported.take() {
                        Some((link_type, packets)) => Err(CaptureError::UnsupportedLinkType {
                            path: self.path.clone(),
                            link_type,
                            packets,
                        }),
                        None => Ok(false),
                    };
                }
                Step::Packet {
                    consumed, current, ..
                } if !current.supported => {
                    // Read on, so that the file's other interfaces still
                    // count; the skipped packets are reported at the end.
                    let skipped = self.unsupported.get_or_insert((current.link_type, 0));
                    skipped.1 += 1;
                    self.reader.consume_noshift(consumed);
                }
                Step::Packet {
                    consumed,
                    data_addr,
                    mut current,
                } => {
                    // The packet's bytes are a sub-slice of the reader's
                    // buffer; keep their position so `current` can lend them.
                    let buffer = self.reader.data();
                    current.start = data_addr.wrapping_sub(buffer.as_ptr() as usize);
                    if buffer.len() < current.start.saturating_add(current.len) {
                        return Err(self.corrupt(offset, "packet outside its block".into()));
                    }
                    self.pending = consumed;
                    self.last_ts = current.ts;
                    self.current = Some(current);
                    return Ok(true);
                }
            }
        }
    }

    /// The packet the last successful [`advance`](Self::advance) moved to.
    pub fn current(&self) -> Option<Packet<'_>> {
        let c = self.current?;
        let data = self.reader.data().get(c.start..c.start + c.len)?;
        Some(Packet {
            ts: c.ts,
            link_type: c.link_type,
            data,
            wire_len: c.wire_len,
        })
    }

    pub fn current_ts(&self) -> Option<Timestamp> {
        self.current.map(|c| c.ts)
    }

    fn corrupt(&self, offset: u64, what: String) -> CaptureError {
        CaptureError::Corrupt {
            path: self.path.clone(),
            offset,
            what,
        }
    }

    fn read_failure(&self, offset: u64) -> CaptureError {
        CaptureError::Read {
            path: self.path.clone(),
            offset,
            what: take_read_error(&self.read_error),
        }
    }
}

/// The length of the next pcapng block if it is below the 12 bytes of
/// type and two length fields. pcap-parser 0.17 does not check this for
/// Process Information Blocks and subtracts past zero, so it is checked
/// here, for every block. A section header is checked by pcap-parser itself,
/// in its own byte order.
fn undersized_block(data: &[u8], big_endian: bool) -> Option<u32> {
    const SECTION_HEADER: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
    const MIN_BLOCK: u32 = 12;
    if data.get(..4)? == SECTION_HEADER {
        return None;
    }
    let length: [u8; 4] = data.get(4..8)?.try_into().ok()?;
    let length = if big_endian {
        u32::from_be_bytes(length)
    } else {
        u32::from_le_bytes(length)
    };
    (length < MIN_BLOCK).then_some(length)
}

/// Turns one block into a step: packets with their metadata, interface
/// declarations recorded, everything else skipped.
#[inline]
fn classify(
    block: &PcapBlockOwned<'_>,
    consumed: usize,
    interfaces: &mut Vec<Interface>,
    last_ts: Timestamp,
) -> Result<Step, String> {
    let packet = |data: &[u8], ts, iface: &Interface, wire_len: u32| Step::Packet {
        consumed,
        data_addr: data.as_ptr() as usize,
        current: Current {
            ts,
            link_type: iface.link_type,
            supported: iface.supported,
            start: 0,
            len: data.len(),
            wire_len: wire_len.max(data.len() as u32),
        },
    };
    Ok(match block {
        PcapBlockOwned::LegacyHeader(header) => {
            let units_per_sec = if header.is_nanosecond_precision() {
                1_000_000_000
            } else {
                1_000_000
            };
            interfaces.clear();
            interfaces.push(Interface::new(
                LinkType(header.network.0 as u32),
                units_per_sec,
                0,
            ));
            Step::Skip(consumed)
        }
        PcapBlockOwned::Legacy(b) => {
            let iface = interfaces
                .first()
                .ok_or("packet record before the file header")?;
            let frac = u64::from(b.ts_usec) * iface.nanos_per_unit.unwrap_or(1000);
            let ts = Timestamp(u64::from(b.ts_sec) * Timestamp::NANOS_PER_SEC + frac);
            packet(b.data, ts, iface, b.origlen)
        }
        PcapBlockOwned::NG(Block::SectionHeader(_)) => {
            // Interface ids are scoped to their section.
            interfaces.clear();
            Step::Skip(consumed)
        }
        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
            interfaces.push(Interface::new(
                LinkType(idb.linktype.0 as u32),
                idb.ts_resolution().unwrap_or(0),
                idb.ts_offset(),
            ));
            Step::Skip(consumed)
        }
        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
            let iface = interfaces
                .get(epb.if_id as usize)
                .ok_or_else(|| format!("packet on undeclared interface {}", epb.if_id))?;
            if iface.units_per_sec == 0 {
                return Err(format!("interface {} has an invalid if_tsresol", epb.if_id));
            }
            let units = (u128::from(epb.ts_high) << 32) | u128::from(epb.ts_low);
            let nanos = match iface.nanos_per_unit {
                Some(n) => units * u128::from(n),
                None => units * 1_000_000_000 / u128::from(iface.units_per_sec),
            };
            let offset = i128::from(iface.offset_secs) * 1_000_000_000;
            let ts = Timestamp(u64::try_from((nanos as i128 + offset).max(0)).unwrap_or(u64::MAX));
            packet(epb.packet_data(), ts, iface, epb.orig_len())
        }
        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
            // Simple packets belong to the first interface and carry no time.
            let iface = interfaces
                .first()
                .ok_or("simple packet before any interface")?;
            packet(spb.packet_data(), last_ts, iface, spb.orig_len())
        }
        PcapBlockOwned::NG(_) => Step::Skip(consumed),
    })
}

fn describe(e: &PcapError<&[u8]>) -> String {
    match e {
        PcapError::NomError(_, kind) => format!("malformed block ({kind:?})"),
        PcapError::OwnedNomError(_, kind) => format!("malformed block ({kind:?})"),
        PcapError::HeaderNotRecognized => "unrecognised block header".into(),
        other => format!("{other:?}"),
    }
}

fn open_error(
    path: &Path,
    e: PcapError<&[u8]>,
    read_error: &Mutex<Option<io::Error>>,
) -> CaptureError {
    let path = path.to_path_buf();
    match e {
        PcapError::Eof => CaptureError::Empty { path },
        PcapError::Incomplete(_) | PcapError::UnexpectedEof => CaptureError::Truncated {
            path,
            offset: 0,
            what: "the file header is cut short",
        },
        PcapError::ReadError => CaptureError::Read {
            path,
            offset: 0,
            what: take_read_error(read_error),
        },
        PcapError::HeaderNotRecognized => {
            let mut head = [0u8; 4];
            let magic = match File::open(&path).map(|mut f| read_full(&mut f, &mut head)) {
                Ok(Ok(n)) => head[..n].iter().map(|b| format!("{b:02x}")).collect(),
                _ => "unreadable bytes".to_string(),
            };
            CaptureError::NotACapture { path, magic }
        }
        other => CaptureError::Corrupt {
            path,
            offset: 0,
            what: describe(&other),
        },
    }
}

fn take_read_error(slot: &Mutex<Option<io::Error>>) -> String {
    match slot.lock().ok().and_then(|mut e| e.take()) {
        Some(e) => e.to_string(),
        None => "input could not be read".into(),
    }
}

/// Reads until `buf` is full or the input ends.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A reader whose reads fill the whole buffer unless the input ends:
/// pcap-parser takes a short read for the end of the file, and a gzip
/// decoder returns short reads at member boundaries. It also keeps the I/O
/// error, which pcap-parser reduces to "read error".
struct FullReads {
    inner: Box<dyn Read + Send>,
    error: Arc<Mutex<Option<io::Error>>>,
}

impl Read for FullReads {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_full(&mut self.inner, buf).inspect_err(|e| {
            if let Ok(mut slot) = self.error.lock() {
                *slot = Some(io::Error::new(e.kind(), e.to_string()));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fuzzer find: a Process Information Block claiming 11 bytes made
    /// pcap-parser subtract past zero (a panic in debug builds).
    #[test]
    fn an_undersized_pcapng_block_is_corrupt_not_a_panic() {
        let fixture =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../pcaps/ndpi/dns-google-nsid.pcapng");
        let capture = std::fs::read(fixture).expect("fixture");
        let shb_len = u32::from_le_bytes(capture[4..8].try_into().expect("4 bytes")) as usize;
        let mut bytes = capture[..shb_len].to_vec();
        bytes.extend_from_slice(&0x8000_0001u32.to_le_bytes());
        bytes.extend_from_slice(&11u32.to_le_bytes());
        bytes.extend_from_slice(&[0; 16]);
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("short-block.pcapng");
        std::fs::write(&path, &bytes).expect("write");

        let mut file = CaptureFile::open(&path).expect("opens");
        match file.advance() {
            Err(CaptureError::Corrupt { offset, what, .. }) => {
                assert_eq!(offset, shb_len as u64);
                assert!(what.contains("block length 11"), "{what}");
            }
            other => panic!("expected a corrupt block, got {other:?}"),
        }
    }
}
