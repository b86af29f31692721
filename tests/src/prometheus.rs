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

use crate::envoy::{Envoy, TempDir, free_port};
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
    /// Starts Prometheus loading `rule_files` and scraping, in one job, what the shipped
    /// `prometheus.yml` scrapes from an Envoy: `/stats/prometheus` on its admin endpoint and,
    /// when it has a metrics listener, `/meshlens/metrics` there.
    pub fn start(envoy: &Envoy, rule_files: &[&Path]) -> Self {
        let dir = TempDir::new("prometheus");
        let config = dir.0.join("prometheus.yml");
        let mut targets = vec![(envoy.admin, "/stats/prometheus")];
        targets.extend(envoy.metrics.map(|m| (m, "/meshlens/metrics")));
        std::fs::write(&config, config_text(&targets, rule_files)).expect("write prometheus.yml");
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

    /// Waits until the last scrape of every target succeeded.
    pub fn wait_scraped(&self) {
        self.wait_for(
            "a successful scrape of every target",
            Duration::from_secs(30),
            |p| {
                let up = p.query(&format!("up{{job=\"{JOB}\"}}"));
                (!up.is_empty() && up.iter().all(|(_, v)| *v == 1.0)).then_some(())
            },
            |p| format!("{:?}", p.query("up")),
        );
    }

    /// The types Prometheus's metadata API knows for `metric` (`histogram`, `counter`, ...).
    pub fn metadata_types(&self, metric: &str) -> Vec<String> {
        let data = self.api(&format!("/api/v1/metadata?metric={}", urlencode(metric)));
        data[metric].as_array().into_iter().flatten().filter_map(|m| m["type"].as_str().map(str::to_owned)).collect()
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

/// The generated configuration: one scrape job of `(address, path)` targets, everything every
/// second.
pub fn config_text(targets: &[(SocketAddr, &str)], rule_files: &[&Path]) -> String {
    let mut text = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n"
    );
    for (addr, path) in targets {
        text.push_str(&format!("      - targets: ['{addr}']\n        labels: {{__metrics_path__: '{path}'}}\n"));
    }
    // As the shipped `prometheus.yml`: the native build's stats lose Envoy's dynamic-module prefix.
    text.push_str(
        "    metric_relabel_configs:\n      - source_labels: [__name__]\n        \
         regex: envoy_dynamicmodulescustom_(meshlens_.*)\n        target_label: __name__\n        \
         replacement: $1\n",
    );
    if !rule_files.is_empty() {
        text.push_str("rule_files:\n");
        for file in rule_files {
            text.push_str(&format!("  - '{}'\n", file.display()));
        }
    }
    text
}

/// `promtool check metrics` on exposition `text`: the problems it reports, one per line (empty
/// when it finds none).
pub fn check_metrics(text: &str) -> Vec<String> {
    use std::io::Write as _;
    let mut child = Command::new(paths::promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run promtool check metrics: {e}"));
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write to promtool");
    let out = child.wait_with_output().expect("promtool check metrics");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    report.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect()
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
