//! What mirador concludes about devices from their evidence and behaviour:
//! one explained verdict per attribute (`classify`), fusing the knowledge
//! base with the behavioural model (`model`), which `dataset` trains and
//! judges on labelled captures. Runs when the inventory is read (a
//! snapshot), never per packet.

pub mod classify;
pub mod dataset;
pub mod model;

pub use classify::{Classification, Verdict, classify};
