//! `telemetry-core`'s host traits over the dynamic-module callbacks.
//!
//! A host is a handle for one callback: a stream's (with its Envoy filter: headers, attributes,
//! local replies) or the main thread's (ticks, export calls, answers: no stream). Reads a host
//! cannot make where it is (a header with no stream) come back empty.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use telemetry_core::pipeline::host::{
    Calls, Clock, HeaderPairs, Headers, HostError, LocalReply, LogLevel, LogSink, MetricKind, MetricSink, Properties,
    Property, ProxyLogLevel, Random, SharedData, Vm, text_ref,
};

use crate::abi::{self, Filter, HeaderType};
use crate::attributes::Kind;
use crate::plugin::{EVENT_WAKE, Plugin};

/// The host for one callback of one worker's pipeline.
#[derive(Debug, Clone, Copy)]
pub struct NativeHost<'a> {
    plugin: &'a Plugin,
    filter: Option<Filter>,
    worker: usize,
}

impl<'a> NativeHost<'a> {
    /// The host of a stream hook.
    pub fn stream(plugin: &'a Plugin, filter: Filter, worker: usize) -> Self {
        Self { plugin, filter: Some(filter), worker }
    }

    /// The host of main-thread work for `worker`'s pipeline (configuration, ticks, answers).
    pub fn main(plugin: &'a Plugin, worker: usize) -> Self {
        Self { plugin, filter: None, worker }
    }

    /// Calls `read` with a header map as the pipeline reads it: Envoy's own bytes, lent (text
    /// as it is when it is UTF-8, as it nearly always is; invalid sequences replaced otherwise).
    fn with_pairs<R>(&self, map: HeaderType, read: impl FnOnce(&HeaderPairs<'_>) -> R) -> R {
        let Some(filter) = self.filter else { return read(&[]) };
        filter.with_headers(map, |raw| {
            fn text<'b>((k, v): (&'b [u8], &'b [u8])) -> (Cow<'b, str>, Cow<'b, str>) {
                (text_ref(k), text_ref(v))
            }
            // A request's usual header count fits on the stack: no allocation per read.
            if raw.size_hint().1.is_some_and(|n| n <= abi::STACK_HEADERS) {
                let mut stack: [(Cow<'_, str>, Cow<'_, str>); abi::STACK_HEADERS] = Default::default();
                let mut n = 0;
                for (slot, pair) in stack.iter_mut().zip(raw) {
                    *slot = text(pair);
                    n += 1;
                }
                read(stack.get(..n).unwrap_or_default())
            } else {
                let pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = raw.map(text).collect();
                read(&pairs)
            }
        })
    }

    fn first(&self, map: HeaderType, name: &str) -> Option<String> {
        self.filter?.header(map, name).map(text)
    }
}

fn text(bytes: Vec<u8>) -> String {
    telemetry_core::pipeline::host::text(bytes)
}

impl Clock for NativeHost<'_> {
    /// The system clock: Envoy's own time source (no callback gives a stream's time).
    #[allow(clippy::disallowed_methods)]
    fn now_unix_nanos(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).ok().and_then(|d| u64::try_from(d.as_nanos()).ok()).unwrap_or(0)
    }
}

impl Random for NativeHost<'_> {
    fn random_seed(&self) -> Result<[u8; 32], HostError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| HostError(e.to_string()))?;
        Ok(seed)
    }
}

impl Headers for NativeHost<'_> {
    fn request_headers<R>(&self, read: impl FnOnce(&HeaderPairs<'_>) -> R) -> R {
        self.with_pairs(HeaderType::RequestHeader, read)
    }

    fn set_request_header(&self, name: &str, value: &str) {
        if let Some(filter) = self.filter {
            filter.set_header(HeaderType::RequestHeader, name, Some(value));
        }
    }

    fn remove_request_header(&self, name: &str) {
        if let Some(filter) = self.filter {
            filter.set_header(HeaderType::RequestHeader, name, None);
        }
    }

    fn response_header(&self, name: &str) -> Option<String> {
        self.first(HeaderType::ResponseHeader, name)
    }

    fn response_headers<R>(&self, read: impl FnOnce(&HeaderPairs<'_>) -> R) -> R {
        self.with_pairs(HeaderType::ResponseHeader, read)
    }

    fn set_response_header(&self, name: &str, value: &str) {
        if let Some(filter) = self.filter {
            filter.set_header(HeaderType::ResponseHeader, name, Some(value));
        }
    }

    fn response_trailer(&self, name: &str) -> Option<String> {
        self.first(HeaderType::ResponseTrailer, name)
    }
}

impl Properties for NativeHost<'_> {
    /// The attribute, encoded as proxy-wasm encodes it: strings as bytes, integers as 8
    /// little-endian bytes.
    fn property(&self, property: &Property) -> Option<Vec<u8>> {
        let filter = self.filter?;
        let attribute = (*self.plugin.attributes.get(property.index())?)?;
        match attribute.kind {
            Kind::String => filter.attribute_string(attribute.id),
            Kind::Int => filter.attribute_int(attribute.id).map(|v| v.to_le_bytes().to_vec()),
        }
    }
}

