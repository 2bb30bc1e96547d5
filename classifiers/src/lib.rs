//! Numeric models for mirador, free of packet types: the sensor turns traffic
//! into numbers, this crate learns from them. It holds the streaming
//! statistics that flows and devices accumulate, the summary of a device's
//! flows (`behaviour`), its feature vector (`features`), the random forest
//! that classifies it (`forest`, stored as a `model`) and the figures that
//! judge a model (`metrics`). For baselines it has streaming anomaly
//! detection with Half-Space Trees and a threshold calibrated on their
//! scores (`halfspace`), and fixed-memory sketches of key streams: a
//! count-min sketch for frequencies and a HyperLogLog for distinct counts
//! (`sketch`).

pub mod behaviour;
pub mod features;
pub mod forest;
pub mod halfspace;
pub mod metrics;
pub mod model;
pub mod sketch;
pub mod stats;

pub use behaviour::{DeviceBehaviour, FLOW_FEATURES, FLOW_SCHEMA_VERSION, FlowSummary};
pub use features::DeviceProfile;
pub use forest::{Forest, ForestParams, Prediction};
pub use halfspace::{Calibrator, HalfSpaceError, HalfSpaceParams, HalfSpaceTrees};
pub use model::Model;
pub use sketch::{CountMin, HyperLogLog, SketchError};
pub use stats::RunningStats;

/// The shipped model (classifiers/models/default.json): trained on the IoT
/// Sentinel captures; how to train it again is in docs/classification.md.
pub const DEFAULT_MODEL: &str = include_str!("../models/default.json");
