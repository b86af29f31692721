//! Guest memory access from host functions: bounds-checked reads and writes, and handing bytes
//! to the guest through its own allocator.
//!
//! A bad pointer from the guest is answered with `INVALID_MEMORY_ACCESS`, never a host panic.
//! Returned bytes are allocated with exactly their size through `proxy_on_memory_allocate` (or
//! `malloc`), as the Rust SDK rebuilds them with `Vec::from_raw_parts(ptr, size, size)`; an empty
//! value is returned as pointer 0 and size 0, as proxy-wasm-cpp-host does.

use wasmtime::{Caller, Extern, Memory};

use crate::abi::Status;
use crate::error::{HostError, HostResult};
use crate::state::{HostState, Phase};

fn memory(caller: &mut Caller<'_, HostState>) -> HostResult<Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Ok(m),
        _ => Err(HostError::Trap(String::from("the module exports no memory"))),
    }
}

fn range(ptr: i32, len: i32) -> HostResult<std::ops::Range<usize>> {
    let start = ptr as u32 as usize;
    let end = start.checked_add(len as u32 as usize).ok_or(Status::InvalidMemoryAccess)?;
    Ok(start..end)
}

/// Reads `len` bytes at `ptr`.
pub(crate) fn read(caller: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> HostResult<Vec<u8>> {
    let mem = memory(caller)?;
    let r = range(ptr, len)?;
    mem.data(&*caller).get(r).map(<[u8]>::to_vec).ok_or(HostError::Status(Status::InvalidMemoryAccess))
}

/// Reads `len` bytes at `ptr` as text (lossy UTF-8).
pub(crate) fn read_string(caller: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> HostResult<String> {
    Ok(String::from_utf8_lossy(&read(caller, ptr, len)?).into_owned())
}

/// Writes `bytes` at `ptr`.
pub(crate) fn write(caller: &mut Caller<'_, HostState>, ptr: i32, bytes: &[u8]) -> HostResult {
    let mem = memory(caller)?;
    let r = range(ptr, i32::try_from(bytes.len()).map_err(|_| Status::InvalidMemoryAccess)?)?;
    let dest = mem.data_mut(&mut *caller).get_mut(r).ok_or(Status::InvalidMemoryAccess)?;
    dest.copy_from_slice(bytes);
    Ok(())
}

/// Writes a little-endian `u32` at `ptr`.
pub(crate) fn write_u32(caller: &mut Caller<'_, HostState>, ptr: i32, value: u32) -> HostResult {
    write(caller, ptr, &value.to_le_bytes())
}

/// Writes a little-endian `u64` at `ptr`.
pub(crate) fn write_u64(caller: &mut Caller<'_, HostState>, ptr: i32, value: u64) -> HostResult {
    write(caller, ptr, &value.to_le_bytes())
}

/// Gives `bytes` to the guest: allocates exactly `bytes.len()` with the guest's allocator, copies
/// them, and writes the pointer to `ptr_ptr` and the size to `size_ptr`.
pub(crate) fn give(caller: &mut Caller<'_, HostState>, bytes: &[u8], ptr_ptr: i32, size_ptr: i32) -> HostResult {
    if bytes.is_empty() {
        write_u32(caller, ptr_ptr, 0)?;
        return write_u32(caller, size_ptr, 0);
    }
    let ptr = allocate(caller, bytes.len())?;
    write(caller, ptr, bytes)?;
    write_u32(caller, ptr_ptr, ptr as u32)?;
    write_u32(caller, size_ptr, u32::try_from(bytes.len()).map_err(|_| Status::InvalidMemoryAccess)?)
}

/// Calls the guest allocator; only `proxy_log` is allowed while it runs (cpp-host rule).
pub(crate) fn allocate(caller: &mut Caller<'_, HostState>, size: usize) -> HostResult<i32> {
    let name = caller.data().allocator;
    let func = match caller.get_export(name) {
        Some(Extern::Func(f)) => f,
        _ => return Err(HostError::Trap(format!("the module exports no {name}"))),
    };
    let typed =
        func.typed::<i32, i32>(&*caller).map_err(|e| HostError::Trap(format!("{name} has an unexpected type: {e}")))?;
    let size = i32::try_from(size).map_err(|_| Status::InvalidMemoryAccess)?;
    let previous = std::mem::replace(&mut caller.data_mut().phase, Phase::Allocate);
    let result = typed.call(&mut *caller, size);
    caller.data_mut().phase = previous;
    match result {
        Ok(0) => Err(HostError::Status(Status::InvalidMemoryAccess)),
        Ok(ptr) => Ok(ptr),
        Err(e) => Err(HostError::Trap(format!("{name} trapped: {}", e.root_cause()))),
    }
}
