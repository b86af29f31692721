//! The short form of `cargo xtask soak`: real Envoy (the shipped gateway, one worker, 100%
//! sampling, a SERVER and a CLIENT span per request) under steady load from plain Rust keep-alive
//! clients for [`SLICES`] slices of [`SLICE`], memory sampled after each. After the first slice
//! (metric series, batch buffers and Envoy's pools fill there), the module's linear memory and
//! Envoy's RSS stay within the bounds the long soak uses, and every span is exported. No timing
//! is asserted; the long run and its numbers are `cargo xtask soak` (benches/RESULTS.md).

use std::time::{Duration, Instant};

use meshlens_tests::envoy::{Envoy, Render};
use meshlens_tests::http::{Client, Reply, Server};
use meshlens_tests::otlp::Receiver;

const SLICES: usize = 4;
const SLICE: Duration = Duration::from_secs(4);
const CLIENTS: usize = 2;
/// The bounds of `benches/src/bin/soak.rs`.
const MAX_WASM_GROWTH: u64 = 1 << 20;
const MAX_RSS_GROWTH: u64 = 16 << 20;

/// `CLIENTS` keep-alive clients for one slice; every reply a 200 with a trace id. Returns how
/// many requests were sent.
fn slice(envoy: &Envoy, n: usize) -> u64 {
    let listener = envoy.listener;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            std::thread::spawn(move || {
                let mut client = Client::connect(listener).unwrap();
                let started = Instant::now();
                let mut sent = 0u64;
                while started.elapsed() < SLICE {
                    let reply = client.get(&format!("/api/v1/query?slice={n}&client={c}&i={sent}"), &[]).unwrap();
                    assert_eq!(reply.status(), 200, "slice {n}, request {sent}");
                    assert!(reply.header("x-trace-id").is_some());
                    sent += 1;
                }
                sent
            })
        })
        .collect();
    clients.into_iter().map(|c| c.join().unwrap()).sum()
}

#[test]
fn steady_load_keeps_memory_flat_and_exports_every_span() {
    let app = Server::start(|_| Reply::text(200, "ok"));
    let collector = Receiver::start();
    let render = Render { app_port: app.port(), collector_port: collector.server.port(), plugin_config: None };
    let envoy = Envoy::start("edge-gateway.yaml", &render, 1);
    let mut requests = 0;
    let mut samples = Vec::new();
    for n in 0..SLICES {
        requests += slice(&envoy, n);
        samples.push((envoy.metric("meshlens_wasm_memory_bytes"), envoy.rss_bytes()));
    }
    let (wasm_base, rss_base) = samples[1.min(samples.len() - 1)];
    for (i, (wasm, rss)) in samples.iter().enumerate().skip(1) {
        assert!(
            *wasm > 0 && *wasm <= wasm_base + MAX_WASM_GROWTH,
            "slice {i}: module memory {wasm} bytes, {wasm_base} after the first slices: {samples:?}"
        );
        assert!(*rss <= rss_base + MAX_RSS_GROWTH, "slice {i}: Envoy RSS {rss} bytes, {rss_base}: {samples:?}");
    }
    // Two spans per request (the gateway's `client_span: child`), every one exported.
    let expected = requests * 2;
    let exported = envoy.wait_metric("meshlens_spans_exported_total", expected, Duration::from_secs(20));
    assert_eq!(exported, expected, "{requests} requests");
    assert_eq!(envoy.metric("meshlens_spans_dropped_total"), 0);
    assert_eq!(envoy.metric("meshlens_spans_failed_total"), 0);
}
