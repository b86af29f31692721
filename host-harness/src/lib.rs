//! A proxy-wasm host on wasmtime, for running filters offline: in tests, in replays of recorded
//! traffic, in benchmarks.
//!
//! It implements the host side of proxy-wasm ABI 0.2.1 and 0.2.0: every `env` host function with
//! its exact signature and the WASI preview1 functions modules import, for `wasm32-wasip1` and
//! `wasm32-unknown-unknown` builds. It behaves like Envoy where a filter can tell: header maps per
//! phase, property names and encodings, metrics and their Prometheus rendering, deferred local
//! replies, callouts answered by the scenario, ticks on a virtual clock, shared data and queues
//! across several VMs. Clock and randomness are deterministic. All state lives in each host's
//! wasmtime `Store`, so hosts are independent and tests run in parallel.
//!
//! Compile a [`Module`] once, build a [`Host`] per run, drive it, inspect it.

pub mod abi;
mod callouts;
mod clock;
mod error;
mod host;
mod imports;
mod memory;
pub mod metrics;
mod module;
pub mod pairs;
pub mod properties;
mod shared;
mod spans;
mod state;
mod stream;
pub mod suggest;
pub mod traffic;

pub use abi::{AbiVersion, Action, LogLevel, Status};
pub use callouts::{
    Answer, CallState, GrpcCall, GrpcReply, HttpCall, HttpResponse, Responder, Rule, Script, ScriptError,
};
pub use clock::DEFAULT_START_UNIX_NANOS;
pub use error::Error;
pub use host::envoy;
pub use host::{ExchangeState, FailurePolicy, Host, HostBuilder, KEPT_BEHIND_PENDING, TICKS_ON_SCHEDULE, TrapRecord};
pub use module::{CompileOptions, EPOCH_TICK, Module, binary as wasm_binary};
pub use shared::Shared;
pub use spans::{SpanRecord, decode as decode_spans, decode_call as decode_call_spans, export_payload, log_records};
pub use state::{ForeignFunction, LogRecord};
pub use stream::{Headers, LocalReply, Stream, StreamId, is_grpc_request};
