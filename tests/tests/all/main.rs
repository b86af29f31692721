//! The one integration-test binary of the `meshlens-tests` package.
//!
//! Every module but the two below runs a tool that `cargo xtask test` installs (Envoy, Prometheus
//! and `promtool`, `amtool`, `skopeo` and a registry, the Python validators), so they belong to
//! the full tier: they are compiled only with the `e2e` feature, which `cargo xtask test` turns
//! on. Plain `cargo test` builds this binary without them instead of letting them skip.
//! `glue_parity`, `playground_parity`, `label_sets` and `planted_secrets` need only the harness and
//! the built module: they are in the fast tier (`label_sets` has one `e2e` test inside).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[cfg(feature = "e2e")]
mod alertmanager_config;
#[cfg(feature = "e2e")]
mod browser;
#[cfg(feature = "e2e")]
mod browser_playground;
#[cfg(feature = "e2e")]
mod browser_report;
#[cfg(feature = "e2e")]
mod conformance;
#[cfg(feature = "e2e")]
mod envoy_callouts;
#[cfg(feature = "e2e")]
mod envoy_chaos;
#[cfg(feature = "e2e")]
mod envoy_config;
#[cfg(feature = "e2e")]
mod envoy_failure_policy;
#[cfg(feature = "e2e")]
mod envoy_grpc;
#[cfg(feature = "e2e")]
mod envoy_grpc_local_reply;
#[cfg(feature = "e2e")]
mod envoy_harness_semantics;
#[cfg(feature = "e2e")]
mod envoy_lds;
#[cfg(feature = "e2e")]
mod envoy_log_level;
#[cfg(feature = "e2e")]
mod envoy_logs;
#[cfg(feature = "e2e")]
mod envoy_metrics;
#[cfg(feature = "e2e")]
mod envoy_native;
#[cfg(feature = "e2e")]
mod envoy_otlp_metrics;
#[cfg(feature = "e2e")]
mod envoy_planted_secrets;
#[cfg(feature = "e2e")]
mod envoy_plugin_chain;
#[cfg(feature = "e2e")]
mod envoy_remote_module;
#[cfg(feature = "e2e")]
mod envoy_sidecar;
#[cfg(feature = "e2e")]
mod envoy_soak;
#[cfg(feature = "e2e")]
mod envoy_span_attributes;
#[cfg(feature = "e2e")]
mod envoy_tracing;
mod glue_parity;
#[cfg(feature = "e2e")]
mod grafana_dashboard;
#[cfg(feature = "e2e")]
mod istio_resources;
mod label_sets;
#[cfg(feature = "e2e")]
mod oci_image;
#[cfg(feature = "e2e")]
mod otlp_logs_validator;
#[cfg(feature = "e2e")]
mod otlp_proto;
#[cfg(feature = "e2e")]
mod otlp_receivers;
#[cfg(feature = "e2e")]
mod otlp_validator;
mod planted_secrets;
mod playground_parity;
#[cfg(feature = "e2e")]
mod prometheus_e2e;
#[cfg(feature = "e2e")]
mod prometheus_rules;
#[cfg(feature = "e2e")]
mod prometheus_security;
#[cfg(feature = "e2e")]
mod promtail_config;
#[cfg(feature = "e2e")]
mod third_party;
