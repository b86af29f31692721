//! The span waterfall: the exported spans grouped by trace, one SVG per trace, a bar per span
//! placed on the trace's own time axis. Only the first [`MAX_TRACES`] traces to arrive are kept
//! (and at most [`MAX_SPANS_PER_TRACE`] spans of each), so memory stays bounded on any traffic.
//!
//! Geometry: the bar area is [`W`] SVG units wide. A span's bar starts at
//! `(start - trace start) / trace duration * W` and is `duration / trace duration * W` wide,
//! where the trace runs from its earliest span start to its latest span end; a trace of zero
//! length draws every bar at zero width (a tick marks where it is).

use std::collections::HashMap;
use std::fmt::Write;

use super::escape::{Esc, clip};
use crate::cli::report::SpanReport;

/// Traces drawn, at most: the first to arrive.
pub const MAX_TRACES: usize = 200;
/// Spans drawn in one trace, at most.
pub const MAX_SPANS_PER_TRACE: usize = 64;
/// The width of the bar area, in SVG user units.
pub const W: f64 = 720.0;

/// Where the bar area starts (the span labels are on its left).
pub const X0: f64 = 450.0;
/// The SVG's width: labels, bars, and a margin for the last tick's label.
const SVG_W: f64 = X0 + W + 30.0;
const ROW_H: f64 = 22.0;
const AXIS_H: f64 = 26.0;
const INDENT: f64 = 14.0;
/// Nesting drawn; deeper spans stay at this indentation.
const MAX_DEPTH: usize = 12;

/// The traces kept for drawing, gathered as spans arrive.
#[derive(Debug, Default)]
pub struct Traces {
    traces: Vec<Trace>,
    index: HashMap<String, usize>,
    /// Spans exported.
    pub spans_seen: usize,
    /// Spans not drawn: in a trace past the first [`MAX_TRACES`], or past a trace's
    /// [`MAX_SPANS_PER_TRACE`].
    pub spans_not_drawn: usize,
}

/// One kept trace.
#[derive(Debug)]
struct Trace {
    id: String,
    spans: Vec<Span>,
}

/// What the waterfall shows of a span (long texts clipped).
#[derive(Debug)]
struct Span {
    span_id: String,
    parent: String,
    name: String,
    /// `SERVER`, `CLIENT`, ...
    kind: String,
    /// `unset`, `ok` or `error`.
    status: &'static str,
    status_message: String,
    start: u64,
    end: u64,
    route: String,
    status_code: String,
}

impl Traces {
    /// Keeps `span` if its trace is drawn and has room.
    pub fn add(&mut self, s: &SpanReport) {
        self.spans_seen += 1;
        let at = match self.index.get(&s.trace_id) {
            Some(&at) => at,
            None if self.traces.len() < MAX_TRACES => {
                self.traces.push(Trace { id: s.trace_id.clone(), spans: Vec::new() });
                self.index.insert(s.trace_id.clone(), self.traces.len() - 1);
                self.traces.len() - 1
            }
            None => {
                self.spans_not_drawn += 1;
                return;
            }
        };
        let Some(trace) = self.traces.get_mut(at) else { return };
        if trace.spans.len() >= MAX_SPANS_PER_TRACE {
            self.spans_not_drawn += 1;
            return;
        }
        let attribute = |key: &str| s.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| clip(v, 80));
        trace.spans.push(Span {
            span_id: s.span_id.clone(),
            parent: s.parent_span_id.clone(),
            name: clip(&s.name, 120),
            kind: s.kind.to_ascii_uppercase(),
            status: s.status,
            status_message: clip(&s.status_message, 200),
            start: s.start_unix_nanos,
            end: s.end_unix_nanos.max(s.start_unix_nanos),
            route: attribute("http.route").unwrap_or_default(),
            status_code: attribute("http.response.status_code").unwrap_or_default(),
        });
    }

    /// Whether the waterfall draws the trace `trace_id` (so a link to it resolves).
    pub fn drawn(&self, trace_id: &str) -> bool {
        self.index.contains_key(trace_id)
    }

    /// The section's body: a note on what is drawn, then every kept trace in order of start.
    /// `base` is the replay's start (Unix nanoseconds), for the traces' offsets.
    pub fn render(&self, out: &mut String, base: u64) {
        if self.traces.is_empty() {
            out.push_str("<p class=\"note\">No spans were exported (no request was sampled, or tracing is off).</p>\n");
            return;
        }
        let drawn = self.spans_seen - self.spans_not_drawn;
        let _ = write!(out, "<p class=\"note\">{} traces, {drawn} spans drawn", self.traces.len());
        if self.spans_not_drawn > 0 {
            let _ = write!(
                out,
                ": showing the first {} traces to arrive; {} of {} exported spans (in later traces, or past {} \
                 spans of one trace) are not drawn",
                self.traces.len(),
                self.spans_not_drawn,
                self.spans_seen,
                MAX_SPANS_PER_TRACE
            );
        }
        out.push_str(".</p>\n");
        let mut order: Vec<&Trace> = self.traces.iter().collect();
        order.sort_by_key(|t| (t.spans.iter().map(|s| s.start).min().unwrap_or(0), t.id.as_str()));
        for trace in order {
            trace.render(out, base);
        }
    }
}

