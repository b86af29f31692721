//! `cargo xtask cost`: what the module costs per request, counted rather than timed, in the
//! configuration and traffic every row of `benches/RESULTS.md`'s instruction tables uses: case
//! (3)'s plugin configuration (`envoy-config/bench/3-meshlens-100.yaml`: every section on, 100%
//! sampling, the log to `proxy_log`) and 10,000 wrk-shaped requests (`GET /api/v1/query`, a user
//! agent, `200 ok`, 14 per virtual millisecond, so every span is exported).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../../benches/src/shapes.rs"]
mod shapes;

#[path = "../../benches/src/plugin_config.rs"]
mod plugin_config;
use plugin_config::plugin_configuration;

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
    let traffic = requests(REQUESTS, |_| String::from("wrk"));
    let traffic_file = write(&dir, "traffic.jsonl", &traffic)?;
    let config_file = write(&dir, "config.json", &case_3(root)?)?;
    println!("{REQUESTS} requests of {} with the plugin configuration of {CONFIG}\n", traffic_file.display());
    crate::run(&mut meshlens(root, wasm, &config_file, &traffic_file))
}

/// Requests of the two `--native` runs: their difference is what is divided by.
const NATIVE_RUNS: [u64; 2] = [1_024, 11_264];

/// `cargo xtask cost --native`: the core's instructions per request, natively, in case (3)'s
/// configuration (`benches/examples/native_cost.rs` under valgrind's callgrind, two runs, the
/// difference divided by the difference in requests).
pub fn native(root: &Path) -> Result<(), String> {
    let dir = root.join("target/cost");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let config_file = write(&dir, "config.json", &case_3(root)?)?;
    let valgrind = std::env::var_os("MESHLENS_VALGRIND").map_or_else(|| PathBuf::from("valgrind"), PathBuf::from);
    if Command::new(&valgrind).arg("--version").output().is_err() {
        return Err(format!(
            "cost --native needs valgrind ({} not found): `apt-get install valgrind`, or set MESHLENS_VALGRIND",
            valgrind.display()
        ));
    }
    crate::run(Command::new(crate::cargo()).current_dir(root).args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "meshlens-benches",
        "--example",
        "native_cost",
    ]))?;
    let example = root.join("target/release/examples/native_cost");
    let mut counts = Vec::new();
    for requests in NATIVE_RUNS {
        let out = Command::new(&valgrind)
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .arg(&example)
            .arg(&config_file)
            .arg(requests.to_string())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", valgrind.display()))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(format!("{} under callgrind failed ({}):\n{stderr}", example.display(), out.status));
        }
        let collected = stderr
            .lines()
            .find_map(|l| l.split("Collected :").nth(1))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .ok_or_else(|| format!("callgrind printed no `Collected :` count:\n{stderr}"))?;
        counts.push(collected);
    }
    let (Some(&[first, last]), [small, large]) = (counts.first_chunk::<2>(), NATIVE_RUNS) else {
        return Err(String::from("callgrind ran fewer than two times"));
    };
    #[allow(clippy::cast_precision_loss)]
    let per_request = last.saturating_sub(first) as f64 / (large - small) as f64;
    println!(
        "the core natively (x86-64, release), case (3)'s plugin configuration ({CONFIG}), bench-envoy's\nrequest, a host that lends the headers and keeps nothing (benches/examples/native_cost.rs):\n{per_request:.0} instructions per request ({large} - {small} requests under callgrind: {last} - {first})"
    );
    Ok(())
}

/// `cargo xtask cost --shapes`: guest instructions per request when the user agent is a 60 KB
/// value of each adversarial shape (`benches/src/shapes.rs`), next to plain letters, in case
/// (3)'s configuration (the user agent is in the span and the line, redacted once for both).
/// Fails when a shape costs more than [`BOUND`] times the letters.
pub fn shapes(root: &Path, wasm: &Path) -> Result<(), String> {
    let dir = root.join("target/cost/shapes");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let config_file = write(&dir, "config.json", &case_3(root)?)?;
    println!(
        "{SHAPE_REQUESTS} requests per shape, the user agent a {} KB value, with the plugin configuration of {CONFIG}\n",
        shapes::LEN / 1024
    );
    println!("{:<22} {:>14} {:>10}", "shape", "instructions", "x letters");
    let mut letters = None;
    let mut over = Vec::new();
    for (name, unit) in shapes::SHAPES {
        let value = shapes::fill(unit, shapes::LEN);
        let traffic_file = write(&dir, &format!("{name}.jsonl"), &requests(SHAPE_REQUESTS, |_| value.clone()))?;
        let out = meshlens(root, wasm, &config_file, &traffic_file)
            .output()
            .map_err(|e| format!("cannot run meshlens: {e}"))?;
        if !out.status.success() {
            return Err(format!("meshlens run failed on {name}: {}", String::from_utf8_lossy(&out.stderr)));
        }
        let report = String::from_utf8_lossy(&out.stdout);
        let instructions = instructions(&report).ok_or_else(|| format!("no instruction count in:\n{report}"))?;
        let base = *letters.get_or_insert(instructions);
        #[allow(clippy::cast_precision_loss)]
        let ratio = instructions as f64 / base as f64;
        println!("{name:<22} {instructions:>14} {ratio:>10.2}");
        if ratio > BOUND {
            over.push(format!("{name} ({ratio:.2}x)"));
        }
    }
    if over.is_empty() {
        println!("\nevery shape within {BOUND}x the letters");
        Ok(())
    } else {
        Err(format!("over {BOUND}x the letters: {}", over.join(", ")))
    }
}

/// The issue's bound: no shape costs more than twice the letters.
const BOUND: f64 = 2.0;
/// Requests per shape: enough to spread the tick and the export over them.
const SHAPE_REQUESTS: usize = 20;

/// `n` wrk-shaped requests, 14 per virtual millisecond, the user agent of request `i` being
/// `agent(i)` (JSON-safe: letters, digits and ASCII punctuation without quotes or backslashes).
fn requests(n: usize, agent: impl Fn(usize) -> String) -> String {
    let mut traffic = String::new();
    for i in 0..n {
        let _ = writeln!(
            traffic,
            r#"{{"path": "/api/v1/query", "headers": {{"user-agent": "{}"}}, "response": {{"status": 200, "body": "ok"}}, "at_ms": {}}}"#,
            agent(i),
            i / PER_MS
        );
    }
    traffic
}

/// Case (3)'s plugin configuration.
fn case_3(root: &Path) -> Result<String, String> {
    let yaml = root.join(CONFIG);
    let text = std::fs::read_to_string(&yaml).map_err(|e| format!("{}: {e}", yaml.display()))?;
    plugin_configuration(&text).ok_or_else(|| format!("{CONFIG}: no `value: |` plugin configuration"))
}

/// `meshlens run --format cost` on the release harness.
fn meshlens(root: &Path, wasm: &Path, config: &Path, traffic: &Path) -> Command {
    let mut cmd = Command::new(crate::cargo());
    cmd.current_dir(root)
        .args(["run", "--release", "--quiet", "-p", "host-harness", "--bin", "meshlens", "--", "run", "--format"])
        .arg("cost")
        .arg("--wasm")
        .arg(wasm)
        .arg("--config")
        .arg(config)
        .arg("--traffic")
        .arg(traffic);
    cmd
}

/// The `guest Wasm instructions` figure of a cost report.
fn instructions(report: &str) -> Option<u64> {
    report.lines().find_map(|l| l.trim().strip_prefix("guest Wasm instructions")).and_then(|n| n.trim().parse().ok())
}

fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf, String> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}
