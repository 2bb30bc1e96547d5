//! Devices get the right category, vendor and model from their evidence
//! alone, on real captures from sources the knowledge base was not written
//! from: a PLC answering S7 SZL reads, an EtherNet/IP adapter answering
//! ListIdentity, a BACnet building controller, Cisco switches sending LLDP
//! and CDP, a PROFINET IO device, an iMac announcing itself over mDNS.
//! Whatever the shipped rules become, these must hold.

use crate::support::{analyze, pcaps};

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
