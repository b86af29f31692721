//! The request pipeline: everything meshlens does with a request, from its headers to what it
//! emits, driven by a host through the traits of [`host`].
//!
//! One [`Pipeline`] per worker holds the configuration, its [`Plan`], the id generator, the
//! export queues, the metrics engine, the security detector and the redaction counts. Each
//! request gets an [`Exchange`], which the host hands back on every callback:
//!
//! 1. [`Pipeline::on_request_headers`]: read the request headers and the clock once; extract the
//!    incoming context, decide sampling, set and remove trace headers upstream.
//! 2. [`Pipeline::on_response_headers`]: the status, the trace-ID response headers, configured
//!    response headers.
//! 3. [`Exchange::on_request_body`] / [`Exchange::on_response_body`]: body sizes;
//!    [`Pipeline::on_response_trailers`]: a gRPC call's status.
//! 4. [`Pipeline::on_log`]: stream end: metrics, security events, the access-log line, the span.
//! 5. [`Pipeline::on_tick`], [`Pipeline::on_wake`] and [`Pipeline::on_export_answer`]: exports
//!    and counters.
//!
//! A host maps its callbacks onto these and its hostcalls onto the traits; it decides nothing.

mod counters;
mod exporter;
#[cfg(any(test, feature = "fake-host"))]
pub mod fake;
pub mod host;
mod log_level;
mod plan;
mod record;
mod scrape;

use counters::Counters;
use exporter::Exporter;
use host::Host;
pub use plan::Plan;

use crate::access_log::{LogRecord, line};
use crate::config::{Config, ConfigError, Encoding, ExporterConfig};
use crate::export::Kept;
use crate::grpc;
use crate::ids::IdGenerator;
use crate::metrics::MetricsEngine;
use crate::otlp::metrics::MetricsBatch;
use crate::otlp::{self, Encoded};
use crate::propagation::HeaderLookup;
use crate::redact::Counts;
use crate::security::BurstDetector;
use crate::span::Span;
use crate::tracer::attributes::Captured;
use crate::tracer::{self, ActiveSpan, RequestAttributes};

/// How often request metrics reach the host when no exporter ticks faster.
const METRICS_TICK_MS: u32 = 1_000;

/// One worker's telemetry: configuration, plan, and the state every request shares.
#[derive(Debug)]
pub struct Pipeline {
    config: Config,
    plan: Plan,
    counters: Counters,
    ids: IdGenerator,
    spans: Option<Exporter<Encoded<Span>>>,
    logs: Option<Exporter<Encoded<LogRecord>>>,
    /// Request metrics, aggregated per worker and handed to the host on each tick.
    metrics: Option<MetricsEngine>,
    security: Option<BurstDetector>,
    /// Publishes the metrics and answers scrapes, with `metrics.endpoint`.
    publisher: Option<scrape::Publisher>,
    /// OTLP metrics export, with `metrics.otlp`.
    otlp_metrics: Option<OtlpMetricsExport>,
    /// Redactions made, and how many of them the host's counters already show.
    redactions: Counts,
    reported: Counts,
    /// A reusable buffer for access-log lines.
    line: String,
    /// The last second's timestamp text, for the lines of the next requests.
    stamp: line::Stamp,
    /// Whether a stream was created: a proxy may also run the plugin in a VM that never sees
    /// traffic (Envoy's main thread), and only the workers' memory belongs in the gauge.
    serves_traffic: bool,
    /// A wake-up of the root was asked for and has not run yet: one is enough.
    wake_pending: bool,
}

/// One request's telemetry state, from its headers to stream end.
#[derive(Debug, Default)]
pub struct Exchange {
    /// Set once the request was seen (its headers read), in whichever callback came first.
    request: Option<Request>,
    span: Option<ActiveSpan>,
    /// The record of the trace-context decision made for `span` (see [`tracer::Decision`]), kept
    /// only where a host reads it (the recording host: the tests and the playground). In the
    /// module, keeping it would cost every request 63 guest instructions for no reader
    /// (`cargo xtask cost`).
    #[cfg(any(test, feature = "fake-host"))]
    decision: Option<tracer::Decision>,
    /// `:status` of the response headers, read while they pass.
    status: Option<u16>,
    /// A gRPC call's `grpc-status`, from the trailers or a trailers-only response's headers.
    grpc_status: Option<grpc::Code>,
    /// A failed gRPC call's `grpc-message`, as received, when its span is sampled.
    grpc_message: Option<String>,
    /// Body bytes seen in each direction, summed from the body callbacks' sizes: no hostcall.
    request_body_bytes: u64,
    response_body_bytes: u64,
    /// A scrape of the metrics endpoint, answered by the filter: not telemetry of the service.
    scrape: bool,
}

