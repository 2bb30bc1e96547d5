//! What mirador concludes about devices from their evidence: today one
//! explained verdict per attribute (`classify`). Runs when the inventory is
//! read (a snapshot), never per packet.

pub mod classify;

pub use classify::{Classification, Verdict, classify};
