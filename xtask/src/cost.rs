//! `cargo xtask cost`: what the module costs per request, counted rather than timed, in the
//! configuration and traffic every row of `benches/RESULTS.md`'s instruction tables uses: case
//! (3)'s plugin configuration (`envoy-config/bench/3-meshlens-100.yaml`: every section on, 100%
//! sampling, the log to `proxy_log`) and 10,000 wrk-shaped requests (`GET /api/v1/query`, a user
//! agent, `200 ok`, 14 per virtual millisecond, so every span is exported).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Envoy config whose plugin configuration is measured.
const CONFIG: &str = "envoy-config/bench/3-meshlens-100.yaml";
/// Requests replayed, and how many arrive per virtual millisecond.
const REQUESTS: usize = 10_000;
const PER_MS: usize = 14;

/// Writes the traffic and the configuration into `target/cost/` and runs `meshlens run --format
/// cost` on `wasm`.
pub fn cost(root: &Path, wasm: &Path) -> Result<(), String> {
    let dir = root.join("target/cost");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut traffic = String::with_capacity(REQUESTS * 110);
    for i in 0..REQUESTS {
        let _ = writeln!(
            traffic,
            r#"{{"path": "/api/v1/query", "headers": {{"user-agent": "wrk"}}, "response": {{"status": 200, "body": "ok"}}, "at_ms": {}}}"#,
            i / PER_MS
        );
    }
    let traffic_file = write(&dir, "traffic.jsonl", &traffic)?;
    let yaml = root.join(CONFIG);
    let text = std::fs::read_to_string(&yaml).map_err(|e| format!("{}: {e}", yaml.display()))?;
    let config = plugin_configuration(&text).ok_or_else(|| format!("{CONFIG}: no `value: |` plugin configuration"))?;
    let config_file = write(&dir, "config.json", &config)?;
    println!("{REQUESTS} requests of {} with the plugin configuration of {CONFIG}\n", traffic_file.display());
    crate::run(
        Command::new(crate::cargo())
            .current_dir(root)
            .args(["run", "--release", "--quiet", "-p", "host-harness", "--bin", "meshlens", "--", "run", "--format"])
            .arg("cost")
            .arg("--wasm")
            .arg(wasm)
            .arg("--config")
            .arg(&config_file)
            .arg("--traffic")
            .arg(&traffic_file),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf, String> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// The block scalar after the first `value: |` of an Envoy config: the Wasm filter's plugin
/// configuration.
fn plugin_configuration(yaml: &str) -> Option<String> {
    let mut lines = yaml.lines().skip_while(|l| l.trim() != "value: |").skip(1);
    let first = lines.next()?;
    let indent = first.len() - first.trim_start().len();
    let mut out = format!("{}\n", first.trim());
    for line in lines.take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() >= indent) {
        out.push_str(line.trim());
        out.push('\n');
    }
    Some(out)
}
