//! Every meshlens metric family carries one set of label names: Prometheus and the queries over
//! it treat `x{}` beside `x{signal="logs"}` as two differently shaped series of one family, which
//! aggregations and dashboards then mix up. Checked on what the module emits, in the harness with
//! the shipped gateway's `stats_tags` (fast tier), and on a real Envoy's `/stats/prometheus` plus
//! the module's own `/meshlens/metrics` (`e2e`), with every section on, both export signals failing, security bursts and every kind of
//! response.

use std::sync::OnceLock;
use std::time::Duration;

use host_harness::metrics::{self, PrometheusConfig};
use host_harness::{Host, HttpResponse, Module, Responder, traffic};
use meshlens_tests::exposition;
use meshlens_tests::paths;

/// Every section on, OTLP logs too, a low burst threshold.
pub const CONFIG: &str = r#"{
  "service": {"name": "edge-gateway"},
  "routes": ["/api/v1/query", "/api/v1/login", "/users/{id}"],
  "tracing": {"exporter": {"cluster": "otel_collector", "flush_interval_ms": 100}},
  "metrics": {"reporter": "gateway"},
  "access_log": {"sinks": ["proxy_log", "otlp"]},
  "security": {"threshold": 3, "window_s": 60}
}"#;

/// The families the checks must see, so that an empty scrape cannot pass.
pub const EXPECTED: [&str; 5] = [
    "meshlens_export_failures_total",
    "meshlens_security_responses_total",
    "meshlens_security_events_total",
    "meshlens_http_requests_total",
    "meshlens_spans_failed_total",
];

/// Asserts that `text` has the expected families and that no meshlens family mixes label sets.
pub fn check(text: &str) {
    let names = exposition::label_names(text);
    for family in EXPECTED {
        assert!(names.contains_key(family), "{family} missing from:\n{text}");
    }
    let failures = &names["meshlens_export_failures_total"];
    assert!(failures.iter().all(|s| s == &["signal"]), "both signals labelled: {failures:?}");
    let mixed = exposition::mixed_label_sets(text, &["meshlens_"]);
    assert!(mixed.is_empty(), "families mixing label sets:\n{}\n\n{text}", mixed.join("\n"));
}

fn module() -> Module {
    static MODULE: OnceLock<Module> = OnceLock::new();
    MODULE.get_or_init(|| Module::from_file(paths::edge_telemetry_wasm()).unwrap()).clone()
}

#[test]
fn every_meshlens_family_has_one_label_set_in_the_harness() {
    let gateway = std::fs::read_to_string(paths::repo_root().join("envoy-config/edge-gateway.yaml")).unwrap();
    let config =
        PrometheusConfig { stats_tags: metrics::stats_tags_from_envoy_yaml(&gateway).unwrap(), ..Default::default() };
    let mut host = Host::builder(&module())
        .plugin_config(CONFIG)
        .respond("otel_collector", Responder::Respond(HttpResponse { status: 503, ..Default::default() }))
        .build()
        .unwrap();
    let mut lines = vec![
        r#"{"path": "/api/v1/query", "response": {"status": 200}}"#.to_owned(),
        r#"{"path": "/users/7", "response": {"status": 404}}"#.to_owned(),
        r#"{"path": "/nowhere", "response": {"status": 500}}"#.to_owned(),
        r#"{"path": "/api/v1/query", "response": {"status": 429}}"#.to_owned(),
    ];
    lines.extend((0..4).map(|_| r#"{"path": "/api/v1/login", "response": {"status": 401}}"#.to_owned()));
    let exchanges = traffic::parse(&lines.join("\n")).unwrap();
    traffic::replay(&mut host, &exchanges, |_| {}).unwrap();
    host.advance(Duration::from_secs(3)).unwrap();
    let text = host.prometheus(&config);
    check(&text);
    assert!(text.contains("meshlens_security_events_total{event_type=\"access_failure_burst\"} 1"), "{text}");
}

#[cfg(feature = "e2e")]
#[test]
fn every_meshlens_family_has_one_label_set_in_real_envoy() {
    use meshlens_tests::envoy::{Envoy, Render};
    use meshlens_tests::http::{Client, Reply, Server};
    use std::time::Instant;

    let app = Server::start(|m| {
        let status = ["/login", "/fail", "/limited", "/users/"]
            .iter()
            .zip([401, 500, 429, 404])
            .find(|(p, _)| m.start.contains(**p))
            .map_or(200, |(_, s)| s);
        Reply::text(status, "x")
    });
    let collector = Server::start(|_| Reply::text(503, "unavailable"));
    // The request families served by the module itself, as the shipped gateway does.
    let config = CONFIG.replace(
        r#""metrics": {"reporter": "gateway"}"#,
        r#""metrics": {"reporter": "gateway", "endpoint": {"path": "/meshlens/metrics", "allow": ["127.0.0.1/32"]}}"#,
    );
    assert_ne!(config, CONFIG);
    let render = Render { app_port: app.port(), collector_port: collector.port(), plugin_config: Some(config) };
    let envoy = Envoy::start("edge-gateway.yaml", &render, 1);
    let mut client = Client::connect(envoy.listener).unwrap();
    for path in ["/api/v1/query", "/users/7", "/api/v1/fail", "/api/v1/limited", "/nowhere"] {
        client.get(path, &[]).unwrap();
    }
    for _ in 0..4 {
        assert_eq!(client.get("/api/v1/login", &[]).unwrap().status(), 401);
    }
    // Both exporters fail against the 503 collector; wait for the counters to show it.
    let deadline = Instant::now() + Duration::from_secs(15);
    let done = |text: &str| {
        text.lines().any(|l| l.starts_with("meshlens_export_failures_total{signal=\"traces\"} ") && !l.ends_with(" 0"))
            && text
                .lines()
                .any(|l| l.starts_with("meshlens_export_failures_total{signal=\"logs\"} ") && !l.ends_with(" 0"))
            && text.lines().any(|l| l.starts_with("meshlens_http_requests_total{"))
    };
    // Envoy's counters and the module's endpoint: what the shipped Prometheus job scrapes.
    let scrape = || format!("{}\n{}", envoy.prometheus(), envoy.module_metrics());
    let mut text = scrape();
    while !done(&text) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        text = scrape();
    }
    assert!(done(&text), "both signals' export failures and the request metrics:\n{text}");
    assert!(!envoy.module_metrics().is_empty(), "the module serves its request metrics");
    check(&text);
}
