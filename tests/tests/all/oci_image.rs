//! The OCI image from `cargo xtask package` goes through real registry tooling and comes back as
//! the same module: pushed with `skopeo` to a Distribution registry (Debian's `docker-registry`) on
//! 127.0.0.1, its manifest inspected there, pulled back into a fresh OCI layout, and the
//! `plugin.wasm` in the pulled layer is byte-identical to the built module and loads in Envoy
//! (`envoy --mode validate` runs the module's `on_configure`).
//!
//! The layout is written by `cargo xtask package` (and by `cargo xtask test` before the tests);
//! this test does not build it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use meshlens_tests::envoy::{self, TempDir, free_port};
use meshlens_tests::paths;
use meshlens_tests_process::{Process, Ready, output_within};
use serde_json::Value;

const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// Istio's fetcher takes an OCI image whose last layer has this type as the compat variant.
const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A Distribution registry on a free 127.0.0.1 port, storage in a temp dir; killed on drop.
struct Registry {
    _process: Process,
    addr: SocketAddr,
    _dir: TempDir,
}

impl Registry {
    fn start() -> Self {
        let dir = TempDir::new("registry");
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let config = dir.0.join("config.yml");
        let text = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: {addr}\n",
            dir.0.join("data").display()
        );
        std::fs::write(&config, text).expect("write registry config");
        let mut cmd = Command::new(paths::registry());
        cmd.arg("serve").arg(&config).current_dir(&dir.0);
        let log = dir.0.join("registry.log");
        let process =
            Process::start("docker-registry", cmd, &log, &[Ready::Http(addr, "/v2/")], Duration::from_secs(20))
                .unwrap_or_else(|e| panic!("{e}"));
        Self { _process: process, addr, _dir: dir }
    }
}