/// A worker's OTLP metrics stream: cumulative since `start_nanos`, one batch per interval, under
/// the worker's own `service.instance.id` (see [`otlp::metrics`]).
#[derive(Debug)]
struct OtlpMetricsExport {
    exporter: Exporter<Kept<MetricsBatch>>,
    instance: String,
    start_nanos: u64,
    interval_nanos: u64,
    last_nanos: u64,
}

/// Whether the request goes on after a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// The filter answered the request itself: the host stops iteration (proxy-wasm
    /// `Action::Pause`), as after any local reply.
    Stop,
}

/// The callback in which an exchange's request headers were first read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Its own: the span starts and trace headers go upstream.
    Request,
    /// The response's (a reply generated before this filter saw the request): the span starts,
    /// nothing goes upstream, `x-trace-id` goes downstream.
    Response,
    /// Stream end (a reply Envoy's codec generated before any filter ran): too late for
    /// `x-trace-id`, so no span either; no ids are drawn, no trace context is parsed.
    End,
}

/// Why a configuration was refused: the line to log, and for an invalid configuration the field
/// and the message that line names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigureError {
    /// The line the module logs (at error level) when it refuses the configuration.
    pub line: String,
    /// The configuration's own error; `None` when the host failed instead (random source, tick).
    pub invalid: Option<ConfigError>,
}

/// What an exchange keeps from its request headers (and, for configured fields, its response
/// headers).
#[derive(Debug)]
struct Request {
    attributes: RequestAttributes,
    start_nanos: u64,
    /// Raw values of header-sourced metric dimensions, in dimension order.
    dimensions: Vec<Option<String>>,
    /// Raw values of the access log's header-sourced extra fields, in order.
    log_extra: Vec<Option<String>>,
    /// What a sampled span's configured attributes read (empty when the span is not sampled).
    span: SpanCapture,
}

/// What a sampled span reads beyond [`RequestAttributes`]: the first `x-forwarded-for` value, and
/// per configured span attribute, its header values (request headers here, response headers when
/// they pass).
#[derive(Debug, Default)]
struct SpanCapture {
    forwarded_for: Option<String>,
    values: Vec<Captured>,
}

