//! A loopback OTLP/HTTP receiver that keeps every payload, and helpers to read spans out of them.
//!
//! Payloads arrive in binary protobuf (the default) or JSON (`"encoding": "json"`), as each
//! request's `content-type` says; the helpers read both into the OTLP JSON shape through
//! `otlp-decode`. [`validate_exports`] checks the bytes themselves: JSON with the strict validator,
//! protobuf decoded first by the official `opentelemetry-proto` Python package.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

pub use otlp_decode::Signal;
use serde_json::Value;

use crate::http::{Reply, Server};

/// An OTLP/HTTP receiver on 127.0.0.1 (`POST /v1/traces`, `/v1/logs`), protobuf or JSON.
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
        let server = Server::start(move |m| {
            std::thread::sleep(delay);
            // OTLP/HTTP answers in the request's encoding: an empty Export*ServiceResponse is
            // zero bytes in protobuf, `{}` in JSON.
            let protobuf = m.header("content-type").is_some_and(otlp_decode::is_protobuf);
            let (content_type, body) =
                if protobuf { ("application/x-protobuf", Vec::new()) } else { ("application/json", b"{}".to_vec()) };
            Reply {
                status: answer.load(Ordering::Relaxed),
                headers: vec![("content-type".into(), content_type.into())],
                body,
            }
        });
        Self { server, status }
    }

    /// Makes every later export answer with `status`.
    pub fn answer_with(&self, status: u16) {
        self.status.store(status, Ordering::Relaxed);
    }

    /// Every export request received, as sent.
    pub fn exports(&self) -> Vec<Export> {
        self.server
            .requests()
            .into_iter()
            .map(|m| Export {
                path: m.start.split_whitespace().nth(1).unwrap_or_default().to_owned(),
                content_type: m.header("content-type").unwrap_or_default().to_owned(),
                content_encoding: m.header("content-encoding").unwrap_or_default().to_owned(),
                body: m.body,
            })
            .collect()
    }

    /// Every payload received, in the OTLP JSON shape (protobuf bodies decoded), as JSON bytes.
    pub fn payloads(&self) -> Vec<Vec<u8>> {
        self.exports().iter().map(|e| e.json().to_string().into_bytes()).collect()
    }

    /// The payloads of one signal's exports (`/v1/traces` or `/v1/logs`), in the OTLP JSON shape.
    pub fn payloads_of(&self, signal: Signal) -> Vec<Value> {
        self.exports().iter().filter(|e| e.signal() == Some(signal)).map(Export::json).collect()
    }

    /// Every span in every payload.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.payloads().iter().flat_map(|p| spans_of(p)).collect()
    }

    /// Waits (at most 20 s) until at least `n` spans arrived; returns every span received.
    pub fn wait_spans(&self, n: usize) -> Vec<ReceivedSpan> {
        self.wait_spans_where(n, |_| true)
    }

    /// Waits (at most 20 s) until at least `n` SERVER spans arrived (a gateway also sends a
    /// CLIENT span per request that went upstream); returns the SERVER spans received.
    pub fn wait_server_spans(&self, n: usize) -> Vec<ReceivedSpan> {
        self.wait_spans_where(n, |s| s.raw["kind"] == 2)
    }

    fn wait_spans_where(&self, n: usize, keep: impl Fn(&ReceivedSpan) -> bool) -> Vec<ReceivedSpan> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let spans: Vec<ReceivedSpan> = self.spans().into_iter().filter(|s| keep(s)).collect();
            if spans.len() >= n || std::time::Instant::now() > deadline {
                return spans;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// One export request as received.
#[derive(Debug, Clone)]
pub struct Export {
    pub path: String,
    pub content_type: String,
    /// `gzip` when the sender compressed the body (meshlens does not; collectors may).
    pub content_encoding: String,
    pub body: Vec<u8>,
}

impl Export {
    /// An uncompressed export.
    pub fn new(path: &str, content_type: &str, body: Vec<u8>) -> Self {
        Self { path: path.into(), content_type: content_type.into(), content_encoding: String::new(), body }
    }

    /// The body as the encoder wrote it: gunzipped when it came compressed.
    pub fn payload(&self) -> Vec<u8> {
        if self.content_encoding.eq_ignore_ascii_case("gzip") {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&self.body[..]), &mut out)
                .unwrap_or_else(|e| panic!("{}: not gzip: {e}", self.path));
            out
        } else {
            self.body.clone()
        }
    }

    /// The signal its path names.
    pub fn signal(&self) -> Option<Signal> {
        Signal::of_path(&self.path)
    }

    /// Whether it was sent as binary protobuf.
    pub fn is_protobuf(&self) -> bool {
        otlp_decode::is_protobuf(&self.content_type)
    }

    /// The payload in the OTLP JSON shape, whichever encoding it came in.
    pub fn json(&self) -> Value {
        let signal = self.signal().unwrap_or_else(|| panic!("not an OTLP export path: {}", self.path));
        otlp_decode::payload(signal, &self.content_type, &self.payload())
            .unwrap_or_else(|e| panic!("{} ({}) does not decode: {e}", self.path, self.content_type))
    }
}

