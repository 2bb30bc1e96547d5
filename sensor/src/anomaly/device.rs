//! Each device's baseline, learnt online for `learning_period` from its
//! first packet, and the detectors that judge it: new peers, services and
//! protocols (weighted by how rare they are in its category), lateral
//! movement, OT clients and writes, identity drift, volume spikes and
//! silence. Bounded: sets are capped per device and devices per monitor.

use std::collections::BTreeMap;
use std::net::IpAddr;

use fingerprints::MacAddr;
use fingerprints::proto::Finding;
use serde::{Deserialize, Serialize};

use super::config::AnomalyConfig;
use super::record::Contact;
use super::report::{AnomalyKind, Proof, Raised, Subject, transport};
use super::table::Table;
use crate::capture::Timestamp;
use crate::inventory::{CappedSet, Inserted};

/// Services an intruder moves through: SSH, Telnet, MS-RPC, NetBIOS, SMB,
/// RDP, VNC, WinRM.
const ADMIN_PORTS: &[u16] = &[22, 23, 135, 139, 445, 2323, 3389, 5900, 5985, 5986];
/// TCP ports of OT control protocols: S7comm, Modbus, IEC 104, DNP3,
/// EtherNet/IP.
const OT_PORTS: &[u16] = &[102, 502, 2404, 20000, 44818];
/// Fingerprints that a device keeps unless its software changes (or it is
/// not the same device).
const IDENTITY_FIELDS: &[&str] = &[
    "dhcp.params",
    "dhcp.vendor_class_identifier",
    "dhcp.hostname",
    "p0f.os",
    "tls.ja4",
    "ssh.client.software_version",
];
/// Values remembered per fingerprint field.
const VALUES_PER_FIELD: usize = 8;
/// Volume is summed per minute.
const VOLUME_WINDOW_NS: u64 = 60 * Timestamp::NANOS_PER_SEC;
/// A baseline needs this many active minutes besides the learning period:
/// a device seen once, then again hours later, has taught nothing.
const MIN_ACTIVE_MINUTES: u64 = 30;
/// Devices of a category below which its rarity is not judged.
const MIN_CATEGORY_DEVICES: u64 = 5;
/// Observations of a fingerprint field, all of one value, that make it
/// stable.
const STABLE_OBSERVATIONS: u64 = 5;
/// Shorter silences are never reported: devices sleep, users switch them off.
const MIN_SILENCE_SECS: f64 = 1800.0;
/// Silences are looked for this often: a tenth of the shortest one, so a
/// silence is raised at most a tenth late, and the sweep over every device
/// stays rare.
const SILENCE_SWEEP_NS: u64 = (MIN_SILENCE_SECS as u64 / 10) * Timestamp::NANOS_PER_SEC;
/// Bytes per minute below which no spike is worth a look.
const SPIKE_FLOOR: f64 = 1_000_000.0;

/// An exponentially weighted mean and variance (West 1979).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Ewma {
    pub mean: f64,
    pub variance: f64,
    pub count: u64,
}

impl Ewma {
    const ALPHA: f64 = 0.05;

    pub fn push(&mut self, x: f64) {
        if self.count == 0 {
            self.mean = x;
        } else {
            let d = x - self.mean;
            self.mean += Self::ALPHA * d;
            self.variance = (1.0 - Self::ALPHA) * (self.variance + Self::ALPHA * d * d);
        }
        self.count += 1;
    }

    pub fn stddev(&self) -> f64 {
        self.variance.sqrt()
    }
}

/// What is normal for one device.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeviceBaseline {
    pub first_seen_ns: u64,
    pub last_active_ns: u64,
    /// The learning period is over: detectors judge it.
    pub learnt: bool,
    /// Its category when the learning ended, if it had one.
    pub category: Option<String>,
    /// Internal addresses it talked to, either way.
    pub peers: CappedSet<IpAddr>,
    /// (transport, port) it used as a client, and offered as a server.
    pub services_used: CappedSet<(u8, u16)>,
    pub services_offered: CappedSet<(u8, u16)>,
    /// Protocols (event types) it spoke.
    pub protocols: CappedSet<String>,
    /// It answers an OT protocol, opens one, writes with one.
    pub ot_server: bool,
    pub ot_client: bool,
    pub ot_writer: bool,
    ot_flagged: bool,
    /// Fingerprint values by field.
    pub fingerprints: BTreeMap<String, FieldHistory>,
    /// Bytes sent per minute, and the minute being summed.
    pub volume: Ewma,
    window_start_ns: u64,
    window_bytes: f64,
    spiked: bool,
    /// Gaps between its active minutes.
    pub activity_gaps: Ewma,
    silent: bool,
}

