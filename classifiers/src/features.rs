//! The device feature vector: what the classifier sees of a device.
//!
//! Schema `device/1`, documented in docs/classification.md ("The model").
//! Groups, in order:
//! - `scalar`: 27 named numbers: volumes, roles, transport shares, local
//!   and remote shares, peers, per-flow duration, packets, gaps and sizes,
//!   periodicity, the TCP SYN's initial TTL, MSS and options;
//! - `protocol`: 32 hashed buckets, 1 when a protocol (link, network or
//!   application: `arp`, `dhcp`, `tls`, `mdns` ...) was seen;
//! - `client_port`: 32 hashed buckets, the share of the flows it opened
//!   to service ports in the bucket; `server_port`: 16, of those it answered;
//! - `name`: 64 hashed buckets, 1 when a token of a name it resolved or
//!   announced (DNS, mDNS, SNI, HTTP host, SSDP types) falls in it;
//! - `identity`: 64 hashed buckets over tokens of what it says it is
//!   (hostname, vendor class, user agent, server strings, OUI);
//! - `fingerprint`: 32 hashed buckets over whole fingerprints (DHCP option
//!   list, JA3, JA4, TCP signature).
//!
//! Never the MAC or IP address: tokens that look like serial numbers
//! (six or more hex digits) are dropped, since a model that learns one
//! unit's serial learns nothing about its kind. Hashes are FNV-1a, stable
//! across runs and machines, so a model file means the same everywhere.
//! Changing any of this changes the schema version.

use ndarray::Array1;

use crate::behaviour::DeviceBehaviour;

pub const SCHEMA_VERSION: &str = "device/1";

pub const CLIENT_PORT_BUCKETS: usize = 32;
pub const SERVER_PORT_BUCKETS: usize = 16;

/// The named numbers at the head of the vector.
pub const SCALARS: [&str; 27] = [
    "log_packets_sent",
    "log_bytes_sent",
    "log_bytes_received",
    "mean_frame_sent",
    "sent_byte_share",
    "log_flows_as_client",
    "log_flows_as_server",
    "tcp_flow_share",
    "udp_flow_share",
    "remote_flow_share",
    "remote_byte_share",
    "log_local_peers",
    "log_remote_peers",
    "flow_log_duration_mean",
    "flow_log_duration_stddev",
    "flow_log_packets_mean",
    "flow_log_gap_mean",
    "flow_log_gap_stddev",
    "flow_sent_frame_mean",
    "flow_sent_frame_stddev",
    "periodic_flow_share",
    "log_period",
    "syn_initial_ttl",
    "syn_mss",
    "syn_option_count",
    "syn_window_scale",
    "locally_administered_mac",
];

/// A group of features after the scalars: hashed buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Protocol,
    ClientPort,
    ServerPort,
    Name,
    Identity,
    Fingerprint,
}

impl Group {
    pub const ALL: [Group; 6] = [
        Group::Protocol,
        Group::ClientPort,
        Group::ServerPort,
        Group::Name,
        Group::Identity,
        Group::Fingerprint,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Group::Protocol => "protocol",
            Group::ClientPort => "client_port",
            Group::ServerPort => "server_port",
            Group::Name => "name",
            Group::Identity => "identity",
            Group::Fingerprint => "fingerprint",
        }
    }

    pub fn buckets(self) -> usize {
        match self {
            Group::Protocol => 32,
            Group::ClientPort => CLIENT_PORT_BUCKETS,
            Group::ServerPort => SERVER_PORT_BUCKETS,
            Group::Name | Group::Identity => 64,
            Group::Fingerprint => 32,
        }
    }

    fn offset(self) -> usize {
        SCALARS.len()
            + Group::ALL
                .iter()
                .take_while(|g| **g != self)
                .map(|g| g.buckets())
                .sum::<usize>()
    }

    /// The bucket of a text in this group (each group hashes apart).
    fn bucket_of(self, text: &str) -> usize {
        let seed = fnv1a(FNV_OFFSET, self.name().as_bytes());
        (fnv1a(seed, text.as_bytes()) % self.buckets() as u64) as usize
    }
}

/// Length of the vector.
pub const LEN: usize =
    SCALARS.len() + 32 + CLIENT_PORT_BUCKETS + SERVER_PORT_BUCKETS + 64 + 64 + 32;

