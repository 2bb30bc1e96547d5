//! Where packets come from: capture files (pcap, pcapng, gzip-compressed,
//! many at once merged by time) and live interfaces (AF_PACKET with fanout,
//! or libpcap with the `libpcap` feature). Every source hands out borrowed
//! [`Packet`]s; nothing is copied here.

pub mod file;
#[cfg(feature = "libpcap")]
pub mod libpcap;
pub mod live;
pub mod merge;

use std::fmt;

pub use file::{CaptureError, CaptureFile};
pub use merge::MergedFiles;

/// A link-layer header type, as numbered by tcpdump.org's LINKTYPE_ registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    pub const PPP: LinkType = LinkType(9);
    /// DLT_RAW as some systems wrote it into files before LINKTYPE_RAW existed.
    pub const RAW_DLT12: LinkType = LinkType(12);
    pub const RAW_DLT14: LinkType = LinkType(14);
    pub const PPP_HDLC: LinkType = LinkType(50);
    pub const RAW: LinkType = LinkType(101);
    pub const C_HDLC: LinkType = LinkType(104);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const PPI: LinkType = LinkType(192);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// Link types mirador decodes.
    pub const SUPPORTED: [LinkType; 14] = [
        LinkType::NULL,
        LinkType::ETHERNET,
        LinkType::PPP,
        LinkType::RAW_DLT12,
        LinkType::RAW_DLT14,
        LinkType::PPP_HDLC,
        LinkType::RAW,
        LinkType::C_HDLC,
        LinkType::LOOP,
        LinkType::LINUX_SLL,
        LinkType::PPI,
        LinkType::IPV4,
        LinkType::IPV6,
        LinkType::LINUX_SLL2,
    ];

    pub fn is_supported(self) -> bool {
        LinkType::SUPPORTED.contains(&self)
    }

    pub fn name(self) -> &'static str {
        match self {
            LinkType::NULL => "NULL (BSD loopback)",
            LinkType::ETHERNET => "Ethernet",
            LinkType::PPP => "PPP",
            LinkType::RAW_DLT12 | LinkType::RAW_DLT14 | LinkType::RAW => "raw IP",
            LinkType::PPP_HDLC => "PPP in HDLC framing",
            LinkType::C_HDLC => "Cisco HDLC",
            LinkType::LOOP => "OpenBSD loopback",
            LinkType::LINUX_SLL => "Linux cooked (SLL)",
            LinkType::PPI => "PPI",
            LinkType::IPV4 => "raw IPv4",
            LinkType::IPV6 => "raw IPv6",
            LinkType::LINUX_SLL2 => "Linux cooked v2 (SLL2)",
            LinkType(105) => "IEEE 802.11",
            LinkType(127) => "IEEE 802.11 radiotap",
            _ => "unknown",
        }
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.name())
    }
}

/// Nanoseconds since the Unix epoch: capture time for recorded packets,
/// arrival time for live ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub const NANOS_PER_SEC: u64 = 1_000_000_000;

    pub fn from_secs(secs: u64) -> Timestamp {
        Timestamp(secs.saturating_mul(Self::NANOS_PER_SEC))
    }

    pub fn now() -> Timestamp {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
    }

    /// Nanoseconds from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / Self::NANOS_PER_SEC as f64
    }
}

/// Formatted as EVE timestamps are: `2009-11-24T21:27:09.534255+0000` (UTC).
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = i128::from(self.0);
        match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(t) => write!(
                f,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+0000",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.microsecond()
            ),
            Err(_) => write!(f, "{}", self.as_secs_f64()),
        }
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One captured frame, borrowed from the source's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    pub ts: Timestamp,
    pub link_type: LinkType,
    /// The captured bytes (may be fewer than the frame had on the wire).
    pub data: &'a [u8],
    /// The frame's length on the wire.
    pub wire_len: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_like_eve() {
        let t = Timestamp(1_259_098_029_534_255_123);
        assert_eq!(t.to_string(), "2009-11-24T21:27:09.534255+0000");
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000000+0000");
        assert_eq!(Timestamp::from_secs(5).since(Timestamp::from_secs(7)), 0);
    }
}
