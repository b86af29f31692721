//! What a replay produced, gathered from the host once the replay is over: the model both report
//! formats print (the JSON report is this, serialized). Every list is in a fixed order, so the
//! same inputs give the same report.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use host_harness::metrics::PrometheusConfig;
use host_harness::traffic::{End, Exchange, HeaderDiff, Outcome};
use host_harness::{CallState, Host, LogLevel, LogRecord, SpanRecord};

use super::prometheus::{self, Sample};

/// The whole report.
#[derive(Debug, Serialize)]
pub struct Report {
    pub summary: Summary,
    pub exchanges: Vec<ExchangeReport>,
    pub spans: Vec<SpanReport>,
    pub metrics: Metrics,
    pub logs: Vec<LogReport>,
    pub callouts: Callouts,
}

/// Counts, for the first line of the text report.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub exchanges: usize,
    pub completed: usize,
    pub local_replies: usize,
    pub request_paused: usize,
    pub reset: usize,
    pub spans: usize,
    pub http_calls: usize,
    pub grpc_calls: usize,
    /// Lines the proxy writes: those at or above its log level (`--log-level`).
    pub log_lines: usize,
    /// Lines the module logged below the proxy's log level, which the proxy does not write.
    pub log_lines_not_written: usize,
    /// Virtual time from the first exchange to the end of the replay (flush included).
    pub virtual_ms: u64,
}

/// One exchange and what the module did to it.
#[derive(Debug, Serialize)]
pub struct ExchangeReport {
    /// Its line in the traffic file.
    pub line: usize,
    pub method: String,
    pub path: String,
    pub at_ms: u64,
    pub ended_at_ms: u64,
    /// `completed`, `local_reply`, `request_paused` or `reset`.
    pub outcome: &'static str,
    /// The status sent downstream (none when no response started).
    pub status: Option<u16>,
    /// The module held the response.
    pub response_paused: bool,
    /// How the request headers changed on their way upstream.
    pub upstream: Changes,
    /// How the response headers changed on their way downstream.
    pub downstream: Changes,
    pub local_reply: Option<LocalReplyReport>,
}

/// Headers added (or given a new value) and removed (or replaced), as `[name, value]` pairs.
#[derive(Debug, Default, Serialize)]
pub struct Changes {
    pub added: Vec<(String, String)>,
    pub removed: Vec<(String, String)>,
}

