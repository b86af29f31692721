//! The per-request tracing decisions: from request headers to the outgoing context, from the
//! response to the trace-ID headers, and from stream end to a finished span.
//!
//! The pipeline calls [`start_request`] when the request headers pass, [`response_headers`] when
//! the response headers pass and [`finish`] at stream end.

pub mod attributes;
pub mod client;
pub mod decision;

use std::borrow::Cow;

use crate::config::{ClientSpan, EdgePolicy, TracingConfig};
use crate::grpc;
use crate::ids::{IdGenerator, SpanId};
use crate::propagation::{self, Format, HeaderLookup, SpanContext, TraceFlags, b3, traceparent, tracestate};
use crate::redact::{Counts, Policy};
use crate::route::{self, RouteId, RouteTable};
use crate::span::{KeyValue, Link, Span, SpanKind, Status, StatusCode};
pub use decision::{Decision, TraceOrigin, TraceStateFate};

/// The state of one request's span between `on_request_headers` and `on_log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSpan {
    /// This proxy's span: the context sent upstream (its `span_id` is the upstream's parent).
    pub context: SpanContext,
    /// The caller's span, when the trace is continued (`trust`).
    pub parent: Option<SpanId>,
    /// The caller's context, when the trace was restarted (`restart`).
    pub link: Option<SpanContext>,
    /// Whether the span is recorded and exported.
    pub sampled: bool,
    pub start_unix_nanos: u64,
    /// The CLIENT span's id (`tracing.client_span: child`, sampled requests): the parent sent
    /// upstream. Unsampled requests record no span, so they draw no id and send `context`'s.
    pub client: Option<SpanId>,
}

/// What the span, the metrics and the access log record about a request, read once from its
/// headers. The values share one buffer: one allocation per request instead of one per value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestAttributes {
    text: String,
    /// End of each value in `text`, in [`Part`] order (each starts where the previous ends).
    ends: [u32; VALUES],
    /// Bit `i` set: value `i` was present.
    present: u8,
    pub route: Option<RouteId>,
    /// The gRPC protocol the request's `content-type` names; `None` for any other request.
    pub grpc: Option<grpc::Protocol>,
}

/// The values of [`RequestAttributes`], in buffer order.
#[derive(Debug, Clone, Copy)]
enum Part {
    Method,
    RawPath,
    Scheme,
    Authority,
    UserAgent,
    RequestId,
}

const VALUES: usize = 6;

