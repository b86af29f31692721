//! Bucket layouts of module-kept histograms.

use std::fmt::Write;

/// The unit a duration histogram is expressed in (its name should say it: `_seconds`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Milliseconds,
    Microseconds,
    Bytes,
}

/// Upper bounds of a histogram's finite buckets, in its unit, plus how values compare to them.
///
/// Values arrive in a base quantum (nanoseconds for durations, bytes for sizes); a value lands in
/// every bucket whose bound is at or above it (Prometheus `le`: less than or equal).
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    bounds: Vec<f64>,
    /// Bounds in base quanta, rounded to the nearest quantum.
    base: Vec<u128>,
    /// Base quanta per unit.
    scale: u64,
    unit: Unit,
    /// `le` label values: every bound as Prometheus prints it, then `+Inf`.
    labels: Vec<String>,
}

/// Why a bucket list was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketsError {
    Empty,
    NotPositive,
    NotIncreasing,
    TooMany,
}

/// At most this many finite buckets per histogram (each is a series per label set).
pub const MAX_BUCKETS: usize = 30;

impl Unit {
    /// Base quanta per unit.
    pub fn scale(self) -> u64 {
        match self {
            Self::Seconds => 1_000_000_000,
            Self::Milliseconds => 1_000_000,
            Self::Microseconds => 1_000,
            Self::Bytes => 1,
        }
    }

    /// The unit's name in English, as a `# HELP` text says it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Seconds => "seconds",
            Self::Milliseconds => "milliseconds",
            Self::Microseconds => "microseconds",
            Self::Bytes => "bytes",
        }
    }

    /// The unit's UCUM code, as OpenTelemetry metrics carry it (`Metric.unit`).
    pub fn ucum(self) -> &'static str {
        match self {
            Self::Seconds => "s",
            Self::Milliseconds => "ms",
            Self::Microseconds => "us",
            Self::Bytes => "By",
        }
    }
}

impl Buckets {
    /// Buckets with these upper bounds (strictly increasing, positive, finite).
    pub fn new(bounds: &[f64], unit: Unit) -> Result<Self, BucketsError> {
        if bounds.is_empty() {
            return Err(BucketsError::Empty);
        }
        if bounds.len() > MAX_BUCKETS {
            return Err(BucketsError::TooMany);
        }
        if bounds.iter().any(|b| !b.is_finite() || *b <= 0.0) {
            return Err(BucketsError::NotPositive);
        }
        if bounds.windows(2).any(|w| matches!(w, [a, b] if b <= a)) {
            return Err(BucketsError::NotIncreasing);
        }
        let scale = unit.scale();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let base = bounds.iter().map(|b| (b * scale as f64).round() as u128).collect();
        let mut labels: Vec<String> = bounds.iter().map(|b| format_bound(*b)).collect();
        labels.push(String::from("+Inf"));
        Ok(Self { bounds: bounds.to_vec(), base, scale, unit, labels })
    }

    /// Number of finite buckets.
    pub fn len(&self) -> usize {
        self.bounds.len()
    }

    /// Whether there are no finite buckets (never, once constructed).
    pub fn is_empty(&self) -> bool {
        self.bounds.is_empty()
    }

    /// The finite upper bounds, in the unit.
    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// The unit the bounds and sums are in.
    pub fn unit(&self) -> Unit {
        self.unit
    }

    /// The `le` values, `+Inf` last.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.labels.iter().map(String::as_str)
    }

    /// Index of the first finite bucket whose bound is at or above `value` (in base quanta);
    /// `len()` when only `+Inf` holds it.
    pub fn first_at_or_above(&self, value: u128) -> usize {
        self.base.partition_point(|bound| *bound < value)
    }

    /// `value` (base quanta) in billionths of the unit, for exact `_sum` accumulation.
    pub fn nanounits(&self, value: u128) -> u128 {
        // Every unit's scale divides 10^9 (`Unit::scale`), so this is one multiplication: a u128
        // division is a software routine of hundreds of instructions on wasm32, three times per
        // request.
        value * u128::from(1_000_000_000 / self.scale)
    }
}

/// A bound as Prometheus clients print `le`: shortest form, no trailing `.0` (`0.005`, `1`, `2.5`).
fn format_bound(b: f64) -> String {
    let mut s = String::new();
    let _ = write!(s, "{b}");
    s
}

impl std::fmt::Display for BucketsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Empty => "must list at least one bucket bound",
            Self::NotPositive => "bounds must be positive, finite numbers",
            Self::NotIncreasing => "bounds must be strictly increasing",
            Self::TooMany => "has more than 30 bounds",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_buckets_by_less_or_equal() {
        let b = Buckets::new(&[0.1, 0.5, 1.0], Unit::Seconds).unwrap();
        assert_eq!(b.labels().collect::<Vec<_>>(), ["0.1", "0.5", "1", "+Inf"]);
        assert_eq!(b.first_at_or_above(0), 0);
        assert_eq!(b.first_at_or_above(100_000_000), 0, "exactly on a bound is in it (le)");
        assert_eq!(b.first_at_or_above(100_000_001), 1);
        assert_eq!(b.first_at_or_above(999_999_999), 2);
        assert_eq!(b.first_at_or_above(5_000_000_000), 3, "above every bound: +Inf only");
        assert_eq!(b.nanounits(250_000_000), 250_000_000, "0.25 s in billionths of a second");
    }

    #[test]
    fn units_scale_bounds() {
        let ms = Buckets::new(&[5.0, 10.0], Unit::Milliseconds).unwrap();
        assert_eq!(ms.first_at_or_above(5_000_000), 0);
        assert_eq!(ms.first_at_or_above(5_000_001), 1);
        assert_eq!(ms.nanounits(5_000_000), 5_000_000_000, "5 ms = 5e9 billionths of a ms");
        let bytes = Buckets::new(&[100.0, 1000.0], Unit::Bytes).unwrap();
        assert_eq!(bytes.first_at_or_above(100), 0);
        assert_eq!(bytes.first_at_or_above(101), 1);
    }

    #[test]
    fn refuses_bad_bounds() {
        assert_eq!(Buckets::new(&[], Unit::Seconds), Err(BucketsError::Empty));
        assert_eq!(Buckets::new(&[0.0, 1.0], Unit::Seconds), Err(BucketsError::NotPositive));
        assert_eq!(Buckets::new(&[1.0, f64::INFINITY], Unit::Seconds), Err(BucketsError::NotPositive));
        assert_eq!(Buckets::new(&[1.0, 1.0], Unit::Seconds), Err(BucketsError::NotIncreasing));
        assert_eq!(Buckets::new(&[1.0; 31], Unit::Seconds), Err(BucketsError::TooMany));
    }
}
