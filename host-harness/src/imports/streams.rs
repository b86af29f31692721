//! ABI section "Streams" and local responses: `proxy_continue_stream`, `proxy_close_stream`,
//! `proxy_send_local_response`, `proxy_get_status`.
//!
//! As in Envoy, continuing, closing and local replies are deferred: they take effect after the
//! current callback returns (`addAfterVmCallAction`).

use wasmtime::{Caller, Linker};

use super::{Allowed, guard};
use crate::abi::{Status, StreamType};
use crate::error::{HostResult, into_wasm};
use crate::state::HostState;
use crate::stream::LocalReply;
use crate::{memory, pairs};

pub(crate) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap("env", "proxy_continue_stream", |mut c: Caller<'_, HostState>, kind: i32| {
        into_wasm(continue_stream(&mut c, kind))
    })?;
    linker.func_wrap("env", "proxy_close_stream", |mut c: Caller<'_, HostState>, kind: i32| {
        into_wasm(close_stream(&mut c, kind))
    })?;
    linker.func_wrap(
        "env",
        "proxy_send_local_response",
        |mut c: Caller<'_, HostState>, status: i32, dp: i32, dl: i32, bp: i32, bl: i32, hp: i32, hl: i32, grpc: i32| {
            into_wasm(send_local_response(&mut c, status, (dp, dl), (bp, bl), (hp, hl), grpc))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_status",
        |mut c: Caller<'_, HostState>, code_ptr: i32, msg_ptr_ptr: i32, msg_size_ptr: i32| {
            into_wasm(get_status(&mut c, code_ptr, msg_ptr_ptr, msg_size_ptr))
        },
    )?;
    Ok(())
}

/// Envoy: request and response continue after the callback; downstream is OK; upstream is
/// UNIMPLEMENTED. Like Envoy, continuing either HTTP direction also drops the request maps.
fn continue_stream(c: &mut Caller<'_, HostState>, kind: i32) -> HostResult {
    guard(c, "proxy_continue_stream", Allowed::Callbacks)?;
    let kind = StreamType::from_raw(kind as u32).ok_or(Status::BadArgument)?;
    let state = c.data_mut();
    let current = state.current;
    match kind {
        StreamType::Downstream => return Ok(()),
        StreamType::Upstream => return Err(Status::Unimplemented.into()),
        StreamType::HttpRequest | StreamType::HttpResponse => {}
    }
    if let Some(s) = state.streams.get_mut(&current) {
        state.pending_actions.push(current);
        if kind == StreamType::HttpRequest {
            s.pending_continue.0 = true;
        } else {
            s.pending_continue.1 = true;
        }
        s.visible.request_headers = false;
        s.visible.request_body = false;
        s.visible.request_trailers = false;
    }
    Ok(())
}

fn close_stream(c: &mut Caller<'_, HostState>, kind: i32) -> HostResult {
    guard(c, "proxy_close_stream", Allowed::Callbacks)?;
    StreamType::from_raw(kind as u32).ok_or(Status::BadArgument)?;
    let state = c.data_mut();
    let current = state.current;
    if let Some(s) = state.streams.get_mut(&current) {
        s.reset = true;
    }
    Ok(())
}

fn send_local_response(
    c: &mut Caller<'_, HostState>,
    status: i32,
    details: (i32, i32),
    body: (i32, i32),
    headers: (i32, i32),
    grpc: i32,
) -> HostResult {
    guard(c, "proxy_send_local_response", Allowed::Callbacks)?;
    let details = memory::read_string(c, details.0, details.1)?;
    let body = memory::read(c, body.0, body.1)?;
    let headers = pairs::decode_text(&memory::read(c, headers.0, headers.1)?)?;
    let reply = LocalReply {
        status: u16::try_from(status).unwrap_or(500),
        // Envoy `StringUtil::replaceAllEmptySpace`.
        details: details.replace(|ch: char| ch.is_whitespace(), "_"),
        body,
        headers: headers.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect(),
        // SDKs pass -1 for "no gRPC status"; Envoy maps anything outside 0..=16 to none.
        grpc_status: u32::try_from(grpc).ok().filter(|g| *g <= 16),
    };
    let state = c.data_mut();
    let current = state.current;
    if let Some(s) = state.streams.get_mut(&current) {
        s.pending_local_reply = Some(reply);
        state.pending_actions.push(current);
    }
    Ok(())
}

fn get_status(c: &mut Caller<'_, HostState>, code_ptr: i32, msg_ptr_ptr: i32, msg_size_ptr: i32) -> HostResult {
    guard(c, "proxy_get_status", Allowed::Callbacks)?;
    let (code, message) = c.data().status.clone();
    memory::write_u32(c, code_ptr, code)?;
    memory::give(c, &message, msg_ptr_ptr, msg_size_ptr)
}
