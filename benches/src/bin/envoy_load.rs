//! Issue #7's Envoy load comparison: the same keep-alive load through five Envoy configurations,
//! and a sixth, case 3 with meshlens's native build (`envoy-config/bench/`), in alternating rounds, on this machine; prints one line per run and a
//! Markdown table of medians. Run by `cargo xtask bench-envoy` (which builds the modules first).
//! With `--hostcalls` it measures the hostcall cost table instead (`hostcalls.rs`: the
//! `benches/hostcall-probe` module repeating one proxy-wasm hostcall N times per request); with
//! `--floor`, meshlens and its native build against the hostcalls (and the dynamic-module
//! callbacks, `benches/native-probe`) any filter delivering its telemetry must make
//! (`floor.rs`).
//!
//! Envoy runs with one worker (`--concurrency 1`) pinned to CPU 0; this process, its OTLP
//! receiver and `wrk` are pinned to CPU 1. Every wait has a deadline and every Envoy is killed
//! when its run ends (or when this process returns early with an error).
//!
//! Options: [`USAGE`] (`--help`); Envoy from `MESHLENS_ENVOY` (default `.venv/bin/envoy`).

// A crate root resolves `mod` next to itself (src/bin/); this keeps the module with its binary.
#[path = "envoy_load/count.rs"]
mod count;
#[path = "envoy_load/floor.rs"]
mod floor;
#[path = "envoy_load/hostcalls.rs"]
mod hostcalls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use meshlens_benches::envoy::{ENVOY_CPU, Envoy, LOAD_CPU, Start, command, get};
use meshlens_benches::procfs::{Snapshot, clock_ticks, rss_kb};
use meshlens_benches::wrk::{WRK_SCRIPT, wrk};
use meshlens_tests_process::collector::Collector;

/// The five configurations, in the order of the issue, and the native build (issue 19).
const CASES: [Case; 6] = [
    Case { id: 1, name: "bare Envoy", config: "1-bare.yaml", probe_header: None },
    Case { id: 2, name: "minimal Wasm (1 header)", config: "2-minimal-header.yaml", probe_header: Some("x-minimal") },
    Case { id: 3, name: "meshlens, 100% sampling", config: "3-meshlens-100.yaml", probe_header: Some("x-trace-id") },
    Case { id: 4, name: "meshlens, 1% sampling", config: "4-meshlens-1.yaml", probe_header: Some("x-trace-id") },
    Case { id: 5, name: "native OTel + JSON log", config: "5-native-otel.yaml", probe_header: Some("x-trace-id") },
    Case {
        id: 6,
        name: "meshlens native, 100%",
        config: "6-meshlens-native-100.yaml",
        probe_header: Some("x-trace-id"),
    },
];

const PATH: &str = "/api/v1/query";

/// One Envoy configuration under test.
#[derive(Debug, Clone, Copy)]
struct Case {
    id: u8,
    name: &'static str,
    config: &'static str,
    /// A response header the probe request must carry (proves the filter ran).
    probe_header: Option<&'static str>,
}

/// What one run starts: a bootstrap (before the port substitution), a label for messages, the
/// Envoy log's name (`target/bench/envoy-<log>.log`), and the probe's required header.
#[derive(Debug, Clone)]
struct Target {
    label: String,
    log: String,
    yaml: String,
    probe_header: Option<&'static str>,
}

/// Options from the command line.
#[derive(Debug, Clone)]
struct Options {
    rounds: u32,
    duration_s: u32,
    warmup_s: u32,
    connections: u32,
    /// The case ids to run, in the order (`--cases`; default all six).
    cases: Vec<u8>,
    /// Run the hostcall cost table instead of the cases (`--hostcalls`).
    hostcalls: bool,
    /// Calls per request for each hostcall probe (`--calls`).
    calls: u32,
    /// The hostcall probes to run, by the first word of their op (`--probes histogram,time`;
    /// empty: all of them). The baseline `none` always runs.
    probes: Vec<String>,
    /// Run the floor comparison instead of the cases (`--floor`).
    floor: bool,
    /// Count the floor configurations' instructions per request instead (`--count`).
    count: bool,
}

