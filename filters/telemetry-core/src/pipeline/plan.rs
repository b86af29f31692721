//! What a request needs from the host under the loaded configuration, decided once at configure
//! time: which request headers it reads and keeps past the request phase, which response headers
//! and which Envoy attributes. A host that reads headers one by one reads exactly these; the
//! proxy-wasm host reads the request header map in one call, which is cheaper than any two.

use super::host::Property;
use crate::access_log::build::{AccessLogConfig, Field};
use crate::config::{ClientSpan, Config};
use crate::metrics::{DimensionSource, MetricsConfig};
use crate::tracer;

/// The configure-time plan of the reads a request makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Request headers read, lowercase, each once.
    request_headers: Vec<String>,
    properties: Vec<Property>,
    /// `response.code`: the status of a stream reset before any response headers.
    pub(super) response_code: Property,
    /// `source.address`: the downstream peer (spans, logs, security events).
    pub(super) source_address: Property,
    /// `request.protocol`: `network.protocol.version` of sampled spans.
    pub(super) request_protocol: Property,
    /// `xds.cluster_name`, when the access log shows the upstream cluster or host, or spans have
    /// a CLIENT span.
    pub(super) cluster_name: Option<Property>,
    /// `upstream.address`, when the access log shows the upstream host, or spans have a CLIENT
    /// span.
    pub(super) upstream_address: Option<Property>,
    /// What else the CLIENT span reads, when spans have one (`tracing.client_span` not `off`).
    pub(super) client_span: Option<ClientSpanReads>,
    /// Per metric dimension, in order: where its raw value comes from.
    pub(super) dimensions: Vec<Source>,
    /// Per extra access-log field, in order: where its raw value comes from.
    pub(super) log_extra: Vec<Source>,
    /// Per extra access-log field, in order: the first metric dimension with the same header or
    /// attribute source, whose redacted value the field shares.
    pub(super) log_extra_twins: Vec<Option<usize>>,
    /// Whether the access-log line has a `user_agent` field.
    pub(super) log_shows_user_agent: bool,
    /// Whether some dimension reads a response header.
    pub(super) reads_response_dimensions: bool,
    /// Per configured span attribute (`tracing.request_headers`, `response_headers`,
    /// `attributes`), in order: where its raw value comes from. Read for sampled spans only.
    pub(super) span_attributes: Vec<Source>,
    /// Whether some span attribute reads a response header.
    pub(super) reads_response_span_headers: bool,
}

/// The Envoy attributes a CLIENT span reads at stream end, besides the cluster and the upstream
/// address (see [`crate::tracer::client::Upstream`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ClientSpanReads {
    /// `upstream.cx_pool_ready_duration`.
    pub(super) pool_ready: Property,
    /// `response.backend_latency`.
    pub(super) backend_latency: Property,
    /// `response.flags`, read only when `response.backend_latency` is absent.
    pub(super) flags: Property,
    /// `response.code_details`, read only when `response.backend_latency` is absent.
    pub(super) code_details: Property,
}

/// Where a configured label or log field gets its raw value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Source {
    /// Kept from the request headers.
    RequestHeader(String),
    /// Read while the response headers pass.
    ResponseHeader(String),
    /// Read at stream end.
    Property(Property),
    /// Computed from the route (metric dimensions only).
    Route,
}

/// Builtin attribute paths (Envoy's attribute list:
/// <https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/attributes>).
const RESPONSE_CODE: [&str; 2] = ["response", "code"];
const SOURCE_ADDRESS: [&str; 2] = ["source", "address"];
const REQUEST_PROTOCOL: [&str; 2] = ["request", "protocol"];
const CLUSTER_NAME: [&str; 2] = ["xds", "cluster_name"];
const UPSTREAM_ADDRESS: [&str; 2] = ["upstream", "address"];
const POOL_READY: [&str; 2] = ["upstream", "cx_pool_ready_duration"];
const BACKEND_LATENCY: [&str; 2] = ["response", "backend_latency"];
const RESPONSE_FLAGS: [&str; 2] = ["response", "flags"];
const CODE_DETAILS: [&str; 2] = ["response", "code_details"];

/// The request header whose left-most entry is a sampled span's `client.address`.
pub(super) const FORWARDED_FOR: &str = "x-forwarded-for";

