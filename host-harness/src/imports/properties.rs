//! ABI section "Properties": `proxy_get_property`, `proxy_set_property`. Paths are segments
//! joined by NUL bytes; values use Envoy's encodings (see [`crate::properties`]).

use proxy_wasm_abi::property;
use wasmtime::{Caller, Linker};

use super::{Allowed, guard};
use crate::abi::Status;
use crate::error::{HostResult, into_wasm};
use crate::memory;
use crate::properties::{Facts, StreamFacts};
use crate::state::HostState;
use crate::stream::Stream;

pub(crate) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_property",
        |mut c: Caller<'_, HostState>, pp: i32, pl: i32, ptr_ptr: i32, size_ptr: i32| {
            into_wasm(get(&mut c, (pp, pl), ptr_ptr, size_ptr))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_property",
        |mut c: Caller<'_, HostState>, pp: i32, pl: i32, vp: i32, vl: i32| into_wasm(set(&mut c, (pp, pl), (vp, vl))),
    )?;
    Ok(())
}

fn segments(bytes: &[u8]) -> Vec<String> {
    property::segments(bytes).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
}

fn get(c: &mut Caller<'_, HostState>, path: (i32, i32), ptr_ptr: i32, size_ptr: i32) -> HostResult {
    guard(c, "proxy_get_property", Allowed::Callbacks)?;
    let path = segments(&memory::read(c, path.0, path.1)?);
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    let value = {
        let state = c.data();
        let (_, plugin) = state.plugin_of(state.current).ok_or(Status::NotFound)?;
        let stream = state.streams.get(&state.current);
        let facts = Facts {
            plugin_name: &plugin.name,
            plugin_root_id: &plugin.root_id,
            plugin_vm_id: &plugin.vm_id,
            stream: stream.map(|s| stream_facts(state.current, s, state.clock.realtime)),
        };
        let properties = stream.map_or(&state.properties, |s| &s.properties);
        properties.get(&path, &facts)?
    };
    memory::give(c, &value, ptr_ptr, size_ptr)
}

fn set(c: &mut Caller<'_, HostState>, path: (i32, i32), value: (i32, i32)) -> HostResult {
    guard(c, "proxy_set_property", Allowed::Callbacks)?;
    let path = segments(&memory::read(c, path.0, path.1)?);
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    let value = memory::read(c, value.0, value.1)?;
    let state = c.data_mut();
    let current = state.current;
    // Envoy keeps guest-set properties in the stream's filter state; the root context has none.
    match state.streams.get_mut(&current) {
        Some(s) => s.properties.set_by_guest(&path, &value)?,
        None => return Err(Status::NotFound.into()),
    }
    Ok(())
}

/// What the properties model needs to know about a stream right now. Header lists are the ones
/// Envoy's filter can see at this moment (its map pointers): during their own callback, while
/// paused there, and in the access-log phase.
pub(crate) fn stream_facts(context_id: u32, s: &Stream, now: u64) -> StreamFacts<'_> {
    let log = s.access_log_phase;
    StreamFacts {
        context_id,
        request_headers: if log || s.visible.request_headers { &s.request_headers } else { &[] },
        response_headers: s.response_headers.as_deref().filter(|_| log || s.visible.response_headers),
        response_trailers: s.response_trailers.as_deref().filter(|_| log || s.visible.response_trailers),
        request_start_nanos: i64::try_from(s.start_nanos).unwrap_or(i64::MAX),
        now_nanos: i64::try_from(now).unwrap_or(i64::MAX),
        request_body_bytes: s.request_body_bytes,
        response_body_bytes: s.response_body_bytes,
        response_code: s.response_code,
        response_code_details: s.response_code_details(),
        complete: s.complete || log,
        protocol: "HTTP/1.1",
    }
}
