//! The metrics registry, with Envoy's semantics for Wasm-defined metrics, and its rendering as
//! Envoy's `/stats/prometheus` renders them.
//!
//! Everything here was measured on Envoy 1.40 (V8) with a probe filter that runs scripts of
//! metric hostcalls; the tests replay the same scripts and compare with Envoy's output.
//!
//! Hostcalls, as Envoy answers them:
//! - `proxy_define_metric` always succeeds (any name, even empty) and hands out a **new id on
//!   every call**: ids count up by 4 per kind, tagged with the kind in the low two bits (counters
//!   4, 8, 12…; gauges 5, 9…; histograms 6, 10…). Defining a name again returns a new id that
//!   aliases the same metric. The same name with another kind is another metric: both print,
//!   each under its own `# TYPE`. Envoy answers BAD_ARGUMENT for a kind above 2, which
//!   [`MetricType`] cannot carry (the caller rejects the raw value).
//! - Names: trailing dots are dropped (`x.`, `x..` and `x` are one metric; `.` and `..` are the
//!   empty name); leading and inner empty segments stay (`..x`, `a..b`).
//! - `proxy_increment_metric`: counter `delta > 0` adds, else BAD_ARGUMENT; gauge adds any delta
//!   (Envoy's gauge is a u64: below zero it wraps to 18446744073709551615); a histogram id (or
//!   an id with kind bits 3) is BAD_ARGUMENT; an unknown counter or gauge id is NOT_FOUND.
//! - `proxy_record_metric`: counter adds (wrapping: 5 + u64::MAX = 4), gauge sets, histogram
//!   records; any unknown id is NOT_FOUND.
//! - `proxy_get_metric`: counter and gauge values as u64; a histogram id is BAD_ARGUMENT (known
//!   or not), an unknown counter or gauge id NOT_FOUND.
//!
//! Rendering (see `prometheus.rs`, `tags.rs`, `histogram.rs` for the details observed): tag
//! extraction with Envoy's default extractors and `stats_tags`, name sanitizing, the
//! `wasmcustom` namespace (no `envoy_` prefix), ordering, `{}` for no labels, number formats, and
//! histogram buckets and sums computed from libcircllhist's bins exactly as Envoy computes them,
//! approximations included: the tests compare byte for byte with Envoy's output.
//!
//! Labels: a module that encodes labels into the name as `base;key=value;key=value` gets clean
//! labels from one `stats_tags` entry per key, `{tag_name: key, regex: "(;key=([^;]*))"}`;
//! values may hold dots (not `;`, and trailing dots are dropped). The dotted form
//! `base.key.value` breaks as soon as a value holds a dot (`/api/v1.2/query`).
//!
//! Differences that remain:
//! - Envoy keeps metric ids per Wasm VM (each worker's VM numbers its own definitions); this
//!   registry numbers them per registry, so VMs sharing one registry see each other's ids.
//! - Envoy shows recorded histogram values only after a stats flush (`stats_flush_interval`,
//!   5 s by default; before that `_count` is 0); the rendering here is always "flushed".
//! - Custom tag regexes run on the `regex` crate, not ECMAScript (see [`StatsTag`]);
//!   `stats_config.use_all_default_tags: false` is not modelled.
//!
//! ```
//! use host_harness::abi::MetricType;
//! use host_harness::metrics::{PrometheusConfig, Registry, StatsTag};
//!
//! let mut registry = Registry::new();
//! let id = registry.define(MetricType::Counter, "requests_total;method=GET").unwrap();
//! registry.increment(id, 2).unwrap();
//! let method = StatsTag::regex("method", "(;method=([^;]*))").unwrap();
//! let config = PrometheusConfig { stats_tags: vec![method], ..Default::default() };
//! assert_eq!(
//!     registry.render_prometheus(&config),
//!     "# TYPE requests_total counter\nrequests_total{method=\"GET\"} 2\n",
//! );
//! ```

mod bootstrap;
mod histogram;
mod prometheus;
mod tags;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use crate::abi::{MetricType, Status};

pub use bootstrap::stats_tags_from_envoy_yaml;
pub use histogram::HistogramValue;
pub use prometheus::{DEFAULT_BUCKETS, HistogramBuckets, PrometheusConfig};
pub use tags::StatsTag;

/// The metrics modules defined, by id and by name.
#[derive(Debug, Default)]
pub struct Registry {
    /// In definition order.
    metrics: Vec<Metric>,
    /// Metric id to index in `metrics`.
    ids: HashMap<u32, usize>,
    /// How many ids each kind has handed out.
    defines: HashMap<MetricType, u32>,
}

/// A metric's current value.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    /// A counter's total (wrapping at 2^64 like Envoy's).
    Counter(u64),
    /// Envoy's gauge is a u64 that wraps below zero; this is the same bits read as i64, so a
    /// gauge decremented below zero reads as negative here and as 2^64 - n in Envoy's output.
    Gauge(i64),
    /// Every value recorded into a histogram.
    Histogram(HistogramValue),
}

