//! Plugin configuration: parsed and validated once, in `on_configure`.
//!
//! The JSON document (Envoy `configuration`, Istio `pluginConfig`) is read into [`raw`] types by a
//! small schema-driven reader ([`parse`], over the crate's `json` module; it replaced serde and
//! keeps serde's accepted documents and messages), which matches fields by name and rejects
//! unknown fields so typos fail loudly, then checked and compiled into [`Config`]. Every error
//! names the field, as a dotted path, and the problem:
//! `tracing.sampling.ratio: must be a number from 0 to 1, got 1.5`.
//!
//! Why not serde_json, now that module bytes are known to cost no CPU per request: measured on
//! case (3)'s configuration (benches/RESULTS.md, "One codec per thing"), serde_json with
//! serde_path_to_error reads it in 46,828 guest instructions against 101,241 for this reader
//! (about 5 µs once per worker, below the noise of a host build), and makes the module 145 KB
//! (28%) larger (672,823 against 527,327 bytes), which every worker pays in compile time and
//! memory. Same messages either way (the configuration tests pass with both).

mod logs;
mod metrics;
mod parse;
pub mod raw;
mod span_attributes;

use std::fmt;

use crate::propagation::Format;
use crate::route::RouteTable;
use crate::sampler::{Ratio, RouteRule, Sampler};
use crate::span::{KeyValue, Resource};

/// The validated configuration of the whole module.
#[derive(Debug, Clone)]
pub struct Config {
    pub resource: Resource,
    pub routes: RouteTable,
    pub tracing: Option<TracingConfig>,
    /// `None` when `metrics.enabled` is false.
    pub metrics: Option<crate::metrics::MetricsConfig>,
    /// `None` when access logs are off.
    pub access_log: Option<crate::access_log::build::AccessLogConfig>,
    /// `None` when security events are off.
    pub security: Option<crate::security::SecurityConfig>,
    /// Applied to every log field, span attribute and metric label value.
    pub redaction: crate::redact::Policy,
}

/// The `tracing` section; `None` in [`Config`] when `tracing.enabled` is false.
#[derive(Debug, Clone)]
pub struct TracingConfig {
    pub extract: Vec<Format>,
    pub inject: Vec<Format>,
    pub edge_policy: EdgePolicy,
    pub sampler: Sampler,
    /// Response header carrying the trace id; `None` when disabled with `""`.
    pub trace_id_header: Option<String>,
    pub traceresponse: bool,
    pub error_on_4xx: bool,
    /// Which spans a request gets: a SERVER span, a CLIENT span for the upstream hop, or both.
    pub client_span: ClientSpan,
    pub exporter: ExporterConfig,
    /// Captured headers and custom attributes of sampled spans.
    pub attributes: crate::tracer::attributes::SpanAttributes,
}

/// `tracing.client_span`: whether a request gets a CLIENT span for the upstream hop (HTTP client
/// semantic conventions), beside or instead of its SERVER span.
///
/// The names say what happens to the CLIENT span, next to the SERVER span the module always
/// had; they map onto Istio's `WorkloadMode` (the `match[].mode` of a `WasmPlugin`), which is how
/// a mesh selects the side of a sidecar a plugin runs on: `child` is `CLIENT_AND_SERVER` (a
/// gateway, which receives and forwards), `off` is `SERVER` (a sidecar's inbound listener),
/// `only` is `CLIENT` (a sidecar's outbound listener, where the application is the server side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientSpan {
    /// A SERVER span, and a CLIENT span, its child, for the request sent upstream: the upstream's
    /// `traceparent` parent. The default: the module is deployed at gateways and edges first,
    /// where a service graph needs the CLIENT/SERVER pair to draw the gateway-to-app edge.
    #[default]
    Child,
    /// The SERVER span only; the upstream's parent is the SERVER span.
    Off,
    /// One CLIENT span as the request's only span (a sidecar's outbound listener: the caller's
    /// SERVER span is the application's own).
    Only,
}

/// What to do with an incoming trace context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgePolicy {
    /// Continue the caller's trace (inside a mesh, or behind a trusted gateway).
    Trust,
    /// Start a new trace and keep the caller's context only as a span link (public edges, where
    /// a client could otherwise pick trace ids or force sampling).
    Restart,
}

