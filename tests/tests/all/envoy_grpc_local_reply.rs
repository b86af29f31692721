//! `send_grpc_response` in Envoy 1.40 and in the harness (issue #18): the proxy-wasm Rust SDK's
//! `grpc_auth_random.wasm` (`../shared/third-party/`) asks cluster `grpcbin`
//! (`grpcbin.GRPCBin/RandomError`, here `tests/tools/grpcbin_upstream.py` answering statuses we
//! choose) and, on an odd status, answers the gRPC request with `send_grpc_response(Aborted,
//! "Aborted by Proxy-Wasm!")`. The response's headers and body, read with curl over h2c, are
//! compared with what the harness sends for the same exchange.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use host_harness::properties::Value;
use host_harness::{Host, Module, Script};
use meshlens_tests::envoy::bootstrap::{Bootstrap, Cluster, HttpFilter, Listener, Wasm};
use meshlens_tests::envoy::{Envoy, TempDir, free_port};
use meshlens_tests::paths;
use meshlens_tests_process::{Process, Ready, output_within};

fn module_path() -> String {
    let path = paths::shared_dir().join("third-party/rust-sdk-examples/grpc_auth_random.wasm");
    assert!(path.exists(), "missing {}", path.display());
    path.display().to_string()
}

/// `module` as the one HTTP filter, and `clusters`.
fn bootstrap(listener: u16, admin: u16, module: impl AsRef<Path>, clusters: Vec<Cluster>) -> String {
    let listener = Listener::to_app(listener, vec![HttpFilter::Wasm(Wasm::new(module))]);
    Bootstrap { admin, listener: Some(listener), clusters, ..Bootstrap::default() }.yaml()
}

/// The app and `grpcbin`, both the gRPC upstream on `port`.
fn grpc_clusters(port: u16) -> Vec<Cluster> {
    vec![Cluster::http2("app", port), Cluster::http2("grpcbin", port)]
}

/// `tests/tools/grpcbin_upstream.py` answering `RandomError` with `statuses` (comma-separated),
/// and its port.
fn grpcbin(dir: &TempDir, statuses: &str) -> (Process, u16) {
    let port = free_port();
    let mut cmd = Command::new(paths::receivers_python());
    cmd.arg(paths::repo_root().join("tests/tools/grpcbin_upstream.py")).arg(port.to_string()).arg(statuses);
    let out = dir.0.join("grpcbin_upstream.out");
    let process =
        Process::start("grpcbin_upstream.py", cmd, &out, &[Ready::Line("listening on")], Duration::from_secs(30))
            .unwrap();
    (process, port)
}

