//! The module's self-telemetry counters (names in [`crate::names`]), defined once per VM.
//!
//! A metric the host refuses to define is skipped (and logged), never fatal.

use std::collections::HashMap;

use super::host::{Host, LogLevel, LogSink, MetricKind, MetricSink};
use crate::export::ExportStats;
use crate::names::{self, SignalNames};

/// The four counters of one exported signal.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignalCounters {
    exported: Option<u32>,
    dropped: Option<u32>,
    failed: Option<u32>,
    failed_calls: Option<u32>,
}

/// Counter ids, and the labelled counters defined on first use.
#[derive(Debug, Default)]
pub struct Counters {
    pub spans: SignalCounters,
    pub logs: SignalCounters,
    pub metrics: SignalCounters,
    invalid_trace_context: Option<u32>,
    config_reloads: Option<u32>,
    wasm_memory: Option<u32>,
    /// Labelled counters defined on first use, by full stat name.
    labelled: HashMap<String, u32>,
}

fn define(host: &(impl MetricSink + LogSink), kind: MetricKind, name: &str) -> Option<u32> {
    match host.define_metric(kind, name) {
        Ok(id) => Some(id),
        Err(e) => {
            host.log(LogLevel::Warn, &format!("meshlens: cannot define metric {name}: {e}"));
            None
        }
    }
}

fn counter(host: &(impl MetricSink + LogSink), name: &str) -> Option<u32> {
    define(host, MetricKind::Counter, name)
}

/// Adds `delta` to counter `id` when both are there and `delta` is positive.
pub(super) fn add(host: &impl MetricSink, id: Option<u32>, delta: u64) {
    if let (Some(id), Ok(delta)) = (id, i64::try_from(delta))
        && delta > 0
    {
        host.increment_metric(id, delta);
    }
}

impl SignalCounters {
    /// Defines the counters of one signal.
    pub fn define(host: &impl Host, names: SignalNames) -> Self {
        Self {
            exported: counter(host, names.exported),
            dropped: counter(host, names.dropped),
            failed: counter(host, names.failed),
            failed_calls: counter(host, names.failed_calls),
        }
    }

    /// Adds what changed in the export totals.
    pub fn record(&self, host: &impl MetricSink, delta: ExportStats) {
        add(host, self.exported, delta.exported);
        add(host, self.dropped, delta.dropped);
        add(host, self.failed, delta.failed);
        add(host, self.failed_calls, delta.failed_calls);
    }
}

impl Counters {
    /// Defines every counter; the log and metric signals' only when OTLP logs or metrics are on.
    pub fn define(host: &impl Host, logs: bool, metrics: bool) -> Self {
        let signal = |on: bool, names| if on { SignalCounters::define(host, names) } else { SignalCounters::default() };
        Self {
            spans: SignalCounters::define(host, names::SPANS),
            logs: signal(logs, names::LOGS),
            metrics: signal(metrics, names::METRICS),
            invalid_trace_context: counter(host, names::TRACE_CONTEXT_INVALID),
            config_reloads: counter(host, names::CONFIG_RELOADS),
            wasm_memory: define(host, MetricKind::Gauge, names::WASM_MEMORY),
            labelled: HashMap::new(),
        }
    }

    /// Counts one accepted configuration.
    pub fn config_reloaded(&self, host: &impl MetricSink) {
        add(host, self.config_reloads, 1);
    }

    /// Counts one request with invalid incoming trace headers.
    pub fn invalid_trace_context(&self, host: &impl MetricSink) {
        add(host, self.invalid_trace_context, 1);
    }

    /// Sets the memory gauge.
    pub fn wasm_memory(&self, host: &impl MetricSink, bytes: u64) {
        if let Some(id) = self.wasm_memory {
            host.record_metric(id, bytes);
        }
    }

    /// Adds `delta` to the labelled counter `name` (`metric;label=value`), defining it first.
    pub fn add_labelled(&mut self, host: &(impl MetricSink + LogSink), name: &str, delta: u64) {
        let id = match self.labelled.get(name) {
            Some(id) => Some(*id),
            None => {
                let id = counter(host, name);
                if let Some(id) = id {
                    self.labelled.insert(name.to_owned(), id);
                }
                id
            }
        };
        add(host, id, delta);
    }
}

/// Hands one request-metrics delta to the host: defines the counter the first time (the returned
/// id is remembered by the engine), then increments it. If the host refuses the definition, that
/// delta is lost and the definition is tried again with the next one.
pub(super) fn hand_over(host: &impl MetricSink, name: &str, id: Option<u32>, delta: u64) -> Option<u32> {
    let id = match id {
        Some(id) => id,
        None => host.define_metric(MetricKind::Counter, name).ok()?,
    };
    add(host, Some(id), delta);
    Some(id)
}
