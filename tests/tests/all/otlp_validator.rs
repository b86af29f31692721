//! The OTLP/HTTP JSON encoder against the strict validator in `../shared/tools/`.
//!
//! The validator walks the payload against the official opentelemetry-proto descriptors (hex ids,
//! integer enums, lowerCamelCase keys, no unknown fields), decodes it with protobuf's strict JSON
//! parser, then checks OTLP semantics (non-zero ids, end >= start). Each realistic payload must
//! pass; a deliberately broken variant of our own output must fail, which shows that a pass means
//! something. Decoding with serde_json then checks that ids and values survive the trip.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use meshlens_tests::paths;
use serde_json::Value as Json;
use telemetry_core::ids::{IdGenerator, SpanId, TraceId};
use telemetry_core::otlp::encode_traces;
use telemetry_core::span::{KeyValue, Link, Resource, Span, SpanKind, Status, StatusCode, Value};
use telemetry_core::tracer::client::{self, Upstream};

const START: u64 = 1_700_000_000_000_000_000;

#[test]
fn otlp_server_span_with_http_attributes_is_valid() {
    check_valid("server", &[server_span(1)]);
}

#[test]
fn otlp_error_span_is_valid() {
    check_valid("error", &[error_span()]);
}

#[test]
fn otlp_span_with_link_and_tracestate_is_valid() {
    check_valid("link", &[linked_span()]);
}

#[test]
fn otlp_server_and_client_span_pair_is_valid() {
    let server = server_span(4);
    let upstream = Upstream {
        cluster: Some("app".into()),
        address: Some("10.0.0.12:8080".into()),
        pool_ready_nanos: Some(150_000),
        backend_latency_nanos: Some(9_000_000),
        ..Upstream::default()
    };
    let client =
        client::child(&server, SpanId::from_hex("0a0b0c0d0e0f1011").unwrap(), upstream.clone(), 200, None).unwrap();
    let failed = Upstream { flags: 0x20, backend_latency_nanos: None, ..upstream };
    let error =
        client::child(&server_span(5), SpanId::from_hex("1a0b0c0d0e0f1011").unwrap(), failed, 503, None).unwrap();
    check_valid("client", &[server, client, server_span(5), error]);
}

#[test]
fn otlp_batch_of_100_spans_is_valid() {
    let spans: Vec<Span> = (0..100).map(server_span).collect();
    check_valid("batch", &spans);
}

#[test]
fn otlp_header_attributes_as_string_arrays_are_valid() {
    let span = Span {
        attributes: vec![
            KeyValue::strings("http.request.header.x-multi", vec!["a".into(), "b \"quoted\"\n".into()]),
            KeyValue::strings("http.response.header.content-type", vec!["text/plain".into()]),
            KeyValue::strings("empty", vec![]),
        ],
        ..server_span(3)
    };
    check_valid("arrays", &[span]);
}

#[test]
fn otlp_strings_with_escapes_and_special_doubles_are_valid() {
    let span = Span {
        name: "GET /search?q=\"quoted\"\\path\n\t\u{1}".into(),
        attributes: vec![
            KeyValue::string("url.query", "q=caf\u{e9}&emoji=\u{1f980}&ctl=\u{1f}\u{7f}"),
            KeyValue::string("user_agent.original", "curl/8.5.0 \"evil\\agent\"\r\n"),
            KeyValue { key: "meshlens.weird key \"\\".into(), value: Value::Bool(false) },
            KeyValue { key: "nan".into(), value: Value::Double(f64::NAN) },
            KeyValue { key: "neg_inf".into(), value: Value::Double(f64::NEG_INFINITY) },
            KeyValue { key: "tiny".into(), value: Value::Double(1.5e-300) },
            KeyValue::int("min", i64::MIN),
        ],
        ..server_span(7)
    };
    check_valid("escapes", &[span]);
}

