//! The `summary` report: what a person wants to see first after a replay. Spans and latency per
//! route, the trace id each caller got back, the module's log lines and its own counters.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write;
use std::io;

use super::report::{Collector, ExchangeReport, LogReport, Metrics, SpanReport};

/// Trace ids listed before the rest are elided.
pub const TRACE_IDS_SHOWN: usize = 12;
/// Access-log lines shown as samples.
const ACCESS_LOG_SAMPLES: usize = 3;

/// Writes the summary.
pub fn write(out: &mut dyn io::Write, c: &mut Collector, metrics: &Metrics) -> io::Result<()> {
    let mut text = String::new();
    let s = &c.summary;
    let _ = writeln!(
        text,
        "Replayed {} exchanges over {:.1} s of virtual time: {} completed, {} local replies; {} spans exported in {} calls.\n",
        s.exchanges,
        s.virtual_ms as f64 / 1000.0,
        s.completed,
        s.local_replies,
        s.spans,
        s.http_calls
    );
    if !metric_routes(&mut text, metrics) {
        let _ = writeln!(text, "(no labelled request metrics: pass --envoy-config with stats_tags to see them)\n");
    }
    routes(&mut text, &c.routes);
    trace_ids(&mut text, c);
    // Structured lines (access logs) can be many: a few samples, then every event and every
    // plain-text line in full.
    let not_written = match c.summary.log_lines_not_written {
        0 => String::new(),
        n => format!("; {n} more below --log-level, not written"),
    };
    let _ = writeln!(
        text,
        "Log lines ({}, of which {} JSON access-log lines{not_written})",
        c.summary.log_lines, c.log_counts.structured
    );
    out.write_all(text.as_bytes())?;
    c.logs.copy_to(out)?;
    let mut text = String::new();
    if c.log_counts.samples > ACCESS_LOG_SAMPLES {
        let _ = writeln!(
            text,
            "  ... and {} more access-log lines (--format text lists them all)",
            c.log_counts.samples - ACCESS_LOG_SAMPLES
        );
    }
    let _ = writeln!(text, "\nModule self-telemetry (as Envoy's /stats/prometheus prints it)");
    let own = |l: &&str| !l.starts_with('#') && !l.contains("_http_") && !l.contains("chat2sql_");
    for line in metrics.prometheus.lines().filter(own) {
        let _ = writeln!(text, "  {line}");
    }
    out.write_all(text.as_bytes())
}

/// The log lines seen so far: JSON lines (access logs and events), and access-log samples.
#[derive(Debug, Default)]
pub struct LogCounts {
    pub structured: usize,
    pub samples: usize,
}

/// The summary's line for one written log line, if it shows: the first few access-log lines,
/// every event and every plain-text line.
pub fn log(log: &LogReport, counts: &mut LogCounts) -> Option<String> {
    let json = log.message.starts_with('{');
    let event = json && log.message.contains("\"event_type\"");
    counts.structured += usize::from(json);
    if json && !event {
        counts.samples += 1;
        if counts.samples > ACCESS_LOG_SAMPLES {
            return None;
        }
    }
    let line = log.line.map_or_else(String::new, |l| format!("line {l}: "));
    Some(format!("  [{}] {line}{}\n", log.level, log.message))
}

/// The spans of one route: how many, how many failed, and their durations (in microseconds,
/// each with how many spans took it), so percentiles are exact without keeping every span.
#[derive(Debug, Default)]
pub struct RouteSpans {
    spans: usize,
    errors: usize,
    durations: BTreeMap<u64, usize>,
}

/// Spans per route as they arrive. A CLIENT span (the upstream hop) counts under its SERVER
/// parent's route, as `{route} (upstream)`: the module queues the two one after the other, so the
/// parent's route is looked up among the most recent SERVER spans ([`RECENT_PARENTS`] of them).
#[derive(Debug, Default)]
pub struct Routes {
    rows: BTreeMap<String, RouteSpans>,
    parents: HashMap<String, String>,
    order: VecDeque<String>,
}

/// SERVER spans remembered for their CLIENT children: bounded, so memory stays flat.
const RECENT_PARENTS: usize = 4096;

