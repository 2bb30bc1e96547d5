//! A worker: owns a share of the flows (chosen by a symmetric flow hash)
//! and runs the per-packet path on them, decode -> flow -> extract ->
//! inventory batch, with no lock and no allocation once warm.

use serde::Serialize;

use std::net::IpAddr;
use std::sync::Arc;

use fingerprints::MacAddr;
use fingerprints::proto::About;

use super::Sensor;
use super::telemetry::{Stage, Telemetry};
use crate::anomaly::Monitor;
use crate::capture::{Packet, Timestamp};
use crate::decode::{self, DecodeError, Network, PacketView};
use crate::export::eve::{EventBuffer, Header};
use crate::extract::{self, ExtractCounters, Extractor, Said};
use crate::flow::{EndReason, Flow, FlowCounters, FlowPacket, FlowTracker, Touched};
use crate::inventory::{Claim, Inventory, InventoryBatch, Sighting};

/// How often idle flows are expired and buffered inventory updates and
/// events handed on: every second of packet time (the clock, live) once
/// enough packets came to make it worth the while, and every ten seconds
/// whatever the traffic. A sparse capture replays hours of packet time in a
/// moment; housekeeping per second of it would cost more than the packets.
const HOUSEKEEPING_NS: u64 = Timestamp::NANOS_PER_SEC;
const HOUSEKEEPING_PACKETS: u32 = 4096;
const HOUSEKEEPING_MAX_NS: u64 = 10 * Timestamp::NANOS_PER_SEC;

/// What a worker counted.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct WorkerStats {
    pub packets: u64,
    /// Captured bytes.
    pub bytes: u64,
    pub first_packet: Option<Timestamp>,
    pub last_packet: Option<Timestamp>,
    /// Frames that are not IP (ARP, LLDP, ...), decoded.
    pub non_ip: u64,
    /// IP fragments after the first: counted, but in no flow.
    pub later_fragments: u64,
    /// Frames that could not be decoded, by [`DecodeError`] index.
    #[serde(serialize_with = "decode_errors_by_name")]
    pub decode_errors: [u64; DecodeError::ALL.len()],
    pub flows: FlowCounters,
    pub flow_events: u64,
    /// Events of what protocols said (tls, dhcp, lldp ...).
    pub protocol_events: u64,
    /// Findings filed as evidence in the inventory.
    pub claims_filed: u64,
    /// The application layer: findings and parse errors by protocol,
    /// reassembly.
    pub extract: ExtractCounters,
}

impl WorkerStats {
    pub fn add(&mut self, other: &WorkerStats) {
        self.packets += other.packets;
        self.bytes += other.bytes;
        self.first_packet = match (self.first_packet, other.first_packet) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_packet = self.last_packet.max(other.last_packet);
        self.non_ip += other.non_ip;
        self.later_fragments += other.later_fragments;
        for (a, b) in self.decode_errors.iter_mut().zip(other.decode_errors) {
            *a += b;
        }
        self.flows.created += other.flows.created;
        self.flows.ended += other.flows.ended;
        self.flows.evicted += other.flows.evicted;
        self.flows.live += other.flows.live;
        self.flow_events += other.flow_events;
        self.protocol_events += other.protocol_events;
        self.claims_filed += other.claims_filed;
        self.extract.add(&other.extract);
    }

    pub fn decode_error_total(&self) -> u64 {
        self.decode_errors.iter().sum()
    }

    /// Decode errors by reason name, the non-zero ones.
    pub fn decode_errors_by_reason(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DecodeError::ALL
            .iter()
            .map(|e| (e.name(), self.decode_errors[e.index()]))
            .filter(|(_, n)| *n > 0)
    }
}

/// Decode errors as `{"reason": count}`, every reason listed.
fn decode_errors_by_name<S: serde::Serializer>(
    counts: &[u64; DecodeError::ALL.len()],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(
        DecodeError::ALL
            .iter()
            .map(|e| (e.name(), counts[e.index()])),
    )
}

