//! Benchmarks live in `benches/`; see benches/README.md. The library holds what they share with
//! `cargo xtask`.

pub mod shapes;