/// A unary gRPC request (one empty message) over h2c with curl: the response's header lines
/// (status line first, lowercased names; trailers too, as curl prints them) and body length.
fn curl_grpc(listener: u16, dir: &std::path::Path) -> (Vec<(String, String)>, usize) {
    let request = dir.join("request.bin");
    std::fs::write(&request, [0u8; 5]).unwrap();
    let body = dir.join("body.bin");
    let mut curl = Command::new("curl");
    curl.args(["--http2-prior-knowledge", "-sS", "-D", "-", "-o"])
        .arg(&body)
        .args(["-H", "content-type: application/grpc", "-H", "te: trailers", "--data-binary"])
        .arg(format!("@{}", request.display()))
        .arg(format!("http://127.0.0.1:{listener}/meshlens.test.App/Call"));
    let out = output_within(curl, Duration::from_secs(20)).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut headers = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(status) = line.strip_prefix("HTTP/2 ") {
            headers.push((String::from(":status"), status.trim().to_owned()));
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    (headers, std::fs::read(&body).map(|b| b.len()).unwrap_or(0))
}

/// The headers a filter can see the difference in: without those Envoy's codec adds after the
/// filters (`date`, `server`), in their order.
fn comparable(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers.iter().filter(|(k, _)| k != "date" && k != "server").cloned().collect()
}

#[test]
fn send_grpc_response_is_headers_only_in_envoy_and_in_the_harness() {
    let dir = TempDir::new("grpc-local-reply");
    let (_upstream, grpc_port) = grpcbin(&dir, "3,0");
    let (listener, admin) = (free_port(), free_port());
    let _envoy =
        Envoy::start_text(&bootstrap(listener, admin, module_path(), grpc_clusters(grpc_port)), listener, admin, 1);
    let (aborted, aborted_body) = curl_grpc(listener, &dir.0);
    let (granted, _) = curl_grpc(listener, &dir.0);
    eprintln!("Envoy, status 3: {aborted:?}, {aborted_body} body bytes\nEnvoy, status 0: {granted:?}");

    // Envoy 1.40: headers only (no DATA frame), HTTP 200, application/grpc, ABORTED (10) with the
    // module's message, the module's header (replaced by its on_http_response_headers).
    assert_eq!(aborted_body, 0);
    let expected: Vec<(String, String)> = [
        (":status", "200"),
        ("content-type", "application/grpc"),
        ("grpc-status", "10"),
        ("grpc-message", "Aborted by Proxy-Wasm!"),
        ("powered-by", "proxy-wasm"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(comparable(&aborted), expected, "{aborted:?}");
    assert!(granted.iter().any(|(k, v)| k == "grpc-status" && v == "0"), "{granted:?}");

    // The harness, on the same exchange, with the same answers scripted.
    let module = Module::from_file(module_path()).unwrap();
    let script = Script::parse(
        r#"{"rules": [{"cluster": "grpcbin", "grpc_service": "grpcbin.GRPCBin", "grpc_method": "RandomError",
            "answers": [{"grpc_status": 3, "grpc_message": "scripted status 3"}, {"grpc_status": 0}]}]}"#,
    )
    .unwrap();
    let mut host = Host::builder(&module).callouts(script).build().unwrap();
    let request = [
        (":method", "POST"),
        (":path", "/meshlens.test.App/Call"),
        (":authority", "x"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ];
    let s = host.new_stream();
    // The client speaks HTTP/2, as gRPC clients do: no HTTP/1 framing, no `connection: close`.
    host.set_stream_property(s, &["request", "protocol"], Value::String("HTTP/2".into())).unwrap();
    host.request_headers(s, &request, false).unwrap();
    let stream = host.stream(s).unwrap();
    assert!(stream.local_reply().is_some());
    assert!(stream.downstream_response_body().is_empty());
    assert_eq!(comparable(stream.downstream_response_headers()), expected);
}

/// An upstream that accepts connections and never answers, so a call to it ends at the caller's
/// timeout. (A gRPC server would not do: it enforces the `grpc-timeout` Envoy sends and may close
/// the call with DEADLINE_EXCEEDED before Envoy's own timer fires.) The listener and the accepted
/// connections live as long as the returned guard.
fn silent_upstream() -> (std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = std::sync::Arc::downgrade(&held);
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let Some(keep) = keep.upgrade() else { return };
            keep.lock().unwrap().push(conn);
        }
    });
    (held, port)
}

/// A guest (WAT) that calls `grpcbin.GRPCBin/Slow` with a 1 s timeout from the request headers and
/// answers the request from `proxy_on_grpc_close`: 200, header `x-grpc-close-status` (two
/// digits), body the status message (`proxy_get_status`).
const TIMEOUT_GUEST: &str = r#"(module
  (import "env" "proxy_grpc_call" (func $grpc_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $effective (param i32) (result i32)))
  (import "env" "proxy_get_status" (func $get_status (param i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 8192))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (i32.and (i32.add (local.get $n) (i32.const 15)) (i32.const -16))))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param i32 i32) (result i32)
    (i32.store (i32.const 100) (local.get $ctx))
    (drop (call $grpc_call (i32.const 1024) (i32.const 7) (i32.const 1040) (i32.const 15) (i32.const 1060)
      (i32.const 4) (i32.const 1070) (i32.const 4) (i32.const 1080) (i32.const 0) (i32.const 1000) (i32.const 104)))
    (i32.const 1))
  (func (export "proxy_on_grpc_close") (param $root i32) (param $token i32) (param $status i32)
    (drop (call $effective (i32.load (i32.const 100))))
    (i32.store8 (i32.const 1182) (i32.add (i32.const 48) (i32.div_u (local.get $status) (i32.const 10))))
    (i32.store8 (i32.const 1183) (i32.add (i32.const 48) (i32.rem_u (local.get $status) (i32.const 10))))
    (drop (call $get_status (i32.const 108) (i32.const 112) (i32.const 116)))
    (drop (call $reply (i32.const 200) (i32.const 0) (i32.const 0) (i32.load (i32.const 112))
      (i32.load (i32.const 116)) (i32.const 1150) (i32.const 35) (i32.const -1))))
  (data (i32.const 1024) "grpcbin")
  (data (i32.const 1040) "grpcbin.GRPCBin")
  (data (i32.const 1060) "Slow")
  (data (i32.const 1150) "\01\00\00\00\13\00\00\00\02\00\00\00x-grpc-close-status\00??\00"))"#;

