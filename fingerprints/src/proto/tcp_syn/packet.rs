//! The p0f v3 signature of one SYN or SYN+ACK, read from its IP and TCP
//! headers. What counts as a quirk, and how odd options are walked, follows
//! what p0f 3.09b does, so that the signatures of its database apply.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::proto::ParseError;
use crate::proto::cursor::{be16, be32};

/// Most TCP options p0f records in a layout.
pub const MAX_OPTIONS: usize = 24;

/// TCP option kinds with a name in signatures.
pub const OPT_EOL: u8 = 0;
pub const OPT_NOP: u8 = 1;
pub const OPT_MSS: u8 = 2;
pub const OPT_WS: u8 = 3;
pub const OPT_SOK: u8 = 4;
pub const OPT_SACK: u8 = 5;
pub const OPT_TS: u8 = 8;

/// Quirks, as bits of [`TcpSignature::quirks`].
pub mod quirk {
    /// IPv4 "don't fragment".
    pub const DF: u32 = 1 << 0;
    /// Non-zero IPv4 id with DF set.
    pub const NZ_ID: u32 = 1 << 1;
    /// Zero IPv4 id without DF.
    pub const ZERO_ID: u32 = 1 << 2;
    /// ECN: IP ECT/CE bits, TCP ECE/CWR or the NS bit.
    pub const ECN: u32 = 1 << 3;
    /// IPv4 "must be zero" flag set.
    pub const NZ_MBZ: u32 = 1 << 4;
    /// IPv6 flow label set.
    pub const FLOW: u32 = 1 << 5;
    pub const ZERO_SEQ: u32 = 1 << 6;
    pub const NZ_ACK: u32 = 1 << 7;
    pub const ZERO_ACK: u32 = 1 << 8;
    pub const NZ_URG: u32 = 1 << 9;
    pub const URG: u32 = 1 << 10;
    pub const PUSH: u32 = 1 << 11;
    pub const ZERO_TS1: u32 = 1 << 12;
    pub const NZ_TS2: u32 = 1 << 13;
    pub const OPT_EOL_NZ: u32 = 1 << 14;
    pub const EXWS: u32 = 1 << 15;
    pub const OPT_BAD: u32 = 1 << 16;
}

/// Quirk names in the order p0f prints them.
pub const QUIRK_NAMES: [(&str, u32); 17] = [
    ("df", quirk::DF),
    ("id+", quirk::NZ_ID),
    ("id-", quirk::ZERO_ID),
    ("ecn", quirk::ECN),
    ("0+", quirk::NZ_MBZ),
    ("flow", quirk::FLOW),
    ("seq-", quirk::ZERO_SEQ),
    ("ack+", quirk::NZ_ACK),
    ("ack-", quirk::ZERO_ACK),
    ("uptr+", quirk::NZ_URG),
    ("urgf+", quirk::URG),
    ("pushf+", quirk::PUSH),
    ("ts1-", quirk::ZERO_TS1),
    ("ts2+", quirk::NZ_TS2),
    ("opt+", quirk::OPT_EOL_NZ),
    ("exws", quirk::EXWS),
    ("bad", quirk::OPT_BAD),
];

/// Which handshake packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// A SYN: the client's stack (p0f's `[tcp:request]`).
    Syn,
    /// A SYN+ACK: the server's stack (p0f's `[tcp:response]`).
    SynAck,
}

impl Direction {
    /// As p0f names it (`syn`, `syn+ack`).
    pub fn name(self) -> &'static str {
        match self {
            Direction::Syn => "syn",
            Direction::SynAck => "syn+ack",
        }
    }
}

/// TCP option kinds in order, at most [`MAX_OPTIONS`], held inline: a
/// signature is made for every SYN, and compared whole when looked up.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct OptionLayout {
    kinds: [u8; MAX_OPTIONS],
    len: u8,
}

impl OptionLayout {
    /// Appends `kind`; beyond [`MAX_OPTIONS`] it is not kept.
    pub fn push(&mut self, kind: u8) {
        if let Some(slot) = self.kinds.get_mut(usize::from(self.len)) {
            *slot = kind;
            self.len += 1;
        }
    }
}

