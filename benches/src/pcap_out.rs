//! Writing a classic pcap file: little-endian, microsecond timestamps, the
//! format every tool reads.

use std::io::{self, Write};

/// The classic pcap magic number, microsecond resolution.
const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// The largest frame any tool accepts without complaint.
pub const SNAPLEN: u32 = 262_144;

pub struct PcapWriter<W: Write> {
    out: W,
    /// Bytes written so far.
    pub bytes: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the 24-byte file header for `link_type` (tcpdump.org number).
    pub fn new(mut out: W, link_type: u32) -> io::Result<PcapWriter<W>> {
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&MAGIC_MICROS.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes()); // version 2.4
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // 8..16: time zone offset and accuracy, always zero.
        header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&link_type.to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter { out, bytes: 24 })
    }

    /// Writes one record: a 16-byte header and the captured bytes (cut to
    /// [`SNAPLEN`]); `wire_len` is the frame's length on the wire.
    pub fn write(&mut self, ts_ns: u64, wire_len: u32, data: &[u8]) -> io::Result<()> {
        let data = &data[..data.len().min(SNAPLEN as usize)];
        let secs = u32::try_from(ts_ns / 1_000_000_000).unwrap_or(u32::MAX);
        let micros = (ts_ns % 1_000_000_000 / 1_000) as u32;
        let caplen = data.len() as u32;
        let mut record = [0u8; 16];
        record[0..4].copy_from_slice(&secs.to_le_bytes());
        record[4..8].copy_from_slice(&micros.to_le_bytes());
        record[8..12].copy_from_slice(&caplen.to_le_bytes());
        record[12..16].copy_from_slice(&wire_len.max(caplen).to_le_bytes());
        self.out.write_all(&record)?;
        self.out.write_all(data)?;
        self.bytes += 16 + u64::from(caplen);
        Ok(())
    }

    /// Flushes and hands back the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_header_and_records() {
        let mut w = PcapWriter::new(Vec::new(), 1).unwrap();
        w.write(1_700_000_000_123_456_789, 60, &[1, 2, 3]).unwrap();
        assert_eq!(w.bytes, 24 + 16 + 3);
        let out = w.finish().unwrap();
        assert_eq!(&out[0..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(&out[20..24], &[1, 0, 0, 0]);
        assert_eq!(&out[24..28], &1_700_000_000u32.to_le_bytes());
        assert_eq!(&out[28..32], &123_456u32.to_le_bytes());
        assert_eq!(&out[32..36], &3u32.to_le_bytes());
        assert_eq!(&out[36..40], &60u32.to_le_bytes());
        assert_eq!(&out[40..], &[1, 2, 3]);
    }
}
