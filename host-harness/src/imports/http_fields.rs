//! ABI section "HTTP fields": the header and trailer maps, with Envoy's availability rules
//! (envoy `source/extensions/common/wasm/context.cc`, `getMap`/`getConstMap`):
//! - a stream's map is visible to the callback that handles it until that callback returns
//!   Continue; reads of an unavailable map give an empty pair list, value reads BAD_ARGUMENT
//!   (NOT_FOUND in the access-log phase), and changes BAD_ARGUMENT;
//! - in `on_log` the logged request and response maps are readable, not writable;
//! - call-response maps are visible while `on_http_call_response` runs.
//!
//! Names are lowercased on every change; a value read returns the first value only.

use wasmtime::{Caller, Linker};

use super::{Allowed, guard};
use crate::abi::{MapType, Status};
use crate::error::{HostError, HostResult, into_wasm};
use crate::state::HostState;
use crate::stream::Headers;
use crate::{memory, pairs};

pub(crate) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap("env", "proxy_get_header_map_size", |mut c: Caller<'_, HostState>, map: i32, ret: i32| {
        into_wasm(get_size(&mut c, map, ret))
    })?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_pairs",
        |mut c: Caller<'_, HostState>, map: i32, ptr_ptr: i32, size_ptr: i32| {
            into_wasm(get_pairs(&mut c, map, ptr_ptr, size_ptr))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_header_map_pairs",
        |mut c: Caller<'_, HostState>, map: i32, ptr: i32, len: i32| into_wasm(set_pairs(&mut c, map, ptr, len)),
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_value",
        |mut c: Caller<'_, HostState>, map: i32, kp: i32, kl: i32, ptr_ptr: i32, size_ptr: i32| {
            into_wasm(get_value(&mut c, map, kp, kl, ptr_ptr, size_ptr))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_add_header_map_value",
        |mut c: Caller<'_, HostState>, map: i32, kp: i32, kl: i32, vp: i32, vl: i32| {
            into_wasm(modify(&mut c, "proxy_add_header_map_value", map, kp, kl, Some((vp, vl)), Edit::Add))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_replace_header_map_value",
        |mut c: Caller<'_, HostState>, map: i32, kp: i32, kl: i32, vp: i32, vl: i32| {
            into_wasm(modify(&mut c, "proxy_replace_header_map_value", map, kp, kl, Some((vp, vl)), Edit::Replace))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_remove_header_map_value",
        |mut c: Caller<'_, HostState>, map: i32, kp: i32, kl: i32| {
            into_wasm(modify(&mut c, "proxy_remove_header_map_value", map, kp, kl, None, Edit::Remove))
        },
    )?;
    Ok(())
}

/// A map as `getConstMap` sees it; `None` when Envoy's pointer is null.
fn readable(state: &HostState, map: MapType) -> Option<&Headers> {
    match map {
        MapType::HttpCallResponseHeaders => state.callouts.current_response.as_ref().map(|r| &r.headers),
        MapType::HttpCallResponseTrailers => state.callouts.current_response.as_ref().map(|r| &r.trailers),
        MapType::GrpcInitialMetadata | MapType::GrpcTrailingMetadata => state.callouts.current_grpc_metadata.as_ref(),
        _ => {
            let s = state.streams.get(&state.current)?;
            let log = s.access_log_phase;
            match map {
                MapType::RequestHeaders => (log || s.visible.request_headers).then_some(&s.request_headers),
                MapType::RequestTrailers if log => None,
                MapType::RequestTrailers => s.visible.request_trailers.then_some(s.request_trailers.as_ref()).flatten(),
                MapType::ResponseHeaders => {
                    (log || s.visible.response_headers).then_some(s.response_headers.as_ref()).flatten()
                }
                MapType::ResponseTrailers => {
                    (log || s.visible.response_trailers).then_some(s.response_trailers.as_ref()).flatten()
                }
                _ => None,
            }
        }
    }
}

