//! A recording host for driving the pipeline natively, in tests: no Wasm, no proxy.
//!
//! It plays the proxy's side as Envoy 1.40 shows it to a filter: header maps per phase (the
//! request headers, with what the filter set and removed, until the response starts; then the
//! response headers), attributes by path, metrics by stat name, log lines, export calls and
//! their tokens, a settable clock and a fixed random seed.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use super::host::{Calls, Clock, HeaderPairs, Headers, HostError, LogSink, MetricKind, MetricSink, Properties};
use super::host::{LocalReply, LogLevel, Property, ProxyLogLevel, Random, SharedData, Vm};

/// One export call the pipeline made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall {
    pub token: u32,
    pub cluster: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout_ms: u32,
}

/// A host that records everything the pipeline does.
#[derive(Debug, Default)]
pub struct FakeHost {
    /// Nanoseconds since the Unix epoch that [`Clock::now_unix_nanos`] returns.
    pub now: Cell<u64>,
    pub seed: [u8; 32],
    /// The request headers as the filter sees them, edits included.
    pub request: RefCell<Vec<(String, String)>>,
    /// Whether the request headers are visible (during the request phase and at stream end).
    pub request_visible: Cell<bool>,
    /// The response headers as the filter sees them, edits included.
    pub response: RefCell<Vec<(String, String)>>,
    /// The response trailers as the filter sees them (while they pass).
    pub response_trailers: RefCell<Vec<(String, String)>>,
    /// Trailers the next [`FakeHost::exchange`]'s response ends with (taken by it); `None`: the
    /// response has none, and `on_response_trailers` is not called (as in Envoy).
    pub next_trailers: RefCell<Option<Vec<(String, String)>>>,
    /// Attributes by path (`"source.address"`), as raw bytes.
    pub properties: RefCell<BTreeMap<String, Vec<u8>>>,
    /// `(level, line)` of every log line, whatever the proxy's log level.
    pub logs: RefCell<Vec<(LogLevel, String)>>,
    /// What [`LogSink::log_level`] returns; `None`: the host cannot tell (proxy-wasm 0.2.0).
    pub log_level: Cell<Option<ProxyLogLevel>>,
    /// Metrics in definition order: stat name, kind, value.
    pub metrics: RefCell<Vec<(String, MetricKind, i64)>>,
    pub tick_period_ms: Cell<Option<u32>>,
    pub calls: RefCell<Vec<HttpCall>>,
    /// Properties read, by path, in order.
    pub property_reads: RefCell<Vec<String>>,
    /// How many of `calls` were answered.
    pub answered: Cell<usize>,
    /// What [`Vm::memory_bytes`] returns.
    pub memory_bytes: Cell<u64>,
    /// When set, every export call is refused with this reason.
    pub refuse_calls: RefCell<Option<String>>,
    /// The VM environment [`Vm::env_var`] reads, by name.
    pub env: BTreeMap<String, String>,
    /// Environment variables read, by name, in order.
    pub env_reads: RefCell<Vec<String>>,
    /// When set, the only request headers shown: the plan's (what a host that reads headers one by
    /// one would read).
    pub request_header_filter: RefCell<Option<Vec<String>>>,
    /// Shared data by key: value and compare-and-swap token. Hosts that share it (`Rc::clone`)
    /// are workers of one proxy.
    pub shared: Rc<RefCell<SharedStore>>,
    /// Every local reply: status, headers, body.
    pub replies: RefCell<Vec<LocalReplySent>>,
    /// Wake-ups asked for with [`Calls::wake_root`] and not delivered yet; [`FakeHost::exchange`]
    /// delivers them after the stream ends, as Envoy runs them after the current callback.
    pub wakes: Cell<usize>,
    /// Every wake-up asked for.
    pub wakes_asked: Cell<usize>,
    /// When set, [`Calls::wake_root`] fails (a host without shared queues).
    pub refuse_wakes: Cell<bool>,
}

/// Shared data by key: value and compare-and-swap token.
pub type SharedStore = BTreeMap<String, (Vec<u8>, u32)>;

/// A local reply: status, headers, body.
pub type LocalReplySent = (u16, Vec<(String, String)>, Vec<u8>);