impl RequestAttributes {
    /// `:method`, `:path` (query included), `:scheme`, `:authority`, `user-agent` and
    /// `x-request-id`, when present; `route` is matched on the path without its query.
    pub fn new(values: [Option<&str>; VALUES], routes: &RouteTable) -> Self {
        let mut text = String::with_capacity(values.iter().flatten().map(|v| v.len()).sum());
        let mut ends = [0; VALUES];
        let mut present = 0;
        for (i, (value, end)) in values.iter().zip(ends.iter_mut()).enumerate() {
            if let Some(v) = value {
                text.push_str(v);
                present |= 1 << i;
            }
            *end = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
        let mut attributes = Self { text, ends, present, route: None, grpc: None };
        // No `:path` (a request Envoy's codec refused before parsing it): no route either, rather
        // than the route of `/`.
        if attributes.get(Part::RawPath).is_some() {
            attributes.route = routes.find(attributes.path());
        }
        attributes
    }

    fn get(&self, part: Part) -> Option<&str> {
        let i = part as usize;
        if self.present & (1 << i) == 0 {
            return None;
        }
        let start = if i == 0 { 0 } else { *self.ends.get(i - 1)? as usize };
        self.text.get(start..*self.ends.get(i)? as usize)
    }

    /// `:method`; `None` for a request that had none (one Envoy's codec refused before any
    /// filter ran), which is then not reported as any method.
    pub fn method(&self) -> Option<&str> {
        self.get(Part::Method)
    }

    /// `:path` as received, query included; empty when absent.
    pub fn raw_path(&self) -> &str {
        self.get(Part::RawPath).unwrap_or("")
    }

    /// The path without its query string, `/` when absent.
    pub fn path(&self) -> &str {
        route::strip_query(self.get(Part::RawPath).unwrap_or("/"))
    }

    /// `:scheme`.
    pub fn scheme(&self) -> Option<&str> {
        self.get(Part::Scheme)
    }

    /// `:authority`, the port included when the request had one.
    pub fn authority(&self) -> Option<&str> {
        self.get(Part::Authority)
    }

    /// `user-agent`, as received (redaction is the reader's job).
    pub fn user_agent(&self) -> Option<&str> {
        self.get(Part::UserAgent)
    }

    /// `x-request-id`.
    pub fn request_id(&self) -> Option<&str> {
        self.get(Part::RequestId)
    }
}

/// What [`start`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub span: ActiveSpan,
    /// Headers to set on the request sent upstream (replacing any existing value).
    pub inject: Vec<(&'static str, String)>,
    /// Incoming trace headers to remove from the upstream request (stale or untrusted).
    pub remove: Vec<&'static str>,
    /// Some configured format's headers were present but invalid.
    pub invalid_context: bool,
    /// What was decided and why: the record of this decision (see [`Decision`]).
    pub decision: Decision,
}

/// What is known when the stream ends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Completion {
    pub end_unix_nanos: u64,
    /// HTTP status sent downstream; 0 when no response was sent (downstream reset).
    pub status: u16,
    pub request_body_bytes: Option<u64>,
    pub response_body_bytes: Option<u64>,
    /// The downstream peer, `ip:port` or `[ipv6]:port` as Envoy's `source.address` gives it
    /// (port 0 when Envoy took the address from `x-forwarded-for`).
    pub client_address: Option<String>,
    /// The request's first `x-forwarded-for` value (sampled spans only): see
    /// [`attributes::peer_and_client`].
    pub forwarded_for: Option<String>,
    /// `HTTP/1.1`, `HTTP/2`, ... as Envoy's `request.protocol` gives it.
    pub protocol: Option<String>,
    /// How the call ended, when the request is a gRPC call.
    pub grpc: Option<grpc::Call>,
    /// `grpc-message` as received (percent-encoded), read only when the call failed on the
    /// server's side (the span's status message).
    pub grpc_message: Option<String>,
}

/// Starts the span for a request: extracts the incoming context, applies the edge policy and the
/// sampler, and returns the headers to send upstream.
pub fn start(
    cfg: &TracingConfig,
    routes: &RouteTable,
    ids: &mut IdGenerator,
    headers: &(impl HeaderLookup + ?Sized),
    now_unix_nanos: u64,
) -> Started {
    start_request(cfg, &request_attributes(headers, routes), ids, headers, now_unix_nanos)
}