/// What the sensor knows of a device, in plain values: the input of the
/// feature vector.
#[derive(Debug, Clone, Default)]
pub struct DeviceProfile<'a> {
    pub behaviour: Option<&'a DeviceBehaviour>,
    pub packets_sent: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub local_peers: usize,
    pub remote_peers: usize,
    pub locally_administered: bool,
    /// Protocols seen, by name.
    pub protocols: Vec<&'a str>,
    /// Names it resolved or announced.
    pub names: Vec<&'a str>,
    /// What it says it is, as free text.
    pub identity: Vec<&'a str>,
    /// Fingerprints, taken whole.
    pub fingerprints: Vec<&'a str>,
    pub syn: Option<SynTraits>,
}

/// The traits of a TCP SYN's signature (p0f's format).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SynTraits {
    pub initial_ttl: u8,
    pub mss: u16,
    pub options: usize,
    pub window_scale: bool,
}

impl SynTraits {
    /// From a p0f signature `ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass`.
    pub fn from_p0f(signature: &str) -> Option<SynTraits> {
        let mut parts = signature.split(':');
        let _version = parts.next()?;
        let ttl = parts.next()?;
        let initial_ttl = ttl.split(['+', '-']).next()?.parse().ok()?;
        let _olen = parts.next()?;
        let mss = parts.next()?.parse().unwrap_or(0);
        let _window = parts.next()?;
        let layout = parts.next()?;
        Some(SynTraits {
            initial_ttl,
            mss,
            options: layout.split(',').filter(|o| !o.is_empty()).count(),
            window_scale: layout.split(',').any(|o| o == "ws"),
        })
    }
}

impl DeviceProfile<'_> {
    /// The feature vector, schema `device/1`.
    pub fn vector(&self) -> Array1<f64> {
        let mut x = Array1::zeros(LEN);
        let log = |v: f64| (v + 1.0).log10();
        let none = DeviceBehaviour::default();
        let b = self.behaviour.unwrap_or(&none);
        let flows = b.flows() as f64;
        let share = |n: u64| if flows > 0.0 { n as f64 / flows } else { 0.0 };
        let (periodic, period) = b.periodicity();
        let syn = self.syn.unwrap_or_default();
        let total_bytes = (self.bytes_sent + self.bytes_received) as f64;
        let scalars = [
            log(self.packets_sent as f64),
            log(self.bytes_sent as f64),
            log(self.bytes_received as f64),
            if self.packets_sent > 0 {
                self.bytes_sent as f64 / self.packets_sent as f64
            } else {
                0.0
            },
            if total_bytes > 0.0 {
                self.bytes_sent as f64 / total_bytes
            } else {
                0.0
            },
            log(b.flows_as_client as f64),
            log(b.flows_as_server as f64),
            share(b.tcp_flows),
            share(b.udp_flows),
            share(b.remote_flows),
            if b.bytes > 0 {
                b.remote_bytes as f64 / b.bytes as f64
            } else {
                0.0
            },
            log(self.local_peers as f64),
            log(self.remote_peers as f64),
            b.log_duration.mean(),
            b.log_duration.stddev(),
            b.log_packets.mean(),
            b.log_gap.mean(),
            b.log_gap.stddev(),
            b.sent_len.mean(),
            b.sent_len.stddev(),
            periodic,
            log(period),
            f64::from(syn.initial_ttl),
            f64::from(syn.mss),
            syn.options as f64,
            f64::from(u8::from(syn.window_scale)),
            f64::from(u8::from(self.locally_administered)),
        ];
        for (i, v) in scalars.into_iter().enumerate() {
            x[i] = v;
        }
        for (group, counts, total) in [
            (Group::ClientPort, &b.client_ports[..], b.flows_as_client),
            (Group::ServerPort, &b.server_ports[..], b.flows_as_server),
        ] {
            if total > 0 {
                for (i, n) in counts.iter().enumerate() {
                    x[group.offset() + i] = f64::from(*n) / total as f64;
                }
            }
        }
        for group in [
            Group::Protocol,
            Group::Name,
            Group::Identity,
            Group::Fingerprint,
        ] {
            self.each_token(group, &mut |token| {
                x[group.offset() + group.bucket_of(token)] = 1.0;
            });
        }
        x
    }

    /// The texts of this device that feed feature `index`: for a hashed
    /// bucket, its tokens that fall in it (how a bucket is explained).
    pub fn texts_of(&self, index: usize) -> Vec<String> {
        let Some((group, bucket)) = locate(index) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        match group {
            Group::ClientPort | Group::ServerPort => {}
            _ => self.each_token(group, &mut |token| {
                if group.bucket_of(token) == bucket && !found.iter().any(|f| f == token) {
                    found.push(token.to_string());
                }
            }),
        }
        found
    }

    fn each_token(&self, group: Group, f: &mut dyn FnMut(&str)) {
        match group {
            Group::Protocol => self.protocols.iter().for_each(|p| f(p)),
            Group::Fingerprint => self.fingerprints.iter().for_each(|p| f(p)),
            Group::Name => self.names.iter().for_each(|n| tokens(n, f)),
            Group::Identity => self.identity.iter().for_each(|n| tokens(n, f)),
            Group::ClientPort | Group::ServerPort => {}
        }
    }
}

