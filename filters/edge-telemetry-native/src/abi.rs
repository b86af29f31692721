//! The Envoy dynamic-module ABI this module uses: the C types and the callbacks Envoy exports,
//! declared by hand, and safe wrappers around each callback.
//!
//! The C types and raw declarations are `dynamic-module-abi`'s (where the header version and
//! how it was checked are written down).
//!
//! Every callback here takes a pointer Envoy gave the module. [`Filter`] and [`Config`] wrap
//! those pointers; they are made only in `ffi.rs`, from the arguments of an event hook, which is
//! what makes the wrappers safe to call.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_void};
use std::ptr;

use dynamic_module_abi::raw::*;
pub use dynamic_module_abi::{
    ABI_VERSION, BodyType, CONTINUE, EnvoyBuffer, HeaderType, HttpHeader, LogLevel, ModuleBuffer,
};

/// `envoy_dynamic_module_type_http_callout_result_Success`.
pub const CALLOUT_SUCCESS: u32 = 0;
/// `envoy_dynamic_module_type_http_callout_init_result_Success`.
const CALLOUT_INIT_SUCCESS: u32 = 0;
/// `envoy_dynamic_module_type_metrics_result_Success`.
const METRICS_SUCCESS: u32 = 0;

/// A pointer to Envoy's `DynamicModuleHttpFilter`, valid during the hook that passed it.
#[derive(Debug, Clone, Copy)]
pub struct Filter(pub(crate) *mut c_void);

/// A pointer to Envoy's `DynamicModuleHttpFilterConfig`, valid until the module's config is
/// destroyed (`envoy_dynamic_module_on_http_filter_config_destroy`).
#[derive(Debug, Clone, Copy)]
pub struct Config(pub(crate) *mut c_void);

// SAFETY: Envoy's filter config outlives the module's config, and the module calls on other
// threads only the config callbacks the header documents as callable from any thread (metric
// updates, `scheduler_commit`); main-thread-only ones (callouts) are made in main-thread hooks.
unsafe impl Send for Config {}
// SAFETY: see `Send`; the module never mutates through the pointer itself.
unsafe impl Sync for Config {}

/// A config scheduler (`envoy_dynamic_module_type_http_filter_config_scheduler_module_ptr`).
#[derive(Debug)]
pub struct Scheduler(*mut c_void);

// SAFETY: the header: "The scheduler is used to dispatch HTTP filter configuration operations to
// the main thread from any thread including the ones managed by the module."
unsafe impl Send for Scheduler {}
// SAFETY: as for `Send`; `commit` takes `&self` and Envoy posts to the main dispatcher.
unsafe impl Sync for Scheduler {}

/// A module buffer over `bytes` (valid while `bytes` is).
fn buffer(bytes: &[u8]) -> ModuleBuffer {
    ModuleBuffer { ptr: bytes.as_ptr().cast(), length: bytes.len() }
}

/// The bytes of an Envoy buffer, copied (empty for a null buffer).
fn copy(buffer: EnvoyBuffer) -> Vec<u8> {
    if buffer.ptr.is_null() || buffer.length == 0 {
        return Vec::new();
    }
    // SAFETY: Envoy hands out `length` readable bytes at `ptr`, valid until the hook returns;
    // they are copied before it does.
    unsafe { std::slice::from_raw_parts(buffer.ptr.cast::<u8>(), buffer.length) }.to_vec()
}

/// `length` bytes Envoy owns at `ptr`, lent for as long as the caller says they stay (empty for
/// a null pointer).
///
/// # Safety
/// A non-null `ptr` points to `length` readable bytes that stay unchanged for `'a`.
unsafe fn lend<'a>(ptr: *const c_char, length: usize) -> &'a [u8] {
    if ptr.is_null() || length == 0 {
        return &[];
    }
    // SAFETY: per the contract.
    unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), length) }
}

/// Module headers over borrowed pairs (valid while `pairs` is).
fn module_headers(pairs: &[(&str, &str)]) -> Vec<HttpHeader> {
    pairs
        .iter()
        .map(|(k, v)| HttpHeader {
            key_ptr: k.as_ptr().cast(),
            key_length: k.len(),
            value_ptr: v.as_ptr().cast(),
            value_length: v.len(),
        })
        .collect()
}

/// Writes one line to Envoy's log under the `dynamic_modules` logger.
pub fn log(level: LogLevel, message: &str) {
    // SAFETY: the buffer points into `message`, alive for the call; Envoy copies it.
    unsafe { envoy_dynamic_module_callback_log(level as u32, buffer(message.as_bytes())) }
}

/// Whether Envoy's `dynamic_modules` logger writes lines of `level`.
pub fn log_enabled(level: LogLevel) -> bool {
    // SAFETY: takes a value only.
    unsafe { envoy_dynamic_module_callback_log_enabled(level as u32) }
}

