//! Floods, per victim and window: SYN floods (many connection attempts to
//! one service, mostly unanswered, typically from spoofed sources) and
//! reflection (datagrams from amplifying services to an address that never
//! asked them: DNS, NTP, SNMP, SSDP, BACnet, memcached ...).

use std::net::IpAddr;

use super::config::AnomalyConfig;
use super::record::Contact;
use super::report::{AnomalyKind, Proof, Raised, Subject};
use super::table::Table;
use crate::capture::Timestamp;
use crate::flow::tcp_flags;
use crate::inventory::CappedSet;

/// UDP services whose answers outweigh their questions (US-CERT TA14-017A,
/// plus BACnet and CoAP, which OT and IoT networks expose).
const AMPLIFIERS: &[u16] = &[
    17, 19, 53, 69, 111, 123, 137, 161, 389, 520, 1434, 1900, 3283, 3702, 5683, 10001, 11211, 47808,
];

/// Sources remembered per victim window (enough to tell spoofing).
const SOURCES: usize = 4096;

#[derive(Debug, Default)]
struct Window {
    start: Timestamp,
    attempts: u64,
    answered: u64,
    sources: CappedSet<IpAddr>,
    flagged: bool,
    proof: Proof,
    port: u16,
}

impl Window {
    /// Counts one event at `ts`, opening a new window when the last one is over.
    fn count(&mut self, ts: Timestamp, window: u64, source: IpAddr, c: &Contact) {
        if ts.since(self.start) >= window || self.attempts == 0 {
            *self = Window {
                start: ts,
                ..Window::default()
            };
        }
        self.attempts += 1;
        self.sources.insert(source, SOURCES);
        self.proof.add(ts, Some(c.flow_id));
    }

    fn distinct_sources(&self) -> u64 {
        self.sources.len() as u64 + self.sources.overflow
    }
}

pub struct FloodDetector {
    syn: Table<(IpAddr, u16), Window>,
    reflected: Table<IpAddr, Window>,
}

impl FloodDetector {
    pub fn new(config: &AnomalyConfig) -> FloodDetector {
        FloodDetector {
            syn: Table::new(config.max_tracked),
            reflected: Table::new(config.max_tracked),
        }
    }

    pub fn evicted(&self) -> u64 {
        self.syn.evicted + self.reflected.evicted
    }

    pub fn opened(
        &mut self,
        ts: Timestamp,
        c: &Contact,
        config: &AnomalyConfig,
        out: &mut Vec<Raised>,
    ) {
        let window = config.flood_window * Timestamp::NANOS_PER_SEC;
        if c.is_syn() {
            let w = self.syn.touch((c.server, c.server_port), ts);
            w.count(ts, window, c.client, c);
            let threshold = config.syn_flood_rate * config.flood_window as f64;
            let unanswered = (w.attempts - w.answered.min(w.attempts)) as f64 / w.attempts as f64;
            if w.attempts as f64 >= threshold && unanswered >= 0.5 && !w.flagged {
                w.flagged = true;
                let sources = w.distinct_sources();
                let spoofed = sources * 2 >= w.attempts;
                out.push(
                    Raised::new(
                        AnomalyKind::SynFlood,
                        Subject {
                            mac: c.server_mac,
                            ip: Some(c.server),
                        },
                        format!("port {}", c.server_port),
                        ts,
                    )
                    .score(0.8)
                    .explain(format!(
                        "{} connection attempts to {}:{} within {} s ({:.0}% unanswered) from {sources} sources{}",
                        w.attempts,
                        c.server,
                        c.server_port,
                        ts.since(w.start) / Timestamp::NANOS_PER_SEC,
                        unanswered * 100.0,
                        if spoofed { ", nearly one per source: spoofed" } else { "" }
                    ))
                    .deviation("attempts_per_second", rate(w.attempts, ts.since(w.start)), config.syn_flood_rate)
                    .deviation("distinct_sources", sources, serde_json::Value::Null)
                    .proof(w.proof.clone()),
                );
            }
        } else if c.protocol == 17
            && AMPLIFIERS.contains(&c.client_port)
            && !AMPLIFIERS.contains(&c.server_port)
            && !c.server.is_multicast()
        {
            // The "client" spoke first from a service port: an answer nobody
            // on this side asked for.
            let w = self.reflected.touch(c.server, ts);
            w.port = c.client_port;
            w.count(ts, window, c.client, c);
            let threshold = config.amplification_rate * config.flood_window as f64;
            if w.attempts as f64 >= threshold && !w.flagged {
                w.flagged = true;
                let sources = w.distinct_sources();
                out.push(
                    Raised::new(
                        AnomalyKind::Amplification,
                        Subject {
                            mac: c.server_mac,
                            ip: Some(c.server),
                        },
                        format!("service port {}", w.port),
                        ts,
                    )
                    .score(0.75)
                    .explain(format!(
                        "{} unsolicited datagrams from UDP port {} ({sources} reflectors) to {} within {} s",
                        w.attempts,
                        w.port,
                        c.server,
                        ts.since(w.start) / Timestamp::NANOS_PER_SEC
                    ))
                    .deviation("datagrams_per_second", rate(w.attempts, ts.since(w.start)), config.amplification_rate)
                    .deviation("reflectors", sources, serde_json::Value::Null)
                    .proof(w.proof.clone()),
                );
            }
        }
    }

    /// A server answered a SYN (or reset it): that attempt was handled.
    pub fn answered(&mut self, c: &Contact) {
        if c.protocol == 6
            && c.tcp_flags & tcp_flags::SYN != 0
            && let Some(w) = self.syn.get_mut(&(c.server, c.server_port))
        {
            w.answered += 1;
        }
    }
}

/// Events per second over `ns`, at least a millisecond.
fn rate(events: u64, ns: u64) -> f64 {
    let secs = (ns.max(1_000_000)) as f64 / Timestamp::NANOS_PER_SEC as f64;
    (events as f64 / secs * 10.0).round() / 10.0
}
