//! The Envoy dynamic-module ABI as meshlens's native modules use it: the C types, the callbacks
//! Envoy exports (declared by hand, raw: callers wrap them), the ABI version string, and the event
//! hooks no meshlens module has a use for but Envoy requires ([`export_unused_hooks!`]).
//!
//! Source: `source/extensions/dynamic_modules/abi/abi.h` of envoyproxy/envoy, the `v0.1.0`
//! header at commit 0199da4a13cb999df12ad32db7d03942cfbf9abb (the 1.40 tag's copy was not at
//! hand). Checked against Envoy 1.40.0 (build 9e5580933739775e8bce696a57a2e1bc99368f23): every
//! callback below is a dynamic symbol of that binary (`nm -D envoy`), every hook `ffi.rs`
//! exports is one Envoy's own built-in module (`hickory_dns_static_*`) exports, and the header
//! guarantees a `v0.1` module works with the next minor ABI, `v0.2` (Envoy 1.40's). The
//! signatures are exercised against that Envoy by `tests/tests/all/envoy_native.rs`. No bindgen
//! and no C toolchain: the declarations are the header's, one for one.
//!
#![allow(unsafe_code)]

use std::ffi::c_char;

/// The ABI version Envoy 1.40 expects from `envoy_dynamic_module_on_program_init`: the string
/// its own built-in Rust module (`hickory_dns_static_envoy_dynamic_module_on_program_init`)
/// returns, the one `v0.x.y` string in the binary. Envoy logs "Dynamic module ABI version v0.2.0
/// matched." at info; any other string loads with the warning "Dynamic module ABI version {} is
/// deprecated. Please recompile the module against the SDK with the exact Envoy version used by
/// the main program." (`source/extensions/dynamic_modules/dynamic_modules.cc`).
pub const ABI_VERSION: &[u8] = b"v0.2.0\0";

/// `Continue` of every `envoy_dynamic_module_type_on_http_filter_*_status` enum.
pub const CONTINUE: u32 = 0;

/// `envoy_dynamic_module_type_envoy_buffer`: bytes Envoy owns.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct EnvoyBuffer {
    pub ptr: *const c_char,
    pub length: usize,
}

/// `envoy_dynamic_module_type_module_buffer`: bytes the module owns.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ModuleBuffer {
    pub ptr: *const c_char,
    pub length: usize,
}

/// `envoy_dynamic_module_type_module_http_header` and `..._envoy_http_header` (same layout).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct HttpHeader {
    pub key_ptr: *const c_char,
    pub key_length: usize,
    pub value_ptr: *const c_char,
    pub value_length: usize,
}

/// `envoy_dynamic_module_type_http_header_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum HeaderType {
    RequestHeader = 0,
    ResponseHeader = 2,
    ResponseTrailer = 3,
}

/// `envoy_dynamic_module_type_log_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u32)]
pub enum LogLevel {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Critical = 5,
}

/// `envoy_dynamic_module_type_http_body_type`: the received chunks only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum BodyType {
    ReceivedRequestBody = 0,
    ReceivedResponseBody = 2,
}

/// The raw callbacks, as `abi.h` declares them. Each takes pointers Envoy gave the module in an
/// event hook; calling one is `unsafe`, and the modules' wrappers say why each call is sound.
pub mod raw {
    use std::ffi::c_void;

    use super::{EnvoyBuffer, HttpHeader, ModuleBuffer};

