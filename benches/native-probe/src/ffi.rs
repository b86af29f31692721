//! The dynamic-module ABI the probe uses: the C types and the callbacks it calls, declared by
//! hand as `filters/edge-telemetry-native/src/abi.rs` declares them (Envoy 1.40, ABI `v0.2.0`),
//! and every event hook Envoy 1.40 requires of an HTTP filter module (it refuses a filter config
//! when one is missing), exported with C linkage. In `essential` mode three hooks make callbacks
//! (request headers, response headers, stream complete); `mimic` adds stream start and the
//! response body.
//!
//! The filter config is a boxed [`Mode`]; a stream's module pointer is that same config
//! pointer (Envoy needs a non-null one, and the probe keeps no state per stream), so a stream
//! costs the module no allocation.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_void};
use std::ptr;
use std::time::SystemTime;

use dynamic_module_abi::raw::{
    envoy_dynamic_module_callback_http_filter_get_attribute_string,
    envoy_dynamic_module_callback_http_filter_get_worker_index, envoy_dynamic_module_callback_http_get_body_size,
    envoy_dynamic_module_callback_http_get_header, envoy_dynamic_module_callback_http_get_headers,
    envoy_dynamic_module_callback_http_get_headers_size, envoy_dynamic_module_callback_http_set_header,
    envoy_dynamic_module_callback_log,
};
use dynamic_module_abi::{ABI_VERSION, BodyType, CONTINUE, EnvoyBuffer, HttpHeader, ModuleBuffer};

use crate::{LINE_BYTES, Mode, TRACE_ID, TRACEPARENT, TRACERESPONSE};

/// `envoy_dynamic_module_type_http_header_type`: request headers.
const REQUEST_HEADER: u32 = 0;
/// `envoy_dynamic_module_type_http_header_type`: response headers.
const RESPONSE_HEADER: u32 = 2;
/// `envoy_dynamic_module_type_attribute_id`s meshlens reads as strings: `source.address`,
/// `request.protocol`, `xds.cluster_name`.
const ATTRIBUTES: [u32; 3] = [24, 10, 57];
/// `envoy_dynamic_module_type_log_level`: info, the native module's access-line level.
const LOG_INFO: u32 = 2;
/// `envoy_dynamic_module_type_log_level`: error.
const LOG_ERROR: u32 = 4;
/// The line written at stream complete.
static LINE: [u8; LINE_BYTES] = [b'x'; LINE_BYTES];

/// A module buffer over `bytes` (valid while `bytes` is).
fn buffer(bytes: &[u8]) -> ModuleBuffer {
    ModuleBuffer { ptr: bytes.as_ptr().cast(), length: bytes.len() }
}

/// Whether `module` is a stream of a mode that makes the essential callbacks.
fn essential(module: *const c_void) -> bool {
    matches!(mode(module), Some(Mode::Essential | Mode::Mimic))
}

/// The mode behind a config (or stream) pointer; `None` for a null one.
fn mode(module: *const c_void) -> Option<Mode> {
    // SAFETY: a non-null `module` is the `Box<Mode>` config_new leaked, which Envoy destroys
    // (config_destroy) only after every stream of that config is gone.
    unsafe { module.cast::<Mode>().as_ref() }.copied()
}

