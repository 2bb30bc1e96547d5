//! The device table printed at the end of an analysis.

use std::fmt::Write as _;
use std::io::{self, Write};

use fingerprints::kb::Attribute;

use crate::inventory::{Device, InventorySnapshot};

/// Writes up to `max_rows` devices (0: all), busiest first.
pub fn write(
    mut out: impl Write,
    inventory: &InventorySnapshot,
    max_rows: usize,
) -> io::Result<()> {
    let mut devices: Vec<&Device> = inventory.devices.iter().collect();
    devices.sort_by(|a, b| b.sent.bytes.cmp(&a.sent.bytes).then(a.mac.cmp(&b.mac)));
    let shown = if max_rows == 0 {
        devices.len()
    } else {
        max_rows.min(devices.len())
    };
    writeln!(
        out,
        "MAC                VENDOR                  CATEGORY                ADDRESSES                         PKTS OUT   BYTES OUT  ROLE      TRUST  PROTOCOLS"
    )?;
    for d in &devices[..shown] {
        writeln!(
            out,
            "{:<17}  {:<22}  {:<22}  {:<31}  {:>9}  {:>10}  {:<8}  {:>5}  {}",
            d.mac.to_string(),
            clip(&vendor(d), 22),
            clip(category(d), 22),
            clip(&addresses(d), 31),
            d.sent.packets,
            human_bytes(d.sent.bytes),
            role(d),
            d.trust
                .as_ref()
                .map_or_else(|| "-".to_string(), |t| t.score.to_string()),
            d.protocols
                .iter()
                .map(|p| p.name())
                .collect::<Vec<_>>()
                .join(",")
        )?;
    }
    if shown < devices.len() {
        writeln!(
            out,
            "... and {} more devices (all of them are in --inventory)",
            devices.len() - shown
        )?;
    }
    writeln!(
        out,
        "{} devices, {} of them routers; {} remote hosts",
        devices.len(),
        devices.iter().filter(|d| d.is_router()).count(),
        inventory.remote_hosts.len()
    )
}

fn vendor(d: &Device) -> String {
    match (&d.vendor, d.locally_administered) {
        (Some(v), _) => v.clone(),
        (None, true) => "(random MAC)".into(),
        (None, false) => "(unregistered)".into(),
    }
}

/// The category verdict's label (`unknown` when no candidate is confident
/// enough), or `-` when the device was not classified or no rule spoke
/// about its category.
fn category(d: &Device) -> &str {
    d.classification
        .as_ref()
        .and_then(|c| c.get(Attribute::Category))
        .map_or("-", |v| v.label.as_str())
}

fn addresses(d: &Device) -> String {
    let mut ips: Vec<_> = d.ips.iter().map(|b| b.ip).collect();
    // IPv4 first: the address people look for.
    ips.sort_by_key(|ip| (ip.is_ipv6(), *ip));
    let mut s = String::new();
    for (i, ip) in ips.iter().take(2).enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{ip}");
    }
    if ips.len() > 2 {
        let _ = write!(s, " +{}", ips.len() - 2);
    }
    s
}

fn role(d: &Device) -> &'static str {
    if d.is_router() { "router" } else { "host" }
}

fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(width - 1).collect();
        t.push('~');
        t
    }
}

/// Bytes with a binary unit: `1.5 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::analysis::{Classification, Verdict};
    use crate::capture::Timestamp;

    #[test]
    fn formats_bytes_and_clips() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
        assert_eq!(clip("Hon Hai Precision Ind.", 10), "Hon Hai P~");
    }

    fn verdict(label: &str) -> Verdict {
        Verdict {
            label: label.into(),
            confidence: 0.9,
            reasons: Vec::new(),
            candidates: Vec::new(),
        }
    }

    #[test]
    fn category_column_shows_the_category_verdict_after_the_vendor() {
        let device = |mac: &str, bytes: u64, classification: Option<Classification>| {
            let mut d = Device::new(mac.parse().unwrap(), None, Timestamp(0));
            d.sent.bytes = bytes;
            d.classification = classification;
            d
        };
        let plc = Classification(BTreeMap::from([
            (Attribute::Category, verdict("ot/plc")),
            (Attribute::Vendor, verdict("Siemens")),
        ]));
        let vendor_only = Classification(BTreeMap::from([(Attribute::Vendor, verdict("Acme"))]));
        let long = Classification(BTreeMap::from([(
            Attribute::Category,
            verdict("network/wireless-controller"),
        )]));
        let snapshot = InventorySnapshot {
            devices: vec![
                device("00:1b:1b:00:00:01", 4, Some(plc)),
                device("00:1b:1b:00:00:02", 3, Some(vendor_only)),
                device("00:1b:1b:00:00:03", 2, None),
                device("00:1b:1b:00:00:04", 1, Some(long)),
            ],
            remote_hosts: Vec::new(),
            devices_evicted: 0,
            remote_hosts_evicted: 0,
            evidence_evicted: 0,
            claims_unplaced: 0,
        };
        let mut out = Vec::new();
        write(&mut out, &snapshot, 0).unwrap();
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        let header = lines[0];
        let at = header.find("CATEGORY").unwrap();
        assert!(header.find("VENDOR").unwrap() < at);
        assert!(at < header.find("ADDRESSES").unwrap());
        let cell = |line: &str| {
            line[at..]
                .split("  ")
                .next()
                .unwrap()
                .trim_end()
                .to_string()
        };
        assert_eq!(cell(lines[1]), "ot/plc");
        assert_eq!(cell(lines[2]), "-", "no category verdict");
        assert_eq!(cell(lines[3]), "-", "not classified");
        assert_eq!(cell(lines[4]), "network/wireless-cont~");
        // Every row keeps the header's columns aligned.
        for line in &lines[1..5] {
            assert_eq!(&line[at - 2..at], "  ", "{line}");
        }
    }
}
