//! A real Envoy for the load commands (`envoy_load`, `chaos`, `soak`): one worker pinned to
//! [`ENVOY_CPU`], a bootstrap with its ports rendered free, its admin endpoint, and meshlens's
//! counters read from `/stats`. Killed when dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use meshlens_tests_process::{Process, Ready};

/// Envoy's CPU; everything else (the load, the collector, this process) runs on [`LOAD_CPU`].
pub const ENVOY_CPU: &str = "0";
/// The CPU of wrk, the collector and the process driving them.
pub const LOAD_CPU: &str = "1";

/// A running Envoy (`taskset` execs it, so the process id is Envoy's), killed on drop.
#[derive(Debug)]
pub struct Envoy {
    pub process: Process,
    pub listener: SocketAddr,
    pub admin: SocketAddr,
    /// Envoy's log file (`--log-path`): meshlens's access lines go there.
    pub log: PathBuf,
}

/// What an Envoy to start is: a bootstrap (the shipped text, with the fixed ports 10000, 9901 and
/// 4318 still in it), a label for messages, and a name for its files (`<work>/envoy-<log>.log`).
#[derive(Debug, Clone, Copy)]
pub struct Start<'a> {
    pub yaml: &'a str,
    pub label: &'a str,
    pub log: &'a str,
    /// The repository root: Envoy runs there (the bootstraps load the module by relative path).
    pub root: &'a Path,
    /// Where the rendered bootstrap, the log and Envoy's output go.
    pub work: &'a Path,
    pub envoy_bin: &'a Path,
    /// The port of the OTLP collector (replaces 4318).
    pub collector: u16,
    /// Where Envoy finds dynamic modules by name (`ENVOY_DYNAMIC_MODULES_SEARCH_PATH`); `None`
    /// leaves this process's own setting to Envoy.
    pub modules: Option<&'a Path>,
    /// Runs Envoy under valgrind's callgrind, writing its dumps to this path with the process id
    /// and the dump's number appended (`envoy_load --count`); `None` runs Envoy itself.
    pub callgrind: Option<&'a Path>,
}

/// meshlens's counters and memory gauge from Envoy's admin `/stats`: every span ends in exported,
/// dropped or failed (or is still queued or in flight).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub exported: u64,
    pub dropped: u64,
    pub failed: u64,
    /// Failed export calls (`meshlens_export_failures_total{signal="traces"}`).
    pub failed_calls: u64,
    /// `meshlens_wasm_memory_bytes`: the module's linear memory.
    pub wasm_memory: u64,
}