impl Routes {
    /// Counts one span under its route.
    pub fn add_span(&mut self, span: &SpanReport) {
        let own = span.attributes.iter().find(|(k, _)| k == "http.route").map_or("(no route)", |(_, v)| v.as_str());
        let route = match self.parents.get(span.parent_span_id.as_str()) {
            Some(parent) if span.kind == "client" => format!("{parent} (upstream)"),
            _ => own.to_owned(),
        };
        if span.kind != "client" {
            if self.order.len() == RECENT_PARENTS
                && let Some(old) = self.order.pop_front()
            {
                self.parents.remove(&old);
            }
            self.order.push_back(span.span_id.clone());
            self.parents.insert(span.span_id.clone(), own.to_owned());
        }
        let row = self.rows.entry(route).or_default();
        row.spans += 1;
        row.errors += usize::from(span.status == "error");
        // `duration_ms` is a whole number of microseconds over 1000.
        *row.durations.entry((span.duration_ms * 1000.0).round() as u64).or_default() += 1;
    }
}

/// Spans per route with error counts and latency percentiles (nearest rank over span durations).
fn routes(out: &mut String, routes: &Routes) {
    let _ = writeln!(
        out,
        "Spans per route (sampled requests; latency from the span durations; `(upstream)`: the CLIENT spans)"
    );
    let _ = writeln!(out, "  {:<34} {:>6} {:>7} {:>10} {:>10}", "route", "spans", "errors", "p50 ms", "p95 ms");
    for (route, row) in &routes.rows {
        let _ = writeln!(
            out,
            "  {:<34} {:>6} {:>7} {:>10.1} {:>10.1}",
            route,
            row.spans,
            row.errors,
            percentile(&row.durations, row.spans, 0.50),
            percentile(&row.durations, row.spans, 0.95)
        );
    }
    out.push('\n');
}

/// Requests, errors and latency per route from the module's own metrics: the request counter
/// and the duration histogram, with quantiles computed as PromQL's `histogram_quantile` does.
/// False when the metrics carry no `route` label.
fn metric_routes(out: &mut String, metrics: &Metrics) -> bool {
    // route -> (requests, 5xx, le -> cumulative count)
    let mut rows: BTreeMap<String, (f64, f64, BTreeMap<String, f64>)> = BTreeMap::new();
    for sample in &metrics.samples {
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
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
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

/// Nearest-rank percentile over `total` durations counted by value, in milliseconds (0 for none).
fn percentile(durations: &BTreeMap<u64, usize>, total: usize, q: f64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    let rank = ((q * total as f64).ceil() as usize).clamp(1, total);
    let mut seen = 0;
    for (micros, n) in durations {
        seen += n;
        if seen >= rank {
            return *micros as f64 / 1000.0;
        }
    }
    0.0
}

/// One row of the trace ids returned to callers (x-trace-id).
pub fn trace_row(e: &ExchangeReport) -> String {
    let id = e.downstream.added.iter().find(|(k, _)| k == "x-trace-id").map_or("-", |(_, v)| v.as_str());
    let status = e.status.map_or_else(|| String::from("-"), |s| s.to_string());
    format!("  {:<6} {:<40} {:>4}  {id}\n", e.method, truncate(&e.path, 40), status)
}

/// The trace id each caller got back in its response.
fn trace_ids(out: &mut String, c: &Collector) {
    let _ = writeln!(out, "Trace ids returned to callers (x-trace-id)");
    for row in c.trace_rows.values() {
        out.push_str(row);
    }
    if c.summary.exchanges > TRACE_IDS_SHOWN {
        let _ = writeln!(
            out,
            "  ... and {} more (--format text lists every exchange)",
            c.summary.exchanges - TRACE_IDS_SHOWN
        );
    }
    out.push('\n');
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_owned() } else { format!("{}...", s.chars().take(max - 3).collect::<String>()) }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

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
        let durations: BTreeMap<u64, usize> = (1..=10).map(|ms| (ms * 1000, 1)).collect();
        assert_eq!(percentile(&durations, 10, 0.5), 5.0);
        assert_eq!(percentile(&durations, 10, 0.95), 10.0);
        assert_eq!(percentile(&BTreeMap::new(), 0, 0.5), 0.0);
        assert_eq!(percentile(&BTreeMap::from([(3000, 1)]), 1, 0.95), 3.0);
        assert_eq!(percentile(&BTreeMap::from([(1000, 9), (9000, 1)]), 10, 0.95), 9.0, "counted values");
    }
}
