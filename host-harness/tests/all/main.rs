//! The one integration-test binary of `host-harness`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod edge_telemetry;
mod support;
mod guest;
mod abi_logging;