impl Pipeline {
    /// Parses and validates a plugin configuration and sets the worker up: seeds the ids, defines
    /// the self-telemetry counters, asks for the tick, and counts the accepted configuration.
    pub fn configure(bytes: &[u8], host: &impl Host) -> Result<Self, ConfigureError> {
        // The VM environment is read here, once, and only for the variables the configuration names.
        let config = Config::from_json_with_env(bytes, &|name| host.env_var(name)).map_err(|e| ConfigureError {
            line: format!("meshlens: invalid plugin configuration: {e}"),
            invalid: Some(e),
        })?;
        let seed = host
            .random_seed()
            .map_err(|e| ConfigureError::host(format!("meshlens: the host's random source failed: {e}")))?;
        let otlp_logs = config.access_log.as_ref().filter(|a| a.otlp).map(|a| a.otlp_path.clone());
        let otlp_metrics = config.metrics.as_ref().and_then(|m| m.otlp.clone());
        let mut counters = Counters::define(host, otlp_logs.is_some(), otlp_metrics.is_some());
        let spans = config.tracing.as_ref().map(|t| {
            let path = t.exporter.path.clone();
            let store = Encoded::new(t.exporter.encoding);
            Exporter::new(t.exporter.clone(), path, store, counters.spans)
        });
        let logs = match (&config.tracing, otlp_logs) {
            (Some(t), Some(path)) => {
                Some(Exporter::new(t.exporter.clone(), path, Encoded::new(t.exporter.encoding), counters.logs))
            }
            _ => None,
        };
        let metrics = config.metrics.clone().map(MetricsEngine::new);
        let tick_ms = match (&spans, &metrics) {
            (Some(e), _) => Some(e.tick_period_ms()),
            (None, Some(_)) => Some(METRICS_TICK_MS),
            (None, None) => None,
        };
        if let Some(ms) = tick_ms {
            host.set_tick_period_ms(ms)
                .map_err(|e| ConfigureError::host(format!("meshlens: cannot set the tick: {e}")))?;
        }
        counters.config_reloaded(host);
        log_level::check_access_lines(config.access_log.as_ref(), host);
        if let Some(security) = &config.security {
            counters.define_security(host, &security.statuses);
        }
        let security = config.security.clone().map(BurstDetector::new);
        let mut ids = IdGenerator::from_seed(seed);
        // This worker's identity among the proxy's workers: its shared-data key and its OTLP
        // metrics stream.
        let instance = ids.next_u64();
        let endpoint = config.metrics.as_ref().and_then(|m| m.endpoint.as_ref());
        let publisher = endpoint.map(|e| scrape::Publisher::new(instance, &e.path));
        let now = host.now_unix_nanos();
        let otlp_metrics = match (&config.tracing, otlp_metrics) {
            (Some(t), Some(o)) => {
                // Each item is a whole batch: one per call, a short queue.
                let exporter = ExporterConfig { max_batch_spans: 1, max_queue_spans: 4, ..t.exporter.clone() };
                let encode = match t.exporter.encoding {
                    Encoding::Protobuf => otlp::proto::encode_metrics_into,
                    Encoding::Json => otlp::encode_metrics_json_into,
                };
                let store = Kept::new(encode, exporter.max_queue_spans);
                Some(OtlpMetricsExport {
                    exporter: Exporter::new(exporter, o.path, store, counters.metrics),
                    instance: format!("{instance:016x}"),
                    start_nanos: now,
                    interval_nanos: u64::from(o.interval_ms) * 1_000_000,
                    last_nanos: now,
                })
            }
            _ => None,
        };
        Ok(Self {
            plan: Plan::new(&config),
            config,
            counters,
            ids,
            spans,
            logs,
            metrics,
            security,
            publisher,
            otlp_metrics,
            redactions: Counts::default(),
            reported: Counts::default(),
            line: String::with_capacity(512),
            stamp: line::Stamp::default(),
            serves_traffic: false,
            wake_pending: false,
        })
    }

    /// What a request reads from the host under this configuration.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Starts a request's exchange (the host created a stream).
    pub fn new_exchange(&mut self) -> Exchange {
        self.serves_traffic = true;
        Exchange::default()
    }

    /// The request headers passed: the span starts and trace headers go upstream. A scrape of
    /// the metrics endpoint is answered here and goes no further.
    pub fn on_request_headers(&mut self, exchange: &mut Exchange, host: &impl Host) -> Flow {
        self.begin(exchange, host, Seen::Request);
        // Checked after the fact: a branch inside the header read costs every request more.
        exchange.scrape = exchange.request.as_ref().is_some_and(|r| self.is_scrape(&r.attributes));
        if !exchange.scrape {
            return Flow::Continue;
        }
        let peer = host::property_string(host, &self.plan.source_address);
        let endpoint = self.config.metrics.as_ref().and_then(|m| m.endpoint.as_ref());
        if let (Some(publisher), Some(engine), Some(endpoint)) = (&mut self.publisher, &self.metrics, endpoint) {
            publisher.answer(engine, endpoint, peer.as_deref(), host);
        }
        Flow::Stop
    }