impl Trace {
    fn render(&self, out: &mut String, base: u64) {
        let start = self.spans.iter().map(|s| s.start).min().unwrap_or(0);
        let end = self.spans.iter().map(|s| s.end).max().unwrap_or(start);
        let length = end - start;
        let errors = self.spans.iter().filter(|s| s.status == "error").count();
        let rows = self.rows();
        let id = Esc(&self.id);
        let _ = write!(
            out,
            "<div class=\"trace\" id=\"trace-{id}\" data-duration-ns=\"{length}\">\n<div class=\"trace-head\">\
             <code>{id}</code> <span>{} · {} · starts at +{}</span>",
            plural(self.spans.len(), "span"),
            ms(length),
            ms(start.saturating_sub(base))
        );
        if errors > 0 {
            let _ = write!(out, " <span class=\"badge error\">{}</span>", plural(errors, "error"));
        }
        let height = AXIS_H + ROW_H * rows.len() as f64 + 6.0;
        let _ = writeln!(
            out,
            "</div>\n<svg class=\"waterfall\" viewBox=\"0 0 {SVG_W} {height}\" width=\"{SVG_W}\" height=\"{height}\" \
             role=\"img\" aria-label=\"span waterfall of trace {id}\">"
        );
        axis(out, length, height);
        for (row, (span, depth)) in rows.iter().enumerate() {
            span.render(out, &self.id, start, length, AXIS_H + ROW_H * row as f64, *depth);
        }
        out.push_str("</svg>\n</div>\n");
    }

    /// The spans in drawing order with their depth: each parent before its children, siblings by
    /// start. A span whose parent is not in the trace (a caller's span) is a root.
    fn rows(&self) -> Vec<(&Span, usize)> {
        let ids: HashMap<&str, usize> = self.spans.iter().enumerate().map(|(i, s)| (s.span_id.as_str(), i)).collect();
        let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
        let mut roots = Vec::new();
        for (i, s) in self.spans.iter().enumerate() {
            match ids.get(s.parent.as_str()) {
                Some(&parent) if parent != i => children.entry(parent).or_default().push(i),
                _ => roots.push(i),
            }
        }
        let by_start = |list: &mut Vec<usize>| {
            list.sort_by_key(|&i| self.spans.get(i).map(|s| (s.start, s.span_id.as_str())));
        };
        by_start(&mut roots);
        children.values_mut().for_each(by_start);
        let mut rows = Vec::with_capacity(self.spans.len());
        let mut seen = vec![false; self.spans.len()];
        // Roots first; then whatever only a cycle of parents reaches (never from one module).
        let rest: Vec<usize> = (0..self.spans.len()).collect();
        for start in roots.into_iter().chain(rest) {
            let mut stack = vec![(start, 0)];
            while let Some((i, depth)) = stack.pop() {
                match seen.get_mut(i) {
                    Some(seen) if !*seen => *seen = true,
                    _ => continue,
                }
                if let Some(span) = self.spans.get(i) {
                    rows.push((span, depth));
                }
                for &child in children.get(&i).into_iter().flatten().rev() {
                    stack.push((child, depth + 1));
                }
            }
        }
        rows
    }
}

