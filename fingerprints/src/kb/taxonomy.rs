//! The category taxonomy: paths such as `ot/plc`, each under its parent,
//! with a criticality that ranks what a compromise of it would cost.

use crate::DataError;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Category {
    /// `iot/camera`: the parent is the path before the last `/`.
    pub path: String,
    /// 1 (a smart plug) to 5 (a PLC, an infusion pump).
    pub criticality: u8,
    pub description: String,
}

#[derive(Debug, Clone, Default)]
pub struct Taxonomy {
    categories: Vec<Category>,
}

impl Taxonomy {
    /// Adds the categories of a file (`category<TAB>criticality<TAB>description`);
    /// a parent must come before its children. A category already known is
    /// replaced. Returns how many were read.
    pub fn load(&mut self, source: &str, text: &str) -> Result<usize, DataError> {
        let mut added = 0;
        for (line_no, line) in crate::data_lines(text) {
            let err = |message: String| DataError::new(source, line_no, message);
            let [path, criticality, description] = line.split('\t').collect::<Vec<_>>()[..] else {
                return Err(err(
                    "expected 3 tab-separated columns (category criticality description)".into(),
                ));
            };
            let valid = !path.is_empty()
                && path.split('/').all(|part| {
                    !part.is_empty()
                        && part
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                });
            if !valid {
                return Err(err(format!(
                    "category {path:?}: lower-case words joined by '/' expected"
                )));
            }
            if let Some((parent, _)) = path.rsplit_once('/')
                && !self.contains(parent)
            {
                return Err(err(format!(
                    "category {path:?} comes before its parent {parent:?}"
                )));
            }
            let criticality = criticality
                .parse()
                .ok()
                .filter(|c| (1..=5).contains(c))
                .ok_or_else(|| err(format!("criticality {criticality:?} is not 1 to 5")))?;
            let category = Category {
                path: path.to_string(),
                criticality,
                description: description.to_string(),
            };
            match self.categories.iter_mut().find(|c| c.path == path) {
                Some(known) => *known = category,
                None => self.categories.push(category),
            }
            added += 1;
        }
        Ok(added)
    }

    pub fn contains(&self, path: &str) -> bool {
        self.get(path).is_some()
    }

    pub fn get(&self, path: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.path == path)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Category> {
        self.categories.iter()
    }

    /// `path` and its ancestors, nearest first: `iot/camera`, `iot`.
    pub fn lineage(path: &str) -> impl Iterator<Item = &str> {
        std::iter::successors(Some(path), |p| p.rsplit_once('/').map(|(parent, _)| parent))
    }
}
