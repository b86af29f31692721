//! Latency histograms per route, drawn from the module's own duration buckets as the harness
//! reports the metric series (`*_seconds_bucket{route=...,le=...}`, the Prometheus rendering of
//! `cli/prometheus.rs`), never recomputed from the exchanges. The series of a route (one per
//! method, status code...) are summed per `le`, as `sum by (route, le)` would; each bar is one
//! bucket's own count (the cumulative count minus the previous bucket's), and the tallest bar is
//! the full height.
//!
//! Quantiles are PromQL's `histogram_quantile` over the summed cumulative buckets: the bucket
//! holding rank `q * total` is found and the value interpolated linearly between its lower bound
//! (the previous bucket's `le`, 0 for the first) and its `le`; a rank in `+Inf` gives the highest
//! finite bound. The mark is drawn at the same fraction of that bucket's bar.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::escape::Esc;
use crate::cli::prometheus::Sample;
use crate::cli::summary::histogram_quantile;

/// The quantiles marked on every histogram.
pub const QUANTILES: [f64; 3] = [0.5, 0.95, 0.99];

const SVG_W: f64 = 580.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 40.0;
const PLOT_H: f64 = 140.0;
const BOTTOM: f64 = 34.0;

/// One family's buckets for one route, summed over the route's series.
#[derive(Debug)]
pub struct Histogram {
    pub family: String,
    /// Empty when the series carry no `route` label.
    pub route: String,
    /// `(le, le as written, cumulative count)`, by `le`.
    pub buckets: Vec<(f64, String, f64)>,
    pub count: f64,
}

/// Every `*_seconds` histogram in the samples, per family and route.
pub fn histograms(samples: &[Sample]) -> Vec<Histogram> {
    let mut groups: BTreeMap<(String, String), (BTreeMap<String, f64>, f64)> = BTreeMap::new();
    for s in samples {
        let label = |k: &str| s.labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let Some(value) = s.value.as_f64() else { continue };
        let route = label("route").unwrap_or_default().to_owned();
        if let Some(family) = s.name.strip_suffix("_bucket").filter(|f| f.ends_with("_seconds"))
            && let Some(le) = label("le")
        {
            *groups.entry((family.to_owned(), route)).or_default().0.entry(le.to_owned()).or_default() += value;
        } else if let Some(family) = s.name.strip_suffix("_count").filter(|f| f.ends_with("_seconds")) {
            groups.entry((family.to_owned(), route)).or_default().1 += value;
        }
    }
    groups
        .into_iter()
        .filter(|(_, (buckets, _))| !buckets.is_empty())
        .map(|((family, route), (buckets, count))| {
            let mut buckets: Vec<(f64, String, f64)> = buckets
                .into_iter()
                .map(|(le, n)| (if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap_or(f64::NAN) }, le, n))
                .filter(|(le, _, _)| !le.is_nan())
                .collect();
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            Histogram { family, route, buckets, count }
        })
        .collect()
}

impl Histogram {
    /// Each bucket's own count (non-cumulative), in order.
    pub fn counts(&self) -> Vec<f64> {
        let mut previous = 0.0;
        self.buckets
            .iter()
            .map(|(_, _, cumulative)| {
                let own = (cumulative - previous).max(0.0);
                previous = previous.max(*cumulative);
                own
            })
            .collect()
    }

