//! The knowledge base: what a piece of evidence says about the device that
//! said it. Rules map an evidence field's value (an mDNS service type, a
//! DHCP vendor class, an OUI organisation) to a label of one attribute
//! (category, vendor, model, OS, firmware) with a weight; a taxonomy orders
//! the categories. Both are data files (`data/kb/`), documented in
//! `data/README.md`, loaded at start and extensible by users.

mod rule;
mod taxonomy;

use std::collections::HashMap;

pub use rule::{Attribute, Rule};
pub use taxonomy::{Category, Taxonomy};

use crate::DataError;

/// The taxonomy shipped with mirador.
pub const BUILTIN_TAXONOMY: &str = include_str!("../../data/kb/taxonomy.tsv");

/// The rule files shipped with mirador: (file name, text).
pub const BUILTIN_RULES: &[(&str, &str)] = &[
    ("oui.tsv", include_str!("../../data/kb/rules/oui.tsv")),
    ("dhcp.tsv", include_str!("../../data/kb/rules/dhcp.tsv")),
    ("dns.tsv", include_str!("../../data/kb/rules/dns.tsv")),
    (
        "hostname.tsv",
        include_str!("../../data/kb/rules/hostname.tsv"),
    ),
    ("mdns.tsv", include_str!("../../data/kb/rules/mdns.tsv")),
    ("ssdp.tsv", include_str!("../../data/kb/rules/ssdp.tsv")),
    ("http.tsv", include_str!("../../data/kb/rules/http.tsv")),
    ("tls.tsv", include_str!("../../data/kb/rules/tls.tsv")),
    ("p0f.tsv", include_str!("../../data/kb/rules/p0f.tsv")),
    ("ot.tsv", include_str!("../../data/kb/rules/ot.tsv")),
    ("snmp.tsv", include_str!("../../data/kb/rules/snmp.tsv")),
    (
        "lldp-cdp.tsv",
        include_str!("../../data/kb/rules/lldp-cdp.tsv"),
    ),
];

/// Rules indexed by the evidence field they read, and the taxonomy their
/// category labels must belong to.
#[derive(Debug, Clone, Default)]
pub struct KnowledgeBase {
    pub taxonomy: Taxonomy,
    rules: Vec<Rule>,
    by_field: HashMap<String, Vec<usize>>,
}

/// What one rule concluded from one value.
#[derive(Debug, Clone, PartialEq)]
pub struct Vote<'kb> {
    pub rule: &'kb Rule,
    /// The rule's label, with a regex's capture groups filled in.
    pub label: String,
    /// The text the rule matched (one item of a list value).
    pub text: String,
}

impl KnowledgeBase {
    /// The shipped taxonomy and rules.
    pub fn builtin() -> Result<KnowledgeBase, DataError> {
        let mut kb = KnowledgeBase::default();
        kb.load_taxonomy("builtin kb/taxonomy.tsv", BUILTIN_TAXONOMY)?;
        for (name, text) in BUILTIN_RULES {
            kb.load_rules(&format!("builtin kb/rules/{name}"), text)?;
        }
        Ok(kb)
    }

    /// Adds categories; returns how many.
    pub fn load_taxonomy(&mut self, source: &str, text: &str) -> Result<usize, DataError> {
        self.taxonomy.load(source, text)
    }

    /// Adds the rules of one file; returns how many. A rule with the same
    /// field, operator, pattern and attribute as an earlier one replaces it
    /// (weight 0 turns a shipped rule off). Category labels must be in the
    /// taxonomy loaded so far.
    pub fn load_rules(&mut self, source: &str, text: &str) -> Result<usize, DataError> {
        let mut added = 0;
        for (line_no, line) in crate::data_lines(text) {
            let rule = Rule::parse(line)
                .map_err(|message| DataError::new(source, line_no, message))?
                .from(source, line_no);
            if rule.attribute == Attribute::Category
                && !rule.label_has_captures()
                && !self.taxonomy.contains(&rule.label)
            {
                return Err(DataError::new(
                    source,
                    line_no,
                    format!("category {:?} is not in the taxonomy", rule.label),
                ));
            }
            let same = self.by_field.get(&rule.field).and_then(|at| {
                at.iter()
                    .copied()
                    .find(|&i| self.rules.get(i).is_some_and(|r| r.same_key(&rule)))
            });
            match same.and_then(|i| self.rules.get_mut(i)) {
                Some(slot) => *slot = rule,
                None => {
                    self.by_field
                        .entry(rule.field.clone())
                        .or_default()
                        .push(self.rules.len());
                    self.rules.push(rule);
                }
            }
            added += 1;
        }
        Ok(added)
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Every rule that matches `value` of evidence field `field` (a list
    /// matches when one of its items does). Rules of weight 0 never vote.
    pub fn votes<'kb>(&'kb self, field: &str, value: &serde_json::Value, out: &mut Vec<Vote<'kb>>) {
        let Some(candidates) = self.by_field.get(field) else {
            return;
        };
        let mut texts = Vec::new();
        collect_texts(value, &mut texts);
        // Each text lower-cased once, not once per rule (`oui.vendor` alone
        // has hundreds).
        let texts: Vec<(String, String)> = texts
            .into_iter()
            .map(|t| {
                let lower = t.to_lowercase();
                (t, lower)
            })
            .collect();
        for &i in candidates {
            let Some(rule) = self.rules.get(i).filter(|r| r.weight > 0.0) else {
                continue;
            };
            if let Some((text, label)) = texts
                .iter()
                .find_map(|(t, lower)| rule.apply(t, lower).map(|label| (t, label)))
            {
                out.push(Vote {
                    rule,
                    label,
                    text: text.clone(),
                });
            }
        }
    }
}

/// The texts a value offers to rules: a string, a number as written, or
/// the items of a list.
fn collect_texts(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Number(n) => out.push(n.to_string()),
        serde_json::Value::Bool(b) => out.push(b.to_string()),
        // Lists of scalars; a hostile list is read no further than 64 items.
        serde_json::Value::Array(items) => items
            .iter()
            .take(64)
            .filter(|i| !i.is_array())
            .for_each(|i| collect_texts(i, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
