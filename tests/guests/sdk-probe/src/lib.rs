//! `sdk_probe.wasm`: a proxy-wasm module written with the Rust SDK that touches a broad set of its
//! features (root and HTTP contexts, plugin configuration, properties, metrics, shared data,
//! shared queues, ticks, an HTTP call, a local response), so host-harness can check that every
//! import of an SDK-built module links and that a request runs through it, for `wasm32-wasip1`
//! and `wasm32-unknown-unknown`.
//!
//! Hostcalls go through `proxy_wasm::hostcalls`, whose results are matched, never unwrapped: a
//! panic would abort the VM and hide what the tests want to see.
//!
//! Behaviour, per request:
//! - `:path` `/deny`: a 403 local response with `x-probe: denied` and body `denied`;
//! - otherwise: counts `probe_requests_total`, enqueues the path on `probe_queue`, copies the
//!   shared value `probe_config` into `x-probe-config`, calls `probe_upstream` and pauses; the
//!   answer's status and body go upstream as `x-probe-callout` and `x-probe-callout-body`, then
//!   the request resumes;
//! - on the response: `x-probe-root-id` (property `plugin_root_id`) and `x-probe-requests`
//!   (the counter's value);
//! - every header, body and trailer callback is logged with what it was handed, so a test can
//!   compare the callback sequence Envoy makes with the harness's: `probe: <n> request headers
//!   <count> eos=<bool>`, `probe: <n> response body <size> eos=<bool>`, `probe: <n> request
//!   trailers <count>`, and each header as `probe: <n> > name: value` (request) or
//!   `probe: <n> < name: value` (response), in map order (`<n>` is the context id);
//! - with a plugin configuration `properties: a.b.c, d.e`, each named property is read in the
//!   request headers callback and logged as `probe: <n> property a.b.c = <hex bytes>` or
//!   `= <status>` (`NotFound`, ...), segments split at `.` except inside `[...]`
//!   (`metadata.filter_metadata.[envoy.lb].zone`).
//!
//! The root context logs `probe: tick <n>` every second and `probe: dequeued <item>` for every
//! queue item.

use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

const UPSTREAM: &str = "probe_upstream";
const QUEUE: &str = "probe_queue";
const COUNTER: &str = "probe_requests_total";
const SHARED_KEY: &str = "probe_config";

fn log(message: &str) {
    let _ = hostcalls::log(LogLevel::Info, message);
}

fn text(bytes: Option<Vec<u8>>) -> String {
    bytes.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
}

