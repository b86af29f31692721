//! The CLIENT span of the upstream hop (OpenTelemetry HTTP client semantic conventions,
//! <https://opentelemetry.io/docs/specs/semconv/http/http-spans/#http-client-span>): what this
//! proxy did as the client of the upstream host, so that a service graph (Jaeger's, Tempo's),
//! which pairs a CLIENT span with the SERVER span it parents, sees the edge from the proxy to the
//! application.
//!
//! The span is derived from the request's finished SERVER span (its method, and the URL parts the
//! redaction policy already scrubbed) and from what Envoy tells about the upstream at stream end
//! ([`Upstream`]): nothing is read from the request again and nothing is redacted twice.
//!
//! Under `tracing.client_span: child` it is a second span, child of the SERVER span, whose id is
//! the `traceparent` parent sent upstream; under `only` it is the request's one span (a sidecar's
//! outbound listener), converted from the SERVER span ([`into_primary`]).

use crate::grpc;
use crate::ids::SpanId;
use crate::json::push_u64;
use crate::span::{KeyValue, Span, SpanKind, Status, StatusCode, Value};

use super::split_host_port;

/// What Envoy tells about the upstream hop at stream end (Envoy attributes,
/// <https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/attributes>).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Upstream {
    /// `xds.cluster_name`: the cluster the route chose; `None` for a request answered without
    /// one (a direct response, no route, a local reply before the router).
    pub cluster: Option<String>,
    /// `upstream.address`: the upstream host, `ip:port`; `None` when no host was picked.
    pub address: Option<String>,
    /// `upstream.cx_pool_ready_duration`: from the creation of the upstream request to a ready
    /// connection (the connect time on a new connection).
    pub pool_ready_nanos: Option<u64>,
    /// `response.backend_latency`: from the first byte sent upstream to the last byte received;
    /// `None` when the upstream did not answer completely.
    pub backend_latency_nanos: Option<u64>,
    /// `response.flags` (Envoy's response flags as a bit vector); read only when the upstream did
    /// not answer completely, 0 otherwise.
    pub flags: u64,
    /// Whether the response sent downstream is the upstream's (`response.code_details` is
    /// `via_upstream`), not one Envoy generated after an upstream failure.
    pub responded: bool,
}

/// Envoy's response flags that say the upstream hop failed (Envoy `StreamInfo::CoreResponseFlag`,
/// `envoy/stream_info/stream_info.h`), and the `error.type` each becomes: a closed, low-cardinality
/// set (HTTP semantic conventions, "error.type": predictable, low cardinality). The first flag
/// set, in this order, names the error.
pub const FAILURES: [(u64, &str); 10] = [
    // UF: the connection could not be established (refused, connect timeout).
    (0x20, "connect_failure"),
    // DF: the upstream host's name did not resolve.
    (0x400_0000, "connect_failure"),
    // UH: the cluster had no healthy host to send the request to.
    (0x2, "no_healthy_upstream"),
    // UT: the route's timeout passed before the upstream answered.
    (0x4, "timeout"),
    // UMSDR: the upstream stream's max duration passed.
    (0x8_0000, "timeout"),
    // UR: the upstream reset the stream.
    (0x10, "reset"),
    // UC: the upstream connection terminated.
    (0x40, "reset"),
    // LR: Envoy reset the upstream stream.
    (0x8, "reset"),
    // UO: the cluster's circuit breaker (connections, requests, pending) overflowed.
    (0x80, "overflow"),
    // UPE: the upstream sent a response Envoy could not parse.
    (0x80_0000, "protocol_error"),
];

/// Attribute name of the upstream cluster: Envoy's own tracer's tag for the cluster's name
/// (`Tracing::Tags::UpstreamClusterName`, set by the router on its upstream spans), so backends
/// and queries built for Envoy's spans find it here too; the OpenTelemetry conventions have no
/// cluster attribute.
pub const CLUSTER_ATTRIBUTE: &str = "upstream_cluster.name";

impl Upstream {
    /// Whether the request went to an upstream: a cluster was chosen and either a host was picked
    /// or the hop failed (no healthy host has no address).
    pub fn reached(&self) -> bool {
        self.cluster.is_some() && (self.address.is_some() || self.failure().is_some())
    }

    /// The `error.type` of a failed upstream hop, from [`FAILURES`].
    pub fn failure(&self) -> Option<&'static str> {
        FAILURES.iter().find(|(bit, _)| self.flags & bit != 0).map(|(_, name)| *name)
    }
}