/// The number of worker threads (main thread only: called from `config_new`).
pub fn concurrency() -> u32 {
    // SAFETY: takes nothing; the caller is on the main thread (config_new).
    unsafe { envoy_dynamic_module_callback_get_concurrency() }
}

/// Headers [`Filter::with_headers`] reads without a heap buffer.
pub const STACK_HEADERS: usize = 32;

impl Filter {
    /// Calls `read` with every header of a map as name/value byte slices lent from Envoy's map,
    /// not copied. `read` must not change that map: a write may free the entries lent.
    ///
    /// Envoy writes the entries into a buffer of ours: on the stack for up to [`STACK_HEADERS`]
    /// headers (a request's usual count), on the heap beyond.
    pub fn with_headers<R>(
        self,
        map: HeaderType,
        read: impl for<'h> FnOnce(&mut dyn Iterator<Item = (&'h [u8], &'h [u8])>) -> R,
    ) -> R {
        // SAFETY: `self` is the live filter of the current hook.
        let n = unsafe { envoy_dynamic_module_callback_http_get_headers_size(self.0, map as u32) };
        let empty = HttpHeader { key_ptr: ptr::null(), key_length: 0, value_ptr: ptr::null(), value_length: 0 };
        let mut stack = [empty; STACK_HEADERS];
        let mut heap = Vec::new();
        let raw: &mut [HttpHeader] = match stack.get_mut(..n) {
            Some(raw) => raw,
            None => {
                heap.resize(n, empty);
                &mut heap
            }
        };
        // SAFETY: `raw` holds `n` entries, the size Envoy just reported for this map.
        if n == 0 || !unsafe { envoy_dynamic_module_callback_http_get_headers(self.0, map as u32, raw.as_mut_ptr()) } {
            return read(&mut std::iter::empty());
        }
        let mut pairs = raw.iter().map(|h| {
            // SAFETY: Envoy's entries stay where they are until the map changes or the hook
            // returns; `read` changes no map (its contract) and returns within the hook.
            unsafe { (lend(h.key_ptr, h.key_length), lend(h.value_ptr, h.value_length)) }
        });
        read(&mut pairs)
    }

    /// The first value of a header, copied.
    pub fn header(self, map: HeaderType, name: &str) -> Option<Vec<u8>> {
        let mut result = EnvoyBuffer { ptr: ptr::null(), length: 0 };
        let mut count = 0usize;
        // SAFETY: live filter; `name` is alive for the call; both out-pointers are valid.
        let ok = unsafe {
            envoy_dynamic_module_callback_http_get_header(
                self.0,
                map as u32,
                buffer(name.as_bytes()),
                &mut result,
                0,
                &mut count,
            )
        };
        (ok && count > 0 && !result.ptr.is_null()).then(|| copy(result))
    }

    /// Replaces every value of a header; `None` removes it.
    pub fn set_header(self, map: HeaderType, name: &str, value: Option<&str>) {
        let value = value.map_or(ModuleBuffer { ptr: ptr::null(), length: 0 }, |v| buffer(v.as_bytes()));
        // SAFETY: live filter; key and value point into strings alive for the call (a null value
        // removes the header, as the header documents).
        unsafe { envoy_dynamic_module_callback_http_set_header(self.0, map as u32, buffer(name.as_bytes()), value) };
    }

    /// Answers the request locally.
    pub fn send_response(self, status: u16, headers: &[(&str, &str)], body: &[u8], details: &str) {
        let mut headers = module_headers(headers);
        // SAFETY: live filter; the header array and every buffer are alive for the call.
        unsafe {
            envoy_dynamic_module_callback_http_send_response(
                self.0,
                u32::from(status),
                headers.as_mut_ptr(),
                headers.len(),
                buffer(body),
                buffer(details.as_bytes()),
            );
        }
    }

    /// The size of the body chunk the current body hook received.
    pub fn received_body_size(self, body: BodyType) -> usize {
        // SAFETY: live filter.
        unsafe { envoy_dynamic_module_callback_http_get_body_size(self.0, body as u32) }
    }

    /// A string attribute, copied.
    pub fn attribute_string(self, id: u32) -> Option<Vec<u8>> {
        let mut result = EnvoyBuffer { ptr: ptr::null(), length: 0 };
        // SAFETY: live filter; the out-pointer is valid.
        let ok = unsafe { envoy_dynamic_module_callback_http_filter_get_attribute_string(self.0, id, &mut result) };
        ok.then(|| copy(result))
    }

    /// An integer attribute.
    pub fn attribute_int(self, id: u32) -> Option<u64> {
        let mut result = 0u64;
        // SAFETY: live filter; the out-pointer is valid.
        let ok = unsafe { envoy_dynamic_module_callback_http_filter_get_attribute_int(self.0, id, &mut result) };
        ok.then_some(result)
    }

