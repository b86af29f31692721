//! The SERVER span's peer, client, header and custom attributes through a real Envoy 1.40 (V8)
//! running the release module with `envoy-config/edge-gateway.yaml` (`use_remote_address: true`,
//! `xff_num_trusted_hops: 0`: Envoy's `source.address` is the TCP peer, and Envoy appends the
//! peer to `x-forwarded-for`).

use meshlens_tests::envoy::{self, Envoy, Render, free_port};
use meshlens_tests::http::{Client, Reply, Server};
use meshlens_tests::otlp::{self, Receiver};
use serde_json::{Value, json};

const CONFIG: &str = r#"{"service": {"name": "edge-gateway"}, "routes": ["/api/v1/query"],
  "tracing": {"sampling": {"ratio": 1.0}, "exporter": {"cluster": "otel_collector", "flush_interval_ms": 100},
    "request_headers": ["content-type", "authorization", "x-multi"],
    "response_headers": ["x-cache"],
    "attributes": [{"key": "app.tenant", "from": {"request_header": "x-tenant"}},
                   {"key": "app.note", "from": {"request_header": "x-note"}},
                   {"key": "envoy.cluster", "from": {"property": ["xds", "cluster_name"]}},
                   {"key": "envoy.upstream_port", "from": {"property": ["upstream", "port"]}},
                   {"key": "envoy.source_port", "from": {"property": ["source", "port"]}}],
    "max_attribute_bytes": 64}}"#;

/// A GitHub token planted in the app's response header; it must reach no span.
const PLANTED: &str = "ghp_0123456789abcdefghijABCDEFGHIJ012345";

fn strings(values: &[&str]) -> Value {
    json!({"arrayValue": {"values": values.iter().map(|v| json!({"stringValue": v})).collect::<Vec<_>>()}})
}

