//! Issue #7's Envoy load comparison: the same keep-alive load through five Envoy configurations
//! (`envoy-config/bench/`), in alternating rounds, on this machine; prints one line per run and a
//! Markdown table of medians. Run by `cargo xtask bench-envoy` (which builds both modules first).
//!
//! Envoy runs with one worker (`--concurrency 1`) pinned to CPU 0; this process, its OTLP
//! receiver and `wrk` are pinned to CPU 1. Every wait has a deadline and every Envoy is killed
//! when its run ends (or when this process returns early with an error).
//!
//! Usage: `envoy_load [--rounds N] [--duration SECONDS] [--warmup SECONDS] [--connections N]`;
//! Envoy from `MESHLENS_ENVOY` (default `.venv/bin/envoy`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The five configurations, in the order of the issue.
const CASES: [Case; 5] = [
    Case { id: 1, name: "bare Envoy", config: "1-bare.yaml", probe_header: None },
    Case { id: 2, name: "minimal Wasm (1 header)", config: "2-minimal-header.yaml", probe_header: Some("x-minimal") },
    Case { id: 3, name: "meshlens, 100% sampling", config: "3-meshlens-100.yaml", probe_header: Some("x-trace-id") },
    Case { id: 4, name: "meshlens, 1% sampling", config: "4-meshlens-1.yaml", probe_header: Some("x-trace-id") },
    Case { id: 5, name: "native OTel + JSON log", config: "5-native-otel.yaml", probe_header: None },
];

const PATH: &str = "/api/v1/query";
const ENVOY_CPU: &str = "0";
const LOAD_CPU: &str = "1";

/// One Envoy configuration under test.
#[derive(Debug, Clone, Copy)]
struct Case {
    id: u8,
    name: &'static str,
    config: &'static str,
    /// A response header the probe request must carry (proves the filter ran).
    probe_header: Option<&'static str>,
}

/// Options from the command line.
#[derive(Debug, Clone, Copy)]
struct Options {
    rounds: u32,
    duration_s: u32,
    warmup_s: u32,
    connections: u32,
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
    export_kb: f64,
}

/// A running Envoy, killed on drop.
#[derive(Debug)]
struct Envoy {
    child: Child,
    listener: SocketAddr,
}

/// A loopback OTLP/HTTP receiver answering 200 `{}` to every request; counts requests and bytes.
#[derive(Debug)]
struct Receiver {
    port: u16,
    requests: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

fn main() -> std::process::ExitCode {
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
    let script = work.join("percentiles.lua");
    std::fs::write(&script, WRK_SCRIPT).map_err(|e| format!("{}: {e}", script.display()))?;
    let tick = clock_ticks()?;
    let receiver = Receiver::start()?;

    println!(
        "{} rounds x {} cases, {} s per run after {} s warm-up, wrk -t1 -c{}, Envoy --concurrency 1 on CPU {ENVOY_CPU}, load on CPU {LOAD_CPU}",
        options.rounds,
        CASES.len(),
        options.duration_s,
        options.warmup_s,
        options.connections
    );
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); CASES.len()];
    for round in 1..=options.rounds {
        for (case, results) in CASES.iter().zip(runs.iter_mut()) {
            let run = measure(case, &options, &root, &envoy_bin, &script, &receiver, tick)?;
            println!(
                "round {round} case {} ({}): {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, {:.1} ms CPU/1k req, RSS {:.1} MB, errors {}, {} exports ({:.0} KB)",
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
                run.export_kb
            );
            results.push(run);
        }
    }
    print_table(&runs);
    Ok(())
}

/// Starts Envoy with one case, probes it, warms it up, and measures one run.
fn measure(
    case: &Case,
    options: &Options,
    root: &Path,
    envoy_bin: &Path,
    script: &Path,
    receiver: &Receiver,
    tick: f64,
) -> Result<Run, String> {
    let envoy = Envoy::start(case, root, envoy_bin, receiver.port)?;
    probe(case, envoy.listener)?;
    let url = format!("http://{}{PATH}", envoy.listener);
    wrk(script, &url, options.connections, options.warmup_s)?;
    let cpu_before = cpu_ticks(envoy.child.id())?;
    let (exports_before, bytes_before) = receiver.counts();
    let load = wrk(script, &url, options.connections, options.duration_s)?;
    let cpu_after = cpu_ticks(envoy.child.id())?;
    let (exports_after, bytes_after) = receiver.counts();
    let rss_kb = rss_kb(envoy.child.id())?;
    drop(envoy);
    let cpu_ms = (cpu_after.saturating_sub(cpu_before)) as f64 * 1000.0 / tick;
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
    })
}

