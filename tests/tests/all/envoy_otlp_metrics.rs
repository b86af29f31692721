//! OTLP metrics from a real Envoy 1.40: the shipped edge gateway with `metrics.otlp` on exports
//! `/v1/metrics` in protobuf that the official opentelemetry-proto package decodes and the strict
//! validator accepts, one cumulative stream per worker, and every exemplar points at a span the
//! same Envoy exported.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use meshlens_tests::envoy::{Envoy, Render};
use meshlens_tests::http::{Client, Reply, Server};
use meshlens_tests::otlp::{self, Export, Receiver};
use otlp_decode::Signal;

const CONFIG: &str = r#"{
  "service": {"name": "edge-gateway"},
  "routes": ["/api/v1/query"],
  "tracing": {"sampling": {"ratio": 0.5}, "exporter": {"cluster": "otel_collector", "flush_interval_ms": 200}},
  "metrics": {"reporter": "gateway", "duration_buckets": [0.005, 0.05, 0.5], "otlp": {"interval_ms": 1000}}
}"#;

/// The metrics exports received, as sent.
fn metric_exports(collector: &Receiver) -> Vec<Export> {
    collector.exports().into_iter().filter(|e| e.signal() == Some(Signal::Metrics)).collect()
}

#[test]
fn otlp_metrics_are_valid_and_their_exemplars_point_at_exported_spans() {
    let app = Server::start(|_| Reply::text(200, "ok"));
    let collector = Receiver::start();
    let render =
        Render { app_port: app.port(), collector_port: collector.server.port(), plugin_config: Some(CONFIG.into()) };
    let envoy = Envoy::start("edge-gateway.yaml", &render, 2);
    let mut client = Client::connect(envoy.listener).unwrap();
    for _ in 0..60 {
        assert_eq!(client.get("/api/v1/query", &[]).unwrap().status(), 200);
    }
    // Every worker that served requests exports within an interval (1 s) of its tick.
    let counted = |exports: &[Export]| -> u64 {
        let mut latest = std::collections::BTreeMap::new();
        for e in exports {
            let v = e.json();
            for rm in v["resourceMetrics"].as_array().into_iter().flatten() {
                let instance = rm["resource"]["attributes"].to_string();
                for m in rm["scopeMetrics"][0]["metrics"].as_array().into_iter().flatten() {
                    if m["name"] == "meshlens_http_requests_total" {
                        let n: u64 = m["sum"]["dataPoints"][0]["asInt"].as_str().unwrap().parse().unwrap();
                        latest.insert(instance.clone(), n);
                    }
                }
            }
        }
        latest.values().sum()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while counted(&metric_exports(&collector)) < 60 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let exports = metric_exports(&collector);
    assert_eq!(counted(&exports), 60, "the latest point of every worker's stream adds up to the requests");
    assert!(exports.iter().all(Export::is_protobuf), "protobuf, the default encoding");
    // Decoded by the official opentelemetry-proto package, then the strict validator.
    let (valid, report) = otlp::validate_exports("metrics", &exports);
    assert!(valid, "the metrics are refused:\n{report}");
    let spans: BTreeSet<(String, String)> = collector.spans().into_iter().map(|s| (s.trace_id, s.span_id)).collect();
    let mut exemplars = Vec::new();
    for e in &exports {
        let v = e.json();
        for rm in v["resourceMetrics"].as_array().into_iter().flatten() {
            for m in rm["scopeMetrics"][0]["metrics"].as_array().into_iter().flatten() {
                for point in m["histogram"]["dataPoints"].as_array().into_iter().flatten() {
                    for e in point["exemplars"].as_array().into_iter().flatten() {
                        exemplars.push((
                            e["traceId"].as_str().unwrap().to_owned(),
                            e["spanId"].as_str().unwrap().to_owned(),
                        ));
                    }
                }
            }
        }
    }
    assert!(!exemplars.is_empty(), "sampled requests leave exemplars");
    for e in &exemplars {
        assert!(spans.contains(e), "exemplar {e:?} has no exported span (spans: {})", spans.len());
    }
}
