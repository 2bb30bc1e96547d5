//! A random forest of smartcore decision trees, kept as plain split tables.
//!
//! smartcore grows the forest (CART trees, Gini, a bootstrap sample per
//! tree drawn class by class, a random subset of the features at each
//! split). Its forest gives no probabilities and hides its trees, but
//! serialises them: mirador reads each tree's splits out once, after
//! training. A prediction then walks plain tables without allocating, gives
//! the share of trees voting for each class (the confidence), and tells
//! which features the voting trees tested on the device's path (the
//! explanation).

use ndarray::{Array2, ArrayView1};
use serde::{Deserialize, Serialize};
use smartcore::ensemble::random_forest_classifier::{
    RandomForestClassifier, RandomForestClassifierParameters,
};

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("training needs at least two classes, got {0}")]
    TooFewClasses(usize),
    #[error("{rows} rows but {labels} labels")]
    Shape { rows: usize, labels: usize },
    #[error("smartcore could not grow a tree: {0}")]
    Tree(String),
    #[error("a smartcore tree had an unexpected shape: {0}")]
    Layout(String),
}

/// How the forest is grown.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    pub trees: usize,
    pub max_depth: u16,
    /// Share of the features drawn as candidates at each split.
    pub feature_share: f64,
    pub seed: u64,
}

impl Default for ForestParams {
    fn default() -> ForestParams {
        ForestParams {
            trees: 100,
            max_depth: 16,
            feature_share: 0.15,
            seed: 0x006d_6972_6164_6f72,
        }
    }
}

/// One node: a test `x[feature] <= threshold` (then `yes`, else `no`), or a
/// leaf naming a class by its index in the forest's classes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Node {
    Split(u16, f64, u32, u32),
    Leaf(u16),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forest {
    pub classes: Vec<String>,
    pub params: ForestParams,
    pub trees: Vec<Vec<Node>>,
}

/// The forest's answer for one device.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Classes by votes, most first: (class index, share of trees).
    pub votes: Vec<(usize, f64)>,
    /// Features the trees voting for the winner tested on the device's
    /// path: (feature index, share of those tests), most first.
    pub features: Vec<(usize, f64)>,
}

impl Prediction {
    pub fn best(&self) -> Option<(usize, f64)> {
        self.votes.first().copied()
    }
}

impl Forest {
    /// Grows a forest on rows `x` labelled `y` (indexes into `classes`).
    pub fn train(
        x: &Array2<f64>,
        y: &[usize],
        classes: Vec<String>,
        params: ForestParams,
    ) -> Result<Forest, TrainError> {
        let (rows, width) = x.dim();
        if rows != y.len() {
            return Err(TrainError::Shape {
                rows,
                labels: y.len(),
            });
        }
        let mut present: Vec<usize> = y.to_vec();
        present.sort_unstable();
        present.dedup();
        if present.len() < 2 {
            return Err(TrainError::TooFewClasses(present.len()));
        }
        let labels: Vec<u32> = y.iter().map(|c| *c as u32).collect();
        let split_candidates =
            ((width as f64 * params.feature_share).ceil() as usize).clamp(1, width);
        let forest = RandomForestClassifier::fit(
            x,
            &labels,
            RandomForestClassifierParameters {
                max_depth: Some(params.max_depth),
                min_samples_leaf: 1,
                min_samples_split: 2,
                n_trees: u16::try_from(params.trees).unwrap_or(u16::MAX),
                m: Some(split_candidates),
                seed: params.seed,
                ..Default::default()
            },
        )
        .map_err(|e| TrainError::Tree(e.to_string()))?;
        let value = serde_json::to_value(&forest).map_err(|e| TrainError::Layout(e.to_string()))?;
        let trees = value["trees"]
            .as_array()
            .ok_or_else(|| TrainError::Layout("no trees".into()))?
            .iter()
            .map(read_tree)
            .collect::<Result<_, _>>()?;
        Ok(Forest {
            classes,
            params,
            trees,
        })
    }

    /// Votes of the trees for `x`.
    pub fn predict(&self, x: ArrayView1<'_, f64>) -> Prediction {
        let mut votes = vec![0u32; self.classes.len()];
        // Each tree's path, walked once: (class, where its tests start).
        let mut tests: Vec<u16> = Vec::with_capacity(self.trees.len() * 12);
        let mut leaves: Vec<(usize, usize)> = Vec::with_capacity(self.trees.len());
        for tree in &self.trees {
            let start = tests.len();
            match walk(tree, x, |f| tests.push(f as u16)) {
                Some(class) if class < votes.len() => {
                    votes[class] += 1;
                    leaves.push((class, start));
                }
                _ => tests.truncate(start),
            }
        }
        let total = leaves.len().max(1) as f64;
        let mut ranked: Vec<(usize, f64)> = votes
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(c, n)| (c, f64::from(*n) / total))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut tested = vec![0u32; x.len()];
        let mut counted = 0u32;
        if let Some(&(winner, _)) = ranked.first() {
            let ends = leaves.iter().skip(1).map(|l| l.1).chain([tests.len()]);
            for (&(class, start), end) in leaves.iter().zip(ends) {
                if class == winner {
                    for &f in &tests[start..end] {
                        if let Some(n) = tested.get_mut(usize::from(f)) {
                            *n += 1;
                            counted += 1;
                        }
                    }
                }
            }
        }
        let mut features: Vec<(usize, f64)> = tested
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(f, n)| (f, f64::from(*n) / f64::from(counted)))
            .collect();
        features.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Prediction {
            votes: ranked,
            features,
        }
    }
}

