//! What a module's HTTP callout gets in Envoy 1.40 from a cluster with no endpoint, pinned for
//! the harness's answer to a callout no `--callouts` rule matches (issue #18). The proxy-wasm
//! Rust SDK's `http_auth_random.wasm` (`../shared/third-party/`) calls cluster `httpbin` with
//! `dispatch_http_call(..).unwrap()`. Measured: `proxy_http_call` itself fails (the call is never
//! made), the unwrap panics, the VM traps, and the request is answered 503 (the failure policy).
//! The harness does the same.

use host_harness::{FailurePolicy, Host, Module, Script};
use meshlens_tests::envoy::bootstrap::{Bootstrap, Cluster, HttpFilter, Listener, Wasm};
use meshlens_tests::envoy::{Envoy, free_port};
use meshlens_tests::http::{self, Reply, Server};
use meshlens_tests::paths;

fn module_path() -> String {
    let path = paths::shared_dir().join("third-party/rust-sdk-examples/http_auth_random.wasm");
    assert!(path.exists(), "missing {}", path.display());
    path.display().to_string()
}

/// The module as the one HTTP filter, the app, and `httpbin` with no endpoint.
fn bootstrap(listener: u16, admin: u16, app: u16) -> String {
    Bootstrap {
        admin,
        listener: Some(Listener::to_app(listener, vec![HttpFilter::Wasm(Wasm::new(module_path()))])),
        clusters: vec![Cluster::http1("app", app), Cluster::no_endpoint("httpbin")],
        ..Bootstrap::default()
    }
    .yaml()
}

#[test]
fn a_callout_to_a_cluster_with_no_endpoint_gets_the_routers_503_in_envoy_and_in_the_harness() {
    let app = Server::start(|_| Reply::text(200, "ok"));
    let (listener, admin) = (free_port(), free_port());
    let envoy = Envoy::start_text(&bootstrap(listener, admin, app.port()), listener, admin, 1);
    let response = http::get(envoy.listener, "/", &[]).expect("GET / through Envoy");
    assert_eq!(response.status(), 503);
    let trapped = "Function: proxy_on_request_headers failed: Uncaught RuntimeError: unreachable";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !envoy.log().contains(trapped) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let log = envoy.log();
    assert!(log.contains("wasm log: panicked at src/lib.rs:40:10"), "the dispatch's unwrap: {log}");
    assert!(log.contains(trapped), "{log}");

    // The harness: a script with no rule for httpbin fails the call the same way.
    let module = Module::from_file(module_path()).unwrap();
    let mut host =
        Host::builder(&module).callouts(Script::default()).failure_policy(FailurePolicy::FailClosed).build().unwrap();
    let s = host.new_stream();
    host.request_headers(s, &[(":method", "GET"), (":path", "/"), (":authority", "x")], true).unwrap();
    let call = &host.http_calls()[0];
    assert!(call.unmatched);
    assert_eq!(call.state, host_harness::CallState::Failed);
    assert_eq!(host.stream(s).unwrap().status(), Some(503));
    let traps = host.take_traps();
    assert_eq!(traps[0].callback, "proxy_on_request_headers");
    assert!(host.logs().iter().any(|l| l.message.contains("panicked at src/lib.rs:40:10")));
}