/// The values a fingerprint field took (hashed), and how often it was
/// seen during the learning period.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FieldHistory {
    pub values: CappedSet<u64>,
    pub observations: u64,
}

/// How many devices of a category use or offer a service, to weigh novelty
/// by rarity.
#[derive(Debug)]
struct Popularity {
    devices: BTreeMap<String, u64>,
    services: Table<(String, bool, u8, u16), u64>,
}

pub struct DeviceDetector {
    devices: Table<MacAddr, DeviceBaseline>,
    popularity: Popularity,
    last_sweep: Timestamp,
}

/// A contact as one of its local ends saw it.
struct End<'c> {
    mac: MacAddr,
    ip: IpAddr,
    peer: IpAddr,
    as_client: bool,
    contact: &'c Contact,
}

impl DeviceDetector {
    pub fn new(config: &AnomalyConfig) -> DeviceDetector {
        DeviceDetector {
            devices: Table::new(config.max_tracked),
            popularity: Popularity {
                devices: BTreeMap::new(),
                services: Table::new(config.max_tracked),
            },
            last_sweep: Timestamp::default(),
        }
    }

    pub fn evicted(&self) -> u64 {
        self.devices.evicted + self.popularity.services.evicted
    }

    pub fn baselines(&self) -> impl Iterator<Item = (&MacAddr, &DeviceBaseline)> {
        self.devices.iter()
    }

    pub fn tracked(&self) -> usize {
        self.devices.len()
    }

    /// The baseline of `mac` at `ts`, its learning ended when due.
    fn baseline(
        &mut self,
        mac: MacAddr,
        ts: Timestamp,
        config: &AnomalyConfig,
        category: &dyn Fn(MacAddr) -> Option<String>,
    ) -> &mut DeviceBaseline {
        let DeviceDetector {
            devices,
            popularity,
            ..
        } = self;
        let b = devices.touch(mac, ts);
        if b.first_seen_ns == 0 {
            b.first_seen_ns = ts.0.max(1);
        }
        let learning_over = ts.0.saturating_sub(b.first_seen_ns)
            >= config.learning_period * Timestamp::NANOS_PER_SEC;
        if !b.learnt && learning_over && b.activity_gaps.count >= MIN_ACTIVE_MINUTES {
            b.learnt = true;
            b.category = category(mac);
            let key = b.category.clone().unwrap_or_default();
            *popularity.devices.entry(key.clone()).or_default() += 1;
            let services = b
                .services_used
                .iter()
                .map(|s| (false, *s))
                .chain(b.services_offered.iter().map(|s| (true, *s)));
            for (served, (proto, port)) in services {
                *self
                    .popularity
                    .services
                    .touch((key.clone(), served, proto, port), ts) += 1;
            }
        }
        b
    }

    /// Share of the devices of `category` that do not use (or offer) the
    /// service; one half when the category has too few learnt devices to
    /// tell.
    fn rarity(&self, category: &Option<String>, served: bool, proto: u8, port: u16) -> f64 {
        let key = category.clone().unwrap_or_default();
        let devices = self.popularity.devices.get(&key).copied().unwrap_or(0);
        if devices < MIN_CATEGORY_DEVICES {
            return 0.5;
        }
        let with = self
            .popularity
            .services
            .get(&(key, served, proto, port))
            .copied()
            .unwrap_or(0);
        1.0 - (with as f64 / devices as f64).min(1.0)
    }

