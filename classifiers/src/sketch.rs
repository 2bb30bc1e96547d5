//! Fixed-memory summaries of streams of 64-bit keys: a count-min sketch
//! (how often was this key seen?) and a HyperLogLog (how many distinct keys
//! were seen?).
//!
//! Both take keys the caller has already hashed and mix them again with the
//! SplitMix64 finaliser (`mix64`): a weak hash (a port number, an address
//! as an integer, a counter) still spreads over the counters and registers.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SketchError {
    #[error("count-min width must be at least 1 and depth 1 to {MAX_ROWS}, got {width} x {depth}")]
    Shape { width: usize, depth: usize },
    #[error("count-min error bounds must lie in (0, 1), got epsilon {epsilon}, delta {delta}")]
    Bounds { epsilon: f64, delta: f64 },
    #[error("HyperLogLog precision must be {MIN_PRECISION} to {MAX_PRECISION}, got {0}")]
    Precision(u8),
    #[error("cannot merge HyperLogLogs of precision {0} and {1}")]
    PrecisionMismatch(u8, u8),
    #[error("stored sketch has {got} cells, its shape needs {want}")]
    Cells { got: usize, want: usize },
}

/// The golden-ratio increment of SplitMix64.
pub(crate) const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output function (Stafford's variant 13 of the murmur3
/// finaliser): a bijection on u64 in which every input bit flips each
/// output bit with probability close to one half.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Maps a uniform u64 onto 0..n without division (Lemire's multiply-shift).
fn reduce(hash: u64, n: usize) -> usize {
    ((u128::from(hash) * n as u128) >> 64) as usize
}

/// Rows a count-min sketch may have: 32 gives δ = e^-32.
const MAX_ROWS: usize = 32;

/// Count-min sketch (Cormode & Muthukrishnan 2005) with conservative
/// update (Estan & Varghese 2002): `depth` rows of `width` counters, a key
/// counted in one counter per row, its estimate the smallest of them.
///
/// Error bounds, N being `total()`: an estimate never falls below the true
/// count, and with `width = ⌈e/ε⌉`, `depth = ⌈ln(1/δ)⌉` it exceeds it by at
/// most ε·N with probability at least 1 − δ per key. Conservative update
/// only raises counters as far as the key's new estimate needs, which keeps
/// both bounds and shrinks the excess on skewed streams; the price is that
/// sketches can no longer be subtracted. Memory: width × depth u64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CountMinFields")]
pub struct CountMin {
    width: usize,
    depth: usize,
    seed: u64,
    total: u64,
    /// Row-major: row r's counters are `counters[r * width..(r + 1) * width]`.
    counters: Vec<u64>,
}

#[derive(Deserialize)]
struct CountMinFields {
    width: usize,
    depth: usize,
    seed: u64,
    total: u64,
    counters: Vec<u64>,
}

impl TryFrom<CountMinFields> for CountMin {
    type Error = SketchError;

    fn try_from(f: CountMinFields) -> Result<CountMin, SketchError> {
        let mut sketch = CountMin::new(f.width, f.depth, f.seed)?;
        if f.counters.len() != sketch.counters.len() {
            return Err(SketchError::Cells {
                got: f.counters.len(),
                want: sketch.counters.len(),
            });
        }
        sketch.counters = f.counters;
        sketch.total = f.total;
        Ok(sketch)
    }
}

impl CountMin {
    /// `seed` picks the rows' hash functions: sketches to be compared must
    /// share it.
    pub fn new(width: usize, depth: usize, seed: u64) -> Result<CountMin, SketchError> {
        if width == 0 || depth == 0 || depth > MAX_ROWS {
            return Err(SketchError::Shape { width, depth });
        }
        let cells = width
            .checked_mul(depth)
            .ok_or(SketchError::Shape { width, depth })?;
        Ok(CountMin {
            width,
            depth,
            seed,
            total: 0,
            counters: vec![0; cells],
        })
    }

    /// The smallest sketch overestimating by at most `epsilon`·N with
    /// probability at least 1 − `delta` per key.
    pub fn with_error(epsilon: f64, delta: f64, seed: u64) -> Result<CountMin, SketchError> {
        let within = |v: f64| v > 0.0 && v < 1.0;
        if !within(epsilon) || !within(delta) {
            return Err(SketchError::Bounds { epsilon, delta });
        }
        let width = (std::f64::consts::E / epsilon).ceil() as usize;
        let depth = (1.0 / delta).ln().ceil().max(1.0) as usize;
        CountMin::new(width, depth, seed)
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn depth(&self) -> usize {
        self.depth
    }

    /// ε of the bound: e / width.
    pub fn epsilon(&self) -> f64 {
        std::f64::consts::E / self.width as f64
    }

    /// The index of `key`'s counter in each row, one row per call.
    fn cells(&self, key: u64) -> impl Iterator<Item = usize> + use<> {
        let key = mix64(key ^ self.seed);
        let width = self.width;
        (0..self.depth).map(move |row| {
            let salt = GOLDEN_GAMMA.wrapping_mul(row as u64 + 1);
            row * width + reduce(mix64(key ^ salt), width)
        })
    }

    /// Counts `key` `n` more times.
    pub fn add(&mut self, key: u64, n: u64) {
        if n == 0 {
            return;
        }
        self.total = self.total.saturating_add(n);
        let target = self.estimate(key).saturating_add(n);
        for cell in self.cells(key) {
            let counter = &mut self.counters[cell];
            *counter = (*counter).max(target);
        }
    }

    /// How often `key` was added: never less than the truth.
    pub fn estimate(&self, key: u64) -> u64 {
        self.cells(key)
            .map(|cell| self.counters[cell])
            .min()
            .unwrap_or(0)
    }

    /// N: the sum of every `n` added.
    pub fn total(&self) -> u64 {
        self.total
    }
}

const MIN_PRECISION: u8 = 4;
const MAX_PRECISION: u8 = 18;

/// HyperLogLog (Flajolet, Fusy, Gandouet & Meunier 2007): a count of
/// distinct keys in 2^p one-byte registers, with the original paper's
/// linear counting below 2.5·m. Relative standard error 1.04/√m (p = 12:
/// 1.6 %, in 4 KiB). The paper's large-range correction is for 32-bit
/// hashes; with 64-bit ones collisions matter only near 2^64 keys and it is
/// left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "HyperLogLogFields")]
pub struct HyperLogLog {
    precision: u8,
    registers: Vec<u8>,
}

#[derive(Deserialize)]
struct HyperLogLogFields {
    precision: u8,
    registers: Vec<u8>,
}

impl TryFrom<HyperLogLogFields> for HyperLogLog {
    type Error = SketchError;

    fn try_from(f: HyperLogLogFields) -> Result<HyperLogLog, SketchError> {
        let mut sketch = HyperLogLog::new(f.precision)?;
        if f.registers.len() != sketch.registers.len() {
            return Err(SketchError::Cells {
                got: f.registers.len(),
                want: sketch.registers.len(),
            });
        }
        // A register holds at most 64 - p + 1.
        let top = 65 - f.precision;
        sketch.registers = f.registers.into_iter().map(|r| r.min(top)).collect();
        Ok(sketch)
    }
}

impl HyperLogLog {
    /// 2^`precision` registers, `precision` from 4 to 18.
    pub fn new(precision: u8) -> Result<HyperLogLog, SketchError> {
        if !(MIN_PRECISION..=MAX_PRECISION).contains(&precision) {
            return Err(SketchError::Precision(precision));
        }
        Ok(HyperLogLog {
            precision,
            registers: vec![0; 1 << precision],
        })
    }

    pub fn precision(&self) -> u8 {
        self.precision
    }

    /// The relative standard error, 1.04/√m.
    pub fn standard_error(&self) -> f64 {
        1.04 / (self.registers.len() as f64).sqrt()
    }

    pub fn insert(&mut self, hash: u64) {
        // The SplitMix64 step rather than the bare finaliser: mix64 fixes 0,
        // and a hash of 0 would land in the top register value.
        let h = mix64(hash.wrapping_add(GOLDEN_GAMMA));
        let p = u32::from(self.precision);
        let register = (h >> (64 - p)) as usize;
        // Rank of the first set bit of the remaining 64 - p bits; a sentinel
        // bit caps it at 64 - p + 1 when they are all zero.
        let rest = (h << p) | (1 << (p - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        let slot = &mut self.registers[register];
        *slot = (*slot).max(rank);
    }

    pub fn estimate(&self) -> f64 {
        let m = self.registers.len() as f64;
        let alpha = match self.registers.len() {
            16 => 0.673,
            32 => 0.697,
            64 => 0.709,
            _ => 0.7213 / (1.0 + 1.079 / m),
        };
        // 2^-r built from its exponent bits: exact, and no powi per register.
        let harmonic: f64 = self
            .registers
            .iter()
            .map(|r| f64::from_bits((1023 - u64::from(*r)) << 52))
            .sum();
        let raw = alpha * m * m / harmonic;
        let zeros = self.registers.iter().filter(|r| **r == 0).count();
        if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        }
    }

    /// Makes this the sketch of both streams: the union of their keys.
    pub fn merge(&mut self, other: &HyperLogLog) -> Result<(), SketchError> {
        if self.precision != other.precision {
            return Err(SketchError::PrecisionMismatch(
                self.precision,
                other.precision,
            ));
        }
        for (mine, theirs) in self.registers.iter_mut().zip(&other.registers) {
            *mine = (*mine).max(*theirs);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::halfspace::SplitMix64;
    use std::collections::HashMap;

    /// `n` draws from a Zipf(`s`) law over keys 1..=`keys`.
    fn zipf_stream(n: usize, keys: usize, s: f64, seed: u64) -> Vec<u64> {
        let weights: Vec<f64> = (1..=keys).map(|k| (k as f64).powf(-s)).collect();
        let sum: f64 = weights.iter().sum();
        let mut cdf = Vec::with_capacity(keys);
        let mut acc = 0.0;
        for w in &weights {
            acc += w / sum;
            cdf.push(acc);
        }
        let mut rng = SplitMix64::new(seed);
        (0..n)
            .map(|_| {
                let u = rng.next_f64();
                cdf.partition_point(|c| *c < u).min(keys - 1) as u64 + 1
            })
            .collect()
    }

    #[test]
    fn count_min_never_underestimates_and_stays_within_epsilon_n() {
        let stream = zipf_stream(200_000, 50_000, 1.1, 7);
        let mut sketch = CountMin::with_error(0.001, 0.01, 42).unwrap();
        assert_eq!((sketch.width(), sketch.depth()), (2719, 5));
        let mut truth: HashMap<u64, u64> = HashMap::new();
        for key in &stream {
            // Sequential small integers: the weakest "hash" there is.
            sketch.add(*key, 1);
            *truth.entry(*key).or_default() += 1;
        }
        assert_eq!(sketch.total(), stream.len() as u64);
        let bound = sketch.epsilon() * sketch.total() as f64;
        let mut within = 0;
        for (key, count) in &truth {
            let estimate = sketch.estimate(*key);
            assert!(estimate >= *count, "key {key}: {estimate} < {count}");
            if (estimate - count) as f64 <= bound {
                within += 1;
            }
        }
        let share = within as f64 / truth.len() as f64;
        println!(
            "count-min: {share:.4} of {} keys within εN = {bound:.0}",
            truth.len()
        );
        assert!(share >= 0.99, "{share} of keys within epsilon N");
        // The heavy hitter is close to exact.
        let top = sketch.estimate(1);
        assert!(top - truth[&1] <= bound as u64);
        // An absent key is estimated within the bound too (usually 0).
        assert!((sketch.estimate(u64::MAX) as f64) <= bound);
    }

    #[test]
    fn conservative_update_adds_weights() {
        let mut sketch = CountMin::new(64, 4, 1).unwrap();
        sketch.add(5, 3);
        sketch.add(5, 0);
        sketch.add(5, 4);
        sketch.add(9, 1);
        assert_eq!(sketch.estimate(5), 7);
        assert_eq!(sketch.total(), 8);
    }

    #[test]
    fn count_min_rejects_bad_shapes_and_round_trips() {
        assert!(CountMin::new(0, 3, 0).is_err());
        assert!(CountMin::new(8, 0, 0).is_err());
        assert!(CountMin::new(8, 33, 0).is_err());
        assert!(CountMin::with_error(0.0, 0.1, 0).is_err());
        assert!(CountMin::with_error(0.1, 1.0, 0).is_err());
        let mut sketch = CountMin::new(100, 3, 9).unwrap();
        (0..1000).for_each(|k| sketch.add(k % 37, k));
        let json = serde_json::to_string(&sketch).unwrap();
        let back: CountMin = serde_json::from_str(&json).unwrap();
        assert_eq!(back, sketch);
        let broken = json.replacen("\"width\":100", "\"width\":101", 1);
        assert!(serde_json::from_str::<CountMin>(&broken).is_err());
    }

    #[test]
    fn hyperloglog_within_three_standard_errors() {
        for distinct in [10u64, 1_000, 100_000] {
            let mut sketch = HyperLogLog::new(12).unwrap();
            for i in 0..distinct {
                // Each value twice: duplicates must not count.
                sketch.insert(i);
                sketch.insert(i);
            }
            let estimate = sketch.estimate();
            let error = (estimate - distinct as f64).abs() / distinct as f64;
            println!(
                "HyperLogLog p=12: {distinct} distinct, estimated {estimate:.1} ({:.2} σ)",
                error / sketch.standard_error()
            );
            assert!(
                error <= 3.0 * sketch.standard_error(),
                "{distinct} distinct: estimated {estimate}"
            );
        }
        assert_eq!(HyperLogLog::new(12).unwrap().estimate(), 0.0);
    }

    #[test]
    fn hyperloglog_merge_equals_union() {
        let (mut a, mut b, mut both) = (
            HyperLogLog::new(10).unwrap(),
            HyperLogLog::new(10).unwrap(),
            HyperLogLog::new(10).unwrap(),
        );
        // Overlapping ranges: 0..60k and 40k..100k.
        for i in 0..60_000u64 {
            a.insert(i);
            both.insert(i);
        }
        for i in 40_000..100_000u64 {
            b.insert(i);
            both.insert(i);
        }
        a.merge(&b).unwrap();
        assert_eq!(a, both);
        let error = (a.estimate() - 100_000.0).abs() / 100_000.0;
        assert!(error <= 3.0 * a.standard_error(), "{}", a.estimate());
        let other = HyperLogLog::new(11).unwrap();
        assert_eq!(a.merge(&other), Err(SketchError::PrecisionMismatch(10, 11)));
    }

    #[test]
    fn hyperloglog_rejects_bad_precision_and_round_trips() {
        assert!(HyperLogLog::new(3).is_err());
        assert!(HyperLogLog::new(19).is_err());
        let mut sketch = HyperLogLog::new(4).unwrap();
        (0..500).for_each(|i| sketch.insert(i));
        let json = serde_json::to_string(&sketch).unwrap();
        let back: HyperLogLog = serde_json::from_str(&json).unwrap();
        assert_eq!(back, sketch);
        let broken = json.replacen("\"precision\":4", "\"precision\":5", 1);
        assert!(serde_json::from_str::<HyperLogLog>(&broken).is_err());
    }
}
