//! The invariants every exchange must keep, whatever the client sent.

use host_harness::{HttpCall, LogRecord, Stream};
use serde_json::Value;

/// Where a module may write an OTLP payload, and what it holds.
const OTLP_PATHS: [(&str, otlp_decode::Signal); 3] = [
    ("/v1/traces", otlp_decode::Signal::Traces),
    ("/v1/logs", otlp_decode::Signal::Logs),
    ("/v1/metrics", otlp_decode::Signal::Metrics),
];

/// The most linear memory a worker's module may hold (the module's own bounds keep it far below).
pub const MEMORY_BOUND: usize = 64 << 20;

/// Log lines: no panic message, and every line that is a JSON object (the access lines and
/// security events) parses.
pub fn logs(logs: &[LogRecord], out: &mut Vec<String>) {
    for l in logs {
        if l.message.contains("panicked at") {
            out.push(format!("a panic was logged: {}", l.message));
        }
        if l.message.starts_with('{') && serde_json::from_str::<Value>(&l.message).is_err() {
            out.push(format!("a log line is not valid JSON: {}", l.message));
        }
    }
}

/// The headers the module left on the stream: well formed, and the trace headers it writes in
/// their grammar.
pub fn stream(stream: &Stream, out: &mut Vec<String>) {
    for (side, headers) in
        [("upstream", stream.upstream_request_headers()), ("downstream", stream.downstream_response_headers())]
    {
        for (k, v) in headers {
            if k.is_empty() || k.bytes().any(|b| b.is_ascii_uppercase() || b <= b' ' || b == 0x7f) {
                out.push(format!("{side} header name {k:?} is not a lowercase token"));
            }
            if v.contains(['\0', '\r', '\n']) {
                out.push(format!("{side} header {k} has NUL, CR or LF: {v:?}"));
            }
        }
    }
    if let Some(tp) = stream.upstream_request_header("traceparent")
        && !is_traceparent(tp)
    {
        out.push(format!("traceparent sent upstream is malformed: {tp:?}"));
    }
    if let Some(ts) = stream.upstream_request_header("tracestate")
        && (ts.len() > 512 || ts.split(',').count() > 32)
    {
        out.push(format!("tracestate sent upstream is over 512 characters or 32 members: {} bytes", ts.len()));
    }
    if let Some(tr) = stream.downstream_response_header("traceresponse")
        && !is_traceparent(tr)
    {
        out.push(format!("traceresponse is malformed: {tr:?}"));
    }
    if let Some(id) = stream.downstream_response_header("x-trace-id")
        && !is_id(id, 32)
    {
        out.push(format!("x-trace-id is not a trace id: {id:?}"));
    }
}

/// Export calls: each payload decodes as OTLP, and its spans have valid ids and timing.
pub fn calls(calls: &[HttpCall], out: &mut Vec<String>) {
    for call in calls {
        let path = call.headers.iter().find(|(k, _)| k == ":path").map_or("", |(_, v)| v.as_str());
        let content_type = call.headers.iter().find(|(k, _)| k == "content-type").map_or("", |(_, v)| v.as_str());
        let Some((_, signal)) = OTLP_PATHS.iter().find(|(p, _)| *p == path) else {
            out.push(format!("an export call to an unexpected path {path:?}"));
            continue;
        };
        match otlp_decode::payload(*signal, content_type, &call.body) {
            Ok(payload) => spans(&payload, out),
            Err(e) => out.push(format!("an OTLP payload to {path} does not decode: {e:?}")),
        }
    }
}

fn spans(payload: &Value, out: &mut Vec<String>) {
    let all = payload["resourceSpans"].as_array().into_iter().flatten().flat_map(|rs| {
        rs["scopeSpans"].as_array().into_iter().flatten().flat_map(|ss| ss["spans"].as_array().into_iter().flatten())
    });
    for span in all {
        let (trace, id) = (span["traceId"].as_str().unwrap_or(""), span["spanId"].as_str().unwrap_or(""));
        let parent = span["parentSpanId"].as_str().unwrap_or("");
        if !is_id(trace, 32) || !is_id(id, 16) || !(parent.is_empty() || is_id(parent, 16)) {
            out.push(format!("a span has malformed ids: {trace:?} {id:?} parent {parent:?}"));
        }
        let time = |k: &str| span[k].as_str().and_then(|t| t.parse::<u64>().ok());
        match (time("startTimeUnixNano"), time("endTimeUnixNano")) {
            (Some(start), Some(end)) if start <= end => {}
            (start, end) => out.push(format!("a span's times are wrong: {start:?} .. {end:?}")),
        }
        if span["name"].as_str().is_none_or(str::is_empty) {
            out.push(String::from("a span has no name"));
        }
    }
}

/// `00-<32 hex>-<16 hex>-<2 hex>` with non-zero ids, lowercase (W3C Trace Context, version 00).
fn is_traceparent(v: &str) -> bool {
    let p: Vec<&str> = v.split('-').collect();
    matches!(p.as_slice(), ["00", t, s, f] if is_id(t, 32) && is_id(s, 16) && f.len() == 2 && is_hex(f))
}

fn is_id(v: &str, len: usize) -> bool {
    v.len() == len && is_hex(v) && v.bytes().any(|b| b != b'0')
}

fn is_hex(v: &str) -> bool {
    v.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_header_grammar() {
        assert!(is_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        assert!(!is_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
        assert!(!is_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
        assert!(!is_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        assert!(!is_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"));
    }

    #[test]
    fn a_panic_and_broken_json_are_violations() {
        let line = |m: &str| LogRecord { level: host_harness::LogLevel::Info, context_id: 1, message: m.to_owned() };
        let mut out = Vec::new();
        logs(&[line("{\"a\":1}"), line("meshlens: configured")], &mut out);
        assert!(out.is_empty(), "{out:?}");
        logs(&[line("{\"a\":"), line("panicked at src/lib.rs:1:1")], &mut out);
        assert_eq!(out.len(), 2, "{out:?}");
    }
}
