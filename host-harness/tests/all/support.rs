//! Shared fixtures: modules compiled once per test binary.

use std::path::PathBuf;
use std::sync::OnceLock;

use host_harness::Module;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// `edge_telemetry.wasm` (release build), compiled once for the whole test binary.
pub fn edge_telemetry() -> Module {
    static MODULE: OnceLock<Module> = OnceLock::new();
    MODULE
        .get_or_init(|| {
            let path = std::env::var_os("MESHLENS_WASM")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo_root().join("target/wasm32-wasip1/release/edge_telemetry.wasm"));
            assert!(path.exists(), "missing {} (run `cargo xtask build`)", path.display());
            Module::from_file(&path).unwrap()
        })
        .clone()
}