impl Plan {
    /// The plan for a validated configuration.
    pub fn new(config: &Config) -> Self {
        let mut properties = Vec::new();
        // One number per path: a label and a log field of the same attribute read it once.
        let mut add = |path: &[&str]| {
            let path: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
            if let Some(known) = properties.iter().find(|p: &&Property| p.path() == path.as_slice()) {
                return known.clone();
            }
            let property = Property::new(properties.len(), path);
            properties.push(property.clone());
            property
        };
        let response_code = add(&RESPONSE_CODE);
        let source_address = add(&SOURCE_ADDRESS);
        let request_protocol = add(&REQUEST_PROTOCOL);
        let log = config.access_log.as_ref();
        let wants = |f: Field| log.is_some_and(|a: &AccessLogConfig| a.fields.contains(&f));
        let client = config.tracing.as_ref().is_some_and(|t| t.client_span != ClientSpan::Off);
        let cluster_name =
            (client || wants(Field::UpstreamCluster) || wants(Field::UpstreamHost)).then(|| add(&CLUSTER_NAME));
        let upstream_address = (client || wants(Field::UpstreamHost)).then(|| add(&UPSTREAM_ADDRESS));
        let client_span = client.then(|| ClientSpanReads {
            pool_ready: add(&POOL_READY),
            backend_latency: add(&BACKEND_LATENCY),
            flags: add(&RESPONSE_FLAGS),
            code_details: add(&CODE_DETAILS),
        });
        let mut source = |s: &DimensionSource| match s {
            DimensionSource::RequestHeader(h) => Source::RequestHeader(h.clone()),
            DimensionSource::ResponseHeader(h) => Source::ResponseHeader(h.clone()),
            DimensionSource::Property(path) => {
                let segments: Vec<&str> = path.iter().map(String::as_str).collect();
                Source::Property(add(&segments))
            }
            DimensionSource::Route(_) => Source::Route,
        };
        let dimensions: Vec<Source> = config
            .metrics
            .as_ref()
            .map(|m: &MetricsConfig| m.dimensions.iter().map(|d| source(&d.source)).collect())
            .unwrap_or_default();
        let log_extra: Vec<Source> = log.map(|a| a.extra.iter().map(|(_, s)| source(s)).collect()).unwrap_or_default();
        let log_extra_twins = log_extra
            .iter()
            .map(|s| match s {
                Source::Route => None,
                _ => dimensions.iter().position(|d| d == s),
            })
            .collect();
        let reads_response_dimensions = dimensions.iter().any(|s| matches!(s, Source::ResponseHeader(_)));
        let span_attributes: Vec<Source> =
            config.tracing.iter().flat_map(|t| &t.attributes.entries).map(|a| source(&a.source)).collect();
        let mut request_headers: Vec<String> = Vec::new();
        let trace_headers = config.tracing.iter().flat_map(|t| &t.extract).flat_map(|f| tracer::header_names(*f));
        let configured = log_extra.iter().chain(&dimensions).chain(&span_attributes).filter_map(|s| match s {
            Source::RequestHeader(h) => Some(h.as_str()),
            _ => None,
        });
        // `client.address` of sampled spans.
        let forwarded = config.tracing.as_ref().map(|_| FORWARDED_FOR);
        let names = tracer::ATTRIBUTE_HEADERS.into_iter().chain(trace_headers.copied()).chain(forwarded);
        for name in names.chain(configured) {
            let name = name.to_ascii_lowercase();
            if !request_headers.contains(&name) {
                request_headers.push(name);
            }
        }
        Self {
            request_headers,
            properties,
            response_code,
            source_address,
            request_protocol,
            cluster_name,
            upstream_address,
            client_span,
            dimensions,
            log_extra,
            log_extra_twins,
            log_shows_user_agent: wants(Field::UserAgent),
            reads_response_dimensions,
            reads_response_span_headers: span_attributes.iter().any(|s| matches!(s, Source::ResponseHeader(_))),
            span_attributes,
        }
    }

    /// The request headers a request reads: its attributes (method, path, scheme, authority,
    /// user agent, request id), the configured trace formats' headers, configured fields. A host
    /// that reads the whole map in one call (proxy-wasm) needs no more than that call; a host that
    /// reads headers one by one reads these.
    pub fn request_headers(&self) -> impl Iterator<Item = &str> {
        self.request_headers.iter().map(String::as_str)
    }

    /// Every attribute a request may read, numbered from 0 in [`Property::index`] order.
    pub fn properties(&self) -> &[Property] {
        &self.properties
    }

    /// The response headers read while they pass: `:status`, then configured ones. (A gRPC call
    /// also reads `grpc-status`, and `grpc-message` when it failed, from the response headers or
    /// trailers: not listed, as only gRPC calls read them.)
    pub fn response_headers(&self) -> impl Iterator<Item = &str> {
        let configured = self.log_extra.iter().chain(&self.dimensions).chain(&self.span_attributes);
        let configured = configured.filter_map(|s| match s {
            Source::ResponseHeader(h) => Some(h.as_str()),
            _ => None,
        });
        std::iter::once(":status").chain(configured)
    }
}
