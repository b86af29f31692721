//! ABI section "Shared queues": register, resolve, enqueue, dequeue. A queue belongs to the VM id
//! of the plugin that registered it; `proxy_on_queue_ready` reaches that plugin's root context.

use wasmtime::{Caller, Linker};

use super::{Allowed, guard};
use crate::abi::Status;
use crate::error::{HostResult, into_wasm};
use crate::memory;
use crate::state::HostState;

pub(crate) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_register_shared_queue",
        |mut c: Caller<'_, HostState>, np: i32, nl: i32, id_ptr: i32| into_wasm(register(&mut c, (np, nl), id_ptr)),
    )?;
    linker.func_wrap(
        "env",
        "proxy_resolve_shared_queue",
        |mut c: Caller<'_, HostState>, vp: i32, vl: i32, np: i32, nl: i32, id_ptr: i32| {
            into_wasm(resolve(&mut c, (vp, vl), (np, nl), id_ptr))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_enqueue_shared_queue",
        |mut c: Caller<'_, HostState>, id: i32, vp: i32, vl: i32| into_wasm(enqueue(&mut c, id as u32, (vp, vl))),
    )?;
    linker.func_wrap(
        "env",
        "proxy_dequeue_shared_queue",
        |mut c: Caller<'_, HostState>, id: i32, ptr_ptr: i32, size_ptr: i32| {
            into_wasm(dequeue(&mut c, id as u32, ptr_ptr, size_ptr))
        },
    )?;
    Ok(())
}

fn register(c: &mut Caller<'_, HostState>, name: (i32, i32), id_ptr: i32) -> HostResult {
    guard(c, "proxy_register_shared_queue", Allowed::Callbacks)?;
    let name = memory::read_string(c, name.0, name.1)?;
    let state = c.data();
    let (root, plugin) = state.plugin_of(state.current).ok_or(Status::BadArgument)?;
    let id = state.shared.register_queue(&plugin.vm_id, &name, (state.host_id, root));
    memory::write_u32(c, id_ptr, id)
}

fn resolve(c: &mut Caller<'_, HostState>, vm: (i32, i32), name: (i32, i32), id_ptr: i32) -> HostResult {
    guard(c, "proxy_resolve_shared_queue", Allowed::Callbacks)?;
    let vm = memory::read_string(c, vm.0, vm.1)?;
    let name = memory::read_string(c, name.0, name.1)?;
    let id = c.data().shared.resolve_queue(&vm, &name)?;
    memory::write_u32(c, id_ptr, id)
}

fn enqueue(c: &mut Caller<'_, HostState>, id: u32, value: (i32, i32)) -> HostResult {
    guard(c, "proxy_enqueue_shared_queue", Allowed::Callbacks)?;
    let value = memory::read(c, value.0, value.1)?;
    c.data().shared.enqueue(id, &value)?;
    Ok(())
}

fn dequeue(c: &mut Caller<'_, HostState>, id: u32, ptr_ptr: i32, size_ptr: i32) -> HostResult {
    guard(c, "proxy_dequeue_shared_queue", Allowed::Callbacks)?;
    let value = c.data().shared.dequeue(id)?;
    memory::give(c, &value, ptr_ptr, size_ptr)
}
