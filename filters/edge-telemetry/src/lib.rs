//! `edge-telemetry.wasm`: the meshlens proxy-wasm module that Envoy and Istio load.
//!
//! Glue only: [`root`] and [`stream`] map proxy-wasm callbacks onto `telemetry-core`'s
//! [`Pipeline`](telemetry_core::pipeline::Pipeline), and [`wasm_host`] maps the pipeline's host
//! traits onto hostcalls. Every decision lives in `telemetry-core`.
//!
//! It must never panic or trap: a trap kills the VM for every request on that worker. Hostcalls
//! go through [`host`], which turns every status into an error instead of panicking.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod alloc;
pub mod host;
pub mod root;
pub mod stream;
pub mod wasm_host;

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: alloc::SizeClasses = alloc::SizeClasses::new();

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|context_id| Box::new(root::Root::new(context_id)));
}}
