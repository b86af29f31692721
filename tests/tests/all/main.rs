//! The one integration-test binary of the `meshlens-tests` package.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod alertmanager_config;
mod conformance;
mod envoy_config;
mod envoy_logs;
mod envoy_metrics;
mod envoy_remote_module;
mod envoy_sidecar;
mod envoy_tracing;
mod glue_parity;
mod grafana_dashboard;
mod istio_resources;
mod oci_image;
mod otlp_logs_validator;
mod otlp_validator;
mod prometheus_e2e;
mod prometheus_rules;
mod promtail_config;
