//! DHCPv6 (RFC 8415): DUID, option request list, vendor class, FQDN.
//!
//! The option request list (ORO), kept in wire order, is the DHCPv6
//! fingerprint of a client's stack; the DUID often carries its MAC address.
//! Relay messages are unwrapped (bounded depth) so that relayed clients are
//! seen too, then named by the MAC of their DUID since the frame's sender is
//! the relay agent.

use std::net::Ipv6Addr;

use super::cursor::{be16, be32, colon_hex, nul_trimmed_text};
use super::{About, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError};
use crate::mac::MacAddr;

/// UDP ports: client, server (and relay agent).
pub const CLIENT_PORT: u16 = 546;
pub const SERVER_PORT: u16 = 547;

/// Relay agents nest at most HOP_COUNT_LIMIT (32) deep; stop a little later.
const MAX_RELAY_DEPTH: usize = 34;
/// IA options nest IAADDR/IAPREFIX, which may nest status codes: 3 levels.
const MAX_IA_DEPTH: usize = 3;

pub const DISSECTORS: &[Dissector] = &[Dissector {
    name: "dhcpv6",
    probe,
    parse: Parse::Message(parse_message),
}];

fn probe(context: &Context, first: &[u8]) -> bool {
    context.carrier == Carrier::Udp
        && context.either_port(&[CLIENT_PORT, SERVER_PORT])
        && first.first().is_some_and(|t| (1..=13).contains(t))
}

/// The name of a message type (RFC 8415 section 7.3).
pub fn msg_type_name(code: u8) -> Option<&'static str> {
    Some(match code {
        1 => "solicit",
        2 => "advertise",
        3 => "request",
        4 => "confirm",
        5 => "renew",
        6 => "rebind",
        7 => "reply",
        8 => "release",
        9 => "decline",
        10 => "reconfigure",
        11 => "information-request",
        12 => "relay-forw",
        13 => "relay-repl",
        _ => return None,
    })
}

const RELAY_FORW: u8 = 12;
const RELAY_REPL: u8 = 13;

/// Option codes read here.
pub mod option {
    pub const CLIENTID: u16 = 1;
    pub const SERVERID: u16 = 2;
    pub const IA_NA: u16 = 3;
    pub const IA_TA: u16 = 4;
    pub const IAADDR: u16 = 5;
    pub const ORO: u16 = 6;
    pub const ELAPSED_TIME: u16 = 8;
    pub const RELAY_MSG: u16 = 9;
    pub const USER_CLASS: u16 = 15;
    pub const VENDOR_CLASS: u16 = 16;
    pub const DNS_SERVERS: u16 = 23;
    pub const DOMAIN_LIST: u16 = 24;
    pub const IA_PD: u16 = 25;
    pub const IAPREFIX: u16 = 26;
    pub const CLIENT_FQDN: u16 = 39;
    pub const MUD_URL: u16 = 112;
}

/// One option as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opt<'a> {
    pub code: u16,
    pub data: &'a [u8],
}

/// Options in wire order; an option running past the end is an error.
pub fn options(mut bytes: &[u8]) -> Result<Vec<Opt<'_>>, ParseError> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (Some(code), Some(len)) = (be16(bytes, 0), be16(bytes, 2)) else {
            return Err(ParseError::Truncated("dhcpv6 option header"));
        };
        let end = 4 + usize::from(len);
        let Some(data) = bytes.get(4..end) else {
            return Err(ParseError::Truncated("dhcpv6 option"));
        };
        out.push(Opt { code, data });
        bytes = bytes.get(end..).unwrap_or_default();
    }
    Ok(out)
}

fn ipv6_at(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let octets: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(Ipv6Addr::from(octets))
}

/// A DUID (RFC 8415 section 11, RFC 6355 for UUID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duid<'a> {
    pub bytes: &'a [u8],
    pub kind: Option<&'static str>,
    /// The link-layer address of a DUID-LLT/LL of hardware type 1.
    pub mac: Option<MacAddr>,
    pub enterprise: Option<u32>,
    /// DUID-LLT time: seconds since 2000-01-01T00:00:00 UTC.
    pub time: Option<u32>,
}

