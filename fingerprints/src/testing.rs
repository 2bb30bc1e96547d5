//! Test support: the messages of a real capture, as the sensor hands them to
//! parsers (UDP datagrams, non-IP Ethernet payloads, and the first bytes of
//! each TCP direction in sequence order), so that parser tests run on real
//! traffic without the sensor crate.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;

use etherparse::{LaxNetSlice, LaxSlicedPacket, LinkSlice, TransportSlice};
use pcap_parser::pcapng::Block;
use pcap_parser::{Linktype, PcapBlockOwned, PcapError};

use crate::MacAddr;
use crate::proto::{Carrier, Context, Finding, Knowledge, ParseError, Progress, StreamParser};

/// What the parsers know, with the built-in default credentials (the
/// login parsers' tests).
pub fn knowledge_with_default_credentials() -> Knowledge {
    Knowledge {
        default_credentials: crate::DefaultCredentials::builtin(),
        ..Knowledge::default()
    }
}

/// A TCP client's side of a connection to `server_port`.
pub fn tcp_client(server_port: u16) -> Context {
    Context {
        carrier: Carrier::Tcp,
        src_port: 40000,
        dst_port: server_port,
        to_server: true,
        src_mac: None,
        dst_mac: None,
    }
}

/// A capture under the workspace's `pcaps/`.
pub fn capture(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../pcaps")
        .join(relative)
}

/// One message of a capture.
#[derive(Debug, Clone)]
pub struct Message {
    pub context: Context,
    pub bytes: Vec<u8>,
    /// 1-based number of the frame that carried it (the first frame of a
    /// TCP direction), as Wireshark numbers frames.
    pub frame: usize,
    pub src_ip: Option<IpAddr>,
    pub dst_ip: Option<IpAddr>,
}

