//! Bidirectional flows: per-worker tables of conversations keyed on the
//! 5-tuple plus VLAN, with per-direction counters and streaming statistics,
//! TCP state, idle and active timeouts, and a cap on live flows that evicts
//! the longest-idle one. A finished flow is handed to the caller, who turns
//! it into a `flow` event.

mod key;
mod reassembly;
mod table;

use classifiers::RunningStats;
use etherparse::TransportSlice;
use fingerprints::MacAddr;
use std::collections::VecDeque;

use crate::capture::Timestamp;
use crate::decode::{Fragment, IpPacket, PacketView, TunnelKind, Vlans};

pub use key::{Endpoint, FlowKey, Shares};
pub use reassembly::{Appended, ReassemblyCounters, StreamBuffer};
use table::{Keyed, LruTable};

/// Timeouts and caps of the flow tables.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowConfig {
    /// A flow with no packet for this long ends (seconds).
    pub idle_timeout: u64,
    /// A TCP flow closed by FIN or RST ends after this much quiet (seconds).
    pub closed_timeout: u64,
    /// A flow still active after this long is reported and restarted
    /// (seconds), so that long sessions appear in the events.
    pub active_timeout: u64,
    /// Live flows across all workers; beyond it the longest-idle is evicted.
    pub max_flows: usize,
}

impl FlowConfig {
    /// For live capture: flows are reported soon after they go quiet, and
    /// the table holds only what is active (Suricata and Zeek time idle
    /// flows out after one to ten minutes).
    pub fn live() -> FlowConfig {
        FlowConfig {
            idle_timeout: 300,
            closed_timeout: 30,
            active_timeout: 3600,
            max_flows: 1_000_000,
        }
    }

    /// For recorded captures: time runs as fast as the disk, and gaps often
    /// come from how captures were cut and joined, so flows stay open longer
    /// (nDPI's reader never times flows out in files). The cap still bounds
    /// the table.
    pub fn offline() -> FlowConfig {
        FlowConfig {
            idle_timeout: 3600,
            closed_timeout: 60,
            active_timeout: 86_400,
            ..FlowConfig::live()
        }
    }

    /// Nanoseconds without a packet after which `flow` ends: the idle
    /// timeout, or the closed timeout (if shorter) once FIN or RST passed.
    fn timeout_of(&self, flow: &Flow) -> u64 {
        let idle = Timestamp::from_secs(self.idle_timeout).0;
        if flow.state == FlowState::Closed {
            idle.min(Timestamp::from_secs(self.closed_timeout).0)
        } else {
            idle
        }
    }

    /// When `flow` times out if no packet comes.
    fn deadline(&self, flow: &Flow) -> Timestamp {
        Timestamp(flow.end.0.saturating_add(self.timeout_of(flow)))
    }
}

impl Default for FlowConfig {
    fn default() -> FlowConfig {
        FlowConfig::live()
    }
}

/// TCP flag bits, as in the TCP header's flags byte.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// The connection state, as EVE's `flow.state` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowState {
    /// Packets in one direction only so far (or a TCP handshake not finished).
    New,
    /// Both directions have spoken.
    Established,
    /// TCP: FIN in both directions, or RST.
    Closed,
}

/// Why a flow was reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// No packet for the idle (or closed) timeout.
    Timeout,
    /// Reached the active timeout; the conversation goes on in a new flow.
    ActiveTimeout,
    /// Evicted to respect the cap on live flows.
    Evicted,
    /// The input ended (end of the capture files, or the sensor stopped).
    Shutdown,
}

/// One direction of a flow.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct DirectionStats {
    pub pkts: u64,
    /// Captured frame bytes (link header included), as Suricata and nDPI count them.
    pub bytes: u64,
    /// Transport payload bytes as announced by the headers.
    pub payload_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<Timestamp>,
    /// OR of the TCP flags seen.
    #[serde(skip)]
    pub tcp_flags: u8,
    /// Captured frame lengths.
    pub pkt_len: RunningStats,
    /// Gaps between consecutive packets, in microseconds.
    pub iat_us: RunningStats,
}

