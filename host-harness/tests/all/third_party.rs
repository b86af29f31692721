//! Other authors' modules (the proxy-wasm Rust SDK's examples, `../shared/third-party/`), run
//! through the `meshlens` CLI the way Envoy 1.40 runs them: plain-text configuration, scripted
//! callouts, gRPC local replies, upstream timing after a pause, failure policy, services.
//! The product never needs these files; only these tests read them.

use host_harness::Host;
use serde_json::Value;

use crate::cli::{json_report, meshlens, scratch, stderr};
use crate::support::third_party;

/// Runs `meshlens run --wasm <example> --traffic <traffic> --format json` plus `extra`, with the
/// test's files written to a scratch directory (`files`: name, content); returns the report.
fn run(test: &str, module: &str, traffic: &str, files: &[(&str, &str)], extra: &[&str]) -> Value {
    let dir = scratch(test);
    std::fs::write(dir.join("traffic.jsonl"), traffic).unwrap();
    for (name, content) in files {
        std::fs::write(dir.join(name), content).unwrap();
    }
    let extra: Vec<String> = extra.iter().map(|a| a.replace("$DIR", &dir.display().to_string())).collect();
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    json_report(&third_party(module), &dir.join("traffic.jsonl"), &extra)
}

/// A header's value among `[name, value]` pairs.
fn header<'a>(pairs: &'a Value, name: &str) -> Option<&'a str> {
    pairs.as_array()?.iter().find(|p| p[0] == name).and_then(|p| p[1].as_str())
}

#[test]
fn a_plain_text_configuration_reaches_the_module_as_it_is() {
    // Envoy passes `configuration` byte for byte; http_config adds it as `custom-header`.
    let traffic = "{\"path\": \"/\"}\n";
    let report = run(
        "config_file",
        "http_config.wasm",
        traffic,
        &[("config.txt", "hello there")],
        &["--config", "$DIR/config.txt"],
    );
    let added = &report["exchanges"][0]["downstream"]["added"];
    assert_eq!(header(added, "custom-header"), Some("hello there"), "{added}");
    let report = run("config_raw", "http_config.wasm", traffic, &[], &["--config-raw", "\"quoted\""]);
    let added = &report["exchanges"][0]["downstream"]["added"];
    assert_eq!(header(added, "custom-header"), Some("\"quoted\""), "{added}");
}

/// The statuses sent downstream, in traffic order.
fn statuses(report: &Value) -> Vec<u64> {
    report["exchanges"].as_array().unwrap().iter().map(|e| e["status"].as_u64().unwrap_or(0)).collect()
}

/// `n` requests 10 ms apart, each answered by the upstream after `latency_ms`.
fn requests(n: usize, latency_ms: u64, headers: &str) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{{\"path\": \"/r{i}\", \"at_ms\": {}, \"headers\": {{{headers}}}, \"response\": {{\"latency_ms\": {latency_ms}}}}}\n",
                i * 10
            )
        })
        .collect()
}

#[test]
fn a_scripted_http_callout_alternates_granted_and_forbidden() {
    // http_auth_random continues on an even first byte and answers 403 on an odd one.
    let script = r#"{"rules": [{"cluster": "httpbin", "path_prefix": "/bytes/",
        "answers": [{"body_base64": "AA=="}, {"body": "\u0001"}], "then": "cycle"}]}"#;
    let report = run(
        "alternate",
        "http_auth_random.wasm",
        &requests(4, 5, ""),
        &[("callouts.json", script)],
        &["--callouts", "$DIR/callouts.json"],
    );
    assert_eq!(statuses(&report), [200, 403, 200, 403]);
    let calls = report["callouts"]["http"].as_array().unwrap();
    assert_eq!(calls.len(), 4);
    for call in calls {
        assert_eq!((call["cluster"].as_str(), call["path"].as_str()), (Some("httpbin"), Some("/bytes/1")));
        assert_eq!(
            (call["state"].as_str(), call["status"].as_u64(), call["rule"].as_u64()),
            (Some("answered"), Some(200), Some(0))
        );
        assert_eq!(call["unmatched"], false);
    }
    assert_eq!(report["summary"]["unmatched_callouts"], 0);
}