    /// A flow opened by its client, or `answered` by its server (a RST
    /// is no answer).
    pub fn contact(
        &mut self,
        ts: Timestamp,
        c: &Contact,
        answered: bool,
        config: &AnomalyConfig,
        category: &dyn Fn(MacAddr) -> Option<String>,
        out: &mut Vec<Raised>,
    ) {
        // A client's side counts when it opens the flow, a server's when it
        // answers: a port knocked on is not a port offered.
        let ends = if answered {
            [(c.server_mac, c.server, c.client, false)]
        } else {
            [(c.client_mac, c.client, c.server, true)]
        };
        for (mac, ip, peer, as_client) in ends {
            let Some(mac) = mac.filter(|m| m.is_unicast()) else {
                continue;
            };
            if !crate::inventory::is_local_network(ip) {
                continue;
            }
            self.end(
                ts,
                End {
                    mac,
                    ip,
                    peer,
                    as_client,
                    contact: c,
                },
                config,
                category,
                out,
            );
        }
    }

    fn end(
        &mut self,
        ts: Timestamp,
        e: End<'_>,
        config: &AnomalyConfig,
        category: &dyn Fn(MacAddr) -> Option<String>,
        out: &mut Vec<Raised>,
    ) {
        let cap = config.max_per_device;
        let c = e.contact;
        let service = (c.protocol, c.server_port);
        let internal_peer = crate::inventory::is_internal_host(e.peer);
        let b = self.baseline(e.mac, ts, config, category);
        let learnt = b.learnt;
        let subject = Subject {
            mac: Some(e.mac),
            ip: Some(e.ip),
        };
        // Built only for what is raised: most contacts raise nothing.
        let proof = || {
            let mut p = Proof::default();
            p.add(ts, Some(c.flow_id));
            p
        };
        let new_peer = internal_peer
            && b.peers.insert(e.peer, cap) == Inserted::Added
            && !b.peers.is_full(cap);
        // Ephemeral ports (IANA's dynamic range) are no service of their
        // own, and UDP above the well-known range is mostly peer-to-peer,
        // voice and games picking ports at random.
        let named_service = match c.protocol {
            6 => c.server_port < 49152,
            17 => c.server_port < 1024,
            _ => false,
        };
        let new_service = named_service
            && if e.as_client {
                b.services_used.insert(service, cap) == Inserted::Added
                    && !b.services_used.is_full(cap)
            } else {
                b.services_offered.insert(service, cap) == Inserted::Added
                    && !b.services_offered.is_full(cap)
            };
        // OT roles: a device that answers an OT protocol and also opens it
        // towards another device is a field device acting as a master.
        let ot = c.protocol == 6 && OT_PORTS.contains(&c.server_port);
        if ot {
            if e.as_client {
                b.ot_client = true;
            } else {
                b.ot_server = true;
            }
            if b.ot_client && b.ot_server && !b.ot_flagged {
                b.ot_flagged = true;
                out.push(
                    Raised::new(AnomalyKind::OtUnusualClient, subject, format!("port {}", c.server_port), ts)
                        .score(0.75)
                        .explain(format!(
                            "{} answers OT protocol port {} as a field device does, and also opened it as a client ({}:{} -> {}:{})",
                            e.ip, c.server_port, c.client, c.client_port, c.server, c.server_port
                        ))
                        .deviation("role", "client and server", "server only")
                        .proof(proof()),
                );
            }
        }
        if !learnt {
            return;
        }
        if e.as_client && new_peer && ADMIN_PORTS.contains(&c.server_port) {
            out.push(
                Raised::new(AnomalyKind::LateralMovement, subject, format!("{}:{}", e.peer, c.server_port), ts)
                    .score(0.8)
                    .explain(format!(
                        "first connection to internal host {} on administration port {}/{} after the learning period",
                        e.peer,
                        c.server_port,
                        transport(c.protocol)
                    ))
                    .deviation("peer", e.peer.to_string(), "not among the learnt peers")
                    .deviation("service", c.server_port, "administration service never used")
                    .proof(proof()),
            );
            return;
        }
        if new_service {
            let category_of = b.category.clone();
            let rarity = self.rarity(&category_of, !e.as_client, c.protocol, c.server_port);
            let role = if e.as_client { "used" } else { "offered" };
            out.push(
                Raised::new(AnomalyKind::NewPort, subject, format!("{role} {}/{}", c.server_port, transport(c.protocol)), ts)
                    .score(0.25 + 0.45 * rarity)
                    .explain(format!(
                        "{role} {}/{} for the first time after the learning period; {:.0}% of the devices of its category ({}) never do",
                        c.server_port,
                        transport(c.protocol),
                        rarity * 100.0,
                        category_of.as_deref().unwrap_or("all devices")
                    ))
                    .deviation(if e.as_client { "services_used" } else { "services_offered" }, c.server_port, "not in the baseline")
                    .deviation("category_rarity", (rarity * 1000.0).round() / 1000.0, serde_json::Value::Null)
                    .proof(proof()),
            );
        } else if new_peer {
            out.push(
                Raised::new(AnomalyKind::NewPeer, subject, e.peer.to_string(), ts)
                    .score(0.3)
                    .explain(format!(
                        "first exchange with internal host {} ({} {}/{}) after the learning period",
                        e.peer,
                        if e.as_client { "to its" } else { "on its own" },
                        c.server_port,
                        transport(c.protocol)
                    ))
                    .deviation("peer", e.peer.to_string(), "not among the learnt peers")
                    .proof(proof()),
            );
        }
    }

