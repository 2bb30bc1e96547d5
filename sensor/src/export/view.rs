//! The inventory document (`inventory_json`) indexed for queries: what the
//! HTTP API and the inventory's metrics read. Made from a stored document
//! (`mirador serve`) or from a running sensor's snapshot, through the same
//! serialisation, so both serve one representation.

use std::collections::HashMap;

use serde_json::Value;

use super::inventory_json;
use crate::pipeline::Sensor;
use crate::pipeline::telemetry::Stage;

/// One device: its inventory object, and what the filters read from it.
pub struct DeviceEntry {
    pub object: Value,
    /// The category verdict's label (`iot/camera`), if any.
    pub category: Option<String>,
    /// The MAC block's vendor and the vendor verdict, lower-cased.
    vendors: [Option<String>; 2],
    /// Its last frame, nanoseconds since the epoch.
    last_seen: Option<i128>,
    /// Its trust score (0 to 100).
    pub trust: Option<u8>,
}

impl DeviceEntry {
    fn new(object: Value) -> DeviceEntry {
        let label = |attribute: &str| {
            object["classification"][attribute]["label"]
                .as_str()
                .map(str::to_string)
        };
        DeviceEntry {
            category: label("category"),
            vendors: [
                object["vendor"].as_str().map(str::to_lowercase),
                label("vendor").map(|v| v.to_lowercase()),
            ],
            last_seen: object["last_seen"].as_str().and_then(parse_time),
            trust: object["trust"]["score"]
                .as_u64()
                .and_then(|s| u8::try_from(s).ok()),
            object,
        }
    }

    /// In `category` or one of its subcategories: `iot` holds `iot/camera`.
    pub fn in_category(&self, category: &str) -> bool {
        self.category.as_deref().is_some_and(|c| {
            c == category
                || c.strip_prefix(category)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    }

    /// Made by `vendor`, given in lower case (either vendor, case aside).
    pub fn made_by(&self, vendor: &str) -> bool {
        self.vendors.iter().flatten().any(|v| v == vendor)
    }

    /// Its last frame at or after `since` (ns since the epoch).
    pub fn seen_since(&self, since: i128) -> bool {
        self.last_seen.is_some_and(|t| t >= since)
    }
}

/// An inventory document, ready to query.
pub struct View {
    /// Devices in the document's order (by MAC).
    pub devices: Vec<DeviceEntry>,
    by_mac: HashMap<String, usize>,
    /// The rest of the document: counts, evictions, `anomalies`.
    pub document: Value,
}

impl View {
    /// Indexes a document written by `inventory_json`; `Err` names what
    /// is missing when it is not one.
    pub fn from_document(mut document: Value) -> Result<View, String> {
        let schema = document["schema"].as_str().unwrap_or_default();
        if !schema.starts_with("mirador.inventory/") {
            return Err(format!(
                "not a mirador inventory (schema {:?}, expected {:?})",
                schema,
                inventory_json::SCHEMA
            ));
        }
        let Some(Value::Array(devices)) = document.get_mut("devices").map(Value::take) else {
            return Err("the inventory has no devices array".into());
        };
        let devices: Vec<DeviceEntry> = devices.into_iter().map(DeviceEntry::new).collect();
        let by_mac = devices
            .iter()
            .enumerate()
            .filter_map(|(i, d)| Some((d.object["mac"].as_str()?.to_string(), i)))
            .collect();
        Ok(View {
            devices,
            by_mac,
            document,
        })
    }

    /// A running sensor's inventory and anomalies now (the snapshot
    /// classifies what changed, and is timed as a stage).
    pub fn of_sensor(sensor: &Sensor) -> Result<View, String> {
        let document = sensor.telemetry.time(Stage::Snapshot, || {
            let anomalies = sensor.monitor.as_ref().and_then(|m| m.report());
            inventory_json::to_value(
                &sensor.judged_snapshot(anomalies.as_ref()),
                None,
                anomalies.as_ref(),
            )
        });
        View::from_document(document.map_err(|e| e.to_string())?)
    }

    /// A device by MAC, in any case and with `:` or `-` between bytes.
    pub fn device(&self, id: &str) -> Option<&DeviceEntry> {
        let mac: fingerprints::MacAddr = id.replace('-', ":").parse().ok()?;
        self.by_mac.get(&mac.to_string()).map(|&i| &self.devices[i])
    }

    /// The document's `anomalies` section (absent when detection was off).
    pub fn anomalies(&self) -> &Value {
        &self.document["anomalies"]
    }
}

/// A time as the API takes it: RFC 3339 (`2016-08-29T16:00:00Z`), the
/// inventory's own form (`2016-08-29T16:11:47.062039+0000`), a date
/// (`2016-08-29`, midnight UTC), or seconds since the epoch. Nanoseconds
/// since the epoch.
pub fn parse_time(text: &str) -> Option<i128> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(seconds) = text.parse::<i64>() {
        return Some(i128::from(seconds) * 1_000_000_000);
    }
    if !text.is_ascii() {
        return None;
    }
    let (bytes, n) = (text.as_bytes(), text.len());
    let rfc3339 = if n == 10 {
        format!("{text}T00:00:00Z")
    } else if n > 5
        && matches!(bytes[n - 5], b'+' | b'-')
        && bytes[n - 4..].iter().all(u8::is_ascii_digit)
    {
        // `+0000` -> `+00:00`.
        format!("{}:{}", &text[..n - 2], &text[n - 2..])
    } else {
        text.to_string()
    };
    time::OffsetDateTime::parse(&rfc3339, &Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_every_form_the_api_takes() {
        let t = 1_472_487_107_062_039_000;
        assert_eq!(parse_time("2016-08-29T16:11:47.062039+0000"), Some(t));
        assert_eq!(parse_time("2016-08-29T16:11:47.062039Z"), Some(t));
        assert_eq!(parse_time("2016-08-29T18:11:47.062039+02:00"), Some(t));
        assert_eq!(
            parse_time("1472487107"),
            Some(t / 1_000_000_000 * 1_000_000_000)
        );
        assert_eq!(parse_time("2016-08-29"), Some(1_472_428_800_000_000_000));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2016-08-29T16:11:47+99"), None);
    }
}
