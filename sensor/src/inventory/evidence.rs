//! What a device was heard saying about itself, field by field: the raw
//! material of classification and trust. Each distinct (field, value) is one
//! item with when it was first and last said, how often, and in which flow.
//! Bounded per device and per field; the least recently said item goes
//! first, counted.

use serde::Serialize;

use crate::capture::Timestamp;

/// Caps of one device's evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvidenceCaps {
    pub items: usize,
    pub values_per_field: usize,
}

/// One thing a device said.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvidenceItem {
    /// The protocol (event type) that carried it: `tls`, `dhcp`, `lldp`.
    pub protocol: &'static str,
    /// The event field, dotted, protocol first: `tls.ja4`, `dhcp.hostname`.
    pub field: String,
    pub value: serde_json::Value,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Times it was said.
    pub count: u64,
    /// The flow it was last said in (none for frames outside IP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<u64>,
    /// A hash of (field, value): finding an item compares this first.
    #[serde(skip)]
    key: u64,
}

/// A device's evidence.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Evidence(
    Vec<EvidenceItem>,
    /// Bumped when a value is said for the first time: verdicts made at an
    /// older revision are stale.
    #[serde(skip)]
    u64,
);

/// One field's value as said `count` times between `first` and `last`,
/// last in flow `flow_id`.
pub struct Statement<'a> {
    pub protocol: &'static str,
    pub field: &'a str,
    pub value: &'a serde_json::Value,
    pub first: Timestamp,
    pub last: Timestamp,
    pub count: u64,
    pub flow_id: Option<u64>,
}

impl Evidence {
    pub fn iter(&self) -> impl Iterator<Item = &EvidenceItem> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Changes whenever a new value is recorded.
    pub fn revision(&self) -> u64 {
        self.1
    }

    /// Sorts by field, then by when first said: the order of the
    /// inventory document, the same whatever the number of workers.
    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            (a.field.as_str(), a.first_seen)
                .cmp(&(b.field.as_str(), b.first_seen))
                .then_with(|| a.value.to_string().cmp(&b.value.to_string()))
        });
    }

    /// The values said for `field`, in the order first heard.
    pub fn values<'e>(&'e self, field: &'e str) -> impl Iterator<Item = &'e serde_json::Value> {
        self.0
            .iter()
            .filter(move |i| i.field == field)
            .map(|i| &i.value)
    }

    /// Records a statement; returns how many items were evicted for it.
    pub fn record(&mut self, s: &Statement<'_>, caps: EvidenceCaps) -> u64 {
        let key = {
            use std::hash::{BuildHasher, Hash, Hasher};
            let mut h = foldhash::fast::FixedState::default().build_hasher();
            s.field.hash(&mut h);
            hash_value(s.value, &mut h);
            h.finish()
        };
        if let Some(item) = self
            .0
            .iter_mut()
            .find(|i| i.key == key && i.field == s.field && i.value == *s.value)
        {
            item.first_seen = item.first_seen.min(s.first);
            item.last_seen = item.last_seen.max(s.last);
            item.count += s.count;
            item.flow_id = s.flow_id.or(item.flow_id);
            return 0;
        }
        let mut evicted = 0;
        let same_field = self.0.iter().filter(|i| i.field == s.field).count();
        if same_field >= caps.values_per_field {
            evicted += self.evict_least_recent(|i| i.field == s.field);
        } else if self.0.len() >= caps.items {
            evicted += self.evict_least_recent(|_| true);
        }
        if caps.items > 0 && caps.values_per_field > 0 {
            self.1 += 1;
            self.0.push(EvidenceItem {
                protocol: s.protocol,
                field: s.field.to_string(),
                value: s.value.clone(),
                first_seen: s.first,
                last_seen: s.last,
                count: s.count,
                flow_id: s.flow_id,
                key,
            });
        }
        evicted
    }

    fn evict_least_recent(&mut self, among: impl Fn(&EvidenceItem) -> bool) -> u64 {
        let oldest = self
            .0
            .iter()
            .enumerate()
            .filter(|(_, i)| among(i))
            .min_by_key(|(_, i)| i.last_seen)
            .map(|(at, _)| at);
        match oldest {
            Some(at) => {
                self.0.remove(at);
                1
            }
            None => 0,
        }
    }
}

/// Feeds a JSON value to a hasher (serde_json's values do not hash).
pub fn hash_value(v: &serde_json::Value, h: &mut impl std::hash::Hasher) {
    use serde_json::Value;
    use std::hash::Hash;
    match v {
        Value::Null => 0u8.hash(h),
        Value::Bool(b) => b.hash(h),
        Value::Number(n) => n.as_f64().map(f64::to_bits).hash(h),
        Value::String(s) => s.hash(h),
        Value::Array(items) => items.iter().for_each(|i| hash_value(i, h)),
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            k.hash(h);
            hash_value(v, h);
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn say(e: &mut Evidence, field: &str, value: &str, secs: u64, caps: EvidenceCaps) -> u64 {
        let value = serde_json::Value::from(value);
        e.record(
            &Statement {
                protocol: "dhcp",
                field,
                value: &value,
                first: Timestamp::from_secs(secs),
                last: Timestamp::from_secs(secs),
                count: 1,
                flow_id: Some(7),
            },
            caps,
        )
    }

    const CAPS: EvidenceCaps = EvidenceCaps {
        items: 3,
        values_per_field: 2,
    };

    #[test]
    fn a_repeated_statement_is_one_item_with_its_times_and_count() {
        let mut e = Evidence::default();
        say(&mut e, "dhcp.hostname", "printer", 5, CAPS);
        let revision = e.revision();
        say(&mut e, "dhcp.hostname", "printer", 9, CAPS);
        assert_eq!(
            e.revision(),
            revision,
            "said again: nothing new to classify"
        );
        say(&mut e, "dhcp.hostname", "scanner", 9, CAPS);
        assert_ne!(e.revision(), revision, "a new value: verdicts are stale");
        let item = e.iter().next().unwrap();
        assert_eq!(
            (item.count, item.first_seen, item.last_seen),
            (2, Timestamp::from_secs(5), Timestamp::from_secs(9))
        );
        assert_eq!(e.len(), 2);
    }

    #[test]
    fn caps_evict_the_least_recently_said_and_count_it() {
        let mut e = Evidence::default();
        say(&mut e, "dhcp.hostname", "a", 1, CAPS);
        say(&mut e, "dhcp.hostname", "b", 2, CAPS);
        // A third hostname pushes out the oldest hostname, not other fields.
        assert_eq!(say(&mut e, "dhcp.hostname", "c", 3, CAPS), 1);
        let names: Vec<_> = e.values("dhcp.hostname").collect();
        assert_eq!(names, ["b", "c"]);
        say(&mut e, "dhcp.vendor_class_identifier", "x", 4, CAPS);
        assert_eq!(say(&mut e, "tls.sni", "y", 5, CAPS), 1);
        assert_eq!(e.len(), 3);
        assert!(e.values("dhcp.hostname").eq(["c"].iter()));
    }
}
