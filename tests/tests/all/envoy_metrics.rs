//! Request metrics in a real Envoy: the series cap holds under 10,000 requests with random paths
//! and random header values, and every request is still counted.

use std::time::{Duration, Instant};

use meshlens_tests::envoy::{Envoy, Render, metric_value};
use meshlens_tests::http::{Client, Reply, Server};
use meshlens_tests::otlp::Receiver;

const CONFIG: &str = r#"{
  "routes": ["/api/v1/query", "/users/{id}"],
  "tracing": {"enabled": false},
  "metrics": {"max_series": 25, "labels": ["method", "route", "tenant"],
              "dimensions": [{"name": "tenant", "from": {"request_header": "x-tenant"}}]}
}"#;

#[test]
fn ten_thousand_random_requests_stay_within_the_series_cap() {
    let app = Server::start(|_| Reply::text(200, "ok"));
    let collector = Receiver::start();
    let render =
        Render { app_port: app.port(), collector_port: collector.server.port(), plugin_config: Some(CONFIG.into()) };
    // One worker: the cap is per worker (see the README), so one worker makes it exact.
    let envoy = Envoy::start("edge-gateway.yaml", &render, 1);
    let clients: Vec<_> = (0..4u64)
        .map(|c| {
            let addr = envoy.listener;
            std::thread::spawn(move || {
                let mut client = Client::connect(addr).unwrap();
                let mut seed = 0x9e37_79b9_7f4a_7c15_u64 ^ (c + 1);
                for _ in 0..2_500 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    // Half under a routed template with a random id, half on random unrouted paths.
                    let path = if seed.is_multiple_of(2) {
                        format!("/users/{seed:x}")
                    } else {
                        format!("/{seed:x}/{:x}", seed >> 9)
                    };
                    let tenant = format!("t-{:x}", seed >> 3);
                    let resp = client.get(&path, &[("x-tenant", &tenant)]).unwrap();
                    assert!(matches!(resp.status(), 200 | 404), "{path}: {}", resp.status());
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    // The module hands its counts to Envoy on its tick (every second with tracing off): the
    // request series first, then the overflow counter. The admin thread can answer a scrape
    // between the two (seen once on a loaded machine), so wait for both.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut text = envoy.prometheus();
    let settled = |text: &str| {
        counted(text) >= 10_000 && metric_value(text, "meshlens_metrics_series_overflow_total") >= 10_000 - 24
    };
    while !settled(&text) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        text = envoy.prometheus();
    }
    assert_eq!(counted(&text), 10_000, "every request is counted");
    // Without a stats_tags entry for `tenant`, its value stays in the name: each label set is one
    // line of the family, whatever its name became.
    let series = text.lines().filter(|l| l.starts_with("meshlens_http_requests_total")).count();
    assert_eq!(series, 25, "label sets of meshlens_http_requests_total, overflow included");
    let overflow = metric_value(&text, "meshlens_metrics_series_overflow_total");
    assert_eq!(overflow, 10_000 - 24, "every request past the first 24 label sets went to overflow");
    assert!(!text.lines().any(|l| l.contains("route=\"/users/") && !l.contains("route=\"/users/{id}\"")));
}

/// The total of every `meshlens_http_requests_total` series.
fn counted(text: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with("meshlens_http_requests_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}
