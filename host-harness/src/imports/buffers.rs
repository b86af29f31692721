//! ABI section "Buffers": `proxy_get_buffer_bytes`, `proxy_set_buffer_bytes`,
//! `proxy_get_buffer_status`, with Envoy's rules (cpp-host `exports.cc`, Envoy `Buffer::copyFrom`).

use wasmtime::{Caller, Linker};

use super::{Allowed, guard};
use crate::abi::{BufferType, Status};
use crate::error::{HostError, HostResult, into_wasm};
use crate::memory;
use crate::state::HostState;

pub(crate) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_buffer_bytes",
        |mut c: Caller<'_, HostState>, kind: i32, start: i32, max: i32, ptr_ptr: i32, size_ptr: i32| {
            into_wasm(get_bytes(&mut c, kind, start as u32 as usize, max as u32 as usize, ptr_ptr, size_ptr))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_buffer_bytes",
        |mut c: Caller<'_, HostState>, kind: i32, start: i32, size: i32, ptr: i32, len: i32| {
            into_wasm(set_bytes(&mut c, kind, start as u32 as usize, size as u32 as usize, ptr, len))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_buffer_status",
        |mut c: Caller<'_, HostState>, kind: i32, size_ptr: i32, flags_ptr: i32| {
            into_wasm(get_status(&mut c, kind, size_ptr, flags_ptr))
        },
    )?;
    Ok(())
}

fn kind(raw: i32) -> HostResult<BufferType> {
    BufferType::from_raw(raw as u32).ok_or(HostError::Status(Status::BadArgument))
}

/// The buffer as the current callback sees it; `None` when Envoy has none (NOT_FOUND).
fn buffer(state: &HostState, kind: BufferType) -> Option<&[u8]> {
    let stream = state.streams.get(&state.current);
    match kind {
        BufferType::VmConfiguration => Some(&state.vm_config),
        BufferType::PluginConfiguration => {
            state.configuring.and_then(|id| state.plugins.get(&id)).map(|p| p.configuration.as_slice())
        }
        // Envoy's body buffers are never null: outside their callback they read as empty.
        BufferType::HttpRequestBody => {
            Some(stream.filter(|s| s.visible.request_body).map_or(&[][..], |s| s.request_body.as_slice()))
        }
        BufferType::HttpResponseBody => {
            Some(stream.filter(|s| s.visible.response_body).map_or(&[][..], |s| s.response_body.as_slice()))
        }
        BufferType::HttpCallResponseBody => state.callouts.current_response.as_ref().map(|r| r.body.as_slice()),
        BufferType::GrpcCallMessage => state.callouts.current_grpc_message.as_deref(),
        BufferType::ForeignFunctionArguments => Some(&state.foreign_args),
        BufferType::DownstreamData | BufferType::UpstreamData => None,
    }
}

fn get_bytes(
    c: &mut Caller<'_, HostState>,
    kind_raw: i32,
    start: usize,
    max: usize,
    ptr_ptr: i32,
    size_ptr: i32,
) -> HostResult {
    guard(c, "proxy_get_buffer_bytes", Allowed::Callbacks)?;
    let data = buffer(c.data(), kind(kind_raw)?).ok_or(Status::NotFound)?;
    let end = start.checked_add(max).ok_or(Status::BadArgument)?.min(data.len());
    let bytes = data.get(start.min(end)..end).unwrap_or_default().to_vec();
    memory::give(c, &bytes, ptr_ptr, size_ptr)
}

/// Envoy accepts only: prepend (start 0, size 0), replace all (start 0, size >= length) and
/// append (start >= length); anything else is BAD_ARGUMENT. Only body buffers are writable.
fn set_bytes(
    c: &mut Caller<'_, HostState>,
    kind_raw: i32,
    start: usize,
    size: usize,
    ptr: i32,
    len: i32,
) -> HostResult {
    guard(c, "proxy_set_buffer_bytes", Allowed::Callbacks)?;
    let kind = kind(kind_raw)?;
    let value = memory::read(c, ptr, len)?;
    let state = c.data_mut();
    let current = state.current;
    let stream = state.streams.get_mut(&current);
    let target = match (kind, stream) {
        (BufferType::HttpRequestBody, Some(s)) if s.visible.request_body => &mut s.request_body,
        (BufferType::HttpResponseBody, Some(s)) if s.visible.response_body => &mut s.response_body,
        (BufferType::HttpRequestBody | BufferType::HttpResponseBody, _) => return Err(Status::NotFound.into()),
        _ => return Err(Status::BadArgument.into()),
    };
    if start == 0 && size == 0 {
        let mut new = value;
        new.extend_from_slice(target);
        *target = new;
    } else if start == 0 && size >= target.len() {
        *target = value;
    } else if start >= target.len() {
        target.extend_from_slice(&value);
    } else {
        return Err(Status::BadArgument.into());
    }
    Ok(())
}

fn get_status(c: &mut Caller<'_, HostState>, kind_raw: i32, size_ptr: i32, flags_ptr: i32) -> HostResult {
    guard(c, "proxy_get_buffer_status", Allowed::Callbacks)?;
    let len = buffer(c.data(), kind(kind_raw)?).ok_or(Status::NotFound)?.len();
    memory::write_u32(c, size_ptr, u32::try_from(len).unwrap_or(u32::MAX))?;
    memory::write_u32(c, flags_ptr, 0)
}