impl DirectionStats {
    fn record(&mut self, p: &FlowPacket) {
        if let Some(last) = self.last {
            self.iat_us.push(p.ts.since(last) as f64 * 1e-3);
        }
        self.pkts += 1;
        self.bytes += u64::from(p.len);
        self.payload_bytes += u64::from(p.payload_len);
        self.first.get_or_insert(p.ts);
        self.last = Some(p.ts.max(self.last.unwrap_or_default()));
        self.tcp_flags |= p.tcp_flags;
        self.pkt_len.push(f64::from(p.len));
    }
}

/// A conversation between two endpoints, oriented client -> server.
#[derive(Debug, Clone)]
pub struct Flow {
    /// Unique per sensor run.
    pub id: u64,
    pub key: FlowKey,
    /// Whether the client is the key's lower endpoint.
    client_is_lo: bool,
    pub client: Endpoint,
    pub server: Endpoint,
    pub client_mac: Option<MacAddr>,
    pub server_mac: Option<MacAddr>,
    pub start: Timestamp,
    /// Its last packet.
    pub end: Timestamp,
    /// When the stream ended it (its timeout's deadline, the packet that
    /// cut it, the eviction): the time of what is learnt from its end, in
    /// stream order whichever worker held it.
    pub ended: Timestamp,
    pub to_server: DirectionStats,
    pub to_client: DirectionStats,
    pub state: FlowState,
    /// The tunnel the flow's packets came in, if any.
    pub tunnel: Option<TunnelKind>,
    /// What mirador does with the flow's payload.
    pub app: AppLayer,
    /// The MSS the client's SYN offered (0: none seen), for the SYN+ACK's
    /// fingerprint.
    pub syn_mss: u16,
    /// Packets and bytes of each direction already credited to devices.
    credited: [(u64, u64); 2],
}

impl Flow {
    pub fn protocol(&self) -> u8 {
        self.key.protocol
    }

    pub fn vlans(&self) -> Vlans {
        self.key.vlans
    }

    fn new(id: u64, key: FlowKey, p: &FlowPacket) -> Flow {
        // The client opens the conversation: the sender of a SYN, the
        // receiver of a SYN+ACK, otherwise whoever spoke first.
        let syn_ack =
            p.tcp_flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN | tcp_flags::ACK;
        let (client, server, client_mac, server_mac) = if syn_ack {
            (p.dst, p.src, p.dst_mac, p.src_mac)
        } else {
            (p.src, p.dst, p.src_mac, p.dst_mac)
        };
        Flow {
            id,
            key,
            client_is_lo: p.src_is_lo != syn_ack,
            client,
            server,
            client_mac,
            server_mac,
            start: p.ts,
            end: p.ts,
            ended: p.ts,
            to_server: DirectionStats::default(),
            to_client: DirectionStats::default(),
            state: FlowState::New,
            tunnel: p.tunnel,
            app: AppLayer::Undecided {
                probed: 0,
                after: None,
            },
            syn_mss: 0,
            credited: [(0, 0); 2],
        }
    }

    /// Adds a packet and tells how it touched the flow.
    fn record(&mut self, p: &FlowPacket, new_flow: bool) -> Touched {
        let to_server = p.src_is_lo == self.client_is_lo;
        let (sender, receiver) = if to_server {
            self.server_mac = self.server_mac.or(p.dst_mac);
            (self.client_mac, self.server_mac)
        } else {
            self.server_mac = self.server_mac.or(p.src_mac);
            (self.server_mac, self.client_mac)
        };
        let differs = |expected: Option<MacAddr>, seen: Option<MacAddr>| matches!((expected, seen), (Some(e), Some(s)) if e != s);
        // Frames of one flow between other MACs (a router seen on both
        // sides, a failover) are counted for their own MACs, not the flow's.
        let other_macs = differs(sender, p.src_mac) || differs(receiver, p.dst_mac);
        let i = usize::from(!to_server);
        let dir = if to_server {
            &mut self.to_server
        } else {
            &mut self.to_client
        };
        dir.record(p);
        let first_in_direction = dir.pkts == 1;
        if other_macs {
            self.credited[i].0 += 1;
            self.credited[i].1 += u64::from(p.len);
        }
        self.end = self.end.max(p.ts);
        self.state = self.next_state(p.tcp_flags);
        Touched {
            new_flow,
            to_server,
            first_in_direction,
            other_macs,
        }
    }

