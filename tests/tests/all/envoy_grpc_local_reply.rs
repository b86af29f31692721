//! `send_grpc_response` in Envoy 1.40 and in the harness (issue #18): the proxy-wasm Rust SDK's
//! `grpc_auth_random.wasm` (`../shared/third-party/`) asks cluster `grpcbin`
//! (`grpcbin.GRPCBin/RandomError`, here `tests/tools/grpcbin_upstream.py` answering statuses we
//! choose) and, on an odd status, answers the gRPC request with `send_grpc_response(Aborted,
//! "Aborted by Proxy-Wasm!")`. The response's headers and body, read with curl over h2c, are
//! compared with what the harness sends for the same exchange.

use std::process::Command;
use std::time::Duration;

use host_harness::{Host, Module, Script};
use meshlens_tests::envoy::{Envoy, TempDir, free_port};
use meshlens_tests::paths;
use meshlens_tests_process::{Process, Ready, output_within};

fn module_path() -> String {
    let path = paths::shared_dir().join("third-party/rust-sdk-examples/grpc_auth_random.wasm");
    assert!(path.exists(), "missing {}", path.display());
    path.display().to_string()
}

fn bootstrap(listener: u16, admin: u16, grpc: u16) -> String {
    let module = module_path();
    let cluster = |name: &str| {
        format!(
            r#"    - name: {name}
      type: STATIC
      connect_timeout: 1s
      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicit_http_config: {{ http2_protocol_options: {{}} }}
      load_assignment:
        cluster_name: {name}
        endpoints: [{{ lb_endpoints: [{{ endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {grpc} }} }} }} }}] }}]
"#
        )
    };
    format!(
        r#"admin:
  address: {{ socket_address: {{ address: 127.0.0.1, port_value: {admin} }} }}
static_resources:
  listeners:
    - name: edge
      address: {{ socket_address: {{ address: 127.0.0.1, port_value: {listener} }} }}
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: edge
                codec_type: AUTO
                route_config:
                  name: edge
                  virtual_hosts:
                    - name: app
                      domains: ["*"]
                      routes: [{{ match: {{ prefix: "/" }}, route: {{ cluster: app }} }}]
                http_filters:
                  - name: envoy.filters.http.wasm
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
                      config:
                        vm_config:
                          runtime: envoy.wasm.runtime.v8
                          code: {{ local: {{ filename: {module} }} }}
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
{}{}"#,
        cluster("app"),
        cluster("grpcbin")
    )
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
    let grpc_port = free_port();
    let mut cmd = Command::new(paths::receivers_python());
    cmd.arg(paths::repo_root().join("tests/tools/grpcbin_upstream.py")).arg(grpc_port.to_string()).arg("3,0");
    let _upstream = Process::start(
        "grpcbin_upstream.py",
        cmd,
        &dir.0.join("grpcbin_upstream.out"),
        &[Ready::Line("listening on")],
        Duration::from_secs(30),
    )
    .unwrap();
    let (listener, admin) = (free_port(), free_port());
    let _envoy = Envoy::start_text(&bootstrap(listener, admin, grpc_port), listener, admin, 1);
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
            "answers": [{"grpc_status": 3, "grpc_message": "scripted"}, {"grpc_status": 0}]}]}"#,
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
    host.request_headers(s, &request, false).unwrap();
    let stream = host.stream(s).unwrap();
    assert!(stream.local_reply().is_some());
    assert!(stream.downstream_response_body().is_empty());
    assert_eq!(comparable(stream.downstream_response_headers()), expected);
}