#[test]
fn a_grpc_call_that_reaches_its_timeout_closes_the_same_in_envoy_and_in_the_harness() {
    let dir = TempDir::new("grpc-timeout");
    let wasm = host_harness::wasm_binary(std::path::Path::new("guest.wat"), TIMEOUT_GUEST.as_bytes().to_vec()).unwrap();
    let module_file = dir.0.join("timeout_guest.wasm");
    std::fs::write(&module_file, &wasm).unwrap();
    let (_silent, grpc_port) = silent_upstream();
    let (listener, admin) = (free_port(), free_port());
    let _envoy =
        Envoy::start_text(&bootstrap(listener, admin, &module_file, grpc_clusters(grpc_port)), listener, admin, 1);
    let started = std::time::Instant::now();
    let out = output_within(
        {
            let mut curl = Command::new("curl");
            curl.args(["-sS", "-D", "-", &format!("http://127.0.0.1:{listener}/")]);
            curl
        },
        Duration::from_secs(20),
    )
    .unwrap();
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("Envoy after {elapsed:?}:\n{text}");
    let status = text.lines().find_map(|l| l.strip_prefix("x-grpc-close-status: ")).map(str::trim).map(str::to_owned);
    let message = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();

    let module = Module::new(&wasm).unwrap();
    let mut host = Host::builder(&module).build().unwrap();
    let s = host.new_stream();
    host.request_headers(s, &[(":method", "GET"), (":path", "/"), (":authority", "x")], true).unwrap();
    host.advance(Duration::from_secs(1)).unwrap();
    let stream = host.stream(s).unwrap();
    let harness_status = stream.downstream_response_header("x-grpc-close-status").map(str::to_owned);
    let harness_message = String::from_utf8_lossy(stream.downstream_response_body()).into_owned();
    assert_eq!((harness_status, harness_message), (status, message), "harness vs Envoy 1.40");
    assert!(elapsed >= Duration::from_millis(900) && elapsed < Duration::from_millis(2900), "{elapsed:?}");
}

/// A guest (WAT) that calls `grpcbin.GRPCBin/RandomError` from the request headers, counts the
/// gRPC callbacks it gets (over the VM's life), and answers from `proxy_on_grpc_receive` or
/// `proxy_on_grpc_close` with header `x-grpc-callbacks: i<count><last size>m<count><size>
/// t<count><size>c<status, two digits>` (counts and sizes single digits, 9 at most).
const CALLBACKS_GUEST: &str = r#"(module
  (import "env" "proxy_grpc_call" (func $grpc_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $effective (param i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 8192))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (i32.and (i32.add (local.get $n) (i32.const 15)) (i32.const -16))))
    (local.get $p))
  (func $digit (param $at i32) (param $v i32)
    (i32.store8 (local.get $at) (i32.add (i32.const 48) (select (i32.const 9) (local.get $v) (i32.gt_u (local.get $v) (i32.const 9))))))
  (func $count (param $at i32) (param $size i32)
    (call $digit (local.get $at) (i32.add (i32.load8_u (local.get $at)) (i32.const -47)))
    (call $digit (i32.add (local.get $at) (i32.const 1)) (local.get $size)))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param i32 i32) (result i32)
    (i32.store (i32.const 100) (local.get $ctx))
    (drop (call $grpc_call (i32.const 1024) (i32.const 7) (i32.const 1040) (i32.const 15) (i32.const 1060)
      (i32.const 11) (i32.const 1080) (i32.const 4) (i32.const 1090) (i32.const 0) (i32.const 1000) (i32.const 104)))
    (i32.const 1))
  (func (export "proxy_on_grpc_receive_initial_metadata") (param i32 i32) (param $n i32) (call $count (i32.const 1180) (local.get $n)))
  (func (export "proxy_on_grpc_receive") (param i32 i32) (param $n i32)
    (call $count (i32.const 1183) (local.get $n))
    (call $respond))
  (func $respond
    (drop (call $effective (i32.load (i32.const 100))))
    (drop (call $reply (i32.const 200) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
      (i32.const 1150) (i32.const 42) (i32.const -1))))
  (func (export "proxy_on_grpc_receive_trailing_metadata") (param i32 i32) (param $n i32) (call $count (i32.const 1186) (local.get $n)))
  (func (export "proxy_on_grpc_close") (param $root i32) (param $token i32) (param $status i32)
    (call $digit (i32.const 1189) (i32.div_u (local.get $status) (i32.const 10)))
    (call $digit (i32.const 1190) (i32.rem_u (local.get $status) (i32.const 10)))
    (call $respond))
  (data (i32.const 1024) "grpcbin")
  (data (i32.const 1040) "grpcbin.GRPCBin")
  (data (i32.const 1060) "RandomError")
  (data (i32.const 1150) "\01\00\00\00\10\00\00\00\0c\00\00\00x-grpc-callbacks\00i00m00t00c00\00"))"#;

