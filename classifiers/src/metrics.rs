//! How well predictions match labels: accuracy, per-class precision,
//! recall and F1, their macro average, and the confusion matrix.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassFigures {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Labelled examples of the class.
    pub support: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub examples: usize,
    pub accuracy: f64,
    /// The mean F1 over the labelled classes, each class counting alike.
    pub macro_f1: f64,
    pub classes: Vec<ClassFigures>,
    /// Row: the label; column: the prediction, in the order of `columns`
    /// (the labels, then predictions that are no label, such as `unknown`).
    pub columns: Vec<String>,
    pub confusion: Vec<Vec<usize>>,
}

impl Evaluation {
    /// `pairs`: (label, prediction) per example.
    pub fn of(pairs: &[(String, String)]) -> Evaluation {
        let mut labels: Vec<String> = pairs.iter().map(|(t, _)| t.clone()).collect();
        labels.sort();
        labels.dedup();
        let mut columns = labels.clone();
        let mut others: Vec<String> = pairs
            .iter()
            .map(|(_, p)| p.clone())
            .filter(|p| !labels.contains(p))
            .collect();
        others.sort();
        others.dedup();
        columns.extend(others);
        let at = |l: &str| columns.iter().position(|c| c == l).unwrap_or(0);
        let mut confusion = vec![vec![0; columns.len()]; labels.len()];
        for (t, p) in pairs {
            confusion[at(t)][at(p)] += 1;
        }
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let classes: Vec<ClassFigures> = labels
            .iter()
            .enumerate()
            .map(|(i, label)| {
                let hit = confusion[i][i];
                let support: usize = confusion[i].iter().sum();
                let predicted: usize = confusion.iter().map(|row| row[i]).sum();
                let (precision, recall) = (ratio(hit, predicted), ratio(hit, support));
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                ClassFigures {
                    label: label.clone(),
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect();
        let hits: usize = (0..labels.len()).map(|i| confusion[i][i]).sum();
        Evaluation {
            examples: pairs.len(),
            accuracy: ratio(hits, pairs.len()),
            macro_f1: if classes.is_empty() {
                0.0
            } else {
                classes.iter().map(|c| c.f1).sum::<f64>() / classes.len() as f64
            },
            classes,
            columns,
            confusion,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_by_hand() {
        let p = |t: &str, p: &str| (t.to_string(), p.to_string());
        // a: 2 of 3 right; b: 1 of 1, once predicted for an a; c: unknown.
        let e = Evaluation::of(&[
            p("a", "a"),
            p("a", "a"),
            p("a", "b"),
            p("b", "b"),
            p("c", "unknown"),
        ]);
        assert_eq!(e.columns, ["a", "b", "c", "unknown"]);
        assert_eq!(e.confusion, [[2, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]]);
        assert!((e.accuracy - 0.6).abs() < 1e-12);
        let f1: Vec<f64> = e.classes.iter().map(|c| c.f1).collect();
        assert!((f1[0] - 0.8).abs() < 1e-12 && (f1[1] - 2.0 / 3.0).abs() < 1e-12 && f1[2] == 0.0);
        assert!((e.macro_f1 - (0.8 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        assert_eq!(e.classes[1].precision, 0.5);
    }
}