/// An export call's payload in the OTLP JSON shape, read by its `:path` and `content-type`
/// headers (the recording host's and the harness's calls).
pub fn payload_json(headers: &[(String, String)], body: &[u8]) -> Value {
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default();
    Export::new(header(":path"), header("content-type"), body.to_vec()).json()
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

/// Checks export requests as they were sent, and returns (all valid, what the tools said):
/// JSON payloads go to the strict validator as they are; protobuf payloads are decoded by the
/// official `opentelemetry-proto` Python package (`tests/tools/otlp_proto_to_json.py`, the proto
/// definitions a collector is generated from) into OTLP JSON, which must then pass the same
/// validator and equal what `otlp-decode` reads from the same bytes.
pub fn validate_exports(signal: &str, exports: &[Export]) -> (bool, String) {
    let (json, protobuf): (Vec<&Export>, Vec<&Export>) = exports.iter().partition(|e| !e.is_protobuf());
    let mut payloads: Vec<Vec<u8>> = json.iter().map(|e| e.payload()).collect();
    let mut report = String::new();
    let mut ok = true;
    if !protobuf.is_empty() {
        let official = official_decode(signal, &protobuf.iter().map(|e| e.payload()).collect::<Vec<_>>());
        for (export, official) in protobuf.iter().zip(official) {
            let ours = export.json();
            if without_defaults(&ours) != without_defaults(&official) {
                ok = false;
                report.push_str(&format!("otlp-decode and opentelemetry-proto disagree:\n{ours}\n{official}\n"));
            }
            payloads.push(official.to_string().into_bytes());
        }
    }
    let (valid, text) = validate(signal, &payloads);
    report.push_str(&text);
    (ok && valid, report)
}

/// Decodes binary protobuf export requests with the official `opentelemetry-proto` Python
/// package, into the OTLP JSON encoding (hex ids, integer enums, lowerCamelCase).
pub fn official_decode(signal: &str, payloads: &[Vec<u8>]) -> Vec<Value> {
    let dir = crate::envoy::TempDir::new("otlp-proto");
    let files: Vec<std::path::PathBuf> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let path = dir.0.join(format!("payload-{i}.pb"));
            std::fs::write(&path, p).expect("write payload");
            path
        })
        .collect();
    let script = crate::paths::repo_root().join("tests/tools/otlp_proto_to_json.py");
    let out = std::process::Command::new(crate::paths::python())
        .arg(&script)
        .args(["--signal", signal])
        .args(&files)
        .output()
        .expect("run otlp_proto_to_json.py");
    assert!(
        out.status.success(),
        "opentelemetry-proto could not decode the payloads: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    files
        .iter()
        .map(|f| {
            let text = std::fs::read(f.with_extension("json")).expect("decoded payload");
            serde_json::from_slice(&text).expect("decoded payload is JSON")
        })
        .collect()
}

/// A payload without the fields proto3 JSON printers omit at their default value: `code` 0
/// (`Status`) and `flags` 0. meshlens writes both explicitly, as the JSON encoder does.
pub fn without_defaults(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, v)| !((k.as_str() == "code" || k.as_str() == "flags") && v.as_u64() == Some(0)))
                .map(|(k, v)| (k.clone(), without_defaults(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_defaults).collect()),
        other => other.clone(),
    }
}
