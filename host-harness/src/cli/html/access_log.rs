//! The module's JSON access-log lines as a table: the first [`MAX_LINES`] kept (each field
//! clipped), the other log lines (plain text and events) counted and the first few kept for the
//! self-telemetry section. A search box filters the rows in the page.

use std::fmt::Write;

use super::escape::{Esc, clip};
use super::waterfall::Traces;
use crate::cli::report::LogReport;

/// Access lines kept for the table.
pub const MAX_LINES: usize = 2_000;
/// Other log lines kept.
pub const MAX_OTHER: usize = 50;
/// Characters kept of one field.
const MAX_FIELD: usize = 160;

/// Columns shown first when a line has them, in this order; every other field goes to the last
/// column as `name=value`.
const COLUMNS: [&str; 9] =
    ["timestamp", "level", "method", "route", "path", "status", "duration_ms", "trace_id", "span_id"];

/// The log lines, gathered as the module writes them.
#[derive(Debug, Default)]
pub struct Lines {
    /// Access lines kept: their fields as text, in the line's order.
    lines: Vec<Vec<(String, String)>>,
    /// Access lines seen.
    pub access: usize,
    /// Other lines kept: level, source, message.
    pub other: Vec<(String, String)>,
    /// Other lines seen.
    pub others: usize,
}

impl Lines {
    /// Takes one written log line.
    pub fn add(&mut self, log: &LogReport) {
        let object = match serde_json::from_str::<serde_json::Value>(&log.message) {
            Ok(serde_json::Value::Object(object)) if !object.contains_key("event_type") => object,
            _ => {
                self.others += 1;
                if self.other.len() < MAX_OTHER {
                    self.other.push((log.level.clone(), clip(&log.message, 400)));
                }
                return;
            }
        };
        self.access += 1;
        if self.lines.len() < MAX_LINES {
            let fields = object
                .into_iter()
                .map(|(k, v)| {
                    let text = match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (clip(&k, 40), clip(&text, MAX_FIELD))
                })
                .collect();
            self.lines.push(fields);
        }
    }

    /// The section's body: the search box, the count, the table.
    pub fn render(&self, out: &mut String, traces: &Traces) {
        if self.access == 0 {
            out.push_str(
                "<p class=\"note\">The module wrote no JSON access lines (access_log off, or below --log-level).</p>\n",
            );
            return;
        }
        let shown = self.lines.len();
        let _ = write!(
            out,
            "<div class=\"search\"><input id=\"log-search\" type=\"search\" placeholder=\"Filter lines (any text, case-insensitive)\" \
             aria-label=\"filter access lines\" autocomplete=\"off\"> <span id=\"log-count\" data-total=\"{shown}\">{shown} of {shown} lines</span>"
        );
        if self.access > shown {
            let _ = write!(
                out,
                " <span class=\"muted\">(the first {shown} of {} access lines are kept)</span>",
                self.access
            );
        }
        out.push_str("</div>\n");
        let columns: Vec<&str> =
            COLUMNS.iter().copied().filter(|c| self.lines.iter().any(|l| l.iter().any(|(k, _)| k == c))).collect();
        out.push_str("<div class=\"scroll\"><table class=\"log\"><thead><tr>");
        for c in &columns {
            let _ = write!(out, "<th>{}</th>", Esc(c));
        }
        out.push_str("</tr></thead>\n");
        for line in &self.lines {
            let field = |name: &str| line.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
            let level = field("level").unwrap_or_default();
            let status = field("status").and_then(|s| s.parse::<u16>().ok()).unwrap_or(0);
            let row = if level == "error" || status >= 500 { " error" } else { "" };
            // One body per line: its main row, and its other fields on a row below.
            let _ = write!(out, "<tbody class=\"line{row}\"><tr>");
            for c in &columns {
                let value = field(c).unwrap_or_default();
                match *c {
                    "trace_id" if traces.drawn(value) => {
                        let _ =
                            write!(out, "<td><a href=\"#trace-{}\"><code>{}</code></a></td>", Esc(value), Esc(value));
                    }
                    "trace_id" | "span_id" => {
                        let _ = write!(out, "<td><code>{}</code></td>", Esc(value));
                    }
                    // The time of day; the whole timestamp on hover.
                    "timestamp" => {
                        let time = value.split_once('T').map_or(value, |(_, time)| time);
                        let _ = write!(out, "<td title=\"{}\">{}</td>", Esc(value), Esc(time));
                    }
                    "status" | "duration_ms" => {
                        let _ = write!(out, "<td class=\"num\">{}</td>", Esc(value));
                    }
                    _ => {
                        let _ = write!(out, "<td>{}</td>", Esc(value));
                    }
                }
            }
            let _ = write!(out, "</tr><tr class=\"more\"><td colspan=\"{}\">", columns.len());
            for (k, v) in line.iter().filter(|(k, _)| !columns.contains(&k.as_str()) && k != "message") {
                let _ = write!(out, "<span><b>{}</b>={}</span> ", Esc(k), Esc(v));
            }
            out.push_str("</td></tr></tbody>\n");
        }
        out.push_str("</table></div>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(message: &str) -> LogReport {
        LogReport {
            level: String::from("info"),
            context: 2,
            source: "stream",
            line: Some(1),
            message: message.to_owned(),
        }
    }

    #[test]
    fn access_lines_are_kept_up_to_the_cap_and_other_lines_apart() {
        let mut lines = Lines::default();
        lines.add(&line("meshlens: configured"));
        lines.add(&line(r#"{"event_type":"access_failure_burst","count":5}"#));
        for i in 0..MAX_LINES + 3 {
            lines.add(&line(&format!(
                r#"{{"status":200,"path":"/p{i}","trace_id":"{i:032x}","user_agent":"{}"}}"#,
                "u".repeat(500)
            )));
        }
        assert_eq!(
            (lines.access, lines.lines.len(), lines.others, lines.other.len()),
            (MAX_LINES + 3, MAX_LINES, 2, 2)
        );
        let agent = &lines.lines[0].iter().find(|(k, _)| k == "user_agent").unwrap().1;
        assert_eq!(agent.chars().count(), MAX_FIELD + 1, "clipped, with an ellipsis");
        let mut out = String::new();
        lines.render(&mut out, &Traces::default());
        assert!(out.contains("2000 of 2000 lines"));
        assert!(out.contains("(the first 2000 of 2003 access lines are kept)"));
        assert!(!out.contains("href="), "no trace is drawn, so no link");
        assert_eq!(out.matches("<tbody class=\"line\">").count(), MAX_LINES);
    }
}
