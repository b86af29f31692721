//! Issue #16's soak: real Envoy (one worker) with meshlens at 100% sampling
//! (`envoy-config/bench/3-meshlens-100.yaml`) under steady wrk load against a healthy loopback
//! collector for `--seconds` (default 600), sampling Envoy's RSS and the module's memory gauge
//! (`meshlens_wasm_memory_bytes`) every 10 s. Prints the series, then start/end/max, and fails when
//! memory grew past the bounds below. Run by `cargo xtask soak`.
//!
//! The load runs in 10 s slices of wrk (a sample between two slices); the first slice is the
//! warm-up, and growth is measured from the sample after it: metric series, batch buffers and
//! Envoy's own pools fill in the first seconds, and a leak shows as growth after that. Envoy's log
//! (about 600 bytes of access line per request) is emptied after every slice. Everything binds
//! 127.0.0.1; Envoy is killed when the run ends.
//!
//! Usage: `soak [--seconds N] [--connections N]`; Envoy from `MESHLENS_ENVOY`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use meshlens_benches::envoy::{Envoy, LOAD_CPU, Start, Stats, command, get};
use meshlens_benches::procfs::{Snapshot, rss_kb};
use meshlens_benches::wrk::{WRK_SCRIPT, wrk};
use meshlens_tests_process::collector::Collector;

const CONFIG: &str = "envoy-config/bench/3-meshlens-100.yaml";
const PATH: &str = "/api/v1/query";
const SLICE_S: u32 = 10;
/// Envoy's RSS may grow this much after the warm-up slice (allocator noise, Envoy's own lazily
/// created stats and buffers); a leak of 100 bytes per request passes it within 3 minutes at
/// 10,000 requests a second.
const MAX_RSS_GROWTH_MB: f64 = 16.0;
/// The module's linear memory may grow this much after the warm-up slice (Wasm memory grows in
/// 64 KiB pages and never shrinks; a steady state needs no new pages).
const MAX_WASM_GROWTH_MB: f64 = 1.0;

