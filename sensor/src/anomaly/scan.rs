//! Scans, judged on first contacts.
//!
//! Host sweeps by Threshold Random Walk (Jung, Paxson, Berger and
//! Balakrishnan, "Fast portscan detection using sequential hypothesis
//! testing", IEEE S&P 2004): each TCP connection a source opens to a host it
//! has not contacted before succeeds or fails; a success multiplies the
//! likelihood ratio of "scanner" over "benign" by θ1/θ0, a failure by
//! (1-θ1)/(1-θ0). Crossing `scan_likelihood` makes the source a scanner;
//! falling under its inverse clears its walk. A benign host's first
//! contacts mostly succeed (θ0 = 0.8), a scanner's mostly fail (θ1 = 0.2),
//! so a few failures in a row are enough and a busy client is never flagged
//! for its volume. Unanswered contacts to Internet hosts count only for a
//! source that the mirror has seen answered from the Internet: a mirror
//! that sees one direction of a host's traffic would otherwise make every
//! connection of it a failure.
//!
//! Vertical scans (many ports of one host) are counted separately: failed
//! distinct ports per (source, target) within `scan_window`. Sweeps of
//! Telnet (23, 2323) are reported as `telnet_scan`, Mirai's way of spreading.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use super::config::AnomalyConfig;
use super::record::Contact;
use super::report::{AnomalyKind, Proof, Raised, Subject};
use super::table::Table;
use crate::capture::Timestamp;
use crate::flow::tcp_flags;
use crate::inventory::{CappedSet, Inserted};

const THETA_BENIGN: f64 = 0.8;
const THETA_SCANNER: f64 = 0.2;
/// Targets remembered per source; a scanner passes it quickly, and past it
/// every first contact is still judged, only not remembered.
const TARGETS_PER_SOURCE: usize = 4096;

/// A source's walk.
#[derive(Debug, Default)]
struct Source {
    mac: Option<fingerprints::MacAddr>,
    contacted: CappedSet<IpAddr>,
    likelihood: f64,
    failures: u64,
    successes: u64,
    /// Flagged: the sweep is reported once, then folded.
    flagged: bool,
    /// A host beyond the local networks answered it: the mirror sees the
    /// way back from the Internet, so silence from there means something.
    remote_answers: bool,
    telnet: u64,
    ports: std::collections::BTreeSet<u16>,
    proof: Proof,
    /// Failed ports per target, within the window.
    vertical: HashMap<IpAddr, (Timestamp, CappedSet<u16>, bool), foldhash::fast::FixedState>,
}

impl Source {
    /// A failed contact: counted among the target's failed ports.
    fn vertical(
        &mut self,
        ts: Timestamp,
        c: &Contact,
        config: &AnomalyConfig,
        out: &mut Vec<Raised>,
    ) {
        let window = config.scan_window * Timestamp::NANOS_PER_SEC;
        let source = self;
        if source.vertical.len() >= 64 && !source.vertical.contains_key(&c.server) {
            source.vertical.retain(|_, (t, _, _)| ts.since(*t) < window);
            if source.vertical.len() >= 64 {
                return;
            }
        }
        let (since, ports, flagged) = source
            .vertical
            .entry(c.server)
            .or_insert_with(|| (ts, CappedSet::default(), false));
        if ts.since(*since) >= window {
            *since = ts;
            *ports = CappedSet::default();
            *flagged = false;
        }
        ports.insert(c.server_port, 1024);
        if ports.len() as u32 >= config.port_scan_ports && !*flagged {
            *flagged = true;
            let tried = ports.len();
            out.push(
                Raised::new(
                    AnomalyKind::PortScan,
                    Subject {
                        mac: source.mac,
                        ip: Some(c.client),
                    },
                    format!("target {}", c.server),
                    ts,
                )
                .score(0.7)
                .explain(format!(
                    "{tried} distinct ports of {} failed within {} s (threshold {})",
                    c.server, config.scan_window, config.port_scan_ports
                ))
                .deviation("failed_ports", tried, config.port_scan_ports)
                .proof(source.proof.clone()),
            );
        }
    }
}

type Tuple = (IpAddr, u16, IpAddr, u16);

/// A first contact waiting for its answer.
#[derive(Debug, Clone, Copy)]
struct Pending {
    opened: Timestamp,
    contact: Contact,
    /// The first contact to this target: it counts in the walk.
    first: bool,
}

pub struct ScanDetector {
    sources: Table<IpAddr, Source>,
    pending: HashMap<Tuple, Pending, foldhash::fast::FixedState>,
    /// The pending contacts in the order they opened, so that a tick reads
    /// only those due; answered ones are skipped when they come up.
    deadlines: VecDeque<(Timestamp, Tuple)>,
    /// Contacts dropped because too many waited at once.
    pub pending_dropped: u64,
    max_pending: usize,
}

impl ScanDetector {
    pub fn new(config: &AnomalyConfig) -> ScanDetector {
        ScanDetector {
            sources: Table::new(config.max_tracked),
            pending: HashMap::default(),
            deadlines: VecDeque::new(),
            pending_dropped: 0,
            max_pending: config.max_tracked,
        }
    }

    pub fn evicted(&self) -> u64 {
        self.sources.evicted
    }