impl LogSink for NativeHost<'_> {
    fn log(&self, level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Debug => abi::LogLevel::Debug,
            LogLevel::Info => abi::LogLevel::Info,
            LogLevel::Warn => abi::LogLevel::Warn,
            LogLevel::Error => abi::LogLevel::Error,
        };
        abi::log(level, message);
    }

    /// The `dynamic_modules` logger's level: the least severe level it writes.
    fn log_level(&self) -> Result<ProxyLogLevel, HostError> {
        let levels = [
            (abi::LogLevel::Trace, ProxyLogLevel::Trace),
            (abi::LogLevel::Debug, ProxyLogLevel::Debug),
            (abi::LogLevel::Info, ProxyLogLevel::Info),
            (abi::LogLevel::Warn, ProxyLogLevel::Warn),
            (abi::LogLevel::Error, ProxyLogLevel::Error),
            (abi::LogLevel::Critical, ProxyLogLevel::Critical),
        ];
        Ok(levels.iter().find(|(abi, _)| abi::log_enabled(*abi)).map_or(ProxyLogLevel::Off, |(_, level)| *level))
    }
}

impl MetricSink for NativeHost<'_> {
    fn define_metric(&self, kind: MetricKind, name: &str) -> Result<u32, HostError> {
        self.plugin.metrics.define(self.plugin.envoy, kind, name)
    }

    fn increment_metric(&self, id: u32, delta: i64) {
        if let Ok(delta) = u64::try_from(delta) {
            self.plugin.metrics.increment(self.plugin.envoy, id, delta);
        }
    }

    fn record_metric(&self, id: u32, value: u64) {
        self.plugin.metrics.set(self.plugin.envoy, id, value);
    }
}

impl Calls for NativeHost<'_> {
    fn set_tick_period_ms(&self, ms: u32) -> Result<(), HostError> {
        self.plugin.tick_ms.store(ms, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// A config-level callout: main thread only, so refused from a stream's hook.
    fn http_call(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout_ms: u32,
    ) -> Result<u32, HostError> {
        if self.filter.is_some() {
            return Err(HostError(String::from("export calls leave from the main thread only")));
        }
        let id = self
            .plugin
            .envoy
            .http_callout(cluster, headers, body, u64::from(timeout_ms))
            .map_err(|code| HostError(format!("http_callout_init_result {code}")))?;
        let token = u32::try_from(id).map_err(|_| HostError(String::from("callout id past u32")))?;
        self.plugin.callouts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id, self.worker);
        Ok(token)
    }

    /// A scheduled event for this worker's pipeline, run on the main thread.
    fn wake_root(&self) -> Result<(), HostError> {
        let scheduler = self.plugin.scheduler.as_ref().ok_or_else(|| HostError(String::from("no scheduler")))?;
        scheduler.commit(EVENT_WAKE + self.worker as u64);
        Ok(())
    }
}

impl Vm for NativeHost<'_> {
    /// No VM: the module's memory is Envoy's.
    fn memory_bytes(&self) -> u64 {
        0
    }

    /// A variable of Envoy's own environment.
    fn env_var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl SharedData for NativeHost<'_> {
    fn shared_data(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.plugin.shared.get(key)
    }

    fn set_shared_data(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<bool, HostError> {
        Ok(self.plugin.shared.set(key, value, cas))
    }
}

impl LocalReply for NativeHost<'_> {
    fn send_reply(&self, status: u16, headers: &[(&str, &str)], body: &[u8]) -> Result<(), HostError> {
        let filter = self.filter.ok_or_else(|| HostError(String::from("no stream")))?;
        filter.send_response(status, headers, body, "meshlens_metrics");
        Ok(())
    }
}
