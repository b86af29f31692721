//! The short form of `cargo xtask chaos` (issue #16): one real Envoy 1.40 with the release module
//! (`envoy-config/edge-gateway.yaml`, 100% sampling, one worker) while the loopback collector
//! fails in each mode in turn, with a few seconds of light load from plain Rust clients per mode.
//! Requests never fail, every span ends exported, dropped or failed, spans are exported again
//! once the collector heals, and memory stays bounded. No timed assertions: latency and recovery
//! times are the command's output (benches/RESULTS.md).

use std::time::{Duration, Instant};

use meshlens_tests::envoy::{Envoy, Render, metric_value};
use meshlens_tests::http::{Client, Reply, Server};
use meshlens_tests_process::collector::{Collector, Fault};

/// A 1 s export timeout ends hung calls quickly; the slow collector (300 ms) stays within it.
const CONFIG: &str = r#"{
  "service": {"name": "edge-gateway", "version": "0.1.0"},
  "routes": ["/api/v1/query"],
  "tracing": {"sampling": {"ratio": 1.0}, "exporter": {"timeout_ms": 1000}}
}"#;
/// Light load per mode: this many clients, each for this long.
const CLIENTS: usize = 2;
const LOAD: Duration = Duration::from_secs(2);
/// After healing, spans end (queued ones exported, hung calls timed out) within this.
const DRAIN: Duration = Duration::from_secs(20);
/// The module's linear memory and Envoy's RSS may grow this much from the end of the healthy
/// mode to the end of the run (the span queue filling is well under 1 MiB).
const MAX_WASM_GROWTH: u64 = 4 << 20;
const MAX_RSS_GROWTH: u64 = 32 << 20;

/// meshlens's span counters: (exported, dropped, failed).
fn spans(envoy: &Envoy) -> (u64, u64, u64) {
    let text = envoy.prometheus();
    (
        metric_value(&text, "meshlens_spans_exported_total"),
        metric_value(&text, "meshlens_spans_dropped_total"),
        metric_value(&text, "meshlens_spans_failed_total"),
    )
}

/// `CLIENTS` keep-alive clients sending GETs for `LOAD`; every reply must be a 200 with a trace
/// id. Returns the number of requests.
fn load(envoy: &Envoy, fault: Fault) -> u64 {
    let listener = envoy.listener;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            std::thread::spawn(move || {
                let mut client = Client::connect(listener).unwrap();
                let started = Instant::now();
                let mut sent = 0;
                while started.elapsed() < LOAD {
                    let reply = client.get(&format!("/api/v1/query?client={n}&i={sent}"), &[]);
                    let reply =
                        reply.unwrap_or_else(|e| panic!("collector {}: request {sent} failed: {e}", fault.name()));
                    assert_eq!(reply.status(), 200, "collector {}: request {sent}", fault.name());
                    assert!(reply.header("x-trace-id").is_some(), "collector {}: no trace id", fault.name());
                    sent += 1;
                }
                sent
            })
        })
        .collect();
    clients.into_iter().map(|c| c.join().unwrap()).sum()
}

/// The gateway's default `client_span: child`: a SERVER span and, for the hop to the app, a
/// CLIENT span.
const SPANS_PER_REQUEST: u64 = 2;

#[test]
fn every_collector_fault_leaves_requests_whole_spans_counted_and_memory_bounded() {
    let app = Server::start(|_| Reply::text(200, "ok"));
    let collector = Collector::start(Duration::from_millis(300)).unwrap();
    let render = Render { app_port: app.port(), collector_port: collector.port(), plugin_config: Some(CONFIG.into()) };
    let envoy = Envoy::start("edge-gateway.yaml", &render, 1);
    let mut requests = 0;
    let mut baseline = None;
    for fault in Fault::ALL {
        let before = spans(&envoy);
        collector.set(fault);
        requests += load(&envoy, fault);
        let during = spans(&envoy);
        collector.set(Fault::Healthy);
        // New spans after healing: they must be exported.
        let mut client = Client::connect(envoy.listener).unwrap();
        for i in 0..10 {
            assert_eq!(client.get(&format!("/api/v1/query?healed={i}"), &[]).unwrap().status(), 200);
        }
        requests += 10;
        let deadline = Instant::now() + DRAIN;
        let mut now = spans(&envoy);
        // Every request reaches the app: a SERVER and a CLIENT span each (`client_span: child`).
        let expected = requests * SPANS_PER_REQUEST;
        while (now.0 + now.1 + now.2 < expected || now.0 <= during.0) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            now = spans(&envoy);
        }
        let (exported, dropped, failed) = now;
        assert_eq!(
            exported + dropped + failed,
            expected,
            "collector {}: every one of the {expected} spans of {requests} requests ends exported, dropped or failed (exported {exported}, dropped {dropped}, failed {failed})",
            fault.name()
        );
        assert!(exported > during.0, "collector {}: no span exported after healing", fault.name());
        // The fault took effect: spans were lost to it (none to a healthy collector). A slow one
        // may or may not lose spans, depending on the machine's speed.
        let lost = (dropped + failed) - (before.1 + before.2);
        match fault {
            Fault::Healthy => assert_eq!(lost, 0, "a healthy collector lost spans"),
            Fault::Slow => {}
            _ => assert!(lost > 0, "collector {}: no span was dropped or failed", fault.name()),
        }
        let memory = (envoy.metric("meshlens_wasm_memory_bytes"), envoy.rss_bytes());
        let (wasm_start, rss_start) = *baseline.get_or_insert(memory);
        assert!(
            memory.0 > 0 && memory.0 <= wasm_start + MAX_WASM_GROWTH,
            "collector {}: module memory {} bytes, {} after the healthy mode",
            fault.name(),
            memory.0,
            wasm_start
        );
        assert!(
            memory.1 <= rss_start + MAX_RSS_GROWTH,
            "collector {}: Envoy RSS {} bytes, {} after the healthy mode",
            fault.name(),
            memory.1,
            rss_start
        );
    }
    assert!(envoy.metric("meshlens_export_failures_total") > 0, "failed calls are counted");
}
