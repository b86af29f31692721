//! Builds every test guest (`cargo_build.rs` says which and how) and writes their paths as
//! constants into `$OUT_DIR/guests.rs`, which `src/lib.rs` includes. Runs again only when a
//! guest's sources or the workspace's manifest and lock file change; cargo then rebuilds only
//! what changed.

mod cargo_build;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The constants written, with the package and target each names.
const CONSTANTS: [(&str, &str, &str); 5] = [
    ("EDGE_TELEMETRY", "edge-telemetry", cargo_build::WASIP1),
    ("MINIMAL_HEADER", "minimal-header", cargo_build::WASIP1),
    ("SDK_PROBE_WASIP1", "sdk-probe", cargo_build::WASIP1),
    ("SDK_PROBE_UNKNOWN", "sdk-probe", cargo_build::UNKNOWN),
    ("TRAP_PROBE", "trap-probe", cargo_build::WASIP1),
];

/// What the guests are built from, relative to the workspace root.
const SOURCES: [&str; 9] = [
    "Cargo.toml",
    "Cargo.lock",
    "filters/telemetry-core",
    "filters/edge-telemetry",
    "filters/minimal-header",
    "filters/proxy-wasm-abi",
    "tests/guests/sdk-probe",
    "tests/guests/trap-probe",
    "tests/guests/cargo_build.rs",
];

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("meshlens-tests-guests: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR is not set")?);
    let root = manifest_dir
        .ancestors()
        .nth(2)
        .ok_or("tests/guests/ is not two levels below the workspace root")?
        .to_path_buf();
    for source in SOURCES {
        println!("cargo:rerun-if-changed={}", root.join(source).display());
    }
    for var in ["CARGO_TARGET_DIR", "CARGO_PROFILE_RELEASE_STRIP", "CARGO_PROFILE_RELEASE_OPT_LEVEL", "RUSTFLAGS"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    for build in cargo_build::ALL {
        cargo_build::run(&root, build)?;
    }
    let target_dir = cargo_build::target_dir(&root);
    let mut code = String::new();
    for (name, package, target) in CONSTANTS {
        let wasm = cargo_build::wasm(&target_dir, target, package);
        if !wasm.is_file() {
            return Err(format!("cargo built {package} for {target} but {} is missing", wasm.display()));
        }
        let _ = writeln!(code, "/// `{package}` built for `{target}` (release): `{}`.", shown(&root, &wasm));
        let _ = writeln!(code, "pub const {name}: &str = {:?};", wasm.display().to_string());
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?).join("guests.rs");
    std::fs::write(&out, code).map_err(|e| format!("{}: {e}", out.display()))
}

/// `path` relative to the workspace root when it is inside it.
fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}
