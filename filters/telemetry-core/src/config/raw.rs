//! The configuration document as written by users, with its defaults. See the README's
//! "Configuration" section for the reference.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub service: Service,
    /// Route templates, in match order.
    pub routes: Vec<String>,
    pub tracing: Tracing,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Service {
    pub name: String,
    pub version: Option<String>,
    pub namespace: Option<String>,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tracing {
    pub enabled: bool,
    pub extract: Vec<FormatName>,
    pub inject: Vec<FormatName>,
    pub edge_policy: EdgePolicy,
    pub sampling: Sampling,
    pub trace_id_header: String,
    pub traceresponse: bool,
    pub error_on_4xx: bool,
    pub exporter: Exporter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FormatName {
    Tracecontext,
    B3,
    B3multi,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgePolicy {
    #[default]
    Trust,
    Restart,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sampling {
    pub ratio: f64,
    pub routes: Vec<RouteSampling>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSampling {
    pub route: String,
    pub sample: Sample,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Sample {
    Keyword(String),
    Ratio(f64),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Exporter {
    pub cluster: String,
    pub authority: Option<String>,
    pub path: String,
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
            exporter: Exporter::default(),
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
            headers: BTreeMap::new(),
            timeout_ms: 5_000,
            flush_interval_ms: 1_000,
            max_batch_spans: 512,
            max_queue_spans: 2_048,
            max_in_flight: 4,
        }
    }
}