    unsafe extern "C" {
        pub fn envoy_dynamic_module_callback_log(level: u32, message: ModuleBuffer);
        pub fn envoy_dynamic_module_callback_log_enabled(level: u32) -> bool;
        pub fn envoy_dynamic_module_callback_get_concurrency() -> u32;
        pub fn envoy_dynamic_module_callback_http_get_headers_size(filter: *mut c_void, header_type: u32) -> usize;
        pub fn envoy_dynamic_module_callback_http_get_headers(
            filter: *mut c_void,
            header_type: u32,
            result_headers: *mut HttpHeader,
        ) -> bool;
        pub fn envoy_dynamic_module_callback_http_get_header(
            filter: *mut c_void,
            header_type: u32,
            key: ModuleBuffer,
            result: *mut EnvoyBuffer,
            index: usize,
            optional_size: *mut usize,
        ) -> bool;
        pub fn envoy_dynamic_module_callback_http_set_header(
            filter: *mut c_void,
            header_type: u32,
            key: ModuleBuffer,
            value: ModuleBuffer,
        ) -> bool;
        pub fn envoy_dynamic_module_callback_http_send_response(
            filter: *mut c_void,
            status_code: u32,
            headers: *mut HttpHeader,
            headers_size: usize,
            body: ModuleBuffer,
            details: ModuleBuffer,
        );
        pub fn envoy_dynamic_module_callback_http_get_body_size(filter: *mut c_void, body_type: u32) -> usize;
        pub fn envoy_dynamic_module_callback_http_filter_get_attribute_string(
            filter: *mut c_void,
            attribute_id: u32,
            result: *mut EnvoyBuffer,
        ) -> bool;
        pub fn envoy_dynamic_module_callback_http_filter_get_attribute_int(
            filter: *mut c_void,
            attribute_id: u32,
            result: *mut u64,
        ) -> bool;
        pub fn envoy_dynamic_module_callback_http_filter_get_worker_index(filter: *mut c_void) -> u32;
        pub fn envoy_dynamic_module_callback_http_filter_config_define_counter(
            config: *mut c_void,
            name: ModuleBuffer,
            label_names: *mut ModuleBuffer,
            label_names_length: usize,
            counter_id: *mut usize,
        ) -> u32;
        pub fn envoy_dynamic_module_callback_http_filter_config_define_gauge(
            config: *mut c_void,
            name: ModuleBuffer,
            label_names: *mut ModuleBuffer,
            label_names_length: usize,
            gauge_id: *mut usize,
        ) -> u32;
        pub fn envoy_dynamic_module_callback_http_filter_config_increment_counter(
            config: *mut c_void,
            id: usize,
            label_values: *mut ModuleBuffer,
            label_values_length: usize,
            value: u64,
        ) -> u32;
        pub fn envoy_dynamic_module_callback_http_filter_config_set_gauge(
            config: *mut c_void,
            id: usize,
            label_values: *mut ModuleBuffer,
            label_values_length: usize,
            value: u64,
        ) -> u32;
        pub fn envoy_dynamic_module_callback_http_filter_config_http_callout(
            config: *mut c_void,
            callout_id: *mut u64,
            cluster_name: ModuleBuffer,
            headers: *mut HttpHeader,
            headers_size: usize,
            body: ModuleBuffer,
            timeout_milliseconds: u64,
        ) -> u32;
        pub fn envoy_dynamic_module_callback_http_filter_config_scheduler_new(config: *mut c_void) -> *mut c_void;
        pub fn envoy_dynamic_module_callback_http_filter_config_scheduler_commit(scheduler: *mut c_void, event_id: u64);
        pub fn envoy_dynamic_module_callback_http_filter_config_scheduler_delete(scheduler: *mut c_void);
    }
}

