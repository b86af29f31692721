//! The module's self-telemetry counters.
//!
//! Names follow Prometheus conventions; Envoy exports Wasm-defined metrics under their own name
//! on `/stats/prometheus` (no `envoy_` prefix), so these appear exactly as written here.

use telemetry_core::export::ExportStats;

use crate::host::{self, MetricKind};

/// Spans the collector accepted (2xx).
pub const SPANS_EXPORTED: &str = "meshlens_spans_exported_total";
/// Spans dropped because the export queue was full.
pub const SPANS_DROPPED: &str = "meshlens_spans_dropped_total";
/// Spans in export calls that failed (refused, non-2xx, timeout, no response).
pub const SPANS_FAILED: &str = "meshlens_spans_failed_total";
/// Export calls that failed.
pub const EXPORT_FAILURES: &str = "meshlens_export_failures_total";
/// Requests whose incoming trace headers were present but invalid.
pub const INVALID_TRACE_CONTEXT: &str = "meshlens_trace_context_invalid_total";
/// Configurations accepted (`on_configure` returning true), per VM.
pub const CONFIG_RELOADS: &str = "meshlens_config_reloads_total";

/// Metric ids, defined once per VM in `on_configure`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Metrics {
    spans_exported: Option<u32>,
    spans_dropped: Option<u32>,
    spans_failed: Option<u32>,
    export_failures: Option<u32>,
    invalid_trace_context: Option<u32>,
    config_reloads: Option<u32>,
}

impl Metrics {
    /// Defines every counter. A counter the host refuses is skipped (and logged), never fatal.
    pub fn define() -> Self {
        let define = |name: &str| match host::define_metric(MetricKind::Counter, name) {
            Ok(id) => Some(id),
            Err(e) => {
                host::log(host::Level::Warn, &format!("meshlens: cannot define metric {name}: {e:?}"));
                None
            }
        };
        Self {
            spans_exported: define(SPANS_EXPORTED),
            spans_dropped: define(SPANS_DROPPED),
            spans_failed: define(SPANS_FAILED),
            export_failures: define(EXPORT_FAILURES),
            invalid_trace_context: define(INVALID_TRACE_CONTEXT),
            config_reloads: define(CONFIG_RELOADS),
        }
    }

    /// Adds what changed in the export totals.
    pub fn record_export(&self, delta: ExportStats) {
        add(self.spans_exported, delta.exported);
        add(self.spans_dropped, delta.dropped);
        add(self.spans_failed, delta.failed);
        add(self.export_failures, delta.failed_calls);
    }

    /// Counts one accepted configuration.
    pub fn config_reloaded(&self) {
        add(self.config_reloads, 1);
    }

    /// Counts one request with invalid incoming trace headers.
    pub fn invalid_trace_context(&self) {
        add(self.invalid_trace_context, 1);
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