    /// The response headers passed: the trace-ID headers are added, and the status, a gRPC
    /// call's `grpc-status` (a trailers-only response) and the configured response headers are
    /// read. A request not seen before (a reply generated before
    /// this filter saw it) starts here, with nothing left to propagate upstream.
    pub fn on_response_headers(&mut self, exchange: &mut Exchange, host: &impl Host) {
        if exchange.scrape {
            return;
        }
        if exchange.request.is_none() {
            self.begin(exchange, host, Seen::Response);
        }
        exchange.status = host.response_header(":status").and_then(|s| s.parse().ok());
        // A trailers-only response (an error before any message) has its status in the headers.
        self.read_grpc_status(exchange, |name| host.response_header(name));
        if let (Some(cfg), Some(span)) = (&self.config.tracing, &exchange.span) {
            tracer::response_headers(cfg, span, |name, value| host.set_response_header(name, value));
        }
        let Some(request) = &mut exchange.request else { return };
        // A sampled span's captured response headers, every value (its capture is empty when the
        // span is not sampled): one read of the map for all of them.
        if self.plan.reads_response_span_headers && !request.span.values.is_empty() {
            host.response_headers(|headers| {
                for (slot, source) in request.span.values.iter_mut().zip(&self.plan.span_attributes) {
                    if let plan::Source::ResponseHeader(name) = source {
                        let values: Vec<String> = headers.get_all(name).map(str::to_owned).collect();
                        *slot = if values.is_empty() { Captured::Absent } else { Captured::Header(values) };
                    }
                }
            });
        }
        for (slot, source) in request.log_extra.iter_mut().zip(&self.plan.log_extra) {
            if let plan::Source::ResponseHeader(name) = source {
                *slot = host.response_header(name);
            }
        }
        if self.plan.reads_response_dimensions {
            for (i, (slot, source)) in request.dimensions.iter_mut().zip(&self.plan.dimensions).enumerate() {
                if let plan::Source::ResponseHeader(name) = source {
                    // A header that is also a log field was just read: one read for both.
                    let twin = self.plan.log_extra_twins.iter().position(|t| *t == Some(i));
                    *slot = match twin.and_then(|j| request.log_extra.get(j)) {
                        Some(read) => read.clone(),
                        None => host.response_header(name),
                    };
                }
            }
        }
    }

    /// The response trailers passed: a gRPC call's `grpc-status` (and `grpc-message`). Nothing
    /// is read for other requests.
    pub fn on_response_trailers(&mut self, exchange: &mut Exchange, host: &impl Host) {
        if exchange.scrape {
            return;
        }
        self.read_grpc_status(exchange, |name| host.response_trailer(name));
    }

    /// The stream is complete: metrics, security events, the access-log line and the span.
    ///
    /// An exchange whose headers the filter saw neither way (a reply Envoy's codec generated
    /// before any filter ran: 400, 413, 431) could not carry `x-trace-id`, so it gets no span
    /// either: it is counted and logged without a trace.
    pub fn on_log(&mut self, exchange: &mut Exchange, host: &impl Host) {
        if exchange.scrape {
            return;
        }
        if exchange.request.is_none() {
            self.begin(exchange, host, Seen::End);
        }
        self.complete(exchange, host);
        self.wake_for_full_batches(host);
    }

    /// The root woke up because a stream filled a batch: send the full batches now, without
    /// waiting for the tick.
    pub fn on_wake(&mut self, host: &impl Host) {
        self.wake_pending = false;
        let now = host.now_unix_nanos();
        if let Some(exporter) = &mut self.spans {
            exporter.flush(host, &self.config.resource, now);
        }
        if let Some(exporter) = &mut self.logs {
            exporter.flush(host, &self.config.resource, now);
        }
    }

    /// Asks the host to wake the root when an exporter holds a full batch it could send now. At
    /// 20,000 requests a second a worker fills a 512-span batch every 26 ms: waiting for the
    /// 100 ms tick would let the queue grow by four batches between ticks, and a burst past its
    /// bound would be dropped with a healthy collector. When the host cannot wake the root, the
    /// batch leaves on the tick.
    fn wake_for_full_batches(&mut self, host: &impl Host) {
        if self.wake_pending {
            return;
        }
        let ready = self.spans.as_ref().is_some_and(Exporter::batch_ready)
            || self.logs.as_ref().is_some_and(Exporter::batch_ready);
        if ready && host.wake_root().is_ok() {
            self.wake_pending = true;
        }
    }

