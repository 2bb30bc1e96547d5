use super::*;
use crate::inventory::evidence::{EvidenceCaps, Statement};
use fingerprints::MacAddr;

const TAXONOMY: &str = "iot\t1\tIoT\niot/camera\t3\tCameras\niot/hub\t2\tHubs\nit\t2\tIT\n";
const RULES: &str = "\
mdns.services\tis\t_axis-video._tcp.local\tcategory\tiot/camera\t0.8\tAxis docs
http.server\tcontains\tcamera\tcategory\tiot/camera\t0.5\tweak
ssdp.st\tcontains\tbridge\tcategory\tiot/hub\t0.6\tUPnP
mdns.txt.md\tregex\t^(.+)$\tmodel\t$1\t0.9\tDNS-SD TXT
dhcp.hostname\tprefix\tandroid-\tos\tAndroid\t0.3\tAOSP
";

fn knowledge() -> KnowledgeBase {
    let mut kb = KnowledgeBase::default();
    kb.load_taxonomy("taxonomy.tsv", TAXONOMY).unwrap();
    kb.load_rules("rules.tsv", RULES).unwrap();
    kb
}

fn device(said: &[(&str, serde_json::Value)]) -> Device {
    let mut d = Device::new(MacAddr([2, 0, 0, 0, 0, 1]), None, Timestamp::from_secs(1));
    for (i, (field, value)) in said.iter().enumerate() {
        d.evidence.record(
            &Statement {
                protocol: "test",
                field,
                value,
                first: Timestamp::from_secs(10 + i as u64),
                last: Timestamp::from_secs(20 + i as u64),
                count: 1,
                flow_id: Some(i as u64),
            },
            EvidenceCaps {
                items: 64,
                values_per_field: 8,
            },
        );
    }
    d
}

#[test]
fn independent_hints_combine_and_each_is_a_reason() {
    let d = device(&[
        (
            "mdns.services",
            serde_json::json!(["_axis-video._tcp.local"]),
        ),
        ("http.server", serde_json::json!("Network Camera httpd")),
        ("mdns.txt.md", serde_json::json!("M3045-V")),
    ]);
    let c = classify(&d, &knowledge(), None);
    let category = c.get(Attribute::Category).unwrap();
    assert_eq!(category.label, "iot/camera");
    // 1 - (1 - 0.8)(1 - 0.5)
    assert_eq!(category.confidence, 0.9);
    let rules: Vec<&str> = category.reasons.iter().map(|r| r.rule.as_str()).collect();
    assert_eq!(rules, ["rules.tsv:1", "rules.tsv:2"]);
    assert_eq!(category.reasons[0].value, "_axis-video._tcp.local");
    assert_eq!(category.reasons[0].flow_id, Some(0));
    assert_eq!(c.label(Attribute::Model), Some("M3045-V"));
    assert_eq!(
        c.get(Attribute::Vendor),
        None,
        "no rule spoke of the vendor"
    );
}

#[test]
fn rival_categories_fall_back_to_their_common_parent() {
    let d = device(&[
        ("http.server", serde_json::json!("camera")),
        ("ssdp.st", serde_json::json!("urn:bridge")),
    ]);
    let category = classify(&d, &knowledge(), None)
        .get(Attribute::Category)
        .cloned()
        .unwrap();
    // camera 0.5 × 0.4 / (1 - 0.3) = 0.286 and hub 0.6 × 0.5 / 0.7 = 0.429
    // are both unsure; that it is an IoT device is not: 1 - 0.5 × 0.4 = 0.8.
    assert_eq!(category.label, "iot");
    assert_eq!(category.confidence, 0.8);
    assert_eq!(category.reasons.len(), 2);
    let hub = category
        .candidates
        .iter()
        .find(|c| c.label == "iot/hub")
        .unwrap();
    assert_eq!((hub.support, hub.confidence), (0.6, 0.429));
}

#[test]
fn a_weak_hint_alone_gives_unknown_with_its_candidate() {
    let d = device(&[("dhcp.hostname", serde_json::json!("android-5e1f"))]);
    let os = classify(&d, &knowledge(), None)
        .get(Attribute::Os)
        .cloned()
        .unwrap();
    assert_eq!(os.label, UNKNOWN);
    assert_eq!(os.confidence, 0.3);
    assert_eq!(os.candidates[0].label, "Android");
    assert_eq!(os.reasons[0].field, "dhcp.hostname");
}

#[test]
fn a_device_without_matching_evidence_gets_no_verdicts() {
    let d = device(&[("dhcp.hostname", serde_json::json!("printer"))]);
    assert_eq!(classify(&d, &knowledge(), None), Classification::default());
}
