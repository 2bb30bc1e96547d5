//! Where results go. One module per sink: EVE JSON lines for events, the
//! inventory as a JSON document, the device table for people, and the HTTP
//! server (`api`: the read-only REST API over a `view` of the inventory,
//! and Prometheus `metrics`).

pub mod api;
pub mod eve;
pub mod inventory_json;
pub mod metrics;
pub mod table;
pub mod view;