/// Exports, as no-ops, the HTTP-filter event hooks Envoy 1.40 requires of every module (it
/// refuses a filter config when one is missing) and no meshlens module uses: per-route configs,
/// a stream's HTTP callout answers, streamed callouts (stream and config level), the downstream
/// write-buffer watermarks, local replies (continued) and stream-level scheduled events. Invoke
/// it once, at the root of a `cdylib`.
#[macro_export]
macro_rules! export_unused_hooks {
    () => {
        #[unsafe(no_mangle)]
        pub extern "C" fn envoy_dynamic_module_on_http_filter_local_reply(
            _filter: *mut ::std::ffi::c_void,
            _module: *const ::std::ffi::c_void,
            _response_code: u32,
            _details: $crate::EnvoyBuffer,
            _reset_imminent: bool,
        ) -> u32 {
            $crate::CONTINUE
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn envoy_dynamic_module_on_http_filter_scheduled(
            _filter: *mut ::std::ffi::c_void,
            _module: *const ::std::ffi::c_void,
            _event: u64,
        ) {
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn envoy_dynamic_module_on_http_filter_per_route_config_new(
            _name: $crate::EnvoyBuffer,
            _config: $crate::EnvoyBuffer,
        ) -> *const ::std::ffi::c_void {
            ::std::ptr::null()
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn envoy_dynamic_module_on_http_filter_per_route_config_destroy(
            _config: *const ::std::ffi::c_void,
        ) {
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn envoy_dynamic_module_on_http_filter_http_callout_done(
            _filter: *mut ::std::ffi::c_void,
            _module: *const ::std::ffi::c_void,
            _callout: u64,
            _result: u32,
            _headers: *mut $crate::HttpHeader,
            _headers_size: usize,
            _body: *mut $crate::EnvoyBuffer,
            _body_size: usize,
        ) {
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_headers(
            _filter: *mut ::std::ffi::c_void,
            _module: *const ::std::ffi::c_void,
            _stream: u64,
            _headers: *mut $crate::HttpHeader,
            _headers_size: usize,
            _end_stream: bool,
        ) {
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_data(
            _filter: *mut ::std::ffi::c_void,
            _module: *const ::std::ffi::c_void,
            _stream: u64,
            _data: *const $crate::EnvoyBuffer,
            _data_count: usize,
            _end_stream: bool,
        ) {
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_trailers(
            _filter: *mut ::std::ffi::c_void,
            _module: *const ::std::ffi::c_void,
            _stream: u64,
            _trailers: *mut $crate::HttpHeader,
            _trailers_size: usize,
        ) {
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_complete(
            _filter: *mut ::std::ffi::c_void,
            _module: *const ::std::ffi::c_void,
            _stream: u64,
        ) {
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_reset(
            _filter: *mut ::std::ffi::c_void,
            _module: *const ::std::ffi::c_void,
            _stream: u64,
            _reason: u32,
        ) {
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn envoy_dynamic_module_on_http_filter_config_http_stream_headers(
            _config_envoy: *mut ::std::ffi::c_void,
            _config_module: *const ::std::ffi::c_void,
            _stream: u64,
            _headers: *mut $crate::HttpHeader,
            _headers_size: usize,
            _end_stream: bool,
        ) {
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn envoy_dynamic_module_on_http_filter_config_http_stream_data(
            _config_envoy: *mut ::std::ffi::c_void,
            _config_module: *const ::std::ffi::c_void,
            _stream: u64,
            _data: *const $crate::EnvoyBuffer,
            _data_count: usize,
            _end_stream: bool,
        ) {
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn envoy_dynamic_module_on_http_filter_config_http_stream_trailers(
            _config_envoy: *mut ::std::ffi::c_void,
            _config_module: *const ::std::ffi::c_void,
            _stream: u64,
            _trailers: *mut $crate::HttpHeader,
            _trailers_size: usize,
        ) {
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn envoy_dynamic_module_on_http_filter_config_http_stream_complete(
            _config_envoy: *mut ::std::ffi::c_void,
            _config_module: *const ::std::ffi::c_void,
            _stream: u64,
        ) {
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn envoy_dynamic_module_on_http_filter_config_http_stream_reset(
            _config_envoy: *mut ::std::ffi::c_void,
            _config_module: *const ::std::ffi::c_void,
            _stream: u64,
            _reason: u32,
        ) {
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(
            _filter: *mut ::std::ffi::c_void,
            _module: *const ::std::ffi::c_void,
        ) {
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(
            _filter: *mut ::std::ffi::c_void,
            _module: *const ::std::ffi::c_void,
        ) {
        }
    };
}
