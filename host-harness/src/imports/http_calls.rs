//! ABI section "HTTP calls": `proxy_http_call`, validated as Envoy does (`Context::httpCall`):
//! a negative timeout, an unknown cluster, or a missing `:path`, `:method` or `:authority` is
//! BAD_ARGUMENT; a timeout of 0 means none.

use wasmtime::{Caller, Linker};

use super::{Allowed, guard};
use crate::abi::Status;
use crate::callouts::{CallState, HttpCall};
use crate::error::{HostResult, into_wasm};
use crate::state::HostState;
use crate::{memory, pairs};

pub(crate) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_http_call",
        |mut c: Caller<'_, HostState>,
         up: i32,
         upl: i32,
         hp: i32,
         hl: i32,
         bp: i32,
         bl: i32,
         tp: i32,
         tl: i32,
         timeout: i32,
         token_ptr: i32| {
            into_wasm(http_call(&mut c, (up, upl), (hp, hl), (bp, bl), (tp, tl), timeout, token_ptr))
        },
    )?;
    Ok(())
}

fn http_call(
    c: &mut Caller<'_, HostState>,
    upstream: (i32, i32),
    headers: (i32, i32),
    body: (i32, i32),
    trailers: (i32, i32),
    timeout: i32,
    token_ptr: i32,
) -> HostResult {
    guard(c, "proxy_http_call", Allowed::Callbacks)?;
    let upstream = memory::read_string(c, upstream.0, upstream.1)?;
    let headers = pairs::decode_text(&memory::read(c, headers.0, headers.1)?)?;
    let body = memory::read(c, body.0, body.1)?;
    let trailers = pairs::decode_text(&memory::read(c, trailers.0, trailers.1)?)?;
    let timeout_ms = u32::try_from(timeout).map_err(|_| Status::BadArgument)?;
    let state = c.data_mut();
    if state.clusters.as_ref().is_some_and(|known| !known.contains(&upstream)) {
        state.log(crate::abi::LogLevel::Debug, format!("host: proxy_http_call to unknown cluster `{upstream}`"));
        return Err(Status::BadArgument.into());
    }
    let headers: Vec<(String, String)> = headers.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
    let has = |name: &str| headers.iter().any(|(k, _)| k == name);
    if !has(":path") || !has(":method") || !has(":authority") {
        return Err(Status::BadArgument.into());
    }
    // cpp-host `http_call` dispatches on `root_context()`: the call belongs to the plugin, outlives
    // the stream, and its answer arrives on the root context (SDKs route it on from there).
    let root = state.plugin_of(state.current).map_or(state.current, |(id, _)| id);
    let token = state.callouts.next_http_token;
    state.callouts.next_http_token = token.wrapping_add(1).max(1);
    let call = HttpCall {
        token,
        context_id: root,
        upstream: upstream.clone(),
        headers,
        body,
        trailers,
        timeout_ms,
        dispatched_at_nanos: state.clock.monotonic,
        state: CallState::Pending,
        answered_at_nanos: None,
        rule: None,
        unmatched: false,
    };
    let path = call.headers.iter().find(|(k, _)| k == ":path").map(|(_, v)| v.clone()).unwrap_or_default();
    state.callouts.http.push(call);
    let now = state.clock.monotonic;
    let (rule, unmatched) = state.callouts.dispatch_http(token, &upstream, &path, now);
    if let Some(call) = state.callouts.http_mut(token) {
        call.rule = rule;
        call.unmatched = unmatched;
        if unmatched {
            call.state = CallState::Failed;
            call.answered_at_nanos = Some(now);
        }
    }
    if unmatched {
        state.log(crate::abi::LogLevel::Debug, format!("host: no callout rule answers `{upstream}` {path}"));
        return Err(Status::InternalFailure.into());
    }
    memory::write_u32(c, token_ptr, token)
}
