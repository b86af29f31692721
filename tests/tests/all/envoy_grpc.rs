//! gRPC through a real Envoy 1.40 (V8) running the release module with
//! `envoy-config/edge-gateway.yaml`: a real gRPC server (grpcio, `tests/tools/grpc_upstream.py`)
//! behind an h2c cluster, a real gRPC client (`tests/tools/grpc_client.py`) speaking h2c to the
//! listener. Statuses arrive every way a call can end: in trailers after a message, in a
//! trailers-only response from the server, and in the trailers-only replies Envoy itself makes
//! for gRPC requests it cannot route (UNIMPLEMENTED) or reach (UNAVAILABLE). Asserted: each span's
//! `rpc.*` attributes and status (after the strict validator and the official protobuf decoder),
//! the `grpc_status` label of `/meshlens/metrics`, and each access line's level and `grpc_status`.

use std::process::Command;
use std::time::{Duration, Instant};

use meshlens_tests::envoy::{Envoy, Render, TempDir, free_port, render};
use meshlens_tests::http::{self, Reply, Server};
use meshlens_tests::otlp::{self, ReceivedSpan, Receiver};
use meshlens_tests::paths;
use meshlens_tests_process::{Process, Ready, output_within};
use serde_json::Value;

/// One call of the client, and what every output must say about it.
struct Call {
    /// `unary` or `stream` (server streaming), as `grpc_client.py` takes it.
    kind: &'static str,
    path: &'static str,
    /// The status the client received, by name.
    client: &'static str,
    /// `rpc.grpc.status_code`, the `grpc_status` label and log field.
    code: i64,
    /// The SERVER span's `error.type`; `None`: the status is unset.
    error_type: Option<&'static str>,
    /// The access line's `level`.
    level: &'static str,
}

const CALLS: [Call; 7] = [
    Call { kind: "unary", path: "/meshlens.test.Echo/Ok", client: "OK", code: 0, error_type: None, level: "info" },
    Call {
        kind: "stream",
        path: "/meshlens.test.Echo/FailAfterMessage",
        client: "INTERNAL",
        code: 13,
        error_type: Some("INTERNAL"),
        level: "error",
    },
    Call {
        kind: "unary",
        path: "/meshlens.test.Echo/FailNow",
        client: "INTERNAL",
        code: 13,
        error_type: Some("INTERNAL"),
        level: "error",
    },
    Call {
        kind: "unary",
        path: "/meshlens.test.Echo/NotFound",
        client: "NOT_FOUND",
        code: 5,
        error_type: None,
        level: "warn",
    },
    Call {
        kind: "unary",
        path: "/meshlens.test.Echo/Nope",
        client: "UNIMPLEMENTED",
        code: 12,
        error_type: Some("UNIMPLEMENTED"),
        level: "error",
    },
    // No route: Envoy's 404 becomes a trailers-only gRPC reply.
    Call {
        kind: "unary",
        path: "/meshlens.test.Unrouted/Call",
        client: "UNIMPLEMENTED",
        code: 12,
        error_type: Some("UNIMPLEMENTED"),
        level: "error",
    },
    // No healthy upstream: Envoy's 503 becomes a trailers-only gRPC reply.
    Call {
        kind: "unary",
        path: "/meshlens.test.Down/Call",
        client: "UNAVAILABLE",
        code: 14,
        error_type: Some("UNAVAILABLE"),
        level: "error",
    },
];

/// The shipped gateway, plus a gRPC route to an h2c cluster and one to the dead `down` cluster.
fn gateway(app: u16, grpc: u16, collector: u16, listener: u16, admin: u16) -> String {
    let r = Render { app_port: app, collector_port: collector, plugin_config: None };
    let text = render("edge-gateway.yaml", &r, listener, admin);
    let down_route =
        "                        - match: { prefix: \"/down/\" }\n                          route: { cluster: down }\n";
    assert!(text.contains(down_route), "the gateway's /down/ route moved");
    let grpc_routes = format!(
        "{down_route}                        - match: {{ prefix: \"/meshlens.test.Echo/\" }}\n                          route: {{ cluster: grpc_app }}\n                        - match: {{ prefix: \"/meshlens.test.Down/\" }}\n                          route: {{ cluster: down }}\n"
    );
    let clusters = "  clusters:\n";
    assert!(text.contains(clusters));
    let grpc_cluster = format!(
        "{clusters}    - name: grpc_app
      type: STATIC
      connect_timeout: 1s
      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          \"@type\": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicit_http_config:
            http2_protocol_options: {{}}
      load_assignment:
        cluster_name: grpc_app
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address: {{ address: 127.0.0.1, port_value: {grpc} }}
"
    );
    text.replacen(down_route, &grpc_routes, 1).replacen(clusters, &grpc_cluster, 1)
}