/// The group and bucket of a feature after the scalars.
fn locate(index: usize) -> Option<(Group, usize)> {
    Group::ALL.into_iter().find_map(|g| {
        (g.offset()..g.offset() + g.buckets())
            .contains(&index)
            .then(|| (g, index - g.offset()))
    })
}

/// The feature's name: a scalar's, or `group[bucket]`.
pub fn feature_name(index: usize) -> String {
    match SCALARS.get(index) {
        Some(name) => (*name).to_string(),
        None => match locate(index) {
            Some((g, b)) => format!("{}[{b}]", g.name()),
            None => format!("feature[{index}]"),
        },
    }
}

/// The bucket of a service port among `buckets`.
pub fn bucket(port: u64, buckets: usize) -> usize {
    (fnv1a(FNV_OFFSET, &port.to_le_bytes()) % buckets as u64) as usize
}

/// Lower-case alphanumeric tokens of two characters or more, without
/// numbers alone and serial-like hex runs.
fn tokens(text: &str, f: &mut dyn FnMut(&str)) {
    let mut buf = String::new();
    for word in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        if word.len() < 2 || word.bytes().all(|b| b.is_ascii_digit()) || is_serial(word) {
            continue;
        }
        buf.clear();
        buf.extend(word.chars().map(|c| c.to_ascii_lowercase()));
        f(&buf);
    }
}

/// Hex runs of six or more, or two hex characters with a digit (a MAC's
/// bytes, `b0:c5:54 ...`).
fn is_serial(word: &str) -> bool {
    (word.len() >= 6 || word.len() == 2)
        && word.bytes().all(|b| b.is_ascii_hexdigit())
        && word.bytes().any(|b| b.is_ascii_digit())
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_consistent() {
        let last = Group::Fingerprint;
        assert_eq!(last.offset() + last.buckets(), LEN);
        assert_eq!(feature_name(0), "log_packets_sent");
        assert_eq!(feature_name(SCALARS.len()), "protocol[0]");
        assert_eq!(feature_name(LEN - 1), "fingerprint[31]");
    }

    #[test]
    fn tokens_drop_serials_and_numbers() {
        let mut seen = Vec::new();
        tokens(
            "HS110(EU) ESP_07AEFB 2016 tplinkcloud.com a b0:c5",
            &mut |t| seen.push(t.to_string()),
        );
        assert_eq!(seen, ["hs110", "eu", "esp", "tplinkcloud", "com"]);
    }

    #[test]
    fn vector_marks_tokens_and_explains_them() {
        let p = DeviceProfile {
            names: vec!["devs.tplinkcloud.com"],
            identity: vec!["HS110(EU)"],
            fingerprints: vec!["1,3,6,12,15,28"],
            protocols: vec!["dhcp", "tls"],
            syn: SynTraits::from_p0f("4:64+0:0:1460:mss*4,1:mss,sok,ts,nop,ws:df,id+:0"),
            ..DeviceProfile::default()
        };
        let x = p.vector();
        let marked: Vec<usize> = (0..LEN).filter(|i| x[*i] == 1.0).collect();
        assert!(marked.len() >= 5, "{marked:?}");
        let explained: Vec<String> = marked.iter().flat_map(|i| p.texts_of(*i)).collect();
        for t in ["tplinkcloud", "hs110", "1,3,6,12,15,28", "tls"] {
            assert!(explained.iter().any(|e| e == t), "{t} in {explained:?}");
        }
        assert_eq!(x[22], 64.0, "initial TTL");
        assert_eq!((x[23], x[24], x[25]), (1460.0, 5.0, 1.0));
    }
}
