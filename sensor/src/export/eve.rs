//! Events as EVE JSON lines, Suricata's format, so that SIEM pipelines that
//! already read Suricata read mirador. Field names follow Suricata's where
//! it has the field; the schema is documented in `docs/events.md`.
//!
//! Workers serialise their events into a buffer of their own and hand whole
//! buffers to the shared output, so the output's lock is taken once per
//! tens of kilobytes, never per event.

use std::io::Write;
use std::net::IpAddr;
use std::sync::Mutex;

use fingerprints::MacAddr;
use serde::Serialize;

use crate::anomaly::{Anomaly, Incident, Status, Subject};
use crate::capture::Timestamp;
use crate::decode::{PacketView, TunnelKind, Vlans};
use crate::flow::{DirectionStats, EndReason, Flow, FlowState, tcp_flags};
use fingerprints::proto::Finding;

/// Where serialised events go: a file, stdout, or (later) other sinks.
pub struct EventOutput {
    writer: Mutex<Box<dyn Write + Send>>,
    failed: std::sync::atomic::AtomicBool,
}

impl EventOutput {
    pub fn new(writer: Box<dyn Write + Send>) -> EventOutput {
        EventOutput {
            writer: Mutex::new(writer),
            failed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Writes whole lines. A failing output is reported once by
    /// [`finish`](Self::finish) rather than stopping the capture.
    fn write(&self, lines: &[u8]) {
        let ok = match self.writer.lock() {
            Ok(mut w) => w.write_all(lines).is_ok(),
            Err(_) => false,
        };
        if !ok {
            self.failed
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Flushes the output; an error if any write failed.
    pub fn finish(&self) -> std::io::Result<()> {
        let flushed = match self.writer.lock() {
            Ok(mut w) => w.flush(),
            Err(_) => Err(std::io::Error::other("event output poisoned")),
        };
        if self.failed.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(std::io::Error::other("some events could not be written"));
        }
        flushed
    }
}

/// A worker's event buffer.
pub struct EventBuffer<'o> {
    output: Option<&'o EventOutput>,
    buffer: Vec<u8>,
    /// Events written, by type: flows, the protocols' findings, anomalies
    /// and incidents.
    pub flows: u64,
    pub findings: u64,
    pub anomalies: u64,
    pub incidents: u64,
    pub trust: u64,
}

const FLUSH_AT: usize = 64 * 1024;

impl<'o> EventBuffer<'o> {
    pub fn new(output: Option<&'o EventOutput>) -> EventBuffer<'o> {
        EventBuffer {
            output,
            buffer: Vec::with_capacity(if output.is_some() { 2 * FLUSH_AT } else { 0 }),
            flows: 0,
            findings: 0,
            anomalies: 0,
            incidents: 0,
            trust: 0,
        }
    }

    /// Emits the `flow` event of a finished flow.
    pub fn flow(&mut self, flow: &Flow, reason: EndReason) {
        self.flows += 1;
        if self.output.is_some() {
            self.push(&FlowEvent::new(flow, reason));
        }
    }

    /// Emits what a protocol said: the header, then the finding's fields
    /// as the section named by its event type.
    pub fn finding(&mut self, header: Header, finding: &Finding) {
        self.findings += 1;
        if self.output.is_some() {
            self.push(&FindingEvent {
                header,
                section: Section(finding),
            });
        }
    }

    /// Emits an `anomaly` event, dated when it was raised, about its subject.
    pub fn anomaly(&mut self, anomaly: &Anomaly) {
        self.anomalies += 1;
        if self.output.is_some() {
            self.push(&SubjectEvent {
                header: Header::of_subject(anomaly.subject, "anomaly", anomaly.first),
                anomaly: Some(anomaly),
                incident: None,
            });
        }
    }

    /// Emits a `trust` event: a device's score is new or changed.
    pub fn trust(&mut self, change: &crate::trust::Change<'_>) {
        self.trust += 1;
        if self.output.is_some() {
            self.push(&TrustEvent {
                header: Header::of_subject(change.subject, "trust", change.trust.assessed_at),
                trust: TrustSection {
                    previous_score: change.previous,
                    trust: change.trust,
                },
            });
        }
    }

    /// Emits an `incident` event (at its opening, and when it closes).
    pub fn incident(&mut self, incident: &Incident) {
        self.incidents += 1;
        if self.output.is_some() {
            let ts = match incident.status {
                Status::Open => incident.first,
                Status::Closed => incident.last,
            };
            self.push(&SubjectEvent {
                header: Header::of_subject(incident.subject, "incident", ts),
                anomaly: None,
                incident: Some(incident),
            });
        }
    }

    fn push(&mut self, event: &impl Serialize) {
        if serde_json::to_writer(&mut self.buffer, event).is_ok() {
            self.buffer.push(b'\n');
        }
        if self.buffer.len() >= FLUSH_AT {
            self.flush();
        }
    }

    pub fn flush(&mut self) {
        if let Some(output) = self.output
            && !self.buffer.is_empty()
        {
            output.write(&self.buffer);
        }
        self.buffer.clear();
    }
}

impl Drop for EventBuffer<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The header every event shares. Events of frames outside IP (LLDP, CDP
/// ...) have no flow, addresses or ports.
#[derive(Serialize)]
pub struct Header {
    timestamp: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    flow_id: Option<u64>,
    event_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dest_ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dest_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proto: Option<Proto>,
    #[serde(skip_serializing_if = "Vlans::is_empty", serialize_with = "vlan_ids")]
    vlan: Vlans,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_mac: Option<MacAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dest_mac: Option<MacAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tunnel: Option<TunnelKind>,
}

impl Header {
    /// An event of a flow, oriented client -> server as Suricata orients them.
    pub fn of_flow(flow: &Flow, event_type: &'static str, timestamp: Timestamp) -> Header {
        Header {
            timestamp,
            flow_id: Some(flow.id),
            event_type,
            src_ip: Some(flow.client.ip),
            src_port: Some(flow.client.port),
            dest_ip: Some(flow.server.ip),
            dest_port: Some(flow.server.port),
            proto: Some(Proto(flow.protocol())),
            vlan: flow.vlans(),
            src_mac: flow.client_mac,
            dest_mac: flow.server_mac,
            tunnel: flow.tunnel,
        }
    }

    /// An event about a device or host rather than a packet.
    pub fn of_subject(subject: Subject, event_type: &'static str, timestamp: Timestamp) -> Header {
        Header {
            timestamp,
            flow_id: None,
            event_type,
            src_ip: subject.ip,
            src_port: None,
            dest_ip: None,
            dest_port: None,
            proto: None,
            vlan: Vlans::default(),
            src_mac: subject.mac,
            dest_mac: None,
            tunnel: None,
        }
    }

    /// An event of a frame outside IP.
    pub fn of_frame(
        view: &PacketView<'_>,
        event_type: &'static str,
        timestamp: Timestamp,
    ) -> Header {
        Header {
            timestamp,
            flow_id: None,
            event_type,
            src_ip: None,
            src_port: None,
            dest_ip: None,
            dest_port: None,
            proto: None,
            vlan: view.vlans,
            src_mac: view.src_mac,
            dest_mac: view.dst_mac,
            tunnel: view.tunnel,
        }
    }
}

/// An anomaly or incident event: the header names the subject as its source.
#[derive(Serialize)]
struct SubjectEvent<'a> {
    #[serde(flatten)]
    header: Header,
    #[serde(skip_serializing_if = "Option::is_none")]
    anomaly: Option<&'a Anomaly>,
    #[serde(skip_serializing_if = "Option::is_none")]
    incident: Option<&'a Incident>,
}

/// A `trust` event: the header names the device as its source.
#[derive(Serialize)]
struct TrustEvent<'a> {
    #[serde(flatten)]
    header: Header,
    trust: TrustSection<'a>,
}

#[derive(Serialize)]
struct TrustSection<'a> {
    /// The score last told for the device (absent the first time).
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_score: Option<u8>,
    #[serde(flatten)]
    trust: &'a crate::trust::Trust,
}

/// VLAN tags as EVE's `vlan` array, outermost first.
fn vlan_ids<S: serde::Serializer>(vlans: &Vlans, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(vlans.ids())
}

/// An IP protocol number, written as Suricata writes it.
pub struct Proto(u8);

impl Serialize for Proto {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let name = match self.0 {
            1 => "ICMP",
            2 => "IGMP",
            6 => "TCP",
            17 => "UDP",
            47 => "GRE",
            50 => "ESP",
            51 => "AH",
            58 => "IPv6-ICMP",
            103 => "PIM",
            112 => "VRRP",
            132 => "SCTP",
            n => return s.collect_str(&n),
        };
        s.serialize_str(name)
    }
}

