#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;

use pcap_parser::Linktype;

use super::*;
use crate::testing;

const P0F_FP: &str = include_str!("../../../data/p0f.fp");

fn db() -> P0fDatabase {
    P0fDatabase::load("p0f.fp", P0F_FP).unwrap()
}

/// The IP packet of a frame, as p0f finds it (no VLAN tags on Ethernet).
fn ip_of(link: Linktype, frame: &[u8]) -> Option<&[u8]> {
    match link {
        Linktype::ETHERNET => match frame.get(12..14)? {
            [0x08, 0x00] | [0x86, 0xdd] => frame.get(14..),
            [0x81, 0x00] => frame.get(18..),
            _ => None,
        },
        Linktype::LINUX_SLL => frame.get(16..),
        Linktype(276) => frame.get(20..),
        Linktype::NULL => frame.get(4..),
        Linktype::RAW | Linktype(228) | Linktype(229) => Some(frame),
        _ => None,
    }
}

/// An address as p0f prints it (IPv6 as eight uncompressed hex groups).
fn p0f_addr(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}/{port}"),
        IpAddr::V6(a) => {
            let g: Vec<String> = a.segments().iter().map(|s| format!("{s:x}")).collect();
            format!("{}/{port}", g.join(":"))
        }
    }
}

/// One `mod=syn` or `mod=syn+ack` line of a p0f log.
#[derive(Debug)]
struct P0fLine {
    key: (String, String, String),
    /// `os=` or `app=` (`???` when unknown).
    label: String,
    dist: String,
    raw_sig: String,
}

fn p0f_log(relative: &str) -> Vec<P0fLine> {
    let path = testing::capture(relative);
    let mut text = String::new();
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if relative.ends_with(".gz") {
        flate2::read::GzDecoder::new(file)
            .read_to_string(&mut text)
            .unwrap();
    } else {
        std::io::BufReader::new(file)
            .read_to_string(&mut text)
            .unwrap();
    }
    text.lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once("] ")?;
            let fields: HashMap<&str, &str> = rest
                .split('|')
                .filter_map(|kv| kv.split_once('='))
                .collect();
            let kind = fields.get("mod")?;
            if *kind != "syn" && *kind != "syn+ack" {
                return None;
            }
            Some(P0fLine {
                key: (
                    kind.to_string(),
                    fields.get("cli")?.to_string(),
                    fields.get("srv")?.to_string(),
                ),
                label: fields.get("os").or(fields.get("app"))?.to_string(),
                dist: fields.get("dist")?.to_string(),
                raw_sig: fields.get("raw_sig")?.to_string(),
            })
        })
        .collect()
}

/// What we say of one SYN or SYN+ACK.
#[derive(Debug, Clone)]
struct Ours {
    label: String,
    dist: String,
    raw_sig: String,
}

/// Every SYN and SYN+ACK of a capture through `signature` and `classify`,
/// keyed like p0f's log. Follows p0f's bookkeeping just enough to see the
/// same packets: a retransmitted SYN is not fingerprinted again, a SYN+ACK
/// only answering a SYN seen (first one only, and not after a tool's SYN),
/// and FIN or RST ends the connection.
fn ours(db: &P0fDatabase, capture: &str) -> HashMap<(String, String, String), Vec<Ours>> {
    struct Flow {
        seq: u32,
        mss: u16,
        acked: bool,
    }
    let mut flows: HashMap<(String, String), Flow> = HashMap::new();
    let mut out: HashMap<(String, String, String), Vec<Ours>> = HashMap::new();
    for (link, frame) in testing::frames(capture) {
        let Some(ip) = ip_of(link, &frame) else {
            continue;
        };
        let Ok(Some(mut sig)) = signature(ip) else {
            // FIN or RST: p0f forgets the connection.
            if let Some(t) = tcp_ends(ip) {
                flows.remove(&(t.0.clone(), t.1.clone()));
                flows.remove(&(t.1, t.0));
            }
            continue;
        };
        let from = p0f_addr(sig.src, sig.src_port);
        let to = p0f_addr(sig.dst, sig.dst_port);
        let key = match sig.direction {
            Direction::Syn => {
                let k = (from.clone(), to.clone());
                if flows.get(&k).is_some_and(|f| f.seq == sig.seq) {
                    continue;
                }
                flows.insert(
                    k,
                    Flow {
                        seq: sig.seq,
                        mss: sig.mss,
                        acked: false,
                    },
                );
                ("syn".to_string(), from.clone(), to.clone())
            }
            Direction::SynAck => {
                let Some(flow) = flows.get_mut(&(to.clone(), from.clone())) else {
                    continue;
                };
                if flow.acked {
                    continue;
                }
                flow.acked = true;
                sig.peer_mss = flow.mss;
                ("syn+ack".to_string(), to.clone(), from.clone())
            }
        };
        let m = db.classify(&sig);
        if m.is_some_and(|m| m.label.is_tool()) {
            flows.remove(&(from.clone(), to.clone()));
        }
        let dist = match m {
            Some(m) if m.bad_ttl => format!("<= {}", m.distance),
            Some(m) => m.distance.to_string(),
            None => guess_distance(sig.ttl).to_string(),
        };
        out.entry(key).or_default().push(Ours {
            label: m.map_or("???".to_string(), |m| m.label.os()),
            dist,
            raw_sig: sig.to_string(),
        });
    }
    out
}

