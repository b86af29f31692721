//! Running a real Envoy (1.40, V8 Wasm runtime) with a config from `envoy-config/`.
//!
//! The shipped configs listen on fixed, documented ports (listener 10000, admin 9901, app
//! upstream 8080, collector 4318) and load the module from its release build path. A test
//! renders a config with free loopback ports and the module path, starts Envoy, waits until the
//! admin endpoint reports LIVE, and kills it when the handle is dropped. A test that runs a
//! module outside the shipped configs builds its bootstrap with [`bootstrap`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use meshlens_tests_process::{Process, Ready};

use crate::{http, paths};

pub mod bootstrap;

/// A running Envoy; killed and reaped when dropped.
pub struct Envoy {
    /// Killed and reaped when dropped.
    process: Process,
    pub listener: SocketAddr,
    pub admin: SocketAddr,
    /// The listener where meshlens serves `/meshlens/metrics`, when the config has one (the
    /// shipped port 9464, rendered to a free one).
    pub metrics: Option<SocketAddr>,
    log: PathBuf,
    _dir: TempDir,
}

/// Ports and paths substituted into a shipped config.
#[derive(Debug, Clone)]
pub struct Render {
    pub app_port: u16,
    pub collector_port: u16,
    /// Replaces the plugin configuration JSON after the `# meshlens-config:` marker.
    pub plugin_config: Option<String>,
}