    /// `histogram_quantile(q, ...)` over the buckets; `None` without observations.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let cumulative: Vec<(f64, f64)> = self.buckets.iter().map(|(le, _, n)| (*le, *n)).collect();
        histogram_quantile(q, &cumulative)
    }

    /// One chart: a bar per bucket, the quantile marks, the counts.
    pub fn render(&self, out: &mut String) {
        let counts = self.counts();
        let max = counts.iter().copied().fold(0.0, f64::max);
        let slot = (SVG_W - LEFT - RIGHT) / counts.len().max(1) as f64;
        let height = TOP + PLOT_H + BOTTOM;
        let route = if self.route.is_empty() { "(no route label)" } else { self.route.as_str() };
        let _ = writeln!(
            out,
            "<figure class=\"histogram\"><figcaption><strong>{}</strong> <span class=\"muted\">{}</span></figcaption>\n\
             <svg viewBox=\"0 0 {SVG_W} {height}\" width=\"{SVG_W}\" height=\"{height}\" role=\"img\" \
             aria-label=\"latency histogram of {}\">",
            Esc(route),
            Esc(&self.family),
            Esc(route)
        );
        let base = TOP + PLOT_H;
        let _ = writeln!(
            out,
            "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\"/>\
             <text class=\"tick\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
             <text class=\"tick\" x=\"{}\" y=\"{base}\" text-anchor=\"end\">0</text>",
            SVG_W - RIGHT,
            LEFT - 6.0,
            TOP + 4.0,
            number(max),
            LEFT - 6.0
        );
        for (i, ((_, le, _), count)) in self.buckets.iter().zip(&counts).enumerate() {
            let h = if max > 0.0 { count / max * PLOT_H } else { 0.0 };
            let x = LEFT + slot * i as f64 + 2.0;
            let _ = writeln!(
                out,
                "<rect class=\"hist-bar\" x=\"{x:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{h:.2}\" data-route=\"{}\" \
                 data-le=\"{}\" data-count=\"{}\"><title>le {}: {} in this bucket</title></rect>\
                 <text class=\"tick\" x=\"{:.2}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                base - h,
                slot - 4.0,
                Esc(&self.route),
                Esc(le),
                number(*count),
                Esc(le),
                number(*count),
                x + (slot - 4.0) / 2.0,
                base + 14.0,
                Esc(le)
            );
            if *count > 0.0 {
                let _ = writeln!(
                    out,
                    "<text class=\"count\" x=\"{:.2}\" y=\"{:.2}\" text-anchor=\"middle\">{}</text>",
                    x + (slot - 4.0) / 2.0,
                    base - h - 3.0,
                    number(*count)
                );
            }
        }
        let _ = writeln!(
            out,
            "<text class=\"tick\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">bucket upper bound le (seconds)</text>",
            LEFT + (SVG_W - LEFT - RIGHT) / 2.0,
            base + 30.0
        );
        let mut values = Vec::new();
        for (n, q) in QUANTILES.iter().enumerate() {
            let Some(seconds) = self.quantile(*q) else { continue };
            let x = self.x_of(seconds, slot);
            let name = format!("p{}", (q * 100.0).round());
            // Labels in the right half go on the left of their line, so they stay in the chart.
            let right_half = x > LEFT + (SVG_W - LEFT - RIGHT) / 2.0;
            let anchor = if right_half { "end" } else { "start" };
            let _ = writeln!(
                out,
                "<line class=\"quantile\" data-q=\"{q}\" data-seconds=\"{seconds}\" x1=\"{x:.2}\" y1=\"{}\" \
                 x2=\"{x:.2}\" y2=\"{base}\"/><text class=\"q-label\" x=\"{:.2}\" y=\"{}\" \
                 text-anchor=\"{anchor}\">{name} {}</text>",
                12.0 + 11.0 * n as f64,
                if right_half { x - 3.0 } else { x + 3.0 },
                10.0 + 11.0 * n as f64,
                seconds_text(seconds)
            );
            values.push(format!("{name} <strong>{}</strong>", seconds_text(seconds)));
        }
        out.push_str("</svg>\n");
        // No sum or mean: as Envoy counters (without metrics.endpoint) the module's `_sum` is in
        // whole seconds; the series table shows it as reported.
        let quantiles = if values.is_empty() { String::from("no observations") } else { values.join(" · ") };
        let requests = if self.count == 1.0 { "request" } else { "requests" };
        let _ = writeln!(out, "<p class=\"stats\">{} {requests} · {quantiles}</p></figure>", number(self.count));
    }

    /// Where `seconds` falls along the bars: in the bucket `(lower, le]` holding it, at the same
    /// fraction of the bar as of the bucket (the interpolation `histogram_quantile` makes).
    fn x_of(&self, seconds: f64, slot: f64) -> f64 {
        let at =
            self.buckets.iter().position(|(le, _, _)| *le >= seconds).unwrap_or(self.buckets.len().saturating_sub(1));
        let lower = at.checked_sub(1).and_then(|i| self.buckets.get(i)).map_or(0.0, |b| b.0);
        let upper = self.buckets.get(at).map_or(seconds, |b| b.0);
        let fraction = if upper.is_finite() && upper > lower {
            ((seconds - lower) / (upper - lower)).clamp(0.0, 1.0)
        } else {
            0.0
        };
        LEFT + slot * at as f64 + 2.0 + (slot - 4.0) * fraction
    }
}

/// Seconds for people: `0.438 s`, `12 ms`.
pub fn seconds_text(seconds: f64) -> String {
    if seconds < 1.0 { format!("{:.1} ms", seconds * 1000.0) } else { format!("{seconds:.3} s") }
}

/// A count or value: whole numbers without a fraction.
pub fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 9.0e15 { format!("{}", value as i64) } else { format!("{value}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str, labels: &[(&str, &str)], value: f64) -> Sample {
        Sample {
            name: name.to_owned(),
            kind: None,
            labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            value: serde_json::json!(value),
        }
    }

    #[test]
    fn series_of_a_route_are_summed_and_buckets_sorted_by_bound() {
        let name = "m_http_request_duration_seconds_bucket";
        let samples = [
            sample(name, &[("route", "/a"), ("status_code", "200"), ("le", "10")], 3.0),
            sample(name, &[("route", "/a"), ("status_code", "200"), ("le", "2.5")], 2.0),
            sample(name, &[("route", "/a"), ("status_code", "200"), ("le", "+Inf")], 4.0),
            sample(name, &[("route", "/a"), ("status_code", "500"), ("le", "2.5")], 1.0),
            sample(name, &[("route", "/a"), ("status_code", "500"), ("le", "10")], 1.0),
            sample(name, &[("route", "/a"), ("status_code", "500"), ("le", "+Inf")], 1.0),
            sample("m_http_request_duration_seconds_count", &[("route", "/a")], 5.0),
            sample("m_http_request_size_bytes_bucket", &[("route", "/a"), ("le", "1")], 9.0),
        ];
        let h = histograms(&samples);
        assert_eq!(h.len(), 1, "sizes are not latency");
        let les: Vec<&str> = h[0].buckets.iter().map(|b| b.1.as_str()).collect();
        assert_eq!(les, ["2.5", "10", "+Inf"]);
        assert_eq!(h[0].counts(), [3.0, 1.0, 1.0]);
        assert_eq!(h[0].count, 5.0);
        // Rank 2.5 of 5 falls in (0, 2.5], 2.5/3 of the way up.
        assert_eq!(h[0].quantile(0.5), Some(2.5 * 2.5 / 3.0));
        assert_eq!(h[0].quantile(0.99), Some(10.0), "+Inf gives the highest finite bound");
        let mut out = String::new();
        h[0].render(&mut out);
        assert!(out.contains("data-le=\"+Inf\" data-count=\"1\""), "{out}");
        assert_eq!(out.matches("class=\"quantile\"").count(), 3);
    }
}