#[test]
fn scripted_resets_timeouts_and_the_unmatched_default() {
    let script = r#"{"rules": [{"cluster": "httpbin", "answers": [{"reset": true}, {"timeout": true}, {"status": 200, "body_base64": "Ag==", "delay_ms": 300}]}]}"#;
    let report = run(
        "reset_timeout",
        "http_auth_random.wasm",
        "{\"path\": \"/a\"}\n{\"path\": \"/b\", \"at_ms\": 10}\n{\"path\": \"/c\", \"at_ms\": 2000}\n",
        &[("callouts.json", script)],
        &["--callouts", "$DIR/callouts.json"],
    );
    // A reset is a failed call (no body): forbidden at once. A timeout is the router's 504
    // ("upstream request timeout", an odd first byte) at the call's 1 s timeout: forbidden then.
    // The delayed even byte grants after 300 ms.
    assert_eq!(statuses(&report), [403, 403, 200]);
    let ended: Vec<u64> =
        report["exchanges"].as_array().unwrap().iter().map(|e| e["ended_at_ms"].as_u64().unwrap()).collect();
    assert_eq!(ended, [0, 1010, 2300]);
    let calls = report["callouts"]["http"].as_array().unwrap();
    let states: Vec<&str> = calls.iter().map(|c| c["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["failed", "timed_out", "answered"]);
    let after: Vec<f64> = calls.iter().map(|c| c["answered_after_ms"].as_f64().unwrap()).collect();
    assert_eq!(after, [0.0, 1000.0, 300.0]);

    // No rule for the cluster: as with a cluster with no healthy endpoint in Envoy 1.40,
    // proxy_http_call fails; the SDK's unwrap panics, the VM is dead, the request gets 503.
    let dir = scratch("unmatched");
    std::fs::write(dir.join("t.jsonl"), "{\"path\": \"/a\"}\n").unwrap();
    let out = meshlens(&[
        "run",
        "--wasm",
        third_party("http_auth_random.wasm").to_str().unwrap(),
        "--traffic",
        dir.join("t.jsonl").to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("warning: 1 callout(s) matched no --callouts rule"), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["unmatched_callouts"], 1);
    let call = &report["callouts"]["http"][0];
    assert_eq!((call["state"].as_str(), call["unmatched"].as_bool()), (Some("failed"), Some(true)));
    assert_eq!(statuses(&report), [503]);
    assert_eq!(report["summary"]["traps"][0]["callback"], "proxy_on_request_headers");
}

#[test]
fn a_callout_script_with_a_mistake_names_its_line_and_column() {
    let dir = scratch("script_mistake");
    std::fs::write(dir.join("t.jsonl"), "{\"path\": \"/a\"}\n").unwrap();
    std::fs::write(dir.join("c.json"), "{\"rules\": [\n  {\"cluster\": \"a\", \"answers\": [{\"stauts\": 1}]}]}")
        .unwrap();
    let out = meshlens(&[
        "run",
        "--wasm",
        third_party("http_auth_random.wasm").to_str().unwrap(),
        "--traffic",
        dir.join("t.jsonl").to_str().unwrap(),
        "--callouts",
        dir.join("c.json").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!("meshlens: error: {}:2:40: unknown field `stauts`", dir.join("c.json").display())),
        "{err}"
    );
}

const GRPC: &str = r#""content-type": "application/grpc""#;

#[test]
fn a_scripted_grpc_callout_is_answered_and_times_out() {
    let script = r#"{"rules": [{"cluster": "grpcbin", "grpc_service": "grpcbin.GRPCBin", "grpc_method": "RandomError",
        "answers": [{"grpc_status": 0}, {"grpc_status": 3, "grpc_message": "odd"}, {"timeout": true}]}]}"#;
    let report = run(
        "grpc",
        "grpc_auth_random.wasm",
        &requests(3, 5, GRPC),
        &[("callouts.json", script)],
        &["--callouts", "$DIR/callouts.json"],
    );
    // 0: granted; 3: forbidden, a gRPC local reply (Aborted); the timeout closes with
    // UNAVAILABLE (14, even: granted) at the call's 1 s timeout, as in Envoy 1.40.
    assert_eq!(statuses(&report), [200, 200, 200]);
    let outcomes: Vec<&str> =
        report["exchanges"].as_array().unwrap().iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["completed", "local_reply", "completed"]);
    let calls = report["callouts"]["grpc"].as_array().unwrap();
    let closed: Vec<(u64, f64)> =
        calls.iter().map(|c| (c["grpc_status"].as_u64().unwrap(), c["answered_after_ms"].as_f64().unwrap())).collect();
    assert_eq!(closed, [(0, 0.0), (3, 0.0), (14, 1000.0)]);
    assert_eq!(calls[2]["grpc_message"], "upstream request timeout{response_timeout}");
    assert_eq!(report["exchanges"][2]["ended_at_ms"], 1025);
}

