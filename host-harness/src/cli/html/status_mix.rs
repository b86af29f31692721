//! Status mix per route: the module's request counter (`*_http_requests_total`) summed per route
//! and status code, as a stacked bar and the counts.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::escape::Esc;
use super::histogram::number;
use crate::cli::prometheus::Sample;

/// Requests per status code, per route.
pub fn mix(samples: &[Sample]) -> BTreeMap<String, BTreeMap<String, f64>> {
    let mut routes: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name.ends_with("_http_requests_total")) {
        let label = |k: &str| s.labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let (Some(route), Some(value)) = (label("route"), s.value.as_f64()) else { continue };
        let code = label("status_code").or(label("status_class")).unwrap_or("-");
        *routes.entry(route.to_owned()).or_default().entry(code.to_owned()).or_default() += value;
    }
    routes
}

/// The section's body.
pub fn render(out: &mut String, samples: &[Sample]) {
    let routes = mix(samples);
    if routes.is_empty() {
        out.push_str(
            "<p class=\"note\">The request counter has no <code>route</code> label here: pass <code>--envoy-config</code> \
             with stats_tags (e.g. envoy-config/edge-gateway.yaml) to see it per route.</p>\n",
        );
        return;
    }
    out.push_str("<table class=\"mix\"><thead><tr><th>route</th><th class=\"num\">requests</th><th>status codes</th></tr></thead><tbody>\n");
    for (route, codes) in &routes {
        let total: f64 = codes.values().sum();
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td><div class=\"stack\">",
            Esc(route),
            number(total)
        );
        for (code, n) in codes {
            let share = if total > 0.0 { n / total * 100.0 } else { 0.0 };
            let _ = write!(
                out,
                "<span class=\"seg {}\" style=\"width:{share:.3}%\" data-route=\"{}\" data-status=\"{}\" data-count=\"{}\" \
                 title=\"{}: {}\"></span>",
                class(code),
                Esc(route),
                Esc(code),
                number(*n),
                Esc(code),
                number(*n)
            );
        }
        out.push_str("</div><div class=\"chips\">");
        for (code, n) in codes {
            let _ = write!(out, "<span class=\"chip {}\">{} × {}</span> ", class(code), Esc(code), number(*n));
        }
        out.push_str("</div></td></tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

/// The colour class of a status code or class: `s2`, `s3`, `s4`, `s5`, or `s0`.
fn class(code: &str) -> &'static str {
    match code.as_bytes().first() {
        Some(b'1' | b'2') => "s2",
        Some(b'3') => "s3",
        Some(b'4') => "s4",
        Some(b'5') => "s5",
        _ => "s0",
    }
}
