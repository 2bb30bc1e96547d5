//! Unusual flows: a streaming model of every ended flow in its device's
//! context, learnt by Half-Space Trees over the whole segment. The vector
//! is the flow's shape (schema `flow/1`: roles, transport, service port's
//! magnitude, duration, packets and bytes each way, frame size, gaps) and
//! the device's recent pace, after Kitsune's damped statistics: over a
//! short and a long half-life, its rate of flows, the share of them left
//! unanswered and their mean size. A scanner's or a flood victim's pace
//! leaves the learnt mass even when each flow looks ordinary. A flow is
//! scored before it is learnt.
//!
//! The alarm threshold is calibrated, not set: during the learning period
//! the scores of normal traffic feed a quantile estimator, and the
//! threshold is frozen at that quantile when the period ends (and enough
//! flows were scored for the quantile to settle). A flow above it is raised
//! once per device, role and service: the incident folds the rest. Its
//! explanation names the features that isolated it (each tree's mass loss
//! split among the features tested on its path) with their value against
//! the learnt mean.

use classifiers::{Calibrator, FLOW_FEATURES, HalfSpaceParams, HalfSpaceTrees, RunningStats};
use fingerprints::MacAddr;
use ndarray::ArrayView1;

use super::config::AnomalyConfig;
use super::report::{AnomalyKind, Proof, Raised, Subject, transport};
use super::table::Table;
use crate::capture::Timestamp;
use crate::inventory::EndedFlow;

/// Scores needed before the quantile is trusted: many times 1 / (1 − q).
const MIN_CALIBRATION_SCORES: u64 = 2000;
/// Half-lives of the device context, seconds.
const HALF_LIVES: [f64; 2] = [10.0, 300.0];
/// The context's features, after the flow's (`FLOW_FEATURES`).
const CONTEXT_FEATURES: [&str; 6] = [
    "log_flow_rate_10s",
    "unanswered_share_10s",
    "mean_log_bytes_10s",
    "log_flow_rate_300s",
    "unanswered_share_300s",
    "mean_log_bytes_300s",
];
const DIM: usize = FLOW_FEATURES.len() + CONTEXT_FEATURES.len();

fn feature_name(q: usize) -> &'static str {
    FLOW_FEATURES
        .get(q)
        .or_else(|| CONTEXT_FEATURES.get(q - FLOW_FEATURES.len()))
        .copied()
        .unwrap_or("?")
}

/// A device's flows, damped: each weighs 2^(−age / half-life).
#[derive(Debug, Clone, Copy, Default)]
struct Pace {
    at: Timestamp,
    weight: [f64; 2],
    unanswered: [f64; 2],
    log_bytes: [f64; 2],
}

impl Pace {
    /// Adds one flow ended at `ts`; returns the context features.
    fn add(&mut self, ts: Timestamp, unanswered: bool, log_bytes: f64) -> [f64; 6] {
        let age = ts.since(self.at) as f64 / Timestamp::NANOS_PER_SEC as f64;
        self.at = self.at.max(ts);
        let mut out = [0.0; 6];
        for (i, half_life) in HALF_LIVES.iter().enumerate() {
            let decay = (-age / half_life).exp2();
            self.weight[i] = self.weight[i] * decay + 1.0;
            self.unanswered[i] = self.unanswered[i] * decay + f64::from(u8::from(unanswered));
            self.log_bytes[i] = self.log_bytes[i] * decay + log_bytes;
            out[3 * i] = (self.weight[i] / half_life).ln_1p();
            out[3 * i + 1] = self.unanswered[i] / self.weight[i];
            out[3 * i + 2] = self.log_bytes[i] / self.weight[i];
        }
        out
    }
}
/// Tree depth: below 15, the paper's default, since a score is read where
/// a node's mass falls to a tenth of the 250-flow window, a few levels
/// down; deeper levels only cost learning time.
const DEPTH: usize = 10;
/// Features named in an explanation.
const EXPLAINED: usize = 3;

pub struct UnusualFlowDetector {
    /// None when the configured quantile is out of range (the command line
    /// checks it first).
    model: Option<(HalfSpaceTrees, Calibrator)>,
    /// Each device's pace.
    paces: Table<MacAddr, Pace>,
    /// Each feature over the flows learnt, for explanations.
    typical: [RunningStats; DIM],
    /// The stream time of the first flow.
    started: Option<Timestamp>,
    /// Frozen at the end of the learning period.
    threshold: Option<f64>,
    /// (device, as client, transport, service port) already raised.
    raised: Table<(MacAddr, bool, u8, u16), ()>,
    pub scored: u64,
}