    /// A TCP flow opened by a SYN: a contact to judge when it is answered
    /// or times out.
    pub fn opened(&mut self, ts: Timestamp, c: &Contact) {
        if !c.is_syn() {
            return;
        }
        let source = self.sources.touch(c.client, ts);
        source.mac = source.mac.or(c.client_mac);
        let first = source.contacted.insert(c.server, TARGETS_PER_SOURCE) != Inserted::Known;
        if self.pending.len() >= self.max_pending {
            self.pending_dropped += 1;
            return;
        }
        if let Entry::Vacant(v) = self.pending.entry(c.tuple()) {
            v.insert(Pending {
                opened: ts,
                contact: *c,
                first,
            });
            self.deadlines.push_back((ts, c.tuple()));
            // Answered contacts leave their deadline behind: drop them
            // before they outnumber the waiting ones.
            if self.deadlines.len() > 2 * self.max_pending {
                let pending = &self.pending;
                self.deadlines
                    .retain(|(opened, t)| pending.get(t).is_some_and(|p| p.opened == *opened));
            }
        }
    }

    /// The server's first packet: a SYN+ACK is a success, a RST a failure.
    pub fn answered(
        &mut self,
        ts: Timestamp,
        c: &Contact,
        config: &AnomalyConfig,
        out: &mut Vec<Raised>,
    ) {
        if let Some(p) = self.pending.remove(&c.tuple()) {
            let success = c.tcp_flags & tcp_flags::RST == 0;
            if success && !crate::inventory::is_local_network(c.server) {
                self.sources.touch(c.client, ts).remote_answers = true;
            }
            self.judge(ts, p, success, config, out);
        }
    }

    /// Contacts unanswered past the timeout failed.
    pub fn tick(&mut self, now: Timestamp, config: &AnomalyConfig, out: &mut Vec<Raised>) {
        let timeout = config.answer_timeout_ms * 1_000_000;
        let mut due: Vec<Pending> = Vec::new();
        while let Some(&(opened, tuple)) = self.deadlines.front() {
            if now.since(opened) < timeout {
                break;
            }
            self.deadlines.pop_front();
            if let Entry::Occupied(e) = self.pending.entry(tuple)
                && e.get().opened == opened
            {
                due.push(e.remove());
            }
        }
        // In time order, so that results do not depend on the map's order.
        due.sort_by_key(|p| (p.opened, p.contact.tuple()));
        for p in due {
            let at = Timestamp(p.opened.0.saturating_add(timeout));
            // An Internet host's silence counts only where the mirror has
            // shown answers from the Internet to this source: otherwise it
            // may only be the way back the mirror does not see.
            let remote = !crate::inventory::is_local_network(p.contact.server);
            let blind = remote
                && self
                    .sources
                    .get(&p.contact.client)
                    .is_none_or(|s| !s.remote_answers);
            if !blind {
                self.judge(at, p, false, config, out);
            }
        }
    }

    fn judge(
        &mut self,
        ts: Timestamp,
        p: Pending,
        success: bool,
        config: &AnomalyConfig,
        out: &mut Vec<Raised>,
    ) {
        let c = p.contact;
        let source = self.sources.touch(c.client, ts);
        let subject = Subject {
            mac: source.mac,
            ip: Some(c.client),
        };
        if !success {
            source.proof.add(p.opened, Some(c.flow_id));
            source.vertical(ts, &c, config, out);
        }
        if !p.first {
            return;
        }
        if source.likelihood == 0.0 {
            source.likelihood = 1.0;
        }
        if success {
            source.successes += 1;
            source.likelihood *= THETA_SCANNER / THETA_BENIGN;
        } else {
            source.failures += 1;
            source.likelihood *= (1.0 - THETA_SCANNER) / (1.0 - THETA_BENIGN);
            if source.ports.len() < 16 {
                source.ports.insert(c.server_port);
            }
            if matches!(c.server_port, 23 | 2323) {
                source.telnet += 1;
            }
        }
        if source.likelihood <= 1.0 / config.scan_likelihood {
            // Benign so far: the walk starts again.
            source.likelihood = 1.0;
            source.flagged = false;
        } else if source.likelihood >= config.scan_likelihood && !source.flagged {
            source.flagged = true;
            let telnet = source.telnet * 2 >= source.failures;
            let kind = if telnet {
                AnomalyKind::TelnetScan
            } else {
                AnomalyKind::HostScan
            };
            let ports: Vec<u16> = source.ports.iter().copied().collect();
            let hosts = source.contacted.len() as u64 + source.contacted.overflow;
            out.push(
                Raised::new(kind, subject, format!("ports {ports:?}"), ts)
                    .score(if telnet { 0.9 } else { 0.7 })
                    .explain(format!(
                        "{} first contacts to new hosts failed and {} succeeded (likelihood ratio {:.0} over the threshold {:.0}); ports tried: {ports:?}",
                        source.failures, source.successes, source.likelihood, config.scan_likelihood
                    ))
                    .deviation("failed_first_contacts", source.failures, format!("benign success rate {THETA_BENIGN}"))
                    .deviation("hosts_contacted", hosts, serde_json::Value::Null)
                    .proof(std::mem::take(&mut source.proof)),
            );
        }
    }
}