/// The CLIENT span of `server`'s upstream hop, with span id `id` (the parent the upstream
/// received); `None` when the request never went upstream (a direct response, no route, a local
/// reply).
///
/// Timing: it starts with the SERVER span (the router creates the upstream request when the
/// request headers leave this filter) and ends after `upstream.cx_pool_ready_duration` +
/// `response.backend_latency` (a ready connection, then first byte sent to last byte received),
/// never after the SERVER span; when the upstream did not answer completely (a failure, a reset)
/// it ends with the SERVER span.
///
/// A gRPC call (`grpc`) keeps the SERVER span's `rpc.*` attributes, and its status follows the
/// gRPC conventions for client spans: every code but OK is an error.
pub fn child(server: &Span, id: SpanId, upstream: Upstream, status: u16, grpc: Option<grpc::Call>) -> Option<Span> {
    if !upstream.reached() {
        return None;
    }
    let mut attributes = Vec::with_capacity(9);
    for kv in &server.attributes {
        if matches!(kv.key.as_ref(), "http.request.method" | "http.request.method_original")
            || kv.key.starts_with("rpc.")
        {
            attributes.push(kv.clone());
        }
    }
    let url = url_full(&server.attributes);
    let name = method_of(&server.name).to_owned();
    let end = match upstream.backend_latency_nanos {
        Some(latency) => server
            .start_unix_nanos
            .saturating_add(upstream.pool_ready_nanos.unwrap_or(0))
            .saturating_add(latency)
            .min(server.end_unix_nanos),
        None => server.end_unix_nanos,
    };
    let mut status = finish_attributes(&mut attributes, url, upstream, status, grpc);
    if status.code == StatusCode::Error && grpc.is_some() {
        // The SERVER span's message is the redacted `grpc-message` of a failed call.
        status.message.clone_from(&server.status.message);
    }
    Some(Span {
        trace_id: server.trace_id,
        span_id: id,
        parent_span_id: Some(server.span_id),
        local_parent: true,
        trace_state: server.trace_state.clone(),
        flags: server.flags,
        name,
        kind: SpanKind::Client,
        start_unix_nanos: server.start_unix_nanos,
        end_unix_nanos: end,
        attributes,
        status,
        links: Vec::new(),
    })
}

/// The request's one span as a CLIENT span (`tracing.client_span: only`), converted from the
/// SERVER span `server` that [`super::finish_clean`] built: same ids, parent, links and timing
/// (the whole exchange, as the application calling through this proxy sees it); the server-side
/// attributes (`url.*` parts, `http.route`, `client.*`, `server.*`, the downstream peer and
/// protocol) become `url.full` and the upstream's; other attributes are kept. A request answered
/// without an upstream keeps its span (the trace-ID headers and the access line name it), with
/// the status of the response sent.
pub fn into_primary(mut server: Span, upstream: Upstream, status: u16, grpc: Option<grpc::Call>) -> Span {
    let url = url_full(&server.attributes);
    server.attributes.retain(|kv| !SERVER_SIDE.contains(&kv.key.as_ref()));
    let method = method_of(&server.name).len();
    server.name.truncate(method);
    // Without an upstream, the reply sent is the one to report.
    let facts = if upstream.reached() { upstream } else { Upstream { responded: true, ..Upstream::default() } };
    let message = std::mem::take(&mut server.status.message);
    let mut status = finish_attributes(&mut server.attributes, url, facts, status, grpc);
    if status.code == StatusCode::Error && grpc.is_some() {
        status.message = message;
    }
    Span { kind: SpanKind::Client, status, ..server }
}

/// The CLIENT span's name from the SERVER span's (`{method} {http.route}`, `{method}` or `HTTP`):
/// its method part (HTTP client conventions: `{method}`, `HTTP` for a method outside the set).
fn method_of(server_name: &str) -> &str {
    let end = server_name.bytes().position(|b| b == b' ').unwrap_or(server_name.len());
    server_name.get(..end).unwrap_or(server_name)
}

/// The SERVER span's attributes that describe the downstream side, dropped from a CLIENT span.
const SERVER_SIDE: [&str; 13] = [
    "url.path",
    "url.query",
    "url.scheme",
    "http.route",
    "server.address",
    "server.port",
    "client.address",
    "client.port",
    "network.peer.address",
    "network.peer.port",
    "network.protocol.version",
    "error.type",
    // Rewritten from the upstream's response, when there was one.
    "http.response.status_code",
];

/// Appends the CLIENT span's own attributes to `attributes` (which hold the method): `url.full`,
/// the upstream host as `server.*` and `network.peer.*`, the cluster, the upstream's status
/// (`status` when the response came from the upstream), `error.type`. Returns the span's status.
/// For a gRPC call whose response came from the upstream as a 2xx, the gRPC status decides
/// instead (gRPC conventions, client spans: every code but OK is an error, `error.type` the
/// code's name; no status at all is `_OTHER`).
fn finish_attributes(
    attributes: &mut Vec<KeyValue>,
    url: Option<String>,
    upstream: Upstream,
    status: u16,
    grpc: Option<grpc::Call>,
) -> Status {
    if let Some(url) = url {
        attributes.push(KeyValue::string("url.full", url));
    }
    // `server.address`/`server.port`: the host this proxy sent the request to, by address, as the
    // conventions ask for a request made to an IP address (the cluster resolved the name);
    // `network.peer.*`: the same peer, the other end of the upstream connection.
    if let Some((host, port)) = upstream.address.as_deref().map(split_host_port) {
        attributes.push(KeyValue::string("server.address", host.to_owned()));
        if let Some(port) = port {
            attributes.push(KeyValue::int("server.port", i64::from(port)));
        }
        attributes.push(KeyValue::string("network.peer.address", host.to_owned()));
        if let Some(port) = port {
            attributes.push(KeyValue::int("network.peer.port", i64::from(port)));
        }
    }
    let failure = upstream.failure();
    if let Some(cluster) = upstream.cluster {
        attributes.push(KeyValue::string(CLUSTER_ATTRIBUTE, cluster));
    }
    let from_upstream = upstream.responded && status != 0;
    if from_upstream {
        attributes.push(KeyValue::int("http.response.status_code", i64::from(status)));
    }
    // HTTP semantic conventions, "Status" of client spans: an error for every 4xx and 5xx, and
    // when no response came (`error.type` names the failure).
    let error = match (failure, from_upstream) {
        (Some(failure), _) => Some(failure.to_owned()),
        (None, true) if status >= 400 => Some(status.to_string()),
        (None, true) => grpc.and_then(|call| grpc::error_type(call.status, SpanKind::Client)).map(str::to_owned),
        (None, false) => Some(String::from("_OTHER")),
    };
    match error {
        Some(error) => {
            attributes.push(KeyValue::string("error.type", error));
            Status { code: StatusCode::Error, message: String::new() }
        }
        None => Status::default(),
    }
}

