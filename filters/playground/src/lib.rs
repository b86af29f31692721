//! meshlens in the browser: `telemetry-core`'s pipeline on its recording host (`FakeHost`),
//! compiled to `wasm32-unknown-unknown` with wasm-bindgen, for the playground page
//! (`cargo xtask playground`).
//!
//! Two things, both the module's own code paths, nothing re-implemented:
//!
//! - [`validate`]: `Pipeline::configure`, as `on_configure` runs it; a refused configuration gives
//!   the field, the message, and the line the module logs.
//! - [`simulate`]: configure, one exchange in Envoy's callback order, then the clock moves on and
//!   the root ticks so the exporters send; the output is what the module decided (the
//!   trace-context decision and why, from `tracer::Decision`) and emitted (headers upstream and
//!   downstream, spans read back with `otlp-decode` as the harness reads them, access-log lines,
//!   metric series, redactions, log lines).
//!
//! With the default clock and seed (the harness's defaults) a simulation is byte for byte the
//! module's output in the harness for the same exchange: `tests/tests/all/playground_parity.rs`
//! checks every conformance scenario.
//!
//! The JavaScript API (module `bindings`, on wasm32 only) takes and returns JSON text:
//! `validate(config)`, `simulate(input)`, `version()`, `presets()`, `defaultConfig()`. Like the
//! module, this crate must never panic: unwraps, expects and panics are denied.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod input;
mod output;
mod simulate;

#[cfg(target_arch = "wasm32")]
mod bindings;

use serde::{Deserialize, Serialize};
use telemetry_core::pipeline::fake::FakeHost;
use telemetry_core::pipeline::{ConfigureError, Pipeline};

pub use input::{DEFAULT_SEED, DEFAULT_START_UNIX_MS, Input, MAX_BODY_BYTES, Property, Request, Response};
pub use output::{
    ConfigurationError, DecisionRecord, LogLine, MetricChange, Output, Redaction, SampleRule, Validation,
};

/// The default configuration: the Chat2SQL sample (`host-harness/testdata/chat2sql.config.json`).
pub const DEFAULT_CONFIG: &str = include_str!("../../../host-harness/testdata/chat2sql.config.json");

/// The request presets, as JSON: an array of [`Preset`].
pub const PRESETS: &str = include_str!("presets.json");

/// A named example exchange: an [`Input`] without a configuration (the page's is used), except
/// where the example needs one of its own (to show a header the default configuration does not
/// read, say).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub id: String,
    pub name: String,
    pub description: String,
    pub input: Input,
}

/// Whether the module accepts `config`: `Pipeline::configure` on a host with the default clock,
/// seed and an empty VM environment (a configuration naming an environment variable is refused,
/// as by a VM that does not set it).
pub fn validate(config: &str) -> Validation {
    let host = FakeHost::new(DEFAULT_START_UNIX_MS.saturating_mul(1_000_000), Input::default().seed_bytes());
    match Pipeline::configure(config.as_bytes(), &host) {
        Ok(_) => Validation { ok: true, error: None },
        Err(ConfigureError { line, invalid }) => {
            Validation { ok: false, error: Some(ConfigurationError::new(line, invalid)) }
        }
    }
}

/// Runs one exchange through the pipeline and returns what it decided and emitted.
pub fn simulate(input: &Input) -> Output {
    simulate::run(input)
}

/// [`simulate`] for JSON text: the [`Output`] as JSON, or one with only `input_error` when `input`
/// is not an [`Input`].
pub fn simulate_json(input: &str) -> String {
    // An object only: serde would also read a struct from an array, by position.
    let parsed = match serde_json::from_str::<serde_json::Value>(input) {
        Ok(value) if value.is_object() => Input::deserialize(value).map_err(|e| e.to_string()),
        Ok(_) => Err(String::from("not a JSON object")),
        Err(e) => Err(e.to_string()),
    };
    let output = match parsed {
        Ok(input) => simulate(&input),
        Err(e) => Output { input_error: Some(format!("invalid input: {e}")), ..Output::default() },
    };
    to_json(&output)
}

/// [`validate`], as JSON text.
pub fn validate_json(config: &str) -> String {
    to_json(&validate(config))
}

/// The presets, parsed.
pub fn presets() -> Vec<Preset> {
    serde_json::from_str(PRESETS).unwrap_or_default()
}

/// This crate's version (the workspace's).
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|e| format!(r#"{{"input_error":{}}}"#, serde_json::Value::String(e.to_string())))
}

#[cfg(test)]
mod tests;