/// Runs `skopeo` with a policy that accepts any image (the test's own registry, no signatures);
/// returns stdout, panicking with stderr when it fails.
fn skopeo(dir: &Path, args: &[&str]) -> Vec<u8> {
    let policy = dir.join("policy.json");
    std::fs::write(&policy, r#"{"default":[{"type":"insecureAcceptAnything"}]}"#).expect("write policy.json");
    let mut cmd = Command::new(paths::skopeo());
    cmd.arg("--policy").arg(&policy).args(args).env("HOME", dir);
    let out = run_bounded(cmd, Duration::from_secs(60));
    assert!(out.status.success(), "skopeo {args:?} failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Runs `cmd` to completion, killing it after `limit`.
fn run_bounded(cmd: Command, limit: Duration) -> std::process::Output {
    output_within(cmd, limit).unwrap_or_else(|e| panic!("{e}"))
}

/// The layout `cargo xtask package` wrote.
fn layout() -> PathBuf {
    let dir = paths::repo_root().join("target/oci/meshlens-edge-telemetry");
    assert!(
        dir.join("index.json").is_file(),
        "missing the OCI image layout {}: run `cargo xtask package` (cargo xtask test runs it)",
        dir.display()
    );
    dir
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// A blob of an OCI layout by its `sha256:<hex>` digest.
fn blob(layout: &Path, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap_or_else(|| panic!("not a sha256 digest: {digest}"));
    layout.join("blobs/sha256").join(hex)
}

/// The only manifest in an OCI layout's `index.json`: its digest.
fn manifest_digest(layout: &Path) -> String {
    let index = read_json(&layout.join("index.json"));
    let manifests = index["manifests"].as_array().expect("index.json manifests");
    assert_eq!(manifests.len(), 1, "one manifest in {}/index.json: {index}", layout.display());
    assert_eq!(manifests[0]["mediaType"], MANIFEST_TYPE);
    manifests[0]["digest"].as_str().expect("manifest digest").to_owned()
}

#[test]
fn package_pushes_inspects_pulls_back_identical_and_loads_in_envoy() {
    let built = layout();
    let module = std::fs::read(paths::edge_telemetry_wasm()).expect("read the built module");
    let digest = manifest_digest(&built);
    let manifest_bytes = std::fs::read(blob(&built, &digest)).expect("read the built manifest");
    let manifest: Value = serde_json::from_slice(&manifest_bytes).expect("manifest is JSON");
    let layer_digest = manifest["layers"][0]["digest"].as_str().expect("layer digest").to_owned();

    let registry = Registry::start();
    let dir = TempDir::new("oci");
    let image = format!("docker://{}/meshlens/edge-telemetry:test", registry.addr);

    skopeo(&dir.0, &["copy", "--dest-tls-verify=false", &format!("oci:{}", built.display()), &image]);

    // The registry serves the manifest byte for byte, so its digest (what WasmPlugin.spec.sha256
    // pins for an oci:// URL) is the one `package` printed.
    let raw = skopeo(&dir.0, &["inspect", "--raw", "--tls-verify=false", &image]);
    assert_eq!(
        String::from_utf8_lossy(&raw),
        String::from_utf8_lossy(&manifest_bytes),
        "registry manifest differs from the built one"
    );
    let served = skopeo(&dir.0, &["inspect", "--tls-verify=false", "--format", "{{.Digest}}", &image]);
    assert_eq!(String::from_utf8_lossy(&served).trim(), digest);
    let raw: Value = serde_json::from_slice(&raw).expect("registry manifest is JSON");
    assert_eq!(raw["schemaVersion"], 2);
    assert_eq!(raw["mediaType"], MANIFEST_TYPE);
    assert_eq!(raw["config"]["mediaType"], CONFIG_TYPE);
    let layers = raw["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "the compat variant has a single layer: {raw}");
    assert_eq!(layers[0]["mediaType"], LAYER_TYPE);
    assert_eq!(layers[0]["digest"].as_str(), Some(layer_digest.as_str()));

    // Pull into a fresh layout and take plugin.wasm out of the pulled layer with GNU tar.
    let pulled = dir.0.join("pulled");
    skopeo(&dir.0, &["copy", "--src-tls-verify=false", &image, &format!("oci:{}:test", pulled.display())]);
    let pulled_digest = manifest_digest(&pulled);
    assert_eq!(pulled_digest, digest, "pulled manifest digest");
    let pulled_manifest = read_json(&blob(&pulled, &pulled_digest));
    let pulled_layer = blob(&pulled, pulled_manifest["layers"][0]["digest"].as_str().expect("pulled layer digest"));
    let extracted = dir.0.join("extracted");
    std::fs::create_dir_all(&extracted).expect("create extract dir");
    let mut tar = Command::new("tar");
    tar.arg("-xzf").arg(&pulled_layer).arg("-C").arg(&extracted).arg("plugin.wasm");
    let out = run_bounded(tar, Duration::from_secs(30));
    assert!(out.status.success(), "tar -xzf the pulled layer: {}", String::from_utf8_lossy(&out.stderr));
    let wasm = extracted.join("plugin.wasm");
    let pulled_module = std::fs::read(&wasm).expect("read the pulled plugin.wasm");
    assert!(
        pulled_module == module,
        "the pulled plugin.wasm ({} bytes) differs from {} ({} bytes): re-run `cargo xtask package`",
        pulled_module.len(),
        paths::edge_telemetry_wasm().display(),
        module.len()
    );

    // The pulled module loads in Envoy with the shipped edge gateway config.
    let gateway = std::fs::read_to_string(paths::repo_root().join("envoy-config/edge-gateway.yaml"))
        .expect("read envoy-config/edge-gateway.yaml");
    let shipped_path = "target/wasm32-wasip1/release/edge_telemetry.wasm";
    assert!(gateway.contains(shipped_path), "edge-gateway.yaml no longer loads {shipped_path}");
    let config = dir.0.join("edge-gateway.yaml");
    std::fs::write(&config, gateway.replace(shipped_path, &wasm.display().to_string())).expect("write config");
    let (ok, output) = envoy::validate(&config);
    assert!(ok, "envoy --mode validate with the pulled module failed:\n{output}");
    drop(registry);
}
