//! The human-readable report: a summary, then per exchange what the module changed, then spans,
//! metrics, log lines and callouts. Items are rendered as the replay produces them
//! ([`super::report::Collector`]); [`write()`] puts the sections together.

use std::fmt::Write as _;
use std::io;

use super::report::{
    Changes, Collector, ExchangeReport, GrpcCallReport, HttpCallReport, LogReport, Metrics, SpanReport,
};

/// Span attributes worth a glance in the text report (the JSON report has them all).
const KEY_ATTRIBUTES: [&str; 5] =
    ["http.response.status_code", "http.route", "url.path", "error.type", "client.address"];

/// Writes the report as text.
pub fn write(out: &mut dyn io::Write, c: &mut Collector, metrics: &Metrics, grpc: &[GrpcCallReport]) -> io::Result<()> {
    let mut head = String::new();
    summary(&mut head, c);
    for trap in &c.summary.traps {
        let line = trap.line.map(|l| format!(" (traffic line {l})")).unwrap_or_default();
        let _ = writeln!(head, "\nTrap at {} ms{line}: {}", trap.at_ms, trap.error);
    }
    let _ = writeln!(head, "\nExchanges ({})", c.summary.exchanges);
    out.write_all(head.as_bytes())?;
    c.exchanges.copy_to(out)?;
    let mut text = String::new();
    let _ = writeln!(text, "\nSpans ({})", c.summary.spans);
    for resource in &c.resources {
        let attributes: Vec<String> = resource.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(text, "  resource: {}", attributes.join(" "));
    }
    out.write_all(text.as_bytes())?;
    c.spans.copy_to(out)?;
    let mut text = String::from("\nMetrics (Prometheus text)\n");
    if metrics.prometheus.is_empty() {
        text.push_str("  (none)\n");
    } else {
        text.push_str(&metrics.prometheus);
        if !metrics.prometheus.ends_with('\n') {
            text.push('\n');
        }
    }
    let _ = writeln!(text, "\nLogs ({})", c.summary.log_lines);
    out.write_all(text.as_bytes())?;
    c.logs.copy_to(out)?;
    let mut text = String::new();
    callouts(&mut text, c, grpc);
    out.write_all(text.as_bytes())
}

/// One log line of the report.
pub fn log(l: &LogReport) -> String {
    let from = match (l.source, l.line) {
        (_, Some(line)) => format!("line {line}"),
        ("vm", None) => String::from("vm"),
        (source, None) => format!("{source} context {}", l.context),
    };
    format!("  [{}] {from}: {}\n", l.level, l.message)
}

fn summary(out: &mut String, c: &Collector) {
    let s = &c.summary;
    let _ = write!(out, "meshlens replay: {} ({} completed", count(s.exchanges, "exchange"), s.completed);
    let local_replies = if s.local_replies == 1 { "local reply" } else { "local replies" };
    for (n, what) in [(s.local_replies, local_replies), (s.request_paused, "held by the module"), (s.reset, "reset")] {
        if n > 0 {
            let _ = write!(out, ", {n} {what}");
        }
    }
    let not_written = match s.log_lines_not_written {
        0 => String::new(),
        n => format!(" ({n} more below --log-level, not written)"),
    };
    let _ = writeln!(
        out,
        "), {}, {}, {}, {}{not_written}, {} ms of virtual time",
        count(s.spans, "span"),
        count(s.http_calls, "HTTP call"),
        count(s.grpc_calls, "gRPC call"),
        count(s.log_lines, "log line"),
        s.virtual_ms
    );
}

/// `1 span`, `2 spans`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// One exchange of the report, with the header changes.
pub fn exchange(e: &ExchangeReport) -> String {
    let mut out = String::new();
    let result = match (e.outcome, &e.local_reply, e.status) {
        (_, Some(reply), _) if reply.details.is_empty() => format!("local reply {}", reply.status),
        (_, Some(reply), _) => format!("local reply {} ({})", reply.status, reply.details),
        ("request_paused", _, _) => String::from("held by the module, no response"),
        ("reset", _, Some(status)) => format!("{status}, reset by the module"),
        ("reset", _, None) => String::from("reset by the module"),
        (_, None, Some(status)) => status.to_string(),
        (_, None, None) => String::from("no response"),
    };
    let held = if e.response_paused { ", response held by the module" } else { "" };
    let _ = writeln!(
        out,
        "  line {:<4} t={}ms  {} {} -> {result}  [{} ms{held}]",
        e.line,
        e.at_ms,
        e.method,
        e.path,
        e.ended_at_ms.saturating_sub(e.at_ms)
    );
    changes(&mut out, "upstream", &e.upstream);
    changes(&mut out, "downstream", &e.downstream);
    if !e.codec_added.is_empty() {
        let added: Vec<String> = e.codec_added.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let _ = writeln!(out, "      {:<10}   Envoy's HTTP/1 codec adds {}", "", added.join(", "));
    }
    out
}

