//! Numeric models for mirador, free of packet types: the sensor turns traffic
//! into numbers, this crate learns from them. It holds the streaming
//! statistics that flows and devices accumulate, the summary of a device's
//! flows (`behaviour`), its feature vector (`features`), the random forest
//! that classifies it (`forest`, stored as a `model`) and the figures that
//! judge a model (`metrics`).

pub mod behaviour;
pub mod features;
pub mod forest;
pub mod metrics;
pub mod model;
pub mod stats;

pub use behaviour::{DeviceBehaviour, FlowSummary};
pub use features::DeviceProfile;
pub use forest::{Forest, ForestParams, Prediction};
pub use model::Model;
pub use stats::RunningStats;

/// The shipped model (classifiers/models/default.json): trained on the IoT
/// Sentinel captures; how to train it again is in docs/classification.md.
pub const DEFAULT_MODEL: &str = include_str!("../models/default.json");
