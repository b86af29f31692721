//! The core's work per request, natively, for `cargo xtask cost --native`, which runs this under
//! valgrind (callgrind) twice and divides the difference of the instruction counts by the
//! difference of the request counts: start-up and configuration drop out, and the count is the
//! same from run to run (what timing on a shared machine is not).
//!
//! Usage: `native_cost CONFIG_FILE REQUESTS`. Each request is what `cargo xtask bench-envoy`'s
//! load sends, as Envoy hands it to the native build: `GET /api/v1/query` with the headers Envoy
//! adds (`x-forwarded-proto`, `x-request-id`), answered `200 ok` by a `direct_response`, the
//! client address and protocol readable. Every 512 requests the exporter's tick runs and its call
//! is answered 200. The host is the core's `FakeHost`: its own copies of every header are counted
//! too, the same before and after a change to the core.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use telemetry_core::pipeline::Pipeline;
use telemetry_core::pipeline::fake::{FakeHost, Reply};

const BATCH: u64 = 512;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, config, requests] = args.as_slice() else {
        panic!("usage: native_cost CONFIG_FILE REQUESTS");
    };
    let config = std::fs::read(config).unwrap_or_else(|e| panic!("{config}: {e}"));
    let requests: u64 = requests.parse().expect("REQUESTS is a whole number");
    let host = FakeHost::new(1_767_225_600_000_000_000, [7; 32]);
    host.set_property("source.address", "127.0.0.1:40000");
    host.set_property("request.protocol", "HTTP/1.1");
    let mut pipeline = Pipeline::configure(&config, &host).expect("the plugin configuration is valid");
    let request = [
        (":authority", "127.0.0.1:10000"),
        (":path", "/api/v1/query"),
        (":method", "GET"),
        (":scheme", "http"),
        ("x-forwarded-proto", "http"),
        ("x-request-id", "5d2f8e0c-7b1a-4c3e-9f6d-2a8b4c6e1f3d"),
    ];
    let response = [(":status", "200"), ("content-length", "2"), ("content-type", "text/plain")];
    let reply = Reply { headers: &response, body: b"ok", from_upstream: false, latency_nanos: 150_000 };
    let mut exports = 0;
    for n in 1..=requests {
        let sent = host.exchange(&mut pipeline, &request, b"", &reply);
        assert!(sent.downstream.iter().any(|(name, _)| name == "x-trace-id"), "the filter ran");
        if n % BATCH == 0 {
            host.tick(&mut pipeline, 1_000_000_000);
            host.answer_calls(&mut pipeline, Some(200));
            exports += host.calls.borrow().len();
            host.calls.borrow_mut().clear();
            host.answered.set(0);
            host.logs.borrow_mut().clear();
            host.property_reads.borrow_mut().clear();
        }
    }
    println!("{requests} requests, {exports} exports");
}
