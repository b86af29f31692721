//! A loopback OTLP/HTTP receiver that keeps every payload, and helpers to read spans out of them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use serde_json::Value;

use crate::http::{Reply, Server};

/// An OTLP/HTTP JSON receiver on 127.0.0.1 (`POST /v1/traces`).
pub struct Receiver {
    pub server: Server,
    status: Arc<AtomicU16>,
}

/// One span as received, with the fields tests look at.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub name: String,
    pub raw: Value,
}

impl Receiver {
    /// A receiver answering 200 until told otherwise.
    pub fn start() -> Self {
        Self::start_with_delay(std::time::Duration::ZERO)
    }

    /// A receiver that waits `delay` before every answer (a slow collector).
    pub fn start_with_delay(delay: std::time::Duration) -> Self {
        let status = Arc::new(AtomicU16::new(200));
        let answer = status.clone();
        let server = Server::start(move |_| {
            std::thread::sleep(delay);
            Reply {
                status: answer.load(Ordering::Relaxed),
                headers: vec![("content-type".into(), "application/json".into())],
                body: b"{}".to_vec(),
            }
        });
        Self { server, status }
    }

    /// Makes every later export answer with `status`.
    pub fn answer_with(&self, status: u16) {
        self.status.store(status, Ordering::Relaxed);
    }

    /// Every payload body received.
    pub fn payloads(&self) -> Vec<Vec<u8>> {
        self.server.requests().into_iter().map(|r| r.body).collect()
    }

    /// Every span in every payload.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.payloads().iter().flat_map(|p| spans_of(p)).collect()
    }

    /// Waits (at most 20 s) until at least `n` spans arrived; returns every span received.
    pub fn wait_spans(&self, n: usize) -> Vec<ReceivedSpan> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let spans = self.spans();
            if spans.len() >= n || std::time::Instant::now() > deadline {
                return spans;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// The spans of one `ExportTraceServiceRequest` JSON payload.
pub fn spans_of(payload: &[u8]) -> Vec<ReceivedSpan> {
    let v: Value = serde_json::from_slice(payload).expect("payload is JSON");
    let mut out = Vec::new();
    for rs in v["resourceSpans"].as_array().into_iter().flatten() {
        for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
            for s in ss["spans"].as_array().into_iter().flatten() {
                let text = |k: &str| s[k].as_str().unwrap_or("").to_owned();
                out.push(ReceivedSpan {
                    trace_id: text("traceId"),
                    span_id: text("spanId"),
                    parent_span_id: text("parentSpanId"),
                    name: text("name"),
                    raw: s.clone(),
                });
            }
        }
    }
    out
}

impl ReceivedSpan {
    /// A string or integer attribute's value as text.
    pub fn attribute(&self, key: &str) -> Option<String> {
        let attrs = self.raw["attributes"].as_array()?;
        let kv = attrs.iter().find(|kv| kv["key"] == key)?;
        let v = &kv["value"];
        v["stringValue"].as_str().or_else(|| v["intValue"].as_str()).map(str::to_owned)
    }
}

/// Runs the strict OTLP validator (`../shared/tools/otlp_json_validate.py`) on payloads in one
/// process; returns (all valid, validator output).
pub fn validate(signal: &str, payloads: &[Vec<u8>]) -> (bool, String) {
    let dir = crate::envoy::TempDir::new("otlp");
    let files: Vec<String> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let path = dir.0.join(format!("payload-{i}.json"));
            std::fs::write(&path, p).expect("write payload");
            path.display().to_string()
        })
        .collect();
    let out = std::process::Command::new(crate::paths::python())
        .arg(crate::paths::otlp_validator())
        .args(["--signal", signal])
        .args(&files)
        .output()
        .expect("run the OTLP validator");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}
