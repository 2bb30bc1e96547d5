//! What a device's flows looked like, folded one ended flow at a time into
//! a fixed-size summary: the behavioural half of its feature vector.
//! Constant memory per device (ports and destinations are hashed into a
//! few buckets), and one update per flow, never per packet.

use crate::features::{CLIENT_PORT_BUCKETS, SERVER_PORT_BUCKETS, bucket};
use crate::stats::RunningStats;

/// One ended flow as seen from one of its local devices.
#[derive(Debug, Clone, Copy)]
pub struct FlowSummary {
    /// The device opened the flow.
    pub as_client: bool,
    /// IP protocol number (6 TCP, 17 UDP ...).
    pub transport: u8,
    /// The service port (the server's).
    pub service_port: u16,
    /// The other end is on a local network (private, link-local,
    /// multicast or broadcast addresses).
    pub peer_is_local: bool,
    /// A hash of the other end and the service port, for periodicity.
    pub destination: u64,
    pub start_us: i64,
    pub duration_us: i64,
    pub packets_sent: u64,
    pub packets_received: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Mean frame length the device sent (0 when it sent nothing).
    pub mean_sent_len: f64,
    /// Mean gap between packets of the flow, both directions (0: one packet).
    pub mean_gap_us: f64,
}

/// Schema of `FlowSummary::vector`, the shape of one flow that the
/// streaming detector learns (docs/anomalies.md, "Unusual flows").
/// Changing the features changes the version.
pub const FLOW_SCHEMA_VERSION: &str = "flow/1";

/// The features of `FlowSummary::vector`, in order. Sizes and times are
/// logarithms (ln(1 + x)): flows span orders of magnitude.
pub const FLOW_FEATURES: [&str; 12] = [
    "as_client",
    "transport",
    "log2_service_port",
    "peer_is_local",
    "log_duration_ms",
    "log_packets_sent",
    "log_packets_received",
    "log_bytes_sent",
    "log_bytes_received",
    "mean_sent_frame",
    "log_mean_gap_ms",
    "sent_byte_share",
];

impl FlowSummary {
    /// The flow's shape, schema `flow/1` (`FLOW_FEATURES`). No address,
    /// only the service port's magnitude.
    pub fn vector(&self) -> [f64; FLOW_FEATURES.len()] {
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        let log = |x: f64| x.max(0.0).ln_1p();
        let bytes = self.bytes_sent + self.bytes_received;
        [
            flag(self.as_client),
            match self.transport {
                6 => 0.0,
                17 => 1.0,
                _ => 2.0,
            },
            f64::from(self.service_port).ln_1p() / std::f64::consts::LN_2,
            flag(self.peer_is_local),
            log(self.duration_us as f64 / 1000.0),
            log(self.packets_sent as f64),
            log(self.packets_received as f64),
            log(self.bytes_sent as f64),
            log(self.bytes_received as f64),
            self.mean_sent_len,
            log(self.mean_gap_us / 1000.0),
            if bytes == 0 {
                0.5
            } else {
                self.bytes_sent as f64 / bytes as f64
            },
        ]
    }
}

/// Destinations followed for periodicity per device.
const PERIODIC_SLOTS: usize = 8;
/// Gaps between a destination's flows whose spread is below this share of
/// their mean are periodic (a beacon, a keep-alive, a poll).
const PERIODIC_SPREAD: f64 = 0.2;

/// Repeated connections to one destination.
#[derive(Debug, Clone, Copy, Default)]
struct Destination {
    key: u64,
    last_start_us: i64,
    gaps_s: RunningStats,
    flows: u64,
}

/// A device's flows, summarised.
#[derive(Debug, Clone, Default)]
pub struct DeviceBehaviour {
    pub flows_as_client: u64,
    pub flows_as_server: u64,
    pub tcp_flows: u64,
    pub udp_flows: u64,
    pub other_flows: u64,
    /// Flows with a peer outside the local networks, and their bytes.
    pub remote_flows: u64,
    pub remote_bytes: u64,
    pub bytes: u64,
    /// Flows it opened, by hashed service port.
    pub client_ports: [u32; CLIENT_PORT_BUCKETS],
    /// Flows it answered, by hashed service port.
    pub server_ports: [u32; SERVER_PORT_BUCKETS],
    /// Per flow: log10 of the duration in seconds (floored at 1 ms), of the
    /// packets, of the mean gap in microseconds; the mean sent frame size.
    pub log_duration: RunningStats,
    pub log_packets: RunningStats,
    pub log_gap: RunningStats,
    pub sent_len: RunningStats,
    destinations: [Destination; PERIODIC_SLOTS],
    /// Destinations not followed because the slots were taken.
    pub destinations_overflow: u64,
}

