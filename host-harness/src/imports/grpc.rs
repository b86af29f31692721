//! ABI section "gRPC calls": `proxy_grpc_call`, `proxy_grpc_stream`, `proxy_grpc_send`,
//! `proxy_grpc_cancel`, `proxy_grpc_close`. Calls are recorded for the scenario; an unknown
//! cluster is PARSE_FAILURE, as in Envoy (`Context::grpcCall`). Call tokens are odd, stream
//! tokens even, like Envoy's.

use wasmtime::{Caller, Linker};

use super::{Allowed, guard};
use crate::abi::Status;
use crate::callouts::GrpcCall;
use crate::error::{HostResult, into_wasm};
use crate::state::HostState;
use crate::{memory, pairs};

type Span = (i32, i32);

pub(crate) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_grpc_call",
        |mut c: Caller<'_, HostState>,
         up: i32,
         upl: i32,
         sp: i32,
         sl: i32,
         mp: i32,
         ml: i32,
         hp: i32,
         hl: i32,
         msg: i32,
         msgl: i32,
         timeout: i32,
         token_ptr: i32| {
            into_wasm(open(&mut c, (up, upl), (sp, sl), (mp, ml), (hp, hl), Some(((msg, msgl), timeout)), token_ptr))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_grpc_stream",
        |mut c: Caller<'_, HostState>,
         up: i32,
         upl: i32,
         sp: i32,
         sl: i32,
         mp: i32,
         ml: i32,
         hp: i32,
         hl: i32,
         token_ptr: i32| { into_wasm(open(&mut c, (up, upl), (sp, sl), (mp, ml), (hp, hl), None, token_ptr)) },
    )?;
    linker.func_wrap(
        "env",
        "proxy_grpc_send",
        |mut c: Caller<'_, HostState>, token: i32, mp: i32, ml: i32, _end: i32| {
            into_wasm(send(&mut c, token as u32, (mp, ml)))
        },
    )?;
    linker.func_wrap("env", "proxy_grpc_cancel", |mut c: Caller<'_, HostState>, token: i32| {
        into_wasm(finish(&mut c, "proxy_grpc_cancel", token as u32, true))
    })?;
    linker.func_wrap("env", "proxy_grpc_close", |mut c: Caller<'_, HostState>, token: i32| {
        into_wasm(finish(&mut c, "proxy_grpc_close", token as u32, false))
    })?;
    Ok(())
}

fn open(
    c: &mut Caller<'_, HostState>,
    upstream: Span,
    service: Span,
    method: Span,
    metadata: Span,
    call: Option<(Span, i32)>,
    token_ptr: i32,
) -> HostResult {
    let name = if call.is_some() { "proxy_grpc_call" } else { "proxy_grpc_stream" };
    guard(c, name, Allowed::Callbacks)?;
    let upstream = memory::read(c, upstream.0, upstream.1)?;
    let service = memory::read_string(c, service.0, service.1)?;
    let method = memory::read_string(c, method.0, method.1)?;
    let initial_metadata = pairs::decode_text(&memory::read(c, metadata.0, metadata.1)?)?;
    let (messages, timeout_ms) = match call {
        Some((msg, timeout)) => (vec![memory::read(c, msg.0, msg.1)?], u32::try_from(timeout).ok()),
        None => (Vec::new(), None),
    };
    let state = c.data_mut();
    let cluster = String::from_utf8_lossy(&upstream).into_owned();
    if state.clusters.as_ref().is_some_and(|known| !known.contains(&cluster)) {
        return Err(Status::ParseFailure.into());
    }
    let root = state.plugin_of(state.current).map_or(state.current, |(id, _)| id);
    let token = if call.is_some() {
        let t = state.callouts.next_grpc_call;
        state.callouts.next_grpc_call = t.wrapping_add(2);
        t
    } else {
        let t = state.callouts.next_grpc_stream;
        state.callouts.next_grpc_stream = t.wrapping_add(2);
        t
    };
    let now = state.clock.monotonic;
    // Streams are left to the scenario; calls are answered by the script when there is one.
    let (rule, unmatched) = if call.is_some() {
        state.callouts.dispatch_grpc(token, &cluster, &service, &method, now)
    } else {
        (None, false)
    };
    state.callouts.grpc.push(GrpcCall {
        token,
        context_id: root,
        upstream,
        service,
        method,
        initial_metadata,
        messages,
        timeout_ms,
        streaming: call.is_none(),
        cancelled: false,
        closed: false,
        dispatched_at_nanos: now,
        status: None,
        answered_at_nanos: None,
        rule,
        unmatched,
    });
    memory::write_u32(c, token_ptr, token)
}

fn send(c: &mut Caller<'_, HostState>, token: u32, message: Span) -> HostResult {
    guard(c, "proxy_grpc_send", Allowed::Callbacks)?;
    let message = memory::read(c, message.0, message.1)?;
    // Envoy `Context::grpcSend`: a call token (odd) is BAD_ARGUMENT, an unknown stream NOT_FOUND.
    if token % 2 == 1 {
        return Err(Status::BadArgument.into());
    }
    let call = c.data_mut().callouts.grpc.iter_mut().find(|g| g.token == token && g.streaming && !g.closed);
    call.ok_or(Status::NotFound)?.messages.push(message);
    Ok(())
}

fn finish(c: &mut Caller<'_, HostState>, name: &str, token: u32, cancel: bool) -> HostResult {
    guard(c, name, Allowed::Callbacks)?;
    let call = c.data_mut().callouts.grpc.iter_mut().find(|g| g.token == token).ok_or(Status::NotFound)?;
    if cancel {
        call.cancelled = true;
    }
    call.closed = true;
    Ok(())
}