/// The wall clock, read as the native module reads it (no callback gives a stream's time).
#[allow(clippy::disallowed_methods)]
fn clock() {
    std::hint::black_box(SystemTime::now());
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const c_char {
    ABI_VERSION.as_ptr().cast()
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_new(
    _config_envoy: *mut c_void,
    _name: EnvoyBuffer,
    config: EnvoyBuffer,
) -> *const c_void {
    let bytes: &[u8] = if config.ptr.is_null() {
        &[]
    } else {
        // SAFETY: Envoy hands out `length` readable bytes at `ptr`, valid during this hook; they
        // are parsed before it returns.
        unsafe { std::slice::from_raw_parts(config.ptr.cast::<u8>(), config.length) }
    };
    match Mode::parse(bytes) {
        Some(mode) => Box::into_raw(Box::new(mode)).cast_const().cast(),
        None => {
            let message = b"native-probe: the filter config must be `none`, `essential` or `mimic`";
            // SAFETY: the buffer points into a static; Envoy copies it.
            unsafe { envoy_dynamic_module_callback_log(LOG_ERROR, buffer(message)) };
            ptr::null()
        }
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_destroy(config_module: *const c_void) {
    if !config_module.is_null() {
        // SAFETY: `config_module` came from `Box::into_raw` in config_new; Envoy destroys it once.
        drop(unsafe { Box::from_raw(config_module.cast::<Mode>().cast_mut()) });
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_new(
    config_module: *const c_void,
    filter_envoy: *mut c_void,
) -> *const c_void {
    if mode(config_module) == Some(Mode::Mimic) {
        // SAFETY: `filter_envoy` is the filter being created, live during this hook.
        std::hint::black_box(unsafe { envoy_dynamic_module_callback_http_filter_get_worker_index(filter_envoy) });
    }
    config_module
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
    filter: *mut c_void,
    module: *const c_void,
    _end_of_stream: bool,
) -> u32 {
    if !essential(module) {
        return CONTINUE;
    }
    // SAFETY: `filter` is the live filter of this hook.
    let n = unsafe { envoy_dynamic_module_callback_http_get_headers_size(filter, REQUEST_HEADER) };
    let empty = HttpHeader { key_ptr: ptr::null(), key_length: 0, value_ptr: ptr::null(), value_length: 0 };
    let mut headers = vec![empty; n];
    // SAFETY: live filter; `headers` holds the `n` entries Envoy just reported for this map.
    let read = unsafe { envoy_dynamic_module_callback_http_get_headers(filter, REQUEST_HEADER, headers.as_mut_ptr()) };
    std::hint::black_box((read, &headers));
    clock();
    // SAFETY: live filter; key and value point into statics; Envoy copies them.
    unsafe {
        envoy_dynamic_module_callback_http_set_header(
            filter,
            REQUEST_HEADER,
            buffer(b"traceparent"),
            buffer(TRACEPARENT.as_bytes()),
        )
    };
    CONTINUE
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_body(
    _filter: *mut c_void,
    _module: *const c_void,
    _end_of_stream: bool,
) -> u32 {
    CONTINUE
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
    if !essential(module) {
        return CONTINUE;
    }
    let mut status = EnvoyBuffer { ptr: ptr::null(), length: 0 };
    let mut count = 0usize;
    // SAFETY: live filter; the key points into a static; both out-pointers are valid locals.
    let found = unsafe {
        envoy_dynamic_module_callback_http_get_header(
            filter,
            RESPONSE_HEADER,
            buffer(b":status"),
            &mut status,
            0,
            &mut count,
        )
    };
    std::hint::black_box((found, status, count));
    // SAFETY: live filter; key and value point into statics; Envoy copies them.
    unsafe {
        envoy_dynamic_module_callback_http_set_header(
            filter,
            RESPONSE_HEADER,
            buffer(b"x-trace-id"),
            buffer(TRACE_ID.as_bytes()),
        )
    };
    if mode(module) == Some(Mode::Mimic) {
        // SAFETY: as above.
        unsafe {
            envoy_dynamic_module_callback_http_set_header(
                filter,
                RESPONSE_HEADER,
                buffer(b"traceresponse"),
                buffer(TRACERESPONSE.as_bytes()),
            )
        };
    }
    CONTINUE
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_body(
    filter: *mut c_void,
    module: *const c_void,
    _end_of_stream: bool,
) -> u32 {
    if mode(module) == Some(Mode::Mimic) {
        // SAFETY: `filter` is the live filter of this hook.
        std::hint::black_box(unsafe {
            envoy_dynamic_module_callback_http_get_body_size(filter, BodyType::ReceivedResponseBody as u32)
        });
    }
    CONTINUE
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_trailers(
    _filter: *mut c_void,
    _module: *const c_void,
) -> u32 {
    CONTINUE
}

/// The stream is complete: Envoy calls this before it writes access logs.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_stream_complete(filter: *mut c_void, module: *const c_void) {
    if !essential(module) {
        return;
    }
    if mode(module) == Some(Mode::Mimic) {
        for id in ATTRIBUTES {
            let mut value = EnvoyBuffer { ptr: ptr::null(), length: 0 };
            // SAFETY: `filter` is the live filter of this hook; `value` is a valid local.
            let found =
                unsafe { envoy_dynamic_module_callback_http_filter_get_attribute_string(filter, id, &mut value) };
            std::hint::black_box((found, value));
        }
    }
    clock();
    // SAFETY: the buffer points into a static; Envoy copies it.
    unsafe { envoy_dynamic_module_callback_log(LOG_INFO, buffer(&LINE)) };
}

/// Nothing to free: a stream's pointer is its config's.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_destroy(_module: *const c_void) {}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_scheduled(
    _config_envoy: *mut c_void,
    _config_module: *const c_void,
    _event: u64,
) {
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_http_callout_done(
    _config_envoy: *mut c_void,
    _config_module: *const c_void,
    _callout: u64,
    _result: u32,
    _headers: *mut HttpHeader,
    _headers_size: usize,
    _body: *mut EnvoyBuffer,
    _body_size: usize,
) {
}

dynamic_module_abi::export_unused_hooks!();
