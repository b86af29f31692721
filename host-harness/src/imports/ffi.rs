//! ABI section "Foreign function interface": `proxy_call_foreign_function` calls a host
//! function registered on the builder by name (NOT_FOUND for unknown names).

use wasmtime::{Caller, Linker};

use super::{Allowed, guard};
use crate::abi::Status;
use crate::error::{HostResult, into_wasm};
use crate::memory;
use crate::state::HostState;

pub(crate) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_call_foreign_function",
        |mut c: Caller<'_, HostState>, np: i32, nl: i32, ap: i32, al: i32, ptr_ptr: i32, size_ptr: i32| {
            into_wasm(call(&mut c, (np, nl), (ap, al), ptr_ptr, size_ptr))
        },
    )?;
    Ok(())
}

fn call(c: &mut Caller<'_, HostState>, name: (i32, i32), args: (i32, i32), ptr_ptr: i32, size_ptr: i32) -> HostResult {
    guard(c, "proxy_call_foreign_function", Allowed::Callbacks)?;
    let name = memory::read_string(c, name.0, name.1)?;
    let args = memory::read(c, args.0, args.1)?;
    let function = c.data().foreign.iter().find(|(n, _)| *n == name).map(|(_, f)| f.clone()).ok_or(Status::NotFound)?;
    let result = function(&args)?;
    memory::give(c, &result, ptr_ptr, size_ptr)
}
