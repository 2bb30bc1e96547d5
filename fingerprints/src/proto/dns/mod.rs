//! DNS, mDNS/DNS-SD and LLMNR: queries and answers, service types, instances, SRV targets, TXT keys.
//!
//! A query says what its sender resolves; an mDNS or LLMNR answer says what
//! its sender is (its host name, the services it offers and their TXT
//! keys: model, manufacturer ...); a unicast DNS answer says what its
//! receiver resolved.

pub mod wire;

use std::collections::BTreeMap;

use super::{About, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError, Progress};
use wire::{RData, Record, Section};

pub const MDNS_PORT: u16 = 5353;
pub const LLMNR_PORT: u16 = 5355;
pub const DNS_PORT: u16 = 53;

/// Entries kept in one list field.
const MAX_LIST: usize = 32;
/// TXT keys kept from one message.
const MAX_TXT: usize = 64;

pub const DISSECTORS: &[Dissector] = &[
    Dissector {
        name: "mdns",
        probe: probe_mdns,
        parse: Parse::Message(parse_mdns),
    },
    Dissector {
        name: "llmnr",
        probe: probe_llmnr,
        parse: Parse::Message(parse_llmnr),
    },
    Dissector {
        name: "dns",
        probe: probe_dns,
        parse: Parse::Message(parse_dns),
    },
    Dissector {
        name: "dns",
        probe: probe_dns_tcp,
        parse: Parse::Stream(parse_dns_tcp),
    },
];

fn probe_mdns(c: &Context, _: &[u8]) -> bool {
    c.carrier == Carrier::Udp && c.either_port(&[MDNS_PORT])
}

fn probe_llmnr(c: &Context, _: &[u8]) -> bool {
    c.carrier == Carrier::Udp && c.either_port(&[LLMNR_PORT])
}

fn probe_dns(c: &Context, _: &[u8]) -> bool {
    c.carrier == Carrier::Udp && c.either_port(&[DNS_PORT])
}