impl DeviceBehaviour {
    pub fn flow(&mut self, f: &FlowSummary) {
        if f.as_client {
            self.flows_as_client += 1;
            self.client_ports[bucket(u64::from(f.service_port), CLIENT_PORT_BUCKETS)] += 1;
            self.destination(f);
        } else {
            self.flows_as_server += 1;
            self.server_ports[bucket(u64::from(f.service_port), SERVER_PORT_BUCKETS)] += 1;
        }
        match f.transport {
            6 => self.tcp_flows += 1,
            17 => self.udp_flows += 1,
            _ => self.other_flows += 1,
        }
        let bytes = f.bytes_sent + f.bytes_received;
        self.bytes += bytes;
        if !f.peer_is_local {
            self.remote_flows += 1;
            self.remote_bytes += bytes;
        }
        self.log_duration
            .push((f.duration_us.max(1000) as f64 * 1e-6).log10());
        self.log_packets
            .push(((f.packets_sent + f.packets_received).max(1) as f64).log10());
        if f.mean_gap_us > 0.0 {
            self.log_gap.push(f.mean_gap_us.max(1.0).log10());
        }
        if f.packets_sent > 0 {
            self.sent_len.push(f.mean_sent_len);
        }
    }

    pub fn flows(&self) -> u64 {
        self.flows_as_client + self.flows_as_server
    }

    /// Client flows to destinations reached at regular intervals (at least
    /// three gaps whose spread is under a fifth of their mean), as a share
    /// of client flows; and the median-ish period, the mean of those gaps.
    pub fn periodicity(&self) -> (f64, f64) {
        let periodic: Vec<&Destination> = self
            .destinations
            .iter()
            .filter(|d| {
                d.gaps_s.count() >= 3
                    && d.gaps_s.mean() > 0.0
                    && d.gaps_s.stddev() < PERIODIC_SPREAD * d.gaps_s.mean()
            })
            .collect();
        if periodic.is_empty() || self.flows_as_client == 0 {
            return (0.0, 0.0);
        }
        let flows: u64 = periodic.iter().map(|d| d.flows).sum();
        let period = periodic.iter().map(|d| d.gaps_s.mean()).sum::<f64>() / periodic.len() as f64;
        (flows as f64 / self.flows_as_client as f64, period)
    }

    fn destination(&mut self, f: &FlowSummary) {
        let slot = match self
            .destinations
            .iter()
            .position(|d| d.key == f.destination)
        {
            Some(at) => at,
            None => match self.destinations.iter().position(|d| d.flows == 0) {
                Some(free) => {
                    self.destinations[free] = Destination {
                        key: f.destination,
                        last_start_us: f.start_us,
                        gaps_s: RunningStats::default(),
                        flows: 1,
                    };
                    return;
                }
                None => {
                    self.destinations_overflow += 1;
                    return;
                }
            },
        };
        let d = &mut self.destinations[slot];
        // Flows end out of order: the gap is between starts, whichever first.
        d.gaps_s
            .push((f.start_us - d.last_start_us).unsigned_abs() as f64 * 1e-6);
        d.last_start_us = f.start_us;
        d.flows += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(start_s: i64, port: u16, dest: u64) -> FlowSummary {
        FlowSummary {
            as_client: true,
            transport: 6,
            service_port: port,
            peer_is_local: false,
            destination: dest,
            start_us: start_s * 1_000_000,
            duration_us: 200_000,
            packets_sent: 5,
            packets_received: 4,
            bytes_sent: 500,
            bytes_received: 900,
            mean_sent_len: 100.0,
            mean_gap_us: 20_000.0,
        }
    }

    #[test]
    fn a_beacon_is_periodic_and_random_flows_are_not() {
        let mut b = DeviceBehaviour::default();
        for i in 0..10 {
            b.flow(&flow(60 * i, 443, 1));
        }
        let (share, period) = b.periodicity();
        assert_eq!(share, 1.0);
        assert!((period - 60.0).abs() < 1e-9, "{period}");

        let mut b = DeviceBehaviour::default();
        for (i, start) in [0, 3, 50, 51, 200, 420].into_iter().enumerate() {
            b.flow(&flow(start, 80, i as u64 % 2));
        }
        assert_eq!(b.periodicity(), (0.0, 0.0));
        assert_eq!((b.flows_as_client, b.tcp_flows, b.remote_flows), (6, 6, 6));
    }

    #[test]
    fn destinations_beyond_the_slots_are_counted() {
        let mut b = DeviceBehaviour::default();
        for i in 0..(PERIODIC_SLOTS as u64 + 3) {
            b.flow(&flow(i as i64, 53, 100 + i));
        }
        assert_eq!(b.destinations_overflow, 3);
    }
}
