//! Running a real Prometheus (the Debian package's server) and `promtool`.
//!
//! A test starts Prometheus on a free 127.0.0.1 port with its data in a temporary directory and a
//! generated configuration that scrapes one Envoy admin endpoint (`/stats/prometheus`) every
//! second and evaluates the given rule files every second. It waits until the server is ready,
//! asks the HTTP API (`/api/v1/query`, `/api/v1/alerts`) and kills the server when the handle is
//! dropped. Every wait is bounded.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use meshlens_tests_process::{Process, Ready};
use serde_json::Value;

use crate::envoy::{TempDir, free_port};
use crate::{http, paths};

/// A running Prometheus; killed and reaped when dropped.
pub struct Prometheus {
    process: Process,
    /// Where the HTTP API listens.
    pub addr: SocketAddr,
    _dir: TempDir,
}

/// The labels of one series, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// One entry of `/api/v1/alerts`.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: Labels,
    /// `pending` or `firing`.
    pub state: String,
    pub value: f64,
}

/// The job name of the generated scrape configuration.
pub const JOB: &str = "envoy";

/// How often the generated configuration scrapes and evaluates rules.
pub const INTERVAL: Duration = Duration::from_secs(1);

impl Prometheus {
    /// Starts Prometheus scraping the Envoy admin endpoint at `admin` and loading `rule_files`.
    pub fn start(admin: SocketAddr, rule_files: &[&Path]) -> Self {
        let dir = TempDir::new("prometheus");
        let config = dir.0.join("prometheus.yml");
        std::fs::write(&config, config_text(admin, rule_files)).expect("write prometheus.yml");
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut cmd = Command::new(paths::prometheus());
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg(format!("--storage.tsdb.path={}", dir.0.join("data").display()))
            .arg("--storage.tsdb.retention.time=1h")
            .current_dir(&dir.0);
        let log = dir.0.join("prometheus.log");
        let process =
            Process::start("prometheus", cmd, &log, &[Ready::Http(addr, "/-/ready")], Duration::from_secs(30))
                .unwrap_or_else(|e| panic!("{e}"));
        Self { process, addr, _dir: dir }
    }

    /// Prometheus's log so far.
    pub fn log(&self) -> String {
        self.process.output()
    }

    /// Evaluates `expr` now (`/api/v1/query`); a scalar result is one entry with no labels.
    pub fn query(&self, expr: &str) -> Vec<(Labels, f64)> {
        let data = self.api(&format!("/api/v1/query?query={}", urlencode(expr)));
        let result = &data["result"];
        match data["resultType"].as_str() {
            Some("vector") => result
                .as_array()
                .unwrap_or_else(|| panic!("`{expr}`: result is not an array: {data}"))
                .iter()
                .map(|s| (labels(&s["metric"]), sample_value(&s["value"])))
                .collect(),
            Some("scalar") => vec![(Labels::new(), sample_value(result))],
            other => panic!("`{expr}`: unexpected result type {other:?}: {data}"),
        }
    }

    /// Every pending or firing alert (`/api/v1/alerts`).
    pub fn alerts(&self) -> Vec<Alert> {
        let data = self.api("/api/v1/alerts");
        data["alerts"]
            .as_array()
            .unwrap_or_else(|| panic!("/api/v1/alerts: no alerts array: {data}"))
            .iter()
            .map(|a| Alert {
                labels: labels(&a["labels"]),
                annotations: labels(&a["annotations"]),
                state: a["state"].as_str().unwrap_or_default().to_owned(),
                value: a["value"].as_str().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN),
            })
            .collect()
    }

    /// Calls `check` until it returns `Some` or `timeout` passes; then panics naming `what`,
    /// with the last state `describe` gives and Prometheus's log.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Self) -> Option<T>,
        describe: impl Fn(&Self) -> String,
    ) -> T {
        const POLL: Duration = Duration::from_millis(250);
        let deadline = Instant::now() + timeout;
        for _ in 0..=timeout.as_millis() / POLL.as_millis() {
            if let Some(value) = check(self) {
                return value;
            }
            if Instant::now() > deadline {
                break;
            }
            std::thread::sleep(POLL);
        }
        panic!(
            "timed out after {timeout:?} waiting for {what}; now: {}\nprometheus log:\n{}",
            describe(self),
            self.log()
        );
    }

    /// Waits until the last scrape of the Envoy admin endpoint succeeded.
    pub fn wait_scraped(&self) {
        self.wait_for(
            "a successful scrape of the envoy admin endpoint",
            Duration::from_secs(30),
            |p| p.query(&format!("up{{job=\"{JOB}\"}} == 1")).first().map(|_| ()),
            |p| format!("{:?}", p.query("up")),
        );
    }

    /// GETs an API path and returns its `data`, panicking on any error.
    fn api(&self, path: &str) -> Value {
        let response = http::get(self.addr, path, &[]).unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let body: Value = serde_json::from_slice(&response.body).unwrap_or_else(|e| {
            panic!("GET {path}: {e}; status {}, body {}", response.status(), String::from_utf8_lossy(&response.body))
        });
        assert_eq!(body["status"], "success", "GET {path} answered {}: {body}", response.status());
        body["data"].clone()
    }
}

/// The generated configuration: one scrape job, everything every second.
pub fn config_text(admin: SocketAddr, rule_files: &[&Path]) -> String {
    let mut text = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: {JOB}\n    metrics_path: /stats/prometheus\n    \
         static_configs:\n      - targets: ['{admin}']\n"
    );
    if !rule_files.is_empty() {
        text.push_str("rule_files:\n");
        for file in rule_files {
            text.push_str(&format!("  - '{}'\n", file.display()));
        }
    }
    text
}

/// Runs `promtool` with `args`; returns (success, combined output).
pub fn promtool(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new(paths::promtool())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run promtool {args:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn labels(value: &Value) -> Labels {
    value
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
        .unwrap_or_default()
}

/// `[timestamp, "value"]` to the value (`NaN`, `+Inf` included).
fn sample_value(pair: &Value) -> f64 {
    pair[1].as_str().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("not a sample: {pair}"))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
