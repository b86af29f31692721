//! The configuration document as written by users, with its defaults. See the README's
//! "Configuration" section for the reference; [`super::parse`] reads it from JSON.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct RawConfig {
    pub service: Service,
    /// Route templates, in match order.
    pub routes: Vec<String>,
    pub tracing: Tracing,
    pub metrics: Metrics,
    pub access_log: AccessLog,
    pub security: Security,
    pub redaction: Redaction,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    pub version: Option<String>,
    pub namespace: Option<String>,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Tracing {
    pub enabled: bool,
    pub extract: Vec<FormatName>,
    pub inject: Vec<FormatName>,
    pub edge_policy: EdgePolicy,
    pub sampling: Sampling,
    pub trace_id_header: String,
    pub traceresponse: bool,
    pub error_on_4xx: bool,
    pub client_span: ClientSpan,
    pub exporter: Exporter,
    /// Headers captured as `http.request.header.<name>`.
    pub request_headers: Vec<String>,
    /// Headers captured as `http.response.header.<name>`.
    pub response_headers: Vec<String>,
    /// Custom span attributes.
    pub attributes: Vec<SpanAttribute>,
    pub max_attribute_bytes: usize,
}

/// A custom span attribute: its key and its source.
#[derive(Debug, Clone)]
pub struct SpanAttribute {
    pub key: String,
    pub from: DimensionSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatName {
    Tracecontext,
    B3,
    B3multi,
}

pub use super::{ClientSpan, Encoding};

#[derive(Debug, Clone, Copy, Default)]
pub enum EdgePolicy {
    #[default]
    Trust,
    Restart,
}

#[derive(Debug, Clone)]
pub struct Sampling {
    pub ratio: f64,
    pub routes: Vec<RouteSampling>,
}

#[derive(Debug, Clone)]
pub struct RouteSampling {
    pub route: String,
    pub sample: Sample,
}

#[derive(Debug, Clone)]
pub enum Sample {
    Keyword(String),
    Ratio(f64),
}

#[derive(Debug, Clone)]
pub struct Exporter {
    pub cluster: String,
    pub authority: Option<String>,
    pub path: String,
    pub encoding: Encoding,
    pub headers: BTreeMap<String, String>,
    pub timeout_ms: u32,
    pub flush_interval_ms: u32,
    pub max_batch_spans: usize,
    pub max_queue_spans: usize,
    pub max_in_flight: usize,
}

impl Default for Service {
    fn default() -> Self {
        Self {
            name: String::from("unknown_service:meshlens"),
            version: None,
            namespace: None,
            attributes: BTreeMap::new(),
        }
    }
}

impl Default for Tracing {
    fn default() -> Self {
        Self {
            enabled: true,
            extract: vec![FormatName::Tracecontext, FormatName::B3, FormatName::B3multi],
            inject: vec![FormatName::Tracecontext],
            edge_policy: EdgePolicy::Trust,
            sampling: Sampling::default(),
            trace_id_header: String::from("x-trace-id"),
            traceresponse: true,
            error_on_4xx: false,
            client_span: ClientSpan::Child,
            exporter: Exporter::default(),
            request_headers: Vec::new(),
            response_headers: Vec::new(),
            attributes: Vec::new(),
            max_attribute_bytes: crate::tracer::attributes::DEFAULT_MAX_VALUE_BYTES,
        }
    }
}

impl Default for Sampling {
    fn default() -> Self {
        Self { ratio: 1.0, routes: Vec::new() }
    }
}

impl Default for Exporter {
    fn default() -> Self {
        // Batch size and queue follow the OpenTelemetry BatchSpanProcessor defaults (512, 2048);
        // the flush interval is shorter than its 5 s because a proxy sees many short requests.
        Self {
            cluster: String::from("otel_collector"),
            authority: None,
            path: String::from("/v1/traces"),
            // OTLP/HTTP's default encoding (OTLP specification, "OTLP/HTTP").
            encoding: Encoding::Protobuf,
            headers: BTreeMap::new(),
            timeout_ms: 5_000,
            flush_interval_ms: 1_000,
            max_batch_spans: 512,
            max_queue_spans: 2_048,
            max_in_flight: 4,
        }
    }
}

/// The `metrics` section.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub enabled: bool,
    /// Prefix of the standard families' names.
    pub prefix: String,
    /// Value of the `reporter` label.
    pub reporter: String,
    /// Label sets per family, the overflow series included.
    pub max_series: usize,
    /// Emit `<prefix>http_requests_total`, `..._request_duration_seconds`, `..._request_size_bytes`,
    /// `..._response_size_bytes`.
    pub standard: bool,
    /// Labels of the standard families (default: reporter, method, route, status_code,
    /// status_class, then every dimension).
    pub labels: Option<Vec<LabelRef>>,
    /// Bounds of the standard duration histogram, in seconds.
    pub duration_buckets: Vec<f64>,
    /// Bounds of the standard size histograms, in bytes.
    pub size_buckets: Vec<f64>,
    pub dimensions: Vec<Dimension>,
    pub custom: Vec<CustomMetric>,
    /// The module serves the request metrics itself (`null`: they are Envoy counters).
    pub endpoint: Option<Endpoint>,
    /// The request metrics are also exported as OTLP metrics.
    pub otlp: Option<OtlpMetrics>,
}

