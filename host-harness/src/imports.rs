//! The host functions a proxy-wasm module imports, grouped like the sections of the proxy-wasm
//! ABI v0.2.1 specification, plus the WASI preview1 functions modules import.
//!
//! Every `env` function of ABI 0.2.0/0.2.1 is provided with its exact signature, so any module
//! built with an SDK links. Each section adds its functions to the [`Linker`].

mod buffers;
mod context;
mod ffi;
mod grpc;
mod http_calls;
mod http_fields;
mod logging;
mod metrics;
mod properties;
mod shared_data;
mod shared_queues;
mod streams;
mod timers;
mod wasi;

use wasmtime::{Caller, Engine, Linker};

use crate::abi::{LogLevel, Status};
use crate::error::{HostError, HostResult};
use crate::state::{HostState, Phase};

/// A linker with every host function.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    context::add(&mut linker)?;
    logging::add(&mut linker)?;
    timers::add(&mut linker)?;
    buffers::add(&mut linker)?;
    http_fields::add(&mut linker)?;
    streams::add(&mut linker)?;
    http_calls::add(&mut linker)?;
    grpc::add(&mut linker)?;
    shared_data::add(&mut linker)?;
    shared_queues::add(&mut linker)?;
    metrics::add(&mut linker)?;
    properties::add(&mut linker)?;
    ffi::add(&mut linker)?;
    wasi::add(&mut linker)?;
    Ok(linker)
}

/// Which phases a hostcall may run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Allowed {
    /// Only from callbacks.
    Callbacks,
    /// Also while the module starts (`_initialize`): logging, clocks, random, WASI basics.
    AlsoAtStart,
}

/// Enforces proxy-wasm-cpp-host's rules on when a hostcall may run: only `proxy_log` from the
/// guest allocator (anything else fails the VM), and only a few calls during start-up.
pub(crate) fn guard(caller: &mut Caller<'_, HostState>, name: &str, allowed: Allowed) -> HostResult {
    let state = caller.data_mut();
    state.traced(|| name.to_owned());
    match state.phase {
        Phase::Allocate if name != "proxy_log" => {
            Err(HostError::Trap(format!("{name} called from the guest allocator, which Envoy does not allow")))
        }
        Phase::Start if allowed == Allowed::Callbacks => {
            state.log(LogLevel::Warn, format!("host: {name} called during module start, which Envoy refuses"));
            Err(HostError::Status(Status::InternalFailure))
        }
        _ => Ok(()),
    }
}
