//! The hostcalls the module uses, as functions that return typed errors and never panic.
//!
//! The `proxy-wasm` SDK's hostcall wrappers `panic!` on any status they do not expect (for example
//! `BAD_ARGUMENT` when a header map is not available in the current phase), and a panic aborts
//! the VM for every request on the worker. These wrappers call the ABI (proxy-wasm spec, ABI
//! v0.2.1) directly and turn every status into a `Result`. Only HTTP callouts still go through
//! the SDK, because the SDK must register the callout token to route its response back to us.

mod abi;
pub mod pairs;

use proxy_wasm_abi::{BufferType, Failure, LogLevel, MapType, MetricType, Status};

/// Writes one line to the proxy's log. Failures are ignored: there is nowhere else to report them.
pub fn log(level: LogLevel, message: &str) {
    let _ = abi::check(abi::log(level.raw(), message.as_bytes()));
}

/// The proxy's log level, raw: `proxy_log_level_t` (0 trace .. 5 critical), or what else the
/// host returns (Envoy passes its logger's spdlog level on, so `off` is 6).
pub fn log_level() -> Result<u32, Failure> {
    let mut level = 0u32;
    abi::check(abi::get_log_level(&mut level))?;
    Ok(level)
}

/// The host's wall clock, in nanoseconds since the Unix epoch (0 if the host refuses).
pub fn now_unix_nanos() -> u64 {
    let mut t = 0u64;
    match abi::check(abi::get_current_time_nanoseconds(&mut t)) {
        Ok(()) => t,
        Err(_) => 0,
    }
}

/// Sets the root context's tick period; 0 disables ticks.
pub fn set_tick_period_ms(ms: u32) -> Result<(), Failure> {
    abi::check(abi::set_tick_period_milliseconds(ms))
}

/// The plugin configuration bytes (`PLUGIN_CONFIGURATION` buffer), empty when none was given.
pub fn plugin_configuration(size: usize) -> Result<Vec<u8>, Failure> {
    abi::get_buffer_bytes(BufferType::PluginConfiguration.raw(), 0, size)
}

/// A header map as the host serialized it, read with one hostcall; [`pairs::decode`] views it
/// as name/value pairs without copying them.
pub fn header_map(map: MapType) -> Result<Vec<u8>, Failure> {
    abi::get_header_map_pairs(map.raw())
}

/// The first value of a header, `None` when absent.
pub fn header(map: MapType, name: &str) -> Result<Option<String>, Failure> {
    match abi::get_header_map_value(map.raw(), name.as_bytes()) {
        Ok(bytes) => Ok(Some(telemetry_core::pipeline::host::text(bytes))),
        Err(e) if e.is(Status::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sets a header, replacing every existing value.
pub fn set_header(map: MapType, name: &str, value: &str) -> Result<(), Failure> {
    abi::check(abi::replace_header_map_value(map.raw(), name.as_bytes(), value.as_bytes()))
}

/// Removes a header (OK when absent).
pub fn remove_header(map: MapType, name: &str) -> Result<(), Failure> {
    abi::check(abi::remove_header_map_value(map.raw(), name.as_bytes()))
}

/// An Envoy property (attribute), `None` when the host has no value. `path` is the attribute's
/// segments joined by NUL bytes, the form `proxy_get_property` takes: `"source\0address"`.
pub fn property(path: &str) -> Result<Option<Vec<u8>>, Failure> {
    match abi::get_property(path.as_bytes()) {
        Ok(bytes) if bytes.is_empty() => Ok(None),
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.is(Status::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Defines (or looks up) a metric by name.
pub fn define_metric(kind: MetricType, name: &str) -> Result<u32, Failure> {
    let mut id = 0u32;
    abi::check(abi::define_metric(kind.raw(), name.as_bytes(), &mut id))?;
    Ok(id)
}

/// Sets a gauge to `value`.
pub fn record_metric(id: u32, value: u64) -> Result<(), Failure> {
    abi::check(abi::record_metric(id, value))
}

/// This module's linear memory, in bytes (what the VM holds for it on this worker).
pub fn wasm_memory_bytes() -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        core::arch::wasm32::memory_size(0) as u64 * 65_536
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0
    }
}

/// A variable of the VM environment: WASI `environ_get`, which Envoy answers from
/// `vm_config.environment_variables`. `None` when unset or not UTF-8.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A shared-data key's value and compare-and-swap token, `None` when the key is not set.
pub fn shared_data(key: &str) -> Result<Option<(Vec<u8>, u32)>, Failure> {
    let mut cas = 0u32;
    match abi::get_shared_data(key.as_bytes(), &mut cas) {
        Ok(bytes) => Ok(Some((bytes, cas))),
        Err(e) if e.is(Status::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sets a shared-data key; with `cas`, only if the key's token still matches: `Ok(false)` when it
/// does not (`CAS_MISMATCH`).
pub fn set_shared_data(key: &str, value: &[u8], cas: Option<u32>) -> Result<bool, Failure> {
    match abi::check(abi::set_shared_data(key.as_bytes(), value, cas.unwrap_or(0))) {
        Ok(()) => Ok(true),
        Err(e) if e.is(Status::CasMismatch) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Registers a shared queue under `name` for the calling root context (proxy-wasm ABI
/// "Shared queues"): items enqueued to it make the host call `proxy_on_queue_ready` on this root
/// context, on the thread that registered it. Returns the queue's id.
pub fn register_shared_queue(name: &str) -> Result<u32, Failure> {
    let mut id = 0u32;
    abi::check(abi::register_shared_queue(name.as_bytes(), &mut id))?;
    Ok(id)
}

/// Appends an item to a shared queue.
pub fn enqueue_shared_queue(queue_id: u32, value: &[u8]) -> Result<(), Failure> {
    abi::check(abi::enqueue_shared_queue(queue_id, value))
}

/// Takes the oldest item of a shared queue, `None` when it is empty.
pub fn dequeue_shared_queue(queue_id: u32) -> Result<Option<Vec<u8>>, Failure> {
    match abi::dequeue_shared_queue(queue_id) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.is(Status::Empty) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Answers the current request with a reply of the filter's own; `details` is Envoy's
/// response code details (`%RESPONSE_CODE_DETAILS%`).
pub fn send_local_response(status: u16, details: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<(), Failure> {
    let headers = proxy_wasm_abi::pairs::encode(headers);
    abi::check(abi::send_local_response(u32::from(status), details.as_bytes(), body, &headers))
}

/// Adds `delta` to a metric.
pub fn increment_metric(id: u32, delta: i64) -> Result<(), Failure> {
    abi::check(abi::increment_metric(id, delta))
}
