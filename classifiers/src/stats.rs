//! Streaming summary statistics in constant memory.

use serde::{Serialize, Serializer};

/// Count, minimum, maximum, mean and standard deviation of a stream of
/// values in constant memory. It sums the values' distances to the first
/// one (the shifted-data algorithm): as stable as Welford's when values sit
/// far from zero, and without a division per value, which matters on the
/// per-packet path.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunningStats {
    count: u64,
    shift: f64,
    sum: f64,
    sum_sq: f64,
    min: f64,
    max: f64,
}

impl RunningStats {
    pub fn push(&mut self, value: f64) {
        if self.count == 0 {
            self.shift = value;
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.count += 1;
        let d = value - self.shift;
        self.sum += d;
        self.sum_sq += d * d;
    }

    /// Adds `other`'s values (Chan et al.'s pairwise combination); the
    /// result is re-centred on the combined mean.
    pub fn merge(&mut self, other: &RunningStats) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *other;
            return;
        }
        let (na, nb) = (self.count as f64, other.count as f64);
        let m2 = |s: &RunningStats| s.sum_sq - s.sum * s.sum / s.count as f64;
        let (mean_a, mean_b) = (self.mean(), other.mean());
        let delta = mean_b - mean_a;
        let n = na + nb;
        *self = RunningStats {
            count: self.count + other.count,
            shift: mean_a + delta * nb / n,
            sum: 0.0,
            sum_sq: m2(self) + m2(other) + delta * delta * na * nb / n,
            min: self.min.min(other.min),
            max: self.max.max(other.max),
        };
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn min(&self) -> f64 {
        self.min
    }

    pub fn max(&self) -> f64 {
        self.max
    }

    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.shift + self.sum / self.count as f64
        }
    }

    /// Population standard deviation (zero for fewer than two values).
    pub fn stddev(&self) -> f64 {
        if self.count < 2 {
            return 0.0;
        }
        let n = self.count as f64;
        ((self.sum_sq - self.sum * self.sum / n) / n)
            .max(0.0)
            .sqrt()
    }
}

/// Serialised as `{"min", "mean", "max", "stddev"}`, rounded to three
/// decimals: enough for lengths in bytes and gaps in microseconds.
impl Serialize for RunningStats {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let round = |v: f64| (v * 1000.0).round() / 1000.0;
        let mut st = s.serialize_struct("RunningStats", 4)?;
        st.serialize_field("min", &round(self.min))?;
        st.serialize_field("mean", &round(self.mean()))?;
        st.serialize_field("max", &round(self.max))?;
        st.serialize_field("stddev", &round(self.stddev()))?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_two_pass_statistics() {
        let values = [54.0, 66.0, 583.0, 1490.0, 60.0, 60.0, 1514.0];
        let mut s = RunningStats::default();
        values.iter().for_each(|v| s.push(*v));
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        assert_eq!(s.count(), 7);
        assert_eq!((s.min(), s.max()), (54.0, 1514.0));
        assert!((s.mean() - mean).abs() < 1e-9);
        assert!((s.stddev() - var.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn stays_accurate_far_from_zero() {
        // Beacon gaps: a large mean with microsecond jitter.
        let mut s = RunningStats::default();
        for i in 0..10_000 {
            s.push(3.6e9 + f64::from(i % 2));
        }
        assert!((s.mean() - (3.6e9 + 0.5)).abs() < 1e-6);
        assert!((s.stddev() - 0.5).abs() < 1e-9, "{}", s.stddev());
    }

    #[test]
    fn merging_equals_pushing_everything() {
        let (a, b) = ([3.0, 9.0, 4.5], [1e6, 1e6 + 2.0, 7.0, 8.0]);
        let (mut sa, mut sb, mut all) = Default::default();
        a.iter().for_each(|v| RunningStats::push(&mut sa, *v));
        b.iter().for_each(|v| RunningStats::push(&mut sb, *v));
        a.iter()
            .chain(&b)
            .for_each(|v| RunningStats::push(&mut all, *v));
        let mut merged: RunningStats = sa;
        merged.merge(&sb);
        merged.merge(&RunningStats::default());
        assert_eq!(
            (merged.count(), merged.min(), merged.max()),
            (7, 3.0, 1e6 + 2.0)
        );
        assert!((merged.mean() - all.mean()).abs() < 1e-6);
        assert!((merged.stddev() - all.stddev()).abs() < 1e-6);
    }

    #[test]
    fn empty_and_single_value() {
        let mut s = RunningStats::default();
        assert_eq!((s.count(), s.stddev()), (0, 0.0));
        s.push(-3.5);
        assert_eq!(
            (s.min(), s.mean(), s.max(), s.stddev()),
            (-3.5, -3.5, -3.5, 0.0)
        );
    }
}
