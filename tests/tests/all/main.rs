//! The one integration-test binary of the `meshlens-tests` package.

mod envoy_config;
mod envoy_tracing;
mod otlp_validator;