#[derive(Debug)]
struct Metric {
    kind: MetricType,
    /// As defined, trailing dots dropped; the stat is `wasmcustom.<name>`.
    name: String,
    value: Value,
}

#[derive(Debug)]
enum Value {
    Counter(u64),
    Gauge(u64),
    Histogram(HistogramValue),
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// `proxy_define_metric`: a new id for the metric `(kind, name)`, creating it on first use.
    /// Like Envoy, defining a name again returns a *new* id aliasing the same metric. Never
    /// fails (the `Result` is the hostcall's shape).
    pub fn define(&mut self, kind: MetricType, name: &str) -> Result<u32, Status> {
        let name = normalize(name);
        let index = match self.metrics.iter().position(|m| m.kind == kind && m.name == name) {
            Some(index) => index,
            None => {
                let value = match kind {
                    MetricType::Counter => Value::Counter(0),
                    MetricType::Gauge => Value::Gauge(0),
                    MetricType::Histogram => Value::Histogram(HistogramValue::default()),
                };
                self.metrics.push(Metric { kind, name: name.to_owned(), value });
                self.metrics.len() - 1
            }
        };
        let defined = self.defines.entry(kind).or_default();
        *defined = defined.wrapping_add(1);
        let id = defined.wrapping_mul(4).wrapping_add(kind as u32);
        self.ids.insert(id, index);
        Ok(id)
    }

    /// `proxy_increment_metric`: counter `delta > 0` (else BadArgument), gauge any delta
    /// (wrapping like Envoy's u64 gauge), histogram BadArgument; unknown id NotFound.
    pub fn increment(&mut self, id: u32, delta: i64) -> Result<(), Status> {
        match MetricType::from_raw(id & 3) {
            Some(MetricType::Counter | MetricType::Gauge) => match self.value_mut(id).ok_or(Status::NotFound)? {
                Value::Counter(_) if delta <= 0 => Err(Status::BadArgument),
                // Two's complement: adding `delta as u64` is Envoy's add or sub(-delta).
                Value::Counter(v) | Value::Gauge(v) => {
                    *v = v.wrapping_add(delta as u64);
                    Ok(())
                }
                Value::Histogram(_) => Err(Status::BadArgument),
            },
            _ => Err(Status::BadArgument),
        }
    }

    /// `proxy_record_metric`: counter adds, gauge sets, histogram records; unknown id NotFound.
    pub fn record(&mut self, id: u32, value: u64) -> Result<(), Status> {
        match self.value_mut(id).ok_or(Status::NotFound)? {
            Value::Counter(v) => *v = v.wrapping_add(value),
            Value::Gauge(v) => *v = value,
            Value::Histogram(h) => h.record(value),
        }
        Ok(())
    }

    /// `proxy_get_metric`: a counter's or gauge's value; a histogram id is BadArgument (as is
    /// any id with kind bits 2 or 3, known or not); an unknown counter or gauge id NotFound.
    pub fn get(&self, id: u32) -> Result<u64, Status> {
        let index = self.ids.get(&id).copied();
        match index.and_then(|i| self.metrics.get(i)).map(|m| &m.value) {
            _ if id & 3 >= 2 => Err(Status::BadArgument),
            Some(Value::Counter(v) | Value::Gauge(v)) => Ok(*v),
            Some(Value::Histogram(_)) => Err(Status::BadArgument),
            None => Err(Status::NotFound),
        }
    }

    /// The value of the metric the module defined as `name` (trailing dots ignored); when the
    /// name was defined with several kinds, the first defined. See [`Self::value_of`].
    pub fn value(&self, name: &str) -> Option<MetricValue> {
        let name = normalize(name);
        self.metrics.iter().find(|m| m.name == name).map(Metric::public_value)
    }

    /// The value of the metric of this kind defined as `name` (trailing dots ignored).
    pub fn value_of(&self, kind: MetricType, name: &str) -> Option<MetricValue> {
        let name = normalize(name);
        self.metrics.iter().find(|m| m.kind == kind && m.name == name).map(Metric::public_value)
    }

    /// Every metric as `(name, value)`, in definition order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, MetricValue)> {
        self.metrics.iter().map(|m| (m.name.as_str(), m.public_value()))
    }

    /// Envoy's `/stats/prometheus` text for these metrics only (no `envoy_` built-ins).
    pub fn render_prometheus(&self, config: &PrometheusConfig) -> String {
        prometheus::render(&self.metrics, config)
    }

    fn value_mut(&mut self, id: u32) -> Option<&mut Value> {
        let index = *self.ids.get(&id)?;
        self.metrics.get_mut(index).map(|m| &mut m.value)
    }
}

impl Metric {
    fn public_value(&self) -> MetricValue {
        match &self.value {
            Value::Counter(v) => MetricValue::Counter(*v),
            Value::Gauge(v) => MetricValue::Gauge(*v as i64),
            Value::Histogram(h) => MetricValue::Histogram(h.clone()),
        }
    }
}

/// Envoy's stat name drops trailing dots (`x.` and `x` are one stat).
fn normalize(name: &str) -> &str {
    name.trim_end_matches('.')
}