impl std::ops::Deref for OptionLayout {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.kinds[..usize::from(self.len)]
    }
}

impl fmt::Debug for OptionLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// What p0f reads from a SYN or SYN+ACK.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TcpSignature {
    pub direction: Direction,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    /// 4 or 6.
    pub ip_version: u8,
    /// The TTL (hop limit) as observed.
    pub ttl: u8,
    /// DSCP bits of the ToS / traffic class.
    pub tos: u8,
    /// Bytes of IPv4 options.
    pub ip_options_len: u8,
    /// From the MSS option; 0 without one.
    pub mss: u16,
    pub window: u16,
    /// From the window scale option; 0 without one.
    pub window_scale: u8,
    /// Option kinds in order, at most [`MAX_OPTIONS`].
    pub options: OptionLayout,
    /// Bytes after an end-of-options option.
    pub eol_padding: u8,
    /// [`quirk`] bits.
    pub quirks: u32,
    /// Whether the packet carries payload.
    pub payload: bool,
    /// IP and TCP header bytes.
    pub header_len: u16,
    /// The sender's timestamp value (TSval), 0 without the option.
    pub timestamp: u32,
    /// For a SYN+ACK, the MSS of the SYN it answers (0 when unknown): p0f
    /// also reads the window as a multiple of it.
    pub peer_mss: u16,
    /// The sequence number, to tell retransmitted SYNs.
    pub seq: u32,
}

/// p0f's guess of hops when no signature says the initial TTL.
pub fn guess_distance(ttl: u8) -> u8 {
    match ttl {
        0..=32 => 32 - ttl,
        33..=64 => 64 - ttl,
        65..=128 => 128 - ttl,
        _ => 255 - ttl,
    }
}

/// Most hops between a signature's initial TTL and the observed one.
pub const MAX_DISTANCE: u8 = 35;

/// MSS and window p0f-sendsyn uses, which p0f prints as a wildcard MSS.
const SPECIAL_MSS: u16 = 1331;

impl TcpSignature {
    /// The window as a multiple of the MSS (or MTU, the `bool`) as p0f reads
    /// it, trying the usual MSS and MTU values in p0f's order; `None` when
    /// no divisor fits.
    pub fn window_multiple(&self) -> Option<(i16, bool)> {
        let win = i32::from(self.window);
        let mss = i32::from(self.mss);
        if win == 0 || mss < 100 {
            return None;
        }
        let mut tries: Vec<(i32, bool)> = vec![(mss, false)];
        if self.timestamp != 0 {
            tries.push((mss - 12, false));
        }
        tries.push((1500 - 40, false));
        tries.push((1500 - 40 - 12, false));
        if self.ip_version == 6 {
            tries.push((1500 - 60, false));
            tries.push((1500 - 60 - 12, false));
        }
        tries.push((mss + 40, true));
        tries.push((mss + i32::from(self.header_len), true));
        if self.ip_version == 6 {
            tries.push((mss + 60, true));
        }
        tries.push((1500, true));
        if self.peer_mss != 0 {
            let peer = i32::from(self.peer_mss);
            tries.push((peer, false));
            tries.push((peer - 12, false));
        }
        tries.into_iter().find_map(|(div, mtu)| {
            // p0f keeps the quotient in 16 signed bits.
            (win.checked_rem(div) == Some(0))
                .then(|| (win.checked_div(div).unwrap_or(0) as i16, mtu))
        })
    }
}

