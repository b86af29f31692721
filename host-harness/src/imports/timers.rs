//! ABI sections "Clocks" and "Timers": `proxy_get_current_time_nanoseconds`,
//! `proxy_set_tick_period_milliseconds`. Time is the host's virtual clock.

use wasmtime::{Caller, Linker};

use super::{Allowed, guard};
use crate::abi::Status;
use crate::error::{HostResult, into_wasm};
use crate::memory;
use crate::state::HostState;

pub(crate) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap("env", "proxy_get_current_time_nanoseconds", |mut c: Caller<'_, HostState>, ret: i32| {
        into_wasm(now(&mut c, ret))
    })?;
    linker.func_wrap("env", "proxy_set_tick_period_milliseconds", |mut c: Caller<'_, HostState>, period: i32| {
        into_wasm(set_tick_period(&mut c, period as u32))
    })?;
    Ok(())
}

fn now(c: &mut Caller<'_, HostState>, ret: i32) -> HostResult {
    guard(c, "proxy_get_current_time_nanoseconds", Allowed::AlsoAtStart)?;
    let t = c.data().clock.realtime;
    memory::write_u64(c, ret, t)
}

/// One timer per root context (cpp-host `setTimerPeriod(root_context_id, ...)`); 0 disables it.
fn set_tick_period(c: &mut Caller<'_, HostState>, period_ms: u32) -> HostResult {
    guard(c, "proxy_set_tick_period_milliseconds", Allowed::Callbacks)?;
    let state = c.data_mut();
    let now = state.clock.monotonic;
    let root = state.plugin_of(state.current).map(|(id, _)| id).ok_or(Status::BadArgument)?;
    let plugin = state.plugins.get_mut(&root).ok_or(Status::BadArgument)?;
    plugin.tick_period_ms = period_ms;
    plugin.next_tick_nanos = (period_ms > 0).then(|| now + u64::from(period_ms) * 1_000_000);
    Ok(())
}