#[test]
fn peer_client_headers_and_custom_attributes_reach_the_span_redacted_and_cut() {
    let app = Server::start(|_| {
        let mut reply = Reply::text(200, "ok");
        reply.headers.push(("x-cache".into(), format!("HIT {PLANTED}")));
        reply.headers.push(("x-cache".into(), "MISS".into()));
        reply
    });
    let collector = Receiver::start();
    let render =
        Render { app_port: app.port(), collector_port: collector.server.port(), plugin_config: Some(CONFIG.into()) };
    let envoy = Envoy::start("edge-gateway.yaml", &render, 1);
    let mut client = Client::connect(envoy.listener).unwrap();
    let port = client.local_port().unwrap();
    let note = format!("n{}", "x".repeat(200));
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
    let bearer = format!("Bearer {jwt}");
    let headers = [
        ("x-forwarded-for", "203.0.113.9"),
        ("content-type", "application/json"),
        ("authorization", bearer.as_str()),
        ("x-multi", "a"),
        ("x-multi", "b"),
        ("x-tenant", "acme"),
        ("x-note", note.as_str()),
    ];
    assert_eq!(client.get("/api/v1/query", &headers).unwrap().status(), 200);
    // Envoy appended one entry to the client's x-forwarded-for (for a loopback peer, its own
    // address, not the peer's): the filter sees the header after that.
    let forwarded = app.requests()[0].header("x-forwarded-for").unwrap().to_owned();
    assert_eq!(forwarded.split(',').count(), 2, "{forwarded}");
    assert!(forwarded.starts_with("203.0.113.9,"), "{forwarded}");

    let spans = collector.wait_server_spans(1);
    let span = &spans[0].raw;
    let get =
        |k: &str| span["attributes"].as_array().unwrap().iter().find(|a| a["key"] == k).map(|a| a["value"].clone());
    assert_eq!(get("network.peer.address"), Some(json!({"stringValue": "127.0.0.1"})));
    assert_eq!(get("network.peer.port"), Some(json!({"intValue": port.to_string()})));
    assert_eq!(get("client.address"), Some(json!({"stringValue": "203.0.113.9"})));
    assert_eq!(get("client.port"), None, "x-forwarded-for carries no port: none is written (not 0)");
    assert_eq!(get("http.request.header.content-type"), Some(strings(&["application/json"])));
    assert_eq!(get("http.request.header.x-multi"), Some(strings(&["a", "b"])));
    assert_eq!(get("http.request.header.authorization"), Some(strings(&["Bearer [REDACTED]"])));
    assert_eq!(get("http.response.header.x-cache"), Some(strings(&["HIT [REDACTED]", "MISS"])), "every value");
    assert_eq!(get("app.tenant"), Some(json!({"stringValue": "acme"})));
    let cut = get("app.note").unwrap()["stringValue"].as_str().unwrap().to_owned();
    assert_eq!(cut.len(), 64, "{cut}");
    assert!(cut.starts_with("nxxx") && cut.ends_with("...[TRUNCATED]"), "{cut}");
    assert_eq!(get("envoy.cluster"), Some(json!({"stringValue": "app"})));
    assert_eq!(get("envoy.upstream_port"), Some(json!({"intValue": app.port().to_string()})));
    assert_eq!(get("envoy.source_port"), Some(json!({"intValue": port.to_string()})));
    let exported = span.to_string();
    assert!(!exported.contains(PLANTED) && !exported.contains(jwt), "{exported}");

    // Without a forwarded client, Envoy's own append is not taken for one: the client is the
    // peer, with its port.
    let mut direct = Client::connect(envoy.listener).unwrap();
    let direct_port = direct.local_port().unwrap();
    assert_eq!(direct.get("/api/v1/query", &[]).unwrap().status(), 200);
    assert_eq!(app.requests()[1].header("x-forwarded-for").map(|x| x.split(',').count()), Some(1));
    let spans = collector.wait_server_spans(2);
    let second = spans.iter().find(|s| s.attribute("network.peer.port") == Some(direct_port.to_string())).unwrap();
    assert_eq!(second.attribute("client.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(second.attribute("client.port"), Some(direct_port.to_string()));
    assert_eq!(second.attribute("app.tenant"), None, "an absent header gives no attribute");

    // Protobuf as sent, decoded by the official opentelemetry-proto package and by otlp-decode
    // alike, then through the strict validator.
    let exports = collector.exports();
    assert!(exports.iter().all(|e| e.content_type == "application/x-protobuf"), "{exports:?}");
    let (ok, out) = otlp::validate_exports("traces", &exports);
    assert!(ok, "OTLP validator rejected a payload:\n{out}");
}

/// Behind one trusted proxy (`xff_num_trusted_hops: 1`) Envoy takes the client from
/// `x-forwarded-for`: `source.address` is that address with port 0, and no Envoy attribute gives
/// the TCP peer. The span then has no `network.peer.*` and no `client.port` (never 0), and
/// `client.address` is the original client, the left-most entry.
#[test]
fn behind_a_trusted_proxy_the_span_has_no_peer_and_no_port_0() {
    let app = Server::start(|_| Reply::text(200, "ok"));
    let collector = Receiver::start();
    let config = r#"{"service": {"name": "edge-gateway"},
      "tracing": {"exporter": {"cluster": "otel_collector", "flush_interval_ms": 100},
        "attributes": [{"key": "envoy.source_address", "from": {"property": ["source", "address"]}}]},
      "access_log": {"fields": ["status", "client_address"]}}"#;
    let render =
        Render { app_port: app.port(), collector_port: collector.server.port(), plugin_config: Some(config.into()) };
    let (listener, admin) = (free_port(), free_port());
    let text = envoy::render("edge-gateway.yaml", &render, listener, admin);
    let trusted = text.replacen("xff_num_trusted_hops: 0", "xff_num_trusted_hops: 1", 1);
    assert_ne!(trusted, text, "the gateway config sets xff_num_trusted_hops");
    let envoy = Envoy::start_text(&trusted, listener, admin, 1);
    let headers = [("x-forwarded-for", "198.51.100.20, 203.0.113.9")];
    assert_eq!(meshlens_tests::http::get(envoy.listener, "/api/v1/query", &headers).unwrap().status(), 200);
    let spans = collector.wait_server_spans(1);
    let span = &spans[0];
    // What Envoy gave the filter: the trusted client, the last entry the proxy appended, port 0.
    assert_eq!(span.attribute("envoy.source_address").as_deref(), Some("203.0.113.9:0"));
    assert_eq!(span.attribute("network.peer.address"), None);
    assert_eq!(span.attribute("network.peer.port"), None);
    assert_eq!(span.attribute("client.address").as_deref(), Some("198.51.100.20"));
    assert_eq!(span.attribute("client.port"), None, "no port 0");
    let (ok, out) = otlp::validate_exports("traces", &collector.exports());
    assert!(ok, "OTLP validator rejected a payload:\n{out}");
    // The access line's client is Envoy's trusted address, without the port Envoy does not know.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut log = envoy.log();
    while !log.contains("\"client_address\"") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        log = envoy.log();
    }
    assert!(log.contains(r#""client_address":"203.0.113.9""#), "{log}");
    assert!(!log.contains("203.0.113.9:0\""), "no port 0 in the line");
}
