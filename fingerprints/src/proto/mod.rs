//! One module per protocol that carries identity. Each parses `&[u8]` into a
//! borrowed view or a typed error, and turns what it read into [`Finding`]s:
//! an EVE event section and, field by field, evidence about the device that
//! said it.
//!
//! The sensor runs a protocol only where its probe says so (ports, first
//! bytes, EtherType), so parsing costs nothing on the packets that carry no
//! identity. Adding a protocol: a module here, and one entry in
//! [`DISSECTORS`].

pub mod bacnet;
pub mod banner;
pub mod cdp;
pub mod coap;
pub(crate) mod cursor;
pub mod dhcp;
pub mod dhcpv6;
pub mod dnp3;
pub mod dns;
pub mod enip;
pub mod http;
pub mod iec104;
pub mod imap;
pub mod lldp;
pub mod login;
pub mod modbus;
pub mod mqtt;
pub mod ndp;
pub mod netbios;
pub mod ntp;
pub mod pop3;
pub mod profinet;
pub mod quic;
pub mod s7;
pub mod snmp;
pub mod ssdp;
pub mod ssh;
pub mod tcp_syn;
pub mod tls;

use crate::MacAddr;

/// The fields of one event section, nested as EVE nests them
/// (`{"ja3": {"hash": ...}}`). Every leaf is also a piece of evidence about
/// the finding's subject, named by its dotted path (`tls.ja3.hash`).
pub type Fields = serde_json::Map<String, serde_json::Value>;

/// Whose identity a finding describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum About {
    /// The sender of the packet (or of the stream direction) parsed.
    Sender,
    /// Its receiver.
    Receiver,
    /// A device named inside the message (a DHCP client's hardware address).
    Mac(MacAddr),
    /// Both ends of the flow: a login concerns the server's account and the
    /// client that sent it.
    Both,
}

/// What one message says.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The EVE `event_type`, also the name of the event's section (`"tls"`).
    pub event_type: &'static str,
    pub about: About,
    pub fields: Fields,
}

impl Finding {
    pub fn new(event_type: &'static str, about: About) -> Finding {
        Finding {
            event_type,
            about,
            fields: Fields::new(),
        }
    }

    /// Sets `key` (nesting on `.`: `"ja3.hash"`) unless `value` is null.
    pub fn set(&mut self, key: &str, value: impl Into<serde_json::Value>) -> &mut Finding {
        let value = value.into();
        if value.is_null() {
            return self;
        }
        let mut map = &mut self.fields;
        let mut parts = key.split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                map.insert(part.to_string(), value);
                break;
            }
            let slot = map
                .entry(part.to_string())
                .or_insert_with(|| serde_json::Value::Object(Fields::new()));
            if !slot.is_object() {
                *slot = serde_json::Value::Object(Fields::new());
            }
            match slot {
                serde_json::Value::Object(inner) => map = inner,
                _ => break,
            }
        }
        self
    }

    /// The value of a field named as evidence names it, event type first
    /// (`tls.ja3.hash`).
    pub fn get(&self, field: &str) -> Option<&serde_json::Value> {
        let mut parts = field.split('.');
        if parts.next() != Some(self.event_type) {
            return None;
        }
        let mut value = self.fields.get(parts.next()?)?;
        for part in parts {
            value = value.get(part)?;
        }
        Some(value)
    }

    /// Calls `visit` with every leaf's evidence name (event type first:
    /// `tls.ja3.hash`) and value; arrays are leaves. `path` is scratch
    /// space the caller reuses, so that visiting allocates nothing once it
    /// has grown.
    pub fn for_each_leaf<'f>(
        &'f self,
        path: &mut String,
        mut visit: impl FnMut(&str, &'f serde_json::Value),
    ) {
        fn walk<'f>(
            path: &mut String,
            map: &'f Fields,
            visit: &mut impl FnMut(&str, &'f serde_json::Value),
        ) {
            for (k, v) in map {
                let len = path.len();
                path.push('.');
                path.push_str(k);
                match v {
                    serde_json::Value::Object(inner) => walk(path, inner, visit),
                    leaf => visit(path, leaf),
                }
                path.truncate(len);
            }
        }
        path.clear();
        path.push_str(self.event_type);
        walk(path, &self.fields, &mut visit);
    }

    /// Every leaf as (dotted path below the section, value).
    pub fn leaves(&self) -> Vec<(String, &serde_json::Value)> {
        let mut out = Vec::new();
        let skip = self.event_type.len() + 1;
        self.for_each_leaf(&mut String::new(), |path, value| {
            out.push((path.get(skip..).unwrap_or_default().to_string(), value));
        });
        out
    }
}

/// `2024-01-31T12:00:00` from a Unix timestamp (UTC), as Suricata writes
/// dates.
pub fn rfc3339(timestamp: i64) -> String {
    let days = timestamp.div_euclid(86_400);
    let secs = timestamp.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian), by
    // 400-year eras (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The Unix timestamp of a date as [`rfc3339`] writes it
/// (`2024-01-31T12:00:00`), or `None` when it is not one.
pub fn unix_seconds(text: &str) -> Option<i64> {
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if text.len() != 19
        || separators
            .iter()
            .any(|&(at, c)| text.as_bytes().get(at) != Some(&c))
    {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm), the inverse of `rfc3339`.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Why a message could not be parsed; counted per protocol and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("truncated {0}")]
    Truncated(&'static str),
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("too deep or too long: {0}")]
    Limit(&'static str),
}

