//! What a replay produced, gathered as it runs: each exchange, log line, callout and span is
//! rendered in the report's format as soon as the host has it and taken out of the host, so
//! memory stays bounded however long the traffic is. Sections too large to keep in memory wait
//! in temporary files ([`Spill`]) until the counts that head the report are known; the output is
//! the same as if everything had been gathered at the end. Every list is in a fixed order, so
//! the same inputs give the same report.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::PathBuf;

use serde::{Serialize, Serializer};

use host_harness::metrics::PrometheusConfig;
use host_harness::traffic::{End, Exchange, HeaderDiff, Outcome};
use host_harness::{CallState, GrpcCall, Host, HttpCall, LogLevel, LogRecord, SpanRecord};

use super::args::Format;
use super::prometheus::{self, Sample};
use super::{html, summary, text};

/// Counts, for the first line of the text report.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub exchanges: usize,
    pub completed: usize,
    pub local_replies: usize,
    pub request_paused: usize,
    pub reset: usize,
    pub spans: usize,
    pub http_calls: usize,
    pub grpc_calls: usize,
    /// Callouts no rule of the callout script answered: they failed as calls to a cluster with
    /// no healthy endpoint do (HTTP: `proxy_http_call` fails; gRPC: UNAVAILABLE).
    pub unmatched_callouts: usize,
    /// Lines the proxy writes: those at or above its log level (`--log-level`).
    pub log_lines: usize,
    /// Lines the module logged below the proxy's log level, which the proxy does not write.
    pub log_lines_not_written: usize,
    /// Virtual time from the first exchange to the end of the replay (flush included).
    pub virtual_ms: u64,
    /// Traps of the module (the run goes on under `--failure-policy`: the VM is dead after the
    /// first).
    pub traps: Vec<TrapReport>,
}

/// A trap of the module.
#[derive(Debug, Clone, Serialize)]
pub struct TrapReport {
    /// The traffic line of the exchange whose stream trapped (none: a root context).
    pub line: Option<usize>,
    pub callback: String,
    pub at_ms: u64,
    pub error: String,
}

/// One exchange and what the module did to it.
#[derive(Debug, Serialize)]
pub struct ExchangeReport {
    /// Its line in the traffic file.
    pub line: usize,
    pub method: String,
    pub path: String,
    pub at_ms: u64,
    pub ended_at_ms: u64,
    /// `completed`, `local_reply`, `request_paused` or `reset`.
    pub outcome: &'static str,
    /// The status sent downstream (none when no response started).
    pub status: Option<u16>,
    /// The module held the response.
    pub response_paused: bool,
    /// How the request headers changed on their way upstream.
    pub upstream: Changes,
    /// How the response headers changed on their way downstream.
    pub downstream: Changes,
    /// What Envoy's HTTP/1 codec added on the wire to a local reply (`content-length: 0`,
    /// `connection: close`); absent when nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub codec_added: Vec<(String, String)>,
    pub local_reply: Option<LocalReplyReport>,
    /// The request body as it left toward the upstream (after the module's changes); absent when
    /// empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<BodyReport>,
    /// The response body as it left toward the client; absent when empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<BodyReport>,
}

/// A body in the report: UTF-8 text as `text`, anything else as `base64`; cut to the body limit
/// (`--body-limit`), with `truncated` then holding the whole body's length in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BodyReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<usize>,
}

/// How many bytes of each body the report shows by default (`--body-limit`).
pub const DEFAULT_BODY_LIMIT: usize = 4096;

impl BodyReport {
    /// `body` for the report, at most `limit` bytes of it; `None` when empty.
    pub fn new(body: &[u8], limit: usize) -> Option<Self> {
        if body.is_empty() {
            return None;
        }
        let cut = body.get(..limit).unwrap_or(body);
        let truncated = (cut.len() < body.len()).then_some(body.len());
        // A valid UTF-8 body cut inside a character stays text: cut at the character's start.
        let text = match std::str::from_utf8(cut) {
            Ok(text) => Some(text),
            Err(e) if e.error_len().is_none() && std::str::from_utf8(body).is_ok() => {
                cut.get(..e.valid_up_to()).and_then(|c| std::str::from_utf8(c).ok())
            }
            Err(_) => None,
        };
        Some(match text {
            Some(text) => Self { text: Some(text.to_owned()), base64: None, truncated },
            None => Self { text: None, base64: Some(base64(cut)), truncated },
        })
    }
}