/// (src, dst) of a TCP FIN or RST, as p0f keys them.
fn tcp_ends(ip: &[u8]) -> Option<(String, String)> {
    let sliced = etherparse::SlicedPacket::from_ip(ip).ok()?;
    let Some(etherparse::TransportSlice::Tcp(t)) = sliced.transport else {
        return None;
    };
    if !(t.fin() || t.rst()) || t.syn() {
        return None;
    }
    let (s, d) = match sliced.net? {
        etherparse::NetSlice::Ipv4(v4) => (
            IpAddr::V4(v4.header().source_addr()),
            IpAddr::V4(v4.header().destination_addr()),
        ),
        etherparse::NetSlice::Ipv6(v6) => (
            IpAddr::V6(v6.header().source_addr()),
            IpAddr::V6(v6.header().destination_addr()),
        ),
        _ => return None,
    };
    Some((
        p0f_addr(s, t.source_port()),
        p0f_addr(d, t.destination_port()),
    ))
}

#[derive(Default, Debug)]
struct Score {
    lines: usize,
    labelled: usize,
    label_equal: usize,
    labelled_equal: usize,
    sig_equal: usize,
    dist_equal: usize,
    missing: usize,
    disagreements: Vec<String>,
}

fn compare(db: &P0fDatabase, capture: &str, log: &str, score: &mut Score) {
    let mut mine = ours(db, capture);
    let mut next: HashMap<(String, String, String), usize> = HashMap::new();
    for line in p0f_log(log) {
        score.lines += 1;
        let labelled = line.label != "???";
        score.labelled += usize::from(labelled);
        let i = next.entry(line.key.clone()).or_default();
        let got = mine.get_mut(&line.key).and_then(|v| v.get(*i)).cloned();
        *i += 1;
        let Some(got) = got else {
            score.missing += 1;
            score
                .disagreements
                .push(format!("{capture}: {:?} not seen", line.key));
            continue;
        };
        if got.label == line.label {
            score.label_equal += 1;
            score.labelled_equal += usize::from(labelled);
        } else {
            score.disagreements.push(format!(
                "{capture} {:?}: p0f {:?} ({}) ours {:?} ({})",
                line.key, line.label, line.raw_sig, got.label, got.raw_sig
            ));
        }
        score.sig_equal += usize::from(got.raw_sig == line.raw_sig);
        if got.raw_sig != line.raw_sig {
            score.disagreements.push(format!(
                "{capture} {:?}: raw_sig p0f {} ours {}",
                line.key, line.raw_sig, got.raw_sig
            ));
        }
        score.dist_equal += usize::from(got.dist == line.dist);
    }
    mine.clear();
}