/// How the far side answers one exchange.
#[derive(Debug, Clone, Copy)]
pub struct Reply<'a> {
    /// Response headers, `:status` included.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
    /// Whether the request went upstream (false for a reply the proxy generated: no route, no
    /// healthy upstream, a denial by an earlier filter).
    pub from_upstream: bool,
    /// Nanoseconds from the request headers to the response headers.
    pub latency_nanos: u64,
}

/// What one exchange sent on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The request headers the upstream received; `None` when the proxy replied itself.
    pub upstream: Option<Vec<(String, String)>>,
    /// The response headers sent downstream.
    pub downstream: Vec<(String, String)>,
    /// The request's span context (`None` without tracing), read before stream end.
    pub context: Option<crate::propagation::SpanContext>,
    /// The record of its trace-context decision ([`crate::tracer::Decision`]).
    pub decision: Option<crate::tracer::Decision>,
}

impl FakeHost {
    /// A host whose clock reads `now` and whose random source gives `seed`.
    pub fn new(now: u64, seed: [u8; 32]) -> Self {
        Self { now: Cell::new(now), seed, ..Self::default() }
    }

    /// A metric's value by stat name (`None` when never defined).
    pub fn metric(&self, name: &str) -> Option<i64> {
        self.metrics.borrow().iter().find(|(n, _, _)| n == name).map(|(_, _, v)| *v)
    }

    /// Sets the request headers of a new request and makes them visible.
    pub fn start_request(&self, headers: &[(&str, &str)]) {
        *self.request.borrow_mut() = headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        self.request_visible.set(true);
        self.response.borrow_mut().clear();
    }

    /// Sets the response headers and hides the request headers (Envoy shows them only while they
    /// are processed and at stream end).
    pub fn start_response(&self, headers: &[(&str, &str)]) {
        *self.response.borrow_mut() = headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        self.request_visible.set(false);
    }

    /// Makes the next exchange's response end with `trailers`.
    pub fn end_with_trailers(&self, trailers: &[(&str, &str)]) {
        *self.next_trailers.borrow_mut() =
            Some(trailers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect());
    }

    /// Sets a string attribute.
    pub fn set_property(&self, path: &str, value: &str) {
        self.properties.borrow_mut().insert(path.to_owned(), value.as_bytes().to_vec());
    }

    /// Sets an integer or duration attribute (`response.flags`, `response.backend_latency`) in
    /// Envoy's encoding: 8 bytes, little-endian.
    pub fn set_property_u64(&self, path: &str, value: u64) {
        self.properties.borrow_mut().insert(path.to_owned(), value.to_le_bytes().to_vec());
    }

    /// Removes an attribute: the host has none (Envoy's `NotFound`).
    pub fn remove_property(&self, path: &str) {
        self.properties.borrow_mut().remove(path);
    }
}

impl Clock for FakeHost {
    fn now_unix_nanos(&self) -> u64 {
        self.now.get()
    }
}

impl Random for FakeHost {
    fn random_seed(&self) -> Result<[u8; 32], HostError> {
        Ok(self.seed)
    }
}

impl Headers for FakeHost {
    fn request_headers<R>(&self, read: impl FnOnce(&HeaderPairs<'_>) -> R) -> R {
        let filter = self.request_header_filter.borrow();
        let shown = |name: &str| filter.as_ref().is_none_or(|f| f.iter().any(|n| n.eq_ignore_ascii_case(name)));
        let pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = if self.request_visible.get() {
            let request = self.request.borrow();
            request
                .iter()
                .filter(|(k, _)| shown(k))
                .map(|(k, v)| (Cow::Owned(k.clone()), Cow::Owned(v.clone())))
                .collect()
        } else {
            Vec::new()
        };
        read(&pairs)
    }

    fn set_request_header(&self, name: &str, value: &str) {
        set(&mut self.request.borrow_mut(), name, value);
    }

    fn remove_request_header(&self, name: &str) {
        self.request.borrow_mut().retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }

    fn response_header(&self, name: &str) -> Option<String> {
        self.response.borrow().iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    }

    fn response_headers<R>(&self, read: impl FnOnce(&HeaderPairs<'_>) -> R) -> R {
        let response = self.response.borrow();
        let pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> =
            response.iter().map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str()))).collect();
        read(&pairs)
    }

    fn set_response_header(&self, name: &str, value: &str) {
        set(&mut self.response.borrow_mut(), name, value);
    }

    fn response_trailer(&self, name: &str) -> Option<String> {
        self.response_trailers.borrow().iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    }
}

