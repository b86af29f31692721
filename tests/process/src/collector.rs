//! A loopback OTLP/HTTP collector that can be switched, while it runs, to each way a real one
//! fails: nothing listening, a connection that is accepted and never answered, `503`, `413`, a
//! slow answer, a connection closed in the middle of a request, and bytes that are not HTTP.
//! `cargo xtask chaos`, `cargo xtask bench-envoy` and the chaos e2e test run it.
//!
//! It counts requests and body bytes, and is bounded: every read times out within 200 ms and
//! checks for the stop flag, a held (`hang`) connection is closed when its peer closes it or after
//! [`MAX_HOLD`], a slow answer gives up when the mode changes, and dropping the collector stops
//! every thread (the accept thread is joined; connection threads end within 200 ms).
//!
//! ```no_run
//! use std::time::Duration;
//! use meshlens_tests_process::collector::{Collector, Fault};
//!
//! let collector = Collector::start(Duration::from_secs(2))?;
//! // ... point Envoy's collector cluster at 127.0.0.1:{collector.port()} ...
//! collector.set(Fault::Hang);
//! collector.set(Fault::Healthy);
//! # Ok::<(), String>(())
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the collector does with the next request (or connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answers `200` with an empty OTLP response.
    Healthy,
    /// Nothing listens on the port: connections are refused, open ones are closed.
    Refused,
    /// Reads the request and never answers it, even after the mode changes: the connection stays
    /// open until the peer closes it (at most [`MAX_HOLD`]).
    Hang,
    /// Answers `503 Service Unavailable`.
    Unavailable,
    /// Answers `413 Payload Too Large`.
    TooLarge,
    /// Answers `200`, after the collector's slow delay.
    Slow,
    /// Reads the request head and closes the connection without reading the body or answering.
    Reset,
    /// Answers bytes that are not HTTP, then closes.
    Garbage,
}

/// The longest a [`Fault::Hang`] connection is held (Envoy's export timeout, 5 s by default,
/// normally ends it first).
pub const MAX_HOLD: Duration = Duration::from_secs(60);

/// A switchable OTLP/HTTP collector on 127.0.0.1; stops when dropped.
#[derive(Debug)]
pub struct Collector {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Fault {
    /// Every mode, healthy first, in the order of issue #16.
    pub const ALL: [Fault; 8] = [
        Fault::Healthy,
        Fault::Refused,
        Fault::Hang,
        Fault::Unavailable,
        Fault::TooLarge,
        Fault::Slow,
        Fault::Reset,
        Fault::Garbage,
    ];

    /// The mode's name on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Healthy => "healthy",
            Fault::Refused => "refused",
            Fault::Hang => "hang",
            Fault::Unavailable => "503",
            Fault::TooLarge => "413",
            Fault::Slow => "slow",
            Fault::Reset => "reset",
            Fault::Garbage => "garbage",
        }
    }

    /// The mode called `name` ([`Fault::name`]).
    pub fn parse(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }

    fn index(self) -> u8 {
        Fault::ALL.iter().position(|f| *f == self).and_then(|i| u8::try_from(i).ok()).unwrap_or_default()
    }

    fn from_index(i: u8) -> Fault {
        Fault::ALL.get(usize::from(i)).copied().unwrap_or(Fault::Healthy)
    }
}

/// State the accept and connection threads share.
#[derive(Debug, Default)]
struct Shared {
    mode: AtomicU8,
    stop: AtomicBool,
    requests: AtomicU64,
    bytes: AtomicU64,
    slow_ms: AtomicU64,
}

impl Shared {
    fn mode(&self) -> Fault {
        Fault::from_index(self.mode.load(Ordering::Relaxed))
    }
}

impl Collector {
    /// A healthy collector on a free loopback port; `slow` is how long [`Fault::Slow`] waits
    /// before each answer.
    pub fn start(slow: Duration) -> Result<Self, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("collector: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let shared = Arc::new(Shared::default());
        shared.slow_ms.store(u64::try_from(slow.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
        let accept = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || accept_loop(Some(listener), port, &shared))
        };
        Ok(Self { port, shared, accept: Some(accept) })
    }

