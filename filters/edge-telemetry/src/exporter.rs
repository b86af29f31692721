//! Sending queued spans to the collector with `proxy_http_call`, from the root context only.
//!
//! Calls are made from the root context (on ticks), never from a stream context. Envoy runs every
//! callout on the plugin's root context, but the Rust SDK routes the answer to the context that
//! was active when it dispatched; a stream context is usually gone by then, and the SDK drops the
//! answer, which would leave the call counted in flight forever. A full batch therefore leaves on
//! the next tick, and the tick runs at least every [`MAX_TICK_MS`] milliseconds.

use std::time::Duration;

use proxy_wasm::hostcalls;
use telemetry_core::config::ExporterConfig;
use telemetry_core::export::{ExportQueue, Outcome};
use telemetry_core::otlp;
use telemetry_core::span::Resource;

use crate::host::{self, Map};
use crate::metrics::Metrics;

/// The longest tick period; partial batches still wait for `flush_interval_ms`.
pub const MAX_TICK_MS: u32 = 100;

/// One worker's exporter: the queue, the reusable body buffer, and flush timing.
#[derive(Debug)]
pub struct Exporter {
    pub queue: ExportQueue,
    config: ExporterConfig,
    body: String,
    last_flush_nanos: u64,
}

impl Exporter {
    /// An exporter with an empty queue.
    pub fn new(config: ExporterConfig) -> Self {
        Self {
            queue: ExportQueue::new(config.max_queue_spans, config.max_batch_spans, config.max_in_flight),
            config,
            body: String::new(),
            last_flush_nanos: 0,
        }
    }

    /// The tick period to ask the host for.
    pub fn tick_period_ms(&self) -> u32 {
        self.config.flush_interval_ms.min(MAX_TICK_MS)
    }

    /// Sends full batches, and partial ones when the flush interval has passed.
    pub fn flush(&mut self, resource: &Resource, metrics: &Metrics, now_nanos: u64) {
        let interval = u64::from(self.config.flush_interval_ms) * 1_000_000;
        let due = now_nanos.saturating_sub(self.last_flush_nanos) >= interval;
        let before = self.queue.stats();
        while let Some(batch) = self.queue.take_batch(!due) {
            self.body.clear();
            otlp::encode_traces_into(&mut self.body, resource, &batch);
            match self.dispatch() {
                Ok(token) => self.queue.sent(token, batch.len()),
                Err(e) => {
                    host::log(
                        host::Level::Warn,
                        &format!("meshlens: export call to cluster {} refused: {e:?}", self.config.cluster),
                    );
                    self.queue.send_failed(batch.len());
                    break;
                }
            }
        }
        if due {
            self.last_flush_nanos = now_nanos;
        }
        metrics.record_export(self.queue.stats().since(before));
    }

    /// Records the answer to an export call (in the root context's `on_http_call_response`).
    pub fn completed(&mut self, token: u32, num_headers: usize, metrics: &Metrics) {
        let outcome = if num_headers == 0 {
            Outcome::NoResponse
        } else {
            match host::header(Map::HttpCallResponseHeaders, ":status") {
                Ok(Some(s)) => s.parse().map_or(Outcome::NoResponse, Outcome::Status),
                _ => Outcome::NoResponse,
            }
        };
        let before = self.queue.stats();
        if self.queue.completed(token, outcome) {
            metrics.record_export(self.queue.stats().since(before));
        }
    }

    fn dispatch(&self) -> Result<u32, proxy_wasm::types::Status> {
        let mut headers: Vec<(&str, &str)> = vec![
            (":method", "POST"),
            (":path", &self.config.path),
            (":authority", &self.config.authority),
            ("content-type", "application/json"),
        ];
        headers.extend(self.config.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        hostcalls::dispatch_http_call(
            &self.config.cluster,
            headers,
            Some(self.body.as_bytes()),
            vec![],
            Duration::from_millis(u64::from(self.config.timeout_ms)),
        )
    }
}
