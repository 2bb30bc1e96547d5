//! Beaconing: a device opening connections to one remote destination at a
//! steady period, as implants call home. The period is judged on the last
//! gaps between connection starts by their median and median absolute
//! deviation, so a missed or doubled call does not hide a beacon.

use std::net::IpAddr;

use super::config::AnomalyConfig;
use super::record::Contact;
use super::report::{AnomalyKind, Proof, Raised, Subject};
use super::table::Table;
use crate::capture::Timestamp;

/// Gaps kept per destination.
const GAPS: usize = 16;
/// Services whose steady polling is their job: DNS, NTP.
const PERIODIC_BY_DESIGN: &[u16] = &[53, 123];

#[derive(Debug, Default)]
struct Calls {
    last: Option<Timestamp>,
    gaps: [f64; GAPS],
    count: usize,
    flagged: bool,
    proof: Proof,
}

impl Calls {
    fn gaps(&self) -> &[f64] {
        &self.gaps[..self.count.min(GAPS)]
    }
}

pub struct BeaconDetector {
    calls: Table<(IpAddr, IpAddr, u16, u8), Calls>,
}

impl BeaconDetector {
    pub fn new(config: &AnomalyConfig) -> BeaconDetector {
        BeaconDetector {
            calls: Table::new(config.max_tracked),
        }
    }

    pub fn evicted(&self) -> u64 {
        self.calls.evicted
    }

    pub fn opened(
        &mut self,
        ts: Timestamp,
        c: &Contact,
        remote: bool,
        config: &AnomalyConfig,
        out: &mut Vec<Raised>,
    ) {
        if !remote || !matches!(c.protocol, 6 | 17) || PERIODIC_BY_DESIGN.contains(&c.server_port) {
            return;
        }
        let calls = self
            .calls
            .touch((c.client, c.server, c.server_port, c.protocol), ts);
        calls.proof.add(ts, Some(c.flow_id));
        if let Some(last) = calls.last {
            let gap = ts.since(last) as f64 / Timestamp::NANOS_PER_SEC as f64;
            calls.gaps[calls.count % GAPS] = gap;
            calls.count += 1;
        }
        calls.last = Some(ts);
        let needed = config.beacon_connections.saturating_sub(1).max(2) as usize;
        if calls.flagged || calls.count < needed {
            return;
        }
        let (period, spread) = median_and_mad(calls.gaps());
        if period >= config.beacon_min_period && spread <= config.beacon_jitter * period {
            calls.flagged = true;
            let jitter = spread / period;
            out.push(
                Raised::new(
                    AnomalyKind::Beaconing,
                    Subject {
                        mac: c.client_mac,
                        ip: Some(c.client),
                    },
                    format!("{}:{}", c.server, c.server_port),
                    ts,
                )
                .score(0.6 + 0.3 * (1.0 - jitter / config.beacon_jitter.max(1e-9)))
                .explain(format!(
                    "{} connections to {}:{} every {period:.1} s (median absolute deviation {spread:.2} s, {:.1}% of the period)",
                    calls.count + 1,
                    c.server,
                    c.server_port,
                    jitter * 100.0
                ))
                .deviation("period_seconds", round(period), config.beacon_min_period)
                .deviation("jitter", round(jitter), config.beacon_jitter)
                .proof(calls.proof.clone()),
            );
        }
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The median of `values` and their median absolute deviation from it.
fn median_and_mad(values: &[f64]) -> (f64, f64) {
    fn median(v: &mut [f64]) -> f64 {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n == 0 {
            0.0
        } else if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }
    let mut v: Vec<f64> = values.to_vec();
    let m = median(&mut v);
    let mut d: Vec<f64> = values.iter().map(|x| (x - m).abs()).collect();
    (m, median(&mut d))
}

#[cfg(test)]
mod tests {
    use super::median_and_mad;

    #[test]
    fn one_missed_call_does_not_hide_the_period() {
        let (period, spread) = median_and_mad(&[60.0, 61.0, 59.5, 120.2, 60.3, 59.8, 60.1]);
        assert_eq!(period, 60.1);
        assert!(spread < 0.6, "{spread}");
    }
}
