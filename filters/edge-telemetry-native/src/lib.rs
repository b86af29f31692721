//! meshlens as an Envoy dynamic module: the `telemetry-core` pipeline loaded into Envoy as a
//! native shared library (`libedge_telemetry_native.so`) by the HTTP filter
//! `envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter`, with no VM.
//!
//! The same configuration as the Wasm module (`filter_config`, a `google.protobuf.StringValue`
//! holding the JSON), the same headers, spans, access line and metric series (on
//! `/stats/prometheus` under Envoy's `envoy_dynamicmodulescustom_` prefix). The glue is thin,
//! as in `edge-telemetry`: `ffi.rs` is the hooks Envoy calls, `abi.rs` the callbacks the module
//! calls (all the unsafe code is in these two files), `host.rs` the pipeline's host traits over
//! them, `plugin.rs` one filter config with a pipeline per worker thread.
//!
//! Built for Linux only, and only for the Envoy version family whose ABI it declares (1.40,
//! ABI `v0.2`): the dynamic-module ABI is not stable across Envoy minor versions. It must never
//! let a panic reach Envoy: build it with `cargo build -p edge-telemetry-native --profile
//! native`, whose panics unwind to the hooks' `catch_unwind` (see `ffi.rs`).
#![cfg(target_os = "linux")]

mod abi;
mod attributes;
mod ffi;
mod host;
mod metrics;
mod plugin;
mod shared;
mod ticker;