/// What one measured run produced.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    requests: u64,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    /// Envoy's user+system CPU per 1,000 requests, in milliseconds.
    cpu_ms_per_1k: f64,
    rss_mb: f64,
    /// Responses that were not 2xx/3xx, and socket errors.
    errors: u64,
    /// OTLP export requests and body bytes the receiver got during the run.
    exports: u64,
    /// meshlens's span counters at the end of the run (warm-up and probe included), when the
    /// case runs meshlens.
    spans: Option<Spans>,
    export_kb: f64,
    /// CPU time the machine spent during the run on anything but Envoy, wrk and this process
    /// (other processes, steal), in percent of one core. High values mean the run was disturbed.
    other_load_pct: f64,
}

/// meshlens's span counters from Envoy's admin `/stats`: every span ends in one of them (or is
/// still queued).
#[derive(Debug, Clone, Copy, Default)]
struct Spans {
    exported: u64,
    dropped: u64,
    failed: u64,
}

/// Everything a run needs besides its target: paths, the wrk script, the receiver, the options.
#[derive(Debug)]
struct Bench {
    options: Options,
    root: PathBuf,
    envoy_bin: PathBuf,
    /// wrk's Lua script (`WRK_SCRIPT`, plus request headers in the hostcall mode).
    script: PathBuf,
    receiver: Collector,
    /// Clock ticks per second.
    tick: f64,
}

/// `--help`.
const USAGE: &str = "\
Usage: cargo xtask bench-envoy [OPTIONS]

The Envoy load comparison: the same keep-alive load (wrk) through each case's Envoy, one worker
on CPU 0, in alternating rounds; one line per run, then a Markdown table of medians.

Cases: (1) bare Envoy, (2) minimal Wasm (1 header), (3) meshlens 100% sampling, (4) meshlens 1%,
(5) native OTel tracer + JSON access log, (6) meshlens native build 100%.

Options:
  --cases 1,3,6       run only these cases (default: all)
  --rounds N          rounds of every case (default 3, at most 20)
  --duration SECONDS  measured load per run (default 10; 5 with --hostcalls or --floor)
  --warmup SECONDS    load before measuring (default 2; 1 with --hostcalls or --floor)
  --connections N     wrk connections (default 10)
  --floor             meshlens against the hostcalls any filter with its output must make
  --count             instead, the instructions Envoy executes per request in each --floor
                      configuration, under valgrind's callgrind (within 1 % between runs)
  --hostcalls         the cost of one proxy-wasm hostcall, repeated --calls N times (default 20)
  --probes a,b        with --hostcalls: only these probes
  -h, --help          this text

Envoy comes from MESHLENS_ENVOY (default .venv/bin/envoy). Results: benches/RESULTS.md.
";

fn main() -> std::process::ExitCode {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}");
        return std::process::ExitCode::SUCCESS;
    }
    match run_all() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("envoy_load: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_all() -> Result<(), String> {
    let options = options()?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default();
    let envoy_bin = std::env::var_os("MESHLENS_ENVOY").map_or_else(|| root.join(".venv/bin/envoy"), PathBuf::from);
    let work = root.join("target/bench");
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    // This process (receiver threads included, they inherit it) stays off Envoy's core.
    command(Command::new("taskset").args(["-a", "-p", "-c", LOAD_CPU, &std::process::id().to_string()]))?;
    let (script, text) = if options.hostcalls {
        (work.join("hostcalls.lua"), format!("{}{WRK_SCRIPT}", hostcalls::WRK_HEADERS))
    } else {
        (work.join("percentiles.lua"), WRK_SCRIPT.to_owned())
    };
    std::fs::write(&script, text).map_err(|e| format!("{}: {e}", script.display()))?;
    let bench =
        Bench { tick: clock_ticks()?, receiver: Collector::start(Duration::ZERO)?, options, root, envoy_bin, script };
    if bench.options.hostcalls {
        hostcalls::run(&bench)
    } else if bench.options.floor {
        floor::run(&bench)
    } else if bench.options.count {
        count::run(&bench)
    } else {
        run_cases(&bench)
    }
}

