//! The `/stats/prometheus` text Envoy 1.40 prints for Wasm-defined metrics.
//!
//! As observed (`GroupedStatsRequest`, `PrometheusStatsRender`):
//! - three passes: counters, then gauges, then histograms; in each, series are grouped by
//!   tag-extracted name, groups ordered token-wise (names split at `.`, tokens compared
//!   byte-wise, so `a.b` < `a.z` < `a-b.c` < `aa`), series within a group token-wise by full name;
//! - each group opens with `# TYPE <name> counter|gauge|histogram`; two groups whose names
//!   sanitize alike (`coll.x`, `coll_x`) print two `# TYPE` lines with the same name;
//! - the name: a tag-extracted name `wasmcustom.<rest>` prints as `<rest>` with every character
//!   outside `[A-Za-z0-9_]` replaced by `_` (`é` is one `_`), no `envoy_` prefix; a series whose
//!   result is empty or starts with a digit is skipped; any other name (the empty metric name is
//!   the stat `wasmcustom`, or a tag regex that cut the namespace) prints as `envoy_<name>` with
//!   every *byte* outside `[A-Za-z0-9_]` replaced (`é` is `__` there, and in label names);
//! - labels `name="value"` in extraction order, names sanitized like metric names, values with
//!   `\`, `"` and newline escaped; no labels prints `{}`; histograms add `le` last;
//! - counters and gauges print as u64 (a gauge below zero wraps: `18446744073709551615`);
//! - histograms print `_bucket` per bound (the first `histogram_bucket_settings` entry whose
//!   matcher matches the *full* name `wasmcustom.<name>`, bounds sorted; else Envoy's default
//!   bounds), `le="+Inf"` = `_count`, then `_sum` and `_count`; bounds and `_sum` use `{:.32g}`
//!   (`0.0050000000000000001040834085586084`, `9.9999999999999994557523098704282e+32`).

use super::histogram::HistogramValue;
use super::tags::{self, StatsTag};
use super::{Metric, Value};
use crate::abi::MetricType;

/// What Envoy's bootstrap `stats_config` says about these metrics.
#[derive(Debug, Clone, Default)]
pub struct PrometheusConfig {
    /// `stats_config.stats_tags`, in config order.
    pub stats_tags: Vec<StatsTag>,
    /// `stats_config.histogram_bucket_settings`, in config order (the first match wins).
    pub histogram_buckets: Vec<HistogramBuckets>,
}

/// One `stats_config.histogram_bucket_settings[]` entry: a StringMatcher on the full stat name
/// (`wasmcustom.<name>`) and the bucket bounds. Envoy rejects an empty list or bounds `<= 0` at
/// config load; these constructors take the bounds as given and sort them.
#[derive(Debug, Clone)]
pub struct HistogramBuckets {
    matcher: Matcher,
    buckets: Vec<f64>,
}

#[derive(Debug, Clone)]
enum Matcher {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    /// RE2 full match.
    SafeRegex(regex::Regex),
}

/// Envoy's bounds for histograms no `histogram_bucket_settings` entry matches.
pub const DEFAULT_BUCKETS: [f64; 19] = [
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0, 60000.0, 300000.0,
    600000.0, 1800000.0, 3600000.0,
];

/// Envoy's registered custom stat namespace for Wasm metrics.
pub(super) const NAMESPACE: &str = "wasmcustom";

impl HistogramBuckets {
    /// `match: {prefix: …}` (remember the `wasmcustom.` at the start of the full name).
    pub fn prefix(prefix: &str, buckets: Vec<f64>) -> Self {
        Self::new(Matcher::Prefix(prefix.to_owned()), buckets)
    }

    /// `match: {exact: …}`.
    pub fn exact(name: &str, buckets: Vec<f64>) -> Self {
        Self::new(Matcher::Exact(name.to_owned()), buckets)
    }

    /// `match: {suffix: …}`.
    pub fn suffix(suffix: &str, buckets: Vec<f64>) -> Self {
        Self::new(Matcher::Suffix(suffix.to_owned()), buckets)
    }

    /// `match: {contains: …}`.
    pub fn contains(part: &str, buckets: Vec<f64>) -> Self {
        Self::new(Matcher::Contains(part.to_owned()), buckets)
    }

