//! ABI section "Logging": `proxy_log`, `proxy_get_log_level` (0.2.1).

use wasmtime::{Caller, Linker};

use super::{Allowed, guard};
use crate::abi::{LogLevel, Status};
use crate::error::{HostResult, into_wasm};
use crate::memory;
use crate::state::HostState;

pub(crate) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap("env", "proxy_log", |mut c: Caller<'_, HostState>, level: i32, ptr: i32, len: i32| {
        into_wasm(log(&mut c, level, ptr, len))
    })?;
    linker.func_wrap("env", "proxy_get_log_level", |mut c: Caller<'_, HostState>, ret: i32| {
        into_wasm(get_log_level(&mut c, ret))
    })?;
    Ok(())
}

fn log(c: &mut Caller<'_, HostState>, level: i32, ptr: i32, len: i32) -> HostResult {
    guard(c, "proxy_log", Allowed::AlsoAtStart)?;
    let level = LogLevel::from_raw(level as u32).ok_or(Status::BadArgument)?;
    let message = memory::read_string(c, ptr, len)?;
    c.data_mut().log(level, message);
    Ok(())
}

fn get_log_level(c: &mut Caller<'_, HostState>, ret: i32) -> HostResult {
    guard(c, "proxy_get_log_level", Allowed::AlsoAtStart)?;
    let level = c.data().log_level as u32;
    memory::write_u32(c, ret, level)
}