/// [`start`] for a request whose attributes the caller already read with [`request_attributes`].
pub fn start_request(
    cfg: &TracingConfig,
    request: &RequestAttributes,
    ids: &mut IdGenerator,
    headers: &(impl HeaderLookup + ?Sized),
    now_unix_nanos: u64,
) -> Started {
    let extracted = propagation::extract(headers, &cfg.extract);
    let (incoming, parent_sampled) = match cfg.edge_policy {
        EdgePolicy::Trust => {
            // B3 ids without a sampling state defer the decision to us: no parent decision.
            let sampled = match &extracted.context {
                Some(_) if extracted.sampling_deferred => None,
                Some(c) => Some(c.flags.sampled() || c.debug),
                None => None,
            };
            (extracted.context.clone(), sampled.or(extracted.sampling_only))
        }
        EdgePolicy::Restart => (None, None),
    };
    // Trace Context Level 2, "Random Trace ID Flag": a participant that continues a trace
    // started upstream MUST send the `random-trace-id` flag it received; one that starts or
    // restarts a trace (a new id of its own: no context, or `restart`) sets it when the id's
    // right-most 7 bytes are random, which [`IdGenerator::trace_id`] guarantees. A B3 caller's
    // trace id comes with no such promise (B3 has no flag, and 64-bit B3 ids are zero-padded),
    // so it is continued with the flag clear.
    let (trace_id, random) = match &incoming {
        Some(c) => (c.trace_id, c.flags.random()),
        None => (ids.trace_id(), true),
    };
    // The ratio samplers compare the id's low 64 bits (`sampler.rs`); the flag changes nothing
    // there.
    let decided = cfg.sampler.decide(trace_id, parent_sampled, request.route);
    let decision = Decision::new(&extracted, cfg.edge_policy, decided);
    let sampled = decided.0;
    let context = SpanContext {
        trace_id,
        span_id: ids.span_id(),
        // Only `sampled` (Level 1) and `random-trace-id` (Level 2) are defined; the other bits
        // are sent as zero ("Other Flags").
        flags: TraceFlags::default().with_sampled(sampled).with_random(random),
        trace_state: incoming.as_ref().and_then(|c| c.trace_state.clone()),
        debug: incoming.as_ref().is_some_and(|c| c.debug),
    };
    // The upstream's parent: the CLIENT span under `client_span: child` (drawn only when it is
    // recorded), this proxy's span otherwise. `traceresponse`, the trace-ID header, the access
    // line and exemplars keep naming `context` (the SERVER span: the callee's span for the caller).
    let client = (sampled && cfg.client_span == ClientSpan::Child).then(|| ids.span_id());
    let mut context = context;
    let server = context.span_id;
    context.span_id = client.unwrap_or(server);
    let mut inject = Vec::with_capacity(4);
    propagation::inject(&context, &cfg.inject, &mut inject);
    context.span_id = server;
    let stale: &[Format] = match cfg.edge_policy {
        EdgePolicy::Trust => &cfg.inject,
        EdgePolicy::Restart => ALL_FORMATS,
    };
    let remove = stale
        .iter()
        .flat_map(|f| header_names(*f))
        .copied()
        .filter(|name| !inject.iter().any(|(n, _)| n == name) && HeaderLookup::get(headers, name).is_some())
        .collect();
    let span = ActiveSpan {
        parent: incoming.as_ref().map(|c| c.span_id),
        link: match cfg.edge_policy {
            EdgePolicy::Restart => extracted.context,
            EdgePolicy::Trust => None,
        },
        context,
        sampled,
        start_unix_nanos: now_unix_nanos,
        client,
    };
    Started { span, inject, remove, invalid_context: extracted.invalid, decision }
}

/// The headers to add to the response: the trace-ID header and W3C `traceresponse`
/// (Trace Context Level 2, whose value has the `traceparent` shape and this proxy's span id).
///
/// `traceresponse` carries the span's flags, `random-trace-id` included: Level 2
/// ("Traceresponse Header", "trace-flags") asks for the same flag rules as `traceparent`, so the
/// bit is set for an id this proxy generated and copied from the incoming `traceparent` for a
/// continued trace.
///
/// Each header goes to `set` as it is formatted, from a stack buffer: no allocation.
pub fn response_headers(cfg: &TracingConfig, span: &ActiveSpan, mut set: impl FnMut(&str, &str)) {
    if let Some(name) = &cfg.trace_id_header {
        let mut hex = [0u8; 32];
        crate::ids::hex_into(&mut hex, &span.context.trace_id.to_bytes());
        // Hex digits only: valid UTF-8.
        set(name, std::str::from_utf8(&hex).unwrap_or_default());
    }
    if cfg.traceresponse {
        let mut value = [0u8; traceparent::V00_LEN];
        traceparent::format_bytes(&mut value, span.context.trace_id, span.context.span_id, span.context.flags);
        set("traceresponse", std::str::from_utf8(&value).unwrap_or_default());
    }
}