/// The plugin: configuration, the counter, the queue and the timer.
#[derive(Default)]
struct Root {
    /// Property paths to log per request (`properties: ...` configuration).
    properties: Vec<Vec<String>>,
    counter: Option<u32>,
    queue: Option<u32>,
    ticks: u64,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        log("probe: vm started");
        true
    }

    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let config = text(hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX).ok().flatten());
        log(&format!("probe: configured with {config:?}"));
        if let Some(list) = config.strip_prefix("properties:") {
            self.properties = list.split(',').map(|p| segments(p.trim())).filter(|p| !p.is_empty()).collect();
        }
        if let Err(status) = hostcalls::set_shared_data(SHARED_KEY, Some(config.as_bytes()), None) {
            log(&format!("probe: set_shared_data failed: {status:?}"));
        }
        self.counter = hostcalls::define_metric(MetricType::Counter, COUNTER).ok();
        self.queue = hostcalls::register_shared_queue(QUEUE).ok();
        hostcalls::set_tick_period(Duration::from_secs(1)).is_ok()
    }

    fn on_tick(&mut self) {
        self.ticks += 1;
        log(&format!("probe: tick {}", self.ticks));
    }

    fn on_queue_ready(&mut self, queue_id: u32) {
        while let Ok(Some(item)) = hostcalls::dequeue_shared_queue(queue_id) {
            log(&format!("probe: dequeued {}", String::from_utf8_lossy(&item)));
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream {
            context_id,
            counter: self.counter,
            queue: self.queue,
            properties: self.properties.clone(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// One request.
struct Stream {
    context_id: u32,
    counter: Option<u32>,
    queue: Option<u32>,
    properties: Vec<Vec<String>>,
}

/// `a.[b.c].d` as `["a", "b.c", "d"]`.
fn segments(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut bracket = false;
    for c in path.chars() {
        match c {
            '[' if current.is_empty() => bracket = true,
            ']' if bracket => bracket = false,
            '.' if !bracket => out.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

impl Stream {
    fn set_request_header(&self, name: &str, value: &str) {
        if let Err(status) = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value)) {
            log(&format!("probe: cannot set {name}: {status:?}"));
        }
    }
}

impl Stream {
    /// Logs a callback and every pair of its map, in map order.
    fn log_map(&self, map: MapType, what: &str, count: usize, end_of_stream: bool, arrow: char) {
        let id = self.context_id;
        log(&format!("probe: {id} {what} {count} eos={end_of_stream}"));
        for (name, value) in hostcalls::get_map(map).unwrap_or_default() {
            log(&format!("probe: {id} {arrow} {name}: {value}"));
        }
    }
}

impl Context for Stream {
    fn on_http_call_response(&mut self, _token_id: u32, _num_headers: usize, body_size: usize, _num_trailers: usize) {
        let status = hostcalls::get_map_value(MapType::HttpCallResponseHeaders, ":status").ok().flatten();
        let body = text(hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size).ok().flatten());
        self.set_request_header("x-probe-callout", status.as_deref().unwrap_or("failed"));
        self.set_request_header("x-probe-callout-body", &body);
        if let Err(status) = hostcalls::resume_http_request() {
            log(&format!("probe: resume failed: {status:?}"));
        }
    }
}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, num_headers: usize, end_of_stream: bool) -> Action {
        self.log_map(MapType::HttpRequestHeaders, "request headers", num_headers, end_of_stream, '>');
        for path in &self.properties {
            let value = match hostcalls::get_property(path.iter().map(String::as_str).collect()) {
                Ok(Some(bytes)) => bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                Ok(None) => String::from("<empty>"),
                Err(status) => format!("{status:?}"),
            };
            log(&format!("probe: {} property {} = {value}", self.context_id, path.join(".")));
        }
        if let Some(counter) = self.counter {
            let _ = hostcalls::increment_metric(counter, 1);
        }
        let path = hostcalls::get_map_value(MapType::HttpRequestHeaders, ":path").ok().flatten().unwrap_or_default();
        if path == "/deny" {
            let _ = hostcalls::send_http_response(403, vec![("x-probe", "denied")], Some(b"denied"));
            return Action::Pause;
        }
        if let Some(queue) = self.queue {
            let _ = hostcalls::enqueue_shared_queue(queue, Some(path.as_bytes()));
        }
        let config = match hostcalls::get_shared_data(SHARED_KEY) {
            Ok((value, _cas)) => text(value),
            Err(_) => String::new(),
        };
        self.set_request_header("x-probe-config", &config);
        let call = hostcalls::dispatch_http_call(
            UPSTREAM,
            vec![(":method", "GET"), (":path", "/check"), (":authority", "probe")],
            None,
            vec![],
            Duration::from_secs(1),
        );
        match call {
            Ok(_) => Action::Pause,
            Err(status) => {
                log(&format!("probe: dispatch failed: {status:?}"));
                Action::Continue
            }
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        log(&format!("probe: {} request body {body_size} eos={end_of_stream}", self.context_id));
        Action::Continue
    }

    fn on_http_request_trailers(&mut self, num_trailers: usize) -> Action {
        self.log_map(MapType::HttpRequestTrailers, "request trailers", num_trailers, true, '>');
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        log(&format!("probe: {} response body {body_size} eos={end_of_stream}", self.context_id));
        Action::Continue
    }

    fn on_http_response_trailers(&mut self, num_trailers: usize) -> Action {
        self.log_map(MapType::HttpResponseTrailers, "response trailers", num_trailers, true, '<');
        Action::Continue
    }

    fn on_http_response_headers(&mut self, num_headers: usize, end_of_stream: bool) -> Action {
        self.log_map(MapType::HttpResponseHeaders, "response headers", num_headers, end_of_stream, '<');
        let root_id = text(hostcalls::get_property(vec!["plugin_root_id"]).ok().flatten());
        let requests = self.counter.and_then(|c| hostcalls::get_metric(c).ok()).unwrap_or_default();
        let _ = hostcalls::set_map_value(MapType::HttpResponseHeaders, "x-probe-root-id", Some(&root_id));
        let _ = hostcalls::set_map_value(MapType::HttpResponseHeaders, "x-probe-requests", Some(&requests.to_string()));
        Action::Continue
    }

    fn on_log(&mut self) {
        let status = hostcalls::get_map_value(MapType::HttpResponseHeaders, ":status").ok().flatten();
        log(&format!("probe: stream {} logged with status {}", self.context_id, status.unwrap_or_default()));
    }
}
