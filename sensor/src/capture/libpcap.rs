//! Live capture through libpcap (cargo feature `libpcap`): BPF filter
//! expressions, and libpcap's own buffering and statistics. One handle per
//! interface; the pipeline spreads its packets over the workers.

use std::time::Duration;

use pcap::{Active, Capture, Precision};

use super::live::{KernelStats, LiveError};
use super::{LinkType, Packet, Timestamp};

/// How long a read waits for packets before giving the caller a turn.
const READ_TIMEOUT: Duration = Duration::from_millis(100);

pub struct PcapSource {
    interface: String,
    capture: Capture<Active>,
    link_type: LinkType,
}

impl PcapSource {
    /// Opens `interface` in promiscuous mode, with nanosecond timestamps
    /// where the system gives them, and applies `filter` if any.
    pub fn open(interface: &str, filter: Option<&str>) -> Result<PcapSource, LiveError> {
        let fail = |e: pcap::Error| {
            let text = e.to_string();
            if text.contains("not permitted") || text.contains("ermission") {
                LiveError::PermissionDenied {
                    interface: interface.to_string(),
                    binary: std::env::current_exe()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|_| "mirador".into()),
                }
            } else if text.contains("No such device") {
                LiveError::NoSuchInterface(interface.to_string())
            } else {
                LiveError::Io {
                    interface: interface.to_string(),
                    source: std::io::Error::other(text),
                }
            }
        };
        let mut capture = Capture::from_device(interface)
            .map_err(fail)?
            .promisc(true)
            .snaplen(262_144)
            .buffer_size(64 << 20)
            .precision(Precision::Nano)
            .timeout(READ_TIMEOUT.as_millis() as i32)
            .immediate_mode(true)
            .open()
            .map_err(fail)?;
        if let Some(expression) = filter {
            capture
                .filter(expression, true)
                .map_err(|e| LiveError::Io {
                    interface: interface.to_string(),
                    source: std::io::Error::other(format!("filter {expression:?}: {e}")),
                })?;
        }
        // libpcap may not honour the read timeout on an idle interface;
        // without blocking, the caller decides how long to wait.
        let capture = capture.setnonblock().map_err(fail)?;
        let link_type = LinkType(capture.get_datalink().0 as u32);
        Ok(PcapSource {
            interface: interface.to_string(),
            capture,
            link_type,
        })
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The next frame; `None` when none is waiting.
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, LiveError> {
        match self.capture.next_packet() {
            Ok(p) => {
                let ts = p.header.ts;
                // With nanosecond precision, tv_usec holds nanoseconds.
                let nanos =
                    (ts.tv_sec.max(0) as u64) * Timestamp::NANOS_PER_SEC + ts.tv_usec.max(0) as u64;
                Ok(Some(Packet {
                    ts: Timestamp(nanos),
                    link_type: self.link_type,
                    data: p.data,
                    wire_len: p.header.len,
                }))
            }
            Err(pcap::Error::TimeoutExpired) => Ok(None),
            Err(e) => Err(LiveError::Io {
                interface: self.interface.clone(),
                source: std::io::Error::other(e.to_string()),
            }),
        }
    }

    /// libpcap's counters since the capture opened.
    pub fn kernel_stats(&mut self) -> KernelStats {
        match self.capture.stats() {
            Ok(s) => KernelStats {
                received: u64::from(s.received),
                dropped: u64::from(s.dropped) + u64::from(s.if_dropped),
            },
            Err(_) => KernelStats::default(),
        }
    }
}
