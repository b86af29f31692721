//! wrk, as the load commands run it: one thread, keep-alive connections, pinned to the load CPU,
//! with a Lua `done` hook printing exact percentiles and counts.

use std::path::Path;
use std::process::Command;

use crate::envoy::LOAD_CPU;

/// The percentiles and counts `WRK_SCRIPT` prints.
#[derive(Debug, Clone, Copy, Default)]
pub struct Load {
    pub requests: u64,
    pub duration_us: u64,
    /// Responses that were not 2xx/3xx, and socket errors.
    pub errors: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
}

/// wrk's `done` hook: exact percentiles (its `--latency` table stops at 99%) and counts.
pub const WRK_SCRIPT: &str = r#"done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("MESHLENS requests=%d duration_us=%d errors=%d p50_us=%d p99_us=%d p999_us=%d\n",
    summary.requests, summary.duration, e.status + e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
"#;

/// Runs wrk on CPU 1: one thread, `connections` keep-alive connections, `seconds` long.
pub fn wrk(script: &Path, url: &str, connections: u32, seconds: u32) -> Result<Load, String> {
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
