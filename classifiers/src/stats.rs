//! Streaming summary statistics in constant memory.

use serde::{Serialize, Serializer};

/// Count, minimum, maximum, mean and standard deviation of a stream of
/// values, updated in O(1) with Welford's algorithm (numerically stable,
/// no stored samples).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunningStats {
    count: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
}

impl RunningStats {
    pub fn push(&mut self, value: f64) {
        self.count += 1;
        if self.count == 1 {
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        let delta = value - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (value - self.mean);
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
        self.mean
    }

    /// Population standard deviation (zero for fewer than two values).
    pub fn stddev(&self) -> f64 {
        if self.count < 2 {
            0.0
        } else {
            (self.m2 / self.count as f64).sqrt()
        }
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
        st.serialize_field("mean", &round(self.mean))?;
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
    fn empty_and_single_value() {
        let mut s = RunningStats::default();
        assert_eq!((s.count(), s.stddev()), (0, 0.0));
        s.push(-3.5);
        assert_eq!((s.min(), s.mean(), s.max(), s.stddev()), (-3.5, -3.5, -3.5, 0.0));
    }
}