#[derive(Serialize)]
struct FindingEvent<'f> {
    #[serde(flatten)]
    header: Header,
    #[serde(flatten)]
    section: Section<'f>,
}

/// `"<event_type>": {fields}`.
struct Section<'f>(&'f Finding);

impl Serialize for Section<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(self.0.event_type, &self.0.fields)?;
        m.end()
    }
}

#[derive(Serialize)]
struct FlowEvent<'f> {
    #[serde(flatten)]
    header: Header,
    flow: FlowSection<'f>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tcp: Option<TcpSection>,
}

#[derive(Serialize)]
struct FlowSection<'f> {
    pkts_toserver: u64,
    pkts_toclient: u64,
    bytes_toserver: u64,
    bytes_toclient: u64,
    start: Timestamp,
    end: Timestamp,
    /// Seconds from start to end, as Suricata counts it.
    age: u64,
    state: FlowState,
    reason: EndReason,
    toserver: &'f DirectionStats,
    toclient: &'f DirectionStats,
}

/// TCP flags as two hex digits, written straight into the output.
struct HexFlags(u8);

impl Serialize for HexFlags {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:02x}", self.0))
    }
}

#[derive(Serialize)]
struct TcpSection {
    tcp_flags: HexFlags,
    tcp_flags_ts: HexFlags,
    tcp_flags_tc: HexFlags,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    syn: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    fin: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    rst: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    psh: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    ack: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    urg: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    ecn: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    cwr: bool,
}

