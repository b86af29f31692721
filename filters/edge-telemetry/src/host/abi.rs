//! Raw `env` imports of proxy-wasm ABI v0.2.1, with exact signatures, and safe shims over them.
//!
//! This is the only place with `unsafe`: pointers handed to the host point at live locals, and
//! memory the host returns was allocated through the module's own `proxy_on_memory_allocate`
//! (exported by the SDK) with exactly `size` bytes, so it is reclaimed with
//! `Vec::from_raw_parts(ptr, size, size)`, as the SDK itself does.
#![allow(unsafe_code)]

use std::ptr::null_mut;

use proxy_wasm_abi::{Failure, Status};

/// `Ok` for `OK`, the host's status otherwise.
pub(super) fn check(status: u32) -> Result<(), Failure> {
    Status::check(status)
}

#[link(wasm_import_module = "env")]
unsafe extern "C" {
    fn proxy_log(level: u32, message: *const u8, size: usize) -> u32;
    fn proxy_get_log_level(level: *mut u32) -> u32;
    fn proxy_get_current_time_nanoseconds(time: *mut u64) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_get_buffer_bytes(kind: u32, start: usize, max: usize, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_get_header_map_pairs(map: u32, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_get_header_map_value(
        map: u32,
        key: *const u8,
        key_size: usize,
        data: *mut *mut u8,
        size: *mut usize,
    ) -> u32;
    fn proxy_replace_header_map_value(
        map: u32,
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_remove_header_map_value(map: u32, key: *const u8, key_size: usize) -> u32;
    fn proxy_get_property(path: *const u8, path_size: usize, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_define_metric(kind: u32, name: *const u8, name_size: usize, id: *mut u32) -> u32;
    fn proxy_increment_metric(id: u32, delta: i64) -> u32;
    fn proxy_record_metric(id: u32, value: u64) -> u32;
    fn proxy_get_shared_data(
        key: *const u8,
        key_size: usize,
        data: *mut *mut u8,
        size: *mut usize,
        cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(key: *const u8, key_size: usize, value: *const u8, value_size: usize, cas: u32) -> u32;
    fn proxy_register_shared_queue(name: *const u8, name_size: usize, queue_id: *mut u32) -> u32;
    fn proxy_enqueue_shared_queue(queue_id: u32, value: *const u8, value_size: usize) -> u32;
    fn proxy_dequeue_shared_queue(queue_id: u32, data: *mut *mut u8, size: *mut usize) -> u32;
    #[allow(clippy::too_many_arguments)]
    fn proxy_send_local_response(
        status_code: u32,
        details: *const u8,
        details_size: usize,
        body: *const u8,
        body_size: usize,
        headers: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
}

pub(super) fn log(level: u32, message: &[u8]) -> u32 {
    unsafe { proxy_log(level, message.as_ptr(), message.len()) }
}

pub(super) fn get_log_level(level: &mut u32) -> u32 {
    unsafe { proxy_get_log_level(level) }
}

pub(super) fn get_current_time_nanoseconds(time: &mut u64) -> u32 {
    unsafe { proxy_get_current_time_nanoseconds(time) }
}

pub(super) fn set_tick_period_milliseconds(period: u32) -> u32 {
    unsafe { proxy_set_tick_period_milliseconds(period) }
}

pub(super) fn get_buffer_bytes(kind: u32, start: usize, max: usize) -> Result<Vec<u8>, Failure> {
    returned(|data, size| unsafe { proxy_get_buffer_bytes(kind, start, max, data, size) })
}

pub(super) fn get_header_map_pairs(map: u32) -> Result<Vec<u8>, Failure> {
    returned(|data, size| unsafe { proxy_get_header_map_pairs(map, data, size) })
}

pub(super) fn get_header_map_value(map: u32, key: &[u8]) -> Result<Vec<u8>, Failure> {
    returned(|data, size| unsafe { proxy_get_header_map_value(map, key.as_ptr(), key.len(), data, size) })
}

pub(super) fn replace_header_map_value(map: u32, key: &[u8], value: &[u8]) -> u32 {
    unsafe { proxy_replace_header_map_value(map, key.as_ptr(), key.len(), value.as_ptr(), value.len()) }
}

pub(super) fn remove_header_map_value(map: u32, key: &[u8]) -> u32 {
    unsafe { proxy_remove_header_map_value(map, key.as_ptr(), key.len()) }
}

pub(super) fn get_property(path: &[u8]) -> Result<Vec<u8>, Failure> {
    returned(|data, size| unsafe { proxy_get_property(path.as_ptr(), path.len(), data, size) })
}

pub(super) fn define_metric(kind: u32, name: &[u8], id: &mut u32) -> u32 {
    unsafe { proxy_define_metric(kind, name.as_ptr(), name.len(), id) }
}

pub(super) fn increment_metric(id: u32, delta: i64) -> u32 {
    unsafe { proxy_increment_metric(id, delta) }
}

pub(super) fn record_metric(id: u32, value: u64) -> u32 {
    unsafe { proxy_record_metric(id, value) }
}

pub(super) fn get_shared_data(key: &[u8], cas: &mut u32) -> Result<Vec<u8>, Failure> {
    returned(|data, size| unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), data, size, cas) })
}

pub(super) fn set_shared_data(key: &[u8], value: &[u8], cas: u32) -> u32 {
    unsafe { proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas) }
}

pub(super) fn register_shared_queue(name: &[u8], queue_id: &mut u32) -> u32 {
    unsafe { proxy_register_shared_queue(name.as_ptr(), name.len(), queue_id) }
}

pub(super) fn enqueue_shared_queue(queue_id: u32, value: &[u8]) -> u32 {
    unsafe { proxy_enqueue_shared_queue(queue_id, value.as_ptr(), value.len()) }
}

pub(super) fn dequeue_shared_queue(queue_id: u32) -> Result<Vec<u8>, Failure> {
    returned(|data, size| unsafe { proxy_dequeue_shared_queue(queue_id, data, size) })
}

pub(super) fn send_local_response(status: u32, details: &[u8], body: &[u8], headers: &[u8]) -> u32 {
    // -1: not a gRPC reply (Envoy sends no `grpc-status`).
    unsafe {
        proxy_send_local_response(
            status,
            details.as_ptr(),
            details.len(),
            body.as_ptr(),
            body.len(),
            headers.as_ptr(),
            headers.len(),
            -1,
        )
    }
}

/// Runs a hostcall that returns host-allocated bytes and takes ownership of them.
fn returned(call: impl FnOnce(*mut *mut u8, *mut usize) -> u32) -> Result<Vec<u8>, Failure> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    check(call(&mut data, &mut size))?;
    if data.is_null() || size == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: the host allocated exactly `size` bytes at `data` with the module's allocator
    // (proxy-wasm ABI: "memory allocated using proxy_on_memory_allocate") and gave us ownership.
    Ok(unsafe { Vec::from_raw_parts(data, size, size) })
}
