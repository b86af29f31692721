//! Turning a finished request into its access-log record: field selection, redaction, sampling.

use std::borrow::Cow;

use super::sha256::{self, HmacKey};
use super::{FieldValue, LogRecord, Severity};
use crate::grpc::Call;
use crate::ids::{SpanId, TraceId};
use crate::metrics::DimensionSource;
use crate::names::log;
use crate::pipeline::host::LogLevel;
use crate::redact::{Counts, Policy};
use crate::route::{self, RouteId};
use crate::sampler::Ratio;

/// The validated `access_log` section.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessLogConfig {
    /// The level of the lines in the proxy's log.
    pub proxy_log_level: LogLevel,
    pub proxy_log: bool,
    pub otlp: bool,
    pub otlp_path: String,
    pub fields: Vec<Field>,
    pub extra: Vec<(String, DimensionSource)>,
    pub successes: Ratio,
    pub errors: Ratio,
    /// Per-route share of successes, by [`RouteId`].
    pub routes: Vec<Option<Ratio>>,
    pub query_hash: QueryHash,
}

/// What the `query_hash` field is computed with.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryHash {
    /// No key configured: SHA-256 of the query after the redaction policy's query rules, so the
    /// values of sensitive parameters are not in what is hashed and a dictionary of them
    /// recovers nothing.
    Redacted,
    /// HMAC-SHA-256 of the query as received, under the configured key.
    Keyed(HmacKey),
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
    /// A gRPC call's `grpc-status`, an integer; absent for other requests and for a call whose
    /// response had none.
    GrpcStatus,
}

/// Every standard field, by its name in the line ([`crate::names::log`]).
pub const FIELDS: [(&str, Field); 15] = [
    (log::SERVICE, Field::Service),
    (log::METHOD, Field::Method),
    (log::ROUTE, Field::Route),
    (log::PATH, Field::Path),
    (log::STATUS, Field::Status),
    (log::DURATION_MS, Field::DurationMs),
    (log::REQUEST_BYTES, Field::RequestBytes),
    (log::RESPONSE_BYTES, Field::ResponseBytes),
    (log::UPSTREAM_CLUSTER, Field::UpstreamCluster),
    (log::UPSTREAM_HOST, Field::UpstreamHost),
    (log::CLIENT_ADDRESS, Field::ClientAddress),
    (log::USER_AGENT, Field::UserAgent),
    (log::REQUEST_ID, Field::RequestId),
    (log::QUERY_HASH, Field::QueryHash),
    (log::GRPC_STATUS, Field::GrpcStatus),
];

/// `,"<name>":` for every field of [`FIELDS`], in the same order.
const LINE_KEYS: [&str; 15] = [
    r#","service":"#,
    r#","method":"#,
    r#","route":"#,
    r#","path":"#,
    r#","status":"#,
    r#","duration_ms":"#,
    r#","request_bytes":"#,
    r#","response_bytes":"#,
    r#","upstream_cluster":"#,
    r#","upstream_host":"#,
    r#","client_address":"#,
    r#","user_agent":"#,
    r#","request_id":"#,
    r#","query_hash":"#,
    r#","grpc_status":"#,
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
    /// Values of the configured extra fields, in order, already through the redaction policy
    /// ([`DimensionSource::clean`]): the pipeline shares
    /// them with metric labels of the same source.
    pub extra: &'a [Option<String>],
    /// The path (without its query) and the user agent already redacted, when the caller shares
    /// one redaction between the span and the line; `None`: the builder redacts them.
    pub clean: Option<(&'a str, Option<&'a str>)>,
    /// How the call ended, when the request is a gRPC call.
    pub grpc: Option<Call>,
}

impl Field {
    /// The field named `name`.
    pub fn named(name: &str) -> Option<Self> {
        FIELDS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// The field's name in the line (`FIELDS` is in declaration order; a test holds it so).
    pub fn name(self) -> &'static str {
        FIELDS.get(self as usize).map_or("", |(n, _)| n)
    }