/// Where and how spans are exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExporterConfig {
    /// Envoy cluster of the OTLP/HTTP collector.
    pub cluster: String,
    /// `:authority` of export requests.
    pub authority: String,
    /// `:path` of export requests (`/v1/traces`).
    pub path: String,
    /// How spans and OTLP log records are written on the wire.
    pub encoding: Encoding,
    /// Extra request headers (for example an API key); never logged.
    pub headers: Vec<(String, String)>,
    pub timeout_ms: u32,
    pub flush_interval_ms: u32,
    pub max_batch_spans: usize,
    pub max_queue_spans: usize,
    pub max_in_flight: usize,
}

/// The OTLP/HTTP encoding of exports (OTLP specification, "OTLP/HTTP Request"): binary protobuf,
/// the default every receiver supports, or JSON, which receivers may support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// `application/x-protobuf`: [`crate::otlp::proto`].
    #[default]
    Protobuf,
    /// `application/json`: [`crate::otlp`]'s JSON encoders.
    Json,
}

impl Encoding {
    /// The `content-type` of export requests in this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

/// A configuration error: the offending field (dotted path) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

impl Config {
    /// Parses and validates a plugin configuration. Empty input means "all defaults". The VM
    /// environment is empty (see [`Config::from_json_with_env`]).
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        Self::from_json_with_env(bytes, &|_| None)
    }

    /// Parses and validates a plugin configuration, reading the VM environment through `env`
    /// (a variable's value, `None` when unset) where the configuration names a variable.
    pub fn from_json_with_env(bytes: &[u8], env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let trimmed = bytes.trim_ascii();
        let raw: raw::RawConfig = if trimmed.is_empty() {
            raw::RawConfig::default()
        } else {
            parse::config(&mut crate::json::Reader::new(trimmed)).map_err(|e| {
                let field = match e.path {
                    Some(p) if p != "." && p != "?" => p,
                    _ => String::from("(config)"),
                };
                ConfigError { field, message: e.message }
            })?
        };
        Self::from_raw(raw, env)
    }
}

impl Config {
    /// The resource's `service.name`.
    pub fn service_name(&self) -> &str {
        self.resource
            .attributes
            .first()
            .and_then(|kv| match &kv.value {
                crate::span::Value::String(s) if kv.key == "service.name" => Some(s.as_str()),
                _ => None,
            })
            .unwrap_or("unknown_service:meshlens")
    }
}

impl TryFrom<raw::RawConfig> for Config {
    type Error = ConfigError;

    fn try_from(raw: raw::RawConfig) -> Result<Self, ConfigError> {
        Self::from_raw(raw, &|_| None)
    }
}

impl Config {
    fn from_raw(raw: raw::RawConfig, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut templates: Vec<String> = raw.routes.clone();
        for rule in &raw.tracing.sampling.routes {
            if !templates.contains(&rule.route) {
                templates.push(rule.route.clone());
            }
        }
        let routes = RouteTable::new(templates.iter().map(String::as_str)).map_err(|(i, e)| {
            let field = if i < raw.routes.len() {
                format!("routes[{i}]")
            } else {
                format!("tracing.sampling.routes[{}].route", i - raw.routes.len())
            };
            err(field, format!("`{}` {e}", templates.get(i).map_or("", String::as_str)))
        })?;
        let resource = resource(&raw.service)?;
        let tracing = if raw.tracing.enabled { Some(tracing(raw.tracing, &routes)?) } else { None };
        let metrics = metrics::metrics(raw.metrics, &routes)?;
        let access_log = logs::access_log(raw.access_log, &routes, env)?;
        if access_log.as_ref().is_some_and(|a| a.otlp) && tracing.is_none() {
            return Err(err("access_log.sinks", "the `otlp` sink exports through `tracing.exporter`; enable tracing"));
        }
        if metrics.as_ref().is_some_and(|m| m.otlp.is_some()) && tracing.is_none() {
            return Err(err("metrics.otlp", "OTLP metrics export through `tracing.exporter`; enable tracing"));
        }
        let security = logs::security(raw.security)?;
        let redaction = logs::redaction(raw.redaction)?;
        Ok(Self { resource, routes, tracing, metrics, access_log, security, redaction })
    }
}

