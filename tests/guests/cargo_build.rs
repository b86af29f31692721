//! How the guests are built: the cargo commands, their target directory and their outputs. One
//! definition shared by `tests/guests/build.rs` (which builds them for the tests) and `cargo xtask
//! build` (which ships the module), so both run the same command in the same target directory
//! and whichever runs second finds the module fresh instead of compiling it again.
//!
//! Plain `std`, no dependencies: xtask includes this file with `#[path]`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The target of the shipped module and of most guests.
pub const WASIP1: &str = "wasm32-wasip1";
/// The other target `sdk-probe` is built for.
pub const UNKNOWN: &str = "wasm32-unknown-unknown";

/// One `cargo build --release` of some workspace packages for some wasm targets.
#[derive(Debug, Clone, Copy)]
pub struct Build {
    pub packages: &'static [&'static str],
    pub targets: &'static [&'static str],
}

/// The shipped module and the benchmark's floor module, exactly as `cargo xtask build` ships them
/// (release profile, `wasm32-wasip1`): the tests test the shipped optimisation level.
pub const SHIPPED: Build = Build { packages: &["edge-telemetry", "minimal-header"], targets: &[WASIP1] };

/// The SDK-built test guest, for both wasm targets.
pub const SDK_PROBE: Build = Build { packages: &["sdk-probe"], targets: &[WASIP1, UNKNOWN] };

/// The guest that traps on demand (the `failure_policy` test).
pub const TRAP_PROBE: Build = Build { packages: &["trap-probe"], targets: &[WASIP1] };

/// Every guest the tests use.
pub const ALL: [Build; 3] = [SHIPPED, SDK_PROBE, TRAP_PROBE];

/// Where the guests are built: `guests/` in the workspace's target directory
/// (`$CARGO_TARGET_DIR`, else `target/`). A directory of its own, because the build script runs
/// while the cargo that started it holds the lock of the normal target directory.
pub fn target_dir(root: &Path) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |dir| root.join(dir));
    target.join("guests")
}

/// The `.wasm` a build writes for `package` and `target` (the library name: dashes become
/// underscores).
pub fn wasm(target_dir: &Path, target: &str, package: &str) -> PathBuf {
    target_dir.join(target).join("release").join(format!("{}.wasm", package.replace('-', "_")))
}

/// Runs `build` in the workspace at `root`; an error names the command, shows cargo's output and,
/// when a target is missing, the `rustup target add` that installs it.
pub fn run(root: &Path, build: Build) -> Result<(), String> {
    for target in build.targets {
        target_installed(target)?;
    }
    let mut cmd = command(root, build);
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| format!("cannot run {shown}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let hint = build
        .targets
        .iter()
        .filter(|t| stderr.contains("target may not be installed") && stderr.contains(*t))
        .map(|t| format!("\nthe {t} target is missing: run `rustup target add {t}`"))
        .collect::<String>();
    Err(format!("{shown} failed ({}):\n{stderr}{hint}", out.status))
}

/// The cargo command of `build`, with the environment a build script inherits from the cargo
/// running it cleared where it would change what is built (flags for the host, clippy as the
/// compiler): the command is the same from a build script and from xtask, so its results are
/// shared.
pub fn command(root: &Path, build: Build) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root).args(["build", "--release"]);
    for package in build.packages {
        cmd.args(["-p", package]);
    }
    for target in build.targets {
        cmd.args(["--target", target]);
    }
    cmd.env("CARGO_TARGET_DIR", target_dir(root)).stdin(Stdio::null());
    for var in ["CARGO_ENCODED_RUSTFLAGS", "RUSTC_WORKSPACE_WRAPPER", "RUSTC", "RUSTDOC", "CARGO_BUILD_TARGET"] {
        cmd.env_remove(var);
    }
    cmd
}

/// Fails with the `rustup target add` to run when the standard library for `target` is missing.
fn target_installed(target: &str) -> Result<(), String> {
    let out = Command::new("rustc")
        .args(["--print", "sysroot"])
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .output()
        .map_err(|e| format!("cannot run rustc --print sysroot: {e}"))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if sysroot.join("lib/rustlib").join(target).join("lib").is_dir() {
        Ok(())
    } else {
        Err(format!(
            "the {target} target is not installed (no {}): run `rustup target add {target}`",
            sysroot.join("lib/rustlib").join(target).display()
        ))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_missing_target_names_the_rustup_command_that_installs_it() {
        let error = super::target_installed("wasm32-no-such-target").unwrap_err();
        assert!(error.contains("run `rustup target add wasm32-no-such-target`"), "{error}");
        assert_eq!(super::target_installed(super::WASIP1), Ok(()));
    }
}
