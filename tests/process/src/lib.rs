//! Child processes for tests and benchmarks: start one with its output in a file, wait until it
//! is ready (a port accepts connections, a URL answers 200, a line is printed) within a deadline,
//! and stop and reap it when the handle is dropped. Errors carry the process's output, so a
//! server that exits or never gets ready says why.
//!
//! Every wait is bounded in time and in the number of polls. Used by the Envoy, Prometheus and
//! registry tests of `meshlens-tests` and by `meshlens-benches`'s `envoy_load` and `chaos`.
//! [`collector`] is the loopback OTLP collector with switchable faults that they share, and
//! [`free_port`] hands out the ports their servers listen on.
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use std::process::Command;
//! use std::time::Duration;
//! use meshlens_tests_process::{Process, Ready};
//!
//! let addr = SocketAddr::from(([127, 0, 0, 1], 9090));
//! let mut cmd = Command::new("prometheus");
//! cmd.arg("--web.listen-address=127.0.0.1:9090");
//! let server = Process::start("prometheus", cmd, "/tmp/prometheus.log".as_ref(), &[Ready::Http(addr, "/-/ready")],
//!     Duration::from_secs(30))?;
//! // ... use it; dropping `server` kills it and waits for it.
//! # Ok::<(), String>(())
//! ```

pub mod collector;
mod ports;

pub use ports::free_port;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// A running child process, killed and reaped when dropped.
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Child,
    output: PathBuf,
}

/// A condition that says a process is ready. All given conditions must hold at once.
#[derive(Debug, Clone, Copy)]
pub enum Ready<'a> {
    /// A TCP connection to this address succeeds.
    Port(SocketAddr),
    /// `GET path` on this address answers with status 200.
    Http(SocketAddr, &'a str),
    /// The process's output (stdout and stderr) contains this text.
    Line(&'a str),
}

/// How often readiness is checked.
const POLL: Duration = Duration::from_millis(100);
/// Connect and read limits of one readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

impl Process {
    /// Starts `cmd` with stdin closed and stdout and stderr written to `output`, then waits until
    /// every `ready` condition holds, at most `timeout`. Fails, with the output so far, when the
    /// process cannot start, exits first, or is not ready in time (it is then killed).
    pub fn start(
        name: &str,
        mut cmd: Command,
        output: &Path,
        ready: &[Ready<'_>],
        timeout: Duration,
    ) -> Result<Self, String> {
        let file =
            std::fs::File::create(output).map_err(|e| format!("{name}: cannot create {}: {e}", output.display()))?;
        let stderr = file.try_clone().map_err(|e| format!("{name}: {}: {e}", output.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {name} ({:?}): {e}", cmd.get_program()))?;
        let mut process = Self { name: name.to_owned(), child, output: output.to_path_buf() };
        process.wait_ready(ready, timeout)?;
        Ok(process)
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// The exit status if the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn wait_ready(&mut self, ready: &[Ready<'_>], timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let polls = timeout.as_millis() / POLL.as_millis() + 1;
        for _ in 0..polls {
            if let Some(status) = self.exited() {
                return Err(format!(
                    "{} exited with {status} before it was ready; output:\n{}",
                    self.name,
                    self.output()
                ));
            }
            if ready.iter().all(|r| self.holds(r)) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(POLL);
        }
        Err(format!("{} not ready within {timeout:?} ({ready:?}); output:\n{}", self.name, self.output()))
    }

    fn holds(&self, ready: &Ready<'_>) -> bool {
        match ready {
            Ready::Port(addr) => TcpStream::connect_timeout(addr, PROBE_TIMEOUT).is_ok(),
            Ready::Http(addr, path) => status(*addr, path) == Some(200),
            Ready::Line(text) => self.output().contains(text),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status of `GET path` on `addr`, on a fresh connection; `None` when it does not answer
/// within the probe timeout.
pub fn status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut conn = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT).ok()?;
    conn.set_read_timeout(Some(PROBE_TIMEOUT)).ok()?;
    conn.set_write_timeout(Some(PROBE_TIMEOUT)).ok()?;
    write!(conn, "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    conn.read_exact(&mut head).ok()?;
    let line = std::str::from_utf8(&head).ok()?;
    line.strip_prefix("HTTP/1.1 ").or_else(|| line.strip_prefix("HTTP/1.0 "))?.get(..3)?.parse().ok()
}

/// Runs `cmd` to completion with stdin closed, capturing stdout and stderr; kills it and fails
/// when it takes longer than `limit`.
pub fn output_within(mut cmd: Command, limit: Duration) -> Result<Output, String> {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    let stdout = reader(child.stdout.take());
    let stderr = reader(child.stderr.take());
    let deadline = Instant::now() + limit;
    let polls = limit.as_millis() / 10 + 1;
    let mut status = None;
    for _ in 0..polls {
        status = child.try_wait().map_err(|e| format!("{shown}: {e}"))?;
        if status.is_some() || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("{shown} did not finish within {limit:?}"));
    };
    let collect = |handle: std::thread::JoinHandle<Vec<u8>>| handle.join().unwrap_or_default();
    Ok(Output { status, stdout: collect(stdout), stderr: collect(stderr) })
}

/// A thread reading a pipe to its end.
fn reader(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        cmd
    }

    fn scratch(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("meshlens-process-{}-{name}.out", std::process::id()))
    }

    #[test]
    fn a_printed_line_makes_a_process_ready_and_drop_reaps_it() {
        let process = Process::start(
            "printer",
            sh("echo starting; echo listening >&2; exec sleep 30"),
            &scratch("line"),
            &[Ready::Line("listening")],
            Duration::from_secs(10),
        )
        .unwrap();
        let pid = process.id();
        assert!(process.output().contains("starting\n"), "{}", process.output());
        drop(process);
        // Reaped: no zombie is left under this pid.
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "process {pid} still exists");
    }

    #[test]
    fn a_process_that_exits_first_fails_with_its_output() {
        let error = Process::start(
            "quitter",
            sh("echo bad flag >&2; exit 3"),
            &scratch("exit"),
            &[Ready::Line("never")],
            Duration::from_secs(10),
        )
        .unwrap_err();
        assert!(error.starts_with("quitter exited with exit status: 3 before it was ready"), "{error}");
        assert!(error.ends_with("bad flag\n"), "{error}");
    }

    #[test]
    fn readiness_and_commands_are_bounded_in_time() {
        let started = Instant::now();
        let error = Process::start(
            "sleeper",
            sh("exec sleep 30"),
            &scratch("slow"),
            &[Ready::Line("never")],
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(error.starts_with("sleeper not ready within 300ms"), "{error}");
        let error = output_within(sh("exec sleep 30"), Duration::from_millis(300)).unwrap_err();
        assert!(error.contains("did not finish within 300ms"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        let out = output_within(sh("echo out; echo err >&2"), Duration::from_secs(10)).unwrap();
        assert_eq!((out.stdout.as_slice(), out.stderr.as_slice()), (&b"out\n"[..], &b"err\n"[..]));
    }
}
