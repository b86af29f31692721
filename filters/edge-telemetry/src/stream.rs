//! One HTTP stream: moves headers and properties into `telemetry-core` and its decisions back out.

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use telemetry_core::access_log::build::{self as log_build, Field, RequestLog};
use telemetry_core::access_log::{LogRecord, line};
use telemetry_core::metrics::{DimensionSource, RequestFacts};
use telemetry_core::propagation::HeaderLookup;
use telemetry_core::redact::Counts;
use telemetry_core::security;
use telemetry_core::tracer::{self, ActiveSpan, Completion, RequestAttributes};

use crate::host::{self, Map, pairs};
use crate::plugin::Plugin;

/// Per-stream state.
#[derive(Debug)]
pub struct Stream {
    plugin: Option<Rc<Plugin>>,
    /// Set once the request was seen (its headers read), in whichever callback came first.
    request: Option<Request>,
    span: Option<ActiveSpan>,
    /// `:status` of the response headers, read while they pass. In Envoy this costs as much as
    /// the `response.code` property (benches/RESULTS.md), which `on_log` still reads for streams
    /// reset before any response.
    status: Option<u16>,
    /// Body bytes seen in each direction, from the body callbacks' sizes: no hostcall at all,
    /// where Envoy's `request.size`/`response.size` properties cost one each.
    request_body_bytes: u64,
    response_body_bytes: u64,
}

/// What the stream keeps from its request headers (and, for dimensions, its response headers).
#[derive(Debug)]
struct Request {
    attributes: RequestAttributes,
    start_nanos: u64,
    /// Raw values of header-sourced metric dimensions, in dimension order.
    dimensions: Vec<Option<String>>,
    /// Raw values of the access log's header-sourced extra fields, in order.
    log_extra: Vec<Option<String>>,
}

impl Stream {
    /// A stream of a configured plugin (or a pass-through one when configuration failed).
    pub fn new(plugin: Option<Rc<Plugin>>) -> Self {
        Self { plugin, request: None, span: None, status: None, request_body_bytes: 0, response_body_bytes: 0 }
    }

    /// Reads the request headers once and starts what needs them: the span (and the headers sent
    /// upstream) and the header dimensions of metrics. `inject` is false when the request has
    /// already gone upstream (a reply reached us first), so there is nothing left to propagate to.
    fn begin(&mut self, plugin: &Plugin, inject: bool) {
        // Envoy shows request headers only while they are being processed (and in `on_log`);
        // elsewhere the list is empty and the request is recorded with what is known.
        let raw = host::header_map(Map::RequestHeaders).unwrap_or_default();
        let headers = pairs::decode(&raw).unwrap_or_default();
        let headers = headers.as_slice();
        let now = host::now_unix_nanos();
        let attributes = tracer::request_attributes(headers, &plugin.config.routes);
        let dimensions = match &plugin.config.metrics {
            Some(m) => m
                .dimensions
                .iter()
                .map(|d| match &d.source {
                    DimensionSource::RequestHeader(name) => HeaderLookup::get(headers, name).map(str::to_owned),
                    _ => None,
                })
                .collect(),
            None => Vec::new(),
        };
        if let Some(cfg) = &plugin.config.tracing
            && let Ok(mut ids) = plugin.ids.try_borrow_mut()
        {
            let started = tracer::start_request(cfg, &attributes, &mut ids, headers, now);
            drop(ids);
            if started.invalid_context {
                plugin.metrics.invalid_trace_context();
            }
            if inject {
                for name in &started.remove {
                    let _ = host::remove_header(Map::RequestHeaders, name);
                }
                for (name, value) in &started.inject {
                    let _ = host::set_header(Map::RequestHeaders, name, value);
                }
            }
            self.span = Some(started.span);
        }
        let find = |name: &str| HeaderLookup::get(headers, name).map(str::to_owned);
        let log_extra = match &plugin.config.access_log {
            Some(a) => a
                .extra
                .iter()
                .map(|(_, source)| match source {
                    DimensionSource::RequestHeader(name) => find(name),
                    _ => None,
                })
                .collect(),
            None => Vec::new(),
        };
        self.request = Some(Request { attributes, start_nanos: now, dimensions, log_extra });
    }

    /// Records the finished request into the metrics engine.
    fn record_metrics(&mut self, plugin: &Plugin, done: &Completion) {
        let (Some(config), Some(engine), Some(request)) =
            (&plugin.config.metrics, &plugin.request_metrics, &mut self.request)
        else {
            return;
        };
        let route = request.attributes.route.and_then(|r| plugin.config.routes.template(r));
        let Ok(mut counts) = plugin.redactions.try_borrow_mut() else { return };
        let dimensions =
            config.dimension_values(route, &plugin.config.redaction, &mut counts.0, |i, source| match source {
                DimensionSource::Property(path) => host::property_at(path),
                _ => request.dimensions.get_mut(i).and_then(Option::take),
            });
        let facts = RequestFacts {
            method: request.attributes.method(),
            route,
            status: done.status,
            duration_nanos: done.end_unix_nanos.saturating_sub(request.start_nanos),
            request_bytes: done.request_body_bytes.unwrap_or(0),
            response_bytes: done.response_body_bytes.unwrap_or(0),
            dimensions: &dimensions,
        };
        if let Ok(mut engine) = engine.try_borrow_mut() {
            engine.record(&facts);
        }
    }
}