/// `url.full` from the SERVER span's URL attributes (already through the redaction policy: the
/// authority without userinfo, the path's and the query's listed values replaced):
/// `{url.scheme}://{server.address}[:{server.port}]{url.path}[?{url.query}]`; `None` without an
/// authority. The scheme is the request's (`http` when it had none): the one the application's
/// URL has, not necessarily the upstream connection's. One pass over the attributes.
fn url_full(attributes: &[KeyValue]) -> Option<String> {
    let (mut scheme, mut host, mut path, mut query, mut port) = ("http", None, "/", None, None);
    for kv in attributes {
        match (kv.key.as_ref(), &kv.value) {
            ("url.scheme", Value::String(s)) => scheme = s,
            ("server.address", Value::String(s)) => host = Some(s.as_str()),
            ("url.path", Value::String(s)) => path = s,
            ("url.query", Value::String(s)) => query = Some(s.as_str()),
            ("server.port", Value::Int(n)) => port = u64::try_from(*n).ok(),
            _ => {}
        }
    }
    let host = host?;
    let mut url = String::with_capacity(scheme.len() + host.len() + path.len() + query.map_or(0, str::len) + 16);
    url.push_str(scheme);
    url.push_str("://");
    if host.contains(':') {
        url.push('[');
        url.push_str(host);
        url.push(']');
    } else {
        url.push_str(host);
    }
    if let Some(port) = port {
        url.push(':');
        push_u64(&mut url, port);
    }
    url.push_str(path);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::{FAILURES, Upstream, url_full};
    use crate::span::KeyValue;

    #[test]
    fn every_failure_flag_names_its_error_type_and_the_first_listed_wins() {
        for (bit, name) in FAILURES {
            let failed = Upstream { cluster: Some("app".into()), flags: bit, ..Upstream::default() };
            assert_eq!(failed.failure(), Some(name), "{bit:#x}");
            assert!(failed.reached(), "{bit:#x}: a failed attempt went upstream");
        }
        // UF with URX (retries exhausted): the connection failure names it.
        assert_eq!(Upstream { flags: 0x20 | 0x8000, ..Upstream::default() }.failure(), Some("connect_failure"));
        // NR (no route), DC (downstream went away), RL (rate limited): not the upstream's failure.
        for other in [0x100, 0x4000, 0x800] {
            assert_eq!(Upstream { flags: other, ..Upstream::default() }.failure(), None, "{other:#x}");
        }
    }

    #[test]
    fn a_request_reached_an_upstream_only_through_a_routed_cluster() {
        let routed =
            Upstream { cluster: Some("app".into()), address: Some("10.0.0.1:80".into()), ..Upstream::default() };
        assert!(routed.reached());
        assert!(!Upstream { cluster: None, ..routed.clone() }.reached(), "no cluster: no route or a direct response");
        assert!(!Upstream { address: None, ..routed }.reached(), "a local reply after routing, no host, no failure");
    }

    #[test]
    fn url_full_is_built_from_the_server_span_s_parts() {
        let attributes = |list: &[(&'static str, &str)], port: Option<i64>| -> Vec<KeyValue> {
            let mut out: Vec<KeyValue> = list.iter().map(|(k, v)| KeyValue::string(*k, *v)).collect();
            out.extend(port.map(|p| KeyValue::int("server.port", p)));
            out
        };
        let full = attributes(
            &[("url.scheme", "https"), ("server.address", "::1"), ("url.path", "/a"), ("url.query", "q=[REDACTED]")],
            Some(8443),
        );
        assert_eq!(url_full(&full).as_deref(), Some("https://[::1]:8443/a?q=[REDACTED]"));
        let bare = attributes(&[("server.address", "shop.example")], None);
        assert_eq!(url_full(&bare).as_deref(), Some("http://shop.example/"), "defaults: http, `/`");
        assert_eq!(url_full(&attributes(&[("url.path", "/a")], None)), None, "no authority, no URL");
    }
}
