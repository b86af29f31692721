//! The guest modules the tests and benchmarks run, built once per `cargo test` (or `cargo bench`)
//! by this crate's build script, and found through the path constants below.
//!
//! The build script runs `cargo build --release` for each guest's wasm target into
//! `target/guests/` (a target directory of its own, so it does not wait for the lock of the cargo
//! that runs it), with the same command `cargo xtask build` uses for the shipped module, so the
//! tests run the module exactly as shipped and neither build compiles it twice. It runs again
//! only when a guest's sources change.
//!
//! A missing wasm target fails the build with the `rustup target add` that installs it.
//!
//! ```
//! let module = std::fs::read(meshlens_tests_guests::EDGE_TELEMETRY).unwrap();
//! assert_eq!(&module[..4], b"\0asm");
//! ```

include!(concat!(env!("OUT_DIR"), "/guests.rs"));