/// Where a worker's results go: the inventory batch, events, and the
/// application layer (which has the last word on a flow that ends).
struct Outputs<'a> {
    batch: InventoryBatch,
    events: EventBuffer<'a>,
    extractor: Extractor<'a>,
}

impl Outputs<'_> {
    /// A flow ends: what its streams still hold is parsed, its last traffic
    /// goes to the devices, its event out.
    fn finish_flow(&mut self, flow: &mut Flow, reason: EndReason) {
        self.extractor.flow_end(flow);
        self.report_flow(flow, flow.end);
        self.batch.flow_traffic(flow);
        self.batch.flow_ended(flow);
        self.events.flow(flow, reason);
    }

    /// What the protocols said in `flow`: events, and evidence about the
    /// speaker (or the party it names).
    fn report_flow(&mut self, flow: &Flow, ts: Timestamp) {
        let client = (flow.client_mac, Some(flow.client.ip));
        let server = (flow.server_mac, Some(flow.server.ip));
        self.report(
            ts,
            Some(flow.id),
            |event_type| Header::of_flow(flow, event_type, ts),
            |to_server| {
                if to_server {
                    [client, server]
                } else {
                    [server, client]
                }
            },
        );
    }

    /// What the protocols said in a frame outside IP.
    fn report_frame(&mut self, view: &PacketView<'_>, ts: Timestamp) {
        self.report(
            ts,
            None,
            |event_type| Header::of_frame(view, event_type, ts),
            |_| [(view.src_mac, None), (view.dst_mac, None)],
        );
    }

    /// Each finding the extractor holds becomes an event (`header`) and a
    /// claim about the party it is about: the sender or receiver of the
    /// bytes (`parties`, given the direction), or a MAC it names.
    fn report(
        &mut self,
        ts: Timestamp,
        flow_id: Option<u64>,
        header: impl Fn(&'static str) -> Header,
        parties: impl Fn(bool) -> [(Option<MacAddr>, Option<IpAddr>); 2],
    ) {
        for Said { finding, to_server } in self.extractor.said.drain(..) {
            self.events.finding(header(finding.event_type), &finding);
            let [sender, receiver] = parties(to_server);
            let (parties, named) = match finding.about {
                About::Sender => ([Some(sender), None], false),
                About::Receiver => ([Some(receiver), None], false),
                About::Both => ([Some(sender), Some(receiver)], false),
                About::Mac(mac) => ([Some((Some(mac), None)), None], true),
            };
            for (mac, ip) in parties.into_iter().flatten() {
                self.batch.claim(Claim {
                    ts,
                    flow_id,
                    mac,
                    ip,
                    named,
                    finding: Arc::clone(&finding),
                });
            }
        }
    }
}

pub struct Worker<'a> {
    id: usize,
    flows: FlowTracker,
    out: Outputs<'a>,
    inventory: &'a Inventory,
    monitor: Option<&'a Monitor>,
    telemetry: &'a Telemetry,
    stats: WorkerStats,
    /// Housekeepings run so far (live sources read their kernel counters
    /// when this moves).
    housekeepings: u64,
    next_housekeeping: Timestamp,
    since_housekeeping: u32,
    /// The latest time of the stream this worker knows.
    clock: Timestamp,
    /// Flows active since this time have traffic not yet credited to devices.
    last_credit: Timestamp,
}

