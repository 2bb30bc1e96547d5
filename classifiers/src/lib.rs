//! Numeric models for mirador, free of packet types: the sensor turns traffic
//! into numbers, this crate learns from them. Today it holds the streaming
//! statistics that flows and devices accumulate; device classifiers and
//! behavioural baselines build on them.

pub mod stats;

pub use stats::RunningStats;