impl<'f> FlowEvent<'f> {
    fn new(flow: &'f Flow, reason: EndReason) -> FlowEvent<'f> {
        let tcp = (flow.protocol() == 6).then(|| {
            let ts = flow.to_server.tcp_flags;
            let tc = flow.to_client.tcp_flags;
            let all = ts | tc;
            TcpSection {
                tcp_flags: HexFlags(all),
                tcp_flags_ts: HexFlags(ts),
                tcp_flags_tc: HexFlags(tc),
                syn: all & tcp_flags::SYN != 0,
                fin: all & tcp_flags::FIN != 0,
                rst: all & tcp_flags::RST != 0,
                psh: all & tcp_flags::PSH != 0,
                ack: all & tcp_flags::ACK != 0,
                urg: all & tcp_flags::URG != 0,
                ecn: all & tcp_flags::ECE != 0,
                cwr: all & tcp_flags::CWR != 0,
            }
        });
        FlowEvent {
            header: Header::of_flow(flow, "flow", flow.start),
            flow: FlowSection {
                pkts_toserver: flow.to_server.pkts,
                pkts_toclient: flow.to_client.pkts,
                bytes_toserver: flow.to_server.bytes,
                bytes_toclient: flow.to_client.bytes,
                start: flow.start,
                end: flow.end,
                age: flow.end.since(flow.start) / Timestamp::NANOS_PER_SEC,
                state: flow.state,
                reason,
                toserver: &flow.to_server,
                toclient: &flow.to_client,
            },
            tcp,
        }
    }
}
