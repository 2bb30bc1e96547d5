//! The behavioural model's side of a verdict: a device as a feature vector
//! (`profile`), and the forest's votes with the features behind them
//! (`votes`), which `classify` fuses with the knowledge base's.

use classifiers::features::{DeviceProfile, SynTraits, feature_name};
use classifiers::{Model, Prediction};
use fingerprints::kb::{Attribute, Taxonomy};
use serde_json::Value;

use crate::inventory::Device;
use crate::inventory::is_local_network;

/// Evidence fields whose text names what the device is (its tokens feed
/// the `identity` features). Fields that identify one unit (MAC, UUID,
/// serial, client id) are never read.
const IDENTITY_FIELDS: [&str; 9] = [
    "dhcp.hostname",
    "dhcp.vendor_class_identifier",
    "http.http_user_agent",
    "http.server",
    "ssdp.server",
    "ssdp.user_agent",
    "ssdp.x_user_agent",
    "mdns.hostnames",
    "mdns.instances",
];
/// Protocols whose string fields all describe the device (LLDP system
/// description, SNMP sysDescr, an ENIP product name ...).
const IDENTITY_PROTOCOLS: [&str; 10] = [
    "lldp", "cdp", "snmp", "upnp", "ssh", "enip", "bacnet", "s7", "modbus", "profinet",
];
/// Words in a field name that mark a unit's own identifier.
const UNIT_IDS: [&str; 8] = [
    "mac",
    "uuid",
    "usn",
    "serial",
    "client_id",
    "address",
    "_ip",
    "chassis",
];
/// Names it resolved or announced (`name` features).
const NAME_FIELDS: [&str; 9] = [
    "dns.rrname",
    "mdns.rrname",
    "mdns.queries",
    "mdns.services",
    "tls.sni",
    "http.hostname",
    "quic.sni",
    "ssdp.nt",
    "ssdp.st",
];
/// Fingerprints taken whole (`fingerprint` features).
const FINGERPRINT_FIELDS: [&str; 6] = [
    "dhcp.fingerprint",
    "tls.ja4",
    "tls.ja3.hash",
    "p0f.signature",
    "http.header_order",
    "ssh.hassh",
];

/// What the model reads of `device`.
pub fn profile(device: &Device) -> DeviceProfile<'_> {
    let mut p = DeviceProfile {
        behaviour: device.behaviour.as_deref(),
        packets_sent: device.sent.packets,
        bytes_sent: device.sent.bytes,
        bytes_received: device.received.bytes,
        locally_administered: device.locally_administered,
        protocols: device.protocols.iter().map(|p| p.name()).collect(),
        ..DeviceProfile::default()
    };
    for (_, peer) in device.peers.iter() {
        if is_local_network(*peer) {
            p.local_peers += 1;
        } else {
            p.remote_peers += 1;
        }
    }
    if let Some(oui) = &device.oui {
        p.identity.push(&oui.organization);
    }
    for item in device.evidence.iter() {
        if !p.protocols.contains(&item.protocol) {
            p.protocols.push(item.protocol);
        }
        let field = item.field.as_str();
        let target = if NAME_FIELDS.contains(&field) {
            &mut p.names
        } else if FINGERPRINT_FIELDS.contains(&field) {
            if field == "p0f.signature" && p.syn.is_none() {
                p.syn = item.value.as_str().and_then(SynTraits::from_p0f);
            }
            &mut p.fingerprints
        } else if is_identity(item.protocol, field) {
            &mut p.identity
        } else {
            continue;
        };
        match &item.value {
            Value::String(s) => target.push(s),
            Value::Array(items) => target.extend(items.iter().filter_map(Value::as_str)),
            _ => {}
        }
    }
    p
}

fn is_identity(protocol: &str, field: &str) -> bool {
    let own_id = UNIT_IDS.iter().any(|w| field.contains(w));
    !own_id
        && (IDENTITY_FIELDS.contains(&field)
            || field.starts_with("mdns.txt.")
            || IDENTITY_PROTOCOLS.contains(&protocol))
}

/// The model's vote on one attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelVote {
    pub attribute: Attribute,
    pub label: String,
    /// The share of trees that voted for it.
    pub confidence: f64,
    /// Trees that voted, of all.
    pub trees: (usize, usize),
    /// The features the voting trees tested most: name, the device's
    /// value, what fed it (tokens of a hashed bucket), share of the tests.
    pub features: Vec<FeatureReason>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FeatureReason {
    pub name: String,
    pub value: f64,
    pub texts: Vec<String>,
    pub share: f64,
}

/// Features listed per model vote.
const TOP_FEATURES: usize = 3;

/// The model's votes for `device`, one per attribute it was trained on
/// (none below the model's confidence floor, and none for a device that
/// sent nothing: there is nothing to judge).
pub fn votes(model: &Model, device: &Device, taxonomy: &Taxonomy) -> Vec<ModelVote> {
    if device.sent.packets == 0 {
        return Vec::new();
    }
    let profile = profile(device);
    let x = profile.vector();
    let mut out = Vec::new();
    for (name, forest) in &model.attributes {
        let Some(attribute) = Attribute::parse(name) else {
            continue;
        };
        let Prediction { votes, features } = forest.predict(x.view());
        let Some(&(class, confidence)) = votes.first() else {
            continue;
        };
        let label = &forest.classes[class];
        if confidence < model.min_confidence
            || (attribute == Attribute::Category && !taxonomy.contains(label))
        {
            continue;
        }
        out.push(ModelVote {
            attribute,
            label: label.clone(),
            confidence,
            trees: (
                (confidence * forest.trees.len() as f64).round() as usize,
                forest.trees.len(),
            ),
            features: features
                .iter()
                .take(TOP_FEATURES)
                .map(|&(f, share)| FeatureReason {
                    name: feature_name(f),
                    value: x[f],
                    texts: profile.texts_of(f),
                    share,
                })
                .collect(),
        });
    }
    out
}
