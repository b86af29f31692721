//! The module's linear memory does not grow with traffic.
//!
//! Wasm memory never shrinks: a `memory.grow` is permanent for the life of the VM. A filter that
//! keeps anything per request, per trace, per client or per path without a bound shows up here as
//! a larger memory after more requests.

use std::time::{Duration, Instant};

use host_harness::metrics::MetricValue;
use host_harness::properties::Value;
use host_harness::{Host, HttpResponse, Responder};

use crate::support::edge_telemetry;

/// Every section on: tracing at 100% to a collector that answers, metrics, access logs to both
/// sinks, security events with the default client table.
const CONFIG: &str = r#"{
    "service": {"name": "edge-gateway", "version": "0.1.0"},
    "routes": ["/api/v1/query", "/api/v1/sql/execute", "/api/v1/schemas/{schema}", "/users/{id}",
               "/users/{id}/orders", "/users/{id}/orders/{order}", "/orders/{id}", "/login",
               "/logout", "/health", "/static/*"],
    "tracing": {"sampling": {"ratio": 1.0}, "exporter": {"cluster": "otel_collector"}},
    "metrics": {"reporter": "gateway"},
    "access_log": {"sinks": ["proxy_log", "otlp"]},
    "security": {"enabled": true}
}"#;

const REQUESTS: u32 = 100_000;
const WARM_UP: u32 = 10_000;
const CHECKPOINT: u32 = 10_000;
const OVERFLOW: &str = "meshlens_metrics_series_overflow_total;metric=meshlens_http_requests_total";

