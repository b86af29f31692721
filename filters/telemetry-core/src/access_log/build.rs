//! Turning a finished request into its access-log record: field selection, redaction, sampling.

use std::borrow::Cow;

use super::{FieldValue, LogRecord, Severity, sha256};
use crate::ids::{SpanId, TraceId};
use crate::metrics::DimensionSource;
use crate::redact::{Counts, Policy};
use crate::route::{self, RouteId};
use crate::sampler::Ratio;

/// The validated `access_log` section.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessLogConfig {
    /// `proxy_log` level of the lines (proxy-wasm log level: 1 debug, 2 info, 3 warn, 4 error).
    pub proxy_log_level: u32,
    pub proxy_log: bool,
    pub otlp: bool,
    pub otlp_path: String,
    pub fields: Vec<Field>,
    pub extra: Vec<(String, DimensionSource)>,
    pub successes: Ratio,
    pub errors: Ratio,
    /// Per-route share of successes, by [`RouteId`].
    pub routes: Vec<Option<Ratio>>,
}

/// A standard field of the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Service,
    Method,
    Route,
    Path,
    Status,
    DurationMs,
    RequestBytes,
    ResponseBytes,
    UpstreamCluster,
    UpstreamHost,
    ClientAddress,
    UserAgent,
    RequestId,
    QueryHash,
}

/// Every standard field, by its name in the line.
pub const FIELDS: [(&str, Field); 14] = [
    ("service", Field::Service),
    ("method", Field::Method),
    ("route", Field::Route),
    ("path", Field::Path),
    ("status", Field::Status),
    ("duration_ms", Field::DurationMs),
    ("request_bytes", Field::RequestBytes),
    ("response_bytes", Field::ResponseBytes),
    ("upstream_cluster", Field::UpstreamCluster),
    ("upstream_host", Field::UpstreamHost),
    ("client_address", Field::ClientAddress),
    ("user_agent", Field::UserAgent),
    ("request_id", Field::RequestId),
    ("query_hash", Field::QueryHash),
];

/// What is known about a finished request, raw (the builder redacts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestLog<'a> {
    pub end_unix_nanos: u64,
    pub trace: Option<(TraceId, SpanId, u8)>,
    pub service: &'a str,
    pub method: &'a str,
    pub route: Option<&'a str>,
    /// `:path` as received, query included.
    pub path: &'a str,
    pub status: u16,
    pub duration_nanos: u64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub upstream_cluster: Option<&'a str>,
    pub upstream_host: Option<&'a str>,
    pub client_address: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub request_id: Option<&'a str>,
    /// Raw values of the configured extra fields, in order.
    pub extra: &'a [Option<String>],
}

impl Field {
    /// The field named `name`.
    pub fn named(name: &str) -> Option<Self> {
        FIELDS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    fn name(self) -> &'static str {
        FIELDS.iter().find(|(_, f)| *f == self).map_or("", |(n, _)| n)
    }
}

/// Severity by outcome: errors for 5xx and unanswered requests, warnings for 4xx.
pub fn severity(status: u16) -> Severity {
    match status {
        0 | 500.. => Severity::Error,
        400..=499 => Severity::Warn,
        _ => Severity::Info,
    }
}

/// Whether this request is logged: every error at `errors`, successes at the route's share or
/// `successes`. Decided on the trace id when there is one (like trace sampling, so logged
/// requests and sampled traces line up at equal ratios), else on `random`.
pub fn sampled(
    cfg: &AccessLogConfig,
    route: Option<RouteId>,
    status: u16,
    trace: Option<TraceId>,
    random: u64,
) -> bool {
    let ratio = if severity(status) == Severity::Info {
        route.and_then(|r| cfg.routes.get(r.0).copied().flatten()).unwrap_or(cfg.successes)
    } else {
        cfg.errors
    };
    match trace {
        Some(id) => ratio.samples(id),
        None => ratio.samples_value(random),
    }
}

/// The record for a request, with every value passed through the redaction policy.
pub fn build(cfg: &AccessLogConfig, policy: &Policy, counts: &mut Counts, req: &RequestLog<'_>) -> LogRecord {
    let path = route::strip_query(req.path);
    let query = req.path.get(path.len()..).and_then(|q| q.strip_prefix('?')).filter(|q| !q.is_empty());
    let clean_path = policy.text(path, counts).into_owned();
    let mut fields: Vec<(Cow<'static, str>, FieldValue)> = Vec::with_capacity(cfg.fields.len() + cfg.extra.len());
    for field in &cfg.fields {
        let text = |v: &str, counts: &mut Counts| FieldValue::Str(policy.text(v, counts).into_owned());
        let value = match field {
            Field::Service => Some(FieldValue::Str(req.service.to_owned())),
            Field::Method => Some(FieldValue::Str(req.method.to_owned())),
            Field::Route => Some(FieldValue::Str(req.route.unwrap_or(crate::metrics::labels::OTHER).to_owned())),
            Field::Path => Some(FieldValue::Str(clean_path.clone())),
            Field::Status => Some(FieldValue::Int(i64::from(req.status))),
            #[allow(clippy::cast_precision_loss)]
            Field::DurationMs => Some(FieldValue::Float((req.duration_nanos / 1_000) as f64 / 1_000.0)),
            Field::RequestBytes => Some(FieldValue::Int(i64::try_from(req.request_bytes).unwrap_or(i64::MAX))),
            Field::ResponseBytes => Some(FieldValue::Int(i64::try_from(req.response_bytes).unwrap_or(i64::MAX))),
            Field::UpstreamCluster => req.upstream_cluster.map(|v| FieldValue::Str(v.to_owned())),
            Field::UpstreamHost => req.upstream_host.map(|v| FieldValue::Str(v.to_owned())),
            Field::ClientAddress => req.client_address.map(|v| FieldValue::Str(v.to_owned())),
            Field::UserAgent => req.user_agent.map(|v| text(v, counts)),
            Field::RequestId => req.request_id.map(|v| text(v, counts)),
            Field::QueryHash => query.map(|q| FieldValue::Str(sha256::short_hex(q.as_bytes()))),
        };
        if let Some(value) = value {
            fields.push((Cow::Borrowed(field.name()), value));
        }
    }
    for ((name, source), raw) in cfg.extra.iter().zip(req.extra) {
        let Some(raw) = raw else { continue };
        let value = match source {
            DimensionSource::RequestHeader(h) | DimensionSource::ResponseHeader(h) => policy.header(h, raw, counts),
            _ => Some(policy.text(raw, counts)),
        };
        if let Some(value) = value {
            fields.push((Cow::Owned(name.clone()), FieldValue::Str(value.into_owned())));
        }
    }
    let (trace_id, span_id, trace_flags) = match req.trace {
        Some((t, s, f)) => (Some(t), Some(s), f),
        None => (None, None, 0),
    };
    // `GET /api/v1/query 200`, assembled without the formatter (this runs for every request).
    let mut message = String::with_capacity(req.method.len() + clean_path.len() + 5);
    message.push_str(req.method);
    message.push(' ');
    message.push_str(&clean_path);
    message.push(' ');
    crate::otlp::json::push_u64(&mut message, u64::from(req.status));
    LogRecord {
        time_unix_nanos: req.end_unix_nanos,
        severity: severity(req.status),
        message,
        trace_id,
        span_id,
        trace_flags,
        fields,
    }
}