    /// The root's tick: export batches, hand metric deltas and redaction counts to the host, and
    /// set the memory gauge (on VMs that serve traffic).
    pub fn on_tick(&mut self, host: &impl Host) {
        // A wake-up the host lost must not stop the next ones: the tick sends what it would have.
        self.wake_pending = false;
        let now = host.now_unix_nanos();
        if let Some(exporter) = &mut self.spans {
            exporter.flush(host, &self.config.resource, now);
        }
        if let Some(exporter) = &mut self.logs {
            exporter.flush(host, &self.config.resource, now);
        }
        if let Some(engine) = &mut self.metrics {
            engine.drain(|name, id, delta| counters::hand_over(host, name, id, delta));
            if let Some(publisher) = &mut self.publisher {
                publisher.publish_due(engine, host, now);
            }
            if let Some(export) = &mut self.otlp_metrics {
                if now.saturating_sub(export.last_nanos) >= export.interval_nanos {
                    export.last_nanos = now;
                    let batch = MetricsBatch::take(engine, &export.instance, export.start_nanos, now);
                    if !batch.metrics.is_empty() {
                        export.exporter.push(host, batch);
                    }
                }
                export.exporter.flush(host, &self.config.resource, now);
            }
        }
        for (kind, total) in self.redactions.iter() {
            let delta = total.saturating_sub(self.reported.get(kind));
            if delta > 0 {
                let name = format!("{};kind={}", crate::names::REDACTIONS, kind.label());
                self.counters.add_labelled(host, &name, delta);
            }
        }
        self.reported = self.redactions.clone();
        if self.serves_traffic {
            self.counters.wasm_memory(host, host.memory_bytes());
        }
    }

    /// An export call answered: `status` is the answer's `:status`, `None` when there was no
    /// answer. The exporter whose call it was sends what is waiting.
    pub fn on_export_answer(&mut self, host: &impl Host, token: u32, status: Option<u16>) {
        let now = host.now_unix_nanos();
        if let Some(exporter) = &mut self.spans
            && exporter.completed(host, token, status)
        {
            exporter.flush(host, &self.config.resource, now);
            return;
        }
        if let Some(exporter) = &mut self.logs
            && exporter.completed(host, token, status)
        {
            exporter.flush(host, &self.config.resource, now);
            return;
        }
        if let Some(export) = &mut self.otlp_metrics
            && export.exporter.completed(host, token, status)
        {
            export.exporter.flush(host, &self.config.resource, now);
        }
    }

    /// Redactions made on this worker so far, by kind (the host's counters get them on the tick).
    pub fn redactions(&self) -> &Counts {
        &self.redactions
    }

    /// Spans waiting for export on this worker.
    pub fn queued_spans(&self) -> usize {
        self.spans.as_ref().map_or(0, Exporter::queued)
    }

    /// Reads the request headers once and starts what needs them: the span (and the headers sent
    /// upstream when the request is `seen` in its own callback), and the header-sourced metric
    /// labels and log fields.
    fn begin(&mut self, exchange: &mut Exchange, host: &impl Host, seen: Seen) {
        // Envoy shows request headers only while they are being processed (and in `on_log`);
        // elsewhere the list is empty and the request is recorded with what is known.
        // The trace headers are written once the read is over: a host may lend its own map to
        // `read` (see `Headers::request_headers`).
        let writes = host.request_headers(|headers| {
            let now = host.now_unix_nanos();
            let attributes = tracer::request_attributes(headers, &self.config.routes);
            let keep = |sources: &[plan::Source]| -> Vec<Option<String>> {
                sources
                    .iter()
                    .map(|s| match s {
                        plan::Source::RequestHeader(name) => HeaderLookup::get(headers, name).map(str::to_owned),
                        _ => None,
                    })
                    .collect()
            };
            let dimensions = keep(&self.plan.dimensions);
            let mut span = SpanCapture::default();
            let mut writes: TraceHeaderWrites = (Vec::new(), Vec::new());
            if let Some(cfg) = self.config.tracing.as_ref().filter(|_| seen != Seen::End) {
                let mut started = tracer::start_request(cfg, &attributes, &mut self.ids, headers, now);
                if started.invalid_context {
                    self.counters.invalid_trace_context(host);
                }
                if seen != Seen::Request {
                    // Nothing goes upstream: no parent was sent, so no CLIENT span either.
                    started.span.client = None;
                }
                if seen == Seen::Request {
                    writes = (std::mem::take(&mut started.remove), std::mem::take(&mut started.inject));
                }
                if started.span.sampled {
                    span = SpanCapture::of(&self.plan, headers);
                }
                exchange.span = Some(started.span);
                #[cfg(any(test, feature = "fake-host"))]
                {
                    exchange.decision = Some(started.decision);
                }
            }
            let log_extra = keep(&self.plan.log_extra);
            exchange.request = Some(Request { attributes, start_nanos: now, dimensions, log_extra, span });
            writes
        });
        let (remove, inject) = writes;
        for name in remove {
            host.remove_request_header(name);
        }
        for (name, value) in &inject {
            host.set_request_header(name, value);
        }
    }
}