    /// `,"<name>":`, what the proxy-log line writes before the value: one literal per field
    /// instead of three pushes.
    pub fn line_key(self) -> &'static str {
        LINE_KEYS.get(self as usize).copied().unwrap_or_default()
    }
}

/// Severity by outcome: errors for 5xx and unanswered requests, warnings for 4xx. A gRPC call
/// is judged by its status too, the more severe of the two counting: its server's failures
/// (the codes that make a SERVER span an error, and no status at all) are errors like a 5xx,
/// the caller's (`NOT_FOUND`, `INVALID_ARGUMENT`, ...: every other non-`OK` code) warnings like
/// a 4xx, whatever the HTTP status (usually 200).
pub fn severity(status: u16, grpc: Option<Call>) -> Severity {
    let http = match status {
        0 | 500.. => Severity::Error,
        400..=499 => Severity::Warn,
        _ => Severity::Info,
    };
    let call = match grpc {
        Some(c) if c.server_failed() => Severity::Error,
        Some(c) if c.failed() => Severity::Warn,
        _ => Severity::Info,
    };
    if call.number() > http.number() { call } else { http }
}

/// Whether this request is logged: every error (a line of `severity` above info) at `errors`,
/// successes at the route's share or `successes`. Decided on the trace id when there is one
/// (like trace sampling, so logged requests and sampled traces line up at equal ratios), else on
/// `random`.
pub fn sampled(
    cfg: &AccessLogConfig,
    route: Option<RouteId>,
    severity: Severity,
    trace: Option<TraceId>,
    random: u64,
) -> bool {
    let ratio = if severity == Severity::Info {
        route.and_then(|r| cfg.routes.get(r.0).copied().flatten()).unwrap_or(cfg.successes)
    } else {
        cfg.errors
    };
    match trace {
        Some(id) => ratio.samples(id),
        None => ratio.samples_value(random),
    }
}

/// A field's name: a standard field's, or a configured extra field's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldName<'c> {
    Standard(Field),
    Extra(&'c str),
}

/// A field's value, borrowed from the request where redaction left it unchanged.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Float(f64),
}

impl FieldName<'_> {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Standard(field) => field.name(),
            Self::Extra(name) => name,
        }
    }
}

/// `path` without its query, redacted: what the `path` field and the message carry.
pub fn clean_path<'a>(policy: &Policy, counts: &mut Counts, req: &RequestLog<'a>) -> Cow<'a, str> {
    if let Some((path, _)) = req.clean {
        return Cow::Borrowed(path);
    }
    policy.path(route::strip_query(req.path), counts)
}

