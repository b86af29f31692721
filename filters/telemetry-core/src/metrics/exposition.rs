//! The request metrics in the Prometheus text exposition format, served by the module itself, so
//! that histograms are typed `histogram` (Envoy's `/stats/prometheus` types every counter the
//! module defines as `counter`, `_bucket` series included).
//!
//! Each worker keeps its own [`MetricsEngine`]; a scrape must see their sum. Every worker
//! publishes a [`snapshot`] of its cumulative state into the proxy's shared data (proxy-wasm ABI
//! 0.2.1 `proxy_set_shared_data`, shared by every VM of one `vm_id` on every worker), and the
//! worker that answers a scrape [`Merged::add`]s every published snapshot and [`Merged::render`]s
//! the sum.
//!
//! A snapshot is lines of tab-separated fields (label values are sanitised, so they hold no tab,
//! newline or `\u{1f}`):
//!
//! ```text
//! F <name> <type> <help> <label names, comma-separated> <le values, comma-separated>
//! S <label values, joined by U+001F> <counts, comma-separated> <sum in billionths of the unit>
//! ```
//!
//! `S` lines belong to the `F` line before them. A counter has one count and a sum of 0; a
//! histogram has one cumulative count per bucket (`+Inf` last) and then `_count`.
//!
//! The rendering follows the text format 0.0.4
//! (<https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format>): one
//! `# HELP` and one `# TYPE` line per family, every series of a family together, buckets in
//! increasing `le` order ending with `+Inf`, then `_sum` and `_count`; label values escaped
//! (`\\`, `\"`, `\n`).

use std::collections::BTreeMap;
use std::fmt::Write;

use super::histogram::Buckets;
use super::{Kind, MetricsEngine, labels};

/// The first line of a snapshot: its format and version.
const HEADER: &str = "meshlens-metrics 1";

/// Appends the engine's cumulative state to `out` as a snapshot.
///
/// Snapshots are cumulative since the engine started.
pub fn snapshot(engine: &MetricsEngine, out: &mut String) {
    out.push_str(HEADER);
    out.push('\n');
    for (family, state) in engine.config.families.iter().zip(&engine.families) {
        if state.series.is_empty() {
            continue;
        }
        let (kind, les) = match &family.kind {
            Kind::Requests => ("counter", String::new()),
            Kind::Duration(b) | Kind::RequestSize(b) | Kind::ResponseSize(b) => {
                ("histogram", b.labels().collect::<Vec<_>>().join(","))
            }
        };
        let names: Vec<&str> = family.labels.iter().map(|(n, _)| n.as_str()).collect();
        let _ = writeln!(out, "F\t{}\t{kind}\t{}\t{}\t{les}", family.name, help(&family.kind), names.join(","));
        for series in &state.series {
            out.push_str("S\t");
            for (i, value) in series.key.split('\u{1f}').enumerate() {
                if i > 0 {
                    out.push('\u{1f}');
                }
                out.push_str(&labels::sanitize_value(value));
            }
            out.push('\t');
            let counts = match family.kind {
                Kind::Requests => series.slots.len(),
                // Every bucket, `+Inf` and `_count`; the `_sum` slot is not a count.
                _ => series.slots.len().saturating_sub(1),
            };
            for (i, slot) in series.slots.iter().take(counts).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{}", slot.total);
            }
            let sum = if family.kind == Kind::Requests { 0 } else { series.sum_total };
            let _ = writeln!(out, "\t{sum}");
        }
    }
}

/// The `# HELP` text of a family (also its OTLP description).
pub(crate) fn help(kind: &Kind) -> String {
    match kind {
        Kind::Requests => String::from("HTTP requests completed at the proxy."),
        Kind::Duration(b) => format!(
            "HTTP request duration at the proxy, from the request headers to the end of the stream, in {}.",
            unit_name(b)
        ),
        Kind::RequestSize(_) => String::from("HTTP request body size at the proxy, in bytes."),
        Kind::ResponseSize(_) => String::from("HTTP response body size at the proxy, in bytes."),
    }
}

fn unit_name(b: &Buckets) -> &'static str {
    match b.scale() {
        1_000_000_000 => "seconds",
        1_000_000 => "milliseconds",
        1_000 => "microseconds",
        _ => "bytes",
    }
}

/// The sum of any number of snapshots, by family and label values.
#[derive(Debug, Default)]
pub struct Merged {
    /// Families in order of first appearance.
    families: Vec<MergedFamily>,
    /// Lines of snapshots that could not be read or did not agree with the family already seen.
    pub rejected: usize,
}

#[derive(Debug)]
struct MergedFamily {
    name: String,
    kind: String,
    help: String,
    label_names: Vec<String>,
    les: Vec<String>,
    /// Label values (joined by U+001F) -> counts and sum.
    series: BTreeMap<String, (Vec<u64>, u128)>,
}

