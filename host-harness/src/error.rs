//! The harness's errors, and the two error channels of a host function.
//!
//! A host function either answers the guest with a status (`HostError::Status`, the call
//! returns normally) or ends the guest's call with a trap (`HostError::Trap`). One place,
//! [`into_wasm`], turns that into what wasmtime expects, so every hostcall follows the same rule.

use std::fmt;

use crate::abi::{AbiVersion, Status};

/// Everything that can go wrong driving a module through the harness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The bytes are not a valid module, or wasmtime could not compile them.
    Compile(String),
    /// The module declares no supported `proxy_abi_version_*` export.
    UnsupportedAbi(String),
    /// The module imports something this host does not provide (or with another type).
    MissingImport { module: String, name: String, ty: String },
    /// The module exports neither `proxy_on_memory_allocate` nor `malloc`, or no `memory`.
    MissingExport(String),
    /// The guest trapped (a Rust panic, `unreachable`, out-of-bounds access, fuel exhausted...).
    /// `panic` is the guest's own panic message when it logged one before aborting.
    Trap { callback: String, message: String, panic: Option<String>, backtrace: String },
    /// The VM trapped earlier; like Envoy, the harness does not call into a failed VM again.
    VmFailed,
    /// `proxy_on_vm_start` or `proxy_on_configure` returned false (Envoy rejects the config).
    Rejected { callback: String, logs: Vec<String> },
    /// The scenario asked for something impossible (unknown stream, call answered twice...).
    Usage(String),
}

/// A host function's outcome other than success: a status for the guest, or a trap.
#[derive(Debug)]
pub(crate) enum HostError {
    Status(Status),
    Trap(String),
}

/// A host function result; `Ok` means `Status::Ok`.
pub(crate) type HostResult<T = ()> = Result<T, HostError>;

impl From<Status> for HostError {
    fn from(status: Status) -> Self {
        Self::Status(status)
    }
}

/// The single place where a host function's result becomes what the guest sees: a status code,
/// or a trap that ends the call.
pub(crate) fn into_wasm(result: HostResult) -> wasmtime::Result<i32> {
    match result {
        Ok(()) => Ok(Status::Ok.raw() as i32),
        Err(HostError::Status(status)) => Ok(status.raw() as i32),
        Err(HostError::Trap(message)) => Err(wasmtime::Error::msg(message)),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Compile(m) => write!(f, "cannot compile the module: {m}"),
            Self::UnsupportedAbi(m) => write!(f, "unsupported proxy-wasm ABI: {m}"),
            Self::MissingImport { module, name, ty } => {
                write!(f, "the module imports {module}::{name} {ty}, which this host does not provide")
            }
            Self::MissingExport(m) => write!(f, "the module does not export {m}"),
            Self::Trap { callback, message, panic, backtrace } => {
                write!(f, "the module trapped in {callback}: ")?;
                match panic {
                    Some(p) => write!(f, "{p} ({message})")?,
                    None => write!(f, "{message}")?,
                }
                if !backtrace.is_empty() {
                    write!(f, "\nwasm backtrace:\n{backtrace}")?;
                }
                Ok(())
            }
            Self::VmFailed => f.write_str("the VM failed earlier (a trap); it accepts no more calls"),
            Self::Rejected { callback, logs } => {
                write!(f, "{callback} returned false")?;
                for line in logs {
                    write!(f, "\n  {line}")?;
                }
                Ok(())
            }
            Self::Usage(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

/// What the harness reports for an ABI it does not support.
pub(crate) fn abi_error(found: &[String]) -> Error {
    if found.iter().any(|e| e == "proxy_abi_version_0_1_0") {
        Error::UnsupportedAbi(format!(
            "the module declares ABI 0.1.0; this host supports {} and {}",
            AbiVersion::V0_2_0,
            AbiVersion::V0_2_1
        ))
    } else {
        Error::UnsupportedAbi(String::from(
            "no proxy_abi_version_0_2_0 or proxy_abi_version_0_2_1 export: is this a proxy-wasm module?",
        ))
    }
}