/// The signature in p0f's `raw_sig` syntax
/// (`4:64+0:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0`).
impl fmt::Display for TcpSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dist = guess_distance(self.ttl);
        if dist > MAX_DISTANCE {
            write!(
                f,
                "{}:{}+?:{}:",
                self.ip_version, self.ttl, self.ip_options_len
            )?;
        } else {
            write!(
                f,
                "{}:{}+{}:{}:",
                self.ip_version, self.ttl, dist, self.ip_options_len
            )?;
        }
        if self.mss == SPECIAL_MSS && self.direction == Direction::SynAck {
            f.write_str("*:")?;
        } else {
            write!(f, "{}:", self.mss)?;
        }
        match self.window_multiple() {
            Some((m, mtu)) if m > 0 => write!(f, "{}*{m}", if mtu { "mtu" } else { "mss" })?,
            _ => write!(f, "{}", self.window)?,
        }
        write!(f, ",{}:", self.window_scale)?;
        for (i, &kind) in self.options.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match kind {
                OPT_EOL => write!(f, "eol+{}", self.eol_padding)?,
                OPT_NOP => f.write_str("nop")?,
                OPT_MSS => f.write_str("mss")?,
                OPT_WS => f.write_str("ws")?,
                OPT_SOK => f.write_str("sok")?,
                OPT_SACK => f.write_str("sack")?,
                OPT_TS => f.write_str("ts")?,
                other => write!(f, "?{other}")?,
            }
        }
        f.write_str(":")?;
        write_quirks(f, self.quirks)?;
        f.write_str(if self.payload { ":+" } else { ":0" })
    }
}

pub(crate) fn write_quirks(f: &mut impl fmt::Write, quirks: u32) -> fmt::Result {
    let mut first = true;
    for (name, bit) in QUIRK_NAMES {
        if quirks & bit != 0 {
            if !first {
                f.write_str(",")?;
            }
            f.write_str(name)?;
            first = false;
        }
    }
    Ok(())
}

const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_PUSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;
const TCP_URG: u8 = 0x20;
const TCP_ECE: u8 = 0x40;
const TCP_CWR: u8 = 0x80;