/// One sample, taken after a slice.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at_s: f64,
    requests: u64,
    errors: u64,
    rss_kb: u64,
    stats: Stats,
    /// CPU other processes used during the slice, in percent of a core.
    other_load_pct: f64,
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("soak: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let (seconds, connections) = options()?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default();
    let envoy_bin = std::env::var_os("MESHLENS_ENVOY").map_or_else(|| root.join(".venv/bin/envoy"), PathBuf::from);
    let work = root.join("target/bench/soak");
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    command(Command::new("taskset").args(["-a", "-p", "-c", LOAD_CPU, &std::process::id().to_string()]))?;
    let script = work.join("percentiles.lua");
    std::fs::write(&script, WRK_SCRIPT).map_err(|e| format!("{}: {e}", script.display()))?;
    let yaml = std::fs::read_to_string(root.join(CONFIG)).map_err(|e| format!("{CONFIG}: {e}"))?;
    let collector = Collector::start(Duration::ZERO)?;
    let envoy = Envoy::start(&Start {
        yaml: &yaml,
        label: "soak",
        log: "soak",
        root: &root,
        work: &work,
        envoy_bin: &envoy_bin,
        collector: collector.port(),
        modules: None,
        callgrind: None,
    })?;
    let reply = get(envoy.listener, PATH)?;
    if !reply.starts_with("HTTP/1.1 200") {
        return Err(format!("probe got {:?}", reply.lines().next().unwrap_or_default()));
    }
    let url = format!("http://{}{PATH}", envoy.listener);
    println!(
        "soak: {CONFIG}, Envoy --concurrency 1, 100% sampling, healthy collector; wrk -t1 -c{connections} for {seconds} s in {SLICE_S} s slices, a sample after each"
    );
    println!(
        "\n| t s | requests | client failures | Envoy RSS MB | module memory MB | spans exported / dropped / failed | other load |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let started = Instant::now();
    let (mut requests, mut errors, mut samples) = (0, 0, Vec::new());
    for _ in 0..seconds.div_ceil(SLICE_S) {
        let before = Snapshot::take(envoy.process.id())?;
        let load = wrk(&script, &url, connections, SLICE_S)?;
        let other_load_pct = before.other_load_pct(&Snapshot::take(envoy.process.id())?);
        (requests, errors) = (requests + load.requests, errors + load.errors);
        envoy.truncate_log();
        let stats = envoy.stats()?.ok_or("no meshlens_ counters in Envoy's /stats")?;
        let sample = Sample {
            at_s: started.elapsed().as_secs_f64(),
            requests,
            errors,
            rss_kb: rss_kb(envoy.process.id())?,
            stats,
            other_load_pct,
        };
        println!(
            "| {:.0} | {} | {} | {:.1} | {:.2} | {} / {} / {} | {:.0}% |",
            sample.at_s,
            sample.requests,
            sample.errors,
            sample.rss_kb as f64 / 1024.0,
            mb(sample.stats.wasm_memory),
            sample.stats.exported,
            sample.stats.dropped,
            sample.stats.failed,
            sample.other_load_pct
        );
        samples.push(sample);
    }
    verdict(&samples)
}

/// Start (after the warm-up slice), end and max; an error past the bounds or on client failures.
fn verdict(samples: &[Sample]) -> Result<(), String> {
    let (Some(first), Some(base), Some(last)) = (samples.first(), samples.get(1).or(samples.first()), samples.last())
    else {
        return Err(String::from("no samples"));
    };
    let max_rss = samples.iter().map(|s| s.rss_kb).max().unwrap_or_default();
    let max_wasm = samples.iter().map(|s| s.stats.wasm_memory).max().unwrap_or_default();
    let rss_growth = (last.rss_kb as f64 - base.rss_kb as f64) / 1024.0;
    let wasm_growth = mb(last.stats.wasm_memory) - mb(base.stats.wasm_memory);
    println!(
        "\nEnvoy RSS MB: after warm-up {:.1} (first sample {:.1}), end {:.1}, max {:.1}: {rss_growth:+.1} MB (bound {MAX_RSS_GROWTH_MB} MB)",
        base.rss_kb as f64 / 1024.0,
        first.rss_kb as f64 / 1024.0,
        last.rss_kb as f64 / 1024.0,
        max_rss as f64 / 1024.0
    );
    println!(
        "module memory MB: after warm-up {:.2}, end {:.2}, max {:.2}: {wasm_growth:+.2} MB (bound {MAX_WASM_GROWTH_MB} MB)",
        mb(base.stats.wasm_memory),
        mb(last.stats.wasm_memory),
        mb(max_wasm)
    );
    println!(
        "{} requests in {:.0} s ({:.0}/s), {} client failures; spans exported {}, dropped {}, failed {}",
        last.requests,
        last.at_s,
        last.requests as f64 / last.at_s.max(1.0),
        last.errors,
        last.stats.exported,
        last.stats.dropped,
        last.stats.failed
    );
    let mut problems = Vec::new();
    if rss_growth > MAX_RSS_GROWTH_MB {
        problems.push(format!("Envoy RSS grew {rss_growth:.1} MB after the warm-up (bound {MAX_RSS_GROWTH_MB} MB)"));
    }
    if wasm_growth > MAX_WASM_GROWTH_MB {
        problems
            .push(format!("module memory grew {wasm_growth:.2} MB after the warm-up (bound {MAX_WASM_GROWTH_MB} MB)"));
    }
    if last.errors > 0 {
        problems.push(format!("{} client-visible failures", last.errors));
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// `--seconds N` (default 600, at least one slice, at most a day), `--connections N` (default 10).
fn options() -> Result<(u32, u32), String> {
    let (mut seconds, mut connections) = (600, 10);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("`{flag}` needs a value"))?;
        let n: u32 = value.parse().map_err(|_| format!("{flag}: `{value}` is not a whole number"))?;
        match flag.as_str() {
            "--seconds" => seconds = n.clamp(SLICE_S, 86_400),
            "--connections" => connections = n.clamp(1, 256),
            _ => return Err(format!("unknown option `{flag}`")),
        }
    }
    Ok((seconds, connections))
}