#[test]
fn the_grpc_callbacks_of_a_unary_answer_are_the_same_in_envoy_and_in_the_harness() {
    let dir = TempDir::new("grpc-callbacks");
    let wasm =
        host_harness::wasm_binary(std::path::Path::new("guest.wat"), CALLBACKS_GUEST.as_bytes().to_vec()).unwrap();
    let module_file = dir.0.join("callbacks_guest.wasm");
    std::fs::write(&module_file, &wasm).unwrap();
    let (_upstream, grpc_port) = grpcbin(&dir, "0,3");
    let (listener, admin) = (free_port(), free_port());
    let envoy =
        Envoy::start_text(&bootstrap(listener, admin, &module_file, grpc_clusters(grpc_port)), listener, admin, 1);
    let get = || {
        let mut curl = Command::new("curl");
        curl.args(["-sS", "--max-time", "5", "-D", "-", "-o", "/dev/null", &format!("http://127.0.0.1:{listener}/")]);
        let out = output_within(curl, Duration::from_secs(20)).unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines().find_map(|l| l.strip_prefix("x-grpc-callbacks: ")).map(|v| v.trim().to_owned())
    };
    let (ok, failed) = (get(), get());
    eprintln!("Envoy: OK with an empty message: {ok:?}; INVALID_ARGUMENT: {failed:?}");
    if ok.is_none() {
        std::thread::sleep(Duration::from_millis(300));
        eprintln!("{}", envoy.log().lines().filter(|l| l.contains("wasm")).collect::<Vec<_>>().join("\n"));
    }
    // Envoy 1.40: a unary call that succeeds gets `proxy_on_grpc_receive` alone (no metadata
    // callbacks, no close); one that fails gets `proxy_on_grpc_close` alone, with its status.
    assert_eq!((ok.as_deref(), failed.as_deref()), (Some("i00m10t00c00"), Some("i00m10t00c03")));

    let module = Module::new(&wasm).unwrap();
    let script = Script::parse(
        r#"{"rules": [{"cluster": "grpcbin", "answers": [{"grpc_status": 0, "initial_metadata": {"a": "b"}},
            {"grpc_status": 3, "grpc_message": "scripted status 3", "message": "ignored"}]}]}"#,
    )
    .unwrap();
    let mut host = Host::builder(&module).callouts(script).build().unwrap();
    let mut harness = Vec::new();
    for _ in 0..2 {
        let s = host.new_stream();
        host.request_headers(s, &[(":method", "GET"), (":path", "/"), (":authority", "x")], true).unwrap();
        harness.push(host.stream(s).unwrap().downstream_response_header("x-grpc-callbacks").map(str::to_owned));
    }
    assert_eq!(harness, [ok, failed]);
}

#[test]
fn a_grpc_call_to_a_cluster_with_no_endpoint_fails_the_same_in_envoy_and_in_the_harness() {
    let dir = TempDir::new("grpc-no-endpoint");
    let wasm =
        host_harness::wasm_binary(std::path::Path::new("guest.wat"), CALLBACKS_GUEST.as_bytes().to_vec()).unwrap();
    let module_file = dir.0.join("callbacks_guest.wasm");
    std::fs::write(&module_file, &wasm).unwrap();
    let app = meshlens_tests::http::Server::start(|_| meshlens_tests::http::Reply::text(200, "ok"));
    let (listener, admin) = (free_port(), free_port());
    // `grpcbin` keeps its name and loses its endpoints; `app` points at a plain HTTP server the
    // request never reaches (the guest answers it).
    let clusters = vec![Cluster::http2("app", app.port()), Cluster::no_endpoint("grpcbin")];
    let text = bootstrap(listener, admin, &module_file, clusters);
    let _envoy = Envoy::start_text(&text, listener, admin, 1);
    let mut curl = Command::new("curl");
    curl.args(["-sS", "--max-time", "5", "-D", "-", "-o", "/dev/null", &format!("http://127.0.0.1:{listener}/")]);
    let out = output_within(curl, Duration::from_secs(20)).unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let envoy = text.lines().find_map(|l| l.strip_prefix("x-grpc-callbacks: ")).map(|v| v.trim().to_owned());
    let status_line = text.lines().next().unwrap_or_default().trim().to_owned();
    eprintln!("Envoy: {status_line}: {envoy:?}");

    let module = Module::new(&wasm).unwrap();
    let mut host = Host::builder(&module).callouts(Script::default()).build().unwrap();
    let s = host.new_stream();
    host.request_headers(s, &[(":method", "GET"), (":path", "/"), (":authority", "x")], true).unwrap();
    let harness = host.stream(s).unwrap().downstream_response_header("x-grpc-callbacks").map(str::to_owned);
    // Measured: the call is made and closes at once with UNAVAILABLE (14), the request then
    // answered by the guest (200).
    assert_eq!(envoy.as_deref(), Some("i00m00t00c14"), "{status_line}");
    assert_eq!(harness, envoy, "harness vs Envoy 1.40 ({status_line})");
}