/// A map as `getMap` sees it (writable stream maps only); `None` when unavailable.
fn writable(state: &mut HostState, map: MapType) -> Option<&mut Headers> {
    let s = state.streams.get_mut(&state.current)?;
    let v = s.visible;
    match map {
        MapType::RequestHeaders if v.request_headers => Some(&mut s.request_headers),
        // Envoy adds request trailers on demand from a body callback at end of stream.
        MapType::RequestTrailers if v.request_trailers || (v.request_body && s.end_of_stream) => {
            Some(s.request_trailers.get_or_insert_with(Vec::new))
        }
        MapType::ResponseHeaders if v.response_headers => s.response_headers.as_mut(),
        MapType::ResponseTrailers if v.response_trailers || (v.response_body && s.end_of_stream) => {
            Some(s.response_trailers.get_or_insert_with(Vec::new))
        }
        _ => None,
    }
}

fn map_type(raw: i32) -> HostResult<MapType> {
    MapType::from_raw(raw as u32).ok_or(HostError::Status(Status::BadArgument))
}

fn get_size(c: &mut Caller<'_, HostState>, map: i32, ret: i32) -> HostResult {
    guard(c, "proxy_get_header_map_size", Allowed::Callbacks)?;
    let map = map_type(map)?;
    let size: usize =
        writable(c.data_mut(), map).ok_or(Status::BadArgument)?.iter().map(|(k, v)| k.len() + v.len()).sum();
    memory::write_u32(c, ret, u32::try_from(size).unwrap_or(u32::MAX))
}

fn get_pairs(c: &mut Caller<'_, HostState>, map: i32, ptr_ptr: i32, size_ptr: i32) -> HostResult {
    guard(c, "proxy_get_header_map_pairs", Allowed::Callbacks)?;
    let map = map_type(map)?;
    // cpp-host `getPairs` returns an empty map as pointer 0, size 0.
    let bytes = readable(c.data(), map).filter(|h| !h.is_empty()).map(|h| pairs::encode(h)).unwrap_or_default();
    memory::give(c, &bytes, ptr_ptr, size_ptr)
}

fn set_pairs(c: &mut Caller<'_, HostState>, map: i32, ptr: i32, len: i32) -> HostResult {
    guard(c, "proxy_set_header_map_pairs", Allowed::Callbacks)?;
    let map = map_type(map)?;
    let new = pairs::decode_text(&memory::read(c, ptr, len)?)?;
    let target = writable(c.data_mut(), map).ok_or(Status::BadArgument)?;
    *target = new.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
    Ok(())
}

fn get_value(c: &mut Caller<'_, HostState>, map: i32, kp: i32, kl: i32, ptr_ptr: i32, size_ptr: i32) -> HostResult {
    guard(c, "proxy_get_header_map_value", Allowed::Callbacks)?;
    let map = map_type(map)?;
    let key = memory::read_string(c, kp, kl)?.to_ascii_lowercase();
    let state = c.data();
    let Some(headers) = readable(state, map) else {
        let log = state.streams.get(&state.current).is_some_and(|s| s.access_log_phase);
        return Err(if log { Status::NotFound } else { Status::BadArgument }.into());
    };
    let value = headers.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()).ok_or(Status::NotFound)?;
    memory::give(c, value.as_bytes(), ptr_ptr, size_ptr)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edit {
    Add,
    Replace,
    Remove,
}

fn modify(
    c: &mut Caller<'_, HostState>,
    name: &str,
    map: i32,
    kp: i32,
    kl: i32,
    value: Option<(i32, i32)>,
    edit: Edit,
) -> HostResult {
    guard(c, name, Allowed::Callbacks)?;
    let map = map_type(map)?;
    let key = memory::read_string(c, kp, kl)?.to_ascii_lowercase();
    let value = match value {
        Some((vp, vl)) => memory::read_string(c, vp, vl)?,
        None => String::new(),
    };
    let headers = writable(c.data_mut(), map).ok_or(Status::BadArgument)?;
    match edit {
        Edit::Add => headers.push((key, value)),
        Edit::Remove => headers.retain(|(k, _)| *k != key),
        // Envoy's `HeaderMapImpl::setCopy` since 1.16 (`http_set_copy_replace_all_headers`, whose
        // legacy in-place path is gone): every entry of the name goes, then the new one is added
        // where `HeaderList` adds: a pseudo-header after the other pseudo-headers, any other
        // header at the end. Seen in Envoy 1.40: a header a filter sets again moves to the end.
        Edit::Replace => {
            headers.retain(|(k, _)| *k != key);
            let at = if key.starts_with(':') {
                headers.iter().take_while(|(k, _)| k.starts_with(':')).count()
            } else {
                headers.len()
            };
            headers.insert(at, (key, value));
        }
    }
    Ok(())
}