/// Finishes the span of the request `req` (as [`request_attributes`] read it); `None` when the
/// request was not sampled. Free-text attributes (path, user agent) go through the redaction
/// policy.
pub fn finish(
    cfg: &TracingConfig,
    routes: &RouteTable,
    span: ActiveSpan,
    req: &RequestAttributes,
    done: &Completion,
    policy: &Policy,
    counts: &mut Counts,
) -> Option<Span> {
    if !span.sampled {
        return None;
    }
    let clean = Clean::of(req, policy, counts, true);
    finish_clean(cfg, routes, span, req, &clean, done, policy, counts)
}

/// A request's free-text values after the redaction policy, computed once per request and shared
/// by the span and the access line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clean<'a> {
    /// The path without its query.
    pub path: Cow<'a, str>,
    pub user_agent: Option<Cow<'a, str>>,
}

impl<'a> Clean<'a> {
    /// Redacts the request's path, and its user agent when some output shows it (counted once).
    pub fn of(req: &'a RequestAttributes, policy: &Policy, counts: &mut Counts, user_agent: bool) -> Self {
        let user_agent = req.user_agent().filter(|_| user_agent).map(|ua| policy.text(ua, counts));
        Self { path: policy.path(req.path(), counts), user_agent }
    }
}

/// [`finish`] with the request's values already redacted.
#[allow(clippy::too_many_arguments)]
pub fn finish_clean(
    cfg: &TracingConfig,
    routes: &RouteTable,
    span: ActiveSpan,
    req: &RequestAttributes,
    clean: &Clean<'_>,
    done: &Completion,
    policy: &Policy,
    counts: &mut Counts,
) -> Option<Span> {
    if !span.sampled {
        return None;
    }
    let method = req.method().filter(|m| KNOWN_METHODS.contains(m));
    let route = req.route.and_then(|r| routes.template(r));
    // HTTP semantic conventions, span name: `{method} {http.route}`, `HTTP` for unknown methods.
    let known = method.is_some();
    let method = method.unwrap_or("HTTP");
    let mut name = String::with_capacity(method.len() + route.map_or(0, |r| r.len() + 1));
    name.push_str(method);
    if let Some(route) = route {
        name.push(' ');
        name.push_str(route);
    }
    let mut attributes = Vec::with_capacity(16);
    if known {
        attributes.push(KeyValue::string("http.request.method", method.to_owned()));
    } else {
        attributes.push(KeyValue::string("http.request.method", "_OTHER"));
        if let Some(original) = req.method() {
            attributes.push(KeyValue::string("http.request.method_original", original.to_owned()));
        }
    }
    // No `:path` (a CONNECT request): no `url.path` rather than a made-up `/`.
    if !req.raw_path().is_empty() {
        attributes.push(KeyValue::string("url.path", clean.path.clone().into_owned()));
    }
    // `url.query`: conditionally required when the request has one (HTTP server semantic
    // conventions), scrubbed: listed parameters' values and value patterns replaced.
    let query = route::query(req.raw_path()).and_then(|q| q.split('#').next());
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        attributes.push(KeyValue::string("url.query", policy.query(query, counts).into_owned()));
    }
    if let Some(scheme) = req.scheme() {
        attributes.push(KeyValue::string("url.scheme", scheme.to_owned()));
    }
    if let Some(route) = route {
        attributes.push(KeyValue::string("http.route", route.to_owned()));
    }
    if done.status != 0 {
        attributes.push(KeyValue::int("http.response.status_code", i64::from(done.status)));
    }
    if let Some((host, port)) = req.authority().map(|a| split_host_port(policy.authority(a, counts))) {
        attributes.push(KeyValue::string("server.address", host.to_owned()));
        if let Some(port) = port {
            attributes.push(KeyValue::int("server.port", i64::from(port)));
        }
    }
    attributes::peer_and_client(done.client_address.as_deref(), done.forwarded_for.as_deref(), &mut attributes);
    if let Some(ua) = &clean.user_agent {
        attributes.push(KeyValue::string("user_agent.original", ua.clone().into_owned()));
    }
    if let Some(version) = done.protocol.as_deref().and_then(|p| p.strip_prefix("HTTP/")) {
        attributes.push(KeyValue::string("network.protocol.version", version.to_owned()));
    }
    if let Some(n) = done.request_body_bytes.and_then(|n| i64::try_from(n).ok()) {
        attributes.push(KeyValue::int("http.request.body.size", n));
    }
    if let Some(n) = done.response_body_bytes.and_then(|n| i64::try_from(n).ok()) {
        attributes.push(KeyValue::int("http.response.body.size", n));
    }
    // gRPC and gRPC-Web alike: one call model, one set of status codes.
    if req.grpc.is_some() {
        push_rpc_attributes(&clean.path, done.grpc, &mut attributes);
    }
    let status = match done.grpc.filter(|c| c.decides_status()) {
        Some(call) => grpc_span_status(call, done, policy, counts, &mut attributes),
        None => span_status(cfg, done.status, &mut attributes),
    };
    let link = span.link.map(|c| Link {
        trace_id: c.trace_id,
        span_id: c.span_id,
        trace_state: c.trace_state.map(|s| s.header_value()),
        // The caller's `sampled` and `random-trace-id` flags; bits no level defines are zero.
        flags: c.flags.known().0,
        attributes: vec![KeyValue::string("meshlens.link.reason", "edge_policy_restart")],
    });
    Some(Span {
        trace_id: span.context.trace_id,
        span_id: span.context.span_id,
        parent_span_id: span.parent,
        local_parent: false,
        trace_state: span.context.trace_state.map(|s| s.header_value()),
        flags: span.context.flags.0,
        name,
        kind: SpanKind::Server,
        start_unix_nanos: span.start_unix_nanos,
        end_unix_nanos: done.end_unix_nanos.max(span.start_unix_nanos),
        attributes,
        status,
        links: link.into_iter().collect(),
    })
}