impl Stream {
    /// Counts an access failure and, when it completes a burst, emits the security event.
    fn security(&mut self, plugin: &Plugin, done: &Completion) {
        let Some(detector) = &plugin.security else { return };
        let Ok(mut detector) = detector.try_borrow_mut() else { return };
        if !detector.is_failure(done.status) {
            return;
        }
        plugin.metrics.add_labelled(
            &format!("meshlens_security_responses_total;kind={}", security::failure_kind(done.status)),
            1,
        );
        // The client's address without its port: one client, many connections.
        let client = done.client_address.as_deref().map_or("unknown", client_ip);
        if let Some(event) = detector.observe(client, done.end_unix_nanos) {
            drop(detector);
            plugin.metrics.add_labelled(&format!("meshlens_security_events_total;event_type={}", event.event_type), 1);
            let service = plugin.config.service_name();
            let record = event.record(done.end_unix_nanos, service);
            emit_log(plugin, record, 3);
        }
    }

    /// Writes the request's access-log record to its sinks, when it is sampled.
    fn access_log(&mut self, plugin: &Plugin, done: &Completion) {
        let (Some(cfg), Some(request)) = (&plugin.config.access_log, &self.request) else { return };
        let trace = self.span.as_ref().map(|s| (s.context.trace_id, s.context.span_id, s.context.flags.0));
        // Requests with a trace are sampled on its id; only the others draw a random number.
        let random = match trace {
            Some(_) => 0,
            None => plugin.ids.try_borrow_mut().map_or(0, |mut ids| ids.next_u64()),
        };
        if !log_build::sampled(cfg, request.attributes.route, done.status, trace.map(|t| t.0), random) {
            return;
        }
        let wants = |f: Field| cfg.fields.contains(&f);
        let cluster = if wants(Field::UpstreamCluster) || wants(Field::UpstreamHost) {
            host::property_string("xds\0cluster_name")
        } else {
            None
        };
        // No cluster (a direct response, a local reply before routing): no upstream host either,
        // and one property read saved.
        let upstream_host = match &cluster {
            Some(_) if wants(Field::UpstreamHost) => host::property_string("upstream\0address"),
            _ => None,
        };
        let upstream_cluster = cluster.filter(|_| wants(Field::UpstreamCluster));
        let extra: Vec<Option<String>> = cfg
            .extra
            .iter()
            .zip(&request.log_extra)
            .map(|((_, source), captured)| match source {
                DimensionSource::Property(path) => host::property_at(path),
                _ => captured.clone(),
            })
            .collect();
        let req = RequestLog {
            end_unix_nanos: done.end_unix_nanos,
            trace,
            service: plugin.config.service_name(),
            method: request.attributes.method(),
            route: request.attributes.route.and_then(|r| plugin.config.routes.template(r)),
            // Query included: its hash is logged, never the query.
            path: request.attributes.raw_path(),
            status: done.status,
            duration_nanos: done.end_unix_nanos.saturating_sub(request.start_nanos),
            request_bytes: done.request_body_bytes.unwrap_or(0),
            response_bytes: done.response_body_bytes.unwrap_or(0),
            upstream_cluster: upstream_cluster.as_deref(),
            upstream_host: upstream_host.as_deref(),
            client_address: done.client_address.as_deref(),
            user_agent: request.attributes.user_agent(),
            request_id: request.attributes.request_id(),
            extra: &extra,
        };
        let Ok(mut counts) = plugin.redactions.try_borrow_mut() else { return };
        let policy = &plugin.config.redaction;
        // The proxy-log line is written straight from the request; a record is built only for
        // the OTLP queue, which must own it.
        if cfg.proxy_log {
            write_line(plugin, cfg.proxy_log_level, |buffer| {
                line::encode_request(cfg, policy, &mut counts.0, &req, buffer);
            });
        }
        if let Some(exporter) = &plugin.logs
            && let Ok(mut exporter) = exporter.try_borrow_mut()
        {
            // The line already counted this request's redactions: count them once.
            let mut again = Counts::default();
            let counts = if cfg.proxy_log { &mut again } else { &mut counts.0 };
            exporter.push(log_build::build(cfg, policy, counts, &req));
        }
    }
}