fn resource(service: &raw::Service) -> Result<Resource, ConfigError> {
    if service.name.trim().is_empty() {
        return Err(err("service.name", "must not be empty"));
    }
    let mut attributes = vec![KeyValue::string("service.name", service.name.clone())];
    if let Some(version) = &service.version {
        attributes.push(KeyValue::string("service.version", version.clone()));
    }
    if let Some(namespace) = &service.namespace {
        attributes.push(KeyValue::string("service.namespace", namespace.clone()));
    }
    for (key, value) in &service.attributes {
        if key.is_empty() {
            return Err(err("service.attributes", "keys must not be empty"));
        }
        if attributes.iter().any(|kv| kv.key == key.as_str()) {
            return Err(err(format!("service.attributes.{key}"), "is already set by service.name/version/namespace"));
        }
        attributes.push(KeyValue::string(key.clone(), value.clone()));
    }
    attributes.push(KeyValue::string("telemetry.sdk.name", crate::span::SCOPE_NAME));
    attributes.push(KeyValue::string("telemetry.sdk.language", "rust"));
    attributes.push(KeyValue::string("telemetry.sdk.version", crate::span::SCOPE_VERSION));
    Ok(Resource { attributes })
}

fn tracing(raw: raw::Tracing, routes: &RouteTable) -> Result<TracingConfig, ConfigError> {
    let extract = formats(&raw.extract, "tracing.extract")?;
    let inject = formats(&raw.inject, "tracing.inject")?;
    if inject.is_empty() {
        return Err(err("tracing.inject", "must name at least one format, or the upstream cannot continue the trace"));
    }
    let default = Ratio::new(raw.sampling.ratio).ok_or_else(|| {
        err("tracing.sampling.ratio", format!("must be a number from 0 to 1, got {}", raw.sampling.ratio))
    })?;
    let mut rules = vec![None; routes.len()];
    for (i, rule) in raw.sampling.routes.iter().enumerate() {
        let field = format!("tracing.sampling.routes[{i}]");
        let decided = match &rule.sample {
            raw::Sample::Keyword(k) if k == "always" => RouteRule::Always,
            raw::Sample::Keyword(k) if k == "never" => RouteRule::Never,
            raw::Sample::Keyword(k) => {
                return Err(err(
                    format!("{field}.sample"),
                    format!("must be \"always\", \"never\" or a ratio, got \"{k}\""),
                ));
            }
            raw::Sample::Ratio(r) => RouteRule::Ratio(
                Ratio::new(*r)
                    .ok_or_else(|| err(format!("{field}.sample"), format!("must be a number from 0 to 1, got {r}")))?,
            ),
        };
        let id = routes.id_of(&rule.route).ok_or_else(|| err(format!("{field}.route"), "is not a route"))?;
        let slot = rules.get_mut(id.0).ok_or_else(|| err(format!("{field}.route"), "is not a route"))?;
        if slot.is_some() {
            return Err(err(format!("{field}.route"), format!("`{}` has a rule already", rule.route)));
        }
        *slot = Some(decided);
    }
    let trace_id_header = match raw.trace_id_header.trim() {
        "" => None,
        name if is_header_name(name) => Some(name.to_ascii_lowercase()),
        name => return Err(err("tracing.trace_id_header", format!("`{name}` is not a valid HTTP header name"))),
    };
    Ok(TracingConfig {
        extract,
        inject,
        edge_policy: match raw.edge_policy {
            raw::EdgePolicy::Trust => EdgePolicy::Trust,
            raw::EdgePolicy::Restart => EdgePolicy::Restart,
        },
        sampler: Sampler::new(default, rules),
        trace_id_header,
        traceresponse: raw.traceresponse,
        error_on_4xx: raw.error_on_4xx,
        attributes: span_attributes::span_attributes(&raw)?,
        client_span: raw.client_span,
        exporter: exporter(raw.exporter)?,
    })
}

