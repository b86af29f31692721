//! The human-readable report: a summary, then per exchange what the module changed, then spans,
//! metrics, log lines and callouts.

use std::fmt::Write as _;

use super::report::{Changes, ExchangeReport, HttpCallReport, Report, SpanReport};

/// Span attributes worth a glance in the text report (the JSON report has them all).
const KEY_ATTRIBUTES: [&str; 5] =
    ["http.response.status_code", "http.route", "url.path", "error.type", "client.address"];

/// Renders the report as text.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    summary(&mut out, report);
    exchanges(&mut out, &report.exchanges);
    spans(&mut out, &report.spans);
    out.push_str("\nMetrics (Prometheus text)\n");
    if report.metrics.prometheus.is_empty() {
        out.push_str("  (none)\n");
    } else {
        out.push_str(&report.metrics.prometheus);
        if !report.metrics.prometheus.ends_with('\n') {
            out.push('\n');
        }
    }
    let _ = writeln!(out, "\nLogs ({})", report.logs.len());
    for l in &report.logs {
        let from = match (l.source, l.line) {
            (_, Some(line)) => format!("line {line}"),
            ("vm", None) => String::from("vm"),
            (source, None) => format!("{source} context {}", l.context),
        };
        let _ = writeln!(out, "  [{}] {from}: {}", l.level, l.message);
    }
    callouts(&mut out, report);
    out
}

fn summary(out: &mut String, report: &Report) {
    let s = &report.summary;
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

fn exchanges(out: &mut String, exchanges: &[ExchangeReport]) {
    let _ = writeln!(out, "\nExchanges ({})", exchanges.len());
    for e in exchanges {
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
        changes(out, "upstream", &e.upstream);
        changes(out, "downstream", &e.downstream);
    }
}

fn changes(out: &mut String, direction: &str, changes: &Changes) {
    let lines = changes.added.iter().map(|h| ('+', h)).chain(changes.removed.iter().map(|h| ('-', h)));
    for (i, (sign, (name, value))) in lines.enumerate() {
        let label = if i == 0 { direction } else { "" };
        let _ = writeln!(out, "      {label:<10} {sign} {name}: {value}");
    }
}

fn spans(out: &mut String, spans: &[SpanReport]) {
    let _ = writeln!(out, "\nSpans ({})", spans.len());
    let mut resources: Vec<&[(String, String)]> = Vec::new();
    for s in spans {
        if !resources.contains(&s.resource.as_slice()) {
            resources.push(&s.resource);
        }
    }
    for resource in resources {
        let attributes: Vec<String> = resource.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(out, "  resource: {}", attributes.join(" "));
    }
    for s in spans {
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
    }
}

fn callouts(out: &mut String, report: &Report) {
    let c = &report.callouts;
    let _ = writeln!(out, "\nCallouts ({} HTTP, {} gRPC)", c.http.len(), c.grpc.len());
    // Grouped by destination, in order of first call.
    let mut groups: Vec<(&str, &str, &str, Vec<&HttpCallReport>)> = Vec::new();
    for call in &c.http {
        let key = (call.cluster.as_str(), call.method.as_str(), call.path.as_str());
        match groups.iter_mut().find(|g| (g.0, g.1, g.2) == key) {
            Some(group) => group.3.push(call),
            None => groups.push((key.0, key.1, key.2, vec![call])),
        }
    }
    for (cluster, method, path, calls) in groups {
        let spans: usize = calls.iter().map(|c| c.spans).sum();
        let bytes: usize = calls.iter().map(|c| c.body_bytes).sum();
        let mut states: Vec<(String, usize)> = Vec::new();
        for call in &calls {
            let state = match call.status {
                Some(status) => format!("answered {status}"),
                None => call.state.replace('_', " "),
            };
            match states.iter_mut().find(|(s, _)| *s == state) {
                Some((_, n)) => *n += 1,
                None => states.push((state, 1)),
            }
        }
        let states: Vec<String> = states.iter().map(|(s, n)| format!("{s} x{n}")).collect();
        let records: usize = calls.iter().map(|c| c.log_records).sum();
        let mut spans = if spans > 0 { format!(", {}", count(spans, "span")) } else { String::new() };
        if records > 0 {
            spans.push_str(&format!(", {}", count(records, "log record")));
        }
        let _ = writeln!(
            out,
            "  {cluster} {method} {path}: {}{spans}, {bytes} body bytes; {}",
            count(calls.len(), "call"),
            states.join(", ")
        );
    }
    for g in &c.grpc {
        let kind = if g.streaming { "stream" } else { "call" };
        let _ = writeln!(
            out,
            "  gRPC {kind} {} {}/{}: {}{}{}",
            g.cluster,
            g.service,
            g.method,
            count(g.messages, "message"),
            if g.closed { ", closed" } else { "" },
            if g.cancelled { ", cancelled" } else { "" }
        );
    }
}