    /// The port it listens on (when not [`Fault::Refused`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Switches the mode; it applies to the next request (and, for [`Fault::Refused`], closes the
    /// listener and every open connection within about 200 ms).
    pub fn set(&self, fault: Fault) {
        self.shared.mode.store(fault.index(), Ordering::Relaxed);
    }

    /// Requests received (each answered or not) and their body bytes, since the start.
    pub fn counts(&self) -> (u64, u64) {
        (self.shared.requests.load(Ordering::Relaxed), self.shared.bytes.load(Ordering::Relaxed))
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Accepts connections until stop; closes the listener while the mode is `Refused` and binds the
/// same port again when it changes. Connection threads end by themselves (reads time out).
fn accept_loop(mut listener: Option<TcpListener>, port: u16, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::Relaxed) {
        if shared.mode() == Fault::Refused {
            listener = None;
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let Some(open) = &listener else {
            // Rebinding can fail for a moment; the loop tries again.
            listener = TcpListener::bind(("127.0.0.1", port)).and_then(|l| l.set_nonblocking(true).map(|()| l)).ok();
            if listener.is_none() {
                std::thread::sleep(Duration::from_millis(20));
            }
            continue;
        };
        let _ = open.set_nonblocking(true);
        match open.accept() {
            Ok((conn, _)) => {
                let shared = Arc::clone(shared);
                std::thread::spawn(move || serve(conn, &shared));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Serves one keep-alive connection in the current mode, request by request.
fn serve(conn: TcpStream, shared: &Shared) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
    let Ok(mut writer) = conn.try_clone() else { return };
    let mut reader = BufReader::new(conn);
    loop {
        let Some(head) = read_head(&mut reader, shared) else { return };
        shared.requests.fetch_add(1, Ordering::Relaxed);
        let fault = shared.mode();
        if fault == Fault::Reset {
            // Unread body bytes make the kernel answer the close with a reset.
            return;
        }
        let Some(body) = read_body(&mut reader, &head, shared) else { return };
        shared.bytes.fetch_add(body, Ordering::Relaxed);
        let reply: &[u8] = match fault {
            Fault::Healthy | Fault::Slow => {
                b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"
            }
            Fault::Unavailable => {
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 11\r\n\r\nunavailable"
            }
            Fault::TooLarge => {
                b"HTTP/1.1 413 Payload Too Large\r\ncontent-type: text/plain\r\ncontent-length: 9\r\n\r\ntoo large"
            }
            Fault::Garbage => b"\x00\x01\x02 this is not HTTP \xff\xfe\r\n\r\n",
            Fault::Hang => return hold(&mut reader, shared),
            Fault::Refused | Fault::Reset => return,
        };
        if fault == Fault::Slow && !wait(shared, Fault::Slow, shared.slow_ms.load(Ordering::Relaxed)) {
            return;
        }
        if writer.write_all(reply).is_err() || fault == Fault::Garbage {
            return;
        }
    }
}

/// Holds a connection without answering, whatever the mode becomes (a stuck collector does not
/// answer the calls it took when it recovers): until the peer closes it (Envoy's export timeout),
/// the collector stops, or [`MAX_HOLD`] passes.
fn hold(reader: &mut BufReader<TcpStream>, shared: &Shared) {
    let started = std::time::Instant::now();
    let mut buf = [0u8; 4096];
    while !shared.stop.load(Ordering::Relaxed) && started.elapsed() < MAX_HOLD {
        match reader.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

/// Sleeps `ms` in steps of 20 ms; false when the mode left `fault` or the collector stopped first.
fn wait(shared: &Shared, fault: Fault, ms: u64) -> bool {
    for _ in 0..ms.div_ceil(20) {
        if shared.stop.load(Ordering::Relaxed) || shared.mode() != fault {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// A request head: its body length, or chunked.
#[derive(Debug, Clone, Copy)]
struct Head {
    length: u64,
    chunked: bool,
}

/// Reads one request's head; `None` on close, error, stop, or the `Refused` mode.
fn read_head(reader: &mut BufReader<TcpStream>, shared: &Shared) -> Option<Head> {
    let (mut head, mut started) = (Head { length: 0, chunked: false }, false);
    loop {
        let line = read_line(reader, shared)?;
        if line.trim().is_empty() {
            if started {
                return Some(head);
            }
            continue;
        }
        started = true;
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            head.length = v.trim().parse().ok()?;
        } else if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            head.chunked = true;
        }
    }
}

/// Reads a request's body; returns its length.
fn read_body(reader: &mut BufReader<TcpStream>, head: &Head, shared: &Shared) -> Option<u64> {
    if !head.chunked {
        return skip(reader, head.length).then_some(head.length);
    }
    let mut total = 0;
    loop {
        let size = u64::from_str_radix(read_line(reader, shared)?.trim().split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            read_line(reader, shared)?;
            return Some(total);
        }
        if !skip(reader, size + 2) {
            return None;
        }
        total += size;
    }
}

/// One line, retrying timed-out reads (each at most 200 ms) until stop or `Refused`.
fn read_line(reader: &mut BufReader<TcpStream>, shared: &Shared) -> Option<String> {
    let mut line = String::new();
    while !shared.stop.load(Ordering::Relaxed) && shared.mode() != Fault::Refused {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends one export request on a fresh connection; what came back (possibly nothing).
    fn export(port: u16) -> std::io::Result<Vec<u8>> {
        let mut conn = TcpStream::connect(("127.0.0.1", port))?;
        conn.set_read_timeout(Some(Duration::from_secs(3)))?;
        conn.write_all(b"POST /v1/traces HTTP/1.1\r\nhost: c\r\ncontent-length: 5\r\n\r\nhello")?;
        let mut reply = Vec::new();
        let mut buf = [0u8; 256];
        // One read: keep-alive answers leave the connection open.
        let n = conn.read(&mut buf)?;
        reply.extend_from_slice(buf.get(..n).unwrap_or_default());
        Ok(reply)
    }

    #[test]
    fn each_mode_answers_as_named_and_healing_restores_200() {
        let collector = Collector::start(Duration::from_millis(300)).unwrap();
        let port = collector.port();
        let starts = |reply: std::io::Result<Vec<u8>>, prefix: &[u8]| reply.is_ok_and(|r| r.starts_with(prefix));
        assert!(starts(export(port), b"HTTP/1.1 200 "));
        collector.set(Fault::Unavailable);
        assert!(starts(export(port), b"HTTP/1.1 503 "));
        collector.set(Fault::TooLarge);
        assert!(starts(export(port), b"HTTP/1.1 413 "));
        collector.set(Fault::Garbage);
        assert!(starts(export(port), b"\x00\x01\x02 this is not HTTP"));
        collector.set(Fault::Slow);
        let started = std::time::Instant::now();
        assert!(starts(export(port), b"HTTP/1.1 200 "));
        assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
        collector.set(Fault::Reset);
        assert!(!starts(export(port), b"HTTP"), "a reset connection answered");
        collector.set(Fault::Refused);
        std::thread::sleep(Duration::from_millis(100));
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "a refused collector accepted");
        collector.set(Fault::Healthy);
        let mut healed = false;
        for _ in 0..100 {
            if starts(export(port), b"HTTP/1.1 200 ") {
                healed = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(healed, "the collector did not listen again");
        assert!(collector.counts().0 >= 7, "{:?}", collector.counts());
    }

    #[test]
    fn a_hung_call_stays_unanswered_after_healing_while_new_ones_are_answered() {
        let collector = Collector::start(Duration::ZERO).unwrap();
        collector.set(Fault::Hang);
        let mut held = TcpStream::connect(("127.0.0.1", collector.port())).unwrap();
        held.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        held.write_all(b"POST /v1/traces HTTP/1.1\r\nhost: c\r\ncontent-length: 2\r\n\r\nhi").unwrap();
        let mut buf = [0u8; 64];
        assert!(held.read(&mut buf).is_err(), "a hung collector answered");
        collector.set(Fault::Healthy);
        assert!(export(collector.port()).is_ok_and(|r| r.starts_with(b"HTTP/1.1 200 ")));
        assert!(held.read(&mut buf).is_err(), "the held call was answered or closed after healing");
    }
}
