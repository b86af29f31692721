//! ABI section "Shared key-value store": `proxy_get_shared_data`, `proxy_set_shared_data`.

use wasmtime::{Caller, Linker};

use super::{Allowed, guard};
use crate::error::{HostResult, into_wasm};
use crate::memory;
use crate::state::HostState;

pub(crate) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_shared_data",
        |mut c: Caller<'_, HostState>, kp: i32, kl: i32, ptr_ptr: i32, size_ptr: i32, cas_ptr: i32| {
            into_wasm(get(&mut c, (kp, kl), ptr_ptr, size_ptr, cas_ptr))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_shared_data",
        |mut c: Caller<'_, HostState>, kp: i32, kl: i32, vp: i32, vl: i32, cas: i32| {
            into_wasm(set(&mut c, (kp, kl), (vp, vl), cas as u32))
        },
    )?;
    Ok(())
}

fn get(c: &mut Caller<'_, HostState>, key: (i32, i32), ptr_ptr: i32, size_ptr: i32, cas_ptr: i32) -> HostResult {
    guard(c, "proxy_get_shared_data", Allowed::Callbacks)?;
    let key = memory::read(c, key.0, key.1)?;
    let state = c.data();
    let vm = state.plugin_of(state.current).map(|(_, p)| p.vm_id.clone()).unwrap_or_default();
    let (value, cas) = state.shared.get(&vm, &key)?;
    memory::give(c, &value, ptr_ptr, size_ptr)?;
    memory::write_u32(c, cas_ptr, cas)
}

fn set(c: &mut Caller<'_, HostState>, key: (i32, i32), value: (i32, i32), cas: u32) -> HostResult {
    guard(c, "proxy_set_shared_data", Allowed::Callbacks)?;
    let key = memory::read(c, key.0, key.1)?;
    let value = memory::read(c, value.0, value.1)?;
    let state = c.data();
    let vm = state.plugin_of(state.current).map(|(_, p)| p.vm_id.clone()).unwrap_or_default();
    state.shared.set(&vm, &key, &value, cas)?;
    Ok(())
}
