//! The "test your filter" guide's first test (host-harness/README.md), as a program: loads a
//! proxy-wasm module, sends it one request the way Envoy 1.40 would, and checks what reached the
//! upstream and what went back downstream.
//!
//! ```sh
//! cargo run -p host-harness --example first_test -- MODULE.wasm [ROOT_ID] [CONFIGURATION]
//! # e.g. the proxy-wasm Rust SDK's http_headers example, which answers /hello itself:
//! cargo run -p host-harness --example first_test -- ../shared/third-party/rust-sdk-examples/http_headers.wasm http_headers_root
//! ```

use std::process::ExitCode;

use host_harness::{Host, Module};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(wasm) = args.next() else {
        eprintln!("usage: first_test MODULE.wasm [ROOT_ID] [CONFIGURATION]");
        return ExitCode::FAILURE;
    };
    let root_id = args.next().unwrap_or_default();
    let configuration = args.next().unwrap_or_default();
    match run(&wasm, &root_id, &configuration) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("first_test: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(wasm: &str, root_id: &str, configuration: &str) -> Result<(), host_harness::Error> {
    // Compile once (a test binary shares one `Module` between its tests), then one host per test:
    // a VM with the plugin configured, as Envoy configures it at start-up.
    let module = Module::from_file(wasm)?;
    let mut host = Host::builder(&module).root_id(root_id).plugin_config(configuration).envoy_defaults(true).build()?;

    // One request: headers (end of stream: no body), then the upstream's answer.
    let s = host.new_stream();
    host.request_headers(
        s,
        &[(":method", "GET"), (":path", "/hello"), (":scheme", "http"), (":authority", "example.com")],
        true,
    )?;
    let stream = host.stream(s).ok_or_else(|| host_harness::Error::Usage("no stream".into()))?;
    if let Some(reply) = stream.local_reply() {
        println!("the module answered itself: {} {:?}", reply.status, reply.headers);
    } else {
        println!("sent upstream: {:?}", stream.upstream_request_headers());
        host.response_headers(s, &[(":status", "200"), ("content-length", "0")], true)?;
    }
    host.complete(s)?;
    let stream = host.stream(s).ok_or_else(|| host_harness::Error::Usage("no stream".into()))?;
    println!("sent downstream: {:?}", stream.downstream_response_headers());
    for line in host.logs() {
        println!("log {:?}: {}", line.level, line.message);
    }
    Ok(())
}