    /// `match: {safe_regex: {regex: …}}`: the whole name must match (RE2 there; the `regex`
    /// crate here, whose `\d` and `\w` also match non-ASCII digits and letters). Err for a regex
    /// that does not compile.
    pub fn safe_regex(regex: &str, buckets: Vec<f64>) -> Result<Self, String> {
        let anchored = regex::Regex::new(&format!("^(?:{regex})$"))
            .map_err(|e| format!("histogram bucket regex {regex:?}: {e}"))?;
        Ok(Self::new(Matcher::SafeRegex(anchored), buckets))
    }

    /// The bounds, sorted.
    pub fn buckets(&self) -> &[f64] {
        &self.buckets
    }

    fn new(matcher: Matcher, mut buckets: Vec<f64>) -> Self {
        buckets.sort_by(f64::total_cmp);
        Self { matcher, buckets }
    }

    fn matches(&self, full_name: &str) -> bool {
        match &self.matcher {
            Matcher::Exact(s) => full_name == s,
            Matcher::Prefix(s) => full_name.starts_with(s.as_str()),
            Matcher::Suffix(s) => full_name.ends_with(s.as_str()),
            Matcher::Contains(s) => full_name.contains(s.as_str()),
            Matcher::SafeRegex(re) => re.is_match(full_name),
        }
    }
}

/// Envoy's stat name for a metric the module defined as `name` (already normalized).
pub(super) fn full_name(name: &str) -> String {
    if name.is_empty() { NAMESPACE.to_owned() } else { format!("{NAMESPACE}.{name}") }
}

/// One series to print: its full stat name (for ordering and bucket matching), labels, value.
struct Series<'a> {
    full_name: String,
    labels: String,
    value: &'a Value,
}

/// Renders `metrics` as Envoy's `/stats/prometheus` does.
pub(super) fn render(metrics: &[Metric], config: &PrometheusConfig) -> String {
    let mut out = String::new();
    for kind in [MetricType::Counter, MetricType::Gauge, MetricType::Histogram] {
        // Series grouped by tag-extracted name.
        let mut groups: Vec<(String, Vec<Series<'_>>)> = Vec::new();
        for metric in metrics.iter().filter(|m| m.kind == kind) {
            let full_name = full_name(&metric.name);
            let extracted = tags::extract(&full_name, &config.stats_tags);
            let series = Series { full_name, labels: labels(&extracted.tags), value: &metric.value };
            match groups.iter_mut().find(|(name, _)| *name == extracted.name) {
                Some((_, group)) => group.push(series),
                None => groups.push((extracted.name, vec![series])),
            }
        }
        groups.sort_by(|a, b| token_cmp(&a.0, &b.0));
        for (extracted, mut group) in groups {
            let Some(name) = metric_name(&extracted) else { continue };
            group.sort_by(|a, b| token_cmp(&a.full_name, &b.full_name));
            let type_name = match kind {
                MetricType::Counter => "counter",
                MetricType::Gauge => "gauge",
                MetricType::Histogram => "histogram",
            };
            out.push_str(&format!("# TYPE {name} {type_name}\n"));
            for Series { full_name, labels, value } in group {
                match value {
                    Value::Counter(v) | Value::Gauge(v) => out.push_str(&format!("{name}{{{labels}}} {v}\n")),
                    Value::Histogram(h) => histogram(&mut out, &name, &labels, h, buckets(&full_name, config)),
                }
            }
        }
    }
    out
}

fn histogram(out: &mut String, name: &str, labels: &str, h: &HistogramValue, bounds: &[f64]) {
    let le_prefix = if labels.is_empty() { String::new() } else { format!("{labels},") };
    for (bound, count) in bounds.iter().zip(h.cumulative_counts(bounds)) {
        out.push_str(&format!("{name}_bucket{{{le_prefix}le=\"{}\"}} {count}\n", format_g32(*bound)));
    }
    let count = h.count();
    out.push_str(&format!("{name}_bucket{{{le_prefix}le=\"+Inf\"}} {count}\n"));
    out.push_str(&format!("{name}_sum{{{labels}}} {}\n", format_g32(h.envoy_sum())));
    out.push_str(&format!("{name}_count{{{labels}}} {count}\n"));
}

fn buckets<'a>(full_name: &str, config: &'a PrometheusConfig) -> &'a [f64] {
    config
        .histogram_buckets
        .iter()
        .find(|b| b.matches(full_name))
        .map_or(DEFAULT_BUCKETS.as_slice(), |b| b.buckets.as_slice())
}