impl Merged {
    /// Adds one snapshot. Lines that are malformed, or whose family was seen with other labels,
    /// type or buckets (a worker still running an older configuration), are counted in
    /// [`Merged::rejected`] and left out.
    pub fn add(&mut self, snapshot: &str) {
        let mut lines = snapshot.lines();
        if lines.next() != Some(HEADER) {
            self.rejected += 1;
            return;
        }
        // Index into `families` of the current `F` line's family; `None` when it was rejected.
        let mut current: Option<usize> = None;
        for line in lines {
            let fields: Vec<&str> = line.split('\t').collect();
            match fields.as_slice() {
                ["F", name, kind, help, names, les] => current = self.family(name, kind, help, names, les),
                ["S", values, counts, sum] => {
                    let parsed = current
                        .and_then(|i| self.families.get_mut(i))
                        .and_then(|f| f.add(values, counts, sum).then_some(()));
                    if parsed.is_none() {
                        self.rejected += 1;
                    }
                }
                _ => self.rejected += 1,
            }
        }
    }

    /// The index of the family an `F` line describes, adding it when new; `None` when it
    /// disagrees with the family of that name already seen, or is malformed.
    fn family(&mut self, name: &str, kind: &str, help: &str, names: &str, les: &str) -> Option<usize> {
        let split = |s: &str| -> Vec<String> {
            if s.is_empty() { Vec::new() } else { s.split(',').map(str::to_owned).collect() }
        };
        let (label_names, les) = (split(names), split(les));
        let valid = labels::is_metric_name(name)
            && label_names.iter().all(|n| labels::is_label_name(n))
            && match kind {
                "counter" => les.is_empty(),
                "histogram" => les.last().is_some_and(|l| l == "+Inf"),
                _ => false,
            };
        if !valid {
            self.rejected += 1;
            return None;
        }
        if let Some(i) = self.families.iter().position(|f| f.name == name) {
            let same =
                self.families.get(i).is_some_and(|f| f.kind == kind && f.label_names == label_names && f.les == les);
            if !same {
                self.rejected += 1;
            }
            return same.then_some(i);
        }
        self.families.push(MergedFamily {
            name: name.to_owned(),
            kind: kind.to_owned(),
            help: help.to_owned(),
            label_names,
            les,
            series: BTreeMap::new(),
        });
        Some(self.families.len() - 1)
    }

    /// Appends every family in the text exposition format.
    pub fn render(&self, out: &mut String) {
        for family in &self.families {
            family.render(out);
        }
    }
}

impl MergedFamily {
    /// Adds one series; false when the line does not fit the family.
    fn add(&mut self, values: &str, counts: &str, sum: &str) -> bool {
        let counts: Option<Vec<u64>> = counts.split(',').map(|c| c.parse().ok()).collect();
        let (Some(counts), Ok(sum)) = (counts, sum.parse::<u128>()) else { return false };
        // A counter: one count. A histogram: every bucket then `_count`.
        let expected = if self.kind == "counter" { 1 } else { self.les.len() + 1 };
        if counts.len() != expected || values.split('\u{1f}').count() != self.label_names.len().max(1) {
            return false;
        }
        let entry = self.series.entry(values.to_owned()).or_insert_with(|| (vec![0; expected], 0));
        for (total, n) in entry.0.iter_mut().zip(counts) {
            *total = total.saturating_add(n);
        }
        entry.1 = entry.1.saturating_add(sum);
        true
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
        for (values, (counts, sum)) in &self.series {
            let mut labels = String::new();
            for (i, (name, value)) in self.label_names.iter().zip(values.split('\u{1f}')).enumerate() {
                if i > 0 {
                    labels.push(',');
                }
                labels.push_str(name);
                labels.push_str("=\"");
                escape(value, &mut labels);
                labels.push('"');
            }
            if self.kind == "counter" {
                let _ = writeln!(out, "{}{} {}", self.name, braces(&labels), counts.first().copied().unwrap_or(0));
                continue;
            }
            let sep = if labels.is_empty() { "" } else { "," };
            for (le, n) in self.les.iter().zip(counts) {
                let _ = writeln!(out, "{}_bucket{{{labels}{sep}le=\"{le}\"}} {n}", self.name);
            }
            out.push_str(&self.name);
            out.push_str("_sum");
            out.push_str(&braces(&labels));
            out.push(' ');
            push_billionths(*sum, out);
            out.push('\n');
            let _ = writeln!(out, "{}_count{} {}", self.name, braces(&labels), counts.last().copied().unwrap_or(0));
        }
    }
}

fn braces(labels: &str) -> String {
    if labels.is_empty() { String::new() } else { format!("{{{labels}}}") }
}

/// A label value escaped for the text format: backslash, double quote and line feed.
fn escape(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `n` billionths as an exact decimal: `150000000` is `0.15`, `3000000000` is `3`.
fn push_billionths(n: u128, out: &mut String) {
    let (whole, frac) = (n / 1_000_000_000, n % 1_000_000_000);
    let _ = write!(out, "{whole}");
    if frac > 0 {
        let digits = format!("{frac:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

#[cfg(test)]
mod tests;