/// The p0f signature of a SYN or SYN+ACK, from its IP header onwards
/// (IPv4 or IPv6 without extension headers, as p0f reads them). `None` for
/// other TCP packets, non-TCP packets and fragments.
pub fn signature(ip_packet: &[u8]) -> Result<Option<TcpSignature>, ParseError> {
    let first = *ip_packet
        .first()
        .ok_or(ParseError::Truncated("ip header"))?;
    let mut quirks = 0u32;
    let (src, dst, ttl, tos, ip_options_len, ip_hdr, end);
    match first >> 4 {
        4 => {
            let hdr_len = usize::from(first & 0x0f) * 4;
            if ip_packet.len() < 20 {
                return Err(ParseError::Truncated("ipv4 header"));
            }
            if hdr_len < 20 {
                return Err(ParseError::Malformed("ipv4 header length"));
            }
            if ip_packet.get(9) != Some(&6) {
                return Ok(None);
            }
            let tot_len = usize::from(be16(ip_packet, 2).unwrap_or(0));
            let flags_off = be16(ip_packet, 6).unwrap_or(0);
            if flags_off & !(0x4000 | 0x8000) != 0 {
                return Ok(None); // a fragment
            }
            if tot_len < hdr_len + 20 {
                return Err(ParseError::Malformed("ipv4 total length"));
            }
            if tot_len > ip_packet.len() {
                return Err(ParseError::Truncated("ipv4 packet"));
            }
            let tos_ecn = ip_packet.get(1).copied().unwrap_or(0);
            if tos_ecn & 0x03 != 0 {
                quirks |= quirk::ECN;
            }
            if flags_off & 0x8000 != 0 {
                quirks |= quirk::NZ_MBZ;
            }
            let id = be16(ip_packet, 4).unwrap_or(0);
            if flags_off & 0x4000 != 0 {
                quirks |= quirk::DF;
                if id != 0 {
                    quirks |= quirk::NZ_ID;
                }
            } else if id == 0 {
                quirks |= quirk::ZERO_ID;
            }
            let addr = |at: usize| -> IpAddr {
                let mut a = [0u8; 4];
                if let Some(b) = ip_packet.get(at..at + 4) {
                    a.copy_from_slice(b);
                }
                IpAddr::V4(Ipv4Addr::from(a))
            };
            src = addr(12);
            dst = addr(16);
            ttl = ip_packet.get(8).copied().unwrap_or(0);
            tos = tos_ecn >> 2;
            ip_options_len = (hdr_len - 20) as u8;
            ip_hdr = hdr_len;
            end = tot_len;
        }
        6 => {
            if ip_packet.len() < 40 {
                return Err(ParseError::Truncated("ipv6 header"));
            }
            if ip_packet.get(6) != Some(&6) {
                return Ok(None); // extension headers or not TCP: p0f skips them too
            }
            let tot_len = usize::from(be16(ip_packet, 4).unwrap_or(0)) + 40;
            if tot_len < 60 {
                return Err(ParseError::Malformed("ipv6 payload length"));
            }
            if tot_len > ip_packet.len() {
                return Err(ParseError::Truncated("ipv6 packet"));
            }
            let ver_tos = be32(ip_packet, 0).unwrap_or(0);
            if ver_tos & 0x000f_ffff != 0 {
                quirks |= quirk::FLOW;
            }
            if (ver_tos >> 20) & 0x03 != 0 {
                quirks |= quirk::ECN;
            }
            let addr = |at: usize| -> IpAddr {
                let mut a = [0u8; 16];
                if let Some(b) = ip_packet.get(at..at + 16) {
                    a.copy_from_slice(b);
                }
                IpAddr::V6(Ipv6Addr::from(a))
            };
            src = addr(8);
            dst = addr(24);
            ttl = ip_packet.get(7).copied().unwrap_or(0);
            tos = ((ver_tos >> 22) & 0x3f) as u8;
            ip_options_len = 0;
            ip_hdr = 40;
            end = tot_len;
        }
        _ => return Err(ParseError::Malformed("ip version")),
    }
    let tcp = ip_packet
        .get(ip_hdr..end)
        .ok_or(ParseError::Truncated("tcp header"))?;
    if tcp.len() < 20 {
        return Err(ParseError::Truncated("tcp header"));
    }
    let doff_rsvd = tcp.get(12).copied().unwrap_or(0);
    let doff = usize::from(doff_rsvd >> 4) * 4;
    if doff < 20 {
        return Err(ParseError::Malformed("tcp data offset"));
    }
    if doff > tcp.len() {
        return Err(ParseError::Truncated("tcp options"));
    }
    let flags = tcp.get(13).copied().unwrap_or(0);
    let kind = flags & (TCP_SYN | TCP_ACK | TCP_FIN | TCP_RST);
    let direction = match kind {
        TCP_SYN => Direction::Syn,
        k if k == TCP_SYN | TCP_ACK => Direction::SynAck,
        _ => return Ok(None),
    };
    let src_port = be16(tcp, 0).unwrap_or(0);
    let dst_port = be16(tcp, 2).unwrap_or(0);
    let seq = be32(tcp, 4).unwrap_or(0);
    let ack = tcp.get(8..12).unwrap_or(&[0; 4]);
    let window = be16(tcp, 14).unwrap_or(0);
    let urgent = be16(tcp, 18).unwrap_or(0);

    if flags & (TCP_ECE | TCP_CWR) != 0 || doff_rsvd & 0x01 != 0 {
        quirks |= quirk::ECN;
    }
    if seq == 0 {
        quirks |= quirk::ZERO_SEQ;
    }
    if flags & TCP_ACK != 0 {
        if ack == [0; 4] {
            quirks |= quirk::ZERO_ACK;
        }
    } else if ack.first().is_some_and(|b| b & 1 != 0) {
        // p0f 3.09b means "non-zero ACK number", but tests the field with a
        // bitwise AND against 1 on the host-order word: on the little-endian
        // machines its database was made on, only an odd first byte counts.
        // Reading it the same way keeps its `ack+` signatures (Nmap's)
        // matching as p0f matches them.
        quirks |= quirk::NZ_ACK;
    }
    if flags & TCP_URG != 0 {
        quirks |= quirk::URG;
    } else if urgent != 0 {
        quirks |= quirk::NZ_URG;
    }
    if flags & TCP_PUSH != 0 {
        quirks |= quirk::PUSH;
    }

    let opts = tcp.get(20..doff).unwrap_or_default();
    let parsed = read_options(opts, direction == Direction::Syn);
    Ok(Some(TcpSignature {
        direction,
        src,
        dst,
        src_port,
        dst_port,
        ip_version: first >> 4,
        ttl,
        tos,
        ip_options_len,
        mss: parsed.mss,
        window,
        window_scale: parsed.window_scale,
        options: parsed.layout,
        eol_padding: parsed.eol_padding,
        quirks: quirks | parsed.quirks,
        payload: tcp.len() > doff,
        header_len: (ip_hdr + doff) as u16,
        timestamp: parsed.ts1,
        peer_mss: 0,
        seq,
    }))
}

