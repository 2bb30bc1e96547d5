//! What devices say about themselves above the network layer: each flow's
//! first payload is shown to the protocols' probes (ports, first bytes)
//! once; a flow no protocol wants is never looked at again, so the cost of
//! parsing falls only on the few flows that carry identity. Datagrams go to
//! their parser one by one; TCP directions (and UDP directions whose
//! messages span datagrams) are reassembled, bounded, and shown to their
//! parser as they grow. Findings go to the worker, which turns them into
//! events and evidence.

use etherparse::TransportSlice;
use fingerprints::proto::{
    self, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError, Progress, tcp_syn,
};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

use crate::decode::{IpPacket, PacketView};
use crate::flow::{AppLayer, Appended, Flow, ReassemblyCounters, StreamBuffer};

/// At most this many dissectors are counted (there are about 25).
pub const MAX_DISSECTORS: usize = 64;
const REASONS: [&str; 3] = ["truncated", "malformed", "limit"];
/// Payload packets of a flow shown to the probes before it is ignored.
const PROBED_PACKETS: u8 = 8;
/// p0f findings kept by signature; the cache is cleared when it is full.
const SYN_CACHE: usize = 4096;

/// Caps of the application layer.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExtractConfig {
    /// First bytes kept per direction of a flow whose protocol is read.
    pub stream_bytes: usize,
    /// Bytes all of a worker's flows may hold for reassembly at once; a
    /// flow that would pass it is not reassembled, and counted.
    pub stream_budget: usize,
}

impl Default for ExtractConfig {
    fn default() -> ExtractConfig {
        ExtractConfig {
            stream_bytes: 16 * 1024,
            stream_budget: 64 << 20,
        }
    }
}

/// What the application layer counted.
#[derive(Debug, Clone, Copy)]
pub struct ExtractCounters {
    /// Findings, by dissector index.
    pub findings: [u64; MAX_DISSECTORS],
    /// Messages that could not be parsed, by dissector index and reason.
    pub parse_errors: [[u64; 3]; MAX_DISSECTORS],
    /// TCP SYN and SYN+ACK signatures made, and SYNs that could not be read.
    pub syn_signatures: u64,
    pub syn_errors: u64,
    /// SYN signatures whose finding came from the cache.
    pub syn_cache_hits: u64,
    pub reassembly: ReassemblyCounters,
    /// Flows not reassembled because the worker's budget was spent.
    pub over_budget: u64,
    /// Packets whose bytes went to a parser, a stream buffer or the SYN
    /// signature: the identity path, the only one that allocates.
    pub identity_packets: u64,
}

impl Default for ExtractCounters {
    fn default() -> ExtractCounters {
        ExtractCounters {
            findings: [0; MAX_DISSECTORS],
            parse_errors: [[0; 3]; MAX_DISSECTORS],
            syn_signatures: 0,
            syn_errors: 0,
            syn_cache_hits: 0,
            reassembly: ReassemblyCounters::default(),
            over_budget: 0,
            identity_packets: 0,
        }
    }
}

impl ExtractCounters {
    pub fn add(&mut self, other: &ExtractCounters) {
        for (a, b) in self.findings.iter_mut().zip(other.findings) {
            *a += b;
        }
        for (a, b) in self.parse_errors.iter_mut().zip(other.parse_errors) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        self.syn_signatures += other.syn_signatures;
        self.syn_errors += other.syn_errors;
        self.syn_cache_hits += other.syn_cache_hits;
        self.reassembly.truncated += other.reassembly.truncated;
        self.reassembly.gaps += other.reassembly.gaps;
        self.over_budget += other.over_budget;
        self.identity_packets += other.identity_packets;
    }

    /// Parse errors as (protocol, reason, count), the non-zero ones.
    pub fn parse_errors_by_protocol(
        &self,
    ) -> impl Iterator<Item = (&'static str, &'static str, u64)> + '_ {
        proto::dissectors()
            .iter()
            .zip(&self.parse_errors)
            .flat_map(|(d, counts)| {
                REASONS
                    .iter()
                    .zip(counts)
                    .filter(|(_, n)| **n > 0)
                    .map(|(r, n)| (d.name, *r, *n))
            })
    }

    /// Findings as (protocol, count), the non-zero ones.
    pub fn findings_by_protocol(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        proto::dissectors()
            .iter()
            .zip(&self.findings)
            .filter(|(_, n)| **n > 0)
            .map(|(d, n)| (d.name, *n))
    }

    pub fn parse_error_total(&self) -> u64 {
        self.parse_errors.iter().flatten().sum::<u64>() + self.syn_errors
    }
}