/// Envoy's `setCopy` (`proxy_replace_header_map_value`): the first entry of `name` takes the value
/// where it stands, later duplicates go; absent, the header is appended. The order is what the
/// upstream and the client receive, and the harness's.
/// Envoy's `HeaderMapImpl::setCopy` since 1.16 (`http_set_copy_replace_all_headers`, the legacy
/// in-place path removed later): every entry of `name` goes, then the new one is added, where
/// Envoy's `HeaderList` adds: a pseudo-header at the end of the pseudo-headers, any other header
/// at the end.
fn set(map: &mut Vec<(String, String)>, name: &str, value: &str) {
    map.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    let at = if name.starts_with(':') { map.iter().take_while(|(k, _)| k.starts_with(':')).count() } else { map.len() };
    map.insert(at, (name.to_owned(), value.to_owned()));
}

impl Properties for FakeHost {
    fn property(&self, property: &Property) -> Option<Vec<u8>> {
        let path = property.path().join(".");
        let value = self.properties.borrow().get(&path).cloned();
        self.property_reads.borrow_mut().push(path);
        value
    }
}

impl LogSink for FakeHost {
    fn log(&self, level: LogLevel, message: &str) {
        self.logs.borrow_mut().push((level, message.to_owned()));
    }

    fn log_level(&self) -> Result<ProxyLogLevel, HostError> {
        self.log_level.get().ok_or_else(|| HostError(String::from("Unimplemented")))
    }
}

impl MetricSink for FakeHost {
    fn define_metric(&self, kind: MetricKind, name: &str) -> Result<u32, HostError> {
        let mut metrics = self.metrics.borrow_mut();
        if let Some(i) = metrics.iter().position(|(n, _, _)| n == name) {
            return u32::try_from(i).map_err(|_| HostError(String::from("InternalFailure")));
        }
        metrics.push((name.to_owned(), kind, 0));
        u32::try_from(metrics.len() - 1).map_err(|_| HostError(String::from("InternalFailure")))
    }

    fn increment_metric(&self, id: u32, delta: i64) {
        if let Some((_, _, v)) = self.metrics.borrow_mut().get_mut(id as usize) {
            *v += delta;
        }
    }

    fn record_metric(&self, id: u32, value: u64) {
        if let Some((_, _, v)) = self.metrics.borrow_mut().get_mut(id as usize) {
            *v = i64::try_from(value).unwrap_or(i64::MAX);
        }
    }
}

impl Vm for FakeHost {
    fn memory_bytes(&self) -> u64 {
        self.memory_bytes.get()
    }

    fn env_var(&self, name: &str) -> Option<String> {
        self.env_reads.borrow_mut().push(name.to_owned());
        self.env.get(name).cloned()
    }
}

impl SharedData for FakeHost {
    fn shared_data(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.shared.borrow().get(key).cloned()
    }

    fn set_shared_data(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<bool, HostError> {
        let mut shared = self.shared.borrow_mut();
        let current = shared.get(key).map(|(_, c)| *c);
        if cas.is_some() && cas != current {
            return Ok(false);
        }
        shared.insert(key.to_owned(), (value.to_vec(), current.map_or(1, |c| c + 1)));
        Ok(true)
    }
}

impl LocalReply for FakeHost {
    fn send_reply(&self, status: u16, headers: &[(&str, &str)], body: &[u8]) -> Result<(), HostError> {
        let headers: Vec<(String, String)> = headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        self.replies.borrow_mut().push((status, headers, body.to_vec()));
        Ok(())
    }
}

impl Calls for FakeHost {
    fn set_tick_period_ms(&self, ms: u32) -> Result<(), HostError> {
        self.tick_period_ms.set(Some(ms));
        Ok(())
    }

    fn http_call(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout_ms: u32,
    ) -> Result<u32, HostError> {
        if let Some(reason) = self.refuse_calls.borrow().clone() {
            return Err(HostError(reason));
        }
        let mut calls = self.calls.borrow_mut();
        let token = u32::try_from(calls.len() + 1).map_err(|_| HostError(String::from("InternalFailure")))?;
        calls.push(HttpCall {
            token,
            cluster: cluster.to_owned(),
            headers: headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            body: body.to_vec(),
            timeout_ms,
        });
        Ok(token)
    }