fn changes(out: &mut String, direction: &str, changes: &Changes) {
    let lines = changes.added.iter().map(|h| ('+', h)).chain(changes.removed.iter().map(|h| ('-', h)));
    for (i, (sign, (name, value))) in lines.enumerate() {
        let label = if i == 0 { direction } else { "" };
        let _ = writeln!(out, "      {label:<10} {sign} {name}: {value}");
    }
}

/// One span of the report, with its key attributes and links.
pub fn span(s: &SpanReport) -> String {
    let mut out = String::new();
    let parent = if s.parent_span_id.is_empty() { "root" } else { s.parent_span_id.as_str() };
    let status = match (s.status, s.status_message.as_str()) {
        (status, "") => status.to_owned(),
        (status, message) => format!("{status} ({message})"),
    };
    let _ = writeln!(
        out,
        "  trace {} span {} parent {parent}  \"{}\" {} {status} {:.3} ms at t={:.3}ms",
        s.trace_id, s.span_id, s.name, s.kind, s.duration_ms, s.start_ms
    );
    let mut details: Vec<String> = KEY_ATTRIBUTES
        .iter()
        .filter_map(|key| s.attributes.iter().find(|(k, _)| k == key).map(|(k, v)| format!("{k}={v}")))
        .collect();
    for link in &s.links {
        details.push(format!("link={}/{}", link.trace_id, link.span_id));
    }
    if !details.is_empty() {
        let _ = writeln!(out, "      {}", details.join(" "));
    }
    out
}

/// The HTTP calls to one destination: counted, not listed.
#[derive(Debug)]
pub struct CallGroup {
    cluster: String,
    method: String,
    path: String,
    calls: usize,
    spans: usize,
    bytes: usize,
    records: usize,
    /// `answered 200`, `timed out`... with how many calls ended so, in order of first.
    states: Vec<(String, usize)>,
}

/// Counts one call in its group (by destination, in order of first call).
pub fn group(groups: &mut Vec<CallGroup>, call: &HttpCallReport) {
    let key = (call.cluster.as_str(), call.method.as_str(), call.path.as_str());
    let at = match groups.iter().position(|g| (g.cluster.as_str(), g.method.as_str(), g.path.as_str()) == key) {
        Some(at) => at,
        None => {
            groups.push(CallGroup {
                cluster: call.cluster.clone(),
                method: call.method.clone(),
                path: call.path.clone(),
                calls: 0,
                spans: 0,
                bytes: 0,
                records: 0,
                states: Vec::new(),
            });
            groups.len() - 1
        }
    };
    let Some(g) = groups.get_mut(at) else { return };
    g.calls += 1;
    g.spans += call.spans;
    g.bytes += call.body_bytes;
    g.records += call.log_records;
    let state = match call.status {
        Some(status) => format!("answered {status}"),
        None => call.state.replace('_', " "),
    };
    match g.states.iter_mut().find(|(s, _)| *s == state) {
        Some((_, n)) => *n += 1,
        None => g.states.push((state, 1)),
    }
}

fn callouts(out: &mut String, c: &Collector, grpc: &[GrpcCallReport]) {
    let _ = writeln!(out, "\nCallouts ({} HTTP, {} gRPC)", c.summary.http_calls, grpc.len());
    if c.summary.unmatched_callouts > 0 {
        let _ = writeln!(
            out,
            "  warning: {} matched no --callouts rule and failed as calls to a cluster with no healthy endpoint do \
             (HTTP: proxy_http_call fails; gRPC: UNAVAILABLE)",
            count(c.summary.unmatched_callouts, "callout")
        );
    }
    for g in &c.groups {
        let states: Vec<String> = g.states.iter().map(|(s, n)| format!("{s} x{n}")).collect();
        let mut spans = if g.spans > 0 { format!(", {}", count(g.spans, "span")) } else { String::new() };
        if g.records > 0 {
            spans.push_str(&format!(", {}", count(g.records, "log record")));
        }
        let _ = writeln!(
            out,
            "  {} {} {}: {}{spans}, {} body bytes; {}",
            g.cluster,
            g.method,
            g.path,
            count(g.calls, "call"),
            g.bytes,
            states.join(", ")
        );
    }
    for g in grpc {
        let kind = if g.streaming { "stream" } else { "call" };
        let _ = writeln!(
            out,
            "  gRPC {kind} {} {}/{}: {}{}{}",
            g.cluster,
            g.service,
            g.method,
            count(g.messages, "message"),
            match g.grpc_status {
                Some(status) => format!(", closed with status {status}"),
                None if g.closed => String::from(", closed"),
                None => String::new(),
            },
            if g.cancelled { ", cancelled" } else { "" }
        );
    }
}