/// `metrics.otlp`.
#[derive(Debug, Clone)]
pub struct OtlpMetrics {
    pub path: String,
    pub interval_ms: u32,
}

impl Default for OtlpMetrics {
    fn default() -> Self {
        Self { path: String::from("/v1/metrics"), interval_ms: 10_000 }
    }
}

/// `metrics.endpoint`.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub path: String,
    /// Peers allowed to scrape, as CIDR blocks.
    pub allow: Vec<String>,
}

impl Default for Endpoint {
    fn default() -> Self {
        Self {
            path: String::from("/meshlens/metrics"),
            allow: vec![String::from("127.0.0.1/32"), String::from("::1/128")],
        }
    }
}

/// A label of a family: a built-in or dimension name, or a rename of one.
#[derive(Debug, Clone)]
pub enum LabelRef {
    Same(String),
    Renamed(RenamedLabel),
}

#[derive(Debug, Clone)]
pub struct RenamedLabel {
    pub name: String,
    pub from: String,
}

#[derive(Debug, Clone)]
pub struct Dimension {
    pub name: String,
    pub from: DimensionSource,
    pub allow: Option<Vec<String>>,
    pub missing: Option<String>,
}

#[derive(Debug, Clone)]
pub enum DimensionSource {
    RequestHeader(String),
    ResponseHeader(String),
    Property(Vec<String>),
    Route(BTreeMap<String, String>),
}

#[derive(Debug, Clone)]
pub struct CustomMetric {
    pub name: String,
    pub kind: MetricKind,
    pub unit: Option<UnitName>,
    pub buckets: Option<Vec<f64>>,
    pub labels: Vec<LabelRef>,
    pub routes: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Requests,
    Duration,
    RequestSize,
    ResponseSize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitName {
    Seconds,
    Milliseconds,
    Microseconds,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            enabled: true,
            prefix: String::from(crate::names::DEFAULT_PREFIX),
            reporter: String::from("proxy"),
            max_series: 1000,
            standard: true,
            labels: None,
            // The Prometheus client libraries' default buckets, in seconds.
            duration_buckets: vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
            size_buckets: vec![100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0, 10_000_000.0],
            dimensions: Vec::new(),
            custom: Vec::new(),
            endpoint: None,
            otlp: None,
        }
    }
}

