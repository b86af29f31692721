//! Benchmarks live in `benches/`; see benches/README.md. The library holds what they share with
//! `cargo xtask` and what the load commands (`envoy_load`, `chaos`, `soak`) share with each
//! other: a real Envoy and its counters, wrk, and `/proc` readings.

pub mod envoy;
pub mod plugin_config;
pub mod procfs;
pub mod request;
pub mod shapes;
pub mod wrk;