/// Envoy's log flags. Every Envoy the tests and the demo start writes meshlens's lines: the
/// `wasm` logger at info, as the shipped bootstraps' README asks
/// (`--component-log-level wasm:info`).
pub const LOG_INFO: [&str; 4] = ["--log-level", "info", "--component-log-level", "wasm:info"];
/// Istio's proxy default (`warning`) with the `wasm` logger at info, as the shipped Istio
/// resources set it (`sidecar.istio.io/componentLogLevel: "wasm:info"`).
pub const LOG_WARNING_WASM_INFO: [&str; 4] = ["--log-level", "warning", "--component-log-level", "wasm:info"];

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl TempDir {
    /// A fresh directory under the system temp dir.
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("meshlens-{tag}-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }
}

/// A port that was free a moment ago on 127.0.0.1 ([`meshlens_tests_process::free_port`]).
pub fn free_port() -> u16 {
    meshlens_tests_process::free_port().expect("free port")
}

/// Renders a shipped config (path relative to `envoy-config/`) for this test run.
pub fn render(config: &str, r: &Render, listener: u16, admin: u16) -> String {
    let path = paths::repo_root().join("envoy-config").join(config);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let wasm = paths::edge_telemetry_wasm();
    // Through placeholders: a free port that starts like a fixed one (43185 and 4318) must not be
    // rewritten by the next replacement.
    let ports = [(10000, listener), (9901, admin), (8080, r.app_port), (4318, r.collector_port)];
    let marked = ports
        .iter()
        .fold(text, |text, (from, _)| text.replace(&format!("port_value: {from}"), &format!("port_value: @{from}@")));
    let mut text = ports
        .iter()
        .fold(marked, |text, (from, to)| text.replace(&format!("port_value: @{from}@"), &format!("port_value: {to}")))
        .replace("target/wasm32-wasip1/release/edge_telemetry.wasm", &wasm.display().to_string());
    if let Some(plugin) = &r.plugin_config {
        text = replace_plugin_config(&text, plugin);
    }
    text
}

/// Replaces the block scalar after the `# meshlens-config` marker with `plugin`.
pub fn replace_plugin_config(text: &str, plugin: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    let mut found = false;
    while let Some(line) = lines.next() {
        out.push_str(line);
        out.push('\n');
        if !line.trim_start().starts_with("# meshlens-config:") {
            continue;
        }
        let value = lines.next().expect("a `value: |` line after the marker");
        assert!(value.trim_end().ends_with("value: |"), "marker must precede `value: |`, found {value}");
        out.push_str(value);
        out.push('\n');
        let indent = value.len() - value.trim_start().len();
        while lines.peek().is_some_and(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent) {
            lines.next();
        }
        for l in plugin.lines() {
            out.push_str(&format!("{}{l}\n", " ".repeat(indent + 2)));
        }
        found = true;
    }
    assert!(found, "config has no `# meshlens-config:` marker");
    out
}

impl Envoy {
    /// Starts Envoy with a shipped config rendered for this run, with `concurrency` workers.
    pub fn start(config: &str, r: &Render, concurrency: u32) -> Self {
        let (listener, admin) = (free_port(), free_port());
        let text = render(config, r, listener, admin);
        Self::start_text(&text, listener, admin, concurrency)
    }

    /// Starts Envoy with a rendered config text whose listener and admin ports are given; waits
    /// (at most 60 s) until the admin endpoint says it is ready and the listener accepts.
    pub fn start_text(text: &str, listener: u16, admin: u16, concurrency: u32) -> Self {
        Self::start_logging(text, listener, admin, concurrency, &LOG_INFO)
    }

    /// [`Envoy::start_text`] with these log flags (`--log-level`, `--component-log-level`).
    pub fn start_logging(text: &str, listener: u16, admin: u16, concurrency: u32, log_flags: &[&str]) -> Self {
        Self::start_with(text, listener, admin, concurrency, log_flags, &[])
    }

    /// [`Envoy::start_logging`] with these environment variables set for Envoy alone (e.g.
    /// `ENVOY_DYNAMIC_MODULES_SEARCH_PATH` for a native module).
    pub fn start_with(
        text: &str,
        listener: u16,
        admin: u16,
        concurrency: u32,
        log_flags: &[&str],
        env: &[(&str, &Path)],
    ) -> Self {
        let metrics = text.contains("port_value: 9464").then(free_port);
        let text = match metrics {
            Some(port) => text.replace("port_value: 9464", &format!("port_value: {port}")),
            None => text.to_owned(),
        };
        let dir = TempDir::new("envoy");
        let config = dir.0.join("envoy.yaml");
        std::fs::write(&config, &text).expect("write config");
        let log = dir.0.join("envoy.log");
        let mut cmd = Command::new(paths::envoy());
        cmd.args(["-c", &config.display().to_string(), "--concurrency", &concurrency.to_string()])
            .args(log_flags)
            .args(["--use-dynamic-base-id", "--log-path", &log.display().to_string()])
            // Envoy flushes `--log-path` every 10 s by default: a test that waits for a line
            // would wait that long, and one waiting less fails under load.
            .args(["--file-flush-interval-msec", "100"])
            .args(["--disable-hot-restart"])
            .envs(env.iter().copied())
            .current_dir(paths::repo_root());
        let (listener, admin) =
            (SocketAddr::from(([127, 0, 0, 1], listener)), SocketAddr::from(([127, 0, 0, 1], admin)));
        let ready = [Ready::Http(admin, "/ready"), Ready::Port(listener)];
        let process = Process::start("envoy", cmd, &dir.0.join("envoy.out"), &ready, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{e}\nlog:\n{}", std::fs::read_to_string(&log).unwrap_or_default()));
        let metrics = metrics.map(|port| SocketAddr::from(([127, 0, 0, 1], port)));
        Self { process, listener, admin, metrics, log, _dir: dir }
    }

    /// Envoy's process id.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Envoy's resident memory (`VmRSS`), in bytes.
    pub fn rss_bytes(&self) -> u64 {
        let pid = self.pid();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/<pid>/status");
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS in /proc/<pid>/status");
        kb * 1024
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

    /// What meshlens serves at `/meshlens/metrics` (empty without a metrics listener).
    pub fn module_metrics(&self) -> String {
        let Some(addr) = self.metrics else { return String::new() };
        let r = http::get(addr, "/meshlens/metrics", &[]).expect("GET /meshlens/metrics");
        assert_eq!(r.status(), 200, "{}", String::from_utf8_lossy(&r.body));
        String::from_utf8_lossy(&r.body).into_owned()
    }

    /// Everything Prometheus scrapes from this Envoy: `/stats/prometheus`, then
    /// `/meshlens/metrics` when served.
    pub fn scrape(&self) -> String {
        let mut text = self.prometheus();
        text.push_str(&self.module_metrics());
        text
    }

    /// The value of an unlabelled series in `/stats/prometheus` (0 when absent).
    pub fn metric(&self, name: &str) -> u64 {
        metric_value(&self.prometheus(), name)
    }
}

/// The value of series `name` (no labels) in Prometheus text; 0 when absent.
pub fn metric_value(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .find(|(series, _)| *series == name || series.strip_prefix(name).is_some_and(|r| r.starts_with('{')))
        .and_then(|(_, v)| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// Runs `envoy --mode validate` on a config file; returns (success, combined output).
pub fn validate(config: &Path) -> (bool, String) {
    let out = Command::new(paths::envoy())
        .args([
            "--mode",
            "validate",
            "-c",
            &config.display().to_string(),
            "--use-dynamic-base-id",
            "--disable-hot-restart",
        ])
        .current_dir(paths::repo_root())
        .output()
        .expect("run envoy --mode validate");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// The `stats_config.stats_tags` of a shipped config, as (tag name, regex) pairs in order.
pub fn stats_tags(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let name = l.split("tag_name:").nth(1)?.split(',').next()?.trim().to_owned();
            let regex = l.split("regex:").nth(1)?.trim().trim_end_matches('}').trim().trim_matches('"').to_owned();
            Some((name, regex.replace("\\\\", "\\")))
        })
        .collect()
}

/// Substitutes further fixed ports of a rendered config: every `port_value: {from}` and every
/// `127.0.0.1:{from}/` (a URI) becomes `to`. For configs with more ports than [`Render`] knows
/// (the sidecar's second listener and remote service, the module server of a remote load).
pub fn render_ports(text: &str, ports: &[(u16, u16)]) -> String {
    ports.iter().fold(text.to_owned(), |text, (from, to)| {
        text.replace(&format!("port_value: {from}"), &format!("port_value: {to}"))
            .replace(&format!("127.0.0.1:{from}/"), &format!("127.0.0.1:{to}/"))
    })
}

/// Writes `text` to `path` as Envoy's file watchers expect a change: into a sibling file, then
/// renamed over `path` (an atomic move, which a `path_config_source` watch reacts to).
pub fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
    std::fs::rename(&tmp, path).unwrap_or_else(|e| panic!("rename to {}: {e}", path.display()));
}

impl Envoy {
    /// Waits (at most `within`) until the unlabelled `/stats/prometheus` series `name` is at least
    /// `value`; returns its last value, which the caller asserts on.
    pub fn wait_metric(&self, name: &str, value: u64, within: Duration) -> u64 {
        let deadline = std::time::Instant::now() + within;
        loop {
            let now = self.metric(name);
            if now >= value || std::time::Instant::now() > deadline {
                return now;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