/// The load comparison: each round runs the selected cases in order.
fn run_cases(bench: &Bench) -> Result<(), String> {
    let options = &bench.options;
    let cases: Vec<Case> = CASES.iter().filter(|c| options.cases.contains(&c.id)).copied().collect();
    let targets = cases.iter().map(|case| case.target(&bench.root)).collect::<Result<Vec<_>, _>>()?;
    println!(
        "{} rounds x {} cases, {} s per run after {} s warm-up, wrk -t1 -c{}, Envoy --concurrency 1 on CPU {ENVOY_CPU}, load on CPU {LOAD_CPU}",
        options.rounds,
        cases.len(),
        options.duration_s,
        options.warmup_s,
        options.connections
    );
    let mut runs: Vec<(Case, Vec<Run>)> = cases.iter().map(|c| (*c, Vec::new())).collect();
    for round in 1..=options.rounds {
        for ((case, results), target) in runs.iter_mut().zip(&targets) {
            let run = bench.measure(target)?;
            println!(
                "round {round} case {} ({}): {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, {:.1} ms CPU/1k req, RSS {:.1} MB, errors {}, {} exports ({:.0} KB){}, other load {:.0}%",
                case.id,
                case.name,
                run.rps,
                run.p50_ms,
                run.p99_ms,
                run.p999_ms,
                run.cpu_ms_per_1k,
                run.rss_mb,
                run.errors,
                run.exports,
                run.export_kb,
                run.spans.map_or(String::new(), |s| format!(
                    ", spans exported {} dropped {} failed {}",
                    s.exported, s.dropped, s.failed
                )),
                run.other_load_pct
            );
            results.push(run);
        }
    }
    print_table(&runs);
    Ok(())
}

impl Case {
    /// The case's bootstrap from `envoy-config/bench/`.
    fn target(&self, root: &Path) -> Result<Target, String> {
        let source = root.join("envoy-config/bench").join(self.config);
        let yaml = std::fs::read_to_string(&source).map_err(|e| format!("{}: {e}", source.display()))?;
        Ok(Target {
            label: format!("case {}", self.id),
            log: format!("case{}", self.id),
            yaml,
            probe_header: self.probe_header,
        })
    }
}

impl Bench {
    /// Measures one run; when other work used more than `DISTURBED_PCT` of a core meanwhile (a
    /// build or test of someone else's on this small machine), waits and measures again, at most
    /// `ATTEMPTS` times in all, and keeps the least disturbed run.
    fn measure(&self, target: &Target) -> Result<Run, String> {
        let mut best: Option<Run> = None;
        for attempt in 1..=ATTEMPTS {
            let run = self.measure_once(target)?;
            if run.other_load_pct <= DISTURBED_PCT {
                return Ok(run);
            }
            println!(
                "  {}: disturbed ({:.0}% of a core used by other processes during the run){}",
                target.label,
                run.other_load_pct,
                if attempt < ATTEMPTS { "; measuring again in 15 s" } else { "; keeping the least disturbed attempt" }
            );
            if best.is_none_or(|b| run.other_load_pct < b.other_load_pct) {
                best = Some(run);
            }
            if attempt < ATTEMPTS {
                std::thread::sleep(Duration::from_secs(15));
            }
        }
        best.ok_or_else(|| String::from("no run"))
    }