/// A reply the module generated.
#[derive(Debug, Serialize)]
pub struct LocalReplyReport {
    pub status: u16,
    pub details: String,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

/// One exported span.
#[derive(Debug, Serialize)]
pub struct SpanReport {
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    /// `internal`, `server`, `client`, `producer`, `consumer` or `unspecified`.
    pub kind: &'static str,
    /// `unset`, `ok` or `error`.
    pub status: &'static str,
    pub status_message: String,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
    /// Start, in milliseconds since the replay started.
    pub start_ms: f64,
    pub duration_ms: f64,
    pub trace_state: String,
    #[serde(serialize_with = "ordered_map")]
    pub attributes: Vec<(String, String)>,
    pub links: Vec<Link>,
    #[serde(serialize_with = "ordered_map")]
    pub resource: Vec<(String, String)>,
}

/// A span link.
#[derive(Debug, Serialize)]
pub struct Link {
    pub trace_id: String,
    pub span_id: String,
}

/// The metrics after the replay.
#[derive(Debug, Serialize)]
pub struct Metrics {
    /// As Envoy's `/stats/prometheus` prints them.
    pub prometheus: String,
    pub samples: Vec<Sample>,
}

/// One log line of the module.
#[derive(Debug, Serialize)]
pub struct LogReport {
    pub level: String,
    /// The proxy-wasm context that logged it (0: none).
    pub context: u32,
    /// `vm` (no context: start-up), `root` (a plugin's root context) or `stream`.
    pub source: &'static str,
    /// The traffic line of the exchange whose stream logged it.
    pub line: Option<usize>,
    pub message: String,
}

/// Calls the module made.
#[derive(Debug, Serialize)]
pub struct Callouts {
    pub http: Vec<HttpCallReport>,
    pub grpc: Vec<GrpcCallReport>,
}

/// One `proxy_http_call`.
#[derive(Debug, Serialize)]
pub struct HttpCallReport {
    pub token: u32,
    pub cluster: String,
    pub method: String,
    pub path: String,
    pub authority: String,
    pub body_bytes: usize,
    /// Spans in the body, when it is an OTLP/HTTP trace export (protobuf or JSON).
    pub spans: usize,
    /// Log records in the body, when it is an OTLP/HTTP log export (protobuf or JSON).
    pub log_records: usize,
    pub timeout_ms: u32,
    /// `pending`, `answered`, `failed`, `timed_out` or `cancelled`.
    pub state: &'static str,
    pub status: Option<u16>,
    /// The traffic line of the exchange whose stream made it (none: the root context).
    pub line: Option<usize>,
}

/// One gRPC call or stream.
#[derive(Debug, Serialize)]
pub struct GrpcCallReport {
    pub token: u32,
    pub cluster: String,
    pub service: String,
    pub method: String,
    pub messages: usize,
    pub streaming: bool,
    pub cancelled: bool,
    pub closed: bool,
}

impl Report {
    /// Gathers the report from a host after `replay` and the final flush. `base_unix_nanos` is the
    /// virtual time the replay started at; lines below `log_level` are left out, as the proxy
    /// does not write them.
    pub fn new(
        host: &Host,
        exchanges: &[Exchange],
        outcomes: &[Outcome],
        base_unix_nanos: u64,
        prometheus_config: &PrometheusConfig,
        log_level: LogLevel,
    ) -> Self {
        let lines: BTreeMap<u32, usize> = outcomes.iter().zip(exchanges).map(|(o, e)| (o.id.0, e.line)).collect();
        let line_of = |context: u32| lines.get(&context).copied();
        let exchanges: Vec<ExchangeReport> = exchanges.iter().zip(outcomes).map(|(e, o)| exchange(e, o)).collect();
        let spans: Vec<SpanReport> = host.spans().iter().map(|s| span(s, base_unix_nanos)).collect();
        let prometheus = host.prometheus(prometheus_config);
        let metrics = Metrics { samples: prometheus::samples(&prometheus), prometheus };
        let written = |l: &&LogRecord| l.level >= log_level;
        let logs: Vec<LogReport> = host
            .logs()
            .iter()
            .filter(written)
            .map(|l| {
                let source = match l.context_id {
                    0 => "vm",
                    id if host.root_contexts().contains(&id) => "root",
                    _ => "stream",
                };
                log(l, source, line_of(l.context_id))
            })
            .collect();
        let http = host
            .http_calls()
            .iter()
            .map(|c| {
                let header = |name: &str| c.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
                let (state, status) = match c.state {
                    CallState::Pending => ("pending", None),
                    CallState::Answered(status) => ("answered", Some(status)),
                    CallState::Failed => ("failed", None),
                    CallState::TimedOut => ("timed_out", None),
                };
                HttpCallReport {
                    token: c.token,
                    cluster: c.upstream.clone(),
                    method: header(":method").unwrap_or_default(),
                    path: header(":path").unwrap_or_default(),
                    authority: header(":authority").unwrap_or_default(),
                    body_bytes: c.body.len(),
                    spans: host_harness::decode_call_spans(c).len(),
                    log_records: host_harness::log_records(c),
                    timeout_ms: c.timeout_ms,
                    state,
                    status,
                    line: line_of(c.context_id),
                }
            })
            .collect();
        let grpc = host
            .grpc_calls()
            .iter()
            .map(|g| GrpcCallReport {
                token: g.token,
                cluster: String::from_utf8_lossy(&g.upstream).into_owned(),
                service: g.service.clone(),
                method: g.method.clone(),
                messages: g.messages.len(),
                streaming: g.streaming,
                cancelled: g.cancelled,
                closed: g.closed,
            })
            .collect();
        let callouts = Callouts { http, grpc };
        let count = |end: End| outcomes.iter().filter(|o| o.end == end).count();
        let summary = Summary {
            exchanges: exchanges.len(),
            completed: count(End::Completed),
            local_replies: count(End::LocalReply),
            request_paused: count(End::RequestPaused),
            reset: count(End::Reset),
            spans: spans.len(),
            http_calls: callouts.http.len(),
            grpc_calls: callouts.grpc.len(),
            log_lines: logs.len(),
            log_lines_not_written: host.logs().len() - logs.len(),
            virtual_ms: host.now_unix_nanos().saturating_sub(base_unix_nanos) / 1_000_000,
        };
        Self { summary, exchanges, spans, metrics, logs, callouts }
    }
}

fn exchange(exchange: &Exchange, outcome: &Outcome) -> ExchangeReport {
    let stream = &outcome.stream;
    let upstream = HeaderDiff::between(&exchange.request_headers(), stream.upstream_request_headers());
    let local_reply = stream.local_reply();
    let sent_downstream = stream.downstream_response_headers();
    // What the module's response callbacks received: the upstream response, or the reply the
    // host built from the module's local reply (as Envoy does).
    let received = match local_reply {
        Some(reply) => {
            let mut headers = vec![(String::from(":status"), reply.status.to_string())];
            if !reply.body.is_empty() {
                headers.push((String::from("content-length"), reply.body.len().to_string()));
                headers.push((String::from("content-type"), String::from("text/plain")));
            }
            headers.extend(reply.headers.iter().cloned());
            headers
        }
        None if sent_downstream.is_empty() => Vec::new(),
        None => exchange.response.headers_with_status(),
    };
    let downstream = HeaderDiff::between(&received, sent_downstream);
    ExchangeReport {
        line: exchange.line,
        method: exchange.method.clone(),
        path: exchange.path.clone(),
        at_ms: exchange.at_ms,
        ended_at_ms: outcome.ended_at_ms,
        outcome: match outcome.end {
            End::Completed => "completed",
            End::LocalReply => "local_reply",
            End::RequestPaused => "request_paused",
            End::Reset => "reset",
        },
        status: stream.status(),
        response_paused: outcome.response_paused,
        upstream: Changes { added: upstream.added, removed: upstream.removed },
        downstream: Changes { added: downstream.added, removed: downstream.removed },
        local_reply: local_reply.map(|r| LocalReplyReport {
            status: r.status,
            details: r.details.clone(),
            body: String::from_utf8_lossy(&r.body).into_owned(),
            headers: r.headers.clone(),
        }),
    }
}

fn span(s: &SpanRecord, base_unix_nanos: u64) -> SpanReport {
    SpanReport {
        trace_id: s.trace_id.clone(),
        span_id: s.span_id.clone(),
        parent_span_id: s.parent_span_id.clone(),
        name: s.name.clone(),
        kind: match s.kind {
            1 => "internal",
            2 => "server",
            3 => "client",
            4 => "producer",
            5 => "consumer",
            _ => "unspecified",
        },
        status: match s.status_code {
            1 => "ok",
            2 => "error",
            _ => "unset",
        },
        status_message: s.status_message.clone(),
        start_unix_nanos: s.start_unix_nanos,
        end_unix_nanos: s.end_unix_nanos,
        start_ms: millis(s.start_unix_nanos.saturating_sub(base_unix_nanos)),
        duration_ms: millis(s.duration_nanos()),
        trace_state: s.trace_state.clone(),
        attributes: s.attributes.clone(),
        links: s.links.iter().map(|(t, s)| Link { trace_id: t.clone(), span_id: s.clone() }).collect(),
        resource: s.resource.clone(),
    }
}

fn log(l: &LogRecord, source: &'static str, line: Option<usize>) -> LogReport {
    LogReport { level: l.level.to_string(), context: l.context_id, source, line, message: l.message.clone() }
}

/// Nanoseconds as milliseconds (exact to the microsecond, which is what the text shows).
fn millis(nanos: u64) -> f64 {
    (nanos / 1_000) as f64 / 1_000.0
}

/// Serializes pairs as a JSON object with the members in their order (attributes, labels).
pub fn ordered_map<S: Serializer>(pairs: &[(String, String)], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_map(pairs.iter().map(|(k, v)| (k, v)))
}
