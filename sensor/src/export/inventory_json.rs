//! The inventory as one JSON document (schema in `docs/inventory.md`).

use std::io::Write;

use serde::Serialize;

use crate::anomaly::AnomalyReport;
use crate::capture::Timestamp;
use crate::inventory::InventorySnapshot;
use crate::pipeline::RunSummary;

/// Names the document's layout; bumped when a field changes meaning.
pub const SCHEMA: &str = "mirador.inventory/1";

#[derive(Serialize)]
struct Document<'a> {
    schema: &'static str,
    generator: &'static str,
    generated_at: Timestamp,
    /// The run so far: inputs, packets, drops, errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<&'a RunSummary>,
    #[serde(flatten)]
    inventory: &'a InventorySnapshot,
    /// Incidents, anomalies and their counts (absent when detection is off).
    #[serde(skip_serializing_if = "Option::is_none")]
    anomalies: Option<&'a AnomalyReport>,
}

impl<'a> Document<'a> {
    fn new(
        inventory: &'a InventorySnapshot,
        stats: Option<&'a RunSummary>,
        anomalies: Option<&'a AnomalyReport>,
    ) -> Document<'a> {
        Document {
            schema: SCHEMA,
            generator: concat!("mirador ", env!("CARGO_PKG_VERSION")),
            generated_at: Timestamp::now(),
            stats,
            inventory,
            anomalies,
        }
    }
}

/// Writes the inventory, pretty-printed for diffs and people.
pub fn write(
    out: impl Write,
    inventory: &InventorySnapshot,
    stats: Option<&RunSummary>,
    anomalies: Option<&AnomalyReport>,
) -> serde_json::Result<()> {
    serde_json::to_writer_pretty(out, &Document::new(inventory, stats, anomalies))
}

/// The same document as a JSON value (what the HTTP API serves).
pub fn to_value(
    inventory: &InventorySnapshot,
    stats: Option<&RunSummary>,
    anomalies: Option<&AnomalyReport>,
) -> serde_json::Result<serde_json::Value> {
    serde_json::to_value(Document::new(inventory, stats, anomalies))
}