impl Span {
    fn render(&self, out: &mut String, trace_id: &str, start: u64, length: u64, y: f64, depth: usize) {
        let duration = self.end - self.start;
        let (x, width) = if length == 0 {
            (X0, 0.0)
        } else {
            let scale = W / length as f64;
            (X0 + (self.start - start) as f64 * scale, duration as f64 * scale)
        };
        let status = match (self.status, self.status_code.as_str()) {
            (status, "") => format!("status {status}"),
            (status, code) => format!("HTTP {code} · status {status}"),
        };
        let tip = format!(
            "{} ({}), span {}, parent {}, {}, status {}{}{}",
            self.name,
            self.kind,
            self.span_id,
            if self.parent.is_empty() { "none" } else { &self.parent },
            ms(duration),
            self.status,
            if self.status_message.is_empty() { "" } else { ": " },
            self.status_message
        );
        let error = if self.status == "error" { " error" } else { "" };
        let indent = 8.0 + INDENT * depth.min(MAX_DEPTH) as f64;
        let _ = writeln!(
            out,
            "<g class=\"span-row{error}\"><title>{}</title>\
             <text class=\"span-label\" x=\"{indent}\" y=\"{}\">{}<tspan class=\"meta\"> {} · {} · {}</tspan></text>",
            Esc(&tip),
            y + 15.0,
            Esc(&clip(&self.name, 36usize.saturating_sub(2 * depth.min(MAX_DEPTH)).max(12))),
            Esc(&self.kind),
            ms(duration),
            Esc(&status),
        );
        let _ = writeln!(
            out,
            "<rect class=\"span-bar\" x=\"{x:.4}\" y=\"{}\" width=\"{width:.4}\" height=\"14\" rx=\"2\" \
             data-trace-id=\"{}\" data-span-id=\"{}\" data-kind=\"{}\" data-duration-ns=\"{duration}\" \
             data-status=\"{}\"/>",
            y + 4.0,
            Esc(trace_id),
            Esc(&self.span_id),
            Esc(&self.kind),
            self.status
        );
        if width < 1.0 {
            let _ =
                writeln!(out, "<rect class=\"span-tick\" x=\"{x:.4}\" y=\"{}\" width=\"1\" height=\"14\"/>", y + 4.0);
        }
        if !self.route.is_empty() && width < W - 120.0 {
            let _ = writeln!(
                out,
                "<text class=\"bar-note\" x=\"{:.1}\" y=\"{}\">{}</text>",
                x + width + 5.0,
                y + 15.0,
                Esc(&clip(&self.route, 40))
            );
        }
        out.push_str("</g>\n");
    }
}