impl Serialize for ExtractCounters {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut errors: std::collections::BTreeMap<&str, std::collections::BTreeMap<&str, u64>> =
            Default::default();
        for (p, r, n) in self.parse_errors_by_protocol() {
            errors.entry(p).or_default().insert(r, n);
        }
        if self.syn_errors > 0 {
            errors
                .entry("p0f")
                .or_default()
                .insert("malformed", self.syn_errors);
        }
        let findings: std::collections::BTreeMap<&str, u64> = self.findings_by_protocol().collect();
        let mut m = s.serialize_map(Some(8))?;
        m.serialize_entry("identity_packets", &self.identity_packets)?;
        m.serialize_entry("findings", &findings)?;
        m.serialize_entry("syn_signatures", &self.syn_signatures)?;
        m.serialize_entry("syn_cache_hits", &self.syn_cache_hits)?;
        m.serialize_entry("parse_errors", &errors)?;
        m.serialize_entry("reassembly_truncated", &self.reassembly.truncated)?;
        m.serialize_entry("reassembly_gaps", &self.reassembly.gaps)?;
        m.serialize_entry("reassembly_over_budget", &self.over_budget)?;
        m.end()
    }
}

/// A finding and which way its bytes travelled.
#[derive(Debug, Clone)]
pub struct Said {
    /// Shared: a host's every SYN says the same, built once (see `syn`).
    pub finding: Arc<Finding>,
    /// From the flow's client to its server (for frames outside flows: true).
    pub to_server: bool,
}

/// One worker's application layer.
pub struct Extractor<'k> {
    knowledge: &'k Knowledge,
    dissectors: &'static [Dissector],
    config: ExtractConfig,
    /// Bytes held by this worker's stream buffers.
    held: usize,
    pub counters: ExtractCounters,
    /// Findings of the last call, for the worker to take.
    pub said: Vec<Said>,
    scratch: Vec<Finding>,
    /// p0f findings by signature with its per-packet values blanked: hosts
    /// send the same few signatures again and again, and building the
    /// finding (signature text, database match) costs more than the rest.
    syn_cache: HashMap<tcp_syn::TcpSignature, Arc<Finding>, foldhash::fast::RandomState>,
}

