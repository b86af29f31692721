//! All of meshlens's telemetry logic, as plain Rust.
//!
//! This crate decides everything: which trace a request belongs to, whether it is sampled, what
//! headers go upstream and downstream, what the span looks like and how it is encoded as OTLP/HTTP
//! (protobuf or JSON), which metric series a request lands in, what its access-log line says, what is redacted
//! from every output, when access failures make a security event, and how the export queues
//! behave. [`pipeline`] takes a request through its whole life; a host (the proxy-wasm module, the
//! recording host of the tests) drives it and implements the traits of [`pipeline::host`], through
//! which every fact is read and every output written. The crate has no `proxy-wasm` dependency,
//! performs no IO and never reads a clock or a random source of its own, so the same inputs always
//! give the same outputs and everything here, the whole request lifecycle included, is tested
//! natively.
//!
//! It must never panic: a panic in the proxy-wasm module aborts the VM for every request on that
//! worker. Unwraps, expects and panics are denied at the crate root (tests are exempt).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod access_log;
pub mod config;
pub mod export;
mod fxhash;
pub mod grpc;
pub mod ids;
mod json;
pub mod metrics;
pub mod names;
pub mod otlp;
pub mod pipeline;
pub mod propagation;
pub mod redact;
pub mod route;
pub mod sampler;
pub mod security;
pub mod span;
pub mod tracer;
