//! What the detectors consider normal and how long they learn it.

use serde::{Deserialize, Serialize};

/// Settings of the behaviour monitor. Durations are seconds of stream time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalyConfig {
    /// A device's own baseline (peers, services, volume, fingerprints) is
    /// learnt for this long from its first packet before novelty, volume
    /// and drift detectors judge it.
    pub learning_period: u64,
    /// A TCP first contact unanswered for this long failed (scan detection).
    pub answer_timeout_ms: u64,
    /// Threshold Random Walk: the likelihood ratio at which a source is a
    /// scanner, PD/PF (Jung et al. 2004 used 0.99/0.01; 0.99/0.001 here,
    /// because a mirror port often sees one direction of a host's traffic:
    /// five failed first contacts in a row instead of four).
    pub scan_likelihood: f64,
    /// Distinct ports of one host, failed within `scan_window`, that make a
    /// vertical port scan.
    pub port_scan_ports: u32,
    pub scan_window: u64,
    /// Connection attempts per second to one service, mostly unanswered,
    /// that make a SYN flood (over `flood_window`).
    pub syn_flood_rate: f64,
    /// Datagrams per second from amplifying services (DNS, NTP, SNMP,
    /// SSDP, BACnet, memcached ...) to one address that was not asking.
    pub amplification_rate: f64,
    pub flood_window: u64,
    /// Beaconing: at least this many connections to one destination ...
    pub beacon_connections: u32,
    /// ... whose gaps vary by less than this share of their mean ...
    pub beacon_jitter: f64,
    /// ... and are at least this long.
    pub beacon_min_period: f64,
    /// Bytes a device sends per minute beyond this many standard deviations
    /// of its learnt mean (and ten times the mean) are a volume spike.
    pub volume_sigmas: f64,
    /// A regularly active device silent this many times its usual gap
    /// (and at least half an hour) fell silent.
    pub silence_gaps: f64,
    /// Anomalies of one device closer than this in time form one incident.
    pub incident_window: u64,
    /// Devices and sources followed; beyond it the longest idle is dropped.
    pub max_tracked: usize,
    /// Peers and services remembered per device.
    pub max_per_device: usize,
    /// The unusual-flow threshold is this quantile of the streaming
    /// model's scores over the learning period: the share of normal flows
    /// let through (0.999: one in a thousand would alarm, before the
    /// once-per-service folding).
    pub unusual_flow_quantile: f64,
}

impl Default for AnomalyConfig {
    fn default() -> AnomalyConfig {
        AnomalyConfig {
            learning_period: 3600,
            answer_timeout_ms: 3000,
            scan_likelihood: 990.0,
            port_scan_ports: 8,
            scan_window: 300,
            syn_flood_rate: 100.0,
            amplification_rate: 50.0,
            flood_window: 10,
            beacon_connections: 8,
            beacon_jitter: 0.1,
            beacon_min_period: 10.0,
            volume_sigmas: 6.0,
            silence_gaps: 10.0,
            incident_window: 900,
            max_tracked: 100_000,
            max_per_device: 256,
            unusual_flow_quantile: 0.999,
        }
    }
}
