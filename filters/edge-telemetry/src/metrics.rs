//! The module's self-telemetry counters.
//!
//! Names follow Prometheus conventions; Envoy exports Wasm-defined metrics under their own name
//! on `/stats/prometheus` (no `envoy_` prefix), so these appear exactly as written here. Labelled
//! ones (`;kind=...`) get their labels from the Envoy `stats_tags` the shipped configs carry.

use std::cell::RefCell;
use std::collections::HashMap;

use telemetry_core::export::ExportStats;

use crate::host::{self, MetricKind};

/// Requests whose incoming trace headers were present but invalid.
pub const INVALID_TRACE_CONTEXT: &str = "meshlens_trace_context_invalid_total";
/// Configurations accepted (`on_configure` returning true), per VM.
pub const CONFIG_RELOADS: &str = "meshlens_config_reloads_total";
/// A gauge: the module's Wasm linear memory on this worker, set on every tick. It grows while
/// metric series and batches fill and then stays flat (benches/RESULTS.md); steady growth would
/// be a leak.
pub const WASM_MEMORY: &str = "meshlens_wasm_memory_bytes";

/// The four counters of one exported signal (`spans` or `logs`):
/// `meshlens_<signal>_exported_total` (collector answered 2xx), `..._dropped_total` (queue
/// full), `..._failed_total` (in failed calls), and `meshlens_export_failures_total{signal}`
/// (failed calls). Spans keep the unlabelled `meshlens_export_failures_total`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignalCounters {
    exported: Option<u32>,
    dropped: Option<u32>,
    failed: Option<u32>,
    failed_calls: Option<u32>,
}

/// Counter ids, defined once per VM in `on_configure`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub spans: SignalCounters,
    pub logs: SignalCounters,
    invalid_trace_context: Option<u32>,
    config_reloads: Option<u32>,
    wasm_memory: Option<u32>,
    /// Labelled counters defined on first use, by full stat name.
    labelled: RefCell<HashMap<String, u32>>,
}

fn define(name: &str) -> Option<u32> {
    define_kind(MetricKind::Counter, name)
}

fn define_kind(kind: MetricKind, name: &str) -> Option<u32> {
    match host::define_metric(kind, name) {
        Ok(id) => Some(id),
        Err(e) => {
            host::log(host::Level::Warn, &format!("meshlens: cannot define metric {name}: {e:?}"));
            None
        }
    }
}

impl SignalCounters {
    /// Defines the counters of `signal` (`spans` or `logs`).
    pub fn define(signal: &str) -> Self {
        let failures = if signal == "spans" {
            String::from("meshlens_export_failures_total")
        } else {
            format!("meshlens_export_failures_total;signal={signal}")
        };
        Self {
            exported: define(&format!("meshlens_{signal}_exported_total")),
            dropped: define(&format!("meshlens_{signal}_dropped_total")),
            failed: define(&format!("meshlens_{signal}_failed_total")),
            failed_calls: define(&failures),
        }
    }

    /// Adds what changed in the export totals.
    pub fn record(&self, delta: ExportStats) {
        add(self.exported, delta.exported);
        add(self.dropped, delta.dropped);
        add(self.failed, delta.failed);
        add(self.failed_calls, delta.failed_calls);
    }
}

impl Metrics {
    /// Defines every counter. A counter the host refuses is skipped (and logged), never fatal.
    pub fn define(logs: bool) -> Self {
        Self {
            spans: SignalCounters::define("spans"),
            logs: if logs { SignalCounters::define("logs") } else { SignalCounters::default() },
            invalid_trace_context: define(INVALID_TRACE_CONTEXT),
            config_reloads: define(CONFIG_RELOADS),
            wasm_memory: define_kind(MetricKind::Gauge, WASM_MEMORY),
            labelled: RefCell::new(HashMap::new()),
        }
    }

    /// Counts one accepted configuration.
    pub fn config_reloaded(&self) {
        add(self.config_reloads, 1);
    }

    /// Counts one request with invalid incoming trace headers.
    /// Sets the memory gauge to the module's current linear memory.
    pub fn record_wasm_memory(&self) {
        if let Some(id) = self.wasm_memory {
            let _ = host::record_metric(id, host::wasm_memory_bytes());
        }
    }

    pub fn invalid_trace_context(&self) {
        add(self.invalid_trace_context, 1);
    }

    /// Adds `delta` to the labelled counter `name` (`metric;label=value`), defining it first.
    pub fn add_labelled(&self, name: &str, delta: u64) {
        let Ok(mut ids) = self.labelled.try_borrow_mut() else { return };
        let id = match ids.get(name) {
            Some(id) => Some(*id),
            None => {
                let id = define(name);
                if let Some(id) = id {
                    ids.insert(name.to_owned(), id);
                }
                id
            }
        };
        add(id, delta);
    }
}

fn add(id: Option<u32>, delta: u64) {
    if let (Some(id), Ok(delta)) = (id, i64::try_from(delta))
        && delta > 0
    {
        let _ = host::increment_metric(id, delta);
    }
}

/// Hands one request-metrics delta to Envoy: defines the counter the first time (the returned id
/// is remembered by the engine), then increments it. If Envoy refuses the definition, that delta
/// is lost and the definition is tried again with the next one.
pub fn hand_over(name: &str, id: Option<u32>, delta: u64) -> Option<u32> {
    let id = match id {
        Some(id) => id,
        None => host::define_metric(MetricKind::Counter, name).ok()?,
    };
    add(Some(id), delta);
    Some(id)
}