/// Captures with SYNs from varied stacks, and p0f 3.09b's log of each
/// (`p0f -r CAPTURE -o LOG`, see pcaps/SOURCES.md).
const ORACLE: &[(&str, &str)] = &[
    ("ndpi/socks.pcap", "ndpi/p0f/socks.pcap.log"),
    ("ndpi/jabber.pcap", "ndpi/p0f/jabber.pcap.log"),
    ("ndpi/threema.pcap", "ndpi/p0f/threema.pcap.log"),
    (
        "ndpi/lisp_registration.pcap",
        "ndpi/p0f/lisp_registration.pcap.log",
    ),
    ("ndpi/synscan.pcap", "ndpi/p0f/synscan.pcap.log.gz"),
    ("ndpi/http_ipv6.pcap", "ndpi/p0f/http_ipv6.pcap.log"),
    ("ndpi/telnet.pcap", "ndpi/p0f/telnet.pcap.log"),
    ("ndpi/rdp.pcap", "ndpi/p0f/rdp.pcap.log"),
    (
        "zeek/tcp/qi_internet_SYNACK_curl_jsonip.pcap",
        "zeek/p0f/tcp/qi_internet_SYNACK_curl_jsonip.pcap.log",
    ),
    (
        "zeek/var-services-std-ports.pcap",
        "zeek/p0f/var-services-std-ports.pcap.log",
    ),
    (
        "zeek/ftp/bruteforce.pcap",
        "zeek/p0f/ftp/bruteforce.pcap.log",
    ),
    (
        "zeek/modbus/modbus-and-non-modbus-p502.pcap",
        "zeek/p0f/modbus/modbus-and-non-modbus-p502.pcap.log",
    ),
    ("zeek/ftp/ipv6.pcap", "zeek/p0f/ftp/ipv6.pcap.log"),
    (
        "zeek/tls/ssl-to-http-server.pcap",
        "zeek/p0f/tls/ssl-to-http-server.pcap.log",
    ),
    (
        "zeek/tls/missing-intermediate.pcap",
        "zeek/p0f/tls/missing-intermediate.pcap.log",
    ),
];

#[test]
fn labels_and_signatures_agree_with_p0f() {
    let db = db();
    let mut score = Score::default();
    for (capture, log) in ORACLE {
        compare(&db, capture, log, &mut score);
    }
    for d in score.disagreements.iter().take(20) {
        eprintln!("{d}");
    }
    eprintln!(
        "p0f lines {}: label equal {}, labelled {} (equal {}), raw_sig equal {}, dist equal {}, missing {}",
        score.lines,
        score.label_equal,
        score.labelled,
        score.labelled_equal,
        score.sig_equal,
        score.dist_equal,
        score.missing
    );
    assert!(score.lines > 2000, "{score:?}");
    assert!(score.labelled > 2000);
    assert!(
        score.labelled_equal * 100 >= score.labelled * 99,
        "{score:?}"
    );
    assert!(score.label_equal * 100 >= score.lines * 99);
    assert!(score.sig_equal * 100 >= score.lines * 99);
    assert!(score.dist_equal * 100 >= score.lines * 99);
}

/// The same over every nDPI and Zeek capture of ../shared, when present
/// (`cargo test -p fingerprints --lib tcp_syn -- --ignored --nocapture`).
/// Expected logs are made on the fly by running `p0f -r`.
#[test]
#[ignore]
fn labels_agree_with_p0f_on_all_shared_captures() {
    let root = testing::capture("../../shared/captures");
    if !root.exists() {
        return;
    }
    let db = db();
    let mut score = Score::default();
    let mut stack = vec![root.join("ndpi/pcap"), root.join("zeek/Traces")];
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e == "pcap" || e == "pcapng" || e == "trace")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    let tmp = std::env::temp_dir().join(format!("mirador-p0f-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for (n, path) in files.iter().enumerate() {
        let log = tmp.join(format!("{n}.log"));
        let status = std::process::Command::new("p0f")
            .arg("-r")
            .arg(path)
            .arg("-o")
            .arg(&log)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if status.is_err() || !log.exists() {
            continue;
        }
        let rel_cap = path.strip_prefix(testing::capture("")).unwrap_or(path);
        let rel_cap = rel_cap.to_str().unwrap();
        let rel_log = log.to_str().unwrap();
        // frames() panics on captures pcap_parser cannot read; skip those.
        let ok = std::panic::catch_unwind(|| testing::frames(rel_cap)).is_ok();
        if ok {
            compare(&db, rel_cap, rel_log, &mut score);
        }
        let _ = std::fs::remove_file(&log);
    }
    for d in &score.disagreements {
        eprintln!("{d}");
    }
    eprintln!(
        "p0f lines {}: label equal {}, labelled {} (equal {}), raw_sig equal {}, dist equal {}, missing {}",
        score.lines,
        score.label_equal,
        score.labelled,
        score.labelled_equal,
        score.sig_equal,
        score.dist_equal,
        score.missing
    );
}

#[test]
fn loads_the_shipped_database() {
    let db = db();
    // 192 `sig` lines in the [tcp:*] sections of p0f 3.09b's p0f.fp.
    assert_eq!(db.len(), 192);
}

