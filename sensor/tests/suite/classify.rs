//! Devices get the right category, vendor and model from their evidence
//! alone, on real captures from sources the knowledge base was not written
//! from: a PLC answering S7 SZL reads, an EtherNet/IP adapter answering
//! ListIdentity, a BACnet building controller, Cisco switches sending LLDP
//! and CDP, a PROFINET IO device, an iMac announcing itself over mDNS;
//! and, one per kind of device, devices whose own traffic says what they
//! are (`SEEN`): each must get the category a security engineer would give
//! it, for the reason the evidence gives. Whatever the shipped rules
//! become, these must hold.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::support::{analyze, parallel, pcaps, shared};

/// (capture under pcaps/, device MAC, attribute, expected label or, for
/// categories, the expected path or one of its ancestors' children).
const CASES: &[(&str, &str, &str, &str)] = &[
    (
        "ics/s7/s7comm_reading_plc_status.pcap",
        "00:1b:1b:23:eb:3b",
        "category",
        "ot/plc",
    ),
    (
        "ics/s7/s7comm_reading_plc_status.pcap",
        "00:1b:1b:23:eb:3b",
        "vendor",
        "Siemens",
    ),
    (
        "ics/EthernetIP/enip_test.pcap",
        "00:19:07:24:3c:ca",
        "category",
        "ot",
    ),
    (
        "ics/BACnet/bacnet_test.pcap",
        "00:19:07:24:3c:ca",
        "category",
        "ot/building-controller",
    ),
    (
        "tcpdump/LLDP_and_CDP.pcap",
        "00:18:ba:98:68:8f",
        "category",
        "network/switch",
    ),
    (
        "tcpdump/LLDP_and_CDP.pcap",
        "00:18:ba:98:68:8f",
        "vendor",
        "Cisco",
    ),
    (
        "tcpdump/3560_CDP.pcap",
        "00:19:06:ea:b8:85",
        "category",
        "network/switch",
    ),
    (
        "ics/profinet/ChangeIPUsingDCP.pcap",
        "08:00:06:93:cf:32",
        "category",
        "ot",
    ),
    ("ndpi/iphone.pcap", "d8:30:62:56:00:1c", "vendor", "Apple"),
    ("ndpi/iphone.pcap", "d8:30:62:56:00:1c", "model", "iMac11,3"),
];

