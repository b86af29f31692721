//! The `summary` report: what a person wants to see first after a replay. Spans and latency per
//! route, the trace id each caller got back, the module's log lines and its own counters.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::report::Report;

/// Trace ids listed before the rest are elided.
const TRACE_IDS_SHOWN: usize = 12;
/// Access-log lines shown as samples.
const ACCESS_LOG_SAMPLES: usize = 3;

/// Renders the summary.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let s = &report.summary;
    let _ = writeln!(
        out,
        "Replayed {} exchanges over {:.1} s of virtual time: {} completed, {} local replies; {} spans exported in {} calls.\n",
        s.exchanges,
        s.virtual_ms as f64 / 1000.0,
        s.completed,
        s.local_replies,
        s.spans,
        s.http_calls
    );
    if !metric_routes(&mut out, report) {
        let _ = writeln!(out, "(no labelled request metrics: pass --envoy-config with stats_tags to see them)\n");
    }
    routes(&mut out, report);
    trace_ids(&mut out, report);
    // Structured lines (access logs) can be many: a few samples, then every event and every
    // plain-text line in full.
    let structured = report.logs.iter().filter(|l| l.message.starts_with('{')).count();
    let not_written = match report.summary.log_lines_not_written {
        0 => String::new(),
        n => format!("; {n} more below --log-level, not written"),
    };
    let _ =
        writeln!(out, "Log lines ({}, of which {structured} JSON access-log lines{not_written})", report.logs.len());
    let mut samples = 0;
    for log in &report.logs {
        let json = log.message.starts_with('{');
        let event = json && log.message.contains("\"event_type\"");
        if json && !event {
            samples += 1;
            if samples > ACCESS_LOG_SAMPLES {
                continue;
            }
        }
        let line = log.line.map_or_else(String::new, |l| format!("line {l}: "));
        let _ = writeln!(out, "  [{}] {line}{}", log.level, log.message);
    }
    if samples > ACCESS_LOG_SAMPLES {
        let _ = writeln!(
            out,
            "  ... and {} more access-log lines (--format text lists them all)",
            samples - ACCESS_LOG_SAMPLES
        );
    }
    let _ = writeln!(out, "\nModule self-telemetry (as Envoy's /stats/prometheus prints it)");
    let own = |l: &&str| !l.starts_with('#') && !l.contains("_http_") && !l.contains("chat2sql_");
    for line in report.metrics.prometheus.lines().filter(own) {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// Spans per route with error counts and latency percentiles (nearest rank over span durations).
/// A CLIENT span (the upstream hop) counts under its parent's route, as `{route} (upstream)`.
fn routes(out: &mut String, report: &Report) {
    let route_of = |span: &super::report::SpanReport| -> String {
        span.attributes.iter().find(|(k, _)| k == "http.route").map_or("(no route)", |(_, v)| v).to_owned()
    };
    let parents: BTreeMap<&str, String> =
        report.spans.iter().filter(|s| s.kind != "client").map(|s| (s.span_id.as_str(), route_of(s))).collect();
    let mut by_route: BTreeMap<String, Vec<(f64, bool)>> = BTreeMap::new();
    for span in &report.spans {
        let route = match parents.get(span.parent_span_id.as_str()) {
            Some(parent) if span.kind == "client" => format!("{parent} (upstream)"),
            _ => route_of(span),
        };
        by_route.entry(route).or_default().push((span.duration_ms, span.status == "error"));
    }
    let _ = writeln!(
        out,
        "Spans per route (sampled requests; latency from the span durations; `(upstream)`: the CLIENT spans)"
    );
    let _ = writeln!(out, "  {:<34} {:>6} {:>7} {:>10} {:>10}", "route", "spans", "errors", "p50 ms", "p95 ms");
    for (route, mut rows) in by_route {
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        let errors = rows.iter().filter(|(_, e)| *e).count();
        let durations: Vec<f64> = rows.iter().map(|(d, _)| *d).collect();
        let _ = writeln!(
            out,
            "  {:<34} {:>6} {:>7} {:>10.1} {:>10.1}",
            route,
            rows.len(),
            errors,
            percentile(&durations, 0.50),
            percentile(&durations, 0.95)
        );
    }
    out.push('\n');
}

/// Requests, errors and latency per route from the module's own metrics: the request counter
/// and the duration histogram, with quantiles computed as PromQL's `histogram_quantile` does.
/// False when the metrics carry no `route` label.
fn metric_routes(out: &mut String, report: &Report) -> bool {
    // route -> (requests, 5xx, le -> cumulative count)
    let mut rows: BTreeMap<String, (f64, f64, BTreeMap<String, f64>)> = BTreeMap::new();
    for sample in &report.metrics.samples {
        let label = |k: &str| sample.labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let (Some(route), Some(value)) = (label("route"), sample.value.as_f64()) else { continue };
        let row = rows.entry(route.to_owned()).or_default();
        if sample.name.ends_with("http_requests_total") {
            row.0 += value;
            if label("status_class") == Some("5xx") {
                row.1 += value;
            }
        } else if sample.name.ends_with("http_request_duration_seconds_bucket")
            && let Some(le) = label("le")
        {
            *row.2.entry(le.to_owned()).or_default() += value;
        }
    }
    if rows.is_empty() {
        return false;
    }
    let _ = writeln!(out, "Requests per route (the module's metrics; latency by histogram_quantile over its buckets)");
    let _ = writeln!(out, "  {:<28} {:>8} {:>6} {:>10} {:>10}", "route", "requests", "5xx", "p50 s", "p95 s");
    for (route, (requests, errors, buckets)) in &rows {
        let mut buckets: Vec<(f64, f64)> = buckets
            .iter()
            .map(|(le, n)| (if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap_or(f64::NAN) }, *n))
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let q = |quantile: f64| {
            histogram_quantile(quantile, &buckets).map_or_else(|| String::from("-"), |v| format!("{v:.3}"))
        };
        let _ = writeln!(out, "  {:<28} {:>8} {:>6} {:>10} {:>10}", route, requests, errors, q(0.5), q(0.95));
    }
    out.push('\n');
    true
}

