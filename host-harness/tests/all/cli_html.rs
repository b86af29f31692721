//! `meshlens run --format html`: the page the sample replay draws holds exactly what the JSON
//! report of the same replay does (a bar per exported span, proportional to its duration; the
//! module's bucket counts and quantiles; the status mix; the access lines, linked to drawn
//! traces), references nothing outside itself, and escapes hostile traffic.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use regex::Regex;
use serde_json::Value;

use crate::cli::{meshlens, run_sample, scratch, stderr};
use crate::support::{edge_telemetry_path, repo_root};

fn gateway() -> String {
    repo_root().join("envoy-config/edge-gateway.yaml").display().to_string()
}

/// The sample's HTML page (through `--out`) and its JSON report, both with the gateway's tags.
fn sample(test: &str) -> (String, Value) {
    let path = scratch(test).join("report.html");
    let out = run_sample(&["--format", "html", "--envoy-config", &gateway(), "--out", &path.display().to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "the page goes to --out");
    let html = std::fs::read_to_string(&path).unwrap();
    let out = run_sample(&["--format", "json", "--envoy-config", &gateway()]);
    assert!(out.status.success(), "{}", stderr(&out));
    (html, serde_json::from_slice(&out.stdout).unwrap())
}

/// The HTML page and the JSON report of `traffic` under the sample configuration.
fn replay(test: &str, traffic: &str) -> (String, Value) {
    let dir = scratch(test);
    let path = dir.join("traffic.jsonl");
    std::fs::write(&path, traffic).unwrap();
    let config = repo_root().join("host-harness/testdata/chat2sql.config.json");
    let run = |format: &str, out: &std::path::Path| {
        let out = meshlens(&[
            "run".into(),
            "--wasm".into(),
            edge_telemetry_path().display().to_string(),
            "--config".into(),
            config.display().to_string(),
            "--traffic".into(),
            path.display().to_string(),
            "--envoy-config".into(),
            gateway(),
            "--format".into(),
            format.to_owned(),
            "--out".into(),
            out.display().to_string(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    };
    run("html", &dir.join("report.html"));
    run("json", &dir.join("report.json"));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    (html, serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap())
}

/// The attributes of every element whose class is exactly `class`.
fn elements(html: &str, class: &str) -> Vec<HashMap<String, String>> {
    let tag = Regex::new(r"<[a-z]+\s([^>]*)>").unwrap();
    let attribute = Regex::new(r#"([a-z-]+)="([^"]*)""#).unwrap();
    tag.captures_iter(html)
        .map(|c| attribute.captures_iter(&c[1]).map(|a| (a[1].to_owned(), a[2].to_owned())).collect::<HashMap<_, _>>())
        .filter(|a| a.get("class").map(String::as_str) == Some(class))
        .collect()
}

fn number(a: &HashMap<String, String>, key: &str) -> f64 {
    a[key].parse().unwrap_or_else(|_| panic!("{key}={:?}", a[key]))
}

/// The samples of `name`, as (labels, value).
fn samples<'a>(json: &'a Value, name: &'a str) -> impl Iterator<Item = (&'a Value, f64)> + 'a {
    json["metrics"]["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(move |s| s["name"] == name)
        .map(|s| (&s["labels"], s["value"].as_f64().unwrap()))
}

#[test]
fn the_page_is_self_contained_and_every_link_resolves() {
    let (html, _) = sample("html_self_contained");
    assert!(html.starts_with("<!DOCTYPE html>"));
    for external in ["http://", "https://", "url(", "@import", "<link", "<iframe", "<img"] {
        assert!(!html.contains(external), "{external} in the page");
    }
    assert!(!Regex::new(r"\ssrc\s*=").unwrap().is_match(&html), "no src= at all");
    assert_eq!(html.matches("<script").count(), 1, "one inline script, no script from elsewhere");
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));
    let ids: BTreeSet<&str> =
        Regex::new(r#"\sid="([^"]+)""#).unwrap().captures_iter(&html).map(|c| c.get(1).unwrap().as_str()).collect();
    let hrefs: Vec<&str> =
        Regex::new(r#"href="([^"]*)""#).unwrap().captures_iter(&html).map(|c| c.get(1).unwrap().as_str()).collect();
    assert!(hrefs.len() > 6, "the navigation and the trace links");
    for href in hrefs {
        let target = href.strip_prefix('#').unwrap_or_else(|| panic!("a link out of the page: {href}"));
        assert!(ids.contains(target), "{href} points nowhere");
    }
    for section in ["waterfall", "histograms", "status-mix", "access-log", "metrics", "self-telemetry"] {
        assert!(html.contains(&format!("<section id=\"{section}\">\n<h2>")), "section {section}");
    }
}

#[test]
fn the_waterfall_draws_one_bar_per_exported_span_as_wide_as_its_duration() {
    let (html, json) = sample("html_waterfall");
    let spans = check_waterfall(&html, &json);
    assert!(spans > 100);
    // In the sample a trace is one request (its SERVER and CLIENT spans last as long), so every
    // bar spans its trace; requests that share a trace id make one trace of different bars.
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let exchange = |at_ms: u64, latency_ms: u64, status: u16| {
        serde_json::json!({
            "method": "POST", "path": "/api/v1/query", "at_ms": at_ms, "headers": {"traceparent": traceparent},
            "response": {"status": status, "latency_ms": latency_ms}
        })
        .to_string()
    };
    let traffic = [exchange(0, 1000, 200), exchange(250, 250, 200), exchange(400, 100, 503)].join("\n");
    let (html, json) = replay("html_waterfall_shared_trace", &traffic);
    assert_eq!(check_waterfall(&html, &json), 6);
    let widths: BTreeSet<String> = elements(&html, "span-bar").iter().map(|b| b["width"].clone()).collect();
    assert_eq!(widths.into_iter().collect::<Vec<_>>(), ["180.0000", "72.0000", "720.0000"]);
    let offsets: BTreeSet<String> = elements(&html, "span-bar").iter().map(|b| b["x"].clone()).collect();
    assert_eq!(offsets.into_iter().collect::<Vec<_>>(), ["450.0000", "630.0000", "738.0000"]);
}

/// Checks every bar against the JSON report's spans; returns how many.
fn check_waterfall(html: &str, json: &Value) -> usize {
    let spans = json["spans"].as_array().unwrap();
    let bars = elements(html, "span-bar");
    assert_eq!(bars.len(), spans.len(), "one bar per exported span");
    let geometry = Regex::new(r#"class="traces" data-width="([0-9.]+)" data-x0="([0-9.]+)""#).unwrap();
    let geometry = geometry.captures(html).unwrap();
    let (w, x0): (f64, f64) = (geometry[1].parse().unwrap(), geometry[2].parse().unwrap());
    // Each trace runs from its first span's start to its last span's end.
    let mut traces: HashMap<&str, (u64, u64)> = HashMap::new();
    for s in spans {
        let (start, end) = (s["start_unix_nanos"].as_u64().unwrap(), s["end_unix_nanos"].as_u64().unwrap());
        let t = traces.entry(s["trace_id"].as_str().unwrap()).or_insert((start, end));
        *t = (t.0.min(start), t.1.max(end));
    }
    for s in spans {
        let bar = bars.iter().find(|b| b["data-span-id"] == s["span_id"].as_str().unwrap()).unwrap();
        assert_eq!(bar["data-trace-id"], s["trace_id"].as_str().unwrap());
        assert_eq!(bar["data-kind"], s["kind"].as_str().unwrap().to_uppercase());
        assert_eq!(bar["data-status"], s["status"].as_str().unwrap());
        let (start, end) = (s["start_unix_nanos"].as_u64().unwrap(), s["end_unix_nanos"].as_u64().unwrap());
        assert_eq!(number(bar, "data-duration-ns"), (end - start) as f64);
        let (first, last) = traces[s["trace_id"].as_str().unwrap()];
        let scale = w / (last - first) as f64;
        let (width, x) = ((end - start) as f64 * scale, x0 + (start - first) as f64 * scale);
        assert!((number(bar, "width") - width).abs() < 1e-3, "span {}: {} != {width}", s["span_id"], bar["width"]);
        assert!((number(bar, "x") - x).abs() < 1e-3, "span {}: x {} != {x}", s["span_id"], bar["x"]);
        assert!(html.contains(&format!("id=\"trace-{}\"", s["trace_id"].as_str().unwrap())));
    }
    let errors = bars.iter().filter(|b| b["data-status"] == "error").count();
    assert_eq!(errors, spans.iter().filter(|s| s["status"] == "error").count());
    assert!(errors > 0);
    spans.len()
}

#[test]
fn histogram_bars_are_the_module_bucket_counts_and_quantiles_interpolate() {
    let (html, json) = sample("html_histograms");
    // route -> le -> cumulative count, summed over the route's series.
    let mut routes: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for (labels, value) in samples(&json, "meshlens_http_request_duration_seconds_bucket") {
        let route = labels["route"].as_str().unwrap().to_owned();
        *routes.entry(route).or_default().entry(labels["le"].as_str().unwrap().to_owned()).or_default() += value;
    }
    assert!(routes.len() >= 4);
    let bars = elements(&html, "hist-bar");
    let bound = |le: &str| if le == "+Inf" { f64::INFINITY } else { le.parse::<f64>().unwrap() };
    let mut drawn = 0;
    for (route, buckets) in &routes {
        let mut buckets: Vec<(f64, &str, f64)> = buckets.iter().map(|(le, n)| (bound(le), le.as_str(), *n)).collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut previous = 0.0;
        for (_, le, cumulative) in &buckets {
            let bar = bars.iter().find(|b| b["data-route"] == *route && b["data-le"] == *le).unwrap();
            assert_eq!(number(bar, "data-count"), cumulative - previous, "{route} le={le}");
            previous = *cumulative;
            drawn += 1;
        }
        // histogram_quantile: the bucket holding the rank, linear inside it.
        let total = buckets.last().unwrap().2;
        let chart = html
            .split("<figure class=\"histogram\">")
            .find(|f| f.contains(&format!("data-route=\"{route}\"")))
            .unwrap();
        let marks = elements(chart, "quantile");
        assert_eq!(marks.len(), 3, "{route}");
        for (mark, q) in marks.iter().zip([0.5, 0.95, 0.99]) {
            assert_eq!(number(mark, "data-q"), q);
            let rank = q * total;
            let at = buckets.iter().position(|b| b.2 >= rank).unwrap();
            let (lower, below) = if at == 0 { (0.0, 0.0) } else { (buckets[at - 1].0, buckets[at - 1].2) };
            let (le, _, count) = buckets[at];
            let expected =
                if le.is_infinite() { lower } else { lower + (le - lower) * (rank - below) / (count - below) };
            assert!(
                (number(mark, "data-seconds") - expected).abs() < 1e-9,
                "{route} q={q}: {} != {expected}",
                mark["data-seconds"]
            );
        }
    }
    assert_eq!(bars.len(), drawn, "no other bars");
    // Seven /health requests, all in the first bucket (le 0.005): the median is half its width.
    let health = html.split("<figure class=\"histogram\">").find(|f| f.contains("data-route=\"/health\"")).unwrap();
    assert_eq!(elements(health, "quantile")[0]["data-seconds"], "0.0025");
    assert!(health.contains("p50 <strong>2.5 ms</strong>"));
}

#[test]
fn the_status_mix_and_the_access_lines_match_the_module_output() {
    let (html, json) = sample("html_status_and_logs");
    let mut mix: BTreeMap<(String, String), f64> = BTreeMap::new();
    for (labels, value) in samples(&json, "meshlens_http_requests_total") {
        let key = (labels["route"].as_str().unwrap().to_owned(), labels["status_code"].as_str().unwrap().to_owned());
        *mix.entry(key).or_default() += value;
    }
    let segments = elements(&html, "seg s5");
    assert!(!segments.is_empty(), "the sample has 5xx responses");
    for ((route, code), n) in &mix {
        let class = format!("seg s{}", &code[..1]);
        let seg = elements(&html, &class).into_iter().find(|s| s["data-route"] == *route && s["data-status"] == *code);
        assert_eq!(number(&seg.unwrap(), "data-count"), *n, "{route} {code}");
    }

    let access: Vec<Value> = json["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l["message"].as_str().unwrap()).ok())
        .filter(|l| l.is_object())
        .collect();
    let table = html.split("<section id=\"access-log\">").nth(1).unwrap().split("</section>").next().unwrap();
    assert_eq!(table.matches("<tbody class=\"line").count(), access.len(), "a row per access line");
    assert!(table.contains(&format!("{n} of {n} lines", n = access.len())));
    let sampled: BTreeSet<&str> =
        json["spans"].as_array().unwrap().iter().map(|s| s["trace_id"].as_str().unwrap()).collect();
    let links: Vec<&str> = Regex::new(r##"href="#trace-([0-9a-f]{32})""##)
        .unwrap()
        .captures_iter(table)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    let expected: Vec<&str> =
        access.iter().map(|l| l["trace_id"].as_str().unwrap()).filter(|t| sampled.contains(t)).collect();
    assert_eq!(links, expected, "each sampled line links to its trace, the others do not");
    assert!(links.len() > 30 && links.len() < access.len());
    assert!(table.contains("<input id=\"log-search\""));
}

#[test]
fn hostile_paths_and_headers_come_out_escaped() {
    let line = |path: &str, agent: &str| {
        serde_json::json!({
            "method": "POST", "path": path,
            "headers": {"user-agent": agent, "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
            "response": {"status": 500, "latency_ms": 7}
        })
        .to_string()
    };
    let traffic = [
        line("/api/v1/query/<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>"),
        line("/x'\"><svg onload=alert(2)>", "<script>alert(3)</script>"),
    ]
    .join("\n");
    let (html, json) = replay("html_escaping", &traffic);
    assert_eq!(json["spans"].as_array().unwrap().len(), 4, "both requests are drawn");
    assert_eq!(html.matches("<script").count(), 1, "only the page's own script");
    for raw in ["<img", "<svg onload", "onerror=alert(1)>", "alert(1)</script>"] {
        assert!(!html.contains(raw), "{raw} came out raw");
    }
    // The values are shown, escaped: in the access lines and the span tooltips.
    for escaped in [
        "/api/v1/query/&lt;script&gt;alert(1)&lt;/script&gt;",
        "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;",
        "/x&#39;&quot;&gt;&lt;svg onload=alert(2)&gt;",
        "&lt;script&gt;alert(3)&lt;/script&gt;",
    ] {
        assert!(html.contains(escaped), "{escaped} missing");
    }
}
