//! Recorded HTTP traffic: the JSON Lines format `meshlens run` replays, its parser, and the replay
//! of exchanges through a [`Host`](crate::Host) on the virtual clock.
//!
//! # Format
//!
//! One exchange (a request and the upstream's response) per line, as a JSON object. Blank lines
//! and lines starting with `#` or `//` are ignored, as is a UTF-8 byte order mark at the start.
//! Unknown fields and wrong types are errors, so typos fail loudly; every error names the line,
//! and the column of the field's value (of its key, for an unknown field) or of the JSON syntax
//! error.
//!
//! The format is versioned. A file whose first line (comments aside) is the header
//! `{"meshlens_traffic": 2}` is version 2 ([`FORMAT_VERSION`]); without it, version 1, which
//! reads exactly as it always did (a version 2 field there is an error asking for the header).
//!
//! ```text
//! # a caller with a W3C trace asks a question; the upstream answers after 120 ms
//! {"method": "POST", "path": "/api/v1/query", "headers": {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, "body": {"question": "top 10 customers"}, "response": {"status": 200, "latency_ms": 120}}
//! {"path": "/health", "at_ms": 500}
//! ```
//!
//! Version 2:
//!
//! ```text
//! {"meshlens_traffic": 2}
//! {"method": "POST", "path": "/upload", "chunks": ["part 1,", "part 2"], "trailers": {"x-checksum": "9f2c"}, "response": {"chunks": ["hello ", "secret world"]}}
//! {"path": "/q", "properties": {"metadata": {"envoy.lb": {"canary": true}}, "filter_state": {"tenant": "acme"}, "attributes": {"source.address": "10.0.0.7:51000"}}}
//! ```
//!
//! | field | version | default | meaning |
//! |---|---|---|---|
//! | `method` | 1 | `"GET"` | `:method` |
//! | `path` | 1 | required | `:path`, with the query; starts with `/` (or is `*`) |
//! | `authority` | 1 | `"localhost"` | `:authority` |
//! | `scheme` | 1 | `"http"` | `:scheme` |
//! | `headers` | 1 | none | `{"name": "value", ...}`, or `[["name", "value"], ...]` to repeat a name; names are lowercased; pseudo-headers (`:path`...) come from the fields above |
//! | `body` | 1 | none | request body: a string is sent as is, an object or array as compact JSON; empty means none |
//! | `chunks` | 2 | none | instead of `body`: a list of pieces (each as `body`), one `on_request_body` call each, `end_of_stream` on the last (with Envoy's defaults, an empty call after them) |
//! | `trailers` | 2 | none | request trailers, as `headers`; they end the stream |
//! | `properties` | 2 | none | `{"metadata": {"<namespace>": {"<key>": value}}, "filter_state": {"<key>": "<bytes>"}, "attributes": {"<dotted.path>": value}}`: this stream's Envoy properties (`metadata.filter_metadata.<namespace>.<key>`, Struct values: a string, boolean, or number as a double; `filter_state.<key>` as bytes; attributes as a string, int, double or bool) |
//! | `response.status` | 1 | `200` | upstream status, 100 to 599 |
//! | `response.headers` | 1 | none | as `headers` |
//! | `response.body` | 1 | none | as `body` |
//! | `response.chunks`, `response.trailers` | 2 | none | as `chunks`, `trailers` |
//! | `response.latency_ms` | 1 | `0` | upstream time: from the request leaving the proxy to the response arriving; at most [`MAX_LATENCY_MS`] (1 hour) |
//! | `response` | 1 | `{}` | all of the above at their defaults |
//! | `at_ms` | 1 | previous `at_ms` + its `latency_ms` | when the request arrives, in milliseconds since the replay started; never earlier than the previous line's `at_ms`, at most [`MAX_AT_MS`] (7 days: Unix milliseconds are a mistake). Exchanges whose times overlap are in flight together |
//! | `client` | 1 | host default (`127.0.0.1:40000`) | the downstream peer, `ip:port` or `[ipv6]:port` (`source.address`, `source.port`) |
//! | `note` | 1 | none | a comment, ignored |
//!
//! # Replay
//!
//! [`replay`] runs every exchange on its own stream, in time order on the virtual clock: at
//! `at_ms` the request headers (end of stream when there is no body and no trailers), the body and
//! the trailers; `latency_ms` later the response headers, body and trailers, then the end of the
//! stream (`proxy_on_log`). A body is one call per chunk (without `chunks`, one), the last with
//! `end_of_stream`; with [`HostBuilder::envoy_defaults`](crate::HostBuilder::envoy_defaults) the
//! data calls are followed by an empty call with `end_of_stream`, as Envoy's HTTP/1 codec
//! delivers a body (measured on Envoy 1.40, [`crate::envoy`]). A reply to `HEAD` has no body. Ticks and
//! callout timeouts fire as the clock passes them. A local reply from the module replaces the
//! upstream response; a request the module still holds when the response is due is ended
//! without one, as when the client gives up.

mod json;
mod locate;
mod parse;
mod replay;

use std::fmt;

use crate::stream::{Headers, Stream, StreamId};

