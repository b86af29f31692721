//! Issue #16's chaos matrix: real Envoy (one worker) with meshlens at 100% sampling
//! (`envoy-config/bench/3-meshlens-100.yaml`) under wrk load, while the loopback OTLP collector
//! fails in each way a real one does (`meshlens_tests_process::collector::Fault`): refused, hang,
//! 503, 413, slow, reset, garbage. Prints one row per mode: what clients saw (non-2xx and socket
//! errors, p99 against a healthy run just before), where the spans went, Envoy's RSS and the
//! module's memory at the start and end of the fault, and how long after healing spans were
//! exported again. Run by `cargo xtask chaos`.
//!
//! Per mode a fresh Envoy: a probe, a 2 s warm-up, then `--duration` seconds of load against the
//! healthy collector (the p99 the fault's is compared with: paired, so a machine whose load drifts
//! disturbs both alike), then as long with the fault; then the collector heals, one request every
//! 100 ms gives meshlens new spans, and recovery is the time until
//! `meshlens_spans_exported_total` moves (at most `--recovery` seconds). The healthy mode's row
//! compares two healthy runs: the noise floor of the p99 ratio. Everything binds 127.0.0.1; every wait has a deadline; Envoy is killed
//! when its mode ends.
//!
//! Usage: `chaos [--modes refused,hang,...] [--duration SECONDS] [--connections N] [--recovery SECONDS]
//! [--slow-ms MS]`; Envoy from `MESHLENS_ENVOY` (default `.venv/bin/envoy`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use meshlens_benches::envoy::{Envoy, LOAD_CPU, Start, Stats, command, get};
use meshlens_benches::procfs::{Snapshot, rss_kb};
use meshlens_benches::wrk::{Load, WRK_SCRIPT, wrk};
use meshlens_tests_process::collector::{Collector, Fault};

const CONFIG: &str = "envoy-config/bench/3-meshlens-100.yaml";
const PATH: &str = "/api/v1/query";
const WARMUP_S: u32 = 2;

/// Options from the command line.
#[derive(Debug, Clone)]
struct Options {
    /// The fault modes, after the healthy baseline (which always runs first).
    modes: Vec<Fault>,
    duration_s: u32,
    connections: u32,
    recovery_s: u32,
    slow_ms: u64,
}

