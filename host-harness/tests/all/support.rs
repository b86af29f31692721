//! Shared fixtures: modules compiled once per test binary. The `.wasm` files are built by the
//! `meshlens-tests-guests` crate (`tests/guests`)'s build script before this binary compiles.

use std::path::PathBuf;
use std::sync::OnceLock;

use host_harness::Module;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A third-party module of `../shared/third-party/rust-sdk-examples/` (the proxy-wasm Rust SDK's
/// examples; the shared directory is `$MESHLENS_SHARED` when set, as for the e2e tests).
pub fn third_party(name: &str) -> PathBuf {
    let shared = std::env::var_os("MESHLENS_SHARED").map_or_else(|| repo_root().join("../shared"), PathBuf::from);
    let path = shared.join("third-party/rust-sdk-examples").join(name);
    assert!(path.is_file(), "{} is missing (set MESHLENS_SHARED)", path.display());
    path
}

/// `edge_telemetry.wasm` (release build), compiled once for the whole test binary.
pub fn edge_telemetry() -> Module {
    static MODULE: OnceLock<Module> = OnceLock::new();
    MODULE.get_or_init(|| Module::from_file(edge_telemetry_path()).unwrap()).clone()
}

/// The path of `edge_telemetry.wasm` as shipped (`MESHLENS_WASM` overrides it).
pub fn edge_telemetry_path() -> PathBuf {
    let path = std::env::var_os("MESHLENS_WASM")
        .map_or_else(|| PathBuf::from(meshlens_tests_guests::EDGE_TELEMETRY), PathBuf::from);
    assert!(path.exists(), "missing {} (MESHLENS_WASM names a file that does not exist)", path.display());
    path
}

/// The targets the `sdk-probe` test guest is built for.
pub const SDK_PROBE_TARGETS: [&str; 2] = ["wasm32-wasip1", "wasm32-unknown-unknown"];

/// The `sdk-probe` test guest (`tests/guests/sdk-probe`, the Rust SDK's features) built for
/// `target`, compiled once per test binary.
pub fn sdk_probe(target: &str) -> Module {
    static WASIP1: OnceLock<Module> = OnceLock::new();
    static UNKNOWN: OnceLock<Module> = OnceLock::new();
    let (cell, wasm) = match target {
        "wasm32-wasip1" => (&WASIP1, meshlens_tests_guests::SDK_PROBE_WASIP1),
        "wasm32-unknown-unknown" => (&UNKNOWN, meshlens_tests_guests::SDK_PROBE_UNKNOWN),
        other => panic!("sdk-probe is not built for {other}"),
    };
    cell.get_or_init(|| Module::from_file(wasm).unwrap_or_else(|e| panic!("cannot load {wasm}: {e}"))).clone()
}