/// Every frame of a pcap or pcapng file with its link type.
pub fn frames(relative: &str) -> Vec<(Linktype, Vec<u8>)> {
    let path = capture(relative);
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader: Box<dyn std::io::Read + Send> = if relative.ends_with(".gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut reader = pcap_parser::create_reader(1 << 20, reader).expect("a capture");
    let mut link_types = Vec::new();
    let mut out = Vec::new();
    loop {
        match reader.next() {
            Ok((n, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => link_types = vec![h.network],
                    PcapBlockOwned::Legacy(b) => out.push((link_types[0], b.data.to_vec())),
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => link_types.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(i)) => {
                        link_types.push(i.linktype)
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(p)) => {
                        let len = (p.caplen as usize).min(p.data.len());
                        out.push((link_types[p.if_id as usize], p.data[..len].to_vec()))
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(p)) => {
                        out.push((link_types[0], p.data.to_vec()))
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                reader.consume(n);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => reader.refill().expect("refill"),
            Err(e) => panic!("{}: {e:?}", path.display()),
        }
    }
    out
}

/// The messages of a capture, in capture order (a TCP direction where its
/// first payload byte came). TCP directions are cut at 64 KiB.
pub fn messages(relative: &str) -> Vec<Message> {
    const STREAM_CAP: usize = 64 * 1024;
    let mut out = Vec::new();
    // TCP direction (src, sport, dst, dport) -> (index in `out`, next seq).
    let mut streams: HashMap<(IpAddr, u16, IpAddr, u16), (usize, u32)> = HashMap::new();
    // Connections seen, with their client: the sender of the SYN or of the
    // first packet.
    let mut clients: HashMap<(IpAddr, u16, IpAddr, u16), (IpAddr, u16)> = HashMap::new();
    for (index, (link, data)) in frames(relative).into_iter().enumerate() {
        let frame = index + 1;
        let sliced = match link {
            Linktype::ETHERNET => LaxSlicedPacket::from_ethernet(&data).ok(),
            Linktype::LINUX_SLL => match data.get(16..) {
                Some(ip) => LaxSlicedPacket::from_ip(ip).ok(),
                None => continue,
            },
            Linktype::RAW | Linktype(228) | Linktype(229) => LaxSlicedPacket::from_ip(&data).ok(),
            Linktype::NULL => match data.get(4..) {
                Some(ip) => LaxSlicedPacket::from_ip(ip).ok(),
                None => continue,
            },
            _ => continue,
        };
        let Some(packet) = sliced else { continue };
        let (src_mac, dst_mac) = match &packet.link {
            Some(LinkSlice::Ethernet2(e)) => (
                MacAddr::from_slice(&e.source()),
                MacAddr::from_slice(&e.destination()),
            ),
            _ => (None, None),
        };
        let context = |carrier, src_port, dst_port, to_server| Context {
            carrier,
            src_port,
            dst_port,
            to_server,
            src_mac,
            dst_mac,
        };
        let Some(net) = &packet.net else {
            // Not IP: an Ethernet payload after its EtherType (or the 802.3
            // length, LLC onwards).
            if let Some(LinkSlice::Ethernet2(e)) = &packet.link {
                let ether_type = u16::from(e.ether_type());
                let payload = data.get(14..).unwrap_or_default();
                let payload = if ether_type < 0x0600 {
                    &payload[..payload.len().min(usize::from(ether_type))]
                } else {
                    payload
                };
                out.push(Message {
                    context: context(Carrier::Ethernet { ether_type }, 0, 0, true),
                    bytes: payload.to_vec(),
                    frame,
                    src_ip: None,
                    dst_ip: None,
                });
            }
            continue;
        };
        let (src, dst) = match net {
            LaxNetSlice::Ipv4(v4) => (
                IpAddr::V4(v4.header().source_addr()),
                IpAddr::V4(v4.header().destination_addr()),
            ),
            LaxNetSlice::Ipv6(v6) => (
                IpAddr::V6(v6.header().source_addr()),
                IpAddr::V6(v6.header().destination_addr()),
            ),
            _ => continue,
        };
        match &packet.transport {
            Some(TransportSlice::Udp(u)) => {
                let (sp, dp) = (u.source_port(), u.destination_port());
                let conn = canonical(src, sp, dst, dp);
                let client = *clients.entry(conn).or_insert((src, sp));
                out.push(Message {
                    context: context(Carrier::Udp, sp, dp, client == (src, sp)),
                    bytes: u.payload().to_vec(),
                    frame,
                    src_ip: Some(src),
                    dst_ip: Some(dst),
                });
            }
            Some(TransportSlice::Tcp(t)) => {
                let (sp, dp) = (t.source_port(), t.destination_port());
                let conn = canonical(src, sp, dst, dp);
                let client = if t.syn() && t.ack() {
                    (dst, dp)
                } else {
                    (src, sp)
                };
                let client = *clients.entry(conn).or_insert(client);
                let key = (src, sp, dst, dp);
                let seq = t.sequence_number();
                if t.syn() {
                    streams.remove(&key);
                    continue;
                }
                let payload = t.payload();
                if payload.is_empty() {
                    continue;
                }
                let end = seq.wrapping_add(payload.len() as u32);
                match streams.get_mut(&key) {
                    None => {
                        streams.insert(key, (out.len(), end));
                        out.push(Message {
                            context: context(Carrier::Tcp, sp, dp, client == (src, sp)),
                            bytes: payload.to_vec(),
                            frame,
                            src_ip: Some(src),
                            dst_ip: Some(dst),
                        });
                    }
                    Some((at, next)) => {
                        // In-order bytes only; retransmitted ones are skipped.
                        let ahead = seq.wrapping_sub(*next) as i32;
                        let skip = ahead.unsigned_abs() as usize;
                        if ahead > 0 || skip >= payload.len() {
                            continue;
                        }
                        let stream = &mut out[*at].bytes;
                        let room = STREAM_CAP.saturating_sub(stream.len());
                        let new = &payload[skip..];
                        stream.extend_from_slice(&new[..new.len().min(room)]);
                        *next = end;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn messages_of_a_real_capture() {
    let all = messages("ndpi/rdp.pcap");
    let tcp: Vec<_> = all
        .iter()
        .filter(|m| m.context.carrier == Carrier::Tcp)
        .collect();
    // The client's first bytes: an RDP connection request in a TPKT header.
    assert!(
        tcp.iter()
            .any(|m| m.context.to_server && m.context.dst_port == 3389 && m.bytes[0] == 3)
    );
    assert!(
        tcp.iter()
            .any(|m| !m.context.to_server && m.bytes.len() > 1000)
    );
}

fn canonical(a: IpAddr, ap: u16, b: IpAddr, bp: u16) -> (IpAddr, u16, IpAddr, u16) {
    if (a, ap) <= (b, bp) {
        (a, ap, b, bp)
    } else {
        (b, bp, a, ap)
    }
}

/// One direction of a UDP flow as the sensor hands it to a stream parser:
/// each datagram prefixed by its length (big-endian u16), at most 16 KiB.
#[derive(Debug, Clone)]
pub struct DatagramStream {
    pub src: std::net::SocketAddr,
    pub dst: std::net::SocketAddr,
    /// Where each datagram ends in `bytes`.
    pub ends: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl DatagramStream {
    pub fn new(src: std::net::SocketAddr, dst: std::net::SocketAddr) -> DatagramStream {
        DatagramStream {
            src,
            dst,
            ends: Vec::new(),
            bytes: Vec::new(),
        }
    }

    /// Appends a datagram, as long as the sensor's 16 KiB would hold it.
    pub fn push(&mut self, datagram: &[u8]) {
        if self.bytes.len() + 2 + datagram.len() <= 16 * 1024 {
            self.bytes
                .extend_from_slice(&(datagram.len() as u16).to_be_bytes());
            self.bytes.extend_from_slice(datagram);
            self.ends.push(self.bytes.len());
        }
    }

    /// Feeds `parse` datagram by datagram until `Done`, the whole with
    /// `last`; checks that nothing is reported before that.
    pub fn feed(&self, parse: StreamParser) -> Result<Vec<Finding>, ParseError> {
        let knowledge = Knowledge::default();
        let ctx = Context {
            carrier: Carrier::Udp,
            src_port: self.src.port(),
            dst_port: self.dst.port(),
            to_server: true,
            src_mac: None,
            dst_mac: None,
        };
        for (n, &end) in self.ends.iter().enumerate() {
            let last = n + 1 == self.ends.len();
            let mut out = Vec::new();
            let progress = parse(&knowledge, &ctx, &self.bytes[..end], last, &mut out)?;
            if progress == Progress::Done || last {
                return Ok(out);
            }
            assert!(out.is_empty(), "findings pushed before Done");
        }
        Ok(Vec::new())
    }
}

/// tcpdump's verbose decode (a `.out` file under `pcaps/`), frame number ->
/// the lines of that frame.
pub fn tcpdump_frames(out: &str) -> std::collections::BTreeMap<usize, Vec<String>> {
    let mut frames = std::collections::BTreeMap::new();
    let mut current = None;
    for line in std::fs::read_to_string(capture(out)).unwrap().lines() {
        let trimmed = line.trim_start();
        let number: String = trimmed.chars().take_while(|c| c.is_ascii_digit()).collect();
        if !line.starts_with('\t')
            && !number.is_empty()
            && trimmed[number.len()..].starts_with("  ")
        {
            current = number.parse().ok();
        }
        if let Some(n) = current {
            frames
                .entry(n)
                .or_insert_with(Vec::new)
                .push(line.to_string());
        }
    }
    frames
}
