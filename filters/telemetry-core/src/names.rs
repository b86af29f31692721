//! Every name meshlens emits, in one place: the module's self-telemetry metrics, the standard
//! request-metric families, and the fields of its log lines ([`log`]). Tests, dashboard checks
//! and rule checks import these instead of copying them.
//!
//! Names follow Prometheus conventions. Envoy exports Wasm-defined metrics under their own name on
//! `/stats/prometheus` (no `envoy_` prefix), so these appear exactly as written here. Labelled
//! series are written `name;label=value` (see [`crate::metrics::labels`]); the shipped Envoy
//! configs' `stats_tags` turn the suffixes into Prometheus labels.

/// Requests whose incoming trace headers were present but invalid.
pub const TRACE_CONTEXT_INVALID: &str = "meshlens_trace_context_invalid_total";
/// Configurations accepted (`on_configure` returning true), per VM.
pub const CONFIG_RELOADS: &str = "meshlens_config_reloads_total";
/// A gauge: the module's Wasm linear memory on a worker, set on every tick. It grows while metric
/// series and batches fill and then stays flat; steady growth would be a leak.
pub const WASM_MEMORY: &str = "meshlens_wasm_memory_bytes";

/// Spans the collector accepted (2xx).
pub const SPANS_EXPORTED: &str = "meshlens_spans_exported_total";
/// Spans dropped because the queue was full.
pub const SPANS_DROPPED: &str = "meshlens_spans_dropped_total";
/// Spans in export calls that failed.
pub const SPANS_FAILED: &str = "meshlens_spans_failed_total";
/// Log records the collector accepted (2xx), with OTLP logs on.
pub const LOGS_EXPORTED: &str = "meshlens_logs_exported_total";
/// Log records dropped because the queue was full.
pub const LOGS_DROPPED: &str = "meshlens_logs_dropped_total";
/// Log records in export calls that failed.
pub const LOGS_FAILED: &str = "meshlens_logs_failed_total";
/// Export calls that failed, labelled `signal` (`traces`, `logs`, `metrics`): every series of a family
/// carries the same label names, so no series of this one is unlabelled.
pub const EXPORT_FAILURES: &str = "meshlens_export_failures_total";
/// Failed span export calls.
pub const EXPORT_FAILURES_TRACES: &str = "meshlens_export_failures_total;signal=traces";
/// Failed log export calls.
pub const EXPORT_FAILURES_LOGS: &str = "meshlens_export_failures_total;signal=logs";

/// Access failures, labelled `kind` (`unauthorized`, `forbidden`, `rate_limited`, `other`).
pub const SECURITY_RESPONSES: &str = "meshlens_security_responses_total";
/// Security events, labelled `event_type`.
pub const SECURITY_EVENTS: &str = "meshlens_security_events_total";
/// OTLP metric batches (one worker's families, one interval) accepted by the collector.
pub const METRIC_BATCHES_EXPORTED: &str = "meshlens_metric_batches_exported_total";
/// OTLP metric batches dropped because the queue was full.
pub const METRIC_BATCHES_DROPPED: &str = "meshlens_metric_batches_dropped_total";
/// OTLP metric batches in failed export calls.
pub const METRIC_BATCHES_FAILED: &str = "meshlens_metric_batches_failed_total";
/// Failed OTLP metrics export calls.
pub const EXPORT_FAILURES_METRICS: &str = "meshlens_export_failures_total;signal=metrics";
/// Redactions applied, labelled `kind`.
pub const REDACTIONS: &str = "meshlens_redactions_total";
/// Label sets that went to a family's overflow series, labelled `metric`.
pub const SERIES_OVERFLOW: &str = "meshlens_metrics_series_overflow_total";

/// Every self-telemetry counter and gauge, unlabelled names.
pub const SELF_TELEMETRY: [&str; 17] = [
    TRACE_CONTEXT_INVALID,
    CONFIG_RELOADS,
    WASM_MEMORY,
    SPANS_EXPORTED,
    SPANS_DROPPED,
    SPANS_FAILED,
    LOGS_EXPORTED,
    LOGS_DROPPED,
    LOGS_FAILED,
    METRIC_BATCHES_EXPORTED,
    METRIC_BATCHES_DROPPED,
    METRIC_BATCHES_FAILED,
    EXPORT_FAILURES,
    SECURITY_RESPONSES,
    SECURITY_EVENTS,
    REDACTIONS,
    SERIES_OVERFLOW,
];

/// The default prefix of the standard request-metric families (`metrics.prefix`).
pub const DEFAULT_PREFIX: &str = "meshlens_";
/// The standard families, after the prefix: requests (counter), duration, request size and
/// response size (histograms).
pub const REQUESTS: &str = "http_requests_total";
pub const REQUEST_DURATION: &str = "http_request_duration_seconds";
pub const REQUEST_SIZE: &str = "http_request_size_bytes";
pub const RESPONSE_SIZE: &str = "http_response_size_bytes";
/// The standard families, after the prefix, in the order they are defined.
pub const STANDARD_FAMILIES: [&str; 4] = [REQUESTS, REQUEST_DURATION, REQUEST_SIZE, RESPONSE_SIZE];

/// The four counters of one exported signal (`spans` or `logs`): items exported, dropped and
/// failed, and failed calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalNames {
    pub exported: &'static str,
    pub dropped: &'static str,
    pub failed: &'static str,
    pub failed_calls: &'static str,
}