fn options() -> Result<Options, String> {
    let mut o = Options { rounds: 3, duration_s: 10, warmup_s: 2, connections: 10 };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let (flag, value) = match pair {
            [flag, value] => (flag.as_str(), value),
            _ => return Err(format!("`{}` needs a value", pair.first().map_or("", String::as_str))),
        };
        let n: u32 = value.parse().map_err(|_| format!("{flag}: `{value}` is not a whole number"))?;
        match flag {
            "--rounds" => o.rounds = n.clamp(1, 20),
            "--duration" => o.duration_s = n.clamp(1, 120),
            "--warmup" => o.warmup_s = n.clamp(1, 60),
            "--connections" => o.connections = n.clamp(1, 256),
            _ => return Err(format!("unknown option `{flag}`")),
        }
    }
    Ok(o)
}

impl Envoy {
    /// Renders `envoy-config/bench/<case>` with free ports and starts Envoy on CPU 0; waits
    /// (at most 60 s) until the admin endpoint says it is ready.
    fn start(case: &Case, root: &Path, envoy_bin: &Path, collector: u16) -> Result<Self, String> {
        let source = root.join("envoy-config/bench").join(case.config);
        let text = std::fs::read_to_string(&source).map_err(|e| format!("{}: {e}", source.display()))?;
        let (listener, admin) = (free_port()?, free_port()?);
        let text = text
            .replace("port_value: 10000", &format!("port_value: {listener}"))
            .replace("port_value: 9901", &format!("port_value: {admin}"))
            .replace("port_value: 4318", &format!("port_value: {collector}"));
        let work = root.join("target/bench");
        let config = work.join("envoy.yaml");
        let log = work.join(format!("envoy-case{}.log", case.id));
        std::fs::write(&config, text).map_err(|e| format!("{}: {e}", config.display()))?;
        // Fresh log files per run: their size is part of what the run wrote.
        let _ = std::fs::remove_file(&log);
        let _ = std::fs::remove_file(work.join("access.log"));
        let child = Command::new("taskset")
            .args(["-c", ENVOY_CPU])
            .arg(envoy_bin)
            .arg("-c")
            .arg(&config)
            .args(["--concurrency", "1", "--use-dynamic-base-id", "--disable-hot-restart", "--log-level", "info"])
            .arg("--log-path")
            .arg(&log)
            .current_dir(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", envoy_bin.display()))?;
        let mut envoy = Self { child, listener: SocketAddr::from(([127, 0, 0, 1], listener)) };
        let admin = SocketAddr::from(([127, 0, 0, 1], admin));
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = envoy.child.try_wait() {
                return Err(format!("case {}: envoy exited with {status}; see {}", case.id, log.display()));
            }
            if get(admin, "/ready").is_ok_and(|r| r.starts_with("HTTP/1.1 200"))
                && TcpStream::connect(envoy.listener).is_ok()
            {
                return Ok(envoy);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("case {}: envoy not ready within 60 s; see {}", case.id, log.display()))
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request before the load: the reply is 200 and carries the case's header.
fn probe(case: &Case, listener: SocketAddr) -> Result<(), String> {
    let reply = get(listener, PATH)?.to_ascii_lowercase();
    if !reply.starts_with("http/1.1 200") {
        return Err(format!("case {}: probe got {:?}", case.id, reply.lines().next().unwrap_or_default()));
    }
    if let Some(header) = case.probe_header
        && !reply.contains(&format!("\r\n{header}:"))
    {
        return Err(format!("case {}: probe reply has no `{header}` header:\n{reply}", case.id));
    }
    Ok(())
}

/// A bounded `GET` on a fresh connection (`connection: close`); returns the whole reply.
fn get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| format!("{addr}: {e}"))?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    write!(conn, "GET {path} HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    conn.take(1 << 20).read_to_end(&mut reply).map_err(|e| format!("{addr}{path}: {e}"))?;
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// The percentiles and counts `WRK_SCRIPT` prints.
#[derive(Debug, Clone, Copy, Default)]
struct Load {
    requests: u64,
    duration_us: u64,
    errors: u64,
    p50_us: u64,
    p99_us: u64,
    p999_us: u64,
}

/// wrk's `done` hook: exact percentiles (its `--latency` table stops at 99%) and counts.
const WRK_SCRIPT: &str = r#"done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("MESHLENS requests=%d duration_us=%d errors=%d p50_us=%d p99_us=%d p999_us=%d\n",
    summary.requests, summary.duration, e.status + e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
"#;

/// Runs wrk on CPU 1: one thread, `connections` keep-alive connections, `seconds` long.
fn wrk(script: &Path, url: &str, connections: u32, seconds: u32) -> Result<Load, String> {
    let out = Command::new("taskset")
        .args(["-c", LOAD_CPU, "wrk", "-t1", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(script)
        .arg(url)
        .output()
        .map_err(|e| format!("cannot run wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("MESHLENS ")).ok_or_else(|| {
        format!("wrk printed no summary ({}):\n{text}{}", out.status, String::from_utf8_lossy(&out.stderr))
    })?;
    let field = |name: &str| -> u64 {
        line.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(Load {
        requests: field("requests"),
        duration_us: field("duration_us").max(1),
        errors: field("errors"),
        p50_us: field("p50_us"),
        p99_us: field("p99_us"),
        p999_us: field("p999_us"),
    })
}

/// utime + stime of a process, in clock ticks (`/proc/<pid>/stat` fields 14 and 15).
fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // Fields after the command name (which may hold spaces) start at field 3, the state.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11).and_then(|v| v.parse().ok()).ok_or("no utime in /proc/<pid>/stat")?;
    let stime: u64 = fields.get(12).and_then(|v| v.parse().ok()).ok_or("no stime in /proc/<pid>/stat")?;
    Ok(utime + stime)
}

/// `VmRSS` of a process, in KiB.
fn rss_kb(pid: u32) -> Result<u64, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| String::from("no VmRSS in /proc/<pid>/status"))
}

/// Clock ticks per second (`getconf CLK_TCK`).
fn clock_ticks() -> Result<f64, String> {
    let out = command(Command::new("getconf").arg("CLK_TCK"))?;
    out.trim().parse().map_err(|_| format!("getconf CLK_TCK printed {out:?}"))
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).map_err(|e| e.to_string())
}

/// Runs a command to completion; its stdout, or an error naming it.
fn command(cmd: &mut Command) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| format!("cannot run {shown}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("{shown} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr)))
    }
}

