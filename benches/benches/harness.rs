//! Request lifecycles through the harness: meshlens's module against a module that does
//! nothing, and the cost of compiling and instantiating a module.
//!
//! The modules are built by the `meshlens-tests-guests` crate (`tests/guests`)'s build script (`MESHLENS_WASM` overrides
//! the path of meshlens's).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use host_harness::{Host, HttpResponse, Module, Responder};

/// A proxy-wasm module that exports only what a host needs and does nothing: the floor.
const NOTHING: &str = r#"(module
  (memory (export "memory") 2)
  (global $next (mut i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (global.get $next) (local.get $size)))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_log") (param i32))
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_delete") (param i32)))"#;

fn edge_telemetry_bytes() -> Vec<u8> {
    let path = std::env::var_os("MESHLENS_WASM")
        .map_or_else(|| PathBuf::from(meshlens_tests_guests::EDGE_TELEMETRY), PathBuf::from);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `filters/minimal-header` (one response header; the floor of an SDK-built filter).
fn minimal_header_bytes() -> Vec<u8> {
    std::fs::read(meshlens_tests_guests::MINIMAL_HEADER)
        .unwrap_or_else(|e| panic!("{}: {e}", meshlens_tests_guests::MINIMAL_HEADER))
}

fn host(module: &Module) -> Host {
    Host::builder(module)
        .root_id("meshlens")
        .plugin_config(r#"{"routes": ["/api/v1/query", "/users/{id}"]}"#)
        .respond("otel_collector", Responder::Respond(HttpResponse { status: 200, ..Default::default() }))
        .build()
        .unwrap()
}

/// One request: headers in, response headers out, stream end; the clock moves 1 ms per request
/// so ticks (and span exports) happen as they would under load.
fn request(host: &mut Host) {
    let s = host.new_stream();
    host.request_headers(
        s,
        &[
            (":method", "GET"),
            (":path", "/api/v1/query?q=1"),
            (":scheme", "http"),
            (":authority", "api.example.com"),
            ("user-agent", "bench/1"),
            ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ],
        true,
    )
    .unwrap();
    host.response_headers(s, &[(":status", "200"), ("content-length", "2")], true).unwrap();
    host.complete(s).unwrap();
    host.remove_stream(s);
    host.advance(Duration::from_millis(1)).unwrap();
}

fn lifecycle(c: &mut Criterion) {
    let edge = Module::new(&edge_telemetry_bytes()).unwrap();
    let minimal = Module::new(&minimal_header_bytes()).unwrap();
    let nothing = Module::new(&wat::parse_str(NOTHING).unwrap()).unwrap();
    let mut g = c.benchmark_group("request_lifecycle");
    for (name, module) in [("edge_telemetry", &edge), ("minimal_header", &minimal), ("do_nothing", &nothing)] {
        let mut h = host(module);
        g.bench_function(name, |b| b.iter(|| request(black_box(&mut h))));
    }
    g.finish();
}

fn startup(c: &mut Criterion) {
    let bytes = edge_telemetry_bytes();
    let mut g = c.benchmark_group("module");
    g.sample_size(10);
    g.bench_function("compile_edge_telemetry", |b| b.iter(|| Module::new(black_box(&bytes)).unwrap()));
    let module = Module::new(&bytes).unwrap();
    g.bench_function("instantiate_and_configure_edge_telemetry", |b| b.iter(|| host(black_box(&module))));
    g.finish();
}

criterion_group!(benches, lifecycle, startup);
criterion_main!(benches);