    fn next_state(&self, flags: u8) -> FlowState {
        use tcp_flags::{FIN, RST};
        let both = self.to_server.pkts > 0 && self.to_client.pkts > 0;
        if self.key.protocol == TCP {
            let fin_both = self.to_server.tcp_flags & self.to_client.tcp_flags & FIN != 0;
            if self.state == FlowState::Closed || flags & RST != 0 || fin_both {
                return FlowState::Closed;
            }
        }
        if both {
            FlowState::Established
        } else {
            FlowState::New
        }
    }

    /// Packets and bytes carried toward the server and toward the client
    /// since the last call: device counters are credited from flows in
    /// bulk rather than per packet.
    pub fn take_uncredited(&mut self) -> [(u64, u64); 2] {
        let totals = [
            (self.to_server.pkts, self.to_server.bytes),
            (self.to_client.pkts, self.to_client.bytes),
        ];
        let delta = [0, 1].map(|i| {
            (
                totals[i].0 - self.credited[i].0,
                totals[i].1 - self.credited[i].1,
            )
        });
        self.credited = totals;
        delta
    }

    /// Total packets in both directions.
    pub fn pkts(&self) -> u64 {
        self.to_server.pkts + self.to_client.pkts
    }
}

impl Keyed for Flow {
    fn key(&self) -> &FlowKey {
        &self.key
    }
}

const TCP: u8 = 6;

/// What mirador does with a flow's payload, decided by the protocols'
/// probes on its first payload.
#[derive(Debug, Clone)]
pub enum AppLayer {
    /// No protocol recognised yet in `probed` payload packets (a protocol
    /// may start after a preamble: TLS after a SOCKS exchange). `after`:
    /// the dissector that already read the flow's start, not tried again
    /// (TLS follows an FTP, SMTP or POP3 STARTTLS exchange).
    Undecided { probed: u8, after: Option<u16> },
    /// No protocol of interest: payload is not looked at again.
    Ignored,
    /// Each datagram goes to this dissector (an index into
    /// `fingerprints::proto::dissectors()`).
    Messages(u16),
    /// The first bytes of each direction, client's first, go to this
    /// dissector.
    Stream(u16, Box<[StreamBuffer; 2]>),
}

/// What a flow needs from a packet.
#[derive(Debug, Clone, Copy)]
pub struct FlowPacket {
    pub ts: Timestamp,
    pub src: Endpoint,
    pub dst: Endpoint,
    pub src_mac: Option<MacAddr>,
    pub dst_mac: Option<MacAddr>,
    pub key: FlowKey,
    /// The sender is the key's lower endpoint.
    pub src_is_lo: bool,
    pub len: u32,
    pub payload_len: u32,
    pub tcp_flags: u8,
    pub tunnel: Option<TunnelKind>,
}

impl FlowPacket {
    /// The flow view of an IP packet; `None` for packets that belong to no
    /// flow (non-IP, and IP fragments after the first, which carry no ports).
    pub fn new(ts: Timestamp, len: u32, view: &PacketView<'_>) -> Option<FlowPacket> {
        let crate::decode::Network::Ip(ip) = &view.network else {
            return None;
        };
        if ip.fragment == Fragment::Later {
            return None;
        }
        let (src_port, dst_port) = ip.ports();
        let src = Endpoint {
            ip: ip.src,
            port: src_port,
        };
        let dst = Endpoint {
            ip: ip.dst,
            port: dst_port,
        };
        let (key, src_is_lo) = FlowKey::new(src, dst, ip.protocol, view.vlans);
        let (tcp_flags, payload_len) = transport_facts(ip);
        Some(FlowPacket {
            ts,
            src,
            dst,
            src_mac: view.src_mac,
            dst_mac: view.dst_mac,
            key,
            src_is_lo,
            len,
            payload_len,
            tcp_flags,
            tunnel: view.tunnel,
        })
    }
}