impl Receiver {
    fn start() -> Result<Self, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let (requests, bytes, stop) = (Arc::default(), Arc::default(), Arc::<AtomicBool>::default());
        let accept = {
            let (requests, bytes, stop): (Arc<AtomicU64>, Arc<AtomicU64>, Arc<AtomicBool>) =
                (Arc::clone(&requests), Arc::clone(&bytes), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((conn, _)) => {
                            let (requests, bytes, stop) = (requests.clone(), bytes.clone(), stop.clone());
                            std::thread::spawn(move || serve(conn, &requests, &bytes, &stop));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Ok(Self { port, requests, bytes, stop, accept: Some(accept) })
    }

    fn counts(&self) -> (u64, u64) {
        (self.requests.load(Ordering::Relaxed), self.bytes.load(Ordering::Relaxed))
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Serves one keep-alive connection: reads requests (`content-length` or chunked bodies), answers
/// each with 200 `{}`; ends on close, error, or `stop` (reads time out every 200 ms).
fn serve(conn: TcpStream, requests: &AtomicU64, bytes: &AtomicU64, stop: &AtomicBool) {
    let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
    let Ok(mut writer) = conn.try_clone() else { return };
    let mut reader = BufReader::new(conn);
    while !stop.load(Ordering::Relaxed) {
        let Some(body) = read_request(&mut reader, stop) else { return };
        requests.fetch_add(1, Ordering::Relaxed);
        bytes.fetch_add(body, Ordering::Relaxed);
        let reply = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        if writer.write_all(reply).is_err() {
            return;
        }
    }
}

/// Reads one request; returns its body length, `None` on close, error or stop.
fn read_request(reader: &mut BufReader<TcpStream>, stop: &AtomicBool) -> Option<u64> {
    let (mut length, mut chunked, mut started) = (0u64, false, false);
    loop {
        let line = read_line(reader, stop)?;
        if line.trim().is_empty() {
            if started {
                break;
            }
            continue;
        }
        started = true;
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        } else if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    if !chunked {
        return skip(reader, length).then_some(length);
    }
    let mut total = 0;
    loop {
        let size = u64::from_str_radix(read_line(reader, stop)?.trim().split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            read_line(reader, stop)?;
            return Some(total);
        }
        if !skip(reader, size + 2) {
            return None;
        }
        total += size;
    }
}

/// One line, retrying timed-out reads until `stop` (each try at most 200 ms).
fn read_line(reader: &mut BufReader<TcpStream>, stop: &AtomicBool) -> Option<String> {
    let mut line = String::new();
    while !stop.load(Ordering::Relaxed) {
        match reader.read_line(&mut line) {
            Ok(0) => return None,
            Ok(_) => return Some(line),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return None,
        }
    }
    None
}

/// Reads and drops `n` bytes; false on close or error.
fn skip(reader: &mut BufReader<TcpStream>, n: u64) -> bool {
    std::io::copy(&mut reader.by_ref().take(n), &mut std::io::sink()).is_ok_and(|copied| copied == n)
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

/// The medians per case, and the ratios the issue asks for.
fn print_table(runs: &[Vec<Run>]) {
    let med = |case: usize, f: fn(&Run) -> f64| -> f64 {
        let mut values: Vec<f64> = runs.get(case).map(|r| r.iter().map(f).collect()).unwrap_or_default();
        median(&mut values)
    };
    let (base_rps, base_cpu) = (med(0, |r| r.rps), med(0, |r| r.cpu_ms_per_1k));
    println!("\nmedians of {} runs per case:\n", runs.first().map_or(0, Vec::len));
    println!(
        "| case | req/s | p50 ms | p99 ms | p99.9 ms | Envoy CPU ms / 1k req | Envoy RSS MB | req/s vs (1) | CPU / 1k vs (1) | CPU added over (1), ms / 1k | errors (sum) | exports / run |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (i, case) in CASES.iter().enumerate() {
        let (rps, cpu) = (med(i, |r| r.rps), med(i, |r| r.cpu_ms_per_1k));
        let errors: u64 = runs.get(i).map_or(0, |r| r.iter().map(|r| r.errors).sum());
        println!(
            "| ({}) {} | {:.0} | {:.3} | {:.3} | {:.3} | {:.1} | {:.1} | {:.2} | {:.2} | {:+.1} | {} | {:.0} |",
            case.id,
            case.name,
            rps,
            med(i, |r| r.p50_ms),
            med(i, |r| r.p99_ms),
            med(i, |r| r.p999_ms),
            cpu,
            med(i, |r| r.rss_mb),
            rps / base_rps,
            cpu / base_cpu,
            cpu - base_cpu,
            errors,
            med(i, |r| r.exports as f64),
        );
    }
    let (rps3, rps5) = (med(2, |r| r.rps), med(4, |r| r.rps));
    let (cpu3, cpu5) = (med(2, |r| r.cpu_ms_per_1k), med(4, |r| r.cpu_ms_per_1k));
    let (added2, added3) = (med(1, |r| r.cpu_ms_per_1k) - base_cpu, cpu3 - base_cpu);
    println!(
        "\n(3) vs (5): req/s {:.2}x, CPU per request {:.2}x, p99 {:.2}x, RSS {:.2}x",
        rps3 / rps5,
        cpu3 / cpu5,
        med(2, |r| r.p99_ms) / med(4, |r| r.p99_ms),
        med(2, |r| r.rss_mb) / med(4, |r| r.rss_mb)
    );
    println!(
        "CPU added over (1): (3) {added3:.1} ms / 1k vs (2) {added2:.1} ms / 1k = {:.2}x (issue #7 target: <= 2x)",
        added3 / added2
    );
    println!("total requests measured: {}", runs.iter().flatten().map(|r| r.requests).sum::<u64>());
}
