//! The knowledge-base loaders, `KnowledgeBase::load_taxonomy` and
//! `load_rules`, on any text, then `votes` with values taken from it.
//!
//! Input: text (UTF-8, lossy). With a NUL character in it, the part before
//! the first NUL is a taxonomy file and the part after a rules file;
//! without one, the whole text is both. The taxonomy is loaded into an
//! empty knowledge base and over the shipped taxonomy; the rules over the
//! shipped taxonomy and over the fuzzed taxonomy when it loaded. Every
//! knowledge base that loaded, and the whole shipped one (on fewer values),
//! then votes on the fields the rules text names (and a few shipped ones)
//! with values made from the text's columns. Errors are expected; panics
//! and hangs are bugs.
//!
//! The rules are not loaded over the whole shipped knowledge base: cloning
//! its 1,700 rules, and a fresh regex cache for each one that votes, cost
//! more than the rest of the target.

#![no_main]

use std::hint::black_box;
use std::sync::OnceLock;

use fingerprints::kb::{self, Attribute, KnowledgeBase, Taxonomy};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

/// Fields voted on, at most.
const MAX_FIELDS: usize = 8;
/// Lines of the rules text that values are made from, at most.
const MAX_LINES: usize = 8;
/// Values voted on by the whole shipped knowledge base, at most.
const SHIPPED_VALUES: usize = 4;
/// Characters of the whole rules text voted on as one value.
const MAX_TEXT: usize = 512;

/// Shipped fields always voted on: the largest rule sets and the ones
/// with capture-group labels.
const SHIPPED_FIELDS: [&str; 4] = [
    "oui.vendor",
    "tls.subject",
    "dhcp.vendor_class_identifier",
    "mdns.services",
];

/// The shipped taxonomy alone, and the whole shipped knowledge base.
fn shipped() -> &'static (KnowledgeBase, KnowledgeBase) {
    static SHIPPED: OnceLock<(KnowledgeBase, KnowledgeBase)> = OnceLock::new();
    SHIPPED.get_or_init(|| {
        let mut taxonomy = KnowledgeBase::default();
        taxonomy
            .load_taxonomy("builtin kb/taxonomy.tsv", kb::BUILTIN_TAXONOMY)
            .expect("shipped taxonomy");
        let all = KnowledgeBase::builtin().expect("shipped knowledge base");
        (taxonomy, all)
    })
}

/// The lines a loader reads: not blank, not a comment.
fn entries(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
}

/// Every category's ancestors are known, and its criticality is 1 to 5.
fn check_taxonomy(taxonomy: &Taxonomy) {
    for category in taxonomy.iter() {
        assert!((1..=5).contains(&category.criticality), "{category:?}");
        for ancestor in Taxonomy::lineage(&category.path) {
            assert!(taxonomy.contains(ancestor), "{category:?} lacks {ancestor}");
        }
        black_box(&category.description);
    }
}

fn load_rules(mut kb: KnowledgeBase, rules: &str) -> Option<KnowledgeBase> {
    let before = kb.len();
    match kb.load_rules("fuzz/rules.tsv", rules) {
        Ok(added) => {
            assert_eq!(added, entries(rules).count());
            assert!(kb.len() >= before && kb.len() <= before + added);
            Some(kb)
        }
        Err(e) => {
            black_box(e.to_string());
            None
        }
    }
}

fn vote(kb: &KnowledgeBase, fields: &[&str], values: &[Value]) {
    let mut votes = Vec::new();
    for &field in fields {
        for value in values {
            votes.clear();
            kb.votes(field, value, &mut votes);
            for v in &votes {
                assert_eq!(v.rule.field, field);
                assert!(v.rule.weight > 0.0 && v.rule.weight <= 1.0, "{:?}", v.rule);
                assert!(!v.label.is_empty(), "{:?}", v.rule);
                if v.rule.attribute == Attribute::Category && !v.rule.label.contains('$') {
                    assert!(kb.taxonomy.contains(&v.label), "{:?}", v.rule);
                }
                black_box((&v.text, &v.rule.origin, &v.rule.source));
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (taxonomy_text, rules_text) = text.split_once('\0').unwrap_or((&text, &text));
    let (shipped_taxonomy, shipped_all) = shipped();

    // The taxonomy, alone and over the shipped one.
    let mut own = KnowledgeBase::default();
    let own = match own.load_taxonomy("fuzz/taxonomy.tsv", taxonomy_text) {
        Ok(added) => {
            assert_eq!(added, entries(taxonomy_text).count());
            check_taxonomy(&own.taxonomy);
            Some(own)
        }
        Err(e) => {
            black_box(e.to_string());
            None
        }
    };
    let mut over = shipped_taxonomy.clone();
    if over
        .load_taxonomy("fuzz/taxonomy.tsv", taxonomy_text)
        .is_ok()
    {
        check_taxonomy(&over.taxonomy);
    }

    // The rules, over each valid taxonomy.
    let mut loaded = Vec::new();
    loaded.extend(load_rules(shipped_taxonomy.clone(), rules_text));
    if let Some(own) = own {
        loaded.extend(load_rules(own, rules_text));
    }

    // Fields and values from the rules text's columns: field, pattern,
    // label, and the whole line.
    let mut fields: Vec<&str> = SHIPPED_FIELDS.to_vec();
    let mut values: Vec<Value> = Vec::new();
    for line in entries(rules_text).take(MAX_LINES) {
        let columns: Vec<&str> = line.split('\t').collect();
        if fields.len() < MAX_FIELDS && !fields.contains(&columns[0]) {
            fields.push(columns[0]);
        }
        let pattern = columns.get(2).copied().unwrap_or(line);
        let pattern = pattern.trim_start_matches('^').trim_end_matches('$');
        values.push(json!(pattern));
        if let Some(label) = columns.get(4) {
            values.push(json!([label, line, pattern.len(), true]));
        }
        if let Ok(number) = pattern.parse::<f64>() {
            values.push(json!(number));
        }
    }
    values.truncate(MAX_LINES * 2);
    values.push(json!(rules_text.chars().take(MAX_TEXT).collect::<String>()));

    for kb in &loaded {
        vote(kb, &fields, &values);
    }
    // The shipped rules are fixed: a few values suffice (`oui.vendor` alone
    // has hundreds of rules).
    vote(
        shipped_all,
        &fields,
        &values[..values.len().min(SHIPPED_VALUES)],
    );
});
