//! Support code for meshlens's integration tests: where the shared validators, the project-local
//! Python venv, Envoy, Prometheus and the built module are; small loopback servers; an HTTP
//! client; a running Envoy; a running Prometheus.
//!
//! This is test code: failing loudly (`expect`, `panic!`) with a clear message is what it should do.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
#![allow(missing_debug_implementations)]

pub mod browser;
pub mod envoy;
pub mod exposition;
pub mod http;
pub mod native;
pub mod otlp;
pub mod paths;
pub mod planted;
pub mod plugin;
pub mod prometheus;
