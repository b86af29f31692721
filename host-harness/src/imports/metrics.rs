//! ABI section "Metrics": define, record, increment, get, on the registry shared by all VMs of
//! one simulated Envoy (Envoy's stats store is process-wide).

use wasmtime::{Caller, Linker};

use super::{Allowed, guard};
use crate::abi::{MetricType, Status};
use crate::error::{HostResult, into_wasm};
use crate::memory;
use crate::state::HostState;

pub(crate) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_define_metric",
        |mut c: Caller<'_, HostState>, kind: i32, np: i32, nl: i32, id_ptr: i32| {
            into_wasm(define(&mut c, kind, (np, nl), id_ptr))
        },
    )?;
    linker.func_wrap("env", "proxy_record_metric", |mut c: Caller<'_, HostState>, id: i32, value: i64| {
        into_wasm(record(&mut c, id as u32, value as u64))
    })?;
    linker.func_wrap("env", "proxy_increment_metric", |mut c: Caller<'_, HostState>, id: i32, delta: i64| {
        into_wasm(increment(&mut c, id as u32, delta))
    })?;
    linker.func_wrap("env", "proxy_get_metric", |mut c: Caller<'_, HostState>, id: i32, ret: i32| {
        into_wasm(get(&mut c, id as u32, ret))
    })?;
    Ok(())
}

fn define(c: &mut Caller<'_, HostState>, kind: i32, name: (i32, i32), id_ptr: i32) -> HostResult {
    guard(c, "proxy_define_metric", Allowed::Callbacks)?;
    let kind = MetricType::from_raw(kind as u32).ok_or(Status::BadArgument)?;
    let name = memory::read_string(c, name.0, name.1)?;
    let id = c.data().shared.metrics().define(kind, &name)?;
    memory::write_u32(c, id_ptr, id)
}

fn record(c: &mut Caller<'_, HostState>, id: u32, value: u64) -> HostResult {
    guard(c, "proxy_record_metric", Allowed::Callbacks)?;
    c.data().shared.metrics().record(id, value)?;
    Ok(())
}

fn increment(c: &mut Caller<'_, HostState>, id: u32, delta: i64) -> HostResult {
    guard(c, "proxy_increment_metric", Allowed::Callbacks)?;
    c.data().shared.metrics().increment(id, delta)?;
    Ok(())
}

fn get(c: &mut Caller<'_, HostState>, id: u32, ret: i32) -> HostResult {
    guard(c, "proxy_get_metric", Allowed::Callbacks)?;
    let value = c.data().shared.metrics().get(id)?;
    memory::write_u64(c, ret, value)
}