fn exporter(raw: raw::Exporter) -> Result<ExporterConfig, ConfigError> {
    const F: &str = "tracing.exporter";
    if raw.cluster.trim().is_empty() {
        return Err(err(format!("{F}.cluster"), "must name the Envoy cluster of the OTLP collector"));
    }
    if !raw.path.starts_with('/') {
        return Err(err(format!("{F}.path"), format!("must start with `/`, got `{}`", raw.path)));
    }
    let bounded = |name: &str, value: u64, min: u64, max: u64| {
        if (min..=max).contains(&value) {
            Ok(())
        } else {
            Err(err(format!("{F}.{name}"), format!("must be from {min} to {max}, got {value}")))
        }
    };
    bounded("timeout_ms", u64::from(raw.timeout_ms), 1, 600_000)?;
    bounded("flush_interval_ms", u64::from(raw.flush_interval_ms), 10, 600_000)?;
    bounded("max_batch_spans", raw.max_batch_spans as u64, 1, 10_000)?;
    bounded("max_queue_spans", raw.max_queue_spans as u64, 1, 1_000_000)?;
    bounded("max_in_flight", raw.max_in_flight as u64, 1, 64)?;
    if raw.max_queue_spans < raw.max_batch_spans {
        return Err(err(format!("{F}.max_queue_spans"), "must be at least max_batch_spans"));
    }
    if raw.headers.len() > MAX_EXPORT_HEADERS {
        return Err(err(
            format!("{F}.headers"),
            format!("at most {MAX_EXPORT_HEADERS} headers, got {}", raw.headers.len()),
        ));
    }
    let mut headers = Vec::new();
    for (name, value) in raw.headers {
        if !is_header_name(&name) || name.starts_with(':') {
            return Err(err(format!("{F}.headers"), format!("`{name}` is not a valid HTTP header name")));
        }
        let name = name.to_ascii_lowercase();
        let field = format!("{F}.headers.{name}");
        if EXPORTER_OWN_HEADERS.contains(&name.as_str()) {
            return Err(err(field, "is set by the exporter itself (use `authority` for the host)"));
        }
        if let Err(why) = header_value_problem(&value) {
            return Err(err(field, why));
        }
        headers.push((name, value));
    }
    let authority = raw.authority.unwrap_or_else(|| raw.cluster.clone());
    if authority.is_empty() || authority.len() > 255 || !authority.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(err(format!("{F}.authority"), "must be a host[:port] of 1 to 255 visible ASCII characters"));
    }
    Ok(ExporterConfig {
        cluster: raw.cluster,
        authority,
        path: raw.path,
        encoding: raw.encoding,
        headers,
        timeout_ms: raw.timeout_ms,
        flush_interval_ms: raw.flush_interval_ms,
        max_batch_spans: raw.max_batch_spans,
        max_queue_spans: raw.max_queue_spans,
        max_in_flight: raw.max_in_flight,
    })
}

/// At most this many extra export headers.
const MAX_EXPORT_HEADERS: usize = 32;
/// At most this many bytes in one export header value.
const MAX_EXPORT_HEADER_VALUE: usize = 8192;
/// Headers the exporter writes itself.
const EXPORTER_OWN_HEADERS: [&str; 5] = ["content-type", "content-length", "transfer-encoding", "host", "te"];

/// Why an export header value cannot be sent, if it cannot: RFC 9110 section 5.5 `field-value`,
/// visible characters and spaces or tabs between them, nothing else. A CR or LF would let the
/// configuration write a header of its own (every export then fails in Envoy); NUL and other
/// control characters are refused by HTTP/1 and HTTP/2 codecs alike.
fn header_value_problem(value: &str) -> Result<(), String> {
    if value.len() > MAX_EXPORT_HEADER_VALUE {
        return Err(format!("is {} bytes; at most {MAX_EXPORT_HEADER_VALUE}", value.len()));
    }
    if let Some(b) = value.bytes().find(|b| (b.is_ascii_control() && *b != b'\t') || *b == 0x7f) {
        let what = match b {
            b'\r' => String::from("a carriage return (CR)"),
            b'\n' => String::from("a line feed (LF)"),
            0 => String::from("a NUL byte"),
            b => format!("the control character 0x{b:02x}"),
        };
        return Err(format!("holds {what}: header values are visible characters, spaces and tabs"));
    }
    if value.starts_with([' ', '\t']) || value.ends_with([' ', '\t']) {
        return Err(String::from("starts or ends with whitespace, which HTTP strips"));
    }
    Ok(())
}

fn formats(names: &[raw::FormatName], field: &str) -> Result<Vec<Format>, ConfigError> {
    let mut out = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let format = match name {
            raw::FormatName::Tracecontext => Format::TraceContext,
            raw::FormatName::B3 => Format::B3Single,
            raw::FormatName::B3multi => Format::B3Multi,
        };
        if out.contains(&format) {
            return Err(err(format!("{field}[{i}]"), "is listed twice"));
        }
        out.push(format);
    }
    Ok(out)
}

/// RFC 9110 `token` characters, the grammar of a field name.
fn is_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

pub(crate) fn err(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError { field: field.into(), message: message.into() }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests;