    /// Starts Envoy with one target, probes it, warms it up, and measures one run.
    fn measure_once(&self, target: &Target) -> Result<Run, String> {
        let options = &self.options;
        // The ports are found free, then released for Envoy to bind: another process can take
        // one in between (it happened once in about 200 starts). A second start with new ports
        // tells that apart from a broken configuration, which fails again.
        let work = self.root.join("target/bench");
        let start = Start {
            yaml: &target.yaml,
            label: &target.label,
            log: &target.log,
            root: &self.root,
            work: &work,
            envoy_bin: &self.envoy_bin,
            collector: self.receiver.port(),
            modules: None,
            callgrind: None,
        };
        let envoy = match Envoy::start(&start) {
            Ok(envoy) => envoy,
            Err(first) => {
                println!("  {first}; starting it once more with new ports");
                Envoy::start(&start)?
            }
        };
        probe(target, envoy.listener)?;
        let url = format!("http://{}{PATH}", envoy.listener);
        wrk(&self.script, &url, options.connections, options.warmup_s)?;
        let before = Snapshot::take(envoy.process.id())?;
        let (exports_before, bytes_before) = self.receiver.counts();
        let load = wrk(&self.script, &url, options.connections, options.duration_s)?;
        let after = Snapshot::take(envoy.process.id())?;
        let (exports_after, bytes_after) = self.receiver.counts();
        let rss_kb = rss_kb(envoy.process.id())?;
        let spans = span_counts(&envoy)?;
        drop(envoy);
        let cpu_ms = before.envoy_ticks(&after) as f64 * 1000.0 / self.tick;
        Ok(Run {
            requests: load.requests,
            rps: load.requests as f64 / (load.duration_us as f64 / 1e6),
            p50_ms: load.p50_us as f64 / 1000.0,
            p99_ms: load.p99_us as f64 / 1000.0,
            p999_ms: load.p999_us as f64 / 1000.0,
            cpu_ms_per_1k: if load.requests == 0 { 0.0 } else { cpu_ms * 1000.0 / load.requests as f64 },
            rss_mb: rss_kb as f64 / 1024.0,
            errors: load.errors,
            exports: exports_after.saturating_sub(exports_before),
            export_kb: bytes_after.saturating_sub(bytes_before) as f64 / 1024.0,
            spans,
            other_load_pct: before.other_load_pct(&after),
        })
    }
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        rounds: 3,
        duration_s: 10,
        warmup_s: 2,
        connections: 10,
        cases: CASES.iter().map(|c| c.id).collect(),
        hostcalls: false,
        calls: 20,
        probes: Vec::new(),
        floor: false,
        count: false,
    };
    let (mut duration_given, mut warmup_given, mut cases_given, mut calls_given) = (false, false, false, false);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--hostcalls" {
            o.hostcalls = true;
            continue;
        }
        if flag == "--floor" {
            o.floor = true;
            continue;
        }
        if flag == "--count" {
            o.count = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("`{flag}` needs a value"))?;
        if flag == "--cases" {
            o.cases = parse_cases(&value)?;
            cases_given = true;
            continue;
        }
        if flag == "--probes" {
            o.probes = value.split(',').map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect();
            if o.probes.is_empty() {
                return Err(String::from("--probes needs at least one probe name, e.g. `--probes histogram`"));
            }
            continue;
        }
        let n: u32 = value.parse().map_err(|_| format!("{flag}: `{value}` is not a whole number"))?;
        match flag.as_str() {
            "--rounds" => o.rounds = n.clamp(1, 20),
            "--duration" => (o.duration_s, duration_given) = (n.clamp(1, 120), true),
            "--warmup" => (o.warmup_s, warmup_given) = (n.clamp(1, 60), true),
            "--connections" => o.connections = n.clamp(1, 256),
            "--calls" => (o.calls, calls_given) = (n.clamp(1, 1000), true),
            _ => return Err(format!("unknown option `{flag}` (see --help)")),
        }
    }
    if [o.hostcalls, o.floor, o.count].iter().filter(|m| **m).count() > 1 {
        return Err(String::from("--hostcalls, --floor and --count are different runs: pick one"));
    }
    if (o.hostcalls || o.floor || o.count) && cases_given {
        return Err(String::from(
            "--cases selects load-comparison cases; it does not go with --hostcalls, --floor or --count",
        ));
    }
    if !o.hostcalls && calls_given {
        return Err(String::from("--calls only goes with --hostcalls"));
    }
    if !o.hostcalls && !o.probes.is_empty() {
        return Err(String::from("--probes only goes with --hostcalls"));
    }
    // The hostcall table has 16 targets per round and the floor 11: shorter runs by default.
    if o.hostcalls || o.floor {
        o.duration_s = if duration_given { o.duration_s } else { 5 };
        o.warmup_s = if warmup_given { o.warmup_s } else { 1 };
    }
    Ok(o)
}

/// `--cases 1,3`: case ids from 1 to 6, comma-separated; returned in the order.
fn parse_cases(value: &str) -> Result<Vec<u8>, String> {
    let mut ids = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let id: u8 = part.parse().map_err(|_| format!("--cases: `{part}` is not a case number"))?;
        if !CASES.iter().any(|c| c.id == id) {
            return Err(format!("--cases: there is no case {id} (the cases are 1 to {})", CASES.len()));
        }
        ids.push(id);
    }
    if ids.is_empty() {
        return Err(String::from("--cases needs at least one case number, e.g. `--cases 1,3`"));
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// One request before the load: the reply is 200 and carries the target's header.
fn probe(target: &Target, listener: SocketAddr) -> Result<(), String> {
    let reply = get(listener, PATH)?.to_ascii_lowercase();
    if !reply.starts_with("http/1.1 200") {
        return Err(format!("{}: probe got {:?}", target.label, reply.lines().next().unwrap_or_default()));
    }
    if let Some(header) = target.probe_header
        && !reply.contains(&format!("\r\n{header}:"))
    {
        return Err(format!("{}: probe reply has no `{header}` header:\n{reply}", target.label));
    }
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values.get(mid).copied().unwrap_or_default(),
        _ => (values.get(mid - 1).copied().unwrap_or_default() + values.get(mid).copied().unwrap_or_default()) / 2.0,
    }
}