/// The trace headers a request's start removes from and sets on the request sent upstream.
type TraceHeaderWrites = (Vec<&'static str>, Vec<(&'static str, String)>);

impl Pipeline {
    /// Reads `grpc-status` through `read` (a header or trailer map) when the request is a gRPC
    /// call, and `grpc-message` when the call failed on the server's side and its span is sampled
    /// (the message is the error span's status message and nothing else's). A value present replaces the one before: the
    /// trailers, read last, have the final word.
    fn read_grpc_status(&self, exchange: &mut Exchange, read: impl Fn(&str) -> Option<String>) {
        if exchange.request.as_ref().is_none_or(|r| r.attributes.grpc.is_none()) {
            return;
        }
        let Some(raw) = read("grpc-status") else { return };
        let code = grpc::Code::parse(raw.trim());
        exchange.grpc_status = code;
        let sampled = exchange.span.as_ref().is_some_and(|s| s.sampled);
        exchange.grpc_message = match code {
            Some(c) if c.is_server_error() && sampled && self.config.tracing.is_some() => read("grpc-message"),
            _ => None,
        };
    }

    /// Whether a request is for the metrics endpoint's path.
    fn is_scrape(&self, attributes: &RequestAttributes) -> bool {
        self.publisher.as_ref().is_some_and(|p| p.serves(attributes.raw_path()))
    }
}

impl ConfigureError {
    /// A refusal caused by the host, not by the configuration.
    fn host(line: String) -> Self {
        Self { line, invalid: None }
    }
}

impl SpanCapture {
    /// Reads a sampled span's request-header values; the other attributes start absent.
    fn of(plan: &Plan, headers: &(impl HeaderLookup + ?Sized)) -> Self {
        let values = plan
            .span_attributes
            .iter()
            .map(|s| match s {
                plan::Source::RequestHeader(name) => {
                    let values: Vec<String> = headers.get_all(name).map(str::to_owned).collect();
                    if values.is_empty() { Captured::Absent } else { Captured::Header(values) }
                }
                _ => Captured::Absent,
            })
            .collect();
        Self { forwarded_for: HeaderLookup::get(headers, plan::FORWARDED_FOR).map(str::to_owned), values }
    }
}

impl Exchange {
    /// This request's span context (this proxy's span), once its request headers were read with
    /// tracing on.
    pub fn context(&self) -> Option<&crate::propagation::SpanContext> {
        self.span.as_ref().map(|s| &s.context)
    }

    /// The record of the trace-context decision made for this request: what was decided and why
    /// (with the recording host only: see the field).
    #[cfg(any(test, feature = "fake-host"))]
    pub fn decision(&self) -> Option<&tracer::Decision> {
        self.decision.as_ref()
    }

    /// A request body chunk of `size` bytes passed (the filter never buffers).
    pub fn on_request_body(&mut self, size: usize) {
        self.request_body_bytes = self.request_body_bytes.saturating_add(size as u64);
    }

    /// A response body chunk of `size` bytes passed.
    pub fn on_response_body(&mut self, size: usize) {
        self.response_body_bytes = self.response_body_bytes.saturating_add(size as u64);
    }
}

#[cfg(test)]
mod tests;