impl<'k> Extractor<'k> {
    pub fn new(knowledge: &'k Knowledge, config: ExtractConfig) -> Extractor<'k> {
        Extractor {
            knowledge,
            dissectors: proto::dissectors(),
            config,
            held: 0,
            counters: ExtractCounters::default(),
            said: Vec::new(),
            scratch: Vec::new(),
            syn_cache: HashMap::default(),
        }
    }

    /// A frame outside IP (LLDP, CDP, PROFINET DCP ...).
    pub fn frame(&mut self, view: &PacketView<'_>, ether_type: u16, payload: &[u8]) {
        let context = Context {
            carrier: Carrier::Ethernet { ether_type },
            src_port: 0,
            dst_port: 0,
            to_server: true,
            src_mac: view.src_mac,
            dst_mac: view.dst_mac,
        };
        if let Some(i) = self.probe(&context, payload, None)
            && let Parse::Message(parse) = self.dissectors[i].parse
        {
            self.counters.identity_packets += 1;
            let result = parse(self.knowledge, &context, payload, &mut self.scratch);
            self.collect(i, result.map(|_| ()), true);
        }
    }

    /// A TCP SYN or SYN+ACK of `flow`: its p0f signature and OS.
    pub fn syn(&mut self, flow: &mut Flow, ip: &IpPacket<'_>) {
        let Some(TransportSlice::Tcp(tcp)) = &ip.transport else {
            return;
        };
        if !tcp.syn() {
            return;
        }
        self.counters.identity_packets += 1;
        match tcp_syn::signature(ip.bytes) {
            Ok(Some(mut signature)) => {
                // p0f judges a SYN+ACK's window against the SYN's MSS.
                if tcp.ack() {
                    signature.peer_mss = flow.syn_mss;
                } else {
                    flow.syn_mss = signature.mss;
                }
                self.counters.syn_signatures += 1;
                let finding = self.syn_finding(signature);
                // The sender of a SYN is the client; of a SYN+ACK the server.
                self.said.push(Said {
                    finding,
                    to_server: !tcp.ack(),
                });
            }
            Ok(None) => {}
            Err(_) => self.counters.syn_errors += 1,
        }
    }

    /// The p0f finding of `signature`, from the cache when it was seen.
    fn syn_finding(&mut self, mut signature: tcp_syn::TcpSignature) -> Arc<Finding> {
        // `finding_of` reads neither addresses, ports nor the sequence
        // number, and of the timestamp only whether there is one.
        signature.src = std::net::Ipv4Addr::UNSPECIFIED.into();
        signature.dst = signature.src;
        signature.src_port = 0;
        signature.dst_port = 0;
        signature.seq = 0;
        signature.timestamp = u32::from(signature.timestamp != 0);
        if let Some(finding) = self.syn_cache.get(&signature) {
            self.counters.syn_cache_hits += 1;
            return Arc::clone(finding);
        }
        let finding = Arc::new(tcp_syn::finding_of(&self.knowledge.p0f, &signature));
        if self.syn_cache.len() >= SYN_CACHE {
            self.syn_cache.clear();
        }
        self.syn_cache.insert(signature, Arc::clone(&finding));
        finding
    }

    /// A packet of `flow` travelling client -> server when `to_server`.
    pub fn packet(&mut self, flow: &mut Flow, to_server: bool, view: &PacketView<'_>) {
        if matches!(flow.app, AppLayer::Ignored) {
            return;
        }
        let crate::decode::Network::Ip(ip) = &view.network else {
            return;
        };
        let (carrier, payload, seq) = match &ip.transport {
            Some(TransportSlice::Udp(u)) => (Carrier::Udp, u.payload(), None),
            Some(TransportSlice::Tcp(t)) => {
                if t.rst() {
                    return;
                }
                (Carrier::Tcp, t.payload(), Some(t.sequence_number()))
            }
            _ => {
                flow.app = AppLayer::Ignored;
                return;
            }
        };
        if payload.is_empty() {
            return;
        }
        let (src_port, dst_port) = ip.ports();
        let context = Context {
            carrier,
            src_port,
            dst_port,
            to_server,
            src_mac: view.src_mac,
            dst_mac: view.dst_mac,
        };
        if let AppLayer::Undecided { probed, after } = flow.app {
            flow.app = match self.probe(&context, payload, after) {
                None if probed + 1 < PROBED_PACKETS => {
                    flow.app = AppLayer::Undecided {
                        probed: probed + 1,
                        after,
                    };
                    return;
                }
                None => AppLayer::Ignored,
                Some(i) => match self.dissectors[i].parse {
                    Parse::Message(_) => AppLayer::Messages(i as u16),
                    Parse::Stream(_) | Parse::Conversation(_)
                        if self.held + 2 * self.config.stream_bytes > self.config.stream_budget =>
                    {
                        self.counters.over_budget += 1;
                        AppLayer::Ignored
                    }
                    Parse::Stream(_) | Parse::Conversation(_) => {
                        AppLayer::Stream(i as u16, Box::default())
                    }
                },
            };
        }
        if matches!(flow.app, AppLayer::Messages(_) | AppLayer::Stream(..)) {
            self.counters.identity_packets += 1;
        }
        match &mut flow.app {
            AppLayer::Messages(i) => {
                let i = usize::from(*i);
                if let Parse::Message(parse) = self.dissectors[i].parse {
                    let result = parse(self.knowledge, &context, payload, &mut self.scratch);
                    self.collect(i, result, to_server);
                }
            }
            AppLayer::Stream(i, buffers) => {
                let i = usize::from(*i);
                let d = usize::from(!to_server);
                let direction = &mut buffers[d];
                let before = direction.held();
                let appended = match seq {
                    Some(seq) => direction.append(
                        seq,
                        payload,
                        self.config.stream_bytes,
                        &mut self.counters.reassembly,
                    ),
                    None => direction.append_datagram(
                        payload,
                        self.config.stream_bytes,
                        &mut self.counters.reassembly,
                    ),
                };
                self.held = (self.held + direction.held()).saturating_sub(before);
                match appended {
                    Appended::Nothing => {}
                    Appended::Grew if direction.worth_parsing() => {
                        self.parse_stream(i, &context, buffers, d, false)
                    }
                    Appended::Grew => {}
                    Appended::Ended => self.parse_stream(i, &context, buffers, d, true),
                }
                if buffers.iter().all(|b| b.closed) {
                    self.free(buffers);
                    // Another protocol may follow on TCP: TLS after STARTTLS.
                    flow.app = match carrier {
                        Carrier::Tcp => AppLayer::Undecided {
                            probed: 0,
                            after: Some(i as u16),
                        },
                        _ => AppLayer::Ignored,
                    };
                }
            }
            AppLayer::Undecided { .. } | AppLayer::Ignored => {}
        }
    }

    /// The flow ends: directions still open are parsed for what they hold.
    pub fn flow_end(&mut self, flow: &mut Flow) {
        let AppLayer::Stream(i, buffers) = &mut flow.app else {
            return;
        };
        let i = usize::from(*i);
        self.counters.identity_packets += 1;
        let ports = |to_server: bool| {
            if to_server {
                (flow.client.port, flow.server.port)
            } else {
                (flow.server.port, flow.client.port)
            }
        };
        let (client_mac, server_mac) = (flow.client_mac, flow.server_mac);
        for d in 0..buffers.len() {
            let to_server = d == 0;
            if buffers[d].closed {
                continue;
            }
            let (src_port, dst_port) = ports(to_server);
            let (src_mac, dst_mac) = if to_server {
                (client_mac, server_mac)
            } else {
                (server_mac, client_mac)
            };
            let context = Context {
                carrier: if flow.key.protocol == 6 {
                    Carrier::Tcp
                } else {
                    Carrier::Udp
                },
                src_port,
                dst_port,
                to_server,
                src_mac,
                dst_mac,
            };
            if buffers[d].bytes().is_empty() {
                buffers[d].closed = true;
            } else {
                self.parse_stream(i, &context, buffers, d, true);
            }
        }
        self.free(buffers);
        flow.app = AppLayer::Ignored;
    }

    /// Frees a flow's stream buffers (a conversation keeps a direction that
    /// is done until the other is).
    fn free(&mut self, buffers: &mut [StreamBuffer; 2]) {
        for direction in buffers {
            self.held = self.held.saturating_sub(direction.held());
            direction.close();
        }
    }

    /// The first dissector whose probe accepts, but `skip`.
    fn probe(&self, context: &Context, payload: &[u8], skip: Option<u16>) -> Option<usize> {
        self.dissectors
            .iter()
            .enumerate()
            .position(|(i, d)| Some(i as u16) != skip && (d.probe)(context, payload))
            .filter(|&i| i < MAX_DISSECTORS)
    }

    /// Shows direction `d` of a flow's streams to dissector `i`.
    fn parse_stream(
        &mut self,
        i: usize,
        context: &Context,
        buffers: &mut [StreamBuffer; 2],
        d: usize,
        last: bool,
    ) {
        let [client, server] = buffers;
        let (direction, peer) = if d == 0 {
            (client, server)
        } else {
            (server, client)
        };
        let (result, keep) = match self.dissectors[i].parse {
            Parse::Stream(parse) => (
                parse(
                    self.knowledge,
                    context,
                    direction.bytes(),
                    last,
                    &mut self.scratch,
                ),
                false,
            ),
            Parse::Conversation(parse) => (
                parse(
                    self.knowledge,
                    context,
                    direction.bytes(),
                    peer.bytes(),
                    last,
                    &mut self.scratch,
                ),
                !peer.closed,
            ),
            Parse::Message(_) => return,
        };
        let done = last || !matches!(result, Ok(Progress::NeedMore));
        self.collect(i, result.map(|_| ()), context.to_server);
        if done {
            if keep {
                // The other direction may still read these bytes.
                direction.closed = true;
            } else {
                self.held = self.held.saturating_sub(direction.held());
                direction.close();
            }
        }
    }

    /// Takes the parser's findings, or counts its error.
    fn collect(&mut self, i: usize, result: Result<(), ParseError>, to_server: bool) {
        if let Err(e) = result {
            let reason = match e {
                ParseError::Truncated(_) => 0,
                ParseError::Malformed(_) => 1,
                ParseError::Limit(_) => 2,
            };
            self.counters.parse_errors[i][reason] += 1;
        }
        self.counters.findings[i] += self.scratch.len() as u64;
        self.said.extend(self.scratch.drain(..).map(|finding| Said {
            finding: Arc::new(finding),
            to_server,
        }));
    }
}