impl Envoy {
    /// Writes the bootstrap with free ports and starts Envoy on [`ENVOY_CPU`] with one worker;
    /// waits (at most 60 s, 300 under callgrind) until the admin endpoint says it is ready and the
    /// listener accepts.
    pub fn start(s: &Start<'_>) -> Result<Self, String> {
        let (listener, admin) = (free_port()?, free_port()?);
        let text = s
            .yaml
            .replace("port_value: 10000", &format!("port_value: {listener}"))
            .replace("port_value: 9901", &format!("port_value: {admin}"))
            .replace("port_value: 4318", &format!("port_value: {}", s.collector));
        let config = s.work.join("envoy.yaml");
        let log = s.work.join(format!("envoy-{}.log", s.log));
        std::fs::write(&config, text).map_err(|e| format!("{}: {e}", config.display()))?;
        // Fresh log files per run: their size is part of what the run wrote.
        let _ = std::fs::remove_file(&log);
        let _ = std::fs::remove_file(s.work.join("access.log"));
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", ENVOY_CPU]);
        if let Some(out) = s.callgrind {
            // V8 writes the machine code it runs: callgrind must look for changed code outside
            // the files it mapped.
            cmd.args(["valgrind", "--tool=callgrind", "--smc-check=all-non-file"])
                .arg(format!("--callgrind-out-file={}.%p", out.display()));
        }
        cmd.arg(s.envoy_bin)
            .arg("-c")
            .arg(&config)
            .args(["--concurrency", "1", "--use-dynamic-base-id", "--disable-hot-restart", "--log-level", "info"])
            // The shipped bootstraps' flag: meshlens's access lines are written whatever `-l` is
            // (through the `wasm` logger, or `dynamic_modules` for the native build of case 6).
            .args(["--component-log-level", "wasm:info,dynamic_modules:info"])
            .arg("--log-path")
            .arg(&log)
            .current_dir(s.root);
        if let Some(modules) = s.modules {
            cmd.env("ENVOY_DYNAMIC_MODULES_SEARCH_PATH", modules);
        }
        let listener = SocketAddr::from(([127, 0, 0, 1], listener));
        let admin = SocketAddr::from(([127, 0, 0, 1], admin));
        let output = s.work.join(format!("envoy-{}.out", s.log));
        let ready = [Ready::Http(admin, "/ready"), Ready::Port(listener)];
        // Under callgrind Envoy starts about 50 times slower (10 s bare, 60 s with V8).
        let timeout = Duration::from_secs(if s.callgrind.is_some() { 300 } else { 60 });
        let process = Process::start("envoy", cmd, &output, &ready, timeout)
            .map_err(|e| format!("{}: {e}; see {}", s.label, log.display()))?;
        Ok(Self { process, listener, admin, log })
    }

    /// meshlens's counters now; `None` when this Envoy runs no meshlens.
    pub fn stats(&self) -> Result<Option<Stats>, String> {
        // Only these series: the request metrics' histograms are most of `meshlens_`.
        let text = get(self.admin, "/stats?filter=meshlens_%28spans_%7Cexport_failures_%7Cwasm_memory%29")?;
        if !text.contains("meshlens_spans_") {
            return Ok(None);
        }
        let value = |name: &str| -> u64 {
            text.lines()
                .filter_map(|l| l.split_once(": "))
                // Envoy names a Wasm metric `wasmcustom.<name>` in `/stats`, a dynamic module's
                // `dynamicmodulescustom.<name>`, its labels `.<label>.<value>` (native) where
                // the Wasm module writes `;<label>=<value>`.
                .find(|(k, _)| {
                    let k =
                        k.strip_prefix("wasmcustom.").or_else(|| k.strip_prefix("dynamicmodulescustom.")).unwrap_or(k);
                    k == name || k == name.replace(";signal=", ".signal.")
                })
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(0)
        };
        Ok(Some(Stats {
            exported: value("meshlens_spans_exported_total"),
            dropped: value("meshlens_spans_dropped_total"),
            failed: value("meshlens_spans_failed_total"),
            failed_calls: value("meshlens_export_failures_total;signal=traces"),
            wasm_memory: value("meshlens_wasm_memory_bytes"),
        }))
    }

    /// Empties Envoy's log (Envoy appends, so it goes on writing at the start): long runs write
    /// about 600 bytes of access line per request.
    pub fn truncate_log(&self) {
        if let Ok(file) = std::fs::OpenOptions::new().write(true).open(&self.log) {
            let _ = file.set_len(0);
        }
    }
}

impl Stats {
    /// Spans that reached an end: exported, dropped or failed.
    pub fn ended(&self) -> u64 {
        self.exported + self.dropped + self.failed
    }
}

/// A bounded `GET` on a fresh connection (`connection: close`); returns the whole reply.
pub fn get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| format!("{addr}: {e}"))?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    write!(conn, "GET {path} HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    conn.take(1 << 20).read_to_end(&mut reply).map_err(|e| format!("{addr}{path}: {e}"))?;
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

pub use meshlens_tests_process::free_port;

/// Runs a command to completion; its stdout, or an error naming it.
pub fn command(cmd: &mut Command) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| format!("cannot run {shown}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("{shown} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr)))
    }
}
