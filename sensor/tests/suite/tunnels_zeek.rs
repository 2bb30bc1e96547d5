//! Tunnelled and tagged traffic (ERSPAN, GRE, PPTP, VXLAN, PPPoE, MPLS,
//! QinQ) against Zeek's connection logs: the inner conversations, with the
//! packets Zeek counts in each direction.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use crate::support::{analyze, flows_by_id, pcaps};

struct Conn {
    proto: String,
    orig: (IpAddr, u16),
    resp: (IpAddr, u16),
    orig_pkts: u64,
    resp_pkts: u64,
}

/// The conversations of a Zeek `conn.log`, without the tunnels themselves
/// (connections other connections name as their tunnel parents, or whose
/// service is a tunnel). ICMP is summed per address pair, as mirador keeps
/// it (Zeek splits it by message type).
fn zeek_conns(log: &str) -> Vec<Conn> {
    let mut fields: Vec<&str> = Vec::new();
    let mut rows: Vec<HashMap<&str, &str>> = Vec::new();
    for line in log.lines() {
        if let Some(f) = line.strip_prefix("#fields\t") {
            fields = f.split('\t').collect();
        } else if !line.starts_with('#') && !line.is_empty() {
            rows.push(fields.iter().copied().zip(line.split('\t')).collect());
        }
    }
    let parents: HashSet<&str> = rows
        .iter()
        .filter_map(|r| r.get("tunnel_parents"))
        .flat_map(|p| p.split(','))
        .collect();
    let tunnel_services = ["vxlan", "gre", "ayiya", "teredo", "gtpv1", "geneve"];
    let conns = rows
        .iter()
        .filter(|r| !parents.contains(r["uid"]))
        .filter(|r| {
            !r.get("service")
                .is_some_and(|s| s.split(',').any(|s| tunnel_services.contains(&s)))
        })
        .filter_map(|r| {
            let icmp = r["proto"] == "icmp";
            // Zeek keeps ICMP type and code in the port fields; mirador's
            // ICMP flows are per address pair, ports zero.
            let port = |k: &str| if icmp { Some(0) } else { r[k].parse().ok() };
            Some(Conn {
                proto: r["proto"].to_string(),
                orig: (r["id.orig_h"].parse().ok()?, port("id.orig_p")?),
                resp: (r["id.resp_h"].parse().ok()?, port("id.resp_p")?),
                orig_pkts: r["orig_pkts"].parse().ok()?,
                resp_pkts: r["resp_pkts"].parse().ok()?,
            })
        });
    let mut merged: Vec<Conn> = Vec::new();
    for c in conns {
        let same_pair = |m: &&mut Conn| m.proto == c.proto && m.proto == "icmp";
        match merged
            .iter_mut()
            .find(|m| same_pair(m) && m.orig == c.orig && m.resp == c.resp)
        {
            Some(m) => {
                m.orig_pkts += c.orig_pkts;
                m.resp_pkts += c.resp_pkts;
            }
            None => match merged
                .iter_mut()
                .find(|m| same_pair(m) && m.orig == c.resp && m.resp == c.orig)
            {
                Some(m) => {
                    m.orig_pkts += c.resp_pkts;
                    m.resp_pkts += c.orig_pkts;
                }
                None => merged.push(c),
            },
        }
    }
    merged
}

#[test]
fn inner_conversations_match_zeek() {
    let dir = pcaps().join("zeek");
    let mut compared = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(dir.join("baseline")).expect("zeek baselines") {
        let log = entry.expect("entry").path();
        let file_name = log.file_name().unwrap_or_default().to_string_lossy();
        // The directory also holds other logs (x509.log, for certificates).
        let Some(name) = file_name.strip_suffix(".conn.log").map(str::to_string) else {
            continue;
        };
        let run = analyze(&[dir.join(format!("{name}.pcap"))], &["--quiet"]);
        let flows = flows_by_id(&run);
        for conn in zeek_conns(&std::fs::read_to_string(&log).expect("conn.log")) {
            compared += 1;
            let proto = if conn.proto == "icmp" {
                if conn.orig.0.is_ipv4() {
                    "ICMP"
                } else {
                    "IPv6-ICMP"
                }
            } else {
                &conn.proto
            };
            let id = crate::support::flow_id(proto, conn.orig, conn.resp);
            let found = flows.get(&id).is_some_and(|list| {
                list.iter().any(|(client, c)| {
                    let (o, r) = if *client == conn.orig {
                        (c.pkts_from, c.pkts_to)
                    } else {
                        (c.pkts_to, c.pkts_from)
                    };
                    (o, r) == (conn.orig_pkts, conn.resp_pkts)
                })
            });
            if !found {
                failures.push(format!(
                    "{name}: {} {:?} -> {:?} Zeek {}/{} packets, mirador {:?}",
                    conn.proto,
                    conn.orig,
                    conn.resp,
                    conn.orig_pkts,
                    conn.resp_pkts,
                    flows.get(&id)
                ));
            }
        }
    }
    assert!(compared >= 15, "only {compared} conversations compared");
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn erspan_and_vxlan_reveal_the_mirrored_devices() {
    // The mirrored frames' MACs are the devices, not the tunnel endpoints'.
    for (capture, tunnel) in [("erspanII.pcap", "erspan"), ("vxlan.pcap", "vxlan")] {
        let run = analyze(&[pcaps().join("zeek").join(capture)], &["--quiet"]);
        let flow = run
            .flows()
            .find(|f| f["tunnel"] == tunnel)
            .expect("a tunnelled flow");
        let inner_mac = flow["src_mac"].as_str().expect("inner source MAC");
        assert!(
            run.device(inner_mac).is_some(),
            "{capture}: {inner_mac} not a device"
        );
        assert!(flow["src_ip"].as_str().is_some());
    }
}
