//! The planted-secrets catalogue (`meshlens_tests::planted`) through a real Envoy 1.40 with the
//! shipped edge bootstrap: no secret reaches the collector (spans, OTLP logs), Envoy's log (the
//! access lines) or `/stats/prometheus` (metric labels); every innocent look-alike does.

use std::time::{Duration, Instant};

use meshlens_tests::envoy::{Envoy, Render};
use meshlens_tests::http::{self, Reply, Server};
use meshlens_tests::otlp::Receiver;
use meshlens_tests::planted::{CONFIG, INNOCENT, Place, planted};

/// The request header the app copies into its `location` response header, to plant secrets in
/// a response header.
const ECHO_LOCATION: &str = "x-test-location";

/// Sends one request per (value, place) through Envoy; returns everything meshlens emitted.
fn through_envoy(values: &[(&str, Place)]) -> String {
    let app = Server::start(|m| match m.header(ECHO_LOCATION) {
        Some(location) => Reply { status: 302, headers: vec![("location".into(), location.into())], body: Vec::new() },
        None => Reply::text(200, "ok"),
    });
    let collector = Receiver::start();
    let render =
        Render { app_port: app.port(), collector_port: collector.server.port(), plugin_config: Some(CONFIG.into()) };
    let envoy = Envoy::start("edge-gateway.yaml", &render, 1);
    for (value, place) in values {
        let filled = place.fill(value);
        let (path, headers): (String, Vec<(&str, &str)>) = match place {
            Place::Path(_) => (filled.clone(), vec![]),
            Place::Authority(_) => ("/api/v1/query".into(), vec![("host", filled.as_str())]),
            Place::Header(name, _) => ("/api/v1/query".into(), vec![(name, filled.as_str())]),
            Place::ResponseHeader(_, _) => ("/api/v1/query".into(), vec![(ECHO_LOCATION, filled.as_str())]),
        };
        let resp = http::get(envoy.listener, &path, &headers).unwrap();
        assert!(resp.status() < 500, "{place:?}: {}", resp.status());
    }
    // Every request is logged to Envoy's log and exported as an OTLP log record and a span.
    let deadline = Instant::now() + Duration::from_secs(20);
    let lines = || envoy.log().lines().filter(|l| l.contains(r#""status":"#)).count();
    while (lines() < values.len() || collector.payloads().len() < 2) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(lines() >= values.len(), "every request logged:\n{}", envoy.log());
    let mut out = envoy.log();
    // Each export as sent (protobuf carries text as raw UTF-8) and in the OTLP JSON shape.
    for export in collector.exports() {
        out.push_str(&String::from_utf8_lossy(&export.body));
        out.push_str(&export.json().to_string());
    }
    out.push_str(&envoy.prometheus());
    out
}

#[test]
fn no_planted_secret_leaves_envoy_and_innocent_values_do() {
    let planted = planted();
    let out = through_envoy(&planted);
    assert!(out.contains("resourceSpans") && out.contains("resourceLogs"), "spans and logs exported");
    for (secret, place) in &planted {
        assert!(!out.contains(secret), "{secret} planted in {place:?} left Envoy");
    }
    // The edge regenerates `x-request-id` for requests from outside (`use_remote_address`,
    // without `preserve_external_request_id`): the client's never reaches a filter.
    let passed: Vec<(&str, Place)> =
        INNOCENT.iter().copied().filter(|(_, p)| !matches!(p, Place::Header("x-request-id", _))).collect();
    let out = through_envoy(&passed);
    for (value, place) in &passed {
        assert!(out.contains(value), "{value} in {place:?} was masked");
    }
}
