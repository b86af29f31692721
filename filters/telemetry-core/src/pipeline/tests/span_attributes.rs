//! The SERVER span's peer and client attributes, captured headers and custom attributes, through
//! the whole pipeline: read only for sampled spans, redacted, cut to the limit, and the same in
//! both encodings.

use serde_json::{Value, json};

use super::super::Pipeline;
use super::super::fake::{FakeHost, Reply};
use super::{START, attribute, exported_spans, payload};
use crate::names;

const CONFIG: &str = r#"{"tracing": {"exporter": {"encoding": "ENCODING"},
    "request_headers": ["Content-Type", "authorization", "x-multi"],
    "response_headers": ["x-cache"],
    "attributes": [{"key": "app.tenant", "from": {"request_header": "x-tenant"}},
                   {"key": "app.note", "from": {"request_header": "x-note"}},
                   {"key": "envoy.route", "from": {"property": ["xds", "route_name"]}},
                   {"key": "envoy.upstream_port", "from": {"property": ["upstream", "port"]}},
                   {"key": "envoy.mtls", "from": {"property": ["connection", "mtls"]}}],
    "max_attribute_bytes": 48},
    "metrics": {"dimensions": [{"name": "route_name", "from": {"property": ["xds", "route_name"]}}]}}"#;

const OK: Reply<'static> = Reply {
    headers: &[
        (":status", "200"),
        ("x-cache", "HIT from ghp_0123456789abcdefghijABCDEFGHIJ012345"),
        ("x-cache", "MISS"),
    ],
    body: b"ok",
    from_upstream: true,
    latency_nanos: 1_000_000,
};

/// The exported spans of one request with `headers`, under [`CONFIG`] in `encoding`.
fn spans(encoding: &str, ratio: f64, headers: &[(&str, &str)]) -> (FakeHost, Vec<Value>) {
    let host = FakeHost::new(START, [21; 32]);
    host.set_property("source.address", "127.0.0.1:41234");
    host.set_property("xds.route_name", "api");
    host.properties.borrow_mut().insert("upstream.port".into(), 8080u64.to_le_bytes().to_vec());
    host.properties.borrow_mut().insert("connection.mtls".into(), vec![1]);
    let config = CONFIG
        .replace("ENCODING", encoding)
        .replace("\"tracing\": {", &format!("\"tracing\": {{\"sampling\": {{\"ratio\": {ratio}}}, "));
    let mut pipeline = Pipeline::configure(config.as_bytes(), &host).unwrap();
    host.read_only_planned(pipeline.plan());
    let mut request = vec![(":method", "GET"), (":path", "/orders"), (":authority", "shop.test")];
    request.extend_from_slice(headers);
    host.exchange(&mut pipeline, &request, b"", &OK);
    host.tick(&mut pipeline, 2_000_000_000);
    let spans = exported_spans(&host);
    (host, spans)
}

fn strings(values: &[&str]) -> Value {
    json!({"arrayValue": {"values": values.iter().map(|v| json!({"stringValue": v})).collect::<Vec<_>>()}})
}

#[test]
fn a_sampled_span_carries_peer_client_headers_and_custom_attributes() {
    let note = format!("n{}", "x".repeat(100));
    let headers = [
        ("x-forwarded-for", "203.0.113.9, 127.0.0.1"),
        ("content-type", "application/json"),
        ("authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"),
        ("x-multi", "a"),
        ("x-multi", "b"),
        ("x-tenant", "acme"),
        ("x-note", note.as_str()),
    ];
    let (host, protobuf) = spans("protobuf", 1.0, &headers);
    let (_, json) = spans("json", 1.0, &headers);
    assert_eq!(protobuf, json, "both encodings carry the same span");
    let span = &protobuf[0];
    let get = |k: &str| attribute(span, k).cloned();
    assert_eq!(get("network.peer.address"), Some(json!({"stringValue": "127.0.0.1"})));
    assert_eq!(get("network.peer.port"), Some(json!({"intValue": "41234"})));
    assert_eq!(get("client.address"), Some(json!({"stringValue": "203.0.113.9"})));
    assert_eq!(get("client.port"), None, "x-forwarded-for carries no port");
    assert_eq!(get("http.request.header.content-type"), Some(strings(&["application/json"])));
    assert_eq!(get("http.request.header.x-multi"), Some(strings(&["a", "b"])), "every value, in order");
    assert_eq!(get("http.request.header.authorization"), Some(strings(&["Bearer [REDACTED]"])));
    assert_eq!(get("http.response.header.x-cache"), Some(strings(&["HIT from [REDACTED]", "MISS"])));
    assert_eq!(get("app.tenant"), Some(json!({"stringValue": "acme"})));
    let cut = format!("n{}...[TRUNCATED]", "x".repeat(48 - 1 - 14));
    assert_eq!(get("app.note"), Some(json!({"stringValue": cut})));
    assert_eq!(get("envoy.route"), Some(json!({"stringValue": "api"})));
    assert_eq!(get("envoy.upstream_port"), Some(json!({"intValue": "8080"})));
    assert_eq!(get("envoy.mtls"), Some(json!({"boolValue": true})));
    let exported: String = host.calls.borrow().iter().map(|c| payload(c).to_string()).collect();
    assert!(!exported.contains("eyJ") && !exported.contains("ghp_"), "{exported}");
    assert_eq!(host.metric(&format!("{};kind=github_token", names::REDACTIONS)), Some(1));
}