/// The median of one column over a target's runs.
fn median_of(runs: &[Run], f: impl Fn(&Run) -> f64) -> f64 {
    let mut values: Vec<f64> = runs.iter().map(f).collect();
    median(&mut values)
}

/// The medians per case, and the ratios the issue asks for (those whose cases ran).
fn print_table(runs: &[(Case, Vec<Run>)]) {
    let med = |id: u8, f: fn(&Run) -> f64| -> Option<f64> {
        runs.iter().find(|(c, _)| c.id == id).map(|(_, r)| median_of(r, f))
    };
    let base_rps = med(1, |r| r.rps);
    let base_cpu = med(1, |r| r.cpu_ms_per_1k);
    let vs_base =
        |value: f64, base: Option<f64>, show: fn(f64, f64) -> String| base.map_or("-".into(), |b| show(value, b));
    println!("\nmedians of {} runs per case:\n", runs.first().map_or(0, |(_, r)| r.len()));
    println!(
        "| case | req/s | p50 ms | p99 ms | p99.9 ms | Envoy CPU ms / 1k req | Envoy RSS MB | req/s vs (1) | CPU / 1k vs (1) | CPU added over (1), ms / 1k | errors (sum) | exports / run | spans exported / dropped / failed (sum) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (case, results) in runs {
        let (rps, cpu) = (median_of(results, |r| r.rps), median_of(results, |r| r.cpu_ms_per_1k));
        let errors: u64 = results.iter().map(|r| r.errors).sum();
        let spans = results.iter().filter_map(|r| r.spans).fold(None, |sum: Option<Spans>, s| {
            let t = sum.unwrap_or_default();
            Some(Spans {
                exported: t.exported + s.exported,
                dropped: t.dropped + s.dropped,
                failed: t.failed + s.failed,
            })
        });
        println!(
            "| ({}) {} | {:.0} | {:.3} | {:.3} | {:.3} | {:.1} | {:.1} | {} | {} | {} | {} | {:.0} | {} |",
            case.id,
            case.name,
            rps,
            median_of(results, |r| r.p50_ms),
            median_of(results, |r| r.p99_ms),
            median_of(results, |r| r.p999_ms),
            cpu,
            median_of(results, |r| r.rss_mb),
            vs_base(rps, base_rps, |v, b| format!("{:.2}", v / b)),
            vs_base(cpu, base_cpu, |v, b| format!("{:.2}", v / b)),
            vs_base(cpu, base_cpu, |v, b| format!("{:+.1}", v - b)),
            errors,
            median_of(results, |r| r.exports as f64),
            spans.map_or(String::from("-"), |s| format!("{} / {} / {}", s.exported, s.dropped, s.failed)),
        );
    }
    // (3) over (5), when both ran.
    let ratio = |f: fn(&Run) -> f64| Some(med(3, f)? / med(5, f)?);
    if let (Some(rps), Some(cpu), Some(p99), Some(rss)) =
        (ratio(|r| r.rps), ratio(|r| r.cpu_ms_per_1k), ratio(|r| r.p99_ms), ratio(|r| r.rss_mb))
    {
        println!("\n(3) vs (5): req/s {rps:.2}x, CPU per request {cpu:.2}x, p99 {p99:.2}x, RSS {rss:.2}x");
    }
    if let (Some(base), Some(cpu2), Some(cpu3)) = (base_cpu, med(2, |r| r.cpu_ms_per_1k), med(3, |r| r.cpu_ms_per_1k)) {
        let (added2, added3) = (cpu2 - base, cpu3 - base);
        println!(
            "CPU added over (1): (3) {added3:.1} ms / 1k vs (2) {added2:.1} ms / 1k = {:.2}x (issue #7 target: <= 2x)",
            added3 / added2
        );
    }
    print_paired(runs, 3, 1.0, "target 1: (3) adds no more than (5)");
    print_paired(runs, 6, 0.5, "target 2: (6) adds at most half what (5) adds");
    println!("total requests measured: {}", runs.iter().flat_map(|(_, r)| r).map(|r| r.requests).sum::<u64>());
    print_disturbance(runs.iter().flat_map(|(_, r)| r));
}