/// `PrometheusStatsFormatter::metricName`: `None` for a series Envoy skips.
fn metric_name(extracted: &str) -> Option<String> {
    match extracted.split_once('.') {
        Some((NAMESPACE, rest)) => {
            let name = sanitize_chars(rest);
            let valid = name.bytes().next().is_some_and(|b| !b.is_ascii_digit());
            valid.then_some(name)
        }
        _ => Some(format!("envoy_{}", sanitize(extracted))),
    }
}

fn labels(tags: &[(String, String)]) -> String {
    let labels: Vec<String> = tags.iter().map(|(k, v)| format!("{}=\"{}\"", sanitize(k), escape(v))).collect();
    labels.join(",")
}

/// Every byte outside `[A-Za-z0-9_]` becomes `_` (`é` gives `__`): `envoy_` names, label names.
fn sanitize(name: &str) -> String {
    name.bytes().map(|b| if b.is_ascii_alphanumeric() || b == b'_' { char::from(b) } else { '_' }).collect()
}

/// Every character outside `[A-Za-z0-9_]` becomes `_` (`é` gives `_`): custom-namespace names.
fn sanitize_chars(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

fn escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str(r"\\"),
            '\n' => escaped.push_str(r"\n"),
            '"' => escaped.push_str("\\\""),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Envoy's (symbol table's) order of stat names: token by token.
fn token_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.split('.').cmp(b.split('.'))
}

/// `fmt::format("{:.32g}", x)`: 32 significant digits, trailing zeros dropped, scientific
/// notation (`e+32`, at least two exponent digits) below 1e-4 or from 1e32 on.
pub(super) fn format_g32(x: f64) -> String {
    const PRECISION: i32 = 32;
    if !x.is_finite() {
        return if x.is_nan() {
            "nan".to_owned()
        } else if x > 0.0 {
            "inf".to_owned()
        } else {
            "-inf".to_owned()
        };
    }
    let scientific = format!("{:.*e}", (PRECISION - 1) as usize, x);
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..PRECISION).contains(&exponent) {
        let fixed = format!("{:.*}", (PRECISION - 1 - exponent) as usize, x);
        trim_fraction(&fixed).to_owned()
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim_fraction(mantissa), exponent.abs())
    }
}

fn trim_fraction(number: &str) -> &str {
    if number.contains('.') { number.trim_end_matches('0').trim_end_matches('.') } else { number }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_g32_matches_fmt() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (0.5, "0.5"),
            (3_600_000.0, "3600000"),
            (1e6, "1000000"),
            (0.005, "0.0050000000000000001040834085586084"),
            (123_456_789.123, "123456789.12299999594688415527344"),
            (999_999_999_999_999_945_575_230_987_042_816.0, "9.9999999999999994557523098704282e+32"),
            (1e-5, "1.0000000000000000818030539140313e-05"),
        ];
        for &(x, expected) in cases {
            assert_eq!(format_g32(x), expected);
        }
    }

    #[test]
    fn names_and_order() {
        assert_eq!(metric_name("wasmcustom.uni_é_ü").as_deref(), Some("uni____"));
        assert_eq!(metric_name("wasmcustom.9starts_digit"), None);
        assert_eq!(metric_name("wasmcustom"), Some("envoy_wasmcustom".to_owned()));
        assert_eq!(metric_name("strip.me"), Some("envoy_strip_me".to_owned()));
        assert_eq!(metric_name("cut2é"), Some("envoy_cut2__".to_owned()));
        assert_eq!(labels(&[("é€.t".to_owned(), "x".to_owned())]), r#"______t="x""#);
        let mut names = ["aa", "a-b.c", "a.z", "a.b", "a..b", ".lead", "A"];
        names.sort_by(|a, b| token_cmp(a, b));
        assert_eq!(names, [".lead", "A", "a..b", "a.b", "a.z", "a-b.c", "aa"]);
    }
}
