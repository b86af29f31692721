//! The pipeline's metrics as Envoy dynamic-module metrics.
//!
//! The pipeline names a series the way proxy-wasm needs it, `<metric>;<label>=<value>;...`
//! (`telemetry_core::metrics::labels`), and defines each series when it first sees it. The
//! dynamic-module ABI has labels but accepts definitions only while `config_new` runs (Envoy
//! freezes stat creation afterwards). So a series name is split into a family (`<metric>` and
//! its label names), defined once as an Envoy metric with those labels, and label values given
//! on each update. A family first seen after configuration cannot be defined: the families the
//! pipeline only names later are defined up front, the self-telemetry ones by
//! [`Registry::define_known_families`] and, when the request metrics go to Envoy's stats (no
//! `metrics.endpoint`), the request families by [`Registry::define_request_families`], with the
//! series names `telemetry_core::metrics` gives them (`<family>` for a counter; `_bucket` with
//! `le` last, `_count` and `_sum` for a histogram).
//!
//! Envoy prefixes these stats with `dynamicmodulescustom.` and drops the prefix from
//! `/stats/prometheus`, as it drops `wasmcustom.` for the Wasm module's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use telemetry_core::metrics::{Kind, MetricsConfig};
use telemetry_core::names;
use telemetry_core::pipeline::host::{HostError, MetricKind};

use crate::abi;

/// Labelled families the pipeline defines only after configuration; label names in the order
/// the pipeline writes them.
const KNOWN_FAMILIES: [(&str, &[&str]); 4] = [
    (names::REDACTIONS, &["kind"]),
    (names::SERIES_OVERFLOW, &["metric"]),
    (names::SECURITY_RESPONSES, &["kind"]),
    (names::SECURITY_EVENTS, &["event_type"]),
];

/// The families and series of one filter config, shared by its workers: updates (every request)
/// take the lock shared, definitions (a new label value) exclusive.
#[derive(Debug, Default)]
pub struct Registry {
    inner: RwLock<Inner>,
    frozen: AtomicBool,
}

#[derive(Debug, Default)]
struct Inner {
    /// Envoy metric ids by family.
    families: HashMap<Family, usize>,
    /// Module ids (the index) of every series defined.
    series: Vec<Series>,
    /// Series ids by kind and full stat name.
    by_name: HashMap<(bool, String), u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Family {
    gauge: bool,
    name: String,
    labels: Vec<String>,
}

#[derive(Debug)]
struct Series {
    gauge: bool,
    envoy_id: usize,
    values: Vec<String>,
}

/// A stat name split into metric name, label names and label values.
fn split(stat: &str) -> (&str, Vec<&str>, Vec<&str>) {
    let mut parts = stat.split(';');
    let name = parts.next().unwrap_or(stat);
    let (mut labels, mut values) = (Vec::new(), Vec::new());
    for pair in parts {
        let (label, value) = pair.split_once('=').unwrap_or((pair, ""));
        labels.push(label);
        values.push(value);
    }
    (name, labels, values)
}

impl Registry {
    /// Defines the families the pipeline names only after configuration.
    pub fn define_known_families(&self, config: abi::Config) {
        for (name, labels) in KNOWN_FAMILIES {
            let _ = self.family(config, false, name, labels);
        }
    }

    /// Defines the request-metric families of `metrics`, when the pipeline hands them to Envoy's
    /// stats (not when it serves them itself at `metrics.endpoint`).
    pub fn define_request_families(&self, config: abi::Config, metrics: &MetricsConfig) {
        if metrics.endpoint.is_some() {
            return;
        }
        for family in &metrics.families {
            let labels: Vec<&str> = family.labels.iter().map(|(name, _)| name.as_str()).collect();
            if family.kind == Kind::Requests {
                let _ = self.family(config, false, &family.name, &labels);
                continue;
            }
            let mut with_le = labels.clone();
            with_le.push("le");
            let _ = self.family(config, false, &format!("{}_bucket", family.name), &with_le);
            let _ = self.family(config, false, &format!("{}_count", family.name), &labels);
            let _ = self.family(config, false, &format!("{}_sum", family.name), &labels);
        }
    }

    /// After this, new families are refused (Envoy would refuse them).
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::Release);
    }

    /// Defines (or finds) the series `stat`; its module id.
    pub fn define(&self, config: abi::Config, kind: MetricKind, stat: &str) -> Result<u32, HostError> {
        let gauge = kind == MetricKind::Gauge;
        if let Some(id) = self.read().by_name.get(&(gauge, stat.to_owned())) {
            return Ok(*id);
        }
        let (name, labels, values) = split(stat);
        let envoy_id = self.family(config, gauge, name, &labels)?;
        if !gauge {
            // Envoy creates a labelled series on its first update: adding 0 makes it exist now,
            // at 0, as a proxy-wasm definition does (a series that first appears at 1 shows no
            // `increase()` in Prometheus).
            config.increment_counter(envoy_id, &values, 0);
        }
        let mut inner = self.write();
        if let Some(id) = inner.by_name.get(&(gauge, stat.to_owned())) {
            return Ok(*id);
        }
        let id = u32::try_from(inner.series.len()).map_err(|_| HostError(String::from("too many series")))?;
        inner.series.push(Series { gauge, envoy_id, values: values.into_iter().map(String::from).collect() });
        inner.by_name.insert((gauge, stat.to_owned()), id);
        Ok(id)
    }

    /// Adds `delta` to counter `id`.
    pub fn increment(&self, config: abi::Config, id: u32, delta: u64) {
        let inner = self.read();
        if let Some(series) = inner.series.get(id as usize).filter(|s| !s.gauge) {
            let values: Vec<&str> = series.values.iter().map(String::as_str).collect();
            config.increment_counter(series.envoy_id, &values, delta);
        }
    }

    /// Sets gauge `id`.
    pub fn set(&self, config: abi::Config, id: u32, value: u64) {
        let inner = self.read();
        if let Some(series) = inner.series.get(id as usize).filter(|s| s.gauge) {
            let values: Vec<&str> = series.values.iter().map(String::as_str).collect();
            config.set_gauge(series.envoy_id, &values, value);
        }
    }

    fn family(&self, config: abi::Config, gauge: bool, name: &str, labels: &[&str]) -> Result<usize, HostError> {
        let family = Family { gauge, name: name.to_owned(), labels: labels.iter().map(|l| (*l).to_owned()).collect() };
        if let Some(id) = self.read().families.get(&family) {
            return Ok(*id);
        }
        if self.frozen.load(Ordering::Acquire) {
            return Err(HostError(format!(
                "Frozen: metric family {name} {labels:?} was not defined while Envoy accepted definitions"
            )));
        }
        let id =
            config.define_metric(gauge, name, labels).map_err(|code| HostError(format!("metrics_result {code}")))?;
        self.write().families.insert(family, id);
        Ok(id)
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_name_splits_into_metric_labels_and_values() {
        assert_eq!(split("meshlens_spans_exported_total"), ("meshlens_spans_exported_total", vec![], vec![]));
        assert_eq!(
            split("meshlens_http_requests_total;method=GET;route=/users/{id}"),
            ("meshlens_http_requests_total", vec!["method", "route"], vec!["GET", "/users/{id}"])
        );
        assert_eq!(split("x;le=+Inf"), ("x", vec!["le"], vec!["+Inf"]));
    }
}
