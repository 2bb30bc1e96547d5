//! A model file: one forest per labelled attribute (`type`, `category`,
//! `vendor` ...), with a header that says what made it and what it reads.
//! JSON, so it diffs and can be inspected; the format is in
//! docs/classification.md ("The model").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::features::{LEN, SCHEMA_VERSION};
use crate::forest::{Forest, Node};

pub const FORMAT: &str = "mirador-model";
pub const FORMAT_VERSION: u32 = 1;
/// The library that grew the trees, pinned in Cargo.toml.
pub const TRAINER: &str = "smartcore 0.7.0";

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("not a model file: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not a mirador model (format {0:?})")]
    Format(String),
    #[error("model format version {found}, this build reads {FORMAT_VERSION}")]
    Version { found: u32 },
    #[error(
        "the model reads features {found:?}, this build makes {SCHEMA_VERSION:?}: train it again"
    )]
    Schema { found: String },
    #[error("attribute {attribute}, tree {tree}: {problem}")]
    Tree {
        attribute: String,
        tree: usize,
        problem: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub format: String,
    pub version: u32,
    /// The feature schema the forests read.
    pub schema: String,
    pub trainer: String,
    /// What it was trained on, for people.
    pub trained_on: String,
    /// Below this share of votes the model abstains (`unknown`).
    pub min_confidence: f64,
    pub attributes: BTreeMap<String, Forest>,
}

impl Model {
    pub fn new(
        trained_on: String,
        min_confidence: f64,
        attributes: BTreeMap<String, Forest>,
    ) -> Model {
        Model {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            schema: SCHEMA_VERSION.into(),
            trainer: TRAINER.into(),
            trained_on,
            min_confidence,
            attributes,
        }
    }

    /// Reads and checks a model file: header, and every tree's references
    /// (so that a prediction never reads out of bounds).
    pub fn from_json(text: &str) -> Result<Model, ModelError> {
        let model: Model = serde_json::from_str(text)?;
        if model.format != FORMAT {
            return Err(ModelError::Format(model.format));
        }
        if model.version != FORMAT_VERSION {
            return Err(ModelError::Version {
                found: model.version,
            });
        }
        if model.schema != SCHEMA_VERSION {
            return Err(ModelError::Schema {
                found: model.schema,
            });
        }
        for (attribute, forest) in &model.attributes {
            for (t, tree) in forest.trees.iter().enumerate() {
                let problem = tree.iter().find_map(|node| match *node {
                    Node::Leaf(c) if usize::from(c) >= forest.classes.len() => {
                        Some("leaf names no class")
                    }
                    Node::Split(f, ..) if usize::from(f) >= LEN => Some("split on no feature"),
                    Node::Split(_, _, yes, no)
                        if yes as usize >= tree.len() || no as usize >= tree.len() =>
                    {
                        Some("child out of the tree")
                    }
                    _ => None,
                });
                if let Some(problem) = problem.or(tree.is_empty().then_some("empty tree")) {
                    return Err(ModelError::Tree {
                        attribute: attribute.clone(),
                        tree: t,
                        problem,
                    });
                }
            }
        }
        Ok(model)
    }

    /// Indented JSON with one tree per line: a retrained model diffs by
    /// tree, not as one changed line.
    pub fn to_json(&self) -> String {
        let mut skeleton = self.clone();
        let mut trees = Vec::new();
        for (name, forest) in &mut skeleton.attributes {
            for (i, tree) in std::mem::take(&mut forest.trees).into_iter().enumerate() {
                forest.trees.push(vec![Node::Leaf(0)]);
                trees.push((format!("\"@{name}/{i}@\""), tree));
            }
        }
        // A model is plain data: serialising it cannot fail.
        let mut value = serde_json::to_value(&skeleton).unwrap_or_default();
        for forest in value["attributes"]
            .as_object_mut()
            .into_iter()
            .flat_map(|a| a.iter_mut())
        {
            let name = forest.0.clone();
            if let Some(list) = forest.1["trees"].as_array_mut() {
                for (i, tree) in list.iter_mut().enumerate() {
                    *tree = serde_json::Value::String(format!("@{name}/{i}@"));
                }
            }
        }
        let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
        for (placeholder, tree) in trees {
            let compact = serde_json::to_string(&tree).unwrap_or_default();
            text = text.replacen(&placeholder, &compact, 1);
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forest::ForestParams;

    fn model(tree: Vec<Node>) -> String {
        let forest = Forest {
            classes: vec!["plug".into(), "camera".into()],
            params: ForestParams::default(),
            trees: vec![tree],
        };
        Model::new(
            "test".into(),
            0.5,
            BTreeMap::from([("type".into(), forest)]),
        )
        .to_json()
    }

    #[test]
    fn round_trips_and_rejects_bad_trees() {
        let good = model(vec![
            Node::Split(3, 0.5, 1, 2),
            Node::Leaf(0),
            Node::Leaf(1),
        ]);
        assert_eq!(
            Model::from_json(&good).unwrap().attributes["type"].trees[0].len(),
            3
        );
        assert!(
            good.contains("\n        [{\"split\":[3,0.5,1,2]},{\"leaf\":0},{\"leaf\":1}]\n"),
            "{good}"
        );
        for (tree, problem) in [
            (vec![Node::Leaf(2)], "leaf names no class"),
            (
                vec![Node::Split(LEN as u16, 0.5, 0, 0)],
                "split on no feature",
            ),
            (
                vec![Node::Split(1, 0.5, 1, 9), Node::Leaf(0)],
                "child out of the tree",
            ),
            (vec![], "empty tree"),
        ] {
            let e = Model::from_json(&model(tree)).unwrap_err();
            assert!(e.to_string().ends_with(problem), "{e}");
        }
        let old = good.replace(SCHEMA_VERSION, "device/0");
        assert!(matches!(
            Model::from_json(&old),
            Err(ModelError::Schema { .. })
        ));
        assert!(matches!(Model::from_json("{}"), Err(ModelError::Json(_))));
    }
}