#[derive(Default)]
struct Options {
    layout: OptionLayout,
    eol_padding: u8,
    mss: u16,
    window_scale: u8,
    ts1: u32,
    quirks: u32,
}

/// Walks the options as p0f does: each kind is recorded before its length
/// is checked, known options are assumed to have their standard size (a
/// different length byte is a `bad` quirk), and any overrun stops the walk
/// with `bad`.
fn read_options(opts: &[u8], pure_syn: bool) -> Options {
    let mut o = Options::default();
    let end = opts.len();
    let mut at = 0usize;
    let byte = |i: usize| opts.get(i).copied().unwrap_or(0);
    let mut aborted = false;
    while at < end && o.layout.len() < MAX_OPTIONS {
        let kind = byte(at);
        o.layout.push(kind);
        at += 1;
        // `at` now points at the length byte (or the next option).
        match kind {
            OPT_EOL => {
                o.eol_padding = (end - at) as u8;
                // p0f stops at the first non-zero byte after stepping over
                // it, so a non-zero last byte goes unnoticed.
                while at < end {
                    let b = byte(at);
                    at += 1;
                    if b != 0 {
                        break;
                    }
                }
                if at != end {
                    o.quirks |= quirk::OPT_EOL_NZ;
                    at = end;
                }
            }
            OPT_NOP => {}
            OPT_MSS => {
                if at + 3 > end {
                    aborted = true;
                    break;
                }
                if byte(at) != 4 {
                    o.quirks |= quirk::OPT_BAD;
                }
                o.mss = u16::from_be_bytes([byte(at + 1), byte(at + 2)]);
                at += 3;
            }
            OPT_WS => {
                if at + 2 > end {
                    aborted = true;
                    break;
                }
                if byte(at) != 3 {
                    o.quirks |= quirk::OPT_BAD;
                }
                o.window_scale = byte(at + 1);
                if o.window_scale > 14 {
                    o.quirks |= quirk::EXWS;
                }
                at += 2;
            }
            OPT_SOK => {
                if at + 1 > end {
                    aborted = true;
                    break;
                }
                if byte(at) != 2 {
                    o.quirks |= quirk::OPT_BAD;
                }
                at += 1;
            }
            OPT_SACK => {
                let len = usize::from(byte(at));
                if at == end || !(10..=34).contains(&len) || at - 1 + len > end {
                    aborted = true;
                    break;
                }
                at += len - 1;
            }
            OPT_TS => {
                if at + 9 > end {
                    aborted = true;
                    break;
                }
                if byte(at) != 10 {
                    o.quirks |= quirk::OPT_BAD;
                }
                o.ts1 =
                    u32::from_be_bytes([byte(at + 1), byte(at + 2), byte(at + 3), byte(at + 4)]);
                if o.ts1 == 0 {
                    o.quirks |= quirk::ZERO_TS1;
                }
                let ts2 = [byte(at + 5), byte(at + 6), byte(at + 7), byte(at + 8)];
                if pure_syn && ts2 != [0; 4] {
                    o.quirks |= quirk::NZ_TS2;
                }
                at += 9;
            }
            _ => {
                let len = usize::from(byte(at));
                if at == end || !(2..=40).contains(&len) || at - 1 + len > end {
                    aborted = true;
                    break;
                }
                at += len - 1;
            }
        }
    }
    if aborted || at != end {
        o.quirks |= quirk::OPT_BAD;
    }
    o
}