/// Standard base64 with padding (RFC 4648).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let [a, b, c] = [0, 1, 2].map(|i| chunk.get(i).copied().unwrap_or(0));
        let n = (u32::from(a) << 16) | (u32::from(b) << 8) | u32::from(c);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            let symbol = ALPHABET.get(((n >> shift) & 63) as usize).copied().unwrap_or(b'=');
            out.push(if i <= chunk.len() { char::from(symbol) } else { '=' });
        }
    }
    out
}

/// Headers added (or given a new value) and removed (or replaced), as `[name, value]` pairs.
#[derive(Debug, Default, Serialize)]
pub struct Changes {
    pub added: Vec<(String, String)>,
    pub removed: Vec<(String, String)>,
}

/// A reply the module generated.
#[derive(Debug, Serialize)]
pub struct LocalReplyReport {
    pub status: u16,
    pub details: String,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

/// One exported span.
#[derive(Debug, Serialize)]
pub struct SpanReport {
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    /// `internal`, `server`, `client`, `producer`, `consumer` or `unspecified`.
    pub kind: &'static str,
    /// `unset`, `ok` or `error`.
    pub status: &'static str,
    pub status_message: String,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
    /// Start, in milliseconds since the replay started.
    pub start_ms: f64,
    pub duration_ms: f64,
    pub trace_state: String,
    #[serde(serialize_with = "ordered_map")]
    pub attributes: Vec<(String, String)>,
    pub links: Vec<Link>,
    #[serde(serialize_with = "ordered_map")]
    pub resource: Vec<(String, String)>,
}

/// A span link.
#[derive(Debug, Serialize)]
pub struct Link {
    pub trace_id: String,
    pub span_id: String,
}

/// The metrics after the replay.
#[derive(Debug, Serialize)]
pub struct Metrics {
    /// As Envoy's `/stats/prometheus` prints them.
    pub prometheus: String,
    pub samples: Vec<Sample>,
}

/// One log line of the module.
#[derive(Debug, Serialize)]
pub struct LogReport {
    pub level: String,
    /// The proxy-wasm context that logged it (0: none).
    pub context: u32,
    /// `vm` (no context: start-up), `root` (a plugin's root context) or `stream`.
    pub source: &'static str,
    /// The traffic line of the exchange whose stream logged it.
    pub line: Option<usize>,
    pub message: String,
}

/// One `proxy_http_call`.
#[derive(Debug, Serialize)]
pub struct HttpCallReport {
    pub token: u32,
    pub cluster: String,
    pub method: String,
    pub path: String,
    pub authority: String,
    pub body_bytes: usize,
    /// Spans in the body, when it is an OTLP/HTTP trace export (protobuf or JSON).
    pub spans: usize,
    /// Log records in the body, when it is an OTLP/HTTP log export (protobuf or JSON).
    pub log_records: usize,
    pub timeout_ms: u32,
    /// `pending`, `answered`, `failed`, `timed_out` or `cancelled`.
    pub state: &'static str,
    pub status: Option<u16>,
    /// How long after the call its answer (or failure, or timeout) came.
    pub answered_after_ms: Option<f64>,
    /// The callout script's rule (0-based) that answered it.
    pub rule: Option<usize>,
    /// No rule matched: `proxy_http_call` failed (INTERNAL_FAILURE), as in Envoy for a cluster
    /// with no healthy endpoint.
    pub unmatched: bool,
    /// The traffic line of the exchange whose stream made it (none: the root context).
    pub line: Option<usize>,
}

/// One gRPC call or stream.
#[derive(Debug, Serialize)]
pub struct GrpcCallReport {
    pub token: u32,
    pub cluster: String,
    pub service: String,
    pub method: String,
    pub messages: usize,
    pub streaming: bool,
    pub cancelled: bool,
    pub closed: bool,
    pub timeout_ms: Option<u32>,
    /// The status it closed with (`proxy_on_grpc_close`), and its message.
    pub grpc_status: Option<u32>,
    pub grpc_message: Option<String>,
    /// How long after the call it closed.
    pub answered_after_ms: Option<f64>,
    /// The callout script's rule (0-based) that answered it.
    pub rule: Option<usize>,
    /// No rule matched: the default answered (UNAVAILABLE, 14).
    pub unmatched: bool,
}

/// Gathers the report of one replay as it runs, in one format.
pub struct Collector {
    pub format: Format,
    pub base_unix_nanos: u64,
    pub log_level: LogLevel,
    roots: Vec<u32>,
    pub summary: Summary,
    /// Rendered sections, in the format's syntax (text lines, or JSON array items).
    pub exchanges: Spill,
    pub spans: Spill,
    pub logs: Spill,
    pub http: Spill,
    /// Lines of HTTP calls seen pending, by token (their stream may be gone when they end).
    call_lines: BTreeMap<u32, Option<usize>>,
    /// Text: the span resources, each once, in order of first appearance; the callout groups.
    pub resources: Vec<Vec<(String, String)>>,
    pub groups: Vec<text::CallGroup>,
    /// Summary: span durations and errors per route, the first trace-id rows, log counts.
    pub routes: summary::Routes,
    pub trace_rows: BTreeMap<usize, String>,
    pub log_counts: summary::LogCounts,
    /// Exchanges rendered, waiting for an earlier one to end, by place in the traffic; the place
    /// of the next one to list.
    waiting: BTreeMap<usize, String>,
    next_listed: usize,
    /// Cost: hostcalls by name.
    pub hostcalls: BTreeMap<String, u64>,
    /// HTML: the first traces and access lines.
    pub html: html::Gather,
    /// JSON Lines: where records go as they are produced.
    pub out: Option<Box<dyn Write>>,
    /// How many bytes of each body an exchange's report shows.
    pub body_limit: usize,
}

impl Collector {
    /// A collector for a replay on `host` starting now.
    pub fn new(format: Format, host: &Host, log_level: LogLevel, out: Option<Box<dyn Write>>) -> Self {
        Self {
            format,
            base_unix_nanos: host.now_unix_nanos(),
            log_level,
            roots: host.root_contexts().to_vec(),
            summary: Summary::default(),
            exchanges: Spill::new("exchanges", format),
            spans: Spill::new("spans", format),
            logs: Spill::new("logs", format),
            http: Spill::new("http", format),
            call_lines: BTreeMap::new(),
            resources: Vec::new(),
            groups: Vec::new(),
            routes: summary::Routes::default(),
            trace_rows: BTreeMap::new(),
            waiting: BTreeMap::new(),
            next_listed: 0,
            log_counts: summary::LogCounts::default(),
            hostcalls: BTreeMap::new(),
            html: html::Gather::default(),
            out,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// Takes what the host gathered since the last step (log lines, finished callouts, the
    /// hostcall trace) and, when an exchange ended, the exchange. `line_of` gives the traffic
    /// line of a stream context in flight.
    pub fn step(
        &mut self,
        host: &mut Host,
        line_of: &dyn Fn(u32) -> Option<usize>,
        ended: Option<(usize, &Exchange, &Outcome)>,
        last: bool,
    ) -> io::Result<()> {
        for trap in host.take_traps() {
            self.summary.traps.push(TrapReport {
                line: line_of(trap.context_id),
                callback: trap.callback,
                at_ms: trap.at_unix_nanos.saturating_sub(self.base_unix_nanos) / 1_000_000,
                error: trap.error,
            });
        }
        for call in host.take_hostcalls() {
            let name = call.split(['(', ' ']).next().unwrap_or(&call);
            *self.hostcalls.entry(name.to_owned()).or_default() += 1;
        }
        for log in host.take_logs() {
            self.log(&log, line_of(log.context_id))?;
        }
        for call in host.http_calls() {
            self.call_lines.entry(call.token).or_insert_with(|| line_of(call.context_id));
        }
        let calls = if last { host.take_all_http_calls() } else { host.take_finished_http_calls() };
        for call in calls {
            let line = self.call_lines.remove(&call.token).unwrap_or_else(|| line_of(call.context_id));
            self.call(&call, line)?;
        }
        if let Some((seq, exchange, outcome)) = ended {
            self.exchange(seq, exchange, outcome)?;
        }
        match &mut self.out {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }

    /// The `seq`th exchange of the traffic ended. Exchanges are listed in file order: one that
    /// ends before an earlier one waits for it (memory holds only the exchanges that overlap).
    fn exchange(&mut self, seq: usize, e: &Exchange, o: &Outcome) -> io::Result<()> {
        let s = &mut self.summary;
        s.exchanges += 1;
        match o.end {
            End::Completed => s.completed += 1,
            End::LocalReply => s.local_replies += 1,
            End::RequestPaused => s.request_paused += 1,
            End::Reset => s.reset += 1,
        }
        let report = exchange(e, o, self.body_limit);
        let item = match self.format {
            Format::Text => text::exchange(&report),
            Format::Json => Spill::json_item(&report, 4)?,
            Format::Jsonl => record("exchange", &report)?,
            Format::Summary => {
                if seq < summary::TRACE_IDS_SHOWN {
                    self.trace_rows.insert(seq, summary::trace_row(&report));
                }
                return Ok(());
            }
            Format::Cost | Format::Html => return Ok(()),
        };
        self.waiting.insert(seq, item);
        while let Some(item) = self.waiting.remove(&self.next_listed) {
            match &mut self.out {
                Some(out) => out.write_all(item.as_bytes())?,
                None => self.exchanges.push_item(&item)?,
            }
            self.next_listed += 1;
        }
        Ok(())
    }

    fn log(&mut self, l: &LogRecord, line: Option<usize>) -> io::Result<()> {
        if l.level < self.log_level {
            self.summary.log_lines_not_written += 1;
            return Ok(());
        }
        self.summary.log_lines += 1;
        let source = match l.context_id {
            0 => "vm",
            id if self.roots.contains(&id) => "root",
            _ => "stream",
        };
        let report = log(l, source, line);
        match self.format {
            Format::Text => self.logs.push(&text::log(&report)),
            Format::Json => self.logs.push_json(&report, 4),
            Format::Jsonl => self.write_record("log", &report),
            Format::Summary => match summary::log(&report, &mut self.log_counts) {
                Some(text) => self.logs.push(&text),
                None => Ok(()),
            },
            Format::Html => {
                self.html.log(&report);
                Ok(())
            }
            Format::Cost => Ok(()),
        }
    }

    fn call(&mut self, c: &HttpCall, line: Option<usize>) -> io::Result<()> {
        self.summary.http_calls += 1;
        self.summary.unmatched_callouts += usize::from(c.unmatched);
        let spans = host_harness::decode_call_spans(c);
        self.summary.spans += spans.len();
        let report = http_call(c, spans.len(), line);
        match self.format {
            Format::Text => {
                text::group(&mut self.groups, &report);
                for s in &spans {
                    let span = span(s, self.base_unix_nanos);
                    if !self.resources.contains(&span.resource) {
                        self.resources.push(span.resource.clone());
                    }
                    self.spans.push(&text::span(&span))?;
                }
                Ok(())
            }
            Format::Json => {
                for s in &spans {
                    self.spans.push_json(&span(s, self.base_unix_nanos), 4)?;
                }
                self.http.push_json(&report, 6)
            }
            Format::Jsonl => {
                self.write_record("http_call", &report)?;
                for s in &spans {
                    self.write_record("span", &span(s, self.base_unix_nanos))?;
                }
                Ok(())
            }
            Format::Summary => {
                for s in &spans {
                    self.routes.add_span(&span(s, self.base_unix_nanos));
                }
                Ok(())
            }
            Format::Html => {
                for s in &spans {
                    self.html.span(&span(s, self.base_unix_nanos));
                }
                Ok(())
            }
            Format::Cost => Ok(()),
        }
    }

    /// Writes one JSON Lines record straight to the output.
    pub fn write_record<T: Serialize>(&mut self, kind: &str, item: &T) -> io::Result<()> {
        let line = record(kind, item)?;
        match &mut self.out {
            Some(out) => out.write_all(line.as_bytes()),
            None => Ok(()),
        }
    }

    /// Finishes the summary once the replay and the flush are over.
    pub fn finish(&mut self, host: &Host) {
        self.summary.grpc_calls = host.grpc_calls().len();
        self.summary.unmatched_callouts += host.grpc_calls().iter().filter(|g| g.unmatched).count();
        self.summary.virtual_ms = host.now_unix_nanos().saturating_sub(self.base_unix_nanos) / 1_000_000;
    }

    /// The metrics after the replay.
    pub fn metrics(host: &Host, config: &PrometheusConfig) -> Metrics {
        let prometheus = host.prometheus(config);
        Metrics { samples: prometheus::samples(&prometheus), prometheus }
    }

    /// The gRPC calls and streams, as the report lists them.
    pub fn grpc(host: &Host) -> Vec<GrpcCallReport> {
        host.grpc_calls().iter().map(grpc_call).collect()
    }
}

/// One JSON Lines record: `{"type": kind, ...the item's fields}` and a line break.
fn record<T: Serialize>(kind: &str, item: &T) -> io::Result<String> {
    #[derive(Serialize)]
    struct Record<'a, T> {
        #[serde(rename = "type")]
        kind: &'a str,
        #[serde(flatten)]
        item: &'a T,
    }
    let mut line = serde_json::to_string(&Record { kind, item }).map_err(io::Error::other)?;
    line.push('\n');
    Ok(line)
}

/// An exchange of the traffic and its place in it (the exchanges are listed in that order).
pub struct Numbered {
    pub seq: usize,
    pub exchange: Exchange,
}

impl AsRef<Exchange> for Numbered {
    fn as_ref(&self) -> &Exchange {
        &self.exchange
    }
}

impl host_harness::traffic::Lined for Numbered {
    fn line(&self) -> usize {
        self.exchange.line
    }
}

/// One report section's rendered items: in memory while small, then in a temporary file.
pub struct Spill {
    name: &'static str,
    /// Items are JSON array items.
    json: bool,
    memory: Vec<u8>,
    file: Option<(PathBuf, BufWriter<File>)>,
    /// Items pushed.
    pub count: usize,
    /// Bytes kept in memory before the section moves to a file.
    limit: usize,
}

/// A section larger than this moves to a temporary file.
const SPILL_AFTER: usize = 1 << 20;

impl Spill {
    /// A section of a report in `format` (JSON sections are array items, separated by commas).
    fn new(name: &'static str, format: Format) -> Self {
        // `MESHLENS_SPILL_AFTER=N` moves sections to files after N bytes (tests use a few).
        let limit = std::env::var("MESHLENS_SPILL_AFTER").ok().and_then(|v| v.parse().ok()).unwrap_or(SPILL_AFTER);
        Self { name, json: format == Format::Json, memory: Vec::new(), file: None, count: 0, limit }
    }

    /// Appends one rendered item.
    pub fn push(&mut self, text: &str) -> io::Result<()> {
        self.count += 1;
        self.write(text.as_bytes())
    }

    /// Appends one item as pretty JSON, indented `indent` spaces, after a `,` and a line break
    /// unless it is the first: the items of a JSON array as `serde_json` pretty-prints them.
    pub fn push_json<T: Serialize>(&mut self, item: &T, indent: usize) -> io::Result<()> {
        let item = Self::json_item(item, indent)?;
        self.push_item(&item)
    }

    /// An item as pretty JSON, every line indented `indent` spaces.
    fn json_item<T: Serialize>(item: &T, indent: usize) -> io::Result<String> {
        let json = serde_json::to_string_pretty(item).map_err(io::Error::other)?;
        let pad = " ".repeat(indent);
        let mut text = String::with_capacity(json.len() + 64);
        for (i, line) in json.lines().enumerate() {
            if i > 0 {
                text.push('\n');
            }
            text.push_str(&pad);
            text.push_str(line);
        }
        Ok(text)
    }

    /// Appends a rendered item; JSON items after a `,` and a line break unless first.
    fn push_item(&mut self, item: &str) -> io::Result<()> {
        if self.json && self.count > 0 {
            self.count += 1;
            self.write(b",\n")?;
            return self.write(item.as_bytes());
        }
        self.push(item)
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Some((_, file)) = &mut self.file {
            return file.write_all(bytes);
        }
        self.memory.extend_from_slice(bytes);
        if self.memory.len() > self.limit {
            let path = std::env::temp_dir().join(format!(
                "meshlens-{}-{}-{}.part",
                std::process::id(),
                self.name,
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
            ));
            let file = File::options().read(true).write(true).create_new(true).open(&path)?;
            let mut file = BufWriter::with_capacity(1 << 16, file);
            file.write_all(&self.memory)?;
            self.memory = Vec::new();
            self.file = Some((path, file));
        }
        Ok(())
    }

    /// Writes every item to `out`, in order.
    pub fn copy_to(&mut self, out: &mut dyn Write) -> io::Result<()> {
        match &mut self.file {
            None => out.write_all(&self.memory),
            Some((_, file)) => {
                file.flush()?;
                let inner = file.get_mut();
                inner.rewind()?;
                let mut reader = io::BufReader::with_capacity(1 << 16, &*inner);
                let mut buffer = vec![0; 1 << 16];
                loop {
                    let n = reader.read(&mut buffer)?;
                    if n == 0 {
                        return Ok(());
                    }
                    out.write_all(buffer.get(..n).unwrap_or_default())?;
                }
            }
        }
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        if let Some((path, _)) = self.file.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn http_call(c: &HttpCall, spans: usize, line: Option<usize>) -> HttpCallReport {
    let header = |name: &str| c.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let (state, status) = match c.state {
        CallState::Pending => ("pending", None),
        CallState::Answered(status) => ("answered", Some(status)),
        CallState::Failed => ("failed", None),
        CallState::TimedOut => ("timed_out", None),
    };
    HttpCallReport {
        token: c.token,
        cluster: c.upstream.clone(),
        method: header(":method").unwrap_or_default(),
        path: header(":path").unwrap_or_default(),
        authority: header(":authority").unwrap_or_default(),
        body_bytes: c.body.len(),
        spans,
        log_records: host_harness::log_records(c),
        timeout_ms: c.timeout_ms,
        state,
        status,
        answered_after_ms: c.answered_at_nanos.map(|t| millis(t.saturating_sub(c.dispatched_at_nanos))),
        rule: c.rule,
        unmatched: c.unmatched,
        line,
    }
}

fn grpc_call(g: &GrpcCall) -> GrpcCallReport {
    GrpcCallReport {
        token: g.token,
        cluster: String::from_utf8_lossy(&g.upstream).into_owned(),
        service: g.service.clone(),
        method: g.method.clone(),
        messages: g.messages.len(),
        streaming: g.streaming,
        cancelled: g.cancelled,
        closed: g.closed,
        timeout_ms: g.timeout_ms,
        grpc_status: g.status.as_ref().map(|(s, _)| *s),
        grpc_message: g.status.as_ref().map(|(_, m)| m.clone()),
        answered_after_ms: g.answered_at_nanos.map(|t| millis(t.saturating_sub(g.dispatched_at_nanos))),
        rule: g.rule,
        unmatched: g.unmatched,
    }
}

fn exchange(exchange: &Exchange, outcome: &Outcome, body_limit: usize) -> ExchangeReport {
    let stream = &outcome.stream;
    // Changes are the module's: against the maps its callbacks received (the traffic's, with
    // Envoy's own additions under `--envoy-defaults`; for a local reply, the reply Envoy built).
    let received_request = match stream.received_request_headers() {
        [] => exchange.request_headers(),
        received => received.to_vec(),
    };
    let upstream = HeaderDiff::between(&received_request, stream.upstream_request_headers());
    let local_reply = stream.local_reply();
    let sent_downstream = stream.downstream_response_headers();
    // What the module's response callback received; when none ran (nothing sent, or a reply the
    // failure policy made after a trap), the module changed nothing.
    let received = match stream.received_response_headers() {
        [] => sent_downstream,
        received => received,
    };
    let codec = stream.codec_response_headers();
    let by_filters = sent_downstream.get(..sent_downstream.len().saturating_sub(codec.len())).unwrap_or_default();
    let downstream = HeaderDiff::between(received, by_filters);
    ExchangeReport {
        line: exchange.line,
        method: exchange.method.clone(),
        path: exchange.path.clone(),
        at_ms: exchange.at_ms,
        ended_at_ms: outcome.ended_at_ms,
        outcome: match outcome.end {
            End::Completed => "completed",
            End::LocalReply => "local_reply",
            End::RequestPaused => "request_paused",
            End::Reset => "reset",
        },
        status: stream.status(),
        response_paused: outcome.response_paused,
        upstream: Changes { added: upstream.added, removed: upstream.removed },
        downstream: Changes { added: downstream.added, removed: downstream.removed },
        codec_added: codec.to_vec(),
        local_reply: local_reply.map(|r| LocalReplyReport {
            status: r.status,
            details: r.details.clone(),
            body: String::from_utf8_lossy(&r.body).into_owned(),
            headers: r.headers.clone(),
        }),
        request_body: BodyReport::new(stream.upstream_request_body(), body_limit),
        response_body: BodyReport::new(stream.downstream_response_body(), body_limit),
    }
}

fn span(s: &SpanRecord, base_unix_nanos: u64) -> SpanReport {
    SpanReport {
        trace_id: s.trace_id.clone(),
        span_id: s.span_id.clone(),
        parent_span_id: s.parent_span_id.clone(),
        name: s.name.clone(),
        kind: match s.kind {
            1 => "internal",
            2 => "server",
            3 => "client",
            4 => "producer",
            5 => "consumer",
            _ => "unspecified",
        },
        status: match s.status_code {
            1 => "ok",
            2 => "error",
            _ => "unset",
        },
        status_message: s.status_message.clone(),
        start_unix_nanos: s.start_unix_nanos,
        end_unix_nanos: s.end_unix_nanos,
        start_ms: millis(s.start_unix_nanos.saturating_sub(base_unix_nanos)),
        duration_ms: millis(s.duration_nanos()),
        trace_state: s.trace_state.clone(),
        attributes: s.attributes.clone(),
        links: s.links.iter().map(|(t, s)| Link { trace_id: t.clone(), span_id: s.clone() }).collect(),
        resource: s.resource.clone(),
    }
}

fn log(l: &LogRecord, source: &'static str, line: Option<usize>) -> LogReport {
    LogReport { level: l.level.to_string(), context: l.context_id, source, line, message: l.message.clone() }
}

/// Nanoseconds as milliseconds (exact to the microsecond, which is what the text shows).
fn millis(nanos: u64) -> f64 {
    (nanos / 1_000) as f64 / 1_000.0
}

/// Serializes pairs as a JSON object with the members in their order (attributes, labels).
pub fn ordered_map<S: Serializer>(pairs: &[(String, String)], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_map(pairs.iter().map(|(k, v)| (k, v)))
}

/// Writes the JSON report: what `serde_json::to_string_pretty` gives for the whole report, put
/// together from the sections rendered during the replay.
pub fn write_json(
    out: &mut dyn io::Write,
    c: &mut Collector,
    metrics: &Metrics,
    grpc: &[GrpcCallReport],
) -> io::Result<()> {
    let pretty = |value: &dyn erased::Pretty, indent: usize| -> io::Result<String> {
        let json = value.pretty()?;
        Ok(json.replace('\n', &format!("\n{}", " ".repeat(indent))))
    };
    let array = |out: &mut dyn io::Write, spill: &mut Spill, indent: usize| -> io::Result<()> {
        if spill.count == 0 {
            return out.write_all(b"[]");
        }
        out.write_all(b"[\n")?;
        spill.copy_to(out)?;
        write!(out, "\n{}]", " ".repeat(indent))
    };
    write!(out, "{{\n  \"summary\": {},\n  \"exchanges\": ", pretty(&c.summary, 2)?)?;
    array(out, &mut c.exchanges, 2)?;
    out.write_all(b",\n  \"spans\": ")?;
    array(out, &mut c.spans, 2)?;
    write!(out, ",\n  \"metrics\": {},\n  \"logs\": ", pretty(metrics, 2)?)?;
    array(out, &mut c.logs, 2)?;
    out.write_all(b",\n  \"callouts\": {\n    \"http\": ")?;
    array(out, &mut c.http, 4)?;
    write!(out, ",\n    \"grpc\": {}\n  }}\n}}\n", pretty(&grpc, 4)?)
}

mod erased {
    use std::io;

    /// A value `serde_json` pretty-prints (object-safe, for [`super::write_json`]).
    pub trait Pretty {
        fn pretty(&self) -> io::Result<String>;
    }

    impl<T: serde::Serialize> Pretty for T {
        fn pretty(&self) -> io::Result<String> {
            serde_json::to_string_pretty(self).map_err(io::Error::other)
        }
    }
}

#[cfg(test)]
mod body_tests {
    use super::*;

    #[test]
    fn bodies_are_text_or_base64_and_cut_with_a_marker() {
        assert_eq!(BodyReport::new(b"", 10), None);
        let text = |t: &str, truncated| Some(BodyReport { text: Some(t.into()), base64: None, truncated });
        assert_eq!(BodyReport::new(b"hello", 10), text("hello", None));
        assert_eq!(BodyReport::new(b"hello", 3), text("hel", Some(5)));
        // A cut inside a character keeps the text up to it.
        assert_eq!(BodyReport::new("aé".as_bytes(), 2), text("a", Some(3)));
        let binary = BodyReport::new(b"\xff\x00ab", 10).unwrap();
        assert_eq!((binary.text, binary.base64.as_deref(), binary.truncated), (None, Some("/wBhYg=="), None));
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