#[test]
fn devices_get_their_category_from_clear_evidence_on_real_captures() {
    let mut failures = Vec::new();
    for (capture, mac, attribute, expected) in CASES {
        let run = analyze(&[pcaps().join(capture)], &["--workers", "1"]);
        let Some(device) = run.device(mac) else {
            failures.push(format!("{capture}: no device {mac}"));
            continue;
        };
        let verdict = &device["classification"][attribute];
        let label = verdict["label"].as_str().unwrap_or("(none)");
        // A category verdict may be more specific than the case asks.
        let fits = label.eq_ignore_ascii_case(expected)
            || (*attribute == "category" && label.starts_with(&format!("{expected}/")));
        let reasons = verdict["reasons"].as_array().map_or(0, Vec::len);
        if !fits || reasons == 0 {
            failures.push(format!(
                "{capture} {mac}: {attribute} {label:?} ({reasons} reasons), expected {expected:?}: {verdict}"
            ));
            continue;
        }
        let confidence = verdict["confidence"].as_f64().unwrap_or(0.0);
        assert!(
            (0.5..=1.0).contains(&confidence),
            "{capture} {mac}: {attribute} confidence {confidence}"
        );
        for reason in verdict["reasons"].as_array().into_iter().flatten() {
            assert!(
                reason["rule"].as_str().is_some_and(|r| r.contains(".tsv:")),
                "a reason names its rule: {reason}"
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_users_rule_file_extends_the_knowledge_base_and_a_bad_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("kb/rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("site.tsv"),
        "# our lab's hostname convention\n\
         mdns.hostnames\tcontains\tqemu-virtual-machine\tcategory\tit/server\t0.9\tlab naming\n",
    )
    .unwrap();
    let fingerprints = dir.path().to_str().unwrap();
    let run = analyze(
        &[pcaps().join("zeek/mdns.pcap")],
        &["--fingerprints", fingerprints],
    );
    let vm = run.device("8a:3c:d6:e1:4d:c4").expect("the VM is a device");
    assert_eq!(vm["classification"]["category"]["label"], "it/server");
    assert_eq!(
        vm["classification"]["category"]["reasons"][0]["rule"],
        "site.tsv:2"
    );

    std::fs::write(
        rules.join("site.tsv"),
        "mdns.hostnames\tcontains\tx\tcategory\tit/toaster\t0.9\tnone\n",
    )
    .unwrap();
    let run = analyze(
        &[pcaps().join("zeek/mdns.pcap")],
        &["--fingerprints", fingerprints],
    );
    assert_eq!(run.code(), Some(1), "{}", run.stderr());
    assert!(
        run.stderr().contains("site.tsv:1") && run.stderr().contains("it/toaster"),
        "{}",
        run.stderr()
    );
}

/// A device whose identity is clear from what it says itself, in a capture
/// from a project the knowledge base was not written from.
struct Seen {
    /// The capture, under `pcaps/` (or, in `SHARED_SEEN`, under the shared
    /// corpus).
    capture: &'static str,
    mac: &'static str,
    /// What the device is, for failure messages.
    what: &'static str,
    /// The category expected, exactly.
    category: &'static str,
    /// The evidence field that makes the category clear: one of the
    /// verdict's reasons must cite it.
    because: &'static str,
    /// The vendor expected and the evidence field that names it, when the
    /// device's own traffic names its vendor.
    vendor: Option<(&'static str, &'static str)>,
}

const SEEN: &[Seen] = &[
    Seen {
        capture: "zeek/snmp/snmpv1_get.pcap",
        mac: "08:00:37:15:e6:bc",
        what: "a B6300 laser printer answering SNMP, its sysObjectID in Oki Data's enterprise arc",
        category: "it/printer",
        because: "snmp.sys_object_id",
        // Its MAC block is Fuji Xerox's, its sysObjectID OKI's: no vendor
        // is clear.
        vendor: None,
    },
    Seen {
        capture: "ndpi/android.pcap",
        mac: "4c:6a:f6:9f:f6:27",
        what: "a Nokia 2.2 browsing with Chrome for Android (Mobile Safari)",
        category: "it/phone",
        because: "http.http_user_agent",
        vendor: None,
    },
    Seen {
        capture: "ndpi/anyconnect-vpn.pcap",
        mac: "a4:77:33:8c:f1:40",
        what: "a Chromecast describing itself over DIAL (Eureka Dongle, Google Inc.)",
        category: "iot/streaming-stick",
        because: "http.upnp.model_name",
        vendor: Some(("Google", "http.upnp.manufacturer")),
    },
    Seen {
        capture: "ndpi/anyconnect-vpn.pcap",
        mac: "d8:31:34:20:77:fb",
        what: "a Roku Express (roku-com player device type, Roku SSDP server)",
        category: "it/media-player",
        because: "http.upnp.device_type",
        vendor: Some(("Roku", "ssdp.server")),
    },
    Seen {
        capture: "ndpi/telegram.pcap",
        mac: "78:28:ca:05:fa:cc",
        what: "a Sonos player announcing sonos<MAC>.local and Spotify Connect over mDNS",
        category: "iot/speaker",
        because: "mdns.hostnames",
        vendor: Some(("Sonos", "mdns.hostnames")),
    },
    Seen {
        capture: "ndpi/telegram.pcap",
        mac: "8c:fe:57:23:37:e4",
        what: "an iPad announcing Gabrieles-iPad.local over mDNS",
        category: "it/tablet",
        because: "mdns.hostnames",
        vendor: Some(("Apple", "mdns.hostnames")),
    },
    Seen {
        capture: "ndpi/telegram.pcap",
        mac: "d8:0d:17:d6:55:ab",
        what: "a TP-Link TL-SG116E switch naming its model in DHCP",
        category: "network/switch",
        because: "dhcp.vendor_class_identifier",
        vendor: Some(("TP-Link", "dhcp.vendor_class_identifier")),
    },
    Seen {
        capture: "ndpi/capwap.pcap",
        mac: "b8:38:61:f3:05:ac",
        what: "a Cisco Aironet 2600 access point sending CDP (cisco AIR-CAP2602I-Q-K9)",
        category: "network/access-point",
        because: "cdp.platform",
        vendor: Some(("Cisco", "cdp.platform")),
    },
    Seen {
        capture: "zeek/raw_packets.pcap",
        mac: "e8:de:27:ff:c0:78",
        what: "a TP-Link TL-WDR3600 announcing an InternetGatewayDevice over SSDP",
        category: "network/router",
        because: "ssdp.usn",
        vendor: Some(("TP-Link", "ssdp.server")),
    },
    Seen {
        capture: "arkime/wireshark-lldp.pcap",
        mac: "00:13:21:57:ca:7f",
        what: "an HP ProCurve 2600-8-PWR switch sending LLDP",
        category: "network/switch",
        because: "lldp.system_description",
        vendor: Some(("HP", "lldp.system_description")),
    },
    Seen {
        capture: "tcpdump/dhcpv6-vendor-specific-information.pcap",
        mac: "54:d4:6f:fa:10:9a",
        what: "a cable modem asking DHCPv6 with vendor class docsis3.0 (CableLabs)",
        category: "network/modem",
        because: "dhcpv6.vendor_class.data",
        vendor: None,
    },
    Seen {
        capture: "ics/profinet/Profinet_Failed.pcap",
        mac: "00:10:18:cb:8c:03",
        what: "a SCADA PC whose LLDP says Dell OptiPlex 990 + HMI",
        category: "ot/hmi",
        because: "lldp.system_description",
        vendor: Some(("Dell", "lldp.system_description")),
    },
    Seen {
        capture: "ics/profinet/profinet-wireshark-bug.pcap",
        mac: "00:02:e3:17:c7:50",
        what: "an S7-300 CPU answering a PROFINET DCP Identify (S7-300EC, IO controller)",
        category: "ot/plc",
        because: "profinet_dcp.type_of_station",
        vendor: Some(("Siemens", "profinet_dcp.vendor_name")),
    },
];

/// Devices of the shared corpus whose captures are too large to copy.
const SHARED_SEEN: &[Seen] = &[Seen {
    capture: "ics/pcaps/C37.118/C37118/c37_pmu_unclean.pcap",
    mac: "ec:e5:55:ea:39:3e",
    what: "a Hirschmann MAR switch sending LLDP beside a synchrophasor unit",
    category: "network/switch",
    because: "lldp.system_description",
    vendor: Some(("Hirschmann", "lldp.system_description")),
}];

/// Whether one of `verdict`'s reasons is evidence `field`.
fn cites(verdict: &Value, field: &str) -> bool {
    verdict["reasons"]
        .as_array()
        .is_some_and(|rs| rs.iter().any(|r| r["field"] == field))
}

/// What is wrong with each device's verdicts, reading each capture once.
fn check_seen(dir: &Path, cases: &[Seen]) -> Vec<String> {
    let mut by_capture: BTreeMap<&str, Vec<&Seen>> = BTreeMap::new();
    for case in cases {
        by_capture.entry(case.capture).or_default().push(case);
    }
    let captures: Vec<(&str, Vec<&Seen>)> = by_capture.into_iter().collect();
    let problems = parallel(&captures, |(capture, cases)| {
        let run = analyze(&[dir.join(capture)], &["--workers", "1"]);
        let mut problems = Vec::new();
        for case in cases {
            let at = format!("{capture} {} ({})", case.mac, case.what);
            let Some(device) = run.device(case.mac) else {
                problems.push(format!("{at}: not in the inventory"));
                continue;
            };
            let verdict = &device["classification"]["category"];
            let confidence = verdict["confidence"].as_f64().unwrap_or(0.0);
            if verdict["label"] != case.category || confidence < 0.5 {
                problems.push(format!(
                    "{at}: category {} at {confidence}, expected {}: {verdict}",
                    verdict["label"], case.category
                ));
            } else if !cites(verdict, case.because) {
                problems.push(format!(
                    "{at}: category {} without citing {}: {verdict}",
                    case.category, case.because
                ));
            }
            if let Some((vendor, because)) = case.vendor {
                let verdict = &device["classification"]["vendor"];
                let label = verdict["label"].as_str().unwrap_or("(none)");
                if !label.eq_ignore_ascii_case(vendor) || !cites(verdict, because) {
                    problems.push(format!(
                        "{at}: vendor {label:?}, expected {vendor:?} citing {because}: {verdict}"
                    ));
                }
            }
        }
        problems
    });
    problems.into_iter().flatten().collect()
}

#[test]
fn devices_of_every_kind_get_the_category_their_own_traffic_gives() {
    let kinds: std::collections::BTreeSet<&str> = SEEN.iter().map(|c| c.category).collect();
    assert!(kinds.len() >= 10, "kinds of device covered: {kinds:?}");
    let problems = check_seen(&pcaps(), SEEN);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn shared_devices_get_the_category_their_own_traffic_gives() {
    let test = "shared_devices_get_the_category_their_own_traffic_gives";
    let Some(shared) = shared(test) else {
        return;
    };
    let problems = check_seen(&shared, SHARED_SEEN);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