/// The JSON objects meshlens wrote into Envoy's log.
fn log_lines(envoy: &Envoy) -> Vec<Value> {
    envoy
        .log()
        .lines()
        .filter_map(|l| l.split_once("wasm log ").and_then(|(_, rest)| rest.split_once(": {")).map(|(_, json)| json))
        .map(|json| serde_json::from_str(&format!("{{{json}")).unwrap_or_else(|e| panic!("not JSON ({e}): {json}")))
        .collect()
}

fn find<'a>(spans: &'a [ReceivedSpan], path: &str) -> &'a ReceivedSpan {
    spans
        .iter()
        .find(|s| s.attribute("url.path").as_deref() == Some(path))
        .unwrap_or_else(|| panic!("no span for {path}"))
}

#[test]
fn grpc_statuses_from_trailers_and_trailers_only_replies_reach_spans_metrics_and_logs() {
    let dir = TempDir::new("grpc");
    let python = paths::receivers_python();
    let grpc_port = free_port();
    let mut cmd = Command::new(&python);
    cmd.arg(paths::repo_root().join("tests/tools/grpc_upstream.py")).arg(grpc_port.to_string());
    let _upstream = Process::start(
        "grpc_upstream.py",
        cmd,
        &dir.0.join("grpc_upstream.out"),
        &[Ready::Line("listening on")],
        Duration::from_secs(30),
    )
    .unwrap();
    let app = Server::start(|_| Reply::text(200, "ok"));
    let collector = Receiver::start();
    let (listener, admin) = (free_port(), free_port());
    let text = gateway(app.port(), grpc_port, collector.server.port(), listener, admin);
    let envoy = Envoy::start_text(&text, listener, admin, 1);

    let mut client = Command::new(&python);
    client.arg(paths::repo_root().join("tests/tools/grpc_client.py")).arg(format!("127.0.0.1:{listener}"));
    client.args(CALLS.iter().map(|c| format!("{}:{}", c.kind, c.path)));
    let out = output_within(client, Duration::from_secs(60)).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let results: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(results.len(), CALLS.len(), "{stdout}");
    for (call, result) in CALLS.iter().zip(&results) {
        assert_eq!(result["code"], call.client, "what the client got for {}: {result}", call.path);
    }
    assert_eq!(results[1]["messages"], 1, "INTERNAL came in the trailers, after a message");
    // One plain HTTP request: no rpc.* attributes, grpc_status `none`.
    assert_eq!(http::get(envoy.listener, "/api/v1/query", &[]).unwrap().status(), 200);

    // Spans: strict validator and the official protobuf decoder first, then the attributes.
    let spans = collector.wait_server_spans(CALLS.len() + 1);
    assert_eq!(spans.len(), CALLS.len() + 1, "{spans:?}");
    let exports = collector.exports();
    assert!(exports.iter().all(|e| e.is_protobuf()), "the default encoding");
    let (ok, report) = otlp::validate_exports("traces", &exports);
    assert!(ok, "OTLP validator or decoder rejected a payload:\n{report}");
    for call in &CALLS {
        let span = find(&spans, call.path);
        let path = call.path;
        assert_eq!(span.attribute("rpc.system").as_deref(), Some("grpc"), "{path}");
        let (service, method) = path[1..].split_once('/').unwrap();
        assert_eq!(span.attribute("rpc.service").as_deref(), Some(service), "{path}");
        assert_eq!(span.attribute("rpc.method").as_deref(), Some(method), "{path}");
        assert_eq!(span.attribute("rpc.grpc.status_code"), Some(call.code.to_string()), "{path}");
        assert_eq!(span.attribute("error.type").as_deref(), call.error_type, "{path}: {}", span.raw);
        let status = span.raw["status"]["code"].as_i64().unwrap_or(0);
        assert_eq!(status, if call.error_type.is_some() { 2 } else { 0 }, "{path}: {}", span.raw["status"]);
        assert_eq!(
            span.attribute("http.response.status_code").as_deref(),
            Some("200"),
            "{path}: gRPC fails with a 200"
        );
        assert_eq!(span.attribute("network.protocol.version").as_deref(), Some("2"), "{path}: h2c");
    }
    let message = |path: &str| find(&spans, path).raw["status"]["message"].as_str().unwrap_or_default().to_owned();
    assert_eq!(message("/meshlens.test.Echo/FailAfterMessage"), "boom after one message");
    assert_eq!(message("/meshlens.test.Echo/FailNow"), "boom before any message");
    let plain = find(&spans, "/api/v1/query");
    assert_eq!((plain.attribute("rpc.system"), plain.attribute("rpc.grpc.status_code")), (None, None));
    // The CLIENT span of the hop to the gRPC server: the gateway is that server's client, so
    // every code but OK fails it (NOT_FOUND too, the caller's error on the SERVER span).
    let all = collector.spans();
    let client_of = |path: &str| {
        let server = find(&spans, path);
        all.iter().find(|s| s.parent_span_id == server.span_id && s.raw["kind"] == 3).cloned()
    };
    let not_found = client_of("/meshlens.test.Echo/NotFound").expect("a CLIENT span for a call that went upstream");
    assert_eq!(not_found.raw["status"]["code"], 2, "{}", not_found.raw);
    assert_eq!(not_found.attribute("error.type").as_deref(), Some("NOT_FOUND"));
    assert_eq!(not_found.attribute("rpc.grpc.status_code").as_deref(), Some("5"));
    let ok = client_of("/meshlens.test.Echo/Ok").expect("a CLIENT span for the OK call");
    assert_eq!((ok.raw["status"]["code"].as_i64().unwrap_or(0), ok.attribute("error.type")), (0, None));
    assert!(client_of("/meshlens.test.Unrouted/Call").is_none(), "no route: no upstream hop");

    // Metrics: every call under its grpc_status; the failures are 200s, and errors there.
    let series = |method: &str, route: &str, label: &str| {
        format!(
            "meshlens_http_requests_total{{reporter=\"gateway\",method=\"{method}\",route=\"{route}\",status_code=\"200\",status_class=\"2xx\",grpc_status=\"{label}\"}}"
        )
    };
    let mut expected: Vec<(String, u64)> = Vec::new();
    for call in &CALLS {
        let count = CALLS.iter().filter(|c| c.code == call.code).count() as u64;
        expected.push((series("POST", "other", &call.code.to_string()), count));
    }
    expected.push((series("GET", "/api/v1/query", "none"), 1));
    let value = |text: &str, name: &str| {
        text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<u64>().ok())
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let metrics = loop {
        let text = envoy.module_metrics();
        if expected.iter().all(|(n, v)| value(&text, n) == Some(*v)) || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    for (name, count) in &expected {
        assert_eq!(value(&metrics, name), Some(*count), "{name}\n{metrics}");
    }

    // Access lines: the level of a 5xx for the server's failures, of a 4xx for the caller's.
    // Envoy flushes its log file every few seconds.
    let deadline = Instant::now() + Duration::from_secs(20);
    let lines = loop {
        let lines = log_lines(&envoy);
        if lines.len() > CALLS.len() || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    for call in &CALLS {
        let line = lines
            .iter()
            .find(|l| l["path"] == call.path)
            .unwrap_or_else(|| panic!("no access line for {}: {lines:?}", call.path));
        assert_eq!(line["level"], call.level, "{line}");
        assert_eq!(line["grpc_status"], call.code, "{line}");
        assert_eq!(line["status"], 200, "{line}");
    }
    let plain = lines.iter().find(|l| l["path"] == "/api/v1/query").unwrap();
    assert!(plain.get("grpc_status").is_none() && plain["level"] == "info", "{plain}");
}