    fn wake_root(&self) -> Result<(), HostError> {
        if self.refuse_wakes.get() {
            return Err(HostError(String::from("Unimplemented")));
        }
        self.wakes.set(self.wakes.get() + 1);
        self.wakes_asked.set(self.wakes_asked.get() + 1);
        Ok(())
    }
}

impl FakeHost {
    /// Runs one exchange through `pipeline` in Envoy's callback order for a filter placed before
    /// the router: request headers, request body (when there is one), response headers, response
    /// body (when there is one), response trailers (when [`FakeHost::end_with_trailers`] set
    /// them), then stream end.
    pub fn exchange(
        &self,
        pipeline: &mut super::Pipeline,
        request: &[(&str, &str)],
        request_body: &[u8],
        reply: &Reply<'_>,
    ) -> Sent {
        let mut exchange = pipeline.new_exchange();
        self.start_request(request);
        if pipeline.on_request_headers(&mut exchange, self) == super::Flow::Stop {
            // The filter answered: its reply goes downstream in place of `reply`.
            let (status, mut headers, _) = self.replies.borrow().last().cloned().unwrap_or_default();
            headers.insert(0, (String::from(":status"), status.to_string()));
            let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let local = Reply { headers: &headers, body: b"", from_upstream: false, latency_nanos: 0 };
            return self.respond(pipeline, exchange, &local, None);
        }
        if !request_body.is_empty() {
            exchange.on_request_body(request_body.len());
        }
        let upstream = reply.from_upstream.then(|| self.request.borrow().clone());
        self.respond(pipeline, exchange, reply, upstream)
    }

    /// The response half of [`FakeHost::exchange`]: `reply` after its latency, then stream end.
    fn respond(
        &self,
        pipeline: &mut super::Pipeline,
        mut exchange: super::Exchange,
        reply: &Reply<'_>,
        upstream: Option<Vec<(String, String)>>,
    ) -> Sent {
        self.now.set(self.now.get().saturating_add(reply.latency_nanos));
        self.start_response(reply.headers);
        pipeline.on_response_headers(&mut exchange, self);
        if !reply.body.is_empty() {
            exchange.on_response_body(reply.body.len());
        }
        let downstream = self.response.borrow().clone();
        if let Some(trailers) = self.next_trailers.borrow_mut().take() {
            *self.response_trailers.borrow_mut() = trailers;
            pipeline.on_response_trailers(&mut exchange, self);
            self.response_trailers.borrow_mut().clear();
        }
        // Stream end takes the span: what the request decided is read before.
        let context = exchange.context().cloned();
        let decision = exchange.decision().copied();
        self.request_visible.set(true);
        pipeline.on_log(&mut exchange, self);
        self.request_visible.set(false);
        self.deliver_wakes(pipeline);
        Sent { upstream, downstream, context, decision }
    }

    /// Runs [`super::Pipeline::on_wake`] once per pending wake-up.
    pub fn deliver_wakes(&self, pipeline: &mut super::Pipeline) {
        while self.wakes.get() > 0 {
            self.wakes.set(self.wakes.get() - 1);
            pipeline.on_wake(self);
        }
    }

    /// Answers every export call not answered yet: `status` is the collector's `:status`,
    /// `None` for no answer (a failed connection, a timeout).
    pub fn answer_calls(&self, pipeline: &mut super::Pipeline, status: Option<u16>) {
        loop {
            let token = self.calls.borrow().get(self.answered.get()).map(|c| c.token);
            let Some(token) = token else { break };
            self.answered.set(self.answered.get() + 1);
            pipeline.on_export_answer(self, token, status);
        }
    }

    /// Moves the clock on by `nanos` and runs the root's tick.
    pub fn tick(&self, pipeline: &mut super::Pipeline, nanos: u64) {
        self.now.set(self.now.get().saturating_add(nanos));
        pipeline.on_tick(self);
    }

    /// Shows only the request headers `plan` names from now on.
    pub fn read_only_planned(&self, plan: &super::Plan) {
        *self.request_header_filter.borrow_mut() = Some(plan.request_headers().map(str::to_owned).collect());
    }
}