/// PromQL `histogram_quantile` over cumulative `(le, count)` buckets sorted by `le`: linear
/// interpolation inside the bucket holding the rank; the highest finite bound when the rank falls
/// in `+Inf`; `None` without observations.
fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let total = buckets.last().map(|b| b.1).filter(|t| *t > 0.0)?;
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(lower.0);
            }
            let width = count - lower.1;
            return Some(if width <= 0.0 { le } else { lower.0 + (le - lower.0) * (rank - lower.1) / width });
        }
        lower = (le, count);
    }
    Some(lower.0)
}

/// Nearest-rank percentile of sorted values (0 for none).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.saturating_sub(1).min(sorted.len() - 1)).copied().unwrap_or(0.0)
}

/// The trace id each caller got back in its response.
fn trace_ids(out: &mut String, report: &Report) {
    let _ = writeln!(out, "Trace ids returned to callers (x-trace-id)");
    for e in report.exchanges.iter().take(TRACE_IDS_SHOWN) {
        let id = e.downstream.added.iter().find(|(k, _)| k == "x-trace-id").map_or("-", |(_, v)| v.as_str());
        let status = e.status.map_or_else(|| String::from("-"), |s| s.to_string());
        let _ = writeln!(out, "  {:<6} {:<40} {:>4}  {id}", e.method, truncate(&e.path, 40), status);
    }
    if report.exchanges.len() > TRACE_IDS_SHOWN {
        let _ = writeln!(
            out,
            "  ... and {} more (--format text lists every exchange)",
            report.exchanges.len() - TRACE_IDS_SHOWN
        );
    }
    out.push('\n');
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_owned() } else { format!("{}...", s.chars().take(max - 3).collect::<String>()) }
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn quantiles_interpolate_like_promql() {
        use super::histogram_quantile;
        // 80 requests at ~20 ms, 20 at ~300 ms: p95 falls in (0.25, 0.5], 3/4 of the way up.
        let b = [(0.025, 80.0), (0.25, 80.0), (0.5, 100.0), (f64::INFINITY, 100.0)];
        assert_eq!(histogram_quantile(0.95, &b), Some(0.4375));
        assert_eq!(histogram_quantile(0.5, &b), Some(0.015625));
        assert_eq!(
            histogram_quantile(0.99, &[(1.0, 0.0), (f64::INFINITY, 5.0)]),
            Some(1.0),
            "+Inf gives the top bound"
        );
        assert_eq!(histogram_quantile(0.5, &[(1.0, 0.0), (f64::INFINITY, 0.0)]), None);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(percentile(&v, 0.5), 5.0);
        assert_eq!(percentile(&v, 0.95), 10.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(percentile(&[3.0], 0.95), 3.0);
    }
}
