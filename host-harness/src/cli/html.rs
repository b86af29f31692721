//! The `html` report: one self-contained page (inline CSS, inline SVG, a few lines of inline
//! script to filter the access lines; no external asset, font or network request at view time)
//! rendered from what a replay produced. It keeps only bounded samples while the replay runs
//! (the first traces and access lines, [`Gather`]) and the aggregated metrics at the end, so it
//! runs in the same bounded memory as the other formats.
//!
//! Every value shown came from client traffic: all of it is escaped ([`escape::Esc`]), and none
//! of it goes into the script, which only reads the rendered table.

mod access_log;
mod escape;
mod histogram;
mod series;
mod status_mix;
mod waterfall;

use std::fmt::Write as _;
use std::io;

use escape::Esc;

use super::report::{Collector, LogReport, Metrics, SpanReport};
use super::time;

const CSS: &str = include_str!("html/report.css");
const JS: &str = include_str!("html/report.js");

/// What the report keeps while the replay runs: bounded samples of the traces and log lines.
#[derive(Debug, Default)]
pub struct Gather {
    traces: waterfall::Traces,
    logs: access_log::Lines,
}

impl Gather {
    /// One exported span.
    pub fn span(&mut self, span: &SpanReport) {
        self.traces.add(span);
    }

    /// One written log line.
    pub fn log(&mut self, log: &LogReport) {
        self.logs.add(log);
    }
}

/// What the run was given, for the header.
#[derive(Debug)]
pub struct Inputs {
    pub wasm: String,
    pub config: Option<String>,
    pub traffic: String,
    pub envoy_config: Option<String>,
    pub seed: u64,
    /// Root ticks the host delivered.
    pub ticks: u64,
}

/// Writes the page.
pub fn write(out: &mut dyn io::Write, c: &Collector, metrics: &Metrics, inputs: &Inputs) -> io::Result<()> {
    let mut page = String::with_capacity(1 << 16);
    head(&mut page);
    header(&mut page, c, inputs);
    let g = &c.html;
    let explanation = format!(
        "Each exported trace on its own time axis: one bar per span, placed at its start and as long as it \
         lasted (bar width = duration ÷ trace duration × {} units); children are indented under their \
         parent, CLIENT spans (the hop upstream) lighter, failed spans red. Hover a bar for its ids.",
        waterfall::W
    );
    section(&mut page, "waterfall", "Span waterfall", &explanation);
    let _ = writeln!(page, "<div class=\"traces\" data-width=\"{}\" data-x0=\"{}\">", waterfall::W, waterfall::X0);
    g.traces.render(&mut page, c.base_unix_nanos);
    page.push_str("</div></section>\n");
    section(
        &mut page,
        "histograms",
        "Latency per route",
        "The module's own request-duration histogram, per route: one bar per bucket with the requests it \
         counted (not recomputed from the exchanges). The lines mark p50, p95 and p99 as Prometheus's \
         histogram_quantile computes them: linear interpolation inside the bucket that holds the rank.",
    );
    let histograms = histogram::histograms(&metrics.samples);
    if histograms.is_empty() {
        page.push_str(
            "<p class=\"note\">No labelled duration histogram: pass <code>--envoy-config</code> with stats_tags \
             (e.g. envoy-config/edge-gateway.yaml) so the module's series carry their <code>route</code> and \
             <code>le</code> labels.</p>\n",
        );
    } else {
        page.push_str("<div class=\"charts\">\n");
        for h in &histograms {
            h.render(&mut page);
        }
        page.push_str("</div>\n");
    }
    page.push_str("</section>\n");
    section(
        &mut page,
        "status-mix",
        "Status codes per route",
        "Responses per route by status code, from the module's request counter: 2xx green, 3xx blue, 4xx \
         amber, 5xx red.",
    );
    status_mix::render(&mut page, &metrics.samples);
    page.push_str("</section>\n");
    section(
        &mut page,
        "access-log",
        "Access lines",
        "The JSON line the module logged for each request. Type to filter; a trace id links to its \
         waterfall when that trace is drawn.",
    );
    g.logs.render(&mut page, &g.traces);
    page.push_str("</section>\n");
    section(
        &mut page,
        "metrics",
        "Metric series",
        "Every series the module defined, as Envoy's /stats/prometheus would print it after the replay. As \
         Envoy counters (without metrics.endpoint) a histogram's sum is in whole seconds.",
    );
    series::render(&mut page, &metrics.samples);
    page.push_str("</section>\n");
    section(
        &mut page,
        "self-telemetry",
        "Self-telemetry",
        "What the module reports about itself (spans exported, dropped and failed; its memory; invalid trace \
         contexts...) and what the harness counted during the replay.",
    );
    series::self_telemetry(&mut page, &metrics.samples, &c.summary, inputs.ticks, &g.logs);
    page.push_str("</section>\n");
    let _ = write!(page, "</main>\n<script>\n{JS}</script>\n</body>\n</html>\n");
    out.write_all(page.as_bytes())
}

fn head(page: &mut String) {
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; \
         script-src 'unsafe-inline'\">\n<title>meshlens replay report</title>\n<style>\n{CSS}</style>\n</head>\n\
         <body>\n<main>\n"
    );
}

fn header(page: &mut String, c: &Collector, inputs: &Inputs) {
    let s = &c.summary;
    let end = c.base_unix_nanos.saturating_add(s.virtual_ms.saturating_mul(1_000_000));
    let _ = write!(
        page,
        "<header id=\"summary\">\n<h1>meshlens replay report</h1>\n<p class=\"lead\">What the proxy-wasm module did \
         to recorded traffic, replayed offline in the meshlens harness (a proxy-wasm host that behaves like Envoy) \
         on a virtual clock: the spans, metrics and log lines it produced.</p>\n<dl class=\"facts\">\n"
    );
    let mut fact = |name: &str, value: &str| {
        let _ = writeln!(page, "<dt>{name}</dt><dd>{}</dd>", Esc(value));
    };
    fact("module", &inputs.wasm);
    fact("configuration", inputs.config.as_deref().unwrap_or("(empty)"));
    fact("traffic", &inputs.traffic);
    if let Some(envoy) = &inputs.envoy_config {
        fact("Envoy stats_tags from", envoy);
    }
    fact(
        "exchanges",
        &format!(
            "{} ({} completed, {} local replies, {} held, {} reset)",
            s.exchanges, s.completed, s.local_replies, s.request_paused, s.reset
        ),
    );
    fact("spans exported", &s.spans.to_string());
    fact(
        "virtual time",
        &format!(
            "{} to {} ({:.3} s, final flush included)",
            time::format(c.base_unix_nanos),
            time::format(end),
            s.virtual_ms as f64 / 1000.0
        ),
    );
    fact("seed", &format!("{:#x}", inputs.seed));
    fact("meshlens", env!("CARGO_PKG_VERSION"));
    page.push_str("</dl>\n<nav>");
    for (id, name) in [
        ("waterfall", "Waterfall"),
        ("histograms", "Latency"),
        ("status-mix", "Status codes"),
        ("access-log", "Access lines"),
        ("metrics", "Metric series"),
        ("self-telemetry", "Self-telemetry"),
    ] {
        let _ = write!(page, "<a href=\"#{id}\">{name}</a>");
    }
    page.push_str("</nav>\n</header>\n");
}

/// Opens a section: its heading and the one-line explanation under it.
fn section(page: &mut String, id: &str, title: &str, explanation: &str) {
    let _ = writeln!(page, "<section id=\"{id}\">\n<h2>{title}</h2>\n<p class=\"explain\">{explanation}</p>");
}
