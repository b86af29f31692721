//! Running a real Envoy 1.40 with meshlens's native build (`filters/edge-telemetry-native`, an
//! Envoy dynamic module) from `envoy-config/edge-gateway-native.yaml`.
//!
//! Envoy finds the module by name (`dynamic_module_config.name: edge_telemetry_native`) in
//! `$ENVOY_DYNAMIC_MODULES_SEARCH_PATH`: the directory of the built
//! `libedge_telemetry_native.so`, which this sets for the Envoy it starts (and for no other
//! process).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::envoy::{Envoy, Render, free_port, render};
use crate::paths;

/// The shipped native bootstrap, relative to `envoy-config/`.
pub const CONFIG: &str = "edge-gateway-native.yaml";

/// Envoy's log flags for the native build: meshlens writes through the `dynamic_modules` logger.
pub const LOG_INFO_NATIVE: [&str; 4] = ["--log-level", "info", "--component-log-level", "dynamic_modules:info"];

/// The built module (`$MESHLENS_NATIVE`, else `target/native/libedge_telemetry_native.so`, the
/// output of `cargo build -p edge-telemetry-native --profile native`, which `cargo xtask test`
/// runs).
pub fn module() -> PathBuf {
    let path = std::env::var_os("MESHLENS_NATIVE")
        .map(PathBuf::from)
        .unwrap_or_else(|| paths::repo_root().join("target/native/libedge_telemetry_native.so"));
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build -p edge-telemetry-native --profile native` \
         (`cargo xtask test` does, and exports MESHLENS_NATIVE)",
        path.display()
    );
    assert_eq!(
        path.file_name().and_then(|n| n.to_str()),
        Some("libedge_telemetry_native.so"),
        "Envoy loads the module by name: the file must be libedge_telemetry_native.so"
    );
    path
}

/// The variable through which Envoy finds the native module, and the module's directory.
fn search_path(module: &Path) -> [(&'static str, &Path); 1] {
    [("ENVOY_DYNAMIC_MODULES_SEARCH_PATH", module.parent().unwrap_or(Path::new(".")))]
}

/// Starts Envoy with the native bootstrap rendered for this run (its `/meshlens/metrics`
/// listener on a free port), finding the built module; waits until it is ready.
pub fn start(r: &Render, concurrency: u32) -> Envoy {
    let (listener, admin) = (free_port(), free_port());
    let module = module();
    Envoy::start_with(
        &render(CONFIG, r, listener, admin),
        listener,
        admin,
        concurrency,
        &LOG_INFO_NATIVE,
        &search_path(&module),
    )
}

/// An Envoy command for `config` that finds the native module, other flags to add.
pub fn envoy_command(config: &Path) -> Command {
    let module = module();
    let mut cmd = Command::new(paths::envoy());
    cmd.args(["-c", &config.display().to_string(), "--use-dynamic-base-id", "--disable-hot-restart"])
        .envs(search_path(&module))
        .current_dir(paths::repo_root());
    cmd
}

/// Runs `envoy --mode validate` on a native config; (success, combined output).
pub fn validate(config: &Path) -> (bool, String) {
    let out = envoy_command(config).args(["--mode", "validate"]).args(LOG_INFO_NATIVE).output().expect("run envoy");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// The access lines meshlens wrote into Envoy's log (`[info][dynamic_modules] [:] {...}`), as JSON.
pub fn access_lines(log: &str) -> Vec<serde_json::Value> {
    log.lines()
        .filter(|l| l.contains("][dynamic_modules] "))
        .filter_map(|l| l.find("] {").and_then(|i| l.get(i + 2..)))
        .filter_map(|json| serde_json::from_str(json).ok())
        .collect()
}

/// The meshlens series of Prometheus text (`name{labels} value`), with the prefix Envoy puts on
/// a dynamic module's stats (`envoy_dynamicmodulescustom_`) removed.
pub fn meshlens_series(text: &str) -> Vec<(String, u64)> {
    let mut series: Vec<(String, u64)> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(name, value)| {
            let name = name.strip_prefix("envoy_dynamicmodulescustom_").unwrap_or(name);
            let value = value.trim().parse::<f64>().ok()? as u64;
            name.starts_with("meshlens_").then(|| (name.replace("{}", ""), value))
        })
        .collect();
    series.sort();
    series
}
