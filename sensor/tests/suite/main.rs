//! mirador's integration tests: the `mirador` binary on real captures,
//! checked against independent oracles (nDPI's and Zeek's published
//! results, tshark, the IoT Sentinel labels).

// Helpers here fail the test they serve when a fixture or tool misbehaves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod anomaly;
mod api;
mod bad_input;
mod caps;
mod classify;
mod flows_ndpi;
mod formats;
mod identity;
mod inventory_iot;
mod live;
mod merge;
mod model;
mod support;
mod sweep;
mod trust;
mod tunnels_zeek;
