//! What [`crate::simulate`] and [`crate::validate`] return. Serialized as JSON for the browser;
//! the field names below are the JSON keys.

use serde::Serialize;
use serde_json::Value;
use telemetry_core::config::{ConfigError, EdgePolicy};
use telemetry_core::propagation::Format;
use telemetry_core::sampler::SampleReason;
use telemetry_core::tracer::{Decision, TraceOrigin, TraceStateFate};

/// Whether a configuration is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Validation {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ConfigurationError>,
}

/// Why the module refused a configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigurationError {
    /// The field, as a path (`tracing.sampling.ratio`, `routes[2]`); `(config)` for the document
    /// as a whole, empty when the host, not the configuration, failed.
    pub path: String,
    pub message: String,
    /// The line the module logs (at error level), exactly.
    pub log: String,
}

/// What one simulated exchange did and emitted.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Output {
    /// The input could not be read (not JSON, an unknown field, a body too large): nothing ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_error: Option<String>,
    /// The configuration was refused: nothing else ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_error: Option<ConfigurationError>,
    /// The trace-context decision; `null` without tracing.
    pub decision: Option<DecisionRecord>,
    /// The request headers the upstream received, in order; `null` when the proxy replied itself.
    pub upstream_request_headers: Option<Vec<(String, String)>>,
    /// The response headers sent downstream, in order.
    pub downstream_response_headers: Vec<(String, String)>,
    /// The exported spans (SERVER, and CLIENT when the request went upstream), each an OTLP JSON
    /// span object as `otlp-decode` reads the export payload back (the harness's reading).
    pub spans: Vec<Value>,
    /// The `resource` the spans were exported under (OTLP JSON); `null` when none was exported.
    pub resource: Option<Value>,
    /// The JSON lines the module wrote to the proxy log: access lines and security events, exactly.
    pub access_log: Vec<String>,
    /// Metric series whose value changed, or which were defined, during the exchange and the
    /// exports after it.
    pub metrics: Vec<MetricChange>,
    /// Redactions made, by kind (`meshlens_redactions_total{kind}`), zero counts left out.
    pub redactions: Vec<Redaction>,
    /// Every line the module logged, in order.
    pub logs: Vec<LogLine>,
}

/// The trace-context decision of the request, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionRecord {
    pub trace_id: String,
    /// This proxy's (SERVER) span.
    pub span_id: String,
    pub sampled: bool,
    /// `continued`, `started` or `restarted`.
    pub trace: &'static str,
    /// The format the context came from (`tracecontext`, `b3`, `b3multi`); `null`: none.
    pub extracted: Option<&'static str>,
    /// Some configured format's headers were present but invalid.
    pub invalid_context: bool,
    /// `absent`, `kept`, `dropped_invalid` or `not_continued` (restarted: on the link only).
    pub tracestate: &'static str,
    /// A B3 sampling state sent without ids; `null`: none.
    pub sampling_only: Option<bool>,
    /// B3 ids came without a sampling state: the decision was this hop's.
    pub sampling_deferred: bool,
    /// `trust` or `restart`.
    pub edge_policy: &'static str,
    pub reason: SampleRule,
    /// One sentence: what was decided and why.
    pub explanation: String,
}

/// The sampler rule that decided.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SampleRule {
    /// `route_always`, `route_never`, `parent`, `route_ratio` or `default_ratio`.
    pub rule: &'static str,
    /// The ratio, for `route_ratio` and `default_ratio`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
}

/// A metric series the exchange touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MetricChange {
    /// The stat name as Envoy receives it, labels included (`name;label=value;...`).
    pub name: String,
    /// `counter` or `gauge`.
    pub kind: &'static str,
    /// The value after the exchange.
    pub value: i64,
    /// The change during the exchange.
    pub delta: i64,
}

/// Redactions of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Redaction {
    /// The `kind` label (`header`, `bearer`, `query_param`, ...).
    pub kind: &'static str,
    pub count: u64,
}

/// One line the module logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    pub message: String,
}

impl ConfigurationError {
    /// The error of a refused configuration, as `Pipeline::configure` reports it.
    pub(crate) fn new(line: String, invalid: Option<ConfigError>) -> Self {
        let (path, message) = match invalid {
            Some(e) => (e.field, e.message),
            None => (String::new(), line.clone()),
        };
        Self { path, message, log: line }
    }
}

impl DecisionRecord {
    /// The record of `decision`, for the span `trace_id`/`span_id`.
    pub(crate) fn new(decision: &Decision, trace_id: String, span_id: String) -> Self {
        let reason = match decision.reason {
            SampleReason::RouteAlways => SampleRule { rule: "route_always", ratio: None },
            SampleReason::RouteNever => SampleRule { rule: "route_never", ratio: None },
            SampleReason::Parent => SampleRule { rule: "parent", ratio: None },
            SampleReason::RouteRatio(r) => SampleRule { rule: "route_ratio", ratio: Some(r.value()) },
            SampleReason::DefaultRatio(r) => SampleRule { rule: "default_ratio", ratio: Some(r.value()) },
        };
        Self {
            trace_id,
            span_id,
            sampled: decision.sampled,
            trace: match decision.trace {
                TraceOrigin::Continued => "continued",
                TraceOrigin::Started => "started",
                TraceOrigin::Restarted => "restarted",
            },
            extracted: decision.extracted.map(|f| match f {
                Format::TraceContext => "tracecontext",
                Format::B3Single => "b3",
                Format::B3Multi => "b3multi",
            }),
            invalid_context: decision.invalid_context,
            tracestate: match decision.tracestate {
                TraceStateFate::Absent => "absent",
                TraceStateFate::Kept => "kept",
                TraceStateFate::DroppedInvalid => "dropped_invalid",
                TraceStateFate::NotContinued => "not_continued",
            },
            sampling_only: decision.sampling_only,
            sampling_deferred: decision.sampling_deferred,
            edge_policy: match decision.edge_policy {
                EdgePolicy::Trust => "trust",
                EdgePolicy::Restart => "restart",
            },
            reason,
            explanation: decision.explain(),
        }
    }
}
