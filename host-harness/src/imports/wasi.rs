//! WASI preview1 functions proxy-wasm modules import (`wasi_snapshot_preview1`, and the older
//! `wasi_unstable` name): the eight the proxy-wasm spec names, deterministic, plus the calls
//! language runtimes make at start-up answered like a sandbox with no files (`EBADF`, `ENOSYS`),
//! as proxy-wasm-cpp-host does.
//!
//! `fd_write` to fd 1 and 2 becomes log entries (info and error), `clock_time_get` reads the virtual
//! clock, `random_get` the seeded generator, `environ_*` the configured environment.

use wasmtime::{Caller, Linker};

use super::{Allowed, guard};
use crate::abi::LogLevel;
use crate::error::HostError;
use crate::memory;
use crate::state::HostState;

const SUCCESS: i32 = 0;
const EBADF: i32 = 8;
const EINVAL: i32 = 28;
const ENOSYS: i32 = 52;
const EFAULT: i32 = 21;
const ENOTSUP: i32 = 58;

/// cpp-host refuses random requests above 64 KiB.
const MAX_RANDOM: usize = 64 * 1024;

pub(crate) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    for module in ["wasi_snapshot_preview1", "wasi_unstable"] {
        add_module(linker, module)?;
    }
    Ok(())
}

fn errno(result: Result<(), HostError>) -> wasmtime::Result<i32> {
    match result {
        Ok(()) => Ok(SUCCESS),
        Err(HostError::Status(_)) => Ok(EFAULT),
        Err(HostError::Trap(m)) => Err(wasmtime::Error::msg(m)),
    }
}

