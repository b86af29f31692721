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
    MODULE.get_or_init(|| Module::from_file(edge_telemetry_path()).unwrap()).clone()
}

/// The path of `edge_telemetry.wasm` (release build; `MESHLENS_WASM` overrides it).
pub fn edge_telemetry_path() -> PathBuf {
    let path = std::env::var_os("MESHLENS_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/wasm32-wasip1/release/edge_telemetry.wasm"));
    assert!(path.exists(), "missing {} (run `cargo xtask build`)", path.display());
    path
}

/// The targets the `sdk-probe` test guest is built for.
pub const SDK_PROBE_TARGETS: [&str; 2] = ["wasm32-wasip1", "wasm32-unknown-unknown"];

/// The `sdk-probe` test guest (`host-harness/test-guests/sdk-probe`, the Rust SDK's features)
/// built for `target`, compiled once per test binary. The first call builds both targets with
/// cargo into `target/test-guests` when a `.wasm` is missing or older than the guest's sources.
pub fn sdk_probe(target: &str) -> Module {
    static WASIP1: OnceLock<Module> = OnceLock::new();
    static UNKNOWN: OnceLock<Module> = OnceLock::new();
    let cell = match target {
        "wasm32-wasip1" => &WASIP1,
        "wasm32-unknown-unknown" => &UNKNOWN,
        other => panic!("sdk-probe is not built for {other}"),
    };
    cell.get_or_init(|| {
        static BUILD: OnceLock<Result<(), String>> = OnceLock::new();
        if let Err(message) = BUILD.get_or_init(build_sdk_probe) {
            panic!("{message}");
        }
        let wasm = sdk_probe_wasm(target);
        Module::from_file(&wasm).unwrap_or_else(|e| panic!("cannot load {}: {e}", wasm.display()))
    })
    .clone()
}

fn sdk_probe_dir() -> PathBuf {
    repo_root().join("host-harness/test-guests/sdk-probe")
}

fn sdk_probe_target_dir() -> PathBuf {
    repo_root().join("target/test-guests")
}

fn sdk_probe_wasm(target: &str) -> PathBuf {
    sdk_probe_target_dir().join(target).join("release/sdk_probe.wasm")
}

/// Builds every stale `sdk-probe` target; the error says what to do.
fn build_sdk_probe() -> Result<(), String> {
    let dir = sdk_probe_dir();
    let sources = newest_change(&dir.join("src"))
        .max(newest_change(&dir.join("Cargo.toml")))
        .max(newest_change(&dir.join("Cargo.lock")));
    for target in SDK_PROBE_TARGETS {
        let built = std::fs::metadata(sdk_probe_wasm(target)).and_then(|m| m.modified()).ok();
        if built.is_some_and(|built| Some(built) >= sources) {
            continue;
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let manifest = dir.join("Cargo.toml");
        eprintln!("building sdk-probe for {target}");
        let output = std::process::Command::new(cargo)
            .args(["build", "--release", "--target", target, "--manifest-path"])
            .arg(&manifest)
            .env("CARGO_TARGET_DIR", sdk_probe_target_dir())
            .output()
            .map_err(|e| format!("cannot run cargo to build sdk-probe: {e}"))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let hint = if stderr.contains("target may not be installed") || stderr.contains("can't find crate for") {
                format!("\nthe {target} target is missing: run `rustup target add {target}`")
            } else {
                String::new()
            };
            return Err(format!(
                "building sdk-probe for {target} failed (CARGO_TARGET_DIR=target/test-guests cargo build --release \
                 --target {target} --manifest-path {}):\n{stderr}{hint}",
                manifest.display()
            ));
        }
    }
    Ok(())
}

/// The latest modification time of a file, or of any file under a directory.
fn newest_change(path: &std::path::Path) -> Option<std::time::SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path).ok()?.flatten().filter_map(|entry| newest_change(&entry.path())).max()
}
