//! One knowledge-base rule: `field op pattern attribute label weight source`.

use std::fmt;

/// The device attributes a verdict is given for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Attribute {
    Category,
    /// The product line as training labels name it (`TP-LinkPlugHS110`):
    /// what the behavioural model is usually trained to tell apart.
    Type,
    Vendor,
    Model,
    Os,
    Firmware,
}

impl Attribute {
    pub const ALL: [Attribute; 6] = [
        Attribute::Category,
        Attribute::Type,
        Attribute::Vendor,
        Attribute::Model,
        Attribute::Os,
        Attribute::Firmware,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Attribute::Category => "category",
            Attribute::Type => "type",
            Attribute::Vendor => "vendor",
            Attribute::Model => "model",
            Attribute::Os => "os",
            Attribute::Firmware => "firmware",
        }
    }

    pub fn parse(text: &str) -> Option<Attribute> {
        Attribute::ALL.into_iter().find(|a| a.name() == text)
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a rule's pattern is compared with a value, case-insensitively.
#[derive(Debug, Clone)]
enum Matcher {
    /// The whole value (patterns are kept lower-case).
    Is(String),
    Prefix(String),
    Contains(String),
    Regex(regex::Regex),
}

/// A rule: when evidence `field` has a value matching the pattern, the
/// device's `attribute` is `label`, with confidence `weight`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub field: String,
    matcher: Matcher,
    /// The pattern as written.
    pub pattern: String,
    pub attribute: Attribute,
    pub label: String,
    /// In [0, 1]: how strongly the evidence alone implies the label.
    pub weight: f64,
    /// The public fact the rule is written from.
    pub source: String,
    /// Where the rule was loaded from: `file:line`.
    pub origin: String,
}

impl PartialEq for Rule {
    fn eq(&self, other: &Rule) -> bool {
        self.origin == other.origin && self.same_key(other)
    }
}

impl Rule {
    /// Parses one line of a rules file.
    pub(super) fn parse(line: &str) -> Result<Rule, String> {
        let columns: Vec<&str> = line.split('\t').collect();
        let [field, op, pattern, attribute, label, weight, source] = columns[..] else {
            return Err(format!(
                "expected 7 tab-separated columns (field op pattern attribute label weight \
                 source), found {}",
                columns.len()
            ));
        };
        if field.is_empty() || pattern.is_empty() || label.is_empty() {
            return Err("field, pattern and label must not be empty".into());
        }
        let matcher = match op {
            "is" => Matcher::Is(pattern.to_lowercase()),
            "prefix" => Matcher::Prefix(pattern.to_lowercase()),
            "contains" => Matcher::Contains(pattern.to_lowercase()),
            "regex" => Matcher::Regex(
                regex::RegexBuilder::new(pattern)
                    .case_insensitive(true)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| format!("bad regex {pattern:?}: {e}"))?,
            ),
            other => {
                return Err(format!(
                    "unknown operator {other:?} (is, prefix, contains, regex)"
                ));
            }
        };
        let attribute = Attribute::parse(attribute).ok_or_else(|| {
            format!("unknown attribute {attribute:?} (category, vendor, model, os, firmware)")
        })?;
        let weight: f64 = weight
            .parse()
            .ok()
            .filter(|w: &f64| (0.0..=1.0).contains(w))
            .ok_or_else(|| format!("weight {weight:?} is not a number in [0, 1]"))?;
        Ok(Rule {
            field: field.to_string(),
            matcher,
            pattern: pattern.to_string(),
            attribute,
            label: label.to_string(),
            weight,
            source: source.to_string(),
            origin: String::new(),
        })
    }

    pub(super) fn from(mut self, source: &str, line: usize) -> Rule {
        let file = source.rsplit('/').next().unwrap_or(source);
        self.origin = format!("{file}:{line}");
        self
    }

    /// Two rules that would conclude from the same values about the same
    /// attribute: the later one replaces the earlier.
    pub(super) fn same_key(&self, other: &Rule) -> bool {
        self.field == other.field
            && self.pattern == other.pattern
            && self.attribute == other.attribute
            && std::mem::discriminant(&self.matcher) == std::mem::discriminant(&other.matcher)
    }

    pub(super) fn label_has_captures(&self) -> bool {
        matches!(self.matcher, Matcher::Regex(_)) && self.label.contains('$')
    }

    /// The label, when `text` (`lower` is it lower-cased) matches.
    pub fn apply(&self, text: &str, lower: &str) -> Option<String> {
        let matched = match &self.matcher {
            Matcher::Is(p) => lower == p,
            Matcher::Prefix(p) => lower.starts_with(p.as_str()),
            Matcher::Contains(p) => lower.contains(p.as_str()),
            // Capture groups are found only for a label that uses them: a
            // plain match is several times cheaper.
            Matcher::Regex(re) if !self.label_has_captures() => re.is_match(text),
            Matcher::Regex(re) => {
                let captures = re.captures(text)?;
                let mut label = String::new();
                captures.expand(&self.label, &mut label);
                let label = label.trim();
                return (!label.is_empty()).then(|| label.to_string());
            }
        };
        matched.then(|| self.label.clone())
    }
}