/// The leaf class for `x`, calling `tested` with each feature on the way;
/// `None` for a malformed tree (a model file edited by hand).
fn walk(tree: &[Node], x: ArrayView1<'_, f64>, mut tested: impl FnMut(usize)) -> Option<usize> {
    let mut at = 0usize;
    for _ in 0..tree.len() {
        match *tree.get(at)? {
            Node::Leaf(class) => return Some(usize::from(class)),
            Node::Split(feature, threshold, yes, no) => {
                let feature = usize::from(feature);
                tested(feature);
                // As smartcore: a missing threshold (NaN) sends right.
                at = if *x.get(feature)? <= threshold {
                    yes
                } else {
                    no
                } as usize;
            }
        }
    }
    None
}

/// smartcore keeps a tree's nodes private but serialises them: read them
/// once from that form. The layout is smartcore 0.7's (the version is
/// pinned, and a test checks every prediction against smartcore's own).
fn read_tree(value: &serde_json::Value) -> Result<Vec<Node>, TrainError> {
    let bad = |what: &str| TrainError::Layout(what.to_string());
    let classes: Vec<u16> = value["classes"]
        .as_array()
        .ok_or_else(|| bad("no classes"))?
        .iter()
        .map(|c| c.as_u64().map(|c| c as u16).ok_or_else(|| bad("class")))
        .collect::<Result<_, _>>()?;
    let index = |v: &serde_json::Value| v.as_u64().map(|n| n as u32);
    value["nodes"]
        .as_array()
        .ok_or_else(|| bad("no nodes"))?
        .iter()
        .map(|n| {
            let output = n["output"].as_u64().ok_or_else(|| bad("output"))? as usize;
            Ok(match (index(&n["true_child"]), index(&n["false_child"])) {
                (Some(yes), Some(no)) => Node::Split(
                    n["split_feature"].as_u64().ok_or_else(|| bad("feature"))? as u16,
                    n["split_value"].as_f64().unwrap_or(f64::NAN),
                    yes,
                    no,
                ),
                _ => Node::Leaf(*classes.get(output).ok_or_else(|| bad("leaf class"))?),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// A small deterministic generator (SplitMix64): the same seed grows the
    /// same forest on every machine.
    struct SplitMix(u64);

    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Two noisy clusters per class in three features, one useless.
    fn data() -> (Array2<f64>, Vec<usize>) {
        let mut rng = SplitMix(7);
        let mut rows = Vec::new();
        let mut y = Vec::new();
        for i in 0..90 {
            let class = i % 3;
            let noise = |r: &mut SplitMix| (r.below(1000) as f64) / 1000.0;
            rows.extend([
                class as f64 * 2.0 + noise(&mut rng),
                (class == 1) as u8 as f64 + noise(&mut rng) * 0.5,
                noise(&mut rng) * 10.0,
            ]);
            y.push(class);
        }
        (Array2::from_shape_vec((90, 3), rows).unwrap(), y)
    }

    #[test]
    fn learns_separable_classes_with_confidence() {
        let (x, y) = data();
        let classes = vec!["a".into(), "b".into(), "c".into()];
        let forest = Forest::train(
            &x,
            &y,
            classes,
            ForestParams {
                trees: 30,
                feature_share: 0.67,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(forest.trees.len(), 30);
        let p = forest.predict(array![2.5, 1.2, 3.0].view());
        assert_eq!(p.best().unwrap().0, 1);
        assert!(p.best().unwrap().1 > 0.6, "{p:?}");
        // The useless feature is not what decided.
        assert_ne!(p.features[0].0, 2, "{p:?}");
        let correct = (0..90)
            .filter(|&i| forest.predict(x.row(i)).best().unwrap().0 == y[i])
            .count();
        assert!(correct >= 88, "{correct}/90 on training rows");
    }

    #[test]
    fn the_split_tables_predict_as_smartcore_does() {
        use smartcore::tree::decision_tree_classifier::{
            DecisionTreeClassifier, DecisionTreeClassifierParameters,
        };
        let (x, y) = data();
        let labels: Vec<u32> = y.iter().map(|c| *c as u32).collect();
        let tree =
            DecisionTreeClassifier::fit(&x, &labels, DecisionTreeClassifierParameters::default())
                .unwrap();
        let table = read_tree(&serde_json::to_value(&tree).unwrap()).unwrap();
        let theirs = tree.predict(&x).unwrap();
        for (i, class) in theirs.iter().enumerate() {
            assert_eq!(
                walk(&table, x.row(i), |_| {}),
                Some(*class as usize),
                "row {i}"
            );
        }
        // And the forest's majority is smartcore's forest's prediction.
        let params = RandomForestClassifierParameters {
            n_trees: 15,
            seed: 3,
            ..Default::default()
        };
        let theirs = RandomForestClassifier::fit(&x, &labels, params).unwrap();
        let ours = Forest::train(
            &x,
            &y,
            vec!["a".into(), "b".into(), "c".into()],
            ForestParams {
                trees: 15,
                seed: 3,
                feature_share: 1.0 / 3.0,
                max_depth: u16::MAX,
            },
        )
        .unwrap();
        let predicted = theirs.predict(&x).unwrap();
        let agree = (0..90)
            .filter(|&i| ours.predict(x.row(i)).best().unwrap().0 == predicted[i] as usize)
            .count();
        assert_eq!(agree, 90);
    }

    #[test]
    fn a_malformed_tree_predicts_nothing() {
        let forest = Forest {
            classes: vec!["a".into()],
            params: ForestParams::default(),
            trees: vec![
                vec![Node::Split(0, 1.0, 5, 6)],
                vec![Node::Split(9, 1.0, 0, 0)],
            ],
        };
        assert!(forest.predict(array![0.0].view()).votes.is_empty());
    }
}