impl<'a> Worker<'a> {
    /// Worker `id` of `workers`, on the sensor's settings, inventory and
    /// event output.
    pub fn new(id: usize, workers: usize, sensor: &'a Sensor) -> Worker<'a> {
        Worker {
            id,
            flows: FlowTracker::new(sensor.flows, id, workers),
            out: Outputs {
                batch: InventoryBatch::default(),
                events: EventBuffer::new(sensor.events.as_ref()),
                extractor: Extractor::new(&sensor.knowledge, sensor.extract),
            },
            inventory: &sensor.inventory,
            monitor: sensor.monitor.as_ref(),
            telemetry: &sensor.telemetry,
            stats: WorkerStats::default(),
            housekeepings: 0,
            next_housekeeping: Timestamp::default(),
            since_housekeeping: 0,
            clock: Timestamp::default(),
            last_credit: Timestamp::default(),
        }
    }

    /// The per-packet path.
    pub fn process(&mut self, packet: &Packet<'_>) {
        self.tick_with_packet(packet.ts);
        match decode::decode(packet) {
            Ok(view) => self.handle(packet, &view),
            Err(e) => self.undecodable(packet, e),
        }
    }

    fn count(&mut self, packet: &Packet<'_>) {
        self.stats.packets += 1;
        self.stats.bytes += packet.data.len() as u64;
        // The earliest, not the first read: captures are not always in
        // time order.
        self.stats.first_packet = Some(
            self.stats
                .first_packet
                .map_or(packet.ts, |t| t.min(packet.ts)),
        );
        self.stats.last_packet = self.stats.last_packet.max(Some(packet.ts));
    }

    fn undecodable(&mut self, packet: &Packet<'_>, e: decode::DecodeError) {
        self.count(packet);
        self.stats.decode_errors[e.index()] += 1;
    }

    /// A decoded packet: flow, identity, inventory.
    fn handle(&mut self, packet: &Packet<'_>, view: &PacketView<'_>) {
        self.count(packet);
        let len = packet.data.len() as u32;
        let batch = &mut self.out.batch;
        extract::observe(view, packet.ts, &mut |ts, o| batch.observation(ts, o));
        let touched = match &view.network {
            Network::Ip(ip) => match FlowPacket::new(packet.ts, len, view) {
                Some(fp) => {
                    let touched = self.flow_packet(&fp);
                    if let Some(flow) = self.flows.newest_mut() {
                        self.out.extractor.syn(flow, ip);
                        self.out.extractor.packet(flow, touched.to_server, view);
                        if !self.out.extractor.said.is_empty() {
                            self.out.report_flow(flow, packet.ts);
                        }
                    }
                    Some(touched)
                }
                None => {
                    self.stats.later_fragments += 1;
                    None
                }
            },
            Network::Other {
                ether_type,
                payload,
            } => {
                self.stats.non_ip += 1;
                self.out.extractor.frame(view, *ether_type, payload);
                if !self.out.extractor.said.is_empty() {
                    self.out.report_frame(view, packet.ts);
                }
                None
            }
            Network::Arp(_) => {
                self.stats.non_ip += 1;
                None
            }
        };
        // Flows carry their own traffic counts, credited to devices at each
        // housekeeping; a flow's protocols can only be new with a direction.
        let batch = &mut self.out.batch;
        match touched {
            None => batch.frame(view, packet.ts, len),
            Some(t) if t.other_macs => batch.frame(view, packet.ts, len),
            Some(t) if t.first_in_direction => batch.protocols(view, packet.ts),
            Some(_) => {}
        }
        if batch.is_full() {
            self.apply(Some(self.clock));
        }
    }

    /// Adds a packet to its flow; when it opens a direction, the inventory
    /// learns who talks to whom.
    fn flow_packet(&mut self, fp: &FlowPacket) -> Touched {
        let out = &mut self.out;
        let touched = self
            .flows
            .update(fp, &mut |flow, reason| out.finish_flow(flow, reason));
        if touched.first_in_direction {
            let flow_id = self.flows.newest_mut().map_or(0, |f| f.id);
            self.out.batch.sighting(Sighting {
                ts: fp.ts,
                src_mac: fp.src_mac,
                src_ip: fp.src.ip,
                src_port: fp.src.port,
                dst_mac: fp.dst_mac,
                dst_ip: fp.dst.ip,
                dst_port: fp.dst.port,
                protocol: fp.key.protocol,
                reply: !touched.to_server,
                tcp_flags: fp.tcp_flags,
                flow_id,
            });
        }
        touched
    }

    /// Housekeeping when no packet comes (live, on a quiet link): driven by
    /// the clock alone.
    pub fn tick(&mut self, now: Timestamp) {
        self.clock = self.clock.max(now);
        if now >= self.next_housekeeping {
            self.housekeeping(now);
        }
    }

    /// Housekeeping on the packet path, amortised over packets.
    fn tick_with_packet(&mut self, now: Timestamp) {
        self.since_housekeeping += 1;
        self.stream_time(now);
    }

    /// The stream has reached `now` (a packet of another worker's, offline):
    /// time moves on for this worker's flows too.
    pub fn stream_time(&mut self, now: Timestamp) {
        self.clock = self.clock.max(now);
        let due = now >= self.next_housekeeping
            && (self.since_housekeeping >= HOUSEKEEPING_PACKETS
                || now.since(self.last_credit) >= HOUSEKEEPING_MAX_NS);
        if due {
            self.housekeeping(now);
        }
    }

    /// Idle flows end, flows' traffic is credited to devices, buffered
    /// inventory updates and events go out, and the counts are published.
    fn housekeeping(&mut self, now: Timestamp) {
        self.next_housekeeping = Timestamp(now.0.saturating_add(HOUSEKEEPING_NS));
        self.since_housekeeping = 0;
        self.housekeepings += 1;
        let (out, flows, telemetry) = (&mut self.out, &mut self.flows, self.telemetry);
        telemetry.time(Stage::Expire, || {
            flows.expire(now, &mut |flow, reason| out.finish_flow(flow, reason));
        });
        telemetry.time(Stage::Credit, || {
            flows.visit_active_since(self.last_credit, |flow| out.batch.flow_traffic(flow));
        });
        self.last_credit = now;
        self.apply(Some(now));
        telemetry.time(Stage::Events, || self.out.events.flush());
        telemetry.publish(self.id, self.stats(), false);
    }

    /// Housekeepings run so far.
    pub fn housekeepings(&self) -> u64 {
        self.housekeepings
    }

    /// Hands the batch to the behaviour monitor (even an empty one: the
    /// worker's clock moved on), then to the inventory.
    /// `clock`: the stream time reached (`None`: the worker is done).
    fn apply(&mut self, clock: Option<Timestamp>) {
        let out = &mut self.out;
        if let Some(monitor) = self.monitor {
            self.telemetry.time(Stage::Monitor, || {
                monitor.submit(self.id, clock, &out.batch, self.inventory, &mut out.events);
            });
        }
        if !out.batch.is_empty() {
            self.stats.claims_filed += out.batch.claims() as u64;
            self.telemetry
                .time(Stage::Inventory, || self.inventory.apply(&mut out.batch));
        }
    }

    /// Ends every flow and hands over what is left; returns the counts.
    pub fn finish(mut self) -> WorkerStats {
        let out = &mut self.out;
        // Flows already past their timeout at the end of the stream time
        // out, whenever the last housekeeping happened to run.
        self.flows.expire(self.clock, &mut |flow, reason| {
            out.finish_flow(flow, reason)
        });
        let now = self.clock;
        self.flows
            .drain(now, &mut |flow, reason| out.finish_flow(flow, reason));
        self.apply(None);
        self.out.events.flush();
        let stats = self.stats();
        self.telemetry.publish(self.id, stats, true);
        stats
    }

    pub fn stats(&self) -> WorkerStats {
        WorkerStats {
            flows: self.flows.counters(),
            flow_events: self.out.events.flows,
            protocol_events: self.out.events.findings,
            extract: self.out.extractor.counters,
            ..self.stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::LinkType;
    use crate::flow::FlowConfig;
    use crate::inventory::InventoryConfig;

    /// Pinned by the fuzzer: a pcapng timestamp can reach the last second a
    /// `Timestamp` holds, where scheduling the next housekeeping overflowed.
    #[test]
    fn packets_at_the_end_of_time_are_processed() {
        let sensor = Sensor::new(
            FlowConfig::offline(),
            Inventory::new(
                InventoryConfig::default(),
                fingerprints::OuiRegistry::default(),
            ),
        );
        let mut worker = Worker::new(0, 1, &sensor);
        let frame = [0u8; 60];
        for ts in [u64::MAX - 5, u64::MAX] {
            worker.process(&Packet {
                ts: Timestamp(ts),
                link_type: LinkType::ETHERNET,
                data: &frame,
                wire_len: 60,
            });
        }
        assert_eq!(worker.finish().packets, 2);
    }
}