#[test]
fn an_attribute_that_is_also_a_label_has_one_number_in_the_plan() {
    let host = FakeHost::new(START, [22; 32]);
    let pipeline = Pipeline::configure(CONFIG.replace("ENCODING", "json").as_bytes(), &host).unwrap();
    let paths: Vec<String> = pipeline.plan().properties().iter().map(|p| p.path().join(".")).collect();
    assert_eq!(paths.iter().filter(|p| *p == "xds.route_name").count(), 1, "{paths:?}");
    let headers: Vec<&str> = pipeline.plan().request_headers().collect();
    for name in ["x-forwarded-for", "content-type", "authorization", "x-multi", "x-tenant", "x-note"] {
        assert!(headers.contains(&name), "{name} in {headers:?}");
    }
    assert!(pipeline.plan().response_headers().any(|h| h == "x-cache"));
}

#[test]
fn an_unsampled_request_reads_nothing_for_span_attributes() {
    let (host, spans) = spans("json", 0.0, &[("x-tenant", "acme"), ("x-forwarded-for", "203.0.113.9")]);
    assert!(spans.is_empty());
    let reads = host.property_reads.borrow().clone();
    assert!(!reads.iter().any(|p| p == "upstream.port" || p == "connection.mtls"), "{reads:?}");
}

#[test]
fn without_x_forwarded_for_the_client_is_the_peer_with_its_port() {
    let (_, spans) = spans("json", 1.0, &[]);
    let span = &spans[0];
    assert_eq!(attribute(span, "client.address"), Some(&json!({"stringValue": "127.0.0.1"})));
    assert_eq!(attribute(span, "client.port"), Some(&json!({"intValue": "41234"})));
    assert_eq!(attribute(span, "http.request.header.content-type"), None, "absent headers are left out");
}

#[test]
fn with_a_header_allow_list_a_header_not_allowed_is_not_recorded() {
    let config = r#"{"redaction": {"headers": {"allow": ["content-type", "x-tenant"]}},
        "tracing": {"request_headers": ["content-type", "x-secret"],
          "attributes": [{"key": "app.tenant", "from": {"request_header": "x-tenant"}},
                         {"key": "app.secret", "from": {"request_header": "x-secret"}},
                         {"key": "app.cache", "from": {"response_header": "x-cache"}}]}}"#;
    let host = FakeHost::new(START, [23; 32]);
    let mut pipeline = Pipeline::configure(config.as_bytes(), &host).unwrap();
    let request =
        [(":method", "GET"), (":path", "/"), ("content-type", "text/csv"), ("x-secret", "s3"), ("x-tenant", "acme")];
    host.exchange(&mut pipeline, &request, b"", &OK);
    host.tick(&mut pipeline, 2_000_000_000);
    let calls = host.calls.borrow();
    let span = &payload(&calls[0])["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(attribute(span, "http.request.header.content-type"), Some(&strings(&["text/csv"])));
    assert_eq!(attribute(span, "app.tenant"), Some(&json!({"stringValue": "acme"})));
    for refused in ["http.request.header.x-secret", "app.secret", "app.cache"] {
        assert_eq!(attribute(span, refused), None, "{refused} is not on the allow list");
    }
    assert!(!span.to_string().contains("s3"), "{span}");
}
