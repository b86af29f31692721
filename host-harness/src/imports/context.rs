//! ABI section "Contexts": `proxy_set_effective_context`, `proxy_done`.

use wasmtime::{Caller, Linker};

use super::{Allowed, guard};
use crate::abi::Status;
use crate::error::{HostResult, into_wasm};
use crate::state::HostState;

pub(crate) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap("env", "proxy_set_effective_context", |mut c: Caller<'_, HostState>, id: i32| {
        into_wasm(set_effective_context(&mut c, id as u32))
    })?;
    linker.func_wrap("env", "proxy_done", |mut c: Caller<'_, HostState>| into_wasm(done(&mut c)))?;
    Ok(())
}

/// Later hostcalls in this callback act on context `id` (BAD_ARGUMENT for an unknown id).
fn set_effective_context(c: &mut Caller<'_, HostState>, id: u32) -> HostResult {
    guard(c, "proxy_set_effective_context", Allowed::Callbacks)?;
    let state = c.data_mut();
    let live_stream = state.streams.get(&id).is_some_and(|s| s.created && !s.complete);
    if !state.plugins.contains_key(&id) && !live_stream {
        return Err(Status::BadArgument.into());
    }
    state.current = id;
    Ok(())
}

/// A plugin whose `proxy_on_done` returned false says it has finished (NOT_FOUND otherwise).
fn done(c: &mut Caller<'_, HostState>) -> HostResult {
    guard(c, "proxy_done", Allowed::Callbacks)?;
    let state = c.data_mut();
    let root = state.plugin_of(state.current).map(|(id, _)| id).ok_or(Status::NotFound)?;
    let plugin = state.plugins.get_mut(&root).ok_or(Status::NotFound)?;
    if !plugin.done_pending {
        return Err(Status::NotFound.into());
    }
    plugin.done_pending = false;
    Ok(())
}
