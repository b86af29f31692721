//! `cargo xtask demo`: meshlens in a real Envoy, on built-in sample traffic.
//!
//! Starts an application and an OTLP collector on 127.0.0.1, Envoy 1.40 with
//! `envoy-config/edge-gateway.yaml` in front of them, replays `tests/data/sample-traffic.json`
//! and prints, per request, what the client got back and what the application received, then
//! every span the collector got, the access-log lines Envoy wrote, then the module's own counters.
//! Envoy logs at Istio's default level, `warning`, with `--component-log-level wasm:info`, the
//! flag the shipped bootstraps document, so the access lines are written.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use meshlens_tests::envoy::{self, Envoy, Render};
use meshlens_tests::http::{self, Reply, Server};
use meshlens_tests::otlp::{self, Receiver};
use serde_json::Value;

const SAMPLE: &str = include_str!("../../data/sample-traffic.json");

fn main() {
    let sample: Value = serde_json::from_str(SAMPLE).expect("sample traffic is JSON");
    let requests = sample["requests"].as_array().expect("requests");
    let app = Server::start(|_| Reply::text(200, "{\"rows\": 10}"));
    let collector = Receiver::start();
    let render = Render { app_port: app.port(), collector_port: collector.server.port(), plugin_config: None };
    let (listener, admin) = (envoy::free_port(), envoy::free_port());
    let text = envoy::render("edge-gateway.yaml", &render, listener, admin);
    let envoy = Envoy::start_logging(&text, listener, admin, 1, &envoy::LOG_WARNING_WASM_INFO);
    println!("Envoy 1.40 + edge_telemetry.wasm listening on {} (admin {})", envoy.listener, envoy.admin);
    println!("Envoy logs with {}\n", envoy::LOG_WARNING_WASM_INFO.join(" "));

    for (i, r) in requests.iter().enumerate() {
        let path = r["path"].as_str().unwrap_or("/");
        let headers: Vec<(String, String)> = r["headers"]
            .as_object()
            .map(|h| h.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned())).collect())
            .unwrap_or_default();
        let refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let before = app.requests().len();
        let resp = http::get(envoy.listener, path, &refs).expect("request through Envoy");
        println!("{}. GET {path}  ({})", i + 1, r["note"].as_str().unwrap_or(""));
        for (k, v) in &refs {
            println!("     sent       {k}: {v}");
        }
        println!("     response   {}  x-trace-id: {}", resp.status(), resp.header("x-trace-id").unwrap_or("-"));
        match app.requests().get(before) {
            Some(up) => println!("     upstream   traceparent: {}", up.header("traceparent").unwrap_or("-")),
            None => println!("     upstream   (not reached: Envoy answered itself)"),
        }
    }

    let expected = requests.len() - 1; // the unsampled caller is propagated but not recorded
    let deadline = Instant::now() + Duration::from_secs(10);
    while collector.spans().len() < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("\nSpans received by the OTLP collector ({} payload(s)):", collector.payloads().len());
    for s in collector.spans() {
        let start: u64 = s.raw["startTimeUnixNano"].as_str().and_then(|v| v.parse().ok()).unwrap_or(0);
        let end: u64 = s.raw["endTimeUnixNano"].as_str().and_then(|v| v.parse().ok()).unwrap_or(0);
        let status = match s.raw["status"]["code"].as_u64() {
            Some(2) => "ERROR",
            _ => "unset",
        };
        println!(
            "  trace {}  span {}  parent {:<16}  {:<22} {:>3}  {:>7.2} ms  status {status}",
            s.trace_id,
            s.span_id,
            if s.parent_span_id.is_empty() { "-" } else { &s.parent_span_id },
            s.name,
            s.attribute("http.response.status_code").unwrap_or_default(),
            (end.saturating_sub(start)) as f64 / 1e6,
        );
    }
    let (valid, report) = otlp::validate_exports("traces", &collector.exports());
    println!(
        "\nOTLP protobuf decoded by opentelemetry-proto, then ../shared/tools/otlp_json_validate.py: {}",
        if valid { "all payloads valid" } else { "INVALID" }
    );
    if !valid {
        println!("{report}");
    }
    // Envoy flushes its log file every few seconds: wait for one line per request.
    let access = |log: &str| log.lines().filter(|l| l.contains("wasm log") && l.contains(": {\"")).count();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut log = envoy.log();
    while access(&log) < requests.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        log = envoy.log();
    }
    let access_lines: Vec<&str> = log.lines().filter(|l| l.contains("wasm log") && l.contains(": {\"")).collect();
    println!("\nAccess-log lines in Envoy's log ({}), the first:", access_lines.len());
    if let Some(line) = access_lines.first() {
        println!("  {line}");
    }
    let shown = |l: &&str| l.starts_with("meshlens_") && !l.contains("_bucket{") && !l.contains("_size_bytes");
    if let Some(metrics) = envoy.metrics {
        println!(
            "\nrequest metrics meshlens serves at http://{metrics}/meshlens/metrics (histogram buckets left out):"
        );
        for line in envoy.module_metrics().lines().filter(shown) {
            println!("  {line}");
        }
    }
    println!("\nmeshlens's own counters from Envoy's /stats/prometheus:");
    for line in envoy.prometheus().lines().filter(shown) {
        println!("  {line}");
    }
    if !valid {
        std::process::exit(1);
    }
}