/// TCP flags and the transport payload length announced by the headers.
fn transport_facts(ip: &IpPacket<'_>) -> (u8, u32) {
    match &ip.transport {
        Some(TransportSlice::Tcp(t)) => {
            let header = t.header_slice();
            let flags = header.get(13).copied().unwrap_or(0);
            (flags, len32(t.payload().len()))
        }
        Some(TransportSlice::Udp(u)) => (0, u32::from(u.length()).saturating_sub(8)),
        _ => (0, len32(ip.payload.len())),
    }
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// What happened to the packet's flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touched {
    /// The packet started a new flow.
    pub new_flow: bool,
    /// The packet travels client -> server.
    pub to_server: bool,
    /// The packet is the first of its direction in the flow.
    pub first_in_direction: bool,
    /// The packet's MACs are not the flow's: its traffic is left for the
    /// caller to credit to the MACs it carries.
    pub other_macs: bool,
}

/// Counters of one worker's flow table.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct FlowCounters {
    pub created: u64,
    pub ended: u64,
    pub evicted: u64,
    pub live: u64,
}

/// One worker's flows.
pub struct FlowTracker {
    config: FlowConfig,
    /// This worker's share of the cap.
    max_live: usize,
    table: LruTable<Flow>,
    next_id: u64,
    id_stride: u64,
    counters: FlowCounters,
    /// Flows as they closed (FIN both ways, or RST), oldest first: a
    /// closed flow times out sooner than the idle flows ahead of it in the
    /// recency order, and must end on time, not when they do.
    closing: VecDeque<(Timestamp, FlowKey)>,
}

impl FlowTracker {
    /// A tracker for worker `worker` of `workers`: flow ids interleave so
    /// they stay unique across workers, and the cap is shared out.
    pub fn new(config: FlowConfig, worker: usize, workers: usize) -> FlowTracker {
        let workers = workers.max(1);
        let max_live = (config.max_flows / workers).max(1);
        FlowTracker {
            config,
            max_live,
            table: LruTable::with_capacity(max_live.min(1 << 16)),
            next_id: worker as u64 + 1,
            id_stride: workers as u64,
            counters: FlowCounters::default(),
            closing: VecDeque::new(),
        }
    }

    /// Adds a packet to its flow, creating the flow if needed. Flows the
    /// packet ends (a reused 5-tuple, an evicted flow, an active timeout) are
    /// passed to `ended`.
    pub fn update(
        &mut self,
        p: &FlowPacket,
        ended: &mut impl FnMut(&mut Flow, EndReason),
    ) -> Touched {
        if let Some(flow) = self.table.get_mut(&p.key) {
            let Some(reason) = ending_reason(flow, p, &self.config) else {
                let was_closed = flow.state == FlowState::Closed;
                let touched = flow.record(p, false);
                if !was_closed && flow.state == FlowState::Closed {
                    let end = flow.end;
                    self.closed(end, p.key);
                }
                return touched;
            };
            let at = match reason {
                EndReason::Timeout => self.config.deadline(flow),
                _ => p.ts,
            };
            let counters = &mut self.counters;
            self.table
                .remove_with(&p.key, |old| finish(counters, old, reason, at, ended));
        }
        while self.table.len() >= self.max_live {
            let counters = &mut self.counters;
            let evicted = self.table.pop_oldest_with(|oldest| {
                counters.evicted += 1;
                finish(counters, oldest, EndReason::Evicted, p.ts, ended);
            });
            if !evicted {
                break;
            }
        }
        let id = self.next_id;
        self.next_id += self.id_stride;
        self.counters.created += 1;
        let flow = self.table.insert(Flow::new(id, p.key, p));
        let touched = flow.record(p, true);
        if flow.state == FlowState::Closed {
            let end = flow.end;
            self.closed(end, p.key);
        }
        touched
    }

