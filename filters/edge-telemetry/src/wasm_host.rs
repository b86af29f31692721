//! `telemetry-core`'s host traits over proxy-wasm hostcalls, and the worker state the root and
//! its streams share.

use std::borrow::Cow;
use std::cell::RefCell;
use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm_abi::property;
use telemetry_core::pipeline::Pipeline;
use telemetry_core::pipeline::host::{
    Calls, Clock, HeaderPairs, Headers, HostError, LocalReply, LogLevel, LogSink, MetricKind, MetricSink, Properties,
    Property, ProxyLogLevel, Random, SharedData, Vm,
};

use proxy_wasm_abi::{Failure, LogLevel as AbiLogLevel, MapType, MetricType};

use crate::host;

/// One worker VM's pipeline and the host it runs on (single-threaded; shared by the root
/// context and every stream).
#[derive(Debug)]
pub struct Worker {
    pub pipeline: RefCell<Pipeline>,
    pub host: WasmHost,
}

/// The proxy-wasm host, with the attribute paths of the pipeline's plan encoded once.
#[derive(Debug, Default)]
pub struct WasmHost {
    /// `proxy_get_property` paths by [`Property::index`]: segments joined by NUL bytes.
    paths: Vec<String>,
    /// The shared queue whose items wake this worker's root context (`on_queue_ready`); `None`
    /// when the host could not register one.
    wake_queue: Option<u32>,
}

impl Worker {
    /// The worker of a configured pipeline, woken through `wake_queue`.
    pub fn new(pipeline: Pipeline, wake_queue: Option<u32>) -> Self {
        let paths = pipeline.plan().properties().iter().map(|p| property::path(p.path())).collect();
        Self { pipeline: RefCell::new(pipeline), host: WasmHost { paths, wake_queue } }
    }

    /// The queue that wakes this worker's root.
    pub fn wake_queue(&self) -> Option<u32> {
        self.host.wake_queue
    }
}

impl Clock for WasmHost {
    fn now_unix_nanos(&self) -> u64 {
        host::now_unix_nanos()
    }
}

impl Random for WasmHost {
    fn random_seed(&self) -> Result<[u8; 32], HostError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| HostError(e.to_string()))?;
        Ok(seed)
    }
}

impl Headers for WasmHost {
    fn request_headers<R>(&self, read: impl FnOnce(&HeaderPairs<'_>) -> R) -> R {
        let raw = host::header_map(MapType::RequestHeaders).unwrap_or_default();
        let pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = host::pairs::decode(&raw).unwrap_or_default();
        read(&pairs)
    }

    fn set_request_header(&self, name: &str, value: &str) {
        let _ = host::set_header(MapType::RequestHeaders, name, value);
    }

    fn remove_request_header(&self, name: &str) {
        let _ = host::remove_header(MapType::RequestHeaders, name);
    }

    fn response_header(&self, name: &str) -> Option<String> {
        host::header(MapType::ResponseHeaders, name).ok().flatten()
    }

    fn response_headers<R>(&self, read: impl FnOnce(&HeaderPairs<'_>) -> R) -> R {
        let raw = host::header_map(MapType::ResponseHeaders).unwrap_or_default();
        let pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = host::pairs::decode(&raw).unwrap_or_default();
        read(&pairs)
    }

    fn set_response_header(&self, name: &str, value: &str) {
        let _ = host::set_header(MapType::ResponseHeaders, name, value);
    }

    fn response_trailer(&self, name: &str) -> Option<String> {
        host::header(MapType::ResponseTrailers, name).ok().flatten()
    }
}

impl Properties for WasmHost {
    fn property(&self, property: &Property) -> Option<Vec<u8>> {
        host::property(self.paths.get(property.index())?).ok().flatten()
    }
}

impl LogSink for WasmHost {
    fn log(&self, level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Debug => AbiLogLevel::Debug,
            LogLevel::Info => AbiLogLevel::Info,
            LogLevel::Warn => AbiLogLevel::Warn,
            LogLevel::Error => AbiLogLevel::Error,
        };
        host::log(level, message);
    }

    fn log_level(&self) -> Result<ProxyLogLevel, HostError> {
        // A value past critical is spdlog's `off` (6), which Envoy passes on as it is.
        Ok(match AbiLogLevel::from_raw(host::log_level().map_err(status)?) {
            Some(AbiLogLevel::Trace) => ProxyLogLevel::Trace,
            Some(AbiLogLevel::Debug) => ProxyLogLevel::Debug,
            Some(AbiLogLevel::Info) => ProxyLogLevel::Info,
            Some(AbiLogLevel::Warn) => ProxyLogLevel::Warn,
            Some(AbiLogLevel::Error) => ProxyLogLevel::Error,
            Some(AbiLogLevel::Critical) => ProxyLogLevel::Critical,
            None => ProxyLogLevel::Off,
        })
    }
}

impl MetricSink for WasmHost {
    fn define_metric(&self, kind: MetricKind, name: &str) -> Result<u32, HostError> {
        let kind = match kind {
            MetricKind::Counter => MetricType::Counter,
            MetricKind::Gauge => MetricType::Gauge,
        };
        host::define_metric(kind, name).map_err(status)
    }

    fn increment_metric(&self, id: u32, delta: i64) {
        let _ = host::increment_metric(id, delta);
    }

    fn record_metric(&self, id: u32, value: u64) {
        let _ = host::record_metric(id, value);
    }
}

impl Vm for WasmHost {
    fn memory_bytes(&self) -> u64 {
        host::wasm_memory_bytes()
    }

    fn env_var(&self, name: &str) -> Option<String> {
        host::env_var(name)
    }
}

impl Calls for WasmHost {
    fn set_tick_period_ms(&self, ms: u32) -> Result<(), HostError> {
        host::set_tick_period_ms(ms).map_err(status)
    }

    /// The SDK's wrapper, not a raw hostcall: the SDK must register the token to route the
    /// answer back to the root context.
    fn http_call(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout_ms: u32,
    ) -> Result<u32, HostError> {
        hostcalls::dispatch_http_call(
            cluster,
            headers.to_vec(),
            Some(body),
            vec![],
            Duration::from_millis(u64::from(timeout_ms)),
        )
        .map_err(|e| HostError(format!("{e:?}")))
    }

    /// An item on the worker's own shared queue: Envoy posts `on_queue_ready` to the thread that
    /// registered the queue, after the current callback (proxy-wasm-cpp-host `SharedQueue::enqueue`
    /// through the VM's `call_on_thread`).
    fn wake_root(&self) -> Result<(), HostError> {
        let queue = self.wake_queue.ok_or_else(|| HostError(String::from("no wake queue")))?;
        host::enqueue_shared_queue(queue, b"w").map_err(status)
    }
}

impl SharedData for WasmHost {
    fn shared_data(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        host::shared_data(key).ok().flatten()
    }

    fn set_shared_data(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<bool, HostError> {
        host::set_shared_data(key, value, cas).map_err(status)
    }
}

impl LocalReply for WasmHost {
    fn send_reply(&self, status_code: u16, headers: &[(&str, &str)], body: &[u8]) -> Result<(), HostError> {
        host::send_local_response(status_code, "meshlens_metrics", headers, body).map_err(status)
    }
}

fn status(e: Failure) -> HostError {
    HostError(format!("{e:?}"))
}