/// A xorshift generator: the same traffic on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// One request with everything varying: method, routed and unrouted paths with ids and query
/// strings (some carrying secrets), incoming trace context in each format (and invalid), user
/// agents, credentials, client addresses, statuses, bodies and latency.
fn request(h: &mut Host, rng: &mut Rng) {
    let method = rng.pick(&["GET", "GET", "GET", "GET", "POST", "POST", "PUT", "DELETE", "PATCH", "HEAD", "PURGE"]);
    let id = rng.next();
    let path = match rng.below(10) {
        0..=3 => format!("/api/v1/query?q=select+{}&limit={}", id % 1000, id % 50),
        4 => String::from("/api/v1/sql/execute"),
        5 => format!("/users/{}/orders/{}?access_token={id:x}", id % 100_000, id % 977),
        6 => format!("/static/js/app.{:x}.js", id & 0xff_ffff),
        7 => format!("/users/u{id}@example.com/profile"),
        8 => String::from(rng.pick(&["/login", "/logout", "/health"])),
        _ => format!("/unrouted/{id:x}/{}", rng.next() % 1000),
    };
    let traceparent = format!("00-{:016x}{:016x}-{:016x}-01", rng.next() | 1, rng.next(), rng.next() | 1);
    let b3 = format!("{:016x}{:016x}-{:016x}-1", rng.next() | 1, rng.next(), rng.next() | 1);
    let user_agent =
        format!("{}/{}.{}", rng.pick(&["Mozilla/5.0", "curl", "okhttp", "python-requests"]), id % 30, id % 7);
    let request_id = format!("{:016x}-{:08x}", rng.next(), id as u32);
    let mut headers: Vec<(&str, &str)> = vec![
        (":method", method),
        (":path", &path),
        (":authority", "api.example.com"),
        (":scheme", "https"),
        ("user-agent", &user_agent),
        ("x-request-id", &request_id),
        ("accept", "application/json"),
    ];
    match rng.below(10) {
        0..=3 => headers.push(("traceparent", &traceparent)),
        4 => headers.push(("b3", &b3)),
        5 => headers.push(("traceparent", "00-not-a-valid-traceparent-01")),
        _ => {}
    }
    if rng.below(4) == 0 {
        headers.push(("authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl"));
    }
    let client = format!("10.{}.{}.{}:{}", rng.below(256), rng.below(256), rng.below(256), 1024 + rng.below(60_000));
    let odd_status = (100 + rng.below(500)).to_string();
    let status = match rng.below(20) {
        0 => odd_status.as_str(),
        _ => rng
            .pick(&["200", "200", "200", "200", "201", "204", "304", "400", "401", "403", "404", "429", "500", "503"]),
    };
    let with_body = method == "POST" || method == "PUT";
    let response_body = rng.below(3) == 0;

    let s = h.new_stream();
    h.set_stream_property(s, &["source", "address"], Value::String(client)).unwrap();
    h.request_headers(s, &headers, !with_body).unwrap();
    if with_body {
        h.request_body(s, br#"{"sql":"select 1"}"#, true).unwrap();
    }
    h.advance(Duration::from_micros(200 + rng.below(4_800))).unwrap();
    h.response_headers(s, &[(":status", status), ("content-type", "application/json")], !response_body).unwrap();
    if response_body {
        h.response_body(s, br#"{"rows":[[1]]}"#, true).unwrap();
    }
    h.complete(s).unwrap();
    h.remove_stream(s);
}

fn counter(h: &Host, name: &str) -> u64 {
    match h.metrics().value(name) {
        Some(MetricValue::Counter(n)) => n,
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn linear_memory_does_not_grow_with_traffic() {
    let mut h = Host::builder(&edge_telemetry())
        .root_id("meshlens")
        .plugin_config(CONFIG)
        .respond("otel_collector", Responder::Respond(HttpResponse { status: 200, ..Default::default() }))
        .build()
        .unwrap();
    let started = Instant::now();
    let configured = h.memory_bytes();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut sizes = Vec::new();
    let mut overflow_at_warm_up = 0;
    for i in 1..=REQUESTS {
        request(&mut h, &mut rng);
        if i % CHECKPOINT == 0 {
            sizes.push((i, h.memory_bytes()));
        }
        if i == WARM_UP {
            overflow_at_warm_up = counter(&h, OVERFLOW);
        }
    }
    h.advance(Duration::from_secs(2)).unwrap();
    let elapsed = started.elapsed();

    let at = |n: u32| sizes.iter().find(|(i, _)| *i == n).map(|(_, bytes)| *bytes).unwrap();
    eprintln!("linear memory: {configured} bytes after on_configure");
    for (i, bytes) in &sizes {
        eprintln!("linear memory: {bytes} bytes after {i} requests");
    }
    eprintln!(
        "{REQUESTS} requests in {:.1} s ({:.1} µs per request), {} export calls, {} stat names",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / f64::from(REQUESTS),
        h.http_calls().len(),
        h.metrics().iter().count(),
    );

    // The traffic really went through every section.
    assert!(!h.has_failed());
    assert_eq!(
        counter(&h, "meshlens_spans_exported_total"),
        2 * u64::from(REQUESTS),
        "every request is sampled: its SERVER span and the CLIENT span of its upstream hop"
    );
    assert_eq!(counter(&h, "meshlens_spans_dropped_total"), 0);
    assert_eq!(counter(&h, "meshlens_logs_dropped_total"), 0);
    assert!(counter(&h, "meshlens_logs_exported_total") >= u64::from(REQUESTS));
    assert!(h.http_calls().iter().any(|c| c.headers.iter().any(|(k, v)| k == ":path" && v == "/v1/logs")));

    // Warm-up fills what is bounded: the client table, the export queues and buffers, and the
    // series caps (1,000 label sets per family; the stray statuses reach it after about 8,500
    // requests, so the overflow series is in use by the end of warm-up).
    assert!(overflow_at_warm_up > 0, "the series caps are reached during warm-up");
    // Measured (2026-11-26, sampling memory every 250 requests): memory grows while the series
    // fill (last growth at 8,500 requests), then by one more 64 KiB page, once, at 19,750
    // requests with this traffic (29,000 with another seed), and never again up to 100,000.
    // A run with OTLP log export off had no growth after 8,500 requests, and each late page
    // came with the largest export bodies of the run so far: an allocator high-water mark on
    // the export path (peak batch sizes), not state that accumulates. So what is asserted is
    // exactly that: at most one page after warm-up, and nothing over the last 50,000 requests.
    let page = 64 * 1024;
    assert!(at(REQUESTS) <= at(WARM_UP) + page, "linear memory after {WARM_UP} and {REQUESTS} requests: {sizes:?}");
    assert_eq!(at(REQUESTS / 2), at(REQUESTS), "linear memory over the last half of the run: {sizes:?}");
}
