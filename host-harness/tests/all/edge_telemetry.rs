//! meshlens's own module driven through the harness.

use std::time::Duration;

use host_harness::{Action, Host, HttpResponse, Responder};

use crate::support::edge_telemetry;

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn host(config: &str) -> Host {
    Host::builder(&edge_telemetry())
        .root_id("meshlens")
        .plugin_config(config)
        .respond("otel_collector", Responder::Respond(HttpResponse { status: 200, ..Default::default() }))
        .build()
        .unwrap()
}

#[test]
fn a_request_continues_the_trace_and_exports_its_span() {
    let mut h = host(r#"{"routes": ["/users/{id}"]}"#);
    let s = h.new_stream();
    let action = h
        .request_headers(
            s,
            &[(":method", "GET"), (":path", "/users/7?x=1"), (":authority", "api"), ("traceparent", PARENT)],
            true,
        )
        .unwrap();
    assert_eq!(action, Action::Continue);
    h.advance(Duration::from_millis(25)).unwrap();
    h.response_headers(s, &[(":status", "200")], true).unwrap();
    h.complete(s).unwrap();
    h.advance(Duration::from_secs(2)).unwrap();

    let stream = h.stream(s).unwrap();
    let upstream = stream.upstream_request_header("traceparent").unwrap();
    assert!(upstream.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{upstream}");
    assert_eq!(stream.downstream_response_header("x-trace-id"), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
    let spans = h.spans();
    assert_eq!(spans.len(), 1, "logs: {:?}", h.logs());
    let span = &spans[0];
    assert_eq!(span.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(span.parent_span_id, "00f067aa0ba902b7");
    assert_eq!(&upstream[36..52], span.span_id);
    assert_eq!(span.name, "GET /users/{id}");
    assert_eq!(span.duration_nanos(), 25_000_000, "the virtual clock measures the span");
    assert_eq!(span.attribute("http.response.status_code"), Some("200"));
    let calls = h.http_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].upstream, "otel_collector");
    assert!(calls[0].headers.contains(&(":path".to_owned(), "/v1/traces".to_owned())));
}

/// The labels the shipped gateway config gives the module's stat names.
fn gateway_prometheus() -> host_harness::metrics::PrometheusConfig {
    let yaml = std::fs::read_to_string(crate::support::repo_root().join("envoy-config/edge-gateway.yaml")).unwrap();
    let stats_tags = host_harness::metrics::stats_tags_from_envoy_yaml(&yaml).unwrap();
    host_harness::metrics::PrometheusConfig { stats_tags, ..Default::default() }
}

/// Compares with a golden file; `MESHLENS_BLESS=1` rewrites it.
fn check_golden(name: &str, actual: &str) {
    let path = crate::support::repo_root().join("host-harness/tests/golden").join(name);
    if std::env::var_os("MESHLENS_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (MESHLENS_BLESS=1 writes it)", path.display()));
    assert!(expected == actual, "{} differs (MESHLENS_BLESS=1 rewrites it):\n{actual}", path.display());
}

/// The shipped Chat2SQL profile (`envoy-config/profiles/chat2sql/plugin-config.json`).
fn chat2sql_profile() -> String {
    std::fs::read_to_string(crate::support::repo_root().join("envoy-config/profiles/chat2sql/plugin-config.json"))
        .unwrap()
}

/// One request through the host: method, path, status, upstream latency.
fn exchange(h: &mut Host, method: &str, path: &str, headers: &[(&str, &str)], status: &str, millis: u64) {
    let s = h.new_stream();
    let mut all = vec![(":method", method), (":path", path), (":authority", "api"), (":scheme", "http")];
    all.extend_from_slice(headers);
    h.request_headers(s, &all, true).unwrap();
    h.advance(Duration::from_millis(millis)).unwrap();
    h.response_headers(s, &[(":status", status)], true).unwrap();
    h.complete(s).unwrap();
    h.remove_stream(s);
}

#[test]
fn the_chat2sql_profile_renders_like_the_golden_file() {
    let mut h = host(&chat2sql_profile());
    for (path, status, millis) in [
        ("/api/v1/query", "200", 80),
        ("/api/v1/query", "200", 700),
        ("/api/v1/query", "200", 12_500),
        ("/api/v1/query", "500", 300),
        ("/api/v1/sql/execute", "200", 1_900),
        ("/api/v1/sql/execute", "403", 4),
        ("/health", "200", 1),
    ] {
        exchange(&mut h, "POST", path, &[], status, millis);
    }
    h.advance(Duration::from_secs(2)).unwrap();
    let text = h.prometheus(&gateway_prometheus());
    assert!(text.contains("chat2sql_query_total{query_type=\"nl2sql\",status=\"success\"} 3"), "{text}");
    check_golden("chat2sql_metrics.prom", &text);
}

#[test]
fn ten_thousand_random_paths_and_header_values_stay_within_the_series_cap() {
    let mut h = host(
        r#"{"routes": ["/api/v1/query", "/users/{id}"], "tracing": {"enabled": false},
            "metrics": {"max_series": 25, "dimensions": [{"name": "tenant", "from": {"request_header": "x-tenant"}}]}}"#,
    );
    let mut seed = 0x1234_5678_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..10_000 {
        let path = format!("/{:x}/{:x}?q={:x}", next(), next(), next());
        let tenant = format!("t-{:x}", next());
        exchange(&mut h, "GET", &path, &[("x-tenant", &tenant)], "200", 1);
    }
    h.advance(Duration::from_secs(2)).unwrap();
    // A custom dimension needs its own stats_tags entry, as the README says.
    let mut prometheus = gateway_prometheus();
    prometheus.stats_tags.push(host_harness::metrics::StatsTag::regex("tenant", "(;tenant=([^;]*))").unwrap());
    let text = h.prometheus(&prometheus);
    let series = text.lines().filter(|l| l.starts_with("meshlens_http_requests_total{")).count();
    assert_eq!(series, 25, "the cap, overflow series included");
    let overflow = text
        .lines()
        .find(|l| l.starts_with("meshlens_metrics_series_overflow_total{metric=\"meshlens_http_requests_total\"}"))
        .unwrap();
    assert!(overflow.ends_with(" 9976"), "10000 requests, 24 kept label sets: {overflow}");
    assert!(
        !text.lines().any(|l| l.contains("route=\"/") && !l.contains("route=\"/api") && !l.contains("route=\"/users"))
    );
    let total: u64 = text
        .lines()
        .filter(|l| l.starts_with("meshlens_http_requests_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 10_000, "every request is counted, in a real series or the overflow one");
}
