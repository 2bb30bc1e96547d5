//! mirador's sensor: the packet pipeline and everything with I/O, in data
//! flow order: capture -> decode -> flow -> extract -> inventory -> analysis
//! (classification) and anomaly (behaviour) -> trust -> export, wired
//! together by the pipeline.

pub mod analysis;
pub mod anomaly;
pub mod capture;
pub mod decode;
pub mod export;
pub mod extract;
pub mod flow;
pub mod inventory;
pub mod pipeline;
pub mod trust;
