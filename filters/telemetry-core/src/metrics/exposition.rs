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

use super::{Kind, MetricsEngine, labels};
use crate::json;

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
            // Integers without `core::fmt`: a snapshot of a thousand series has tens of thousands.
            for (i, slot) in series.counts(&family.kind).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json::push_u64(out, slot.total);
            }
            out.push('\t');
            push_u128(out, series.sum_nanounits(&family.kind));
            out.push('\n');
        }
    }
}

/// The `# HELP` text of a family (also its OTLP description).
pub(crate) fn help(kind: &Kind) -> String {
    match kind {
        Kind::Requests => String::from("HTTP requests completed at the proxy."),
        Kind::Duration(b) => format!(
            "HTTP request duration at the proxy, from the request headers to the end of the stream, in {}.",
            b.unit().name()
        ),
        Kind::RequestSize(_) => String::from("HTTP request body size at the proxy, in bytes."),
        Kind::ResponseSize(_) => String::from("HTTP response body size at the proxy, in bytes."),
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
            let mut fields = line.split('\t');
            let ok = match fields.next() {
                Some("F") => {
                    let f: Vec<&str> = fields.collect();
                    match f.as_slice() {
                        [name, kind, help, names, les] => {
                            current = self.family(name, kind, help, names, les);
                            true
                        }
                        _ => false,
                    }
                }
                Some("S") => match (fields.next(), fields.next(), fields.next(), fields.next()) {
                    (Some(values), Some(counts), Some(sum), None) => {
                        current.and_then(|i| self.families.get_mut(i)).is_some_and(|f| f.add(values, counts, sum))
                    }
                    _ => false,
                },
                _ => false,
            };
            if !ok {
                self.rejected += 1;
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
        // A counter: one count. A histogram: every bucket then `_count`.
        let expected = if self.kind == "counter" { 1 } else { self.les.len() + 1 };
        let Ok(sum) = sum.parse::<u128>() else { return false };
        if counts.split(',').count() != expected
            || values.split('\u{1f}').count() != self.label_names.len().max(1)
            || !counts.split(',').all(|c| c.parse::<u64>().is_ok())
        {
            return false;
        }
        let entry = match self.series.get_mut(values) {
            Some(entry) => entry,
            None => self.series.entry(values.to_owned()).or_insert_with(|| (vec![0; expected], 0)),
        };
        for (total, n) in entry.0.iter_mut().zip(counts.split(',')) {
            *total = total.saturating_add(n.parse().unwrap_or(0));
        }
        entry.1 = entry.1.saturating_add(sum);
        true
    }

    /// Every line is written with `push_str` and a hand-written integer writer, not `core::fmt`:
    /// a scrape of a thousand series writes over ten thousand lines on a worker thread.
    fn render(&self, out: &mut String) {
        for (tag, text) in [("# HELP ", &self.help), ("# TYPE ", &self.kind)] {
            out.push_str(tag);
            out.push_str(&self.name);
            out.push(' ');
            out.push_str(text);
            out.push('\n');
        }
        // `{labels}` of the series, or `` when it has none; `{labels,` for the buckets.
        let (mut whole, mut open) = (String::new(), String::new());
        for (values, (counts, sum)) in &self.series {
            open.clear();
            open.push('{');
            for (i, (name, value)) in self.label_names.iter().zip(values.split('\u{1f}')).enumerate() {
                if i > 0 {
                    open.push(',');
                }
                open.push_str(name);
                open.push_str("=\"");
                escape(value, &mut open);
                open.push('"');
            }
            whole.clear();
            if open.len() > 1 {
                whole.push_str(&open);
                whole.push('}');
                open.push(',');
            }
            let line = |out: &mut String, suffix: &str, labels: &str, value: u64| {
                out.push_str(&self.name);
                out.push_str(suffix);
                out.push_str(labels);
                out.push(' ');
                json::push_u64(out, value);
                out.push('\n');
            };
            if self.kind == "counter" {
                line(out, "", &whole, counts.first().copied().unwrap_or(0));
                continue;
            }
            for (le, n) in self.les.iter().zip(counts) {
                out.push_str(&self.name);
                out.push_str("_bucket");
                out.push_str(&open);
                out.push_str("le=\"");
                out.push_str(le);
                out.push_str("\"} ");
                json::push_u64(out, *n);
                out.push('\n');
            }
            out.push_str(&self.name);
            out.push_str("_sum");
            out.push_str(&whole);
            out.push(' ');
            push_billionths(*sum, out);
            out.push('\n');
            line(out, "_count", &whole, counts.last().copied().unwrap_or(0));
        }
    }
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
    push_u128(out, whole);
    if frac > 0 {
        out.push('.');
        // Nine digits, leading zeros kept, trailing ones dropped.
        let mut frac = u64::try_from(frac).unwrap_or(0);
        let mut digits = 9;
        while frac % 10 == 0 {
            frac /= 10;
            digits -= 1;
        }
        let mut buf = String::new();
        json::push_u64(&mut buf, frac);
        out.extend(std::iter::repeat_n('0', digits - buf.len()));
        out.push_str(&buf);
    }
}

/// A `u128` in decimal (sums of nanounits): `u64` fast path, `core::fmt` past it.
fn push_u128(out: &mut String, n: u128) {
    match u64::try_from(n) {
        Ok(n) => json::push_u64(out, n),
        Err(_) => {
            let _ = write!(out, "{n}");
        }
    }
}

#[cfg(test)]
mod tests;