    /// The index of the worker thread this stream runs on.
    pub fn worker_index(self) -> u32 {
        // SAFETY: live filter.
        unsafe { envoy_dynamic_module_callback_http_filter_get_worker_index(self.0) }
    }
}

impl Config {
    /// Defines a counter (`gauge` false) or gauge with these label names; its id, or the
    /// ABI's `metrics_result` code. Envoy accepts definitions only during `config_new`.
    pub fn define_metric(self, gauge: bool, name: &str, labels: &[&str]) -> Result<usize, u32> {
        let mut names: Vec<ModuleBuffer> = labels.iter().map(|l| buffer(l.as_bytes())).collect();
        let mut id = 0usize;
        // SAFETY: live config; the name and label buffers are alive for the call; `id` is valid.
        let result = unsafe {
            let define = if gauge {
                envoy_dynamic_module_callback_http_filter_config_define_gauge
            } else {
                envoy_dynamic_module_callback_http_filter_config_define_counter
            };
            define(self.0, buffer(name.as_bytes()), names.as_mut_ptr(), names.len(), &mut id)
        };
        if result == METRICS_SUCCESS { Ok(id) } else { Err(result) }
    }

    /// Adds `value` to a counter (any thread: Envoy's counters are atomic).
    pub fn increment_counter(self, id: usize, labels: &[&str], value: u64) {
        let mut values: Vec<ModuleBuffer> = labels.iter().map(|l| buffer(l.as_bytes())).collect();
        // SAFETY: live config; the label buffers are alive for the call.
        unsafe {
            envoy_dynamic_module_callback_http_filter_config_increment_counter(
                self.0,
                id,
                values.as_mut_ptr(),
                values.len(),
                value,
            )
        };
    }

    /// Sets a gauge (any thread: Envoy's gauges are atomic).
    pub fn set_gauge(self, id: usize, labels: &[&str], value: u64) {
        let mut values: Vec<ModuleBuffer> = labels.iter().map(|l| buffer(l.as_bytes())).collect();
        // SAFETY: live config; the label buffers are alive for the call.
        unsafe {
            envoy_dynamic_module_callback_http_filter_config_set_gauge(
                self.0,
                id,
                values.as_mut_ptr(),
                values.len(),
                value,
            )
        };
    }

    /// Starts an HTTP call to `cluster` (main thread only); the callout id, or the ABI's
    /// `http_callout_init_result` code.
    pub fn http_callout(
        self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout_ms: u64,
    ) -> Result<u64, u32> {
        let mut headers = module_headers(headers);
        let mut id = 0u64;
        // SAFETY: live config, main thread (callers: the scheduled and callout-done hooks); every
        // buffer is alive for the call and Envoy copies the request.
        let result = unsafe {
            envoy_dynamic_module_callback_http_filter_config_http_callout(
                self.0,
                &mut id,
                buffer(cluster.as_bytes()),
                headers.as_mut_ptr(),
                headers.len(),
                buffer(body),
                timeout_ms,
            )
        };
        if result == CALLOUT_INIT_SUCCESS { Ok(id) } else { Err(result) }
    }

    /// A scheduler that runs `on_http_filter_config_scheduled` on the main thread.
    pub fn scheduler(self) -> Option<Scheduler> {
        // SAFETY: live config.
        let raw = unsafe { envoy_dynamic_module_callback_http_filter_config_scheduler_new(self.0) };
        (!raw.is_null()).then_some(Scheduler(raw))
    }
}

impl Scheduler {
    /// Asks Envoy to run the config's scheduled hook with `event` on the main thread.
    pub fn commit(&self, event: u64) {
        // SAFETY: the scheduler is alive until `drop`; committing is allowed from any thread.
        unsafe { envoy_dynamic_module_callback_http_filter_config_scheduler_commit(self.0, event) }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        // SAFETY: the module owns the scheduler and deletes it exactly once.
        unsafe { envoy_dynamic_module_callback_http_filter_config_scheduler_delete(self.0) }
    }
}

/// The bytes of the buffers Envoy passed to a hook (config, name, callout body), copied.
pub fn envoy_bytes(buffer: EnvoyBuffer) -> Vec<u8> {
    copy(buffer)
}

/// The `:status` of a callout answer's headers.
pub fn status_of(headers: *const HttpHeader, count: usize) -> Option<u16> {
    if headers.is_null() {
        return None;
    }
    // SAFETY: Envoy passes `count` headers at `headers`, valid for the hook.
    let headers = unsafe { std::slice::from_raw_parts(headers, count) };
    headers.iter().find_map(|h| {
        let key = copy(EnvoyBuffer { ptr: h.key_ptr, length: h.key_length });
        (key == b":status")
            .then(|| copy(EnvoyBuffer { ptr: h.value_ptr, length: h.value_length }))
            .and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok())
    })
}