/// The `access_log` section.
#[derive(Debug, Clone)]
pub struct AccessLog {
    pub enabled: bool,
    /// `proxy_log` level of the lines.
    pub level: LogLevelName,
    pub sinks: Vec<SinkName>,
    /// Standard fields to write, in order (default: all).
    pub fields: Option<Vec<String>>,
    /// More fields from request/response headers or properties.
    pub extra: Vec<ExtraField>,
    pub sampling: LogSampling,
    /// `:path` of OTLP log exports (cluster, authority and timeouts are `tracing.exporter`'s).
    pub otlp_path: String,
    pub query_hash: QueryHash,
}

/// Where the `query_hash` key comes from; neither: the hash is of the redacted query.
#[derive(Debug, Clone, Default)]
pub struct QueryHash {
    /// The key itself (visible wherever the plugin configuration is: Envoy's config dump, the
    /// WasmPlugin resource).
    pub key: Option<String>,
    /// The name of the VM environment variable holding the key.
    pub key_env: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevelName {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkName {
    ProxyLog,
    Otlp,
}

#[derive(Debug, Clone)]
pub struct ExtraField {
    pub name: String,
    pub from: DimensionSource,
}

#[derive(Debug, Clone)]
pub struct LogSampling {
    /// Share of 1xx-3xx requests logged.
    pub successes: f64,
    /// Share of 4xx, 5xx and unanswered requests logged.
    pub errors: f64,
    /// Per-route shares, replacing `successes` on that route (errors stay at `errors`).
    pub routes: Vec<RouteLogSampling>,
}

#[derive(Debug, Clone)]
pub struct RouteLogSampling {
    pub route: String,
    pub ratio: f64,
}

/// The `security` section.
#[derive(Debug, Clone)]
pub struct Security {
    pub enabled: bool,
    /// Response codes that count as access failures.
    pub statuses: Vec<u16>,
    /// Failures from one client within `window_s` that make a burst.
    pub threshold: u32,
    pub window_s: u32,
    /// Clients tracked at once; the oldest is forgotten past it.
    pub max_clients: usize,
}

impl Default for AccessLog {
    fn default() -> Self {
        Self {
            enabled: true,
            level: LogLevelName::Info,
            sinks: vec![SinkName::ProxyLog],
            fields: None,
            extra: Vec::new(),
            sampling: LogSampling::default(),
            otlp_path: String::from("/v1/logs"),
            query_hash: QueryHash::default(),
        }
    }
}

impl Default for LogSampling {
    fn default() -> Self {
        Self { successes: 1.0, errors: 1.0, routes: Vec::new() }
    }
}

impl Default for Security {
    fn default() -> Self {
        Self { enabled: true, statuses: vec![401, 403, 429], threshold: 10, window_s: 60, max_clients: 1024 }
    }
}

/// The `redaction` section: one policy for logs, span attributes and metric labels.
#[derive(Debug, Clone, Default)]
pub struct Redaction {
    /// Which headers may appear in outputs: a deny list (default: the usual credentials) or an
    /// allow list.
    pub headers: Option<HeaderRule>,
    /// Query parameters whose values are replaced (default: the usual secrets).
    pub query_params: Option<Vec<String>>,
    pub patterns: Option<PatternSwitches>,
    pub custom: Vec<CustomRedaction>,
}

/// A custom value pattern: `{"regex": "..."}` or `{"prefix": "sk_live_", "min_len": 20}`.
#[derive(Debug, Clone)]
pub struct CustomRedaction {
    pub regex: Option<String>,
    pub prefix: Option<String>,
    pub min_len: Option<usize>,
}

#[derive(Debug, Clone)]
pub enum HeaderRule {
    Deny(Vec<String>),
    Allow(Vec<String>),
}

#[derive(Debug, Clone, Copy)]
pub struct PatternSwitches {
    pub bearer: bool,
    pub jwt: bool,
    pub card_numbers: bool,
    pub emails: bool,
}

impl Default for PatternSwitches {
    fn default() -> Self {
        Self { bearer: true, jwt: true, card_numbers: true, emails: true }
    }
}
