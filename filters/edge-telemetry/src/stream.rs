//! One HTTP stream: moves headers and properties into `telemetry-core` and its decisions back out.

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use telemetry_core::metrics::{DimensionSource, RequestFacts};
use telemetry_core::tracer::{self, ActiveSpan, Completion, RequestAttributes};

use crate::host::{self, Map};
use crate::plugin::Plugin;

/// Per-stream state.
#[derive(Debug)]
pub struct Stream {
    plugin: Option<Rc<Plugin>>,
    /// Set once the request was seen (its headers read), in whichever callback came first.
    request: Option<Request>,
    span: Option<ActiveSpan>,
}

/// What the stream keeps from its request headers (and, for dimensions, its response headers).
#[derive(Debug)]
struct Request {
    attributes: RequestAttributes,
    start_nanos: u64,
    /// Raw values of header-sourced metric dimensions, in dimension order.
    dimensions: Vec<Option<String>>,
}

impl Stream {
    /// A stream of a configured plugin (or a pass-through one when configuration failed).
    pub fn new(plugin: Option<Rc<Plugin>>) -> Self {
        Self { plugin, request: None, span: None }
    }

    /// Reads the request headers once and starts what needs them: the span (and the headers sent
    /// upstream) and the header dimensions of metrics. `inject` is false when the request has
    /// already gone upstream (a reply reached us first), so there is nothing left to propagate to.
    fn begin(&mut self, plugin: &Plugin, inject: bool) {
        // Envoy shows request headers only while they are being processed (and in `on_log`);
        // elsewhere the list is empty and the request is recorded with what is known.
        let headers = host::header_pairs(Map::RequestHeaders).unwrap_or_default();
        let now = host::now_unix_nanos();
        let attributes = tracer::request_attributes(&headers, &plugin.config.routes);
        let dimensions = match &plugin.config.metrics {
            Some(m) => m
                .dimensions
                .iter()
                .map(|d| match &d.source {
                    DimensionSource::RequestHeader(name) => {
                        headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
                    }
                    _ => None,
                })
                .collect(),
            None => Vec::new(),
        };
        if let Some(cfg) = &plugin.config.tracing
            && let Ok(mut ids) = plugin.ids.try_borrow_mut()
        {
            let started = tracer::start_request(cfg, attributes.clone(), &mut ids, &headers, now);
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
        self.request = Some(Request { attributes, start_nanos: now, dimensions });
    }

    /// Records the finished request into the metrics engine.
    fn record_metrics(&mut self, plugin: &Plugin, done: &Completion) {
        let (Some(config), Some(engine), Some(request)) =
            (&plugin.config.metrics, &plugin.request_metrics, &mut self.request)
        else {
            return;
        };
        let route = request.attributes.route.and_then(|r| plugin.config.routes.template(r));
        let dimensions = config.dimension_values(route, |i, source| match source {
            DimensionSource::Property(path) => {
                let path: Vec<&str> = path.iter().map(String::as_str).collect();
                host::property_string(&path)
            }
            _ => request.dimensions.get_mut(i).and_then(Option::take),
        });
        let facts = RequestFacts {
            method: &request.attributes.method,
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

impl Context for Stream {}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if let Some(plugin) = self.plugin.clone() {
            self.begin(&plugin, true);
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(plugin) = self.plugin.clone() else { return Action::Continue };
        if self.request.is_none() {
            self.begin(&plugin, false);
        }
        if let (Some(cfg), Some(span)) = (&plugin.config.tracing, &self.span) {
            let mut headers = Vec::with_capacity(2);
            tracer::response_headers(cfg, span, &mut headers);
            for (name, value) in &headers {
                let _ = host::set_header(Map::ResponseHeaders, name, value);
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
        if !wants_span && plugin.config.metrics.is_none() {
            return;
        }
        // Envoy attributes (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/attributes).
        let done = Completion {
            end_unix_nanos: host::now_unix_nanos(),
            status: host::property_u64(&["response", "code"]).and_then(|c| u16::try_from(c).ok()).unwrap_or(0),
            request_body_bytes: host::property_u64(&["request", "size"]),
            response_body_bytes: host::property_u64(&["response", "size"]),
            client_address: if wants_span { host::property_string(&["source", "address"]) } else { None },
            protocol: if wants_span { host::property_string(&["request", "protocol"]) } else { None },
        };
        self.record_metrics(&plugin, &done);
        let (Some(cfg), Some(span)) = (&plugin.config.tracing, self.span.take()) else { return };
        if let Some(finished) = tracer::finish(cfg, &plugin.config.routes, span, &done)
            && let Some(exporter) = &plugin.exporter
            && let Ok(mut exporter) = exporter.try_borrow_mut()
        {
            let before = exporter.queue.stats();
            exporter.queue.push(finished);
            plugin.metrics.record_export(exporter.queue.stats().since(before));
        }
    }
}