fn probe_dns_tcp(c: &Context, _: &[u8]) -> bool {
    c.carrier == Carrier::Tcp && c.either_port(&[DNS_PORT])
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavour {
    Dns,
    Mdns,
    Llmnr,
}

fn parse_mdns(
    _: &Knowledge,
    _: &Context,
    bytes: &[u8],
    out: &mut Vec<Finding>,
) -> Result<(), ParseError> {
    findings(Flavour::Mdns, bytes, out)
}

fn parse_llmnr(
    _: &Knowledge,
    _: &Context,
    bytes: &[u8],
    out: &mut Vec<Finding>,
) -> Result<(), ParseError> {
    findings(Flavour::Llmnr, bytes, out)
}

fn parse_dns(
    _: &Knowledge,
    _: &Context,
    bytes: &[u8],
    out: &mut Vec<Finding>,
) -> Result<(), ParseError> {
    findings(Flavour::Dns, bytes, out)
}

/// DNS over TCP: the first message of the direction, after its two-byte
/// length.
fn parse_dns_tcp(
    _: &Knowledge,
    _: &Context,
    bytes: &[u8],
    last: bool,
    out: &mut Vec<Finding>,
) -> Result<Progress, ParseError> {
    let Some(len) = bytes
        .get(..2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    else {
        return if last {
            Err(ParseError::Truncated("dns tcp length"))
        } else {
            Ok(Progress::NeedMore)
        };
    };
    match bytes.get(2..2 + len) {
        Some(msg) => {
            findings(Flavour::Dns, msg, out)?;
            Ok(Progress::Done)
        }
        None if last => {
            findings(Flavour::Dns, bytes.get(2..).unwrap_or_default(), out)?;
            Ok(Progress::Done)
        }
        None => Ok(Progress::NeedMore),
    }
}

fn findings(flavour: Flavour, bytes: &[u8], out: &mut Vec<Finding>) -> Result<(), ParseError> {
    let msg = wire::parse(bytes)?;
    let Some(header) = &msg.header else {
        return Err(ParseError::Truncated("dns header"));
    };
    let event = match flavour {
        Flavour::Dns => "dns",
        Flavour::Mdns => "mdns",
        Flavour::Llmnr => "llmnr",
    };
    let about = match (flavour, header.response) {
        (_, false) | (Flavour::Mdns | Flavour::Llmnr, true) => About::Sender,
        (Flavour::Dns, true) => About::Receiver,
    };
    let mut f = Finding::new(event, about);
    f.set("type", if header.response { "answer" } else { "query" });
    f.set("id", header.id);
    if header.opcode != 0 {
        f.set("opcode", header.opcode);
    }
    if header.response {
        f.set("rcode", wire::rcode_name(header.rcode));
    }
    if let Some(q) = msg.questions.first() {
        f.set("rrname", q.name.dotted());
        f.set("rrtype", wire::type_name(q.rtype));
    }
    // The first question alone is in rrname and rrtype already.
    if msg.questions.len() > 1 {
        let queries: Vec<serde_json::Value> = msg
            .questions
            .iter()
            .take(MAX_LIST)
            .map(|q| serde_json::json!({"rrname": q.name.dotted(), "rrtype": wire::type_name(q.rtype)}))
            .collect();
        f.set("queries", queries);
    }
    let answers: Vec<serde_json::Value> = msg
        .records
        .iter()
        .filter(|(s, _)| *s == Section::Answer)
        .take(MAX_LIST)
        .map(|(_, r)| answer_json(r))
        .collect();
    if !answers.is_empty() {
        f.set("answers", answers);
    }
    if flavour == Flavour::Mdns {
        // A query's answers are what the querier already knows of others;
        // its authority records are its own (probing, RFC 6762 §8.2).
        let own = msg
            .records
            .iter()
            .filter(|(s, _)| header.response || *s == Section::Authority)
            .map(|(_, r)| r);
        service_discovery(own, &mut f);
    }
    out.push(f);
    Ok(())
}

fn answer_json(r: &Record) -> serde_json::Value {
    let mut a = serde_json::Map::new();
    a.insert("rrname".into(), r.name.dotted().into());
    a.insert("rrtype".into(), wire::type_name(r.rtype).into());
    let rdata: Option<serde_json::Value> = match &r.rdata {
        RData::A(ip) => Some(ip.to_string().into()),
        RData::Aaaa(ip) => Some(ip.to_string().into()),
        RData::Name(n) => Some(n.dotted().into()),
        RData::Mx(_, n) => Some(n.dotted().into()),
        RData::Srv {
            priority,
            weight,
            port,
            target,
        } => Some(format!("{priority} {weight} {port} {}", target.dotted()).into()),
        RData::Txt(strings) => Some(
            strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect::<Vec<_>>()
                .into(),
        ),
        RData::Other => None,
    };
    if let Some(rdata) = rdata {
        a.insert("rdata".into(), rdata);
    }
    serde_json::Value::Object(a)
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if list.len() < MAX_LIST && !item.is_empty() && !list.contains(&item) {
        list.push(item);
    }
}

/// Whether the name is a DNS-SD service type (`_http._tcp.local`), possibly
/// with a subtype (`_printer._sub._http._tcp.local`).
fn is_service_type(name: &wire::Name) -> bool {
    let labels = &name.0;
    labels.len() >= 2
        && labels.iter().any(|l| l == "_tcp" || l == "_udp")
        && labels.first().is_some_and(|l| l.starts_with('_'))
}

/// The service type of a name, subtype dropped.
fn service_of(name: &wire::Name) -> String {
    match name.0.iter().position(|l| l == "_sub") {
        Some(i) => name.0.get(i + 1..).unwrap_or_default().join("."),
        None => name.dotted(),
    }
}

/// `mdns.services`, `mdns.instances`, `mdns.hostnames`, `mdns.txt` from the
/// sender's own records.
fn service_discovery<'a>(records: impl Iterator<Item = &'a Record>, f: &mut Finding) {
    let mut services = Vec::new();
    let mut instances = Vec::new();
    let mut hostnames = Vec::new();
    let mut txt = BTreeMap::new();
    for r in records {
        match &r.rdata {
            RData::Name(target) if r.rtype == wire::TYPE_PTR => {
                if r.name
                    .dotted()
                    .eq_ignore_ascii_case("_services._dns-sd._udp.local")
                {
                    push_unique(&mut services, service_of(target));
                } else if is_service_type(&r.name) {
                    push_unique(&mut services, service_of(&r.name));
                    push_unique(
                        &mut instances,
                        target.first().unwrap_or_default().to_string(),
                    );
                } else if is_reverse(&r.name) {
                    push_unique(&mut hostnames, target.dotted());
                }
            }
            RData::Srv { target, .. } => {
                if is_service_type(&wire::Name(r.name.0.get(1..).unwrap_or_default().to_vec())) {
                    push_unique(&mut services, r.name.parent());
                    push_unique(
                        &mut instances,
                        r.name.first().unwrap_or_default().to_string(),
                    );
                }
                push_unique(&mut hostnames, target.dotted());
            }
            RData::A(_) | RData::Aaaa(_) => push_unique(&mut hostnames, r.name.dotted()),
            RData::Txt(strings) => {
                if is_service_type(&wire::Name(r.name.0.get(1..).unwrap_or_default().to_vec())) {
                    push_unique(
                        &mut instances,
                        r.name.first().unwrap_or_default().to_string(),
                    );
                }
                for s in strings {
                    if txt.len() >= MAX_TXT {
                        break;
                    }
                    let s = String::from_utf8_lossy(s);
                    let (key, value) = s.split_once('=').unwrap_or((&s, ""));
                    if !key.is_empty() {
                        txt.entry(key.to_string())
                            .or_insert_with(|| value.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    if !services.is_empty() {
        f.set("services", services);
    }
    if !instances.is_empty() {
        f.set("instances", instances);
    }
    if !hostnames.is_empty() {
        f.set("hostnames", hostnames);
    }
    if !txt.is_empty() {
        // Set as one object: keys may hold dots, which `set` would nest.
        let map: serde_json::Map<String, serde_json::Value> =
            txt.into_iter().map(|(k, v)| (k, v.into())).collect();
        f.fields
            .insert("txt".into(), serde_json::Value::Object(map));
    }
}

fn is_reverse(name: &wire::Name) -> bool {
    let dotted = name.dotted().to_ascii_lowercase();
    dotted.ends_with(".in-addr.arpa") || dotted.ends_with(".ip6.arpa")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::testing::{Message, capture, messages};

    fn run(capture: &str) -> Vec<(Message, Vec<Finding>)> {
        let knowledge = Knowledge::default();
        messages(capture)
            .into_iter()
            .filter_map(|m| {
                let d = DISSECTORS
                    .iter()
                    .find(|d| (d.probe)(&m.context, &m.bytes))?;
                let mut out = Vec::new();
                match d.parse {
                    Parse::Message(p) => p(&knowledge, &m.context, &m.bytes, &mut out).ok()?,
                    Parse::Stream(p) => {
                        p(&knowledge, &m.context, &m.bytes, true, &mut out).ok()?;
                    }
                    Parse::Conversation(p) => {
                        p(&knowledge, &m.context, &m.bytes, &[], true, &mut out).ok()?;
                    }
                };
                Some((m, out))
            })
            .collect()
    }

    fn split(field: &str) -> Vec<String> {
        if field.is_empty() {
            return Vec::new();
        }
        field.split('\u{1f}').map(str::to_string).collect()
    }

    /// tshark prints a string field's repeated values once, and the root
    /// name as `<Root>`.
    fn unique(list: Vec<String>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in list {
            let s = if s.is_empty() {
                "<Root>".to_string()
            } else {
                s
            };
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }

    /// Every record of every DNS, mDNS and LLMNR datagram, read as tshark
    /// reads it: question names, record owner names and types (all
    /// sections), PTR and SRV targets, TXT strings.
    const TSHARK: &[(&str, usize)] = &[
        ("iot-sentinel/D-LinkCam/Setup-C-7-STA.pcap", 129),
        ("iot-sentinel/Lightify/Setup-C-1-STA.pcap", 36),
        ("ndpi/whatsapp_login_chat.pcap", 4),
        ("ndpi/anyconnect-vpn.pcap", 66),
        ("ndpi/custom_risk_mask.pcapng", 2),
        ("zeek/mdns.pcap", 18),
        ("zeek/mdns-no-assoc.pcap", 6),
        ("ndpi/dns-google-nsid.pcapng", 14),
    ];

    #[test]
    fn records_equal_tshark() {
        let mut compared = 0;
        for &(path, expected_frames) in TSHARK {
            let all = messages(path);
            let table = std::fs::read_to_string(capture(&format!(
                "tshark/dns_{}.tsv",
                path.replace('/', "_")
            )))
            .unwrap();
            let mut frames = 0;
            for line in table.lines() {
                let cols: Vec<&str> = line.split('\t').collect();
                let frame: usize = cols[0].parse().unwrap();
                let Some(m) = all
                    .iter()
                    .find(|m| m.frame == frame && m.context.carrier == Carrier::Udp)
                else {
                    continue;
                };
                frames += 1;
                let msg = wire::parse(&m.bytes).unwrap();
                let h = msg.header.as_ref().unwrap();
                let ctx = format!("{path} frame {frame}");
                assert_eq!(h.response, cols[1] == "1", "{ctx}");
                assert_eq!(format!("{:#06x}", h.id), cols[2], "{ctx}");
                let q: Vec<String> = msg.questions.iter().map(|q| q.name.dotted()).collect();
                assert_eq!(unique(q), unique(split(cols[3])), "{ctx}");
                // tshark names an SRV record's owner as service, protocol and name
                // fields instead.
                let names: Vec<String> = msg
                    .records
                    .iter()
                    .filter(|(_, r)| r.rtype != wire::TYPE_SRV)
                    .map(|(_, r)| r.name.dotted())
                    .collect();
                let names: Vec<String> = names
                    .into_iter()
                    .map(|n| if n.is_empty() { "<Root>".into() } else { n })
                    .collect();
                assert_eq!(unique(names), unique(split(cols[4])), "{ctx}");
                let types: Vec<String> = msg
                    .records
                    .iter()
                    .map(|(_, r)| r.rtype.to_string())
                    .collect();
                assert_eq!(types, split(cols[5]), "{ctx}");
                let ptr: Vec<String> = msg
                    .records
                    .iter()
                    .filter(|(_, r)| r.rtype == wire::TYPE_PTR)
                    .filter_map(|(_, r)| match &r.rdata {
                        RData::Name(n) => Some(n.dotted()),
                        _ => None,
                    })
                    .collect();
                assert_eq!(unique(ptr), unique(split(cols[6])), "{ctx}");
                let srv: Vec<String> = msg
                    .records
                    .iter()
                    .filter_map(|(_, r)| match &r.rdata {
                        RData::Srv { target, .. } => Some(target.dotted()),
                        _ => None,
                    })
                    .collect();
                assert_eq!(unique(srv), unique(split(cols[7])), "{ctx}");
                let txt: Vec<String> = msg
                    .records
                    .iter()
                    .filter_map(|(_, r)| match &r.rdata {
                        RData::Txt(s) => Some(s.clone()),
                        _ => None,
                    })
                    .flatten()
                    .map(|s| String::from_utf8_lossy(&s).into_owned())
                    // tshark prints no value for an empty TXT string.
                    .filter(|s| !s.is_empty())
                    .collect();
                assert_eq!(unique(txt), unique(split(cols[8])), "{ctx}");
            }
            assert_eq!(frames, expected_frames, "{path}");
            compared += frames;
        }
        assert_eq!(compared, 275);
    }

    /// The D-Link camera's mDNS answers, as tshark reads them (frame 4):
    /// its host name, its services and the TXT keys naming its model.
    #[test]
    fn mdns_answer_describes_the_sender() {
        let all = run("iot-sentinel/D-LinkCam/Setup-C-7-STA.pcap");
        let (_, f) = all.iter().find(|(m, _)| m.frame == 4).unwrap();
        let f = &f[0];
        assert_eq!(f.event_type, "mdns");
        assert_eq!(f.about, About::Sender);
        assert_eq!(f.fields["type"], "answer");
        let list = |k: &str| f.fields[k].as_array().unwrap().clone();
        assert!(list("services").contains(&"_dhnap._tcp.local".into()));
        assert!(list("instances").contains(&"D-Link HNAP Service".into()));
        assert!(list("hostnames").contains(&"DCS-935L-B0C554255B0E.local".into()));
        assert_eq!(f.fields["txt"]["model_number"], "DCS-935L");
        assert_eq!(f.fields["txt"]["mac"], "B0:C5:54:25:5B:0E");
        // A probe (frame 13): the authority records are the sender's own.
        let (_, probe) = all.iter().find(|(m, _)| m.frame == 13).unwrap();
        assert_eq!(probe[0].fields["type"], "query");
        assert_eq!(
            probe[0].fields["hostnames"],
            serde_json::json!(["DCS-935L-B0C554255B0E.local"])
        );
        // Every mDNS datagram of the capture parses.
        let mdns = all
            .iter()
            .filter(|(_, f)| f[0].event_type == "mdns")
            .count();
        assert_eq!(mdns, 122);
    }

    #[test]
    fn llmnr_and_dns_events() {
        let all = run("ndpi/custom_risk_mask.pcapng");
        assert_eq!(all.len(), 2);
        for (_, f) in &all {
            assert_eq!(f[0].event_type, "llmnr");
            assert_eq!(f[0].fields["type"], "query");
        }
        let all = run("ndpi/dns-google-nsid.pcapng");
        let answer = all
            .iter()
            .flat_map(|(_, f)| f)
            .find(|f| f.fields["type"] == "answer")
            .unwrap();
        assert_eq!(answer.event_type, "dns");
        // A unicast answer tells what its receiver resolved.
        assert_eq!(answer.about, About::Receiver);
        assert_eq!(answer.fields["rcode"], "NOERROR");
    }

    #[test]
    fn dns_over_tcp_reads_the_first_message() {
        let all = messages("ndpi/dns-google-nsid.pcapng");
        let udp = all.iter().find(|m| m.context.dst_port == 53).unwrap();
        let mut stream = (udp.bytes.len() as u16).to_be_bytes().to_vec();
        stream.extend_from_slice(&udp.bytes);
        let context = Context {
            carrier: Carrier::Tcp,
            ..udp.context
        };
        let knowledge = Knowledge::default();
        let mut out = Vec::new();
        let half = &stream[..stream.len() / 2];
        assert_eq!(
            parse_dns_tcp(&knowledge, &context, half, false, &mut out),
            Ok(Progress::NeedMore)
        );
        assert_eq!(
            parse_dns_tcp(&knowledge, &context, &stream, false, &mut out),
            Ok(Progress::Done)
        );
        assert_eq!(out[0].fields["type"], "query");
    }

    #[test]
    fn hostile_messages_end() {
        // A compression pointer to itself, and a chain of pointers.
        let mut looped = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        looped.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(
            wire::read_name(&looped, 12),
            Err(ParseError::Limit("dns compression pointers"))
        );
        let msg = wire::parse(&looped).unwrap();
        assert!(msg.incomplete && msg.questions.is_empty());
        let mut out = Vec::new();
        // Every prefix of every message of a capture, and bit flips.
        for m in messages("iot-sentinel/D-LinkCam/Setup-C-7-STA.pcap")
            .iter()
            .filter(|m| m.context.either_port(&[MDNS_PORT]))
            .take(10)
        {
            for len in 0..m.bytes.len() {
                out.clear();
                let r = findings(Flavour::Mdns, &m.bytes[..len], &mut out);
                assert_eq!(r.is_err(), len < 12);
            }
            for i in 0..m.bytes.len() {
                let mut b = m.bytes.clone();
                b[i] ^= 0xc0;
                out.clear();
                let _ = findings(Flavour::Mdns, &b, &mut out);
            }
        }
    }
}