/// Calls `emit` with every field of the request's record, in output order, every value passed
/// through the redaction policy: the one definition of what a record holds, used both to build
/// the owned [`LogRecord`] (for the OTLP queue) and to write the proxy-log line straight from
/// the request without one (`line::encode_request`).
pub fn each_field<'c, 'a>(
    cfg: &'c AccessLogConfig,
    policy: &Policy,
    counts: &mut Counts,
    req: &RequestLog<'a>,
    clean_path: &str,
    mut emit: impl FnMut(FieldName<'c>, Value<'_>),
) {
    let query = route::query(req.path);
    for field in &cfg.fields {
        let name = FieldName::Standard(*field);
        let int = |n: u64| Value::Int(i64::try_from(n).unwrap_or(i64::MAX));
        match field {
            Field::Service => emit(name, borrowed(req.service)),
            Field::Method => emit(name, borrowed(req.method)),
            Field::Route => emit(name, borrowed(req.route.unwrap_or(crate::metrics::labels::OTHER))),
            Field::Path => emit(name, borrowed(clean_path)),
            Field::Status => emit(name, Value::Int(i64::from(req.status))),
            #[allow(clippy::cast_precision_loss)]
            Field::DurationMs => emit(name, Value::Float((req.duration_nanos / 1_000) as f64 / 1_000.0)),
            Field::RequestBytes => emit(name, int(req.request_bytes)),
            Field::ResponseBytes => emit(name, int(req.response_bytes)),
            Field::UpstreamCluster => req.upstream_cluster.into_iter().for_each(|v| emit(name, borrowed(v))),
            Field::UpstreamHost => req.upstream_host.into_iter().for_each(|v| emit(name, borrowed(v))),
            Field::ClientAddress => req.client_address.into_iter().for_each(|v| emit(name, borrowed(v))),
            Field::UserAgent => match req.clean {
                Some((_, ua)) => ua.into_iter().for_each(|v| emit(name, borrowed(v))),
                None => req.user_agent.into_iter().for_each(|v| emit(name, Value::Str(policy.text(v, counts)))),
            },
            Field::RequestId => {
                req.request_id.into_iter().for_each(|v| emit(name, Value::Str(policy.request_id(v, counts))));
            }
            Field::QueryHash => {
                query
                    .into_iter()
                    .for_each(|q| emit(name, Value::Str(Cow::Owned(query_hash(&cfg.query_hash, policy, q)))));
            }
            Field::GrpcStatus => {
                if let Some(code) = req.grpc.and_then(|c| c.status) {
                    emit(name, Value::Int(i64::from(code.number())));
                }
            }
        }
    }
    for ((name, _), value) in cfg.extra.iter().zip(req.extra) {
        if let Some(value) = value {
            emit(FieldName::Extra(name), borrowed(value));
        }
    }
}

/// The `query_hash` of a query (without `?`): the first 8 bytes of the digest, 16 hex characters.
pub fn query_hash(hash: &QueryHash, policy: &Policy, query: &str) -> String {
    match hash {
        QueryHash::Keyed(key) => sha256::hmac_short_hex(key, query.as_bytes()),
        QueryHash::Redacted => {
            // What is masked here is hashed, never shown: not counted as a redaction.
            let mut uncounted = Counts::default();
            sha256::short_hex(policy.query(query, &mut uncounted).as_bytes())
        }
    }
}

fn borrowed(v: &str) -> Value<'_> {
    Value::Str(Cow::Borrowed(v))
}

/// Appends the record's message, `GET /api/v1/query 200`, without the formatter.
pub fn push_message(out: &mut String, method: &str, clean_path: &str, status: u16) {
    out.push_str(method);
    out.push(' ');
    out.push_str(clean_path);
    out.push(' ');
    crate::json::push_u64(out, u64::from(status));
}

/// The record for a request, with every value passed through the redaction policy.
pub fn build(cfg: &AccessLogConfig, policy: &Policy, counts: &mut Counts, req: &RequestLog<'_>) -> LogRecord {
    let clean_path = clean_path(policy, counts, req);
    let mut fields: Vec<(Cow<'static, str>, FieldValue)> = Vec::with_capacity(cfg.fields.len() + cfg.extra.len());
    each_field(cfg, policy, counts, req, &clean_path, |name, value| {
        let name = match name {
            FieldName::Standard(field) => Cow::Borrowed(field.name()),
            FieldName::Extra(name) => Cow::Owned(name.to_owned()),
        };
        let value = match value {
            Value::Str(s) => FieldValue::Str(s.into_owned()),
            Value::Int(i) => FieldValue::Int(i),
            Value::Float(f) => FieldValue::Float(f),
        };
        fields.push((name, value));
    });
    let (trace_id, span_id, trace_flags) = match req.trace {
        Some((t, s, f)) => (Some(t), Some(s), f),
        None => (None, None, 0),
    };
    let mut message = String::with_capacity(req.method.len() + clean_path.len() + 5);
    push_message(&mut message, req.method, &clean_path, req.status);
    LogRecord {
        time_unix_nanos: req.end_unix_nanos,
        severity: severity(req.status, req.grpc),
        message,
        trace_id,
        span_id,
        trace_flags,
        fields,
    }
}