/// Issue #19's ratios paired per round: what case `id` adds over bare Envoy in a round, divided
/// by what (5) adds in the same round. Medians of whole columns can pair a quiet round of one
/// case with a noisy round of another; a round's cases run minutes apart at most.
fn print_paired(runs: &[(Case, Vec<Run>)], id: u8, bound: f64, target: &str) {
    let cpu = |case: u8| runs.iter().find(|(c, _)| c.id == case).map(|(_, r)| r.iter().map(|r| r.cpu_ms_per_1k));
    let (Some(bare), Some(ours), Some(theirs)) = (cpu(1), cpu(id), cpu(5)) else { return };
    let mut ratios = paired_ratios(bare, ours, theirs);
    if ratios.is_empty() {
        return;
    }
    let within = ratios.iter().filter(|r| **r <= bound).count();
    let (n, median) = (ratios.len(), median(&mut ratios));
    let (min, max) = (ratios.first().copied().unwrap_or_default(), ratios.last().copied().unwrap_or_default());
    println!(
        "issue #19 {target}: ({id}) / (5) paired per round, median {median:.2}x (min {min:.2}x, max {max:.2}x); at most {bound}x in {within} of {n} rounds"
    );
}

/// Per round, what one case adds over bare Envoy divided by what another adds (rounds where the
/// other adds nothing are left out).
fn paired_ratios(
    bare: impl Iterator<Item = f64>,
    ours: impl Iterator<Item = f64>,
    theirs: impl Iterator<Item = f64>,
) -> Vec<f64> {
    bare.zip(ours).zip(theirs).map(|((b, o), t)| (o - b) / (t - b)).filter(|r| r.is_finite()).collect()
}

/// A run during which other processes used more than this share of a core is measured again.
const DISTURBED_PCT: f64 = 5.0;
/// Measurements per run at most (the first and the retries of a disturbed one).
const ATTEMPTS: u32 = 3;

/// Says how many runs kept a disturbed measurement (another benchmark, a build).
fn print_disturbance<'a>(runs: impl Iterator<Item = &'a Run>) {
    let (mut disturbed, mut total, mut worst) = (0, 0, 0.0_f64);
    for run in runs {
        total += 1;
        worst = worst.max(run.other_load_pct);
        if run.other_load_pct > DISTURBED_PCT {
            disturbed += 1;
        }
    }
    println!(
        "runs still disturbed after {ATTEMPTS} attempts (other processes above {DISTURBED_PCT:.0}% of a core): {disturbed} of {total} (worst {worst:.0}%){}",
        if disturbed > 0 { "; those numbers are not clean, rerun on a quiet machine" } else { "" }
    );
}

/// meshlens's span counters once the queue has drained: after the load, partial batches leave
/// within the flush interval (1 s by default) and calls answer quickly, so the counters are read
/// 2.5 s after the load ends. `None` when the Envoy has no meshlens counters (cases 1, 2, 5).
fn span_counts(envoy: &Envoy) -> Result<Option<Spans>, String> {
    if envoy.stats()?.is_none() {
        return Ok(None);
    }
    std::thread::sleep(Duration::from_millis(2_500));
    Ok(envoy.stats()?.map(|s| Spans { exported: s.exported, dropped: s.dropped, failed: s.failed }))
}

#[cfg(test)]
mod tests {
    use super::paired_ratios;

    #[test]
    fn ratios_pair_each_round_with_its_own_bare_run() {
        let bare = [15.0, 20.0, 16.0];
        let ours = [19.0, 24.0, 20.0];
        let theirs = [25.0, 28.0, 16.0];
        // Round 2's bare Envoy is slower: paired, (6) still adds half what (5) adds there; round
        // 3's (5) adds nothing and is left out.
        assert_eq!(paired_ratios(bare.into_iter(), ours.into_iter(), theirs.into_iter()), vec![0.4, 0.5]);
    }
}