#[test]
fn otlp_validator_rejects_enum_name_in_our_output() {
    let payload = encode_traces(&resource(), &[server_span(1)]);
    let broken = replace_once(&payload, r#""kind":2"#, r#""kind":"SPAN_KIND_SERVER""#);
    let run = validate("broken-enum", &broken);
    assert_eq!(run.code, Some(1), "the validator accepted an enum name:\n{}", run.report);
    assert!(run.report.contains("must be an integer"), "{}", run.report);
}

#[test]
fn otlp_validator_rejects_zero_trace_id_in_our_output() {
    let span = server_span(1);
    let payload = encode_traces(&resource(), std::slice::from_ref(&span));
    let zero = "0".repeat(32);
    let broken = replace_once(&payload, &span.trace_id.to_hex(), &zero);
    let run = validate("broken-traceid", &broken);
    assert_eq!(run.code, Some(1), "the validator accepted a zero traceId:\n{}", run.report);
    assert!(run.report.contains("traceId"), "{}", run.report);
}

#[test]
fn otlp_ids_and_values_round_trip_through_serde_json() {
    let span = linked_span();
    let span = Span {
        parent_span_id: SpanId::from_hex("b7ad6b7169203331"),
        status: Status { code: StatusCode::Error, message: "bad \"gateway\"\n".into() },
        attributes: vec![
            KeyValue::int("http.response.status_code", 502),
            KeyValue::bool("meshlens.sampled", true),
            KeyValue { key: "meshlens.ratio".into(), value: Value::Double(0.125) },
            KeyValue::string("url.path", "/caf\u{e9}/\u{1f980}"),
        ],
        ..span
    };
    let payload = encode_traces(&resource(), std::slice::from_ref(&span));
    let decoded: Json = serde_json::from_str(&payload).unwrap();

    let rs = &decoded["resourceSpans"][0];
    assert_eq!(rs["resource"]["attributes"][0]["key"], "service.name");
    assert_eq!(rs["resource"]["attributes"][0]["value"]["stringValue"], "edge-gateway");
    assert_eq!(rs["scopeSpans"][0]["scope"]["name"], telemetry_core::span::SCOPE_NAME);
    assert_eq!(rs["scopeSpans"][0]["scope"]["version"], telemetry_core::span::SCOPE_VERSION);

    let s = &rs["scopeSpans"][0]["spans"][0];
    assert_eq!(s["traceId"], span.trace_id.to_hex());
    assert_eq!(s["spanId"], span.span_id.to_hex());
    assert_eq!(s["parentSpanId"], "b7ad6b7169203331");
    assert_eq!(s["traceState"], "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    assert_eq!(s["flags"], 0x301, "sampled, parent known to be remote");
    assert_eq!(s["name"], span.name);
    assert_eq!(s["kind"], 2);
    assert_eq!(s["startTimeUnixNano"], span.start_unix_nanos.to_string());
    assert_eq!(s["endTimeUnixNano"], span.end_unix_nanos.to_string());
    assert_eq!(s["status"]["code"], 2);
    assert_eq!(s["status"]["message"], "bad \"gateway\"\n");

    let attributes = &s["attributes"];
    assert_eq!(attributes[0]["value"]["intValue"], "502");
    assert_eq!(attributes[1]["value"]["boolValue"], true);
    assert_eq!(attributes[2]["value"]["doubleValue"], 0.125);
    assert_eq!(attributes[3]["value"]["stringValue"], "/caf\u{e9}/\u{1f980}");

    let link = &s["links"][0];
    let expected = &span.links[0];
    assert_eq!(link["traceId"], expected.trace_id.to_hex());
    assert_eq!(link["spanId"], expected.span_id.to_hex());
    assert_eq!(TraceId::from_hex(link["traceId"].as_str().unwrap()), Some(expected.trace_id));
    assert_eq!(link["traceState"], "rojo=00f067aa0ba902b7");
    assert_eq!(link["flags"], 0x301, "sampled, linked span known to be remote");
    assert_eq!(link["attributes"][0]["value"]["stringValue"], "restart");

    check_valid("round-trip", &[span]);
}

fn resource() -> Resource {
    Resource {
        attributes: vec![
            KeyValue::string("service.name", "edge-gateway"),
            KeyValue::string("service.version", "1.4.2"),
            KeyValue::string("k8s.pod.name", "edge-gateway-7d9f8b6c5-x2x9q"),
        ],
    }
}

/// A sampled SERVER span for a `GET`, ids drawn from a generator seeded with `seed`.
fn server_span(seed: u8) -> Span {
    let mut ids = IdGenerator::from_seed([seed; 32]);
    let start = START + u64::from(seed) * 1_000_000;
    Span {
        trace_id: ids.trace_id(),
        span_id: ids.span_id(),
        parent_span_id: Some(ids.span_id()),
        local_parent: false,
        trace_state: None,
        flags: 1,
        name: "GET /api/users/{id}".into(),
        kind: SpanKind::Server,
        start_unix_nanos: start,
        end_unix_nanos: start + 12_345_678,
        attributes: vec![
            KeyValue::string("http.request.method", "GET"),
            KeyValue::string("url.path", format!("/api/users/{seed}")),
            KeyValue::string("url.scheme", "https"),
            KeyValue::string("http.route", "/api/users/{id}"),
            KeyValue::int("http.response.status_code", 200),
            KeyValue::string("server.address", "api.example.com"),
            KeyValue::string(
                "user_agent.original",
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
            ),
            KeyValue::string("client.address", "203.0.113.7"),
            KeyValue::string("network.protocol.version", "1.1"),
        ],
        status: Status::default(),
        links: vec![],
    }
}

/// A 503 from the upstream: status ERROR with a message.
fn error_span() -> Span {
    let mut span = server_span(2);
    span.name = "POST /api/orders".into();
    span.attributes = vec![
        KeyValue::string("http.request.method", "POST"),
        KeyValue::string("url.path", "/api/orders"),
        KeyValue::string("http.route", "/api/orders"),
        KeyValue::int("http.response.status_code", 503),
        KeyValue::string("error.type", "503"),
        KeyValue::string("server.address", "api.example.com"),
    ];
    span.status =
        Status { code: StatusCode::Error, message: "upstream connect error or disconnect/reset before headers".into() };
    span
}

/// A root span under the `restart` edge policy: the untrusted incoming context becomes a link.
fn linked_span() -> Span {
    let mut span = server_span(3);
    span.parent_span_id = None;
    span.trace_state = Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".into());
    span.links = vec![Link {
        trace_id: TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
        span_id: SpanId::from_hex("b9c7c989f97918e1").unwrap(),
        trace_state: Some("rojo=00f067aa0ba902b7".into()),
        flags: 1,
        attributes: vec![KeyValue::string("meshlens.link.reason", "restart")],
    }];
    span
}

/// Encodes `spans`, asserts the validator accepts the payload and counts every span.
fn check_valid(name: &str, spans: &[Span]) {
    let payload = encode_traces(&resource(), spans);
    let run = validate(name, &payload);
    assert_eq!(run.code, Some(0), "the validator rejected our output:\n{}\npayload: {payload}", run.report);
    let count = format!("ExportTraceServiceRequest, {} span(s)", spans.len());
    assert!(run.report.contains(&count), "expected {count:?} in:\n{}", run.report);
    assert!(!run.report.contains("WARN"), "the validator warned:\n{}", run.report);
}

/// One validator run: exit code and everything it printed.
struct Run {
    code: Option<i32>,
    report: String,
}

/// Writes `payload` to a fresh temp file and runs the validator on it.
fn validate(name: &str, payload: &str) -> Run {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let file = temp_file(&format!(
        "meshlens-otlp-{}-{}-{name}.json",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&file, payload).expect("write the payload to a temp file");
    let output = Command::new(paths::python())
        .arg(paths::otlp_validator())
        .args(["--signal", "traces"])
        .arg(&file)
        .output()
        .expect("run the OTLP validator with the venv Python");
    std::fs::remove_file(&file).expect("remove the temp payload");
    let report = format!(
        "status: {}\nstdout:\n{}stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Run { code: output.status.code(), report }
}

fn temp_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(name)
}

/// `haystack` with the single occurrence of `from` replaced, asserting there is exactly one.
fn replace_once(haystack: &str, from: &str, to: &str) -> String {
    assert_eq!(haystack.matches(from).count(), 1, "{from:?} in {haystack}");
    haystack.replacen(from, to, 1)
}