    /// A protocol's finding about a local device: new protocols, OT writes,
    /// fingerprints.
    pub fn said(
        &mut self,
        ts: Timestamp,
        subject: Subject,
        finding: &Finding,
        config: &AnomalyConfig,
        category: &dyn Fn(MacAddr) -> Option<String>,
        out: &mut Vec<Raised>,
    ) {
        let Some(mac) = subject.mac else {
            return;
        };
        let b = self.baseline(mac, ts, config, category);
        let learnt = b.learnt;
        // p0f is mirador's reading of TCP SYNs, not a protocol spoken.
        let new_protocol = finding.event_type != "p0f"
            && b.protocols.insert(finding.event_type.to_string(), 64) == Inserted::Added
            && !b.protocols.is_full(64);
        if learnt && new_protocol {
            out.push(
                Raised::new(AnomalyKind::NewProtocol, subject, finding.event_type, ts)
                    .score(0.35)
                    .explain(format!(
                        "spoke {} for the first time after the learning period",
                        finding.event_type
                    ))
                    .deviation("protocols", finding.event_type, "not in the baseline"),
            );
        }
        if let Some(operation) = ot_operation(finding) {
            let first = !b.ot_writer;
            b.ot_writer = true;
            if learnt && first {
                out.push(
                    Raised::new(AnomalyKind::OtWrite, subject, finding.event_type, ts)
                        .score(0.8)
                        .explain(format!(
                            "sent {operation} ({}) for the first time after the learning period",
                            finding.event_type
                        ))
                        .deviation("operation", operation, "never sent"),
                );
            }
        }
        for field in IDENTITY_FIELDS {
            if !field.starts_with(finding.event_type) {
                continue;
            }
            if *field == "p0f.os"
                && finding.get("p0f.direction").and_then(|v| v.as_str()) != Some("syn")
            {
                continue;
            }
            let Some(value) = finding.get(field) else {
                continue;
            };
            let hash = {
                use std::hash::BuildHasher;
                foldhash::fast::FixedState::default().hash_one(value.to_string())
            };
            let history = b.fingerprints.entry(field.to_string()).or_default();
            let stable = history.values.len() == 1 && history.observations >= STABLE_OBSERVATIONS;
            if !learnt {
                history.observations += 1;
            }
            if history.values.insert(hash, VALUES_PER_FIELD) != Inserted::Known && learnt && stable
            {
                out.push(
                    Raised::new(AnomalyKind::IdentityDrift, subject, *field, ts)
                        .score(if field.starts_with("dhcp.params") || field.starts_with("p0f") { 0.7 } else { 0.55 })
                        .explain(format!(
                            "{field} changed from the one value it had during the learning period to {value}: new software, or another device behind this MAC"
                        ))
                        .deviation(*field, value.clone(), "one other value, learnt"),
                );
            }
        }
    }

