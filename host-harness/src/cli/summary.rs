//! The `summary` report: what a person wants to see first after a replay. Spans and latency per
//! route, the trace id each caller got back, the module's log lines and its own counters.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::report::Report;

/// Trace ids listed before the rest are elided.
const TRACE_IDS_SHOWN: usize = 12;

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
    routes(&mut out, report);
    trace_ids(&mut out, report);
    let _ = writeln!(out, "Log lines ({})", report.logs.len());
    for log in &report.logs {
        let line = log.line.map_or_else(String::new, |l| format!("line {l}: "));
        let _ = writeln!(out, "  [{}] {line}{}", log.level, log.message);
    }
    let _ = writeln!(out, "\nModule metrics (as Envoy's /stats/prometheus prints them)");
    for line in report.metrics.prometheus.lines().filter(|l| !l.starts_with('#')) {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// Spans per route with error counts and latency percentiles (nearest rank over span durations).
fn routes(out: &mut String, report: &Report) {
    let mut by_route: BTreeMap<String, Vec<(f64, bool)>> = BTreeMap::new();
    for span in &report.spans {
        let route = span.attributes.iter().find(|(k, _)| k == "http.route").map_or("(no route)", |(_, v)| v);
        by_route.entry(route.to_owned()).or_default().push((span.duration_ms, span.status == "error"));
    }
    let _ = writeln!(out, "Spans per route (latency from the exported spans)");
    let _ = writeln!(out, "  {:<28} {:>6} {:>7} {:>10} {:>10}", "route", "spans", "errors", "p50 ms", "p95 ms");
    for (route, mut rows) in by_route {
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        let errors = rows.iter().filter(|(_, e)| *e).count();
        let durations: Vec<f64> = rows.iter().map(|(d, _)| *d).collect();
        let _ = writeln!(
            out,
            "  {:<28} {:>6} {:>7} {:>10.1} {:>10.1}",
            route,
            rows.len(),
            errors,
            percentile(&durations, 0.50),
            percentile(&durations, 0.95)
        );
    }
    out.push('\n');
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
    fn nearest_rank_percentiles() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(percentile(&v, 0.5), 5.0);
        assert_eq!(percentile(&v, 0.95), 10.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(percentile(&[3.0], 0.95), 3.0);
    }
}