fn add_module(linker: &mut Linker<HostState>, m: &str) -> wasmtime::Result<()> {
    linker.func_wrap(m, "fd_write", |mut c: Caller<'_, HostState>, fd: i32, iovs: i32, n: i32, written: i32| {
        if !(1..=2).contains(&fd) {
            return Ok(EBADF);
        }
        errno(fd_write(&mut c, fd, iovs, n, written))
    })?;
    linker.func_wrap(m, "clock_time_get", |mut c: Caller<'_, HostState>, id: i32, _precision: i64, ret: i32| {
        // cpp-host: realtime and monotonic only; the CPU-time clocks are ENOTSUP.
        if id > 1 {
            return Ok(ENOTSUP);
        }
        let clock = c.data().clock;
        let t = if id == 0 { clock.realtime } else { clock.monotonic };
        errno(guard(&mut c, "clock_time_get", Allowed::AlsoAtStart).and_then(|()| memory::write_u64(&mut c, ret, t)))
    })?;
    linker.func_wrap(m, "clock_res_get", |mut c: Caller<'_, HostState>, _id: i32, ret: i32| {
        errno(memory::write_u64(&mut c, ret, 1))
    })?;
    linker.func_wrap(m, "random_get", |mut c: Caller<'_, HostState>, buf: i32, len: i32| {
        let len = len as u32 as usize;
        if len > MAX_RANDOM {
            return Ok(EINVAL);
        }
        let mut bytes = vec![0u8; len];
        c.data_mut().rng.fill(&mut bytes);
        errno(guard(&mut c, "random_get", Allowed::AlsoAtStart).and_then(|()| memory::write(&mut c, buf, &bytes)))
    })?;
    linker.func_wrap(m, "environ_sizes_get", |mut c: Caller<'_, HostState>, count: i32, size: i32| {
        let env = c.data().environment.clone();
        let total: usize = env.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
        errno(
            memory::write_u32(&mut c, count, env.len() as u32)
                .and_then(|()| memory::write_u32(&mut c, size, total as u32)),
        )
    })?;
    linker.func_wrap(m, "environ_get", |mut c: Caller<'_, HostState>, ptrs: i32, buf: i32| {
        let env = c.data().environment.clone();
        errno(environ_get(&mut c, &env, ptrs, buf))
    })?;
    linker.func_wrap(m, "args_sizes_get", |mut c: Caller<'_, HostState>, count: i32, size: i32| {
        errno(memory::write_u32(&mut c, count, 0).and_then(|()| memory::write_u32(&mut c, size, 0)))
    })?;
    linker.func_wrap(m, "args_get", |_c: Caller<'_, HostState>, _ptrs: i32, _buf: i32| Ok(SUCCESS))?;
    linker.func_wrap(m, "proc_exit", |_c: Caller<'_, HostState>, code: i32| -> wasmtime::Result<()> {
        Err(wasmtime::Error::msg(format!("the module called proc_exit({code})")))
    })?;
    linker.func_wrap(m, "sched_yield", |_c: Caller<'_, HostState>| Ok(SUCCESS))?;
    // A sandbox without files: no preopened directories, no descriptors besides stdio.
    linker.func_wrap(m, "fd_prestat_get", |_c: Caller<'_, HostState>, _fd: i32, _ret: i32| Ok(EBADF))?;
    linker.func_wrap(m, "fd_prestat_dir_name", |_c: Caller<'_, HostState>, _fd: i32, _p: i32, _l: i32| Ok(EBADF))?;
    linker.func_wrap(m, "fd_close", |_c: Caller<'_, HostState>, _fd: i32| Ok(EBADF))?;
    linker.func_wrap(m, "fd_read", |_c: Caller<'_, HostState>, _fd: i32, _i: i32, _n: i32, _r: i32| Ok(EBADF))?;
    linker.func_wrap(m, "fd_seek", |_c: Caller<'_, HostState>, _fd: i32, _o: i64, _w: i32, _r: i32| Ok(EBADF))?;
    linker.func_wrap(m, "fd_tell", |_c: Caller<'_, HostState>, _fd: i32, _r: i32| Ok(EBADF))?;
    linker.func_wrap(m, "fd_sync", |_c: Caller<'_, HostState>, _fd: i32| Ok(EBADF))?;
    linker.func_wrap(m, "fd_fdstat_get", |mut c: Caller<'_, HostState>, fd: i32, ret: i32| {
        if !(0..=2).contains(&fd) {
            return Ok(EBADF);
        }
        // filetype character device (2), no flags, no rights restrictions.
        let mut stat = [0u8; 24];
        stat[0] = 2;
        errno(memory::write(&mut c, ret, &stat))
    })?;
    linker.func_wrap(m, "fd_fdstat_set_flags", |_c: Caller<'_, HostState>, _fd: i32, _f: i32| Ok(ENOSYS))?;
    linker.func_wrap(m, "fd_filestat_get", |_c: Caller<'_, HostState>, _fd: i32, _r: i32| Ok(EBADF))?;
    linker.func_wrap(
        m,
        "path_open",
        |_c: Caller<'_, HostState>,
         _a: i32,
         _b: i32,
         _p: i32,
         _l: i32,
         _o: i32,
         _r1: i64,
         _r2: i64,
         _f: i32,
         _ret: i32| { Ok(EBADF) },
    )?;
    linker.func_wrap(
        m,
        "path_filestat_get",
        |_c: Caller<'_, HostState>, _fd: i32, _f: i32, _p: i32, _l: i32, _r: i32| Ok(EBADF),
    )?;
    linker.func_wrap(m, "poll_oneoff", |_c: Caller<'_, HostState>, _i: i32, _o: i32, _n: i32, _r: i32| Ok(ENOSYS))?;
    linker.func_wrap(m, "proc_raise", |_c: Caller<'_, HostState>, _s: i32| Ok(ENOSYS))?;
    Ok(())
}

fn fd_write(c: &mut Caller<'_, HostState>, fd: i32, iovs: i32, n: i32, written: i32) -> Result<(), HostError> {
    guard(c, "fd_write", Allowed::AlsoAtStart)?;
    if !(1..=2).contains(&fd) {
        return Err(crate::abi::Status::BadArgument.into());
    }
    let mut data = Vec::new();
    for i in 0..n.max(0) {
        let iov = memory::read(c, iovs.wrapping_add(i * 8), 8)?;
        let word = |at: usize| iov.get(at..at + 4).and_then(|b| b.try_into().ok()).map_or(0, i32::from_le_bytes);
        let (ptr, len) = (word(0), word(4));
        data.extend(memory::read(c, ptr, len)?);
    }
    memory::write_u32(c, written, data.len() as u32)?;
    // cpp-host `writevImpl`: every write is one log entry, less one trailing newline.
    let level = if fd == 1 { LogLevel::Info } else { LogLevel::Error };
    let text = String::from_utf8_lossy(data.strip_suffix(b"\n").unwrap_or(&data)).into_owned();
    c.data_mut().log(level, text);
    Ok(())
}

fn environ_get(c: &mut Caller<'_, HostState>, env: &[(String, String)], ptrs: i32, buf: i32) -> Result<(), HostError> {
    let mut offset = buf;
    for (i, (k, v)) in env.iter().enumerate() {
        let entry = format!("{k}={v}\0");
        memory::write_u32(c, ptrs + (i as i32) * 4, offset as u32)?;
        memory::write(c, offset, entry.as_bytes())?;
        offset += entry.len() as i32;
    }
    Ok(())
}