impl<'a> Duid<'a> {
    pub fn parse(bytes: &'a [u8]) -> Duid<'a> {
        let mut d = Duid {
            bytes,
            kind: None,
            mac: None,
            enterprise: None,
            time: None,
        };
        let ethernet_mac = |at: usize| match be16(bytes, 2) {
            Some(1) => bytes.get(at..).and_then(MacAddr::from_slice),
            _ => None,
        };
        match be16(bytes, 0) {
            Some(1) => {
                d.kind = Some("llt");
                d.time = be32(bytes, 4);
                d.mac = ethernet_mac(8).filter(|_| bytes.len() == 14);
            }
            Some(2) => {
                d.kind = Some("en");
                d.enterprise = be32(bytes, 2);
            }
            Some(3) => {
                d.kind = Some("ll");
                d.mac = ethernet_mac(4).filter(|_| bytes.len() == 10);
            }
            Some(4) => d.kind = Some("uuid"),
            _ => {}
        }
        d
    }

    fn set(&self, f: &mut Finding, prefix: &str) {
        f.set(&format!("{prefix}.type"), self.kind);
        f.set(&format!("{prefix}.hex"), colon_hex(self.bytes, false));
        f.set(&format!("{prefix}.mac"), self.mac.map(|m| m.to_string()));
        f.set(&format!("{prefix}.enterprise"), self.enterprise);
        f.set(&format!("{prefix}.time"), self.time.map(duid_time));
    }
}

/// DUID-LLT seconds since 2000-01-01 UTC as RFC 3339 (`2013-05-01T10:22:40`).
fn duid_time(secs: u32) -> String {
    // 2000-01-01 is 946,684,800 s after the Unix epoch.
    super::rfc3339(i64::from(secs) + 946_684_800)
}

/// A DNS name in wire format without compression (RFC 8415 section 10); a
/// name missing its root label (a partial FQDN) is returned as it stands.
/// Returns the name and the bytes after it.
fn dns_name(bytes: &[u8]) -> Option<(String, &[u8])> {
    let mut labels = Vec::new();
    let mut rest = bytes;
    loop {
        let Some((&len, tail)) = rest.split_first() else {
            return (!labels.is_empty()).then(|| (labels.join("."), rest));
        };
        if len == 0 {
            return Some((labels.join("."), tail));
        }
        if len > 63 {
            return None;
        }
        let label = tail.get(..usize::from(len))?;
        labels.push(nul_trimmed_text(label));
        rest = tail.get(usize::from(len)..).unwrap_or_default();
    }
}

fn dns_names(mut bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        match dns_name(bytes) {
            Some((name, rest)) if rest.len() < bytes.len() => {
                out.push(name);
                bytes = rest;
            }
            _ => break,
        }
    }
    out
}

/// Length-prefixed (u16) strings of user and vendor class options.
fn class_strings(mut bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(len) = be16(bytes, 0) {
        let end = 2 + usize::from(len);
        let Some(data) = bytes.get(2..end) else {
            break;
        };
        out.push(nul_trimmed_text(data));
        bytes = bytes.get(end..).unwrap_or_default();
    }
    out
}

/// The addresses and prefixes an IA_NA, IA_TA or IA_PD holds.
fn ia_addresses(code: u16, data: &[u8], depth: usize, out: &mut Vec<String>) {
    if depth > MAX_IA_DEPTH {
        return;
    }
    let header = match code {
        option::IA_NA | option::IA_PD => 12,
        option::IA_TA => 4,
        option::IAADDR => {
            if let Some(ip) = ipv6_at(data, 0) {
                out.push(ip.to_string());
            }
            24
        }
        option::IAPREFIX => {
            if let (Some(&len), Some(ip)) = (data.get(8), ipv6_at(data, 9)) {
                out.push(format!("{ip}/{len}"));
            }
            25
        }
        _ => return,
    };
    let Ok(inner) = options(data.get(header..).unwrap_or_default()) else {
        return;
    };
    for o in inner {
        ia_addresses(o.code, o.data, depth + 1, out);
    }
}

/// Where one message of a (possibly relayed) chain came from.
struct Relay {
    hops: usize,
    link_address: Option<Ipv6Addr>,
    peer_address: Option<Ipv6Addr>,
}

