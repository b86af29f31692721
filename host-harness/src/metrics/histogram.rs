//! Histogram values, and how Envoy's histograms (libcircllhist) bin them.
//!
//! Envoy records `proxy_record_metric` values with `hist_insert_intscale(value as i64, 0, 1)`:
//! each value lands in a log-linear bin of two significant digits, `[d.d × 10^e, (d.d + 0.1) ×
//! 10^e)`, so 20 is in `[20, 21)`, 300 in `[300, 310)`, 5000 and 5099 both in `[5000, 5100)`.
//! Everything Envoy prints is computed from the bins, never from the values:
//! - a `le` bucket counts every bin whose *lower* edge is `<=` the bound (5099 counts under
//!   `le="5000"`, 9 under `le="10"` but not `le="5"`, 0 under every bound);
//! - `_sum` adds, per bin, count × the bin's harmonic mean `2ab/(a+b)`, computed as
//!   `a + w·(a/(a + b))` with `b = a + w` (20 contributes 20.4878…, 300 contributes 304.9180…);
//! - values above `i64::MAX` are negative to Envoy (`u64::MAX` is -1, in bin `[-1.1, -1)`).
//!
//! [`HistogramValue`] keeps every recorded value (exact count and sum for tests) and derives
//! Envoy's figures from them with the same arithmetic, bit for bit.

/// Every value a module recorded into one histogram, in recording order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistogramValue {
    values: Vec<u64>,
}

/// One libcircllhist bin: two significant digits `val` (10..=99, negative for negative values,
/// 0 for the zero bin) and a decimal exponent, covering `[val/10 × 10^exp, (val+1)/10 × 10^exp)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bin {
    val: i8,
    exp: u8,
}

/// `10^i` for every exponent a bin of an `i64` can have (libcircllhist's `power_of_ten` table).
const POWERS_OF_TEN: [f64; 19] =
    [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18];

impl HistogramValue {
    /// The recorded values, in recording order.
    pub fn values(&self) -> &[u64] {
        &self.values
    }

    /// How many values were recorded (Envoy's `_count`, which is exact).
    pub fn count(&self) -> u64 {
        self.values.len() as u64
    }

    /// The exact sum of the recorded values (Envoy only knows [`Self::envoy_sum`]).
    pub fn sum(&self) -> u128 {
        self.values.iter().map(|&v| u128::from(v)).sum()
    }

    /// The sum Envoy reports as `_sum`: per bin, count × the bin's harmonic mean, added in bin
    /// order. Recording 20, 300 and 5000 gives 5374.910788159983, not 5320.
    pub fn envoy_sum(&self) -> f64 {
        self.bins().iter().fold(0.0, |sum, &(bin, count)| sum + bin.midpoint() * count as f64)
    }

    /// For each bound, how many values Envoy counts in the bucket `le=bound`: those whose bin
    /// starts at or below the bound.
    pub fn cumulative_counts(&self, bounds: &[f64]) -> Vec<u64> {
        let bins = self.bins();
        bounds
            .iter()
            .map(|&bound| bins.iter().filter(|(bin, _)| bin.lower() <= bound).map(|&(_, count)| count).sum())
            .collect()
    }

    pub(super) fn record(&mut self, value: u64) {
        self.values.push(value);
    }

    /// The occupied bins with their counts, in ascending order (libcircllhist's order).
    fn bins(&self) -> Vec<(Bin, u64)> {
        let mut bins: Vec<(Bin, u64)> = Vec::new();
        for &value in &self.values {
            // Envoy passes the u64 on as an int64.
            let bin = Bin::of(value as i64);
            match bins.iter_mut().find(|(b, _)| *b == bin) {
                Some((_, count)) => *count += 1,
                None => bins.push((bin, 1)),
            }
        }
        bins.sort_by(|a, b| a.0.lower().total_cmp(&b.0.lower()));
        bins
    }
}

impl Bin {
    /// libcircllhist's `int_scale_to_hist_bucket(value, 0)`.
    fn of(value: i64) -> Self {
        if value == 0 {
            return Self { val: 0, exp: 0 };
        }
        let negative = value < 0;
        // libcircllhist maps i64::MIN to i64::MAX before taking the magnitude.
        let mut magnitude = if value == i64::MIN { i64::MAX } else { value.abs() };
        let mut exp: u8 = 1;
        if magnitude < 10 {
            magnitude *= 10;
            exp -= 1;
        }
        while magnitude >= 100 {
            magnitude /= 10;
            exp += 1;
        }
        // 10 <= magnitude <= 99 here, so the cast is exact.
        let val = magnitude as i8;
        Self { val: if negative { -val } else { val }, exp }
    }

    fn power(self) -> f64 {
        POWERS_OF_TEN.get(usize::from(self.exp)).copied().unwrap_or(f64::INFINITY)
    }

    /// `hist_bucket_to_double`: the edge nearer to zero.
    fn bottom(self) -> f64 {
        if self.val == 0 { 0.0 } else { (f64::from(self.val) / 10.0) * self.power() }
    }

    /// `hist_bucket_to_double_bin_width`.
    fn width(self) -> f64 {
        if self.val == 0 { 0.0 } else { self.power() / 10.0 }
    }

    /// The lower edge on the real axis.
    fn lower(self) -> f64 {
        if self.val < 0 { self.bottom() - self.width() } else { self.bottom() }
    }

    /// `hist_bucket_midpoint`: the harmonic mean of the edges, in libcircllhist's arithmetic.
    fn midpoint(self) -> f64 {
        if self.val == 0 {
            return 0.0;
        }
        let bottom = self.bottom();
        let interval = if bottom < 0.0 { -self.width() } else { self.width() };
        let top = bottom + interval;
        bottom + interval * (bottom / (bottom + top))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values: &[u64]) -> HistogramValue {
        let mut h = HistogramValue::default();
        values.iter().for_each(|&v| h.record(v));
        h
    }

    /// `_sum` of one recorded value, as Envoy 1.40 printed it (`{:.32g}`).
    #[test]
    fn envoy_sum_matches_envoy_per_bin() {
        let cases: &[(u64, &str)] = &[
            (0, "0"),
            (1, "1.0476190476190476719153821250075"),
            (9, "9.0497237569060775541629482177086"),
            (20, "20.487804878048780921062643756159"),
            (101, "104.76190476190475919793243519962"),
            (5099, "5049.5049504950493428623303771019"),
            (123_456, "124800"),
            (15_000_000, "15483870.967741936445236206054688"),
            (u64::MAX, "-1.0476190476190476719153821250075"),
            (i64::MAX as u64, "9249729729729728512"),
        ];
        for &(value, expected) in cases {
            let sum = histogram(&[value]).envoy_sum();
            assert_eq!(super::super::prometheus::format_g32(sum), expected, "value {value}");
        }
    }

    #[test]
    fn buckets_count_bins_by_their_lower_edge() {
        let h = histogram(&[0, 9, 5000, 5099, u64::MAX]);
        assert_eq!(h.cumulative_counts(&[0.5, 5.0, 10.0, 4999.0, 5000.0]), [2, 2, 3, 3, 5]);
        assert_eq!((h.count(), h.sum()), (5, 10108 + u128::from(u64::MAX)));
    }
}
