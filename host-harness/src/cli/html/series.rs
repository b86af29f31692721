//! The metric series as the harness reports them (Envoy's `/stats/prometheus` rendering, read
//! back by `cli/prometheus.rs`), and the module's own counters with the harness's run counts.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::access_log::Lines;
use super::escape::Esc;
use super::histogram::number;
use crate::cli::prometheus::Sample;
use crate::cli::report::Summary;

/// Rows of the series table, at most (the module caps its series; this caps the page).
const MAX_ROWS: usize = 5_000;

/// One row of the series table: a counter's or gauge's value, or a histogram's count and sum.
#[derive(Debug)]
struct Row {
    family: String,
    /// `k="v", ...`, without `le`.
    labels: String,
    /// The `# TYPE`, or `histogram`.
    kind: String,
    value: Option<f64>,
    count: Option<f64>,
    sum: Option<f64>,
}

/// The series table: counters and gauges one row each; a histogram's series one row with its
/// count and sum (its buckets are drawn in the histogram section).
pub fn render(out: &mut String, samples: &[Sample]) {
    if samples.is_empty() {
        out.push_str("<p class=\"note\">The module defined no metrics.</p>\n");
        return;
    }
    // One row per (family, labels), in order of first appearance.
    let mut rows: Vec<Row> = Vec::new();
    let mut at: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut buckets = 0;
    let histograms: BTreeSet<&str> = samples.iter().filter_map(|s| s.name.strip_suffix("_bucket")).collect();
    let is_histogram = |family: &str| histograms.contains(family);
    for s in samples {
        if s.name.ends_with("_bucket") && s.labels.iter().any(|(k, _)| k == "le") {
            buckets += 1;
            continue;
        }
        let labels = labels(s);
        let (family, part) = match (s.name.strip_suffix("_count"), s.name.strip_suffix("_sum")) {
            (Some(f), _) if is_histogram(f) => (f.to_owned(), 1),
            (_, Some(f)) if is_histogram(f) => (f.to_owned(), 2),
            _ => (s.name.clone(), 0),
        };
        let value = s.value.as_f64();
        let key = (family.clone(), labels.clone());
        let i = *at.entry(key).or_insert_with(|| {
            let kind = if part == 0 { s.kind.clone().unwrap_or_default() } else { String::from("histogram") };
            rows.push(Row { family, labels, kind, value: None, count: None, sum: None });
            rows.len() - 1
        });
        if let Some(row) = rows.get_mut(i) {
            match part {
                1 => row.count = value,
                2 => row.sum = value,
                _ => row.value = value,
            }
        }
    }
    let buckets = match buckets {
        0 => String::new(),
        n => format!(" ({n} bucket samples: drawn per route above, not listed)"),
    };
    let _ = writeln!(out, "<p class=\"note\">{} series{buckets}.</p>", rows.len());
    out.push_str("<div class=\"scroll\"><table class=\"series\"><thead><tr><th>name</th><th>labels</th><th>type</th><th class=\"num\">value</th></tr></thead><tbody>\n");
    for Row { family, labels, kind, value, count, sum } in rows.iter().take(MAX_ROWS) {
        let value = match (value, count, sum) {
            (Some(v), _, _) => number(*v),
            (None, Some(c), Some(s)) => format!("count {} · sum {}", number(*c), number(*s)),
            (None, Some(c), None) => format!("count {}", number(*c)),
            _ => String::from("-"),
        };
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td class=\"labels\">{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            Esc(family),
            Esc(labels),
            Esc(kind),
            Esc(&value)
        );
    }
    out.push_str("</tbody></table></div>\n");
    if rows.len() > MAX_ROWS {
        let _ = writeln!(out, "<p class=\"note\">The first {MAX_ROWS} of {} series are listed.</p>", rows.len());
    }
}

/// The self-telemetry section: the module's `meshlens_*` counters other than the request
/// families, the replay's counts, and the log lines that are not access lines.
pub fn self_telemetry(out: &mut String, samples: &[Sample], summary: &Summary, ticks: u64, logs: &Lines) {
    out.push_str("<div class=\"columns\"><div><h3>The module's own counters</h3>\n<table class=\"kv\"><tbody>\n");
    let own = samples
        .iter()
        .filter(|s| s.name.starts_with("meshlens_") && !s.name.contains("_http_") && !s.name.contains("chat2sql_"));
    let mut any = false;
    for s in own {
        any = true;
        let value = s.value.as_f64().map_or_else(|| s.value.to_string(), number);
        let labels = labels(s);
        let labels = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code><span class=\"labels\">{}</span></td><td class=\"num\">{}</td></tr>",
            Esc(&s.name),
            Esc(&labels),
            Esc(&value)
        );
    }
    if !any {
        out.push_str("<tr><td colspan=\"2\">(none reported)</td></tr>\n");
    }
    out.push_str("</tbody></table></div>\n<div><h3>The replay (harness)</h3>\n<table class=\"kv\"><tbody>\n");
    let rows: [(&str, String); 13] = [
        ("exchanges replayed", summary.exchanges.to_string()),
        ("completed", summary.completed.to_string()),
        ("local replies from the module", summary.local_replies.to_string()),
        ("requests held by the module", summary.request_paused.to_string()),
        ("streams reset by the module", summary.reset.to_string()),
        ("spans exported (decoded from its calls)", summary.spans.to_string()),
        ("HTTP calls (exports)", summary.http_calls.to_string()),
        ("gRPC calls", summary.grpc_calls.to_string()),
        ("log lines written", summary.log_lines.to_string()),
        ("log lines below --log-level", summary.log_lines_not_written.to_string()),
        ("root ticks delivered", ticks.to_string()),
        ("virtual time", format!("{:.3} s", summary.virtual_ms as f64 / 1000.0)),
        ("traps", String::from("none (a trap ends the run with exit status 1)")),
    ];
    for (name, value) in rows {
        let _ = writeln!(out, "<tr><td>{name}</td><td class=\"num\">{}</td></tr>", Esc(&value));
    }
    out.push_str("</tbody></table></div></div>\n");
    let _ = writeln!(out, "<h3>Other log lines ({})</h3>", logs.others);
    if logs.other.is_empty() {
        out.push_str("<p class=\"note\">None: every line the module wrote is an access line.</p>\n");
        return;
    }
    out.push_str("<ul class=\"other-logs\">\n");
    for (level, message) in &logs.other {
        let _ = writeln!(out, "<li><span class=\"level\">{}</span> <code>{}</code></li>", Esc(level), Esc(message));
    }
    out.push_str("</ul>\n");
    if logs.others > logs.other.len() {
        let _ = writeln!(out, "<p class=\"note\">The first {} of {} are listed.</p>", logs.other.len(), logs.others);
    }
}

/// `k="v", ...` (the values as they are; the caller escapes).
fn labels(s: &Sample) -> String {
    s.labels.iter().filter(|(k, _)| k != "le").map(|(k, v)| format!("{k}=\"{v}\"")).collect::<Vec<_>>().join(", ")
}
