//! One HTTP stream: moves headers and properties into `telemetry-core` and its decisions back out.

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use telemetry_core::tracer::{self, ActiveSpan, Completion};

use crate::host::{self, Map};
use crate::plugin::Plugin;

/// Per-stream state.
#[derive(Debug)]
pub struct Stream {
    plugin: Option<Rc<Plugin>>,
    span: Option<ActiveSpan>,
}

impl Stream {
    /// A stream of a configured plugin (or a pass-through one when configuration failed).
    pub fn new(plugin: Option<Rc<Plugin>>) -> Self {
        Self { plugin, span: None }
    }

    /// Starts the span from the request headers. `inject` is false when the request has already
    /// gone upstream (a local reply reached us first), so there is nothing left to propagate to.
    fn start(&mut self, plugin: &Plugin, inject: bool) {
        let Some(cfg) = &plugin.config.tracing else { return };
        let Ok(headers) = host::header_pairs(Map::RequestHeaders) else { return };
        let now = host::now_unix_nanos();
        let Ok(mut ids) = plugin.ids.try_borrow_mut() else { return };
        let started = tracer::start(cfg, &plugin.config.routes, &mut ids, &headers, now);
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
}

impl Context for Stream {}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if let Some(plugin) = self.plugin.clone() {
            self.start(&plugin, true);
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(plugin) = self.plugin.clone() else { return Action::Continue };
        let Some(cfg) = &plugin.config.tracing else { return Action::Continue };
        if self.span.is_none() {
            self.start(&plugin, false);
        }
        if let Some(span) = &self.span {
            let mut headers = Vec::with_capacity(2);
            tracer::response_headers(cfg, span, &mut headers);
            for (name, value) in &headers {
                let _ = host::set_header(Map::ResponseHeaders, name, value);
            }
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        let Some(plugin) = self.plugin.clone() else { return };
        let Some(cfg) = &plugin.config.tracing else { return };
        if self.span.is_none() {
            self.start(&plugin, false);
        }
        let Some(span) = self.span.take() else { return };
        if !span.sampled {
            return;
        }
        // Envoy attributes (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/attributes).
        let done = Completion {
            end_unix_nanos: host::now_unix_nanos(),
            status: host::property_u64(&["response", "code"]).and_then(|c| u16::try_from(c).ok()).unwrap_or(0),
            request_body_bytes: host::property_u64(&["request", "size"]),
            response_body_bytes: host::property_u64(&["response", "size"]),
            client_address: host::property_string(&["source", "address"]),
            protocol: host::property_string(&["request", "protocol"]),
        };
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
