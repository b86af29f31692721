//! `edge-telemetry.wasm`: the meshlens proxy-wasm module that Envoy and Istio load.
//!
//! Thin glue only: it reads what the host offers (headers, properties, clock, randomness), hands
//! it to `telemetry-core`, and writes back what the core decided (headers, counters, export
//! calls). Every decision lives in `telemetry-core`.
//!
//! It must never panic or trap: a trap kills the VM for every request on that worker. Hostcalls
//! go through [`host`], which turns every status into an error instead of panicking.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod alloc;
pub mod exporter;
pub mod host;
pub mod metrics;
pub mod plugin;
pub mod stream;

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: alloc::SizeClasses = alloc::SizeClasses::new();

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|context_id| Box::new(plugin::Root::new(context_id)));
}}