/// The span exporter's counters.
pub const SPANS: SignalNames = SignalNames {
    exported: SPANS_EXPORTED,
    dropped: SPANS_DROPPED,
    failed: SPANS_FAILED,
    failed_calls: EXPORT_FAILURES_TRACES,
};
/// The OTLP log exporter's counters.
pub const LOGS: SignalNames = SignalNames {
    exported: LOGS_EXPORTED,
    dropped: LOGS_DROPPED,
    failed: LOGS_FAILED,
    failed_calls: EXPORT_FAILURES_LOGS,
};

/// The OTLP metrics exporter's counters.
pub const METRICS: SignalNames = SignalNames {
    exported: METRIC_BATCHES_EXPORTED,
    dropped: METRIC_BATCHES_DROPPED,
    failed: METRIC_BATCHES_FAILED,
    failed_calls: EXPORT_FAILURES_METRICS,
};

/// The fields of meshlens's log lines (the proxy-log JSON line and OTLP log attributes).
pub mod log {
    /// The head of every line, in order: RFC 3339 time, level, the human-readable message, then
    /// the trace and span ids when the record has them.
    pub const TIMESTAMP: &str = "timestamp";
    pub const LEVEL: &str = "level";
    pub const MESSAGE: &str = "message";
    pub const TRACE_ID: &str = "trace_id";
    pub const SPAN_ID: &str = "span_id";
    /// The head fields, which no configured field may take.
    pub const HEAD: [&str; 5] = [TIMESTAMP, LEVEL, MESSAGE, TRACE_ID, SPAN_ID];

    /// The standard fields of an access line (`access_log.fields`), in output order.
    pub const SERVICE: &str = "service";
    pub const METHOD: &str = "method";
    pub const ROUTE: &str = "route";
    pub const PATH: &str = "path";
    pub const STATUS: &str = "status";
    pub const DURATION_MS: &str = "duration_ms";
    pub const REQUEST_BYTES: &str = "request_bytes";
    pub const RESPONSE_BYTES: &str = "response_bytes";
    pub const UPSTREAM_CLUSTER: &str = "upstream_cluster";
    pub const UPSTREAM_HOST: &str = "upstream_host";
    pub const CLIENT_ADDRESS: &str = "client_address";
    pub const USER_AGENT: &str = "user_agent";
    pub const REQUEST_ID: &str = "request_id";
    pub const QUERY_HASH: &str = "query_hash";
    pub const GRPC_STATUS: &str = "grpc_status";

    /// The fields of a security event's line (besides [`SERVICE`] and [`CLIENT_ADDRESS`]).
    pub const EVENT_TYPE: &str = "event_type";
    pub const COUNT: &str = "count";
    pub const WINDOW_S: &str = "window_s";

    /// Every standard access-line field, in output order.
    pub const ACCESS_FIELDS: [&str; 15] = [
        SERVICE,
        METHOD,
        ROUTE,
        PATH,
        STATUS,
        DURATION_MS,
        REQUEST_BYTES,
        RESPONSE_BYTES,
        UPSTREAM_CLUSTER,
        UPSTREAM_HOST,
        CLIENT_ADDRESS,
        USER_AGENT,
        REQUEST_ID,
        QUERY_HASH,
        GRPC_STATUS,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::labels::is_metric_name;

    #[test]
    fn every_name_is_a_prometheus_metric_name_and_listed_once() {
        for (i, name) in SELF_TELEMETRY.iter().enumerate() {
            assert!(is_metric_name(name), "{name}");
            assert!(name.starts_with(DEFAULT_PREFIX), "{name}");
            assert!(!SELF_TELEMETRY[..i].contains(name), "{name} listed twice");
        }
        for family in STANDARD_FAMILIES {
            assert!(is_metric_name(&format!("{DEFAULT_PREFIX}{family}")), "{family}");
        }
        assert_eq!(EXPORT_FAILURES_LOGS.split(';').next(), Some(EXPORT_FAILURES));
        assert_eq!(EXPORT_FAILURES_TRACES.split(';').next(), Some(EXPORT_FAILURES));
        assert_eq!(EXPORT_FAILURES_METRICS.split(';').next(), Some(EXPORT_FAILURES));
    }

    #[test]
    fn log_lines_carry_the_named_fields() {
        use crate::access_log::build::{FIELDS, Field};
        use crate::access_log::{FieldValue, LogRecord, Severity, line};
        use crate::ids::{SpanId, TraceId};

        let names: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, log::ACCESS_FIELDS);
        assert!(FIELDS.iter().all(|(n, f)| Field::named(n) == Some(*f)));
        let record = LogRecord {
            time_unix_nanos: 1,
            severity: Severity::Info,
            message: String::from("GET / 200"),
            trace_id: TraceId::new([1; 16]),
            span_id: SpanId::new([2; 8]),
            trace_flags: 1,
            fields: vec![(log::STATUS.into(), FieldValue::Int(200))],
        };
        let mut out = String::new();
        line::encode(&record, &mut out);
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        let keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected = vec![log::TIMESTAMP, log::LEVEL, log::MESSAGE, log::TRACE_ID, log::SPAN_ID, log::STATUS];
        expected.sort_unstable();
        assert_eq!(keys, expected);
    }
}