/// A Linux SYN (172.16.0.8 -> 64.13.134.52:443 style) built by hand:
/// MSS 1460, SACK, timestamps, NOP, window scale 7, DF with an IP id.
fn linux_syn() -> Vec<u8> {
    let mut p = vec![
        0x45, 0x00, 0x00, 0x3c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 10, 0, 0, 1, 10, 0,
        0, 2,
    ];
    p.extend_from_slice(&[
        0xc0, 0x00, 0x00, 0x50, // ports 49152 -> 80
        0x11, 0x22, 0x33, 0x44, // seq
        0, 0, 0, 0, // ack
        0xa0, 0x02, // 40-byte header, SYN
        0x72, 0x10, // window 29200 = 20 * 1460
        0, 0, 0, 0, // checksum, urgent pointer
        2, 4, 0x05, 0xb4, // mss 1460
        4, 2, // sok
        8, 10, 0, 0, 0, 1, 0, 0, 0, 0, // ts
        1, // nop
        3, 3, 7, // ws 7
    ]);
    p
}

#[test]
fn signature_of_a_linux_syn() {
    let sig = signature(&linux_syn()).unwrap().unwrap();
    assert_eq!(sig.direction, Direction::Syn);
    assert_eq!(
        sig.to_string(),
        "4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0"
    );
    let db = db();
    let m = db.classify(&sig).unwrap();
    assert_eq!(m.label.os(), "Linux 3.11 and newer");
    assert_eq!(m.label.text, "s:unix:Linux:3.11 and newer");
    assert_eq!(m.kind(), "exact");
    assert_eq!(m.distance, 0);

    let f = finding(&db, &linux_syn()).unwrap().unwrap();
    assert_eq!(f.event_type, "p0f");
    assert_eq!(f.about, About::Sender);
    let leaves: HashMap<String, String> = f
        .leaves()
        .into_iter()
        .map(|(k, v)| (k, v.to_string().trim_matches('"').to_string()))
        .collect();
    assert_eq!(leaves["os"], "Linux 3.11 and newer");
    assert_eq!(leaves["class"], "unix");
    assert_eq!(leaves["label"], "s:unix:Linux:3.11 and newer");
    assert_eq!(leaves["direction"], "syn");
    assert_eq!(leaves["match"], "exact");
    assert_eq!(leaves["distance"], "0");
    assert_eq!(
        leaves["signature"],
        "4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0"
    );
}

#[test]
fn fuzzy_generic_and_unknown() {
    let db = db();
    // Twelve hops further, still within p0f's 35: exact, distance 12.
    let mut p = linux_syn();
    p[8] = 52;
    let m = db
        .classify(&signature(&p).unwrap().unwrap())
        .map(|m| (m.kind(), m.distance));
    assert_eq!(m, Some(("exact", 12)));
    // ECN on the IP header is tolerated as fuzzy.
    let mut p = linux_syn();
    p[1] = 0x02;
    let sig = signature(&p).unwrap().unwrap();
    assert!(sig.to_string().ends_with(":df,id+,ecn:0"));
    let m = db.classify(&sig).unwrap();
    assert_eq!(
        (m.kind(), m.label.os().as_str()),
        ("fuzzy", "Linux 3.11 and newer")
    );
    // An option layout no signature knows: no OS, but the signature is
    // kept as evidence.
    let mut p = linux_syn();
    let n = p.len();
    p[n - 4..].copy_from_slice(&[1, 1, 1, 1]);
    let f = finding(&db, &p).unwrap().unwrap();
    assert!(f.fields.get("os").is_none(), "{f:?}");
    assert_eq!(
        f.fields["signature"],
        "4:64+0:0:1460:mss*20,0:mss,sok,ts,nop,nop,nop,nop:df,id+:0"
    );
    assert_eq!(f.fields["distance"], 0);
    // A generic label when nothing specific fits.
    let text = "classes = unix\n[tcp:request]\nlabel = g:unix:Linux:\n\
                sig = *:64:0:*:*,*:mss,sok,ts,nop,ws:df,id+:0\n";
    let small = P0fDatabase::load("t.fp", text).unwrap();
    let m = small
        .classify(&signature(&linux_syn()).unwrap().unwrap())
        .unwrap();
    assert_eq!((m.kind(), m.label.os().as_str()), ("generic", "Linux"));
}

#[test]
fn other_tcp_and_non_tcp_packets_give_none() {
    let mut ack = linux_syn();
    ack[33] = 0x10; // ACK only
    assert_eq!(signature(&ack), Ok(None));
    let mut udp = linux_syn();
    udp[9] = 17;
    assert_eq!(signature(&udp), Ok(None));
    let mut fragment = linux_syn();
    fragment[6] = 0x20; // more fragments
    assert_eq!(signature(&fragment), Ok(None));
}