impl UnusualFlowDetector {
    pub fn new(config: &AnomalyConfig) -> UnusualFlowDetector {
        let model = HalfSpaceTrees::new(
            DIM,
            HalfSpaceParams {
                depth: DEPTH,
                ..HalfSpaceParams::default()
            },
        );
        let calibrator = Calibrator::new(config.unusual_flow_quantile);
        UnusualFlowDetector {
            model: model.ok().zip(calibrator.ok()),
            paces: Table::new(config.max_tracked),
            typical: [RunningStats::default(); DIM],
            started: None,
            threshold: None,
            raised: Table::new(config.max_tracked),
            scored: 0,
        }
    }

    pub fn evicted(&self) -> u64 {
        self.raised.evicted + self.paces.evicted
    }

    /// The calibrated threshold, once the learning period is over.
    pub fn threshold(&self) -> Option<f64> {
        self.threshold
    }

    pub fn ended(&mut self, e: &EndedFlow, config: &AnomalyConfig, out: &mut Vec<Raised>) {
        let Some((model, calibrator)) = &mut self.model else {
            return;
        };
        let f = &e.summary;
        let mut x = [0.0; DIM];
        let (shape, context) = x.split_at_mut(FLOW_FEATURES.len());
        shape.copy_from_slice(&f.vector());
        context.copy_from_slice(&self.paces.touch(e.mac, e.ended).add(
            e.ended,
            f.packets_received == 0,
            ((f.bytes_sent + f.bytes_received) as f64).ln_1p(),
        ));
        let view = ArrayView1::from(&x);
        let started = *self.started.get_or_insert(e.ended);
        let ready = model.ready();
        // Scored before it is learnt, in one walk down the trees.
        let score = model.score_and_learn(view);
        if ready {
            self.scored += 1;
            match self.threshold {
                Some(threshold) if score > threshold => {
                    // Learning touched only the window being filled, not
                    // the reference the explanation reads (unless this
                    // flow completed a window).
                    let blame = model.explain(view, EXPLAINED);
                    self.raise(e, &x, score, threshold, &blame, out);
                }
                Some(_) => {}
                None => {
                    calibrator.observe(score);
                    let period_over =
                        e.ended.since(started) >= config.learning_period * Timestamp::NANOS_PER_SEC;
                    if period_over && calibrator.count() >= MIN_CALIBRATION_SCORES {
                        self.threshold = calibrator.threshold();
                    }
                }
            }
        }
        for (stats, value) in self.typical.iter_mut().zip(x) {
            stats.push(value);
        }
    }

    fn raise(
        &mut self,
        e: &EndedFlow,
        x: &[f64; DIM],
        score: f64,
        threshold: f64,
        blame: &[(usize, f64)],
        out: &mut Vec<Raised>,
    ) {
        let f = &e.summary;
        let key = (e.mac, f.as_client, f.transport, f.service_port);
        if self.raised.get(&key).is_some() {
            return;
        }
        self.raised.touch(key, e.ended);
        let transport = transport(f.transport);
        let role = if f.as_client { "to" } else { "on its own" };
        let reasons: Vec<String> = blame
            .iter()
            .map(|&(q, share)| {
                format!(
                    "{} {:.2} against a mean of {:.2} ({:.0}% of the isolation)",
                    feature_name(q),
                    x[q],
                    self.typical[q].mean(),
                    share * 100.0
                )
            })
            .collect();
        let mut proof = Proof::default();
        proof.add(
            Timestamp(u64::try_from(f.start_us).unwrap_or(0).saturating_mul(1000)),
            Some(e.flow_id),
        );
        let mut raised = Raised::new(
            AnomalyKind::UnusualFlow,
            Subject {
                mac: Some(e.mac),
                ip: None,
            },
            format!(
                "{} {transport}/{}",
                if f.as_client { "client" } else { "server" },
                f.service_port
            ),
            e.ended,
        )
        // Above the threshold, the score climbs with the distance to it.
        .score(0.3 + 0.4 * ((score - threshold) / (1.0 - threshold).max(1e-9)).clamp(0.0, 1.0))
        .explain(format!(
            "a flow {role} {transport}/{} unlike the flows learnt (model score {score:.3}, calibrated threshold {threshold:.3}): {}",
            f.service_port,
            reasons.join("; ")
        ))
        .proof(proof);
        for &(q, _) in blame {
            raised = raised.deviation(
                feature_name(q),
                (x[q] * 1000.0).round() / 1000.0,
                (self.typical[q].mean() * 1000.0).round() / 1000.0,
            );
        }
        out.push(raised);
    }
}