    fn closed(&mut self, at: Timestamp, key: FlowKey) {
        // Beyond the cap the oldest wait for the recency order instead.
        if self.closing.len() >= self.max_live {
            self.closing.pop_front();
        }
        self.closing.push_back((at, key));
    }

    /// Ends the flows that have been idle past their timeout at `now`.
    pub fn expire(&mut self, now: Timestamp, ended: &mut impl FnMut(&mut Flow, EndReason)) {
        let wait = Timestamp::from_secs(self.config.closed_timeout.min(self.config.idle_timeout)).0;
        while let Some(&(closed_at, key)) = self.closing.front() {
            if now.since(closed_at) < wait {
                break;
            }
            self.closing.pop_front();
            // The flow may have ended since, or seen packets after closing.
            let Some(flow) = self.table.peek(&key) else {
                continue;
            };
            if flow.state != FlowState::Closed {
                continue;
            }
            let deadline = self.config.deadline(flow);
            if deadline > now {
                self.closing.push_back((flow.end, key));
                continue;
            }
            let counters = &mut self.counters;
            self.table.remove_with(&key, |flow| {
                finish(counters, flow, EndReason::Timeout, deadline, ended)
            });
        }
        while let Some(oldest) = self.table.oldest() {
            // The table is in recency order, so once the oldest flow is
            // within the idle timeout every other one is too. Closed TCP
            // flows have a shorter timeout and may wait for their turn.
            if now.since(oldest.end) < self.config.timeout_of(oldest) {
                break;
            }
            let at = self.config.deadline(oldest);
            let counters = &mut self.counters;
            self.table
                .pop_oldest_with(|flow| finish(counters, flow, EndReason::Timeout, at, ended));
        }
    }

    /// Visits the flows that saw packets at or after `since`, most recent
    /// first (they sit at the recent end of the table).
    pub fn visit_active_since(&mut self, since: Timestamp, mut visit: impl FnMut(&mut Flow)) {
        self.table.visit_newest_while(|flow| {
            let active = flow.end >= since;
            if active {
                visit(flow);
            }
            active
        });
    }

    /// Ends every flow at `now`, the end of input.
    pub fn drain(&mut self, now: Timestamp, ended: &mut impl FnMut(&mut Flow, EndReason)) {
        let counters = &mut self.counters;
        while self
            .table
            .pop_oldest_with(|flow| finish(counters, flow, EndReason::Shutdown, now, ended))
        {
        }
    }

    /// The flow just updated by [`FlowTracker::update`].
    pub fn newest_mut(&mut self) -> Option<&mut Flow> {
        self.table.newest_mut()
    }

    pub fn counters(&self) -> FlowCounters {
        FlowCounters {
            live: self.table.len() as u64,
            ..self.counters
        }
    }
}

/// Counts a flow that ends at `at` and hands it to `ended`.
fn finish(
    counters: &mut FlowCounters,
    flow: &mut Flow,
    reason: EndReason,
    at: Timestamp,
    ended: &mut impl FnMut(&mut Flow, EndReason),
) {
    counters.ended += 1;
    flow.ended = at;
    ended(flow, reason);
}

/// Whether this packet must end the flow before being counted: the flow
/// timed out (expiry runs once a second, so it may not have yet), or
/// outlived the active timeout. A SYN after a close stays in the flow, as a
/// retry usually is, until the closed timeout passes.
fn ending_reason(flow: &Flow, p: &FlowPacket, config: &FlowConfig) -> Option<EndReason> {
    if p.ts.since(flow.end) >= config.timeout_of(flow) {
        return Some(EndReason::Timeout);
    }
    if p.ts.since(flow.start) >= Timestamp::from_secs(config.active_timeout).0 {
        return Some(EndReason::ActiveTimeout);
    }
    None
}