/// HTTP semantic conventions, "Status": server spans are errors on 5xx (and on no response at
/// all); 4xx is the client's error and stays unset unless configured otherwise.
fn span_status(cfg: &TracingConfig, code: u16, attributes: &mut Vec<KeyValue>) -> Status {
    let error = match code {
        0 => true,
        500..=599 => true,
        400..=499 => cfg.error_on_4xx,
        _ => false,
    };
    if !error {
        return Status::default();
    }
    let error_type = if code == 0 { String::from("_OTHER") } else { code.to_string() };
    let message = if code == 0 { String::from("no response sent downstream") } else { String::new() };
    attributes.push(KeyValue::string("error.type", error_type));
    Status { code: StatusCode::Error, message }
}

/// The RPC attributes of a gRPC call's span (OpenTelemetry `docs/rpc/rpc-spans.md`,
/// `docs/rpc/grpc.md`): `rpc.system`, `rpc.service` and `rpc.method` from the (redacted) path when
/// it is a well-formed gRPC path, and `rpc.grpc.status_code` when the response had a status. The
/// span stays an HTTP server span (name and `http.*` attributes): "the `rpc.*` attributes might
/// be added additionally on that span" ("Distinction from HTTP spans").
fn push_rpc_attributes(path: &str, call: Option<grpc::Call>, attributes: &mut Vec<KeyValue>) {
    attributes.push(KeyValue::string("rpc.system", "grpc"));
    if let Some((service, method)) = grpc::method(path) {
        attributes.push(KeyValue::string("rpc.service", service.to_owned()));
        attributes.push(KeyValue::string("rpc.method", method.to_owned()));
    }
    if let Some(code) = call.and_then(|c| c.status) {
        attributes.push(KeyValue::int("rpc.grpc.status_code", i64::from(code.number())));
    }
}