#[test]
fn upstream_latency_counts_from_the_release_of_the_request() {
    // The callout answers after 300 ms; the upstream takes 100 ms from then: the exchange ends
    // at 400 ms, as in Envoy (whose upstream request starts when the filter continues).
    let script = r#"{"rules": [{"cluster": "httpbin", "answers": [{"body_base64": "AA==", "delay_ms": 300}]}]}"#;
    let report = run(
        "release",
        "http_auth_random.wasm",
        "{\"path\": \"/a\", \"response\": {\"latency_ms\": 100}}\n{\"path\": \"/b\", \"at_ms\": 1000, \"response\": {\"latency_ms\": 5000}}\n",
        &[("callouts.json", script)],
        &["--callouts", "$DIR/callouts.json"],
    );
    let ended: Vec<(u64, &str)> = report["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["ended_at_ms"].as_u64().unwrap(), e["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(ended, [(400, "completed"), (6300, "completed")]);
}

#[test]
fn hello_world_runs_as_a_service_and_logs_its_ticks() {
    // A root-only WasmService: no HTTP context; its 5 s ticks run over the final 10 s.
    let report = run("service", "hello_world.wasm", "", &[], &["--service", ""]);
    let logs = report["logs"].as_array().unwrap();
    assert!(logs.iter().all(|l| l["source"] == "root"), "{logs:?}");
    assert_eq!(logs.len(), 3, "on start, then a tick at 5 s and 10 s: {logs:?}");
    assert!(logs[0]["message"].as_str().unwrap().contains("Hello, World!"), "{logs:?}");
    // With services only, exchanges pass without a filter.
    let report = run("service_traffic", "hello_world.wasm", "{\"path\": \"/\"}\n", &[], &["--service", ""]);
    assert_eq!(statuses(&report), [200]);
}

#[test]
fn the_root_gets_on_done_at_shutdown_and_services_get_no_stream() {
    let mut host = Host::builder(&crate::guest::module(
        r#"(func (export "proxy_on_context_create") (param $id i32) (param $root i32)
             (call $log_i32 (str "created") (local.get $id)))
           (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
           (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
           (func (export "proxy_on_done") (param $id i32) (result i32)
             (call $log_i32 (str "done") (local.get $id)) (i32.const 1))"#,
    ))
    .add_service("svc", Vec::new())
    .root_id("http")
    .build()
    .unwrap();
    assert_eq!(host.root_contexts(), [1, 2]);
    assert_eq!(host.service_contexts(), [1]);
    let s = host.new_stream();
    host.request_headers(s, &[(":path", "/"), (":method", "GET"), (":authority", "a")], true).unwrap();
    host.complete(s).unwrap();
    host.shutdown().unwrap();
    host.shutdown().unwrap();
    assert_eq!(crate::guest::logged(&host, "created"), ["1", "2", "3"]);
    // The stream (3) was on the HTTP plugin (2); on_done ran on it, then on each root, once.
    assert_eq!(crate::guest::logged(&host, "done"), ["3", "1", "2"]);
}

#[test]
fn workers_are_vms_of_their_own_sharing_shared_data_and_streams_go_round_robin() {
    let mut host = Host::builder(&crate::guest::module(
        r#"(func (export "proxy_on_context_create") (param $id i32) (param $root i32)
             (call $log_i32 (str "created") (local.get $id))
             (call $log_i32 (str "on_root") (local.get $root)))
           (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
           (func (export "proxy_on_configure") (param $root i32) (param i32) (result i32)
             ;; each VM counts its own configures in its own memory (offset 64)
             (i32.store (i32.const 64) (i32.add (i32.load (i32.const 64)) (i32.const 1)))
             (call $log_i32 (str "configures_in_this_vm") (i32.load (i32.const 64)))
             (drop (call $proxy_set_shared_data (str "k") (str "v") (i32.const 0)))
             (call $log_i32 (str "get") (call $proxy_get_shared_data (str "k") (i32.const 16) (i32.const 20) (i32.const 24)))
             (i32.const 1))"#,
    ))
    .workers(2)
    .build()
    .unwrap();
    assert_eq!((host.workers(), host.root_contexts()), (2, &[1, 2][..]));
    // Each worker's VM configured its root once: its own memory says 1 both times.
    assert_eq!(crate::guest::logged(&host, "configures_in_this_vm"), ["1", "1"]);
    let streams: Vec<_> = (0..3).map(|_| host.new_stream()).collect();
    for s in &streams {
        host.request_headers(*s, &[(":path", "/"), (":method", "GET"), (":authority", "a")], true).unwrap();
    }
    assert_eq!(streams.iter().map(|s| host.worker_of(s.0)).collect::<Vec<_>>(), [0, 1, 0]);
    assert_eq!(crate::guest::logged(&host, "on_root"), ["0", "0", "1", "2", "1"]);
    // Shared data is the VM id's, across workers: both wrote the one entry (its CAS counts 2).
    assert_eq!(crate::guest::logged(&host, "get"), ["0", "0"]);
    let (value, cas) = host.shared().get("", b"k").unwrap();
    assert_eq!((value.as_slice(), cas), (&b"v"[..], 2));
}

/// The README's "Test your filter in five minutes" test, as written there, on the SDK's
/// `http_headers` example (which answers `/hello` itself).
#[test]
fn the_guides_first_test_passes_on_http_headers() {
    let module = host_harness::Module::from_file(third_party("http_headers.wasm")).unwrap();
    let mut host = Host::builder(&module)
        .root_id("http_headers_root")
        .plugin_config("plain text or JSON, passed as bytes")
        .envoy_defaults(true)
        .build()
        .unwrap();
    let s = host.new_stream();
    host.request_headers(
        s,
        &[(":method", "GET"), (":path", "/hello"), (":scheme", "http"), (":authority", "example.com")],
        true,
    )
    .unwrap();
    let reply = host.stream(s).unwrap().local_reply().expect("the filter answers /hello");
    assert_eq!(reply.status, 200);
    assert!(reply.headers.contains(&("hello".into(), "World".into())));
}