impl ParseError {
    /// The reason's name, for counters.
    pub fn reason(&self) -> &'static str {
        match self {
            ParseError::Truncated(_) => "truncated",
            ParseError::Malformed(_) => "malformed",
            ParseError::Limit(_) => "limit",
        }
    }
}

/// Where a message was carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// An Ethernet frame's payload after its EtherType (for 802.3 frames,
    /// the LLC header onwards, `ether_type` being the length).
    Ethernet { ether_type: u16 },
    /// A UDP datagram's payload.
    Udp,
    /// The first bytes of one direction of a TCP connection, in order.
    Tcp,
}

/// What a parser may know besides the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    pub carrier: Carrier,
    pub src_port: u16,
    pub dst_port: u16,
    /// The bytes travel from the flow's client to its server (the sender of
    /// the first packet, or of the SYN). Always true for Ethernet frames.
    pub to_server: bool,
    pub src_mac: Option<MacAddr>,
    pub dst_mac: Option<MacAddr>,
}

impl Context {
    /// The port of the flow's server.
    pub fn server_port(&self) -> u16 {
        if self.to_server {
            self.dst_port
        } else {
            self.src_port
        }
    }

    /// Whether either port is one of `ports`.
    pub fn either_port(&self, ports: &[u16]) -> bool {
        ports.contains(&self.src_port) || ports.contains(&self.dst_port)
    }
}

/// How far a stream parser got with the bytes it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// More bytes of this direction would tell more.
    NeedMore,
    /// Nothing more to learn from this direction.
    Done,
}

/// Data loaded at start that parsers match against (p0f signatures, vendor
/// id tables ...), from `fingerprints/data/` or the user's own files.
#[derive(Debug, Default)]
pub struct Knowledge {
    /// p0f TCP SYN and SYN+ACK signatures.
    pub p0f: tcp_syn::P0fDatabase,
    /// Vendor names of EtherNet/IP, BACnet and PROFINET vendor ids.
    pub vendor_ids: crate::VendorIds,
    /// Vendor default credentials, by hash.
    pub default_credentials: crate::DefaultCredentials,
}

/// Parses one datagram or frame.
pub type MessageParser =
    fn(&Knowledge, &Context, &[u8], &mut Vec<Finding>) -> Result<(), ParseError>;

/// Parses the first bytes of a TCP direction; the `bool` is `last`.
pub type StreamParser =
    fn(&Knowledge, &Context, &[u8], bool, &mut Vec<Finding>) -> Result<Progress, ParseError>;

/// Parses the first bytes of a TCP direction knowing the other direction's
/// first bytes so far (`peer`): a Telnet password is what the client types
/// after the server's `Password:` prompt. `bool` is `last`.
pub type ConversationParser =
    fn(&Knowledge, &Context, &[u8], &[u8], bool, &mut Vec<Finding>) -> Result<Progress, ParseError>;

/// How a protocol reads its messages.
#[derive(Clone, Copy)]
pub enum Parse {
    /// Each datagram or frame is a message: parse it whole.
    Message(MessageParser),
    /// The first bytes of a TCP direction, reassembled. Called again with
    /// the same prefix grown by new bytes until it returns `Done`; `last`
    /// when no more bytes will come (buffer full, flow ended), so that it
    /// reports what it has. Findings are pushed once, when it returns
    /// `Done` or when `last`.
    Stream(StreamParser),
    /// As `Stream`, each direction also shown the other's bytes. A
    /// direction that is done keeps its bytes until the other is, so that
    /// the other can still read them.
    Conversation(ConversationParser),
}

/// A protocol mirador reads: its name (for counters), when to try it, and
/// how to parse it.
#[derive(Clone, Copy)]
pub struct Dissector {
    pub name: &'static str,
    /// Cheap: ports, EtherType, the first bytes. For TCP it sees the first
    /// payload bytes of the direction that spoke first.
    pub probe: fn(&Context, &[u8]) -> bool,
    pub parse: Parse,
}

/// Every protocol, in probing order: the first whose probe accepts a
/// message or a TCP connection parses it.
pub fn dissectors() -> &'static [Dissector] {
    static ALL: std::sync::LazyLock<Vec<Dissector>> = std::sync::LazyLock::new(|| {
        [
            dhcp::DISSECTORS,
            dhcpv6::DISSECTORS,
            dns::DISSECTORS,
            netbios::DISSECTORS,
            ssdp::DISSECTORS,
            lldp::DISSECTORS,
            cdp::DISSECTORS,
            snmp::DISSECTORS,
            ntp::DISSECTORS,
            coap::DISSECTORS,
            quic::DISSECTORS,
            tls::DISSECTORS,
            http::DISSECTORS,
            ssh::DISSECTORS,
            mqtt::DISSECTORS,
            banner::DISSECTORS,
            pop3::DISSECTORS,
            imap::DISSECTORS,
            modbus::DISSECTORS,
            enip::DISSECTORS,
            bacnet::DISSECTORS,
            s7::DISSECTORS,
            profinet::DISSECTORS,
            dnp3::DISSECTORS,
            iec104::DISSECTORS,
        ]
        .concat()
    });
    &ALL
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_back_what_rfc3339_writes() {
        for t in [
            0,
            951_782_400,
            1_234_567_890,
            -86_400 * 365 * 80,
            4_102_444_799,
        ] {
            assert_eq!(unix_seconds(&rfc3339(t)), Some(t), "{}", rfc3339(t));
        }
        for bad in [
            "",
            "2024-01-31",
            "2024-13-01T00:00:00",
            "2024-01-31 12:00:00",
            "2024-01-3xT00:00:00",
        ] {
            assert_eq!(unix_seconds(bad), None, "{bad}");
        }
    }
}
