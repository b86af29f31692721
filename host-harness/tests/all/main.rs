//! The one integration-test binary of `host-harness`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod abi_buffers;
mod abi_clock;
mod abi_context;
mod abi_ffi;
mod abi_grpc;
mod abi_http_calls;
mod abi_http_fields;
mod abi_imports;
mod abi_logging;
mod abi_metrics;
mod abi_module;
mod abi_properties;
mod abi_shared_data;
mod abi_shared_queues;
mod abi_streams;
mod abi_traps;
mod abi_wasi;
mod cli;
mod cli_html;
mod edge_telemetry;
mod guest;
mod memory;
mod plugin_chain;
mod support;
mod third_party;
mod traffic_v2;
