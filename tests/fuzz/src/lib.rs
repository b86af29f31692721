//! Structure-aware fuzzing of the meshlens module in the harness (`cargo xtask fuzz`).
//!
//! [`exchanges`] makes hostile HTTP exchanges from a seed, [`run`] drives them through the module in
//! the harness, and [`check`] holds the invariants every exchange must keep: no trap, no panic,
//! every log line that is JSON parses, every export payload decodes as OTLP with valid ids, the
//! headers the module writes are well formed and in their grammar, and linear memory stays
//! bounded. The parsers in `telemetry-core` have their own property tests (proptest, with
//! shrinking), next to each parser.

pub mod check;
pub mod exchanges;
pub mod rng;
pub mod run;
