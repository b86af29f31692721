//! The event hooks Envoy calls (`envoy_dynamic_module_on_*`, `abi.h`; see `abi.rs` for the
//! version), exported with C linkage.
//!
//! Envoy resolves every HTTP-filter hook when it loads a filter config and refuses the config
//! when one is missing, so the hooks the module has no use for (per-route configs, streamed
//! callouts, watermarks) are exported as no-ops.
//!
//! No panic crosses into Envoy: each hook that runs module code runs it under
//! [`std::panic::catch_unwind`], counts a caught panic in `meshlens_native_panics_total`, logs
//! it, and lets the request continue. This needs the unwinding panic strategy: build with
//! `--profile native` (the workspace's `release` profile aborts on panic, for the Wasm module).
#![allow(unsafe_code)]

use std::ffi::{c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use telemetry_core::pipeline::{Exchange, Flow};

use crate::abi::{self, ABI_VERSION, BodyType, CONTINUE, EnvoyBuffer, Filter, HttpHeader};
use crate::host::NativeHost;
use crate::plugin::Plugin;

/// `envoy_dynamic_module_type_on_http_filter_request_headers_status_StopIteration`.
const STOP_ITERATION: u32 = 1;

/// One stream: its config, the worker it runs on, and the pipeline's per-request state.
#[derive(Debug)]
struct Stream {
    plugin: Arc<Plugin>,
    worker: usize,
    exchange: Exchange,
}

/// Runs `body`; a panic is counted against `plugin`, logged, and turned into `fallback`.
fn guard<R: Copy>(plugin: Option<&Plugin>, fallback: R, body: impl FnOnce() -> R) -> R {
    contain(
        || {
            if let Some(plugin) = plugin {
                plugin.count_panic();
            }
            abi::log(abi::LogLevel::Error, "meshlens: a panic was caught at the Envoy boundary; the request continues");
        },
        fallback,
        body,
    )
}

/// Runs `body`; on a panic, runs `caught` and returns `fallback`.
fn contain<R>(caught: impl FnOnce(), fallback: R, body: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| {
        caught();
        fallback
    })
}

/// The module's config behind Envoy's pointer to it.
///
/// # Safety
/// `ptr` is a pointer `config_new` returned and `config_destroy` has not released.
unsafe fn plugin<'a>(ptr: *const c_void) -> Option<&'a Plugin> {
    // SAFETY: per the contract, `ptr` came from `Arc::into_raw` and the Arc is still alive.
    unsafe { ptr.cast::<Plugin>().as_ref() }
}

/// The module's stream behind Envoy's pointer to it.
///
/// # Safety
/// `ptr` is a pointer `on_http_filter_new` returned and `on_http_filter_destroy` has not
/// released; Envoy calls a stream's hooks on one thread, one at a time.
unsafe fn stream<'a>(ptr: *const c_void) -> Option<&'a mut Stream> {
    // SAFETY: per the contract, `ptr` came from `Box::into_raw` and nothing else borrows it.
    unsafe { ptr.cast::<Stream>().cast_mut().as_mut() }
}