#[test]
fn odd_options_become_quirks() {
    // Option walk stopped by an unknown option running past the header.
    let mut p = linux_syn();
    let n = p.len();
    p[n - 3..].copy_from_slice(&[30, 9, 0]);
    let sig = signature(&p).unwrap().unwrap();
    assert!(
        sig.to_string()
            .ends_with(":mss,sok,ts,nop,?30:df,id+,bad:0"),
        "{sig}"
    );
    // Window scale over 14, then EOL.
    let mut p = linux_syn();
    p[n - 4..].copy_from_slice(&[3, 3, 15, 0]);
    let sig = signature(&p).unwrap().unwrap();
    assert_eq!(sig.options[..], [2, 4, 8, 3, 0]);
    assert!(
        sig.to_string()
            .ends_with(":mss,sok,ts,ws,eol+0:df,id+,exws:0"),
        "{sig}"
    );
    // EOL followed by non-zero padding.
    let mut p = linux_syn();
    p[n - 4..].copy_from_slice(&[0, 0, 5, 0]);
    let sig = signature(&p).unwrap().unwrap();
    assert!(
        sig.to_string().ends_with(":mss,sok,ts,eol+3:df,id+,opt+:0"),
        "{sig}"
    );
    // Payload on a SYN, PSH and URG flags, zero sequence number.
    let mut p = linux_syn();
    p[2..4].copy_from_slice(&62u16.to_be_bytes());
    p[24..28].copy_from_slice(&[0; 4]);
    p[33] = 0x02 | 0x08 | 0x20;
    p.extend_from_slice(b"hi");
    let sig = signature(&p).unwrap().unwrap();
    assert!(
        sig.to_string().ends_with(":df,id+,seq-,urgf+,pushf+:+"),
        "{sig}"
    );
}

#[test]
fn database_errors_name_file_and_line() {
    let e = P0fDatabase::load(
        "my.fp",
        "classes = unix\n[tcp:request]\nlabel = s:unix:X:1\nsig = 4:64:0:*:*,*:mss:bogus:0\n",
    )
    .unwrap_err();
    assert_eq!((e.source_name.as_str(), e.line), ("my.fp", 4));
    assert!(e.to_string().contains("bogus"), "{e}");
    let e = P0fDatabase::load(
        "my.fp",
        "classes = unix\n[tcp:request]\nlabel = s:beos:X:1\n",
    )
    .unwrap_err();
    assert_eq!(e.line, 3);
    let e = P0fDatabase::load("my.fp", "[tcp:sideways]\n").unwrap_err();
    assert_eq!(e.line, 1);
    let e = P0fDatabase::load(
        "my.fp",
        "classes = unix\n[tcp:request]\nsig = 4:64:0:*:*,*:mss::0\n",
    )
    .unwrap_err();
    assert_eq!(e.line, 3);
    // [mtu] and [http:*] sections are skipped whatever they hold.
    let db = P0fDatabase::load(
        "my.fp",
        "[mtu]\nlabel = Ethernet\nsig = 1500\n[http:request]\nua_os = Linux\n",
    )
    .unwrap();
    assert!(db.is_empty());
}

#[test]
fn hostile_input_gives_errors_not_panics() {
    let syn = linux_syn();
    for cut in 0..syn.len() {
        assert!(signature(&syn[..cut]).is_err(), "cut at {cut}");
    }
    let db = db();
    // Pseudo-random bytes, with IPv4 and IPv6 version nibbles.
    let mut x: u32 = 0x1234_5678;
    for round in 0..20_000 {
        let len = (round % 120) as usize;
        let mut p: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        if let Some(first) = p.first_mut() {
            *first = if round % 2 == 0 { 0x45 } else { 0x60 };
        }
        if p.len() > 9 && round % 2 == 0 {
            p[9] = 6;
            let l = p.len() as u16;
            p[2..4].copy_from_slice(&l.to_be_bytes());
            p[6] &= 0xc0;
            if let Some(flags) = p.get_mut(33) {
                *flags = if round % 4 == 0 { 0x02 } else { 0x12 };
            }
        }
        if p.len() > 6 && round % 2 == 1 {
            p[6] = 6;
            let l = p.len().saturating_sub(40) as u16;
            p[4..6].copy_from_slice(&l.to_be_bytes());
            if let Some(flags) = p.get_mut(53) {
                *flags = 0x02;
            }
        }
        if let Ok(Some(sig)) = signature(&p) {
            let _ = sig.to_string();
            let _ = db.classify(&sig);
        }
    }
}