/// Sends a record to the configured sinks: one JSON line through `proxy_log`, and the OTLP queue.
fn emit_log(plugin: &Plugin, record: LogRecord, level: u32) {
    let Some(cfg) = &plugin.config.access_log else { return };
    if cfg.proxy_log {
        write_line(plugin, level, |buffer| line::encode(&record, buffer));
    }
    if let Some(exporter) = &plugin.logs
        && let Ok(mut exporter) = exporter.try_borrow_mut()
    {
        exporter.push(record);
    }
}

/// Writes one line to the proxy log at `level`, encoded by `encode` into the plugin's reused
/// line buffer.
fn write_line(plugin: &Plugin, level: u32, encode: impl FnOnce(&mut String)) {
    if let Ok(mut buffer) = plugin.line.try_borrow_mut() {
        buffer.clear();
        encode(&mut buffer);
        host::log_raw(level, &buffer);
    }
}

/// `10.0.0.7` from `10.0.0.7:5000`, `::1` from `[::1]:5000`.
fn client_ip(address: &str) -> &str {
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match address.rsplit_once(':') {
        Some((ip, port)) if !ip.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => ip,
        _ => address,
    }
}

impl Context for Stream {}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if let Some(plugin) = self.plugin.clone() {
            self.begin(&plugin, true);
        }
        Action::Continue
    }

    fn on_http_request_body(&mut self, body_size: usize, _end_of_stream: bool) -> Action {
        // Envoy passes the size of this chunk (the filter never buffers), so the sum is the body.
        self.request_body_bytes = self.request_body_bytes.saturating_add(body_size as u64);
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, _end_of_stream: bool) -> Action {
        self.response_body_bytes = self.response_body_bytes.saturating_add(body_size as u64);
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(plugin) = self.plugin.clone() else { return Action::Continue };
        if self.request.is_none() {
            self.begin(&plugin, false);
        }
        self.status = host::header(Map::ResponseHeaders, ":status").ok().flatten().and_then(|s| s.parse().ok());
        if let (Some(cfg), Some(span)) = (&plugin.config.tracing, &self.span) {
            let mut headers = Vec::with_capacity(2);
            tracer::response_headers(cfg, span, &mut headers);
            for (name, value) in &headers {
                let _ = host::set_header(Map::ResponseHeaders, name, value);
            }
        }
        if let (Some(a), Some(request)) = (&plugin.config.access_log, &mut self.request) {
            for (slot, (_, source)) in request.log_extra.iter_mut().zip(&a.extra) {
                if let DimensionSource::ResponseHeader(name) = source {
                    *slot = host::header(Map::ResponseHeaders, name).ok().flatten();
                }
            }
        }
        if let (Some(m), Some(request)) = (&plugin.config.metrics, &mut self.request)
            && m.reads_response_headers()
        {
            for (slot, d) in request.dimensions.iter_mut().zip(&m.dimensions) {
                if let DimensionSource::ResponseHeader(name) = &d.source {
                    *slot = host::header(Map::ResponseHeaders, name).ok().flatten();
                }
            }
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        let Some(plugin) = self.plugin.clone() else { return };
        if self.request.is_none() {
            self.begin(&plugin, false);
        }
        let wants_span = self.span.as_ref().is_some_and(|s| s.sampled);
        let wants_client = wants_span || plugin.config.access_log.is_some() || plugin.config.security.is_some();
        if !wants_client && plugin.config.metrics.is_none() {
            return;
        }
        // Envoy attributes (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/attributes),
        // read only for what the stream did not see pass: the status when no response headers
        // came (a reset), never the body sizes (summed from the body callbacks).
        let status = self
            .status
            .or_else(|| host::property_u64("response\0code").and_then(|c| u16::try_from(c).ok()))
            .unwrap_or(0);
        let done = Completion {
            end_unix_nanos: host::now_unix_nanos(),
            status,
            request_body_bytes: Some(self.request_body_bytes),
            response_body_bytes: Some(self.response_body_bytes),
            client_address: if wants_client { host::property_string("source\0address") } else { None },
            protocol: if wants_span { host::property_string("request\0protocol") } else { None },
        };
        self.record_metrics(&plugin, &done);
        self.security(&plugin, &done);
        self.access_log(&plugin, &done);
        let (Some(cfg), Some(span)) = (&plugin.config.tracing, self.span.take()) else { return };
        let Ok(mut counts) = plugin.redactions.try_borrow_mut() else { return };
        let Some(request) = &self.request else { return };
        if let Some(finished) = tracer::finish(
            cfg,
            &plugin.config.routes,
            span,
            &request.attributes,
            &done,
            &plugin.config.redaction,
            &mut counts.0,
        ) && let Some(exporter) = &plugin.spans
            && let Ok(mut exporter) = exporter.try_borrow_mut()
        {
            exporter.push(finished);
        }
    }
}
