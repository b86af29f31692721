//! Remote module load (`envoy-config/remote/edge-gateway-remote.yaml.tmpl`): Envoy 1.40 fetches
//! the module from a loopback HTTP server, checks its sha256 and serves traffic with it; with a
//! wrong sha256 it behaves as `envoy-config/remote/README.md` says (measured on 1.40): Envoy stays
//! up, the fetch is retried and then given up, and requests pass through without telemetry under
//! FAIL_OPEN or are answered 503 under FAIL_CLOSED.

use std::sync::Arc;
use std::time::{Duration, Instant};

use meshlens_tests::envoy::{Envoy, Render, free_port, render, render_ports};
use meshlens_tests::http::{self, Reply, Server};
use meshlens_tests::otlp::Receiver;
use meshlens_tests::paths;

const TEMPLATE: &str = "remote/edge-gateway-remote.yaml.tmpl";
const PLACEHOLDER: &str = "SHA256_OF_EDGE_TELEMETRY_WASM";
/// The module server's fixed port in the template.
const WASM_SERVER_PORT: u16 = 8000;
/// `retry_policy.num_retries` in the template.
const RETRIES: usize = 3;
const WRONG_SHA256: &str = "1111111111111111111111111111111111111111111111111111111111111111";

struct Rig {
    app: Server,
    wasm_server: Server,
    _collector: Receiver,
    envoy: Envoy,
}

/// The release module's sha256, from `sha256sum` (the tests package has no crypto crate).
fn module_sha256() -> String {
    let out =
        std::process::Command::new("sha256sum").arg(paths::edge_telemetry_wasm()).output().expect("run sha256sum");
    assert!(out.status.success(), "sha256sum failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let digest = text.split_whitespace().next().unwrap().to_owned();
    assert_eq!(digest.len(), 64, "{text}");
    digest
}

/// Serves the module from a loopback server and starts Envoy with the template rendered for
/// `sha256` and `failure_policy`.
fn rig(sha256: &str, failure_policy: &str) -> Rig {
    let module = Arc::new(std::fs::read(paths::edge_telemetry_wasm()).expect("read the built module"));
    let wasm_server = Server::start(move |req| {
        if req.start != "GET /edge_telemetry.wasm" {
            return Reply::text(404, "no such module");
        }
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "application/wasm".into())],
            body: module.as_ref().clone(),
        }
    });
    let app = Server::start(|_| Reply::text(200, "ok"));
    let collector = Receiver::start();
    let r = Render { app_port: app.port(), collector_port: collector.server.port(), plugin_config: None };
    let (listener, admin) = (free_port(), free_port());
    let text = render_ports(&render(TEMPLATE, &r, listener, admin), &[(WASM_SERVER_PORT, wasm_server.port())])
        .replace(PLACEHOLDER, sha256)
        .replace("failure_policy: FAIL_OPEN", &format!("failure_policy: {failure_policy}"));
    assert!(!text.contains(PLACEHOLDER) && text.contains(&format!("127.0.0.1:{}/", wasm_server.port())));
    let envoy = Envoy::start_text(&text, listener, admin, 1);
    Rig { app, wasm_server, _collector: collector, envoy }
}

/// Waits (bounded) until the module server has answered `n` fetches; returns the count.
fn wait_fetches(server: &Server, n: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.requests().len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    server.requests().len()
}

#[test]
fn the_module_is_fetched_verified_and_serves_traffic() {
    let r = rig(&module_sha256(), "FAIL_OPEN");
    assert_eq!(wait_fetches(&r.wasm_server, 1), 1, "fetched once, at config load");
    assert_eq!(r.wasm_server.requests()[0].start, "GET /edge_telemetry.wasm");

    let resp = http::get(r.envoy.listener, "/api/v1/query", &[]).unwrap();
    assert_eq!(resp.status(), 200);
    let trace = resp.header("x-trace-id").expect("x-trace-id: the fetched module runs");
    assert_eq!(trace.len(), 32);
    assert!(r.app.requests()[0].header("traceparent").is_some_and(|t| t.contains(trace)));
    assert_eq!(r.envoy.metric("envoy_wasm_remote_load_fetch_successes"), 1);
    assert_eq!(r.envoy.metric("envoy_wasm_remote_load_fetch_failures"), 0);
    assert_eq!(r.wasm_server.requests().len(), 1, "served from Envoy's cache, not fetched per request");
}

#[test]
fn a_wrong_sha256_fails_the_plugin_and_failure_policy_decides_the_traffic() {
    for (policy, expected_status) in [("FAIL_OPEN", 200), ("FAIL_CLOSED", 503)] {
        // Envoy::start_text returns only once the admin says LIVE and the listener accepts:
        // a wrong digest does not stop Envoy or its listener.
        let r = rig(WRONG_SHA256, policy);
        assert_eq!(wait_fetches(&r.wasm_server, 1 + RETRIES), 1 + RETRIES, "a mismatch is retried like a failed fetch");
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(r.wasm_server.requests().len(), 1 + RETRIES, "no fetch after the retries ({policy})");

        let resp = http::get(r.envoy.listener, "/api/v1/query", &[]).unwrap();
        assert_eq!(resp.status(), expected_status, "{policy}");
        assert_eq!(resp.header("x-trace-id"), None, "no telemetry ({policy})");
        match policy {
            "FAIL_OPEN" => {
                let seen = r.app.requests();
                assert_eq!(seen.len(), 1, "passed through to the app");
                assert_eq!(seen[0].header("traceparent"), None);
            }
            _ => assert!(r.app.requests().is_empty(), "refused before the app"),
        }
        assert_eq!(r.envoy.metric("envoy_wasm_remote_load_fetch_failures"), 1, "{policy}");
        assert_eq!(r.envoy.metric("envoy_wasm_remote_load_fetch_successes"), 0, "{policy}");
        let log = r.envoy.log();
        assert!(log.contains("Retry limit exceeded for fetching data from remote data source"), "{log}");
        assert!(log.contains("Plugin meshlens failed to load"), "{log}");
        // Envoy 1.40 prints this under FAIL_OPEN too (it reads the deprecated `fail_open` field):
        // the README warns that the line does not mean traffic is refused.
        assert!(log.contains("Plugin configured to fail closed failed to load"), "{log}");
    }
}