pub use parse::{FORMAT_VERSION, MAX_AT_MS, MAX_LATENCY_MS};
pub use replay::{Lined, replay, replay_stream};

/// One recorded exchange: a request and the upstream's response.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    /// The line of the traffic file it came from (1-based).
    pub line: usize,
    pub method: String,
    pub path: String,
    pub authority: String,
    pub scheme: String,
    /// Regular request headers, names lowercased, in file order.
    pub headers: Headers,
    /// The request body (empty: none); with `chunks`, their concatenation.
    pub body: Vec<u8>,
    /// The request body as the body callbacks receive it, one chunk a call (format version 2);
    /// `None`: `body` in one piece (see [`replay`] for how it is delivered).
    pub chunks: Option<Vec<Vec<u8>>>,
    /// Request trailers (empty: none; format version 2).
    pub trailers: Headers,
    /// Envoy properties of this exchange's stream, as (path, value): dynamic metadata
    /// (`metadata.filter_metadata.<namespace>.<key>`), filter state (`filter_state.<key>`) and
    /// attributes (format version 2).
    pub properties: Vec<(Vec<String>, crate::properties::Value)>,
    pub response: Response,
    /// When the request arrives, in milliseconds since the replay started.
    pub at_ms: u64,
    /// The downstream peer (`source.address`, `source.port`); the host default when `None`.
    pub client: Option<(String, u16)>,
}

/// The upstream's answer to one exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Regular response headers, names lowercased, in file order.
    pub headers: Headers,
    /// The response body (empty: none); with `chunks`, their concatenation.
    pub body: Vec<u8>,
    /// The response body one chunk per body callback (format version 2); `None`: `body` in one
    /// piece.
    pub chunks: Option<Vec<Vec<u8>>>,
    /// Response trailers (empty: none; format version 2).
    pub trailers: Headers,
    /// From the request leaving the proxy to the response arriving.
    pub latency_ms: u64,
}

/// A traffic file the parser refuses: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, for JSON syntax errors.
    pub column: Option<usize>,
    pub message: String,
}

/// How one exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The upstream response went through the module and the stream completed.
    Completed,
    /// The module answered with a local reply; the upstream response was not used.
    LocalReply,
    /// The module still held the request when the response was due; ended without a response.
    RequestPaused,
    /// The module reset the stream.
    Reset,
}

/// What happened to one exchange in a replay.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The stream's context id (log lines and callouts name it).
    pub id: StreamId,
    /// The stream's final state: what went upstream and downstream. The replay takes finished
    /// streams out of the host ([`Host::remove_stream`](crate::Host::remove_stream)), so long
    /// replays do not accumulate them.
    pub stream: Stream,
    pub end: End,
    /// The module held the response (a response callback returned Pause and nothing continued it).
    pub response_paused: bool,
    /// When the stream ended, in milliseconds since the replay started.
    pub ended_at_ms: u64,
}

/// A replay stopped by the host: the exchange it was running and the harness error (a trap, a
/// failed VM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayError {
    /// The traffic line of the exchange.
    pub line: usize,
    pub error: crate::Error,
}

/// Why a streamed replay ([`replay_stream`]) over a [`Reader`] stopped: a traffic line it could
/// not read, or the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    Traffic(TrafficError),
    Replay(ReplayError),
}

impl From<TrafficError> for StreamError {
    fn from(e: TrafficError) -> Self {
        Self::Traffic(e)
    }
}

