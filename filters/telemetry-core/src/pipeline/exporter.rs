//! Sending queued spans or log records to the collector, from the root context only.
//!
//! Calls are made from the root context, never from a stream context. Envoy runs every callout on
//! the plugin's root context, but the proxy-wasm Rust SDK routes the answer to the context that
//! was active when it dispatched; a stream context is usually gone by then, and the SDK drops the
//! answer, which would leave the call counted in flight forever. So a stream that fills a batch
//! asks the host to wake the root ([`Calls::wake_root`]), which sends it right after the stream's
//! callback returns; partial batches leave on the tick, which runs at least every
//! [`MAX_TICK_MS`] milliseconds.

use super::counters::SignalCounters;
use super::host::{Calls, LogLevel, LogSink, MetricSink};
use crate::config::ExporterConfig;
use crate::export::{ExportQueue, Outcome, Store};
use crate::span::Resource;

/// The longest tick period; partial batches still wait for `flush_interval_ms`.
pub const MAX_TICK_MS: u32 = 100;

/// How often refused export calls are logged: the first refusal of a kind at once, then one line
/// per interval with how many more there were. A missing collector cluster refuses every call,
/// ten times a second per worker; one line each would flood the proxy's log.
pub const REFUSAL_LOG_INTERVAL_NANOS: u64 = 10_000_000_000;

/// One worker's exporter for one signal: the queue, the reusable body buffer, flush timing.
#[derive(Debug)]
pub struct Exporter<S> {
    queue: ExportQueue<S>,
    config: ExporterConfig,
    /// `:path` of the export requests (`/v1/traces`, `/v1/logs`).
    path: String,
    counters: SignalCounters,
    body: Vec<u8>,
    last_flush_nanos: u64,
    refusals: Option<Refusals>,
    /// The last call was refused (the collector cluster is missing, say): full batches wait for
    /// the tick instead of waking the root after every request to be refused again.
    refusing: bool,
}

/// Refused calls not logged yet: the host's reason, how many, and when the last line about them
/// was written.
#[derive(Debug)]
struct Refusals {
    reason: String,
    unlogged: u64,
    logged_nanos: u64,
}

impl<S: Store> Exporter<S> {
    /// An exporter whose queue keeps its items in `store`, sending to `path` on the configured
    /// collector.
    pub fn new(config: ExporterConfig, path: String, store: S, counters: SignalCounters) -> Self {
        Self {
            queue: ExportQueue::new(store, config.max_queue_spans, config.max_batch_spans, config.max_in_flight),
            config,
            path,
            counters,
            body: Vec::new(),
            last_flush_nanos: 0,
            refusals: None,
            refusing: false,
        }
    }

    /// The tick period to ask the host for.
    pub fn tick_period_ms(&self) -> u32 {
        self.config.flush_interval_ms.min(MAX_TICK_MS)
    }

    /// Items waiting to be sent.
    pub fn queued(&self) -> usize {
        self.queue.queued()
    }

    /// Whether a full batch waits and a call slot is free, and the host took the last call: a
    /// flush now would send it.
    pub fn batch_ready(&self) -> bool {
        !self.refusing
            && self.queue.queued() >= self.config.max_batch_spans
            && self.queue.in_flight() < self.config.max_in_flight
    }

    /// Queues one item (or counts it dropped).
    pub fn push(&mut self, host: &impl MetricSink, item: S::Item) {
        let before = self.queue.stats();
        self.queue.push(item);
        self.counters.record(host, self.queue.stats().since(before));
    }

    /// Sends full batches, and partial ones when the flush interval has passed.
    pub fn flush(&mut self, host: &(impl Calls + LogSink + MetricSink), resource: &Resource, now_nanos: u64) {
        let interval = u64::from(self.config.flush_interval_ms) * 1_000_000;
        let due = now_nanos.saturating_sub(self.last_flush_nanos) >= interval;
        let before = self.queue.stats();
        while let Some(spans) = self.queue.take_batch(!due, resource, &mut self.body) {
            match self.dispatch(host) {
                Ok(token) => {
                    self.refusing = false;
                    self.queue.sent(token, spans);
                }
                Err(e) => {
                    self.refusing = true;
                    self.refused(host, &e.0, now_nanos);
                    self.queue.send_failed(spans);
                    break;
                }
            }
        }
        self.log_refusals(host, now_nanos);
        if due {
            self.last_flush_nanos = now_nanos;
        }
        self.counters.record(host, self.queue.stats().since(before));
    }

    /// Records the answer to call `token` if it is one of this exporter's; returns whether it
    /// was. `status` is the answer's `:status`, `None` when there was no answer (connection
    /// failure, reset, timeout).
    pub fn completed(&mut self, host: &impl MetricSink, token: u32, status: Option<u16>) -> bool {
        let outcome = status.map_or(Outcome::NoResponse, Outcome::Status);
        let before = self.queue.stats();
        let ours = self.queue.completed(token, outcome);
        if ours {
            self.counters.record(host, self.queue.stats().since(before));
        }
        ours
    }

    /// Logs a refusal at once when it is the first of its reason in an interval; counts it
    /// otherwise.
    fn refused(&mut self, host: &impl LogSink, reason: &str, now_nanos: u64) {
        if let Some(r) = &mut self.refusals
            && r.reason == reason
        {
            r.unlogged += 1;
            return;
        }
        if let Some(r) = self.refusals.take() {
            self.log_unlogged(host, &r, now_nanos);
        }
        let line = format!("meshlens: export call to cluster {} refused: {reason}", self.config.cluster);
        host.log(LogLevel::Warn, &line);
        self.refusals = Some(Refusals { reason: reason.to_owned(), unlogged: 0, logged_nanos: now_nanos });
    }

    /// Once an interval has passed since the last line: one line with how many refusals came
    /// since, or, when none did, forgets the reason so that the next refusal is logged at once.
    fn log_refusals(&mut self, host: &impl LogSink, now_nanos: u64) {
        let Some(r) = self.refusals.take() else { return };
        if now_nanos.saturating_sub(r.logged_nanos) < REFUSAL_LOG_INTERVAL_NANOS {
            self.refusals = Some(r);
            return;
        }
        if r.unlogged > 0 {
            self.log_unlogged(host, &r, now_nanos);
            self.refusals = Some(Refusals { unlogged: 0, logged_nanos: now_nanos, ..r });
        }
    }

    /// `refused N more times in the last S s`, when there were any.
    fn log_unlogged(&self, host: &impl LogSink, r: &Refusals, now_nanos: u64) {
        if r.unlogged == 0 {
            return;
        }
        let seconds = now_nanos.saturating_sub(r.logged_nanos).saturating_add(500_000_000) / 1_000_000_000;
        let line = format!(
            "meshlens: export call to cluster {} refused {} more times in the last {seconds} s: {}",
            self.config.cluster, r.unlogged, r.reason
        );
        host.log(LogLevel::Warn, &line);
    }

    fn dispatch(&self, host: &impl Calls) -> Result<u32, super::host::HostError> {
        let mut headers: Vec<(&str, &str)> = vec![
            (":method", "POST"),
            (":path", &self.path),
            (":authority", &self.config.authority),
            ("content-type", self.config.encoding.content_type()),
        ];
        headers.extend(self.config.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        host.http_call(&self.config.cluster, &headers, &self.body, self.config.timeout_ms)
    }
}
