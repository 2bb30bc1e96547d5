use super::*;
use serde_json::json;

const TAXONOMY: &str = "# test\nit\t2\tIT\nit/printer\t3\tPrinters\niot\t1\tIoT\n";

fn kb(rules: &str) -> Result<KnowledgeBase, DataError> {
    let mut kb = KnowledgeBase::default();
    kb.load_taxonomy("t.tsv", TAXONOMY)?;
    kb.load_rules("r.tsv", rules)?;
    Ok(kb)
}

fn labels(kb: &KnowledgeBase, field: &str, value: serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    kb.votes(field, &value, &mut out);
    out.into_iter().map(|v| v.label).collect()
}

#[test]
fn the_shipped_knowledge_base_loads_and_every_category_has_its_parent() {
    let kb = KnowledgeBase::builtin().unwrap();
    assert!(kb.len() > 200, "only {} rules", kb.len());
    for c in kb.taxonomy.iter() {
        for ancestor in Taxonomy::lineage(&c.path) {
            assert!(
                kb.taxonomy.contains(ancestor),
                "{} lacks {ancestor}",
                c.path
            );
        }
    }
    for top in ["it", "iot", "ot", "medical", "network"] {
        assert!(kb.taxonomy.contains(top), "{top}");
    }
}

#[test]
fn every_shipped_rule_file_is_built_in() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/kb/rules");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut built_in: Vec<String> = BUILTIN_RULES.iter().map(|(n, _)| n.to_string()).collect();
    built_in.sort();
    assert_eq!(on_disk, built_in);
}

#[test]
fn operators_match_case_insensitively_and_lists_match_by_item() {
    let kb = kb(
        "mdns.services\tis\t_ipp._tcp.local\tcategory\tit/printer\t0.9\tRFC 6763\n\
                 dhcp.vendor_class_identifier\tprefix\tMSFT\tos\tWindows\t0.8\tMicrosoft\n\
                 http.server\tcontains\tipbridge\tvendor\tPhilips\t0.9\tvendor docs\n",
    )
    .unwrap();
    assert_eq!(
        labels(
            &kb,
            "mdns.services",
            json!(["_http._tcp.local", "_IPP._tcp.local"])
        ),
        ["it/printer"]
    );
    assert!(labels(&kb, "mdns.services", json!("_ipp._tcp.local.x")).is_empty());
    assert_eq!(
        labels(&kb, "dhcp.vendor_class_identifier", json!("msft 5.0")),
        ["Windows"]
    );
    assert_eq!(
        labels(&kb, "http.server", json!("Linux UPnP/1.0 IpBridge/1.9")),
        ["Philips"]
    );
    assert!(
        labels(&kb, "ssdp.server", json!("IpBridge")).is_empty(),
        "other field"
    );
}

#[test]
fn a_regex_label_takes_its_capture_groups() {
    let kb = kb("mdns.txt.md\tregex\t^(.+)$\tmodel\t$1\t0.9\tDNS-SD TXT\n").unwrap();
    let mut out = Vec::new();
    kb.votes("mdns.txt.md", &json!("Chromecast Ultra"), &mut out);
    assert_eq!(out[0].label, "Chromecast Ultra");
    assert_eq!(out[0].text, "Chromecast Ultra");
    assert_eq!(out[0].rule.origin, "r.tsv:1");
}

#[test]
fn a_regex_without_captures_in_its_label_votes_its_label_as_written() {
    let kb = kb(
        "dhcp.vendor_class_identifier\tregex\t^dhcpcd[- ]([0-9.]+)$\tos\tLinux\t0.45\tdhcpcd(8)\n\
         http.server\tregex\tprinter\tcategory\tit/printer\t0.6\tvendor docs\n",
    )
    .unwrap();
    assert_eq!(
        labels(&kb, "dhcp.vendor_class_identifier", json!("DHCPCD-5.5.6")),
        ["Linux"]
    );
    assert!(labels(&kb, "dhcp.vendor_class_identifier", json!("dhcpcd-x")).is_empty());
    assert_eq!(
        labels(&kb, "http.server", json!(["nginx", "HP PRINTER server"])),
        ["it/printer"]
    );
}

#[test]
fn a_later_rule_with_the_same_key_replaces_the_earlier_and_weight_zero_silences_it() {
    let mut kb = kb("dhcp.hostname\tprefix\tandroid-\tos\tAndroid\t0.7\tAOSP\n").unwrap();
    kb.load_rules(
        "user.tsv",
        "dhcp.hostname\tprefix\tandroid-\tos\tAndroid\t0\tnot on our network\n",
    )
    .unwrap();
    assert_eq!(kb.len(), 1);
    assert!(labels(&kb, "dhcp.hostname", json!("android-1234")).is_empty());
}

#[test]
fn errors_name_the_file_and_line() {
    let cases = [
        ("x\tis\ty\tcategory\tit/printer\t0.5\n", "7 tab-separated"),
        (
            "# c\nx\tis\ty\tcategory\tit/printer\t0.5\ts\n\nx\tlike\ty\tos\tz\t0.5\ts\n",
            "r.tsv:4: unknown operator",
        ),
        ("x\tis\ty\tcolour\tz\t0.5\ts\n", "unknown attribute"),
        ("x\tis\ty\tos\tz\t1.5\ts\n", "r.tsv:1: weight"),
        ("x\tregex\t(\tos\tz\t0.5\ts\n", "bad regex"),
        (
            "x\tis\ty\tcategory\tot/plc\t0.5\ts\n",
            "not in the taxonomy",
        ),
    ];
    for (rules, expected) in cases {
        let e = kb(rules).unwrap_err().to_string();
        assert!(e.contains(expected), "{e:?} lacks {expected:?}");
    }
    let mut taxonomy = Taxonomy::default();
    let e = taxonomy
        .load("t.tsv", "iot/camera\t2\tCameras\n")
        .unwrap_err();
    assert_eq!(e.line, 1);
    assert!(e.message.contains("before its parent"), "{e}");
    let e = taxonomy.load("t.tsv", "iot\t9\tIoT\n").unwrap_err();
    assert!(e.message.contains("criticality"), "{e}");
}

#[test]
fn hostile_values_are_read_boundedly() {
    let kb = kb("x\tcontains\ta\tos\tz\t0.5\ts\n").unwrap();
    let deep = (0..100).fold(json!("a"), |v, _| json!([v]));
    assert!(
        labels(&kb, "x", deep).is_empty(),
        "nested lists are not read"
    );
    let long = json!(vec!["b"; 100_000]);
    assert!(labels(&kb, "x", long).is_empty());
}