/// Runs `f` with a stream's host and locked pipeline.
fn with_stream<R: Copy>(
    filter: *mut c_void,
    module: *const c_void,
    fallback: R,
    f: impl FnOnce(&mut telemetry_core::pipeline::Pipeline, &mut Exchange, &NativeHost<'_>) -> R,
) -> R {
    // SAFETY: Envoy passes the pointer `on_http_filter_new` returned, alive until destroy.
    let Some(stream) = (unsafe { stream(module) }) else { return fallback };
    let plugin = Arc::clone(&stream.plugin);
    guard(Some(&plugin), fallback, || {
        let host = NativeHost::stream(&plugin, Filter(filter), stream.worker);
        let exchange = &mut stream.exchange;
        plugin.with_pipeline(stream.worker, |p| f(p, exchange, &host)).unwrap_or(fallback)
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const c_char {
    ABI_VERSION.as_ptr().cast()
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_new(
    config_envoy: *mut c_void,
    name: EnvoyBuffer,
    config: EnvoyBuffer,
) -> *const c_void {
    guard(None, std::ptr::null(), || {
        let name = String::from_utf8_lossy(&abi::envoy_bytes(name)).into_owned();
        let bytes = abi::envoy_bytes(config);
        match Plugin::configure(abi::Config(config_envoy), &name, &bytes) {
            Ok(plugin) => {
                abi::log(abi::LogLevel::Info, "meshlens: configured (native dynamic module)");
                Arc::into_raw(plugin).cast()
            }
            Err(refused) => {
                abi::log(abi::LogLevel::Error, &refused.0);
                std::ptr::null()
            }
        }
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_destroy(config_module: *const c_void) {
    if config_module.is_null() {
        return;
    }
    // SAFETY: `config_module` came from `Arc::into_raw` in config_new; Envoy destroys it once.
    let plugin = unsafe { Arc::from_raw(config_module.cast::<Plugin>()) };
    guard(Some(&plugin), (), || plugin.stop());
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_scheduled(
    _config_envoy: *mut c_void,
    config_module: *const c_void,
    event: u64,
) {
    // SAFETY: Envoy passes the pointer config_new returned, alive until config_destroy.
    let Some(plugin) = (unsafe { plugin(config_module) }) else { return };
    guard(Some(plugin), (), || plugin.on_scheduled(event));
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_http_callout_done(
    _config_envoy: *mut c_void,
    config_module: *const c_void,
    callout: u64,
    result: u32,
    headers: *mut HttpHeader,
    headers_size: usize,
    _body: *mut EnvoyBuffer,
    _body_size: usize,
) {
    // SAFETY: Envoy passes the pointer config_new returned, alive until config_destroy.
    let Some(plugin) = (unsafe { plugin(config_module) }) else { return };
    guard(Some(plugin), (), || {
        // A failed call (reset, limit) has no answer, like a proxy-wasm call with no headers.
        let status = (result == abi::CALLOUT_SUCCESS).then(|| abi::status_of(headers, headers_size)).flatten();
        plugin.on_answer(callout, status);
    });
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_new(
    config_module: *const c_void,
    filter_envoy: *mut c_void,
) -> *const c_void {
    if config_module.is_null() {
        return std::ptr::null();
    }
    // SAFETY: Envoy passes the pointer config_new returned; the stream keeps its own count.
    let plugin = unsafe {
        Arc::increment_strong_count(config_module.cast::<Plugin>());
        Arc::from_raw(config_module.cast::<Plugin>())
    };
    let fallback = std::ptr::null();
    let guarded = Arc::clone(&plugin);
    guard(Some(&guarded), fallback, move || {
        let worker = plugin.worker_of(Filter(filter_envoy).worker_index());
        let exchange = plugin.with_pipeline(worker, |p| p.new_exchange()).unwrap_or_default();
        Box::into_raw(Box::new(Stream { plugin, worker, exchange })).cast_const().cast()
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
    filter: *mut c_void,
    module: *const c_void,
    _end_of_stream: bool,
) -> u32 {
    with_stream(filter, module, CONTINUE, |p, exchange, host| match p.on_request_headers(exchange, host) {
        Flow::Stop => STOP_ITERATION,
        Flow::Continue => CONTINUE,
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_body(
    filter: *mut c_void,
    module: *const c_void,
    _end_of_stream: bool,
) -> u32 {
    with_stream(filter, module, CONTINUE, |_, exchange, _| {
        exchange.on_request_body(Filter(filter).received_body_size(BodyType::ReceivedRequestBody));
        CONTINUE
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_trailers(
    _filter: *mut c_void,
    _module: *const c_void,
) -> u32 {
    CONTINUE
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_headers(
    filter: *mut c_void,
    module: *const c_void,
    _end_of_stream: bool,
) -> u32 {
    with_stream(filter, module, CONTINUE, |p, exchange, host| {
        p.on_response_headers(exchange, host);
        CONTINUE
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_body(
    filter: *mut c_void,
    module: *const c_void,
    _end_of_stream: bool,
) -> u32 {
    with_stream(filter, module, CONTINUE, |_, exchange, _| {
        exchange.on_response_body(Filter(filter).received_body_size(BodyType::ReceivedResponseBody));
        CONTINUE
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_trailers(
    filter: *mut c_void,
    module: *const c_void,
) -> u32 {
    with_stream(filter, module, CONTINUE, |p, exchange, host| {
        p.on_response_trailers(exchange, host);
        CONTINUE
    })
}

/// The stream is complete: Envoy calls this before it writes access logs (proxy-wasm `on_log`).
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_stream_complete(filter: *mut c_void, module: *const c_void) {
    with_stream(filter, module, (), |p, exchange, host| p.on_log(exchange, host));
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_destroy(module: *const c_void) {
    if module.is_null() {
        return;
    }
    // SAFETY: `module` came from `Box::into_raw` in on_http_filter_new; Envoy destroys it once.
    drop(unsafe { Box::from_raw(module.cast::<Stream>().cast_mut()) });
}

dynamic_module_abi::export_unused_hooks!();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_contained_and_reported() {
        let mut caught = false;
        let status = contain(|| caught = true, CONTINUE, || -> u32 { panic!("planted") });
        assert_eq!(status, CONTINUE);
        assert!(caught);
        let mut caught = false;
        assert_eq!(contain(|| caught = true, CONTINUE, || STOP_ITERATION), STOP_ITERATION);
        assert!(!caught);
    }
}