/// The status of a gRPC call's SERVER span, by [`grpc::error_type`]: the gRPC status decides, not
/// the HTTP one (a failed call is usually a 200). The message is `grpc-message`, decoded and
/// through the redaction policy. A call without a status fails with the HTTP status as
/// `error.type` when there is a non-200 one (the upstream was not gRPC), `_OTHER` otherwise (a
/// reset stream).
fn grpc_span_status(
    call: grpc::Call,
    done: &Completion,
    policy: &Policy,
    counts: &mut Counts,
    attributes: &mut Vec<KeyValue>,
) -> Status {
    let Some(error_type) = grpc::error_type(call.status, SpanKind::Server) else { return Status::default() };
    let message = match (call.status, done.grpc_message.as_deref()) {
        (Some(_), Some(raw)) => policy.text(&grpc::message(raw), counts).into_owned(),
        (Some(_), None) => String::new(),
        (None, _) if done.status == 0 => String::from("no response sent downstream"),
        (None, _) => String::from("no grpc-status in the response"),
    };
    let error_type = match (call.status, done.status) {
        (None, 0 | 200) | (Some(_), _) => error_type.to_owned(),
        (None, http) => http.to_string(),
    };
    attributes.push(KeyValue::string("error.type", error_type));
    Status { code: StatusCode::Error, message }
}

/// HTTP semantic conventions: the methods `http.request.method` may carry as is.
const KNOWN_METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

const ALL_FORMATS: &[Format] = &[Format::TraceContext, Format::B3Single, Format::B3Multi];

/// Every header a format reads or writes.
pub(crate) fn header_names(format: Format) -> &'static [&'static str] {
    match format {
        Format::TraceContext => &[traceparent::HEADER, tracestate::HEADER],
        Format::B3Single => &[b3::SINGLE_HEADER],
        Format::B3Multi => {
            &[b3::TRACE_ID_HEADER, b3::SPAN_ID_HEADER, b3::PARENT_SPAN_ID_HEADER, b3::SAMPLED_HEADER, b3::FLAGS_HEADER]
        }
    }
}

/// The request headers [`request_attributes`] reads.
pub const ATTRIBUTE_HEADERS: [&str; VALUES + 1] =
    [":method", ":path", ":scheme", ":authority", "user-agent", "x-request-id", "content-type"];

/// What the span, the metrics and the access log record about a request, from its headers (one
/// pass over them: the first value of each header counts, names compared ignoring ASCII case).
/// `content-type` is not kept, only whether it names gRPC: a non-gRPC request pays one name
/// comparison and a prefix check.
pub fn request_attributes(headers: &(impl HeaderLookup + ?Sized), routes: &RouteTable) -> RequestAttributes {
    let mut values: [Option<&str>; VALUES] = [None; VALUES];
    let mut content_type = None;
    for (name, value) in headers.pairs() {
        let slot = match name.len() {
            5 if name.eq_ignore_ascii_case(":path") => Part::RawPath,
            7 if name.eq_ignore_ascii_case(":method") => Part::Method,
            7 if name.eq_ignore_ascii_case(":scheme") => Part::Scheme,
            10 if name.eq_ignore_ascii_case(":authority") => Part::Authority,
            10 if name.eq_ignore_ascii_case("user-agent") => Part::UserAgent,
            12 if name.eq_ignore_ascii_case("x-request-id") => Part::RequestId,
            12 if name.eq_ignore_ascii_case("content-type") => {
                content_type = content_type.or(Some(value));
                continue;
            }
            _ => continue,
        };
        if let Some(slot @ None) = values.get_mut(slot as usize) {
            *slot = Some(value);
        }
    }
    let mut attributes = RequestAttributes::new(values, routes);
    attributes.grpc = content_type.and_then(grpc::protocol);
    attributes
}

/// Splits `host:port`, `[v6]:port`, `host` or `v6` into host and port.
fn split_host_port(s: &str) -> (&str, Option<u16>) {
    if let Some(rest) = s.strip_prefix('[')
        && let Some((host, after)) = rest.split_once(']')
    {
        return (host, after.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => (s, None),
        },
        _ => (s, None),
    }
}

#[cfg(test)]
mod tests;