    /// Bytes a device sent: per-minute volume and activity.
    pub fn sent(
        &mut self,
        ts: Timestamp,
        mac: MacAddr,
        bytes: u64,
        config: &AnomalyConfig,
        category: &dyn Fn(MacAddr) -> Option<String>,
        out: &mut Vec<Raised>,
    ) {
        let b = self.baseline(mac, ts, config, category);
        let window = ts.0 - ts.0 % VOLUME_WINDOW_NS;
        if window > b.window_start_ns {
            if b.window_start_ns > 0 {
                b.volume.push(b.window_bytes);
                // Quiet minutes in between count as zero (a few hours at most).
                let quiet = ((window - b.window_start_ns) / VOLUME_WINDOW_NS)
                    .saturating_sub(1)
                    .min(240);
                for _ in 0..quiet {
                    b.volume.push(0.0);
                }
                b.activity_gaps
                    .push(((window - b.window_start_ns) / Timestamp::NANOS_PER_SEC) as f64);
            }
            b.window_start_ns = window;
            b.window_bytes = 0.0;
            b.spiked = false;
        }
        b.window_bytes += bytes as f64;
        b.last_active_ns = b.last_active_ns.max(ts.0);
        b.silent = false;
        let limit = b.volume.mean + config.volume_sigmas * b.volume.stddev();
        if b.learnt
            && !b.spiked
            && b.window_bytes > SPIKE_FLOOR
            && b.window_bytes > limit
            && b.window_bytes > 10.0 * b.volume.mean
        {
            b.spiked = true;
            let sigmas = (b.window_bytes - b.volume.mean) / b.volume.stddev().max(1.0);
            out.push(
                Raised::new(AnomalyKind::VolumeSpike, Subject { mac: Some(mac), ip: None }, "bytes sent per minute", ts)
                    .score((0.4 + sigmas / 100.0).min(0.9))
                    .explain(format!(
                        "sent {:.0} bytes in a minute against a learnt mean of {:.0} (standard deviation {:.0}): {sigmas:.0} standard deviations",
                        b.window_bytes,
                        b.volume.mean,
                        b.volume.stddev()
                    ))
                    .deviation("bytes_per_minute", b.window_bytes, b.volume.mean),
            );
        }
    }

    /// Devices that fell silent, checked every three minutes of stream time.
    pub fn tick(&mut self, now: Timestamp, config: &AnomalyConfig, out: &mut Vec<Raised>) {
        if now.since(self.last_sweep) < SILENCE_SWEEP_NS {
            return;
        }
        self.last_sweep = now;
        for (mac, b) in self.devices.iter_mut() {
            // Only a device active at a steady pace is missed when quiet.
            let irregular = b.activity_gaps.stddev() > 2.0 * b.activity_gaps.mean;
            if !b.learnt || b.silent || irregular {
                continue;
            }
            let quiet =
                now.0.saturating_sub(b.last_active_ns) as f64 / Timestamp::NANOS_PER_SEC as f64;
            let usual = b.activity_gaps.mean.max(60.0);
            if quiet > (config.silence_gaps * usual).max(MIN_SILENCE_SECS) {
                b.silent = true;
                out.push(
                    Raised::new(
                        AnomalyKind::DeviceSilent,
                        Subject {
                            mac: Some(*mac),
                            ip: None,
                        },
                        "activity",
                        now,
                    )
                    .score(0.45)
                    .explain(format!(
                        "silent for {quiet:.0} s; it was active every {usual:.0} s on average"
                    ))
                    .deviation("silent_seconds", quiet.round(), usual.round()),
                );
            }
        }
    }
}

/// What an OT finding says its sender did that changes a process: writes,
/// downloads, stops.
fn ot_operation(finding: &Finding) -> Option<String> {
    match finding.event_type {
        "modbus" if finding.get("modbus.writes").and_then(|v| v.as_bool()) == Some(true) => {
            Some("a Modbus write".into())
        }
        "s7comm" => {
            let functions = finding.get("s7comm.functions")?.as_array()?;
            let risky = functions.iter().filter_map(|f| f.as_str()).find(|f| {
                matches!(
                    *f,
                    "write_var"
                        | "request_download"
                        | "download_block"
                        | "plc_stop"
                        | "plc_control"
                )
            })?;
            Some(format!("S7 {risky}"))
        }
        "enip" => {
            let services = finding.get("enip.cip.services")?.as_array()?;
            // Write tag (0x4d, 0x4e fragmented), set attribute (0x04, 0x10),
            // stop (0x07), reset (0x05).
            let risky = services
                .iter()
                .filter_map(|s| s.as_u64())
                .find(|s| matches!(s, 0x04 | 0x05 | 0x07 | 0x10 | 0x4d | 0x4e))?;
            Some(format!("CIP service 0x{risky:02x}"))
        }
        _ => None,
    }
}