impl From<ReplayError> for StreamError {
    fn from(e: ReplayError) -> Self {
        Self::Replay(e)
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Traffic(e) => e.fmt(f),
            Self::Replay(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for StreamError {}

/// How a header map changed: what was added (or given a new value) and what was removed (or
/// replaced), each in map order. A header present in both with the same value is in neither.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderDiff {
    pub added: Headers,
    pub removed: Headers,
}

/// Parses a traffic file's text. Exchanges come back in file order, `at_ms` resolved.
///
/// ```
/// let traffic = host_harness::traffic::parse("# two requests\n{\"path\": \"/a\"}\n{\"path\": \"/b\", \"at_ms\": 5}\n")?;
/// assert_eq!(traffic.len(), 2);
/// assert_eq!((traffic[1].line, traffic[1].at_ms, traffic[1].response.status), (3, 5, 200));
/// # Ok::<(), host_harness::traffic::TrafficError>(())
/// ```
pub fn parse(text: &str) -> Result<Vec<Exchange>, TrafficError> {
    parse::parse(text)
}

/// Reads a traffic file line by line, an exchange at a time, so a file of any length is read in
/// bounded memory. Stops after the first error.
///
/// ```
/// let text = "{\"path\": \"/a\"}\n{\"path\": \"/b\", \"at_ms\": 5}\n";
/// let exchanges: Vec<_> = host_harness::traffic::Reader::new(text.as_bytes()).collect::<Result<_, _>>()?;
/// assert_eq!(exchanges[1].at_ms, 5);
/// # Ok::<(), host_harness::traffic::TrafficError>(())
/// ```
#[derive(Debug)]
pub struct Reader<R> {
    input: R,
    line: usize,
    state: parse::State,
    buffer: Vec<u8>,
    done: bool,
}

impl<R: std::io::BufRead> Reader<R> {
    pub fn new(input: R) -> Self {
        Self { input, line: 0, state: parse::State::default(), buffer: Vec::new(), done: false }
    }

    fn fail(&mut self, line: usize, message: String) -> Option<Result<Exchange, TrafficError>> {
        self.done = true;
        Some(Err(TrafficError { line, column: None, message }))
    }
}

impl<R: std::io::BufRead> Iterator for Reader<R> {
    type Item = Result<Exchange, TrafficError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buffer.clear();
            match self.input.read_until(b'\n', &mut self.buffer) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return self.fail(self.line + 1, format!("cannot read the traffic: {e}")),
            }
            self.line += 1;
            let Ok(text) = std::str::from_utf8(&self.buffer) else {
                return self.fail(self.line, String::from("expected JSON Lines text, got binary data (not UTF-8)"));
            };
            if text.contains('\0') {
                return self.fail(self.line, String::from("expected JSON Lines text, got binary data (a NUL byte)"));
            }
            let text = text.strip_suffix('\n').map_or(text, |t| t.strip_suffix('\r').unwrap_or(t));
            match parse::parse_line(self.line, text, &mut self.state) {
                Ok(Some(exchange)) => return Some(Ok(exchange)),
                Ok(None) => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

impl Exchange {
    /// The request header map as the proxy receives it: pseudo-headers, then `headers`.
    pub fn request_headers(&self) -> Headers {
        let mut out: Headers = vec![
            (":method".into(), self.method.clone()),
            (":scheme".into(), self.scheme.clone()),
            (":authority".into(), self.authority.clone()),
            (":path".into(), self.path.clone()),
        ];
        out.extend(self.headers.iter().cloned());
        out
    }
}

impl Response {
    /// The response header map as it arrives from upstream: `:status`, then `headers`.
    pub fn headers_with_status(&self) -> Headers {
        let mut out: Headers = vec![(":status".into(), self.status.to_string())];
        out.extend(self.headers.iter().cloned());
        out
    }
}

impl HeaderDiff {
    /// The changes from `before` to `after` (names compared case-insensitively, values exactly;
    /// repeated headers count as often as they appear).
    pub fn between(before: &[(String, String)], after: &[(String, String)]) -> Self {
        Self { added: minus(after, before), removed: minus(before, after) }
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// The pairs of `a` not matched one-for-one by a pair of `b`, in `a`'s order.
fn minus(a: &[(String, String)], b: &[(String, String)]) -> Headers {
    let mut used = vec![false; b.len()];
    let mut out = Vec::new();
    for (k, v) in a {
        let matched = b
            .iter()
            .zip(used.iter_mut())
            .find(|((bk, bv), used)| !**used && bk.eq_ignore_ascii_case(k) && bv == v)
            .map(|(_, used)| *used = true);
        if matched.is_none() {
            out.push((k.clone(), v.clone()));
        }
    }
    out
}

impl fmt::Display for TrafficError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(column) => write!(f, "line {}, column {column}: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

impl std::error::Error for TrafficError {}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.error)
    }
}

impl std::error::Error for ReplayError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Headers {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_reader_reads_an_exchange_at_a_time_and_refuses_binary_data() {
        let text = "\u{feff}{\"path\": \"/a\"}\r\n\n{\"path\": \"/b\", \"at_ms\": 5}";
        let exchanges: Vec<Exchange> = Reader::new(text.as_bytes()).collect::<Result<_, _>>().unwrap();
        assert_eq!(exchanges, parse(text).unwrap());
        assert_eq!((exchanges[1].line, exchanges[1].at_ms), (3, 5));

        let mut reader = Reader::new(&b"{\"path\": \"/a\"}\n\x7fELF\xff\x00\n{\"path\": \"/b\"}\n"[..]);
        assert!(reader.next().is_some_and(|r| r.is_ok()));
        let error = reader.next().and_then(Result::err).unwrap();
        assert_eq!(error.to_string(), "line 2: expected JSON Lines text, got binary data (not UTF-8)");
        assert!(reader.next().is_none(), "nothing after an error");
        let error = Reader::new(&b"{\"path\": \"/\0\"}"[..]).next().and_then(Result::err).unwrap();
        assert_eq!(error.to_string(), "line 1: expected JSON Lines text, got binary data (a NUL byte)");
    }

    #[test]
    fn a_diff_shows_additions_replacements_and_removals_once_each() {
        let before = h(&[("a", "1"), ("traceparent", "old"), ("x", "1"), ("x", "1")]);
        let after = h(&[("a", "1"), ("x", "1"), ("traceparent", "new"), ("x-trace-id", "t")]);
        let diff = HeaderDiff::between(&before, &after);
        assert_eq!(diff.added, h(&[("traceparent", "new"), ("x-trace-id", "t")]));
        assert_eq!(diff.removed, h(&[("traceparent", "old"), ("x", "1")]));
        assert!(HeaderDiff::between(&before, &before).is_empty());
    }
}