/// The time axis of a trace `length` nanoseconds long: about six ticks at a round step.
fn axis(out: &mut String, length: u64, height: f64) {
    let _ = writeln!(
        out,
        "<line class=\"axis\" x1=\"{X0}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>",
        AXIS_H - 4.0,
        X0 + W,
        AXIS_H - 4.0
    );
    let step = nice_step(length as f64 / 6.0);
    let mut t = 0.0;
    while t <= length as f64 + 0.5 {
        let x = if length == 0 { X0 } else { X0 + t / length as f64 * W };
        let _ = writeln!(
            out,
            "<line class=\"grid\" x1=\"{x:.2}\" y1=\"{}\" x2=\"{x:.2}\" y2=\"{height}\"/><text class=\"tick\" x=\"{x:.2}\" \
             y=\"{}\">{}</text>",
            AXIS_H - 4.0,
            AXIS_H - 9.0,
            ms(t as u64)
        );
        if length == 0 {
            break;
        }
        t += step;
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw` (at least 1 ns).
fn nice_step(raw: f64) -> f64 {
    let raw = raw.max(1.0);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude)
}

/// Nanoseconds as milliseconds, to the microsecond, trailing zeros dropped: `1240 ms`, `0.5 ms`.
pub fn ms(nanos: u64) -> String {
    let text = format!("{:.3}", nanos as f64 / 1e6);
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { &text };
    format!("{text} ms")
}

/// `1 span`, `3 spans`.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(trace: &str, id: &str, parent: &str, start_ms: u64, end_ms: u64) -> SpanReport {
        SpanReport {
            trace_id: trace.to_owned(),
            span_id: id.to_owned(),
            parent_span_id: parent.to_owned(),
            name: format!("span {id}"),
            kind: if parent.is_empty() { "server" } else { "client" },
            status: "unset",
            status_message: String::new(),
            start_unix_nanos: start_ms * 1_000_000,
            end_unix_nanos: end_ms * 1_000_000,
            start_ms: start_ms as f64,
            duration_ms: (end_ms - start_ms) as f64,
            trace_state: String::new(),
            attributes: Vec::new(),
            links: Vec::new(),
            resource: Vec::new(),
        }
    }

    #[test]
    fn traces_and_spans_per_trace_are_bounded_and_the_cut_is_said() {
        let mut traces = Traces::default();
        for t in 0..MAX_TRACES + 50 {
            traces.add(&span(&format!("{t:032x}"), "a", "", 0, 10));
        }
        for s in 0..MAX_SPANS_PER_TRACE + 5 {
            traces.add(&span(&format!("{:032x}", 0), &format!("c{s}"), "a", 1, 2));
        }
        assert_eq!(traces.traces.len(), MAX_TRACES);
        assert_eq!(traces.spans_not_drawn, 50 + 6, "later traces, and the spans past the cap of one");
        assert!(traces.drawn(&format!("{:032x}", 0)) && !traces.drawn(&format!("{:032x}", MAX_TRACES)));
        let mut out = String::new();
        traces.render(&mut out, 0);
        assert!(out.contains("showing the first 200 traces to arrive; 56 of 319 exported spans"), "{out}");
        assert_eq!(out.matches("class=\"span-bar\"").count(), 319 - 56);
    }

    #[test]
    fn children_follow_their_parent_and_a_cycle_still_draws_every_span() {
        let mut traces = Traces::default();
        for (id, parent, start) in [
            ("child2", "root", 5),
            ("root", "caller", 0),
            ("child1", "root", 1),
            ("grandchild", "child1", 1),
            ("x", "y", 3),
            ("y", "x", 3),
        ] {
            traces.add(&span("t", id, parent, start, start + 1));
        }
        let trace = &traces.traces[0];
        let order: Vec<(&str, usize)> = trace.rows().iter().map(|(s, d)| (s.span_id.as_str(), *d)).collect();
        assert_eq!(
            order,
            [("root", 0), ("child1", 1), ("grandchild", 2), ("child2", 1), ("x", 0), ("y", 1)],
            "a cycle of parents (never from one module) is drawn once, from its first span"
        );
    }

    #[test]
    fn round_steps_and_millis() {
        assert_eq!(nice_step(1_300_000.0), 2_000_000.0);
        assert_eq!(nice_step(450.0), 500.0);
        assert_eq!(nice_step(0.0), 1.0);
        assert_eq!(ms(1_240_000_000), "1240 ms");
        assert_eq!(ms(500_000), "0.5 ms");
        assert_eq!(ms(0), "0 ms");
    }
}
