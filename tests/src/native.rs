//! Running a real Envoy 1.40 with meshlens's native build (`filters/edge-telemetry-native`, an
//! Envoy dynamic module) from `envoy-config/edge-gateway-native.yaml`.
//!
//! Envoy finds the module by name (`dynamic_module_config.name: edge_telemetry_native`) in
//! `$ENVOY_DYNAMIC_MODULES_SEARCH_PATH`: the directory of the built
//! `libedge_telemetry_native.so`, which this sets for the Envoy it starts (and for no other
//! process).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use meshlens_tests_process::{Process, Ready};

use crate::envoy::{Render, TempDir, free_port, render};
use crate::{http, paths};

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

/// A running Envoy with the native module; killed and reaped when dropped.
pub struct NativeEnvoy {
    _process: Process,
    pub listener: SocketAddr,
    pub admin: SocketAddr,
    /// The `/meshlens/metrics` listener (the shipped port 9464, rendered to a free one).
    pub metrics: SocketAddr,
    log: PathBuf,
    _dir: TempDir,
}

impl NativeEnvoy {
    /// Starts Envoy with the native bootstrap rendered for this run.
    pub fn start(r: &Render, concurrency: u32) -> Self {
        let (listener, admin, metrics) = (free_port(), free_port(), free_port());
        let text = render(CONFIG, r, listener, admin).replace("port_value: 9464", &format!("port_value: {metrics}"));
        Self::start_text(&text, listener, admin, metrics, concurrency)
    }

    /// Starts Envoy with a rendered config text; waits (at most 60 s) until it is ready.
    pub fn start_text(text: &str, listener: u16, admin: u16, metrics: u16, concurrency: u32) -> Self {
        let dir = TempDir::new("envoy-native");
        let config = dir.0.join("envoy.yaml");
        std::fs::write(&config, text).expect("write config");
        let log = dir.0.join("envoy.log");
        let mut cmd = envoy_command(&config);
        cmd.args(["--concurrency", &concurrency.to_string()]).args(LOG_INFO_NATIVE).args([
            "--log-path",
            &log.display().to_string(),
            "--file-flush-interval-msec",
            "100",
        ]);
        let (listener, admin) =
            (SocketAddr::from(([127, 0, 0, 1], listener)), SocketAddr::from(([127, 0, 0, 1], admin)));
        let ready = [Ready::Http(admin, "/ready"), Ready::Port(listener)];
        let process = Process::start("envoy", cmd, &dir.0.join("envoy.out"), &ready, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{e}\nlog:\n{}", std::fs::read_to_string(&log).unwrap_or_default()));
        let metrics = SocketAddr::from(([127, 0, 0, 1], metrics));
        Self { _process: process, listener, admin, metrics, log, _dir: dir }
    }

    /// Envoy's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `/stats/prometheus` text.
    pub fn prometheus(&self) -> String {
        let r = http::get(self.admin, "/stats/prometheus", &[]).expect("GET /stats/prometheus");
        String::from_utf8_lossy(&r.body).into_owned()
    }

    /// What meshlens serves at `/meshlens/metrics`.
    pub fn module_metrics(&self) -> String {
        let r = http::get(self.metrics, "/meshlens/metrics", &[]).expect("GET /meshlens/metrics");
        assert_eq!(r.status(), 200, "{}", String::from_utf8_lossy(&r.body));
        String::from_utf8_lossy(&r.body).into_owned()
    }
}

/// An Envoy command for `config` that finds the native module, other flags to add.
pub fn envoy_command(config: &Path) -> Command {
    let module = module();
    let mut cmd = Command::new(paths::envoy());
    cmd.args(["-c", &config.display().to_string(), "--use-dynamic-base-id", "--disable-hot-restart"])
        .env("ENVOY_DYNAMIC_MODULES_SEARCH_PATH", module.parent().unwrap_or(Path::new(".")))
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