/// One mode's measurements.
#[derive(Debug, Clone, Copy)]
struct Row {
    fault: Fault,
    load: Load,
    /// Counters when the fault started, when the load ended, and after recovery and drain.
    start: Stats,
    end: Stats,
    drained: Stats,
    rss_start_kb: u64,
    rss_end_kb: u64,
    /// Seconds from healing until spans were exported again; `None`: not within `--recovery`.
    recovered_s: Option<f64>,
    /// Requests Envoy answered in all (probe, warm-up, load, the requests after healing).
    requests: u64,
    /// CPU other processes used during the fault, in percent of a core (p99 is noise above a few).
    other_load_pct: f64,
    /// The healthy run just before the fault, and the CPU other processes used meanwhile.
    healthy: Load,
    healthy_other_pct: f64,
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("chaos: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let options = options()?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default();
    let envoy_bin = std::env::var_os("MESHLENS_ENVOY").map_or_else(|| root.join(".venv/bin/envoy"), PathBuf::from);
    let work = root.join("target/bench/chaos");
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    // This process (the collector's threads included) stays off Envoy's core.
    command(Command::new("taskset").args(["-a", "-p", "-c", LOAD_CPU, &std::process::id().to_string()]))?;
    let script = work.join("percentiles.lua");
    std::fs::write(&script, WRK_SCRIPT).map_err(|e| format!("{}: {e}", script.display()))?;
    let yaml = std::fs::read_to_string(root.join(CONFIG)).map_err(|e| format!("{CONFIG}: {e}"))?;
    let collector = Collector::start(Duration::from_millis(options.slow_ms))?;
    println!(
        "chaos: {CONFIG}, Envoy --concurrency 1, 100% sampling; per mode {} s of wrk -t1 -c{} against a healthy collector, then as long with the fault, after {WARMUP_S} s of warm-up; slow = {} ms per answer; recovery deadline {} s",
        options.duration_s, options.connections, options.slow_ms, options.recovery_s
    );
    let mut rows = Vec::new();
    for fault in std::iter::once(Fault::Healthy).chain(options.modes.iter().copied()) {
        let start = Start {
            yaml: &yaml,
            label: fault.name(),
            log: fault.name(),
            root: &root,
            work: &work,
            envoy_bin: &envoy_bin,
            collector: collector.port(),
            modules: None,
            callgrind: None,
        };
        let row = mode(&start, &collector, fault, &script, &options)?;
        println!(
            "{}: {} requests, {} client failures, p99 {:.2} ms (healthy just before {:.2} ms), spans exported {} dropped {} failed {}, RSS {:.1} -> {:.1} MB, module {:.2} -> {:.2} MB, recovered {}, other load {:.0}% (healthy run {:.0}%)",
            fault.name(),
            row.load.requests,
            row.load.errors,
            row.load.p99_us as f64 / 1000.0,
            row.healthy.p99_us as f64 / 1000.0,
            row.end.exported - row.start.exported,
            row.end.dropped - row.start.dropped,
            row.end.failed - row.start.failed,
            row.rss_start_kb as f64 / 1024.0,
            row.rss_end_kb as f64 / 1024.0,
            mb(row.start.wasm_memory),
            mb(row.end.wasm_memory),
            row.recovered_s.map_or(String::from("no"), |s| format!("in {s:.1} s")),
            row.other_load_pct,
            row.healthy_other_pct,
        );
        rows.push(row);
    }
    print_table(&rows, options.connections);
    let failures: u64 = rows.iter().map(|r| r.load.errors + r.healthy.errors).sum();
    let unrecovered: Vec<&str> = rows.iter().filter(|r| r.recovered_s.is_none()).map(|r| r.fault.name()).collect();
    if failures > 0 || !unrecovered.is_empty() {
        return Err(format!(
            "{failures} client-visible failures; modes without recovery within {} s: {unrecovered:?}",
            options.recovery_s
        ));
    }
    Ok(())
}

/// Runs one mode in a fresh Envoy.
fn mode(
    start: &Start<'_>,
    collector: &Collector,
    fault: Fault,
    script: &Path,
    options: &Options,
) -> Result<Row, String> {
    collector.set(Fault::Healthy);
    let envoy = Envoy::start(start)?;
    let url = format!("http://{}{PATH}", envoy.listener);
    let mut requests = probe(&envoy)?;
    requests += wrk(script, &url, options.connections, WARMUP_S)?.requests;
    // The warm-up's last batch leaves within the flush interval (1 s).
    std::thread::sleep(Duration::from_millis(1_500));
    let before = Snapshot::take(envoy.process.id())?;
    let healthy = wrk(script, &url, options.connections, options.duration_s)?;
    let healthy_other_pct = before.other_load_pct(&Snapshot::take(envoy.process.id())?);
    requests += healthy.requests;
    std::thread::sleep(Duration::from_millis(1_500));
    envoy.truncate_log();
    let (start_stats, rss_start_kb) = (stats(&envoy)?, rss_kb(envoy.process.id())?);
    collector.set(fault);
    let before = Snapshot::take(envoy.process.id())?;
    let load = wrk(script, &url, options.connections, options.duration_s)?;
    let other_load_pct = before.other_load_pct(&Snapshot::take(envoy.process.id())?);
    requests += load.requests;
    let (end, rss_end_kb) = (stats(&envoy)?, rss_kb(envoy.process.id())?);
    envoy.truncate_log();
    collector.set(Fault::Healthy);
    let healed = Instant::now();
    let mut recovered_s = None;
    while healed.elapsed() < Duration::from_secs(options.recovery_s.into()) {
        requests += probe(&envoy)?;
        if stats(&envoy)?.exported > end.exported {
            recovered_s = Some(healed.elapsed().as_secs_f64());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Spans still queued or in flight end within the export timeout (5 s) and a flush.
    let mut drained = stats(&envoy)?;
    for _ in 0..40 {
        if drained.ended() >= requests {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
        drained = stats(&envoy)?;
    }
    Ok(Row {
        fault,
        load,
        start: start_stats,
        end,
        drained,
        rss_start_kb,
        rss_end_kb,
        recovered_s,
        requests,
        other_load_pct,
        healthy,
        healthy_other_pct,
    })
}

/// meshlens's counters (an error when this Envoy has none).
fn stats(envoy: &Envoy) -> Result<Stats, String> {
    envoy.stats()?.ok_or_else(|| String::from("no meshlens_ counters in Envoy's /stats: is the module loaded?"))
}

/// One request; an error unless it is answered 200 with meshlens's trace-id header. Returns 1
/// (the request to count).
fn probe(envoy: &Envoy) -> Result<u64, String> {
    let reply = get(envoy.listener, PATH)?.to_ascii_lowercase();
    if !reply.starts_with("http/1.1 200") || !reply.contains("\r\nx-trace-id:") {
        return Err(format!("probe got {:?}", reply.lines().next().unwrap_or_default()));
    }
    Ok(1)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn print_table(rows: &[Row], connections: u32) {
    println!(
        "\n| collector | requests | client failures | p99 ms healthy -> fault | p99 vs healthy | spans exported / dropped / failed during the fault | failed export calls | Envoy RSS MB start -> end | module memory MB start -> end | exported again after healing | spans unaccounted after drain | other load healthy / fault |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let (p99, healthy_p99) = (r.load.p99_us as f64 / 1000.0, r.healthy.p99_us as f64 / 1000.0);
        println!(
            "| {} | {} | {} | {:.2} -> {:.2} | {} | {} / {} / {} | {} | {:.1} -> {:.1} | {:.2} -> {:.2} | {} | {} | {:.0}% / {:.0}% |",
            r.fault.name(),
            r.load.requests,
            r.load.errors,
            healthy_p99,
            p99,
            if healthy_p99 > 0.0 { format!("{:.2}x", p99 / healthy_p99) } else { String::from("-") },
            r.end.exported - r.start.exported,
            r.end.dropped - r.start.dropped,
            r.end.failed - r.start.failed,
            r.end.failed_calls - r.start.failed_calls,
            r.rss_start_kb as f64 / 1024.0,
            r.rss_end_kb as f64 / 1024.0,
            mb(r.start.wasm_memory),
            mb(r.end.wasm_memory),
            r.recovered_s.map_or(String::from("not in time"), |s| format!("{s:.1} s")),
            r.requests.saturating_sub(r.drained.ended()),
            r.healthy_other_pct,
            r.other_load_pct,
        );
    }
    println!(
        "\n(client failures: wrk's non-2xx responses and socket errors; spans unaccounted: requests answered minus spans exported, dropped or failed, once queues drained; up to {} requests in flight when wrk stops are answered but not counted by wrk; p99 vs healthy: against a healthy run in the same Envoy just before the fault (the healthy row: two healthy runs, the noise floor); other load: CPU other processes used during each run, in % of a core: p99 is not comparable above a few %)",
        connections
    );
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        modes: Fault::ALL.into_iter().filter(|f| *f != Fault::Healthy).collect(),
        duration_s: 10,
        connections: 10,
        recovery_s: 20,
        slow_ms: 2_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("`{flag}` needs a value"))?;
        if flag == "--modes" {
            o.modes = value
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty() && *m != "healthy")
                .map(|m| {
                    Fault::parse(m).ok_or_else(|| {
                        let names: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
                        format!("--modes: no mode `{m}` (the modes: {})", names.join(", "))
                    })
                })
                .collect::<Result<_, _>>()?;
            continue;
        }
        let n: u32 = value.parse().map_err(|_| format!("{flag}: `{value}` is not a whole number"))?;
        match flag.as_str() {
            "--duration" => o.duration_s = n.clamp(1, 120),
            "--connections" => o.connections = n.clamp(1, 256),
            "--recovery" => o.recovery_s = n.clamp(1, 120),
            "--slow-ms" => o.slow_ms = u64::from(n.clamp(1, 30_000)),
            _ => return Err(format!("unknown option `{flag}`")),
        }
    }
    Ok(o)
}