fn parse_message(
    _knowledge: &Knowledge,
    _context: &Context,
    bytes: &[u8],
    out: &mut Vec<Finding>,
) -> Result<(), ParseError> {
    let outer_type = *bytes
        .first()
        .ok_or(ParseError::Truncated("dhcpv6 header"))?;
    let mut relay: Option<Relay> = None;
    let mut message = bytes;
    // Unwrap relay messages down to the client's or server's message.
    for depth in 0.. {
        if depth >= MAX_RELAY_DEPTH {
            return Err(ParseError::Limit("dhcpv6 relay nesting"));
        }
        let kind = *message
            .first()
            .ok_or(ParseError::Truncated("dhcpv6 header"))?;
        if kind != RELAY_FORW && kind != RELAY_REPL {
            break;
        }
        // msg-type, hop-count, link-address, peer-address, options.
        if message.len() < 34 {
            return Err(ParseError::Truncated("dhcpv6 relay header"));
        }
        let r = relay.get_or_insert(Relay {
            hops: 0,
            link_address: ipv6_at(message, 2),
            peer_address: None,
        });
        r.hops += 1;
        r.peer_address = ipv6_at(message, 18);
        let opts = options(message.get(34..).unwrap_or_default())?;
        message = opts
            .iter()
            .find(|o| o.code == option::RELAY_MSG)
            .map(|o| o.data)
            .ok_or(ParseError::Malformed("dhcpv6 relay without relay message"))?;
    }
    if message.len() < 4 {
        return Err(ParseError::Truncated("dhcpv6 header"));
    }
    let kind = message.first().copied().unwrap_or_default();
    let name = msg_type_name(kind).ok_or(ParseError::Malformed("dhcpv6 message type"))?;
    if kind == RELAY_FORW || kind == RELAY_REPL {
        return Err(ParseError::Malformed("dhcpv6 relay message"));
    }
    let xid = be32(message, 0).map(|v| v & 0x00ff_ffff);
    let opts = options(message.get(4..).unwrap_or_default())?;
    let from_server = matches!(kind, 2 | 7 | 10);

    // The relay agent that forwarded a client's message speaks for itself.
    if let (Some(r), RELAY_FORW) = (&relay, outer_type) {
        let mut agent = Finding::new("dhcpv6", About::Sender);
        agent.set("msg_type", "relay-forw");
        agent.set("relay.hop_count", r.hops);
        agent.set("relay.link_address", r.link_address.map(|a| a.to_string()));
        agent.set("relay.peer_address", r.peer_address.map(|a| a.to_string()));
        out.push(agent);
    }

    let mut own = Finding::new("dhcpv6", About::Sender);
    let mut client = Finding::new("dhcpv6", About::Receiver);
    for f in [&mut own, &mut client] {
        f.set("msg_type", name);
        f.set("transaction_id", xid);
    }
    own.set(
        "option_order",
        opts.iter().map(|o| o.code).collect::<Vec<_>>(),
    );
    let mut client_mac = None;
    let mut assigned = Vec::new();
    for o in &opts {
        let d = o.data;
        match o.code {
            option::CLIENTID => {
                let duid = Duid::parse(d);
                client_mac = duid.mac;
                let f = if from_server { &mut client } else { &mut own };
                duid.set(f, "duid");
            }
            option::SERVERID if from_server => {
                own.set("server_duid", colon_hex(d, false));
            }
            option::ORO if !from_server => {
                let codes: Vec<u16> = d
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                own.set("oro", codes);
            }
            option::ELAPSED_TIME => {
                own.set("elapsed_time", be16(d, 0));
            }
            option::USER_CLASS => {
                own.set("user_class", class_strings(d));
            }
            option::VENDOR_CLASS => {
                own.set("vendor_class.enterprise", be32(d, 0));
                own.set(
                    "vendor_class.data",
                    class_strings(d.get(4..).unwrap_or_default()),
                );
            }
            option::CLIENT_FQDN => {
                let name = d.get(1..).and_then(dns_name).map(|(n, _)| n);
                let f = if from_server { &mut client } else { &mut own };
                f.set("fqdn", name.filter(|n| !n.is_empty()));
            }
            option::MUD_URL if !from_server => {
                own.set("mud_url", nul_trimmed_text(d));
            }
            option::DNS_SERVERS if from_server => {
                let servers: Vec<String> = d
                    .chunks_exact(16)
                    .filter_map(|c| ipv6_at(c, 0))
                    .map(|a| a.to_string())
                    .collect();
                own.set("dns_servers", servers);
            }
            option::DOMAIN_LIST if from_server => {
                own.set("domain_list", dns_names(d));
            }
            option::IA_NA | option::IA_TA | option::IA_PD if kind == 7 => {
                ia_addresses(o.code, d, 0, &mut assigned);
            }
            _ => {}
        }
    }
    if !assigned.is_empty() {
        client.set("assigned_ips", assigned);
    }

    match (&relay, from_server) {
        // A client's own message, or a server's message to it directly.
        (None, false) => out.push(own),
        (None, true) => {
            out.push(own);
            out.push(client);
        }
        // Relayed: the client is neither sender nor receiver of the frame.
        (Some(_), false) => {
            if let Some(mac) = client_mac {
                own.about = About::Mac(mac);
                out.push(own);
            }
        }
        (Some(_), true) => {
            out.push(own);
            if let Some(mac) = client_mac {
                client.about = About::Mac(mac);
                out.push(client);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::testing::{Message, capture, messages};

    fn parse(context: &Context, bytes: &[u8]) -> Result<Vec<Finding>, ParseError> {
        let mut out = Vec::new();
        parse_message(&Knowledge::default(), context, bytes, &mut out)?;
        Ok(out)
    }

    fn dhcpv6_messages(file: &str) -> Vec<Message> {
        messages(file)
            .into_iter()
            .filter(|m| probe(&m.context, &m.bytes))
            .collect()
    }

    /// tshark's `Jan  2, 2015 21:52:08.000000000 UTC` as RFC 3339.
    fn tshark_time(t: &str) -> String {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let parts: Vec<&str> = t.split_whitespace().collect();
        let month = MONTHS.iter().position(|m| *m == parts[0]).unwrap() + 1;
        let day: u32 = parts[1].trim_end_matches(',').parse().unwrap();
        let time = parts[3].split('.').next().unwrap();
        format!("{}-{month:02}-{day:02}T{time}", parts[2])
    }

    fn list(cell: &str) -> Vec<&str> {
        cell.split(',').filter(|s| !s.is_empty()).collect()
    }

    fn strings(v: Option<&serde_json::Value>) -> Vec<String> {
        v.and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .map(|x| match x {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Compares every DHCPv6 message of a capture with tshark's decoding
    /// stored in `pcaps/tshark/`; returns the number of messages compared.
    fn compare_with_tshark(file: &str) -> usize {
        let tsv = format!("tshark/dhcpv6_{}.tsv", file.replace('/', "_"));
        let expected = std::fs::read_to_string(capture(&tsv)).unwrap();
        let all = dhcpv6_messages(file);
        let mut compared = 0;
        for line in expected.lines().skip(1) {
            let c: Vec<&str> = line.split('\t').collect();
            let frame: usize = c[0].parse().unwrap();
            let m = all
                .iter()
                .find(|m| m.frame == frame)
                .unwrap_or_else(|| panic!("{file}: no message in frame {frame}"));
            let found = parse(&m.context, &m.bytes).unwrap();
            let at = format!("{file} frame {frame}");
            let kind: u8 = list(c[1]).last().unwrap().parse().unwrap();
            let relayed = list(c[1]).len() > 1;
            let from_server = matches!(kind, 2 | 7 | 10);
            let own = found
                .iter()
                .find(|f| f.fields.contains_key("option_order"))
                .unwrap_or_else(|| panic!("{at}: {found:?}"));
            let client = if from_server {
                found.iter().find(|f| f.about != About::Sender)
            } else {
                Some(own)
            };
            assert_eq!(
                own.get("dhcpv6.msg_type").unwrap(),
                msg_type_name(kind).unwrap(),
                "{at}"
            );
            let xid = u32::from_str_radix(c[2].trim_start_matches("0x"), 16).unwrap();
            assert_eq!(own.get("dhcpv6.transaction_id").unwrap(), xid, "{at}");
            // The client DUID's place among the DUIDs, then among those of
            // its type, in wire order.
            let duid_options: Vec<&str> = list(c[3])
                .into_iter()
                .filter(|o| *o == "1" || *o == "2")
                .collect();
            let types = list(c[4]);
            if let Some(i) = duid_options.iter().position(|o| *o == "1") {
                let client = client.unwrap_or_else(|| panic!("{at}: no client finding"));
                let ty = types[i];
                let name = ["llt", "en", "ll", "uuid"][ty.parse::<usize>().unwrap() - 1];
                assert_eq!(client.get("dhcpv6.duid.type").unwrap(), name, "{at}");
                let nth = types[..i].iter().filter(|t| **t == ty).count();
                let mac = client.get("dhcpv6.duid.mac").and_then(|v| v.as_str());
                match ty {
                    "1" => {
                        assert_eq!(mac, list(c[5]).get(nth).copied(), "{at}");
                        assert_eq!(
                            client.get("dhcpv6.duid.time").and_then(|v| v.as_str()),
                            c[8].split(" UTC")
                                .map(|t| t.trim_start_matches(','))
                                .filter(|t| !t.is_empty())
                                .nth(nth)
                                .map(tshark_time)
                                .as_deref(),
                            "{at}"
                        );
                    }
                    "3" => assert_eq!(mac, list(c[6]).get(nth).copied(), "{at}"),
                    "2" => assert_eq!(
                        client.get("dhcpv6.duid.enterprise").unwrap().to_string(),
                        list(c[7])[nth],
                        "{at}"
                    ),
                    _ => assert_eq!(mac, None, "{at}"),
                }
                if relayed {
                    let mac: MacAddr = mac.unwrap().parse().unwrap();
                    assert_eq!(client.about, About::Mac(mac), "{at}");
                } else if from_server {
                    assert_eq!(client.about, About::Receiver, "{at}");
                } else {
                    assert_eq!(client.about, About::Sender, "{at}");
                }
            }
            if !from_server {
                assert_eq!(strings(own.get("dhcpv6.oro")), list(c[9]), "{at}: oro");
            }
            assert_eq!(
                own.get("dhcpv6.elapsed_time")
                    // tshark shows milliseconds, the wire hundredths.
                    .map(|v| (v.as_u64().unwrap() * 10).to_string())
                    .as_deref(),
                Some(c[10]).filter(|s| !s.is_empty()),
                "{at}"
            );
            assert_eq!(
                own.get("dhcpv6.vendor_class.enterprise")
                    .map(|v| v.to_string())
                    .as_deref(),
                Some(c[11]).filter(|s| !s.is_empty()),
                "{at}"
            );
            if kind == 7 {
                let mut tshark_ips = list(c[12]);
                tshark_ips.extend(list(c[13]));
                let ours = strings(client.and_then(|f| f.get("dhcpv6.assigned_ips")));
                let ours: Vec<&str> = ours.iter().map(|a| a.split('/').next().unwrap()).collect();
                assert_eq!(ours, tshark_ips, "{at}: assigned");
            }
            if from_server {
                assert_eq!(strings(own.get("dhcpv6.dns_servers")), list(c[14]), "{at}");
                let domains: Vec<&str> = list(c[15])
                    .into_iter()
                    .map(|d| d.trim_end_matches('.'))
                    .collect();
                assert_eq!(strings(own.get("dhcpv6.domain_list")), domains, "{at}");
            } else {
                assert_eq!(
                    own.get("dhcpv6.fqdn").and_then(|v| v.as_str()),
                    Some(c[16]).filter(|s| !s.is_empty()),
                    "{at}"
                );
                assert_eq!(
                    own.get("dhcpv6.mud_url").and_then(|v| v.as_str()),
                    Some(c[17]).filter(|s| !s.is_empty()),
                    "{at}"
                );
            }
            compared += 1;
        }
        assert_eq!(
            compared,
            all.len(),
            "{file}: every DHCPv6 datagram compared"
        );
        compared
    }

    /// Every field tshark decodes equals ours, message by message, on nine
    /// real captures (ja4, nDPI's android, and tcpdump's DHCPv6 tests).
    #[test]
    fn fields_equal_tshark() {
        let mut total = 0;
        for file in [
            "ja4/dhcpv6.pcap",
            "ndpi/android.pcap",
            "tcpdump/dhcpv6-ia-na.pcap",
            "tcpdump/dhcpv6-ia-pd.pcap",
            "tcpdump/dhcpv6-ia-ta.pcap",
            "tcpdump/dhcpv6-rfc6355-duid-uuid.pcap",
            "tcpdump/dhcpv6-rfc8415-duid-type2.pcap",
            "tcpdump/dhcpv6-domain-list.pcap",
            "tcpdump/dhcpv6-mud.pcap",
        ] {
            total += compare_with_tshark(file);
        }
        assert_eq!(total, 29);
    }

    fn udp() -> Context {
        Context {
            carrier: Carrier::Udp,
            src_port: SERVER_PORT,
            dst_port: SERVER_PORT,
            to_server: true,
            src_mac: None,
            dst_mac: None,
        }
    }

    /// A Relay-Forward around `inner`.
    fn relay_forw(inner: &[u8]) -> Vec<u8> {
        let mut m = vec![RELAY_FORW, 0];
        m.extend_from_slice(&[0; 32]);
        m.extend_from_slice(&option::RELAY_MSG.to_be_bytes());
        m.extend_from_slice(&u16::try_from(inner.len()).unwrap().to_be_bytes());
        m.extend_from_slice(inner);
        m
    }

    /// Every prefix of every real message and byte-flipped copies parse or
    /// fail without panicking; truncating a real message inside its options
    /// is an error.
    #[test]
    fn truncated_and_garbage_input_is_an_error_not_a_panic() {
        let mut errors = 0;
        for file in [
            "ja4/dhcpv6.pcap",
            "tcpdump/dhcpv6-mud.pcap",
            "tcpdump/dhcpv6-ia-pd.pcap",
        ] {
            for m in dhcpv6_messages(file) {
                for len in 0..m.bytes.len() {
                    if parse(&m.context, &m.bytes[..len]).is_err() {
                        errors += 1;
                    }
                }
                for i in 0..m.bytes.len() {
                    let mut b = m.bytes.clone();
                    b[i] ^= 0xff;
                    let _ = parse(&m.context, &b);
                }
            }
        }
        assert!(errors > 100, "{errors}");
        assert_eq!(
            parse(&udp(), &[]),
            Err(ParseError::Truncated("dhcpv6 header"))
        );
        assert_eq!(
            parse(&udp(), &[1, 0, 0, 1, 0, 1, 0, 200, 0]),
            Err(ParseError::Truncated("dhcpv6 option"))
        );
        assert_eq!(
            parse(&udp(), &[0xee, 0, 0, 1]),
            Err(ParseError::Malformed("dhcpv6 message type"))
        );
        // Truncated option inside an IA: the address list stops, the
        // message still counts.
        let reply = [
            7, 0, 0, 1, 0, 3, 0, 14, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5,
        ];
        let found = parse(&udp(), &reply).unwrap();
        assert_eq!(found[0].get("dhcpv6.msg_type").unwrap(), "reply");
        assert!(found[1].get("dhcpv6.assigned_ips").is_none());
    }

    /// Relays nest up to the limit; deeper nesting, a relay without a
    /// message, and a relay around a relay-repl stop with an error.
    #[test]
    fn relay_nesting_is_bounded() {
        let solicit = [
            1, 0, 0, 7, 0, 1, 0, 10, 0, 3, 0, 1, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 6, 0, 2, 0,
            23,
        ];
        let mut m = solicit.to_vec();
        for _ in 0..MAX_RELAY_DEPTH - 1 {
            m = relay_forw(&m);
        }
        let found = parse(&udp(), &m).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].about, About::Sender);
        assert_eq!(
            found[0].get("dhcpv6.relay.hop_count").unwrap(),
            MAX_RELAY_DEPTH - 1
        );
        let mac = MacAddr([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
        assert_eq!(found[1].about, About::Mac(mac));
        assert_eq!(found[1].get("dhcpv6.msg_type").unwrap(), "solicit");
        assert_eq!(
            found[1].get("dhcpv6.oro").unwrap(),
            &serde_json::json!([23])
        );
        let deeper = relay_forw(&m);
        assert_eq!(
            parse(&udp(), &deeper),
            Err(ParseError::Limit("dhcpv6 relay nesting"))
        );
        let mut empty = vec![RELAY_FORW, 0];
        empty.extend_from_slice(&[0; 32]);
        assert_eq!(
            parse(&udp(), &empty),
            Err(ParseError::Malformed("dhcpv6 relay without relay message"))
        );
        assert_eq!(
            parse(&udp(), &empty[..20]),
            Err(ParseError::Truncated("dhcpv6 relay header"))
        );
    }

    #[test]
    fn duid_kinds_and_time() {
        let en = Duid::parse(&[0, 2, 0, 0, 0x75, 0x71, 1, 2]);
        assert_eq!(
            (en.kind, en.enterprise, en.mac),
            (Some("en"), Some(30065), None)
        );
        // Hardware type 6 (IEEE 802) is no Ethernet MAC.
        let ll = Duid::parse(&[0, 3, 0, 6, 1, 2, 3, 4, 5, 6]);
        assert_eq!((ll.kind, ll.mac), (Some("ll"), None));
        assert_eq!(Duid::parse(&[0]).kind, None);
        assert_eq!(duid_time(0), "2000-01-01T00:00:00");
        assert_eq!(duid_time(u32::MAX), "2136-02-07T06:28:15");
    }
}
