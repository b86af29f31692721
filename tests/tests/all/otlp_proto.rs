//! The OTLP/HTTP protobuf encoders against the official `opentelemetry-proto` Python package.
//!
//! The JSON encoders are checked by the strict validator in `../shared/tools/` (`otlp_validator`,
//! `otlp_logs_validator`). Here the protobuf bytes of the same spans and records are parsed by
//! the classes generated from opentelemetry-proto (`tests/tools/otlp_proto_to_json.py`), printed
//! as OTLP JSON, and must (1) pass the same strict validator and (2) equal what the JSON encoder
//! writes for the same input, apart from the two fields proto3 printers omit at their default
//! (`status.code` 0, `flags` 0): ids, times, every attribute kind, links, status and severities
//! survive the trip. The same holds for whole exports the module makes in the harness, once in
//! each encoding with the same seed and clock. A deliberately corrupted payload must be rejected.

use std::sync::OnceLock;
use std::time::Duration;

use host_harness::{Host, HttpResponse, Module, Responder};
use meshlens_tests::otlp::{self, Export};
use meshlens_tests::paths;
use meshlens_tests::planted::CONFIG;
use serde_json::Value as Json;
use telemetry_core::access_log::{FieldValue, LogRecord, Severity};
use telemetry_core::ids::{SpanId, TraceId};
use telemetry_core::otlp::{encode_logs, encode_traces, proto};
use telemetry_core::span::{KeyValue, Link, Resource, Span, SpanKind, Status, StatusCode, Value};

const START: u64 = 1_767_225_600_123_456_789;

fn resource() -> Resource {
    Resource {
        attributes: vec![
            KeyValue::string("service.name", "edge-gateway"),
            KeyValue::string("service.version", "0.1.0"),
            KeyValue::string("telemetry.sdk.name", "meshlens"),
        ],
    }
}

fn spans() -> Vec<Span> {
    let trace = |i: u8| TraceId::new([i; 16]).unwrap();
    let base = |i: u8| Span {
        trace_id: trace(i),
        span_id: SpanId::new([i.wrapping_add(1); 8]).unwrap(),
        parent_span_id: None,
        local_parent: false,
        trace_state: None,
        flags: 1,
        name: "GET /users/{id}".into(),
        kind: SpanKind::Server,
        start_unix_nanos: START + u64::from(i),
        end_unix_nanos: START + 250_000_000 + u64::from(i),
        attributes: vec![
            KeyValue::string("http.request.method", "GET"),
            KeyValue::string("url.path", "/users/42"),
            KeyValue::string("http.route", "/users/{id}"),
            KeyValue::int("http.response.status_code", 200),
            KeyValue::string("user_agent.original", "curl/8.5.0 \"quoted\"\r\n\u{1}🦀 café"),
            KeyValue::bool("meshlens.sampled", true),
            KeyValue { key: "tiny".into(), value: Value::Double(1.5e-300) },
            KeyValue { key: "nan".into(), value: Value::Double(f64::NAN) },
            KeyValue { key: "neg_inf".into(), value: Value::Double(f64::NEG_INFINITY) },
            KeyValue::int("min", i64::MIN),
            KeyValue::string("empty", ""),
        ],
        status: Status::default(),
        links: vec![],
    };
    let mut spans: Vec<Span> = (1..=20).map(base).collect();
    spans.push(Span {
        parent_span_id: SpanId::from_hex("b7ad6b7169203331"),
        trace_state: Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".into()),
        flags: 0,
        kind: SpanKind::Client,
        status: Status { code: StatusCode::Error, message: "upstream reset before headers".into() },
        ..base(30)
    });
    spans.push(Span {
        links: vec![Link {
            trace_id: TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            span_id: SpanId::from_hex("b9c7c989f97918e1").unwrap(),
            trace_state: Some("congo=t61rcWkgMzE".into()),
            flags: 1,
            attributes: vec![KeyValue::string("meshlens.link.reason", "untrusted")],
        }],
        status: Status { code: StatusCode::Ok, message: "ignored".into() },
        ..base(31)
    });
    spans
}

fn records() -> Vec<LogRecord> {
    let access = |i: u8| LogRecord {
        time_unix_nanos: START + u64::from(i),
        severity: Severity::Info,
        message: format!("GET /users/{i} 200"),
        trace_id: TraceId::new([i; 16]),
        span_id: SpanId::new([i; 8]),
        trace_flags: i % 2,
        fields: vec![
            ("method".into(), FieldValue::Str("GET".into())),
            ("status".into(), FieldValue::Int(200)),
            ("duration_ms".into(), FieldValue::Float(12.5)),
            ("bytes".into(), FieldValue::Int(i64::MIN)),
            ("nan".into(), FieldValue::Float(f64::NAN)),
            ("cached".into(), FieldValue::Bool(false)),
            ("note".into(), FieldValue::Str("line1\r\nline2 🦀".into())),
        ],
    };
    let mut records: Vec<LogRecord> = (1..=20).map(access).collect();
    records.push(LogRecord {
        severity: Severity::Warn,
        message: "access failure burst".into(),
        trace_id: None,
        span_id: None,
        fields: vec![("event_type".into(), FieldValue::Str("access_failure_burst".into()))],
        ..access(40)
    });
    records.push(LogRecord { severity: Severity::Error, trace_id: None, ..access(41) });
    records
}

fn export(path: &str, content_type: &str, body: Vec<u8>) -> Export {
    Export::new(path, content_type, body)
}

/// Protobuf bytes through the official package equal the JSON encoder's output, and pass the
/// strict validator.
fn check(signal: &str, protobuf: Vec<u8>, json: &str) {
    let path = format!("/v1/{signal}");
    let official = otlp::official_decode(signal, std::slice::from_ref(&protobuf)).remove(0);
    let written: Json = serde_json::from_str(json).unwrap();
    assert_eq!(otlp::without_defaults(&official), otlp::without_defaults(&written));
    let (ok, out) = otlp::validate_exports(signal, &[export(&path, "application/x-protobuf", protobuf)]);
    assert!(ok, "{out}");
}

#[test]
fn protobuf_spans_decode_with_opentelemetry_proto_as_the_json_encoder_writes_them() {
    let (resource, spans) = (resource(), spans());
    check("traces", proto::encode_traces(&resource, &spans), &encode_traces(&resource, &spans));
}

#[test]
fn protobuf_log_records_decode_with_opentelemetry_proto_as_the_json_encoder_writes_them() {
    let (resource, records) = (resource(), records());
    check("logs", proto::encode_logs(&resource, &records), &encode_logs(&resource, &records));
}

#[test]
fn a_corrupted_payload_is_rejected() {
    // A sanity check of the check: the official package must refuse what is not a request, and
    // our decoder must see the same payload differently when one length byte is changed.
    let mut bytes = proto::encode_traces(&resource(), &spans()[..1]);
    let official = otlp::validate_exports("traces", &[export("/v1/traces", "application/x-protobuf", bytes.clone())]);
    assert!(official.0, "{}", official.1);
    // The span name's length (`2a 0f` for "GET /users/{id}") grown by one: the name swallows
    // the kind's key, and the rest of the span no longer parses.
    let at = bytes.windows(2).position(|w| w == [0x2a, 0x0f]).unwrap();
    bytes[at + 1] = 0x10;
    assert!(otlp_decode::decode(otlp::Signal::Traces, &bytes).is_err());
    let dir = meshlens_tests::envoy::TempDir::new("otlp-corrupt");
    let file = dir.0.join("payload-0.pb");
    std::fs::write(&file, &bytes).unwrap();
    let status = std::process::Command::new(paths::python())
        .arg(paths::repo_root().join("tests/tools/otlp_proto_to_json.py"))
        .args(["--signal", "traces"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!status.status.success(), "opentelemetry-proto accepted a corrupted payload");
}

fn module() -> Module {
    static MODULE: OnceLock<Module> = OnceLock::new();
    MODULE.get_or_init(|| Module::from_file(paths::edge_telemetry_wasm()).unwrap()).clone()
}

/// The module in the harness with every output on, `encoding` set as given (`None`: the
/// default); the export calls it made.
fn module_exports(encoding: Option<&str>) -> Vec<Export> {
    let mut config: Json = serde_json::from_str(CONFIG).unwrap();
    config["tracing"] = serde_json::json!({"exporter": {"cluster": "otel_collector"}});
    if let Some(encoding) = encoding {
        config["tracing"]["exporter"]["encoding"] = encoding.into();
    }
    let mut host = Host::builder(&module())
        .root_id("meshlens")
        .plugin_config(config.to_string())
        .respond("otel_collector", Responder::Respond(HttpResponse { status: 200, ..Default::default() }))
        .build()
        .unwrap();
    for i in 0..5 {
        let path = format!("/users/{i}?q=1");
        let request = [
            (":method", "GET"),
            (":path", path.as_str()),
            (":scheme", "https"),
            (":authority", "api.example.com"),
            ("user-agent", "curl/8.5.0"),
            ("x-tenant", "acme"),
        ];
        let id = host.new_stream();
        host.request_headers(id, &request, true).unwrap();
        host.advance(Duration::from_millis(3)).unwrap();
        let status = if i == 4 { "503" } else { "200" };
        host.response_headers(id, &[(":status", status)], true).unwrap();
        host.complete(id).unwrap();
    }
    host.advance(Duration::from_secs(3)).unwrap();
    host.http_calls()
        .iter()
        .map(|c| {
            let header = |n: &str| c.headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).unwrap_or_default();
            export(&header(":path"), &header("content-type"), c.body.clone())
        })
        .collect()
}

#[test]
fn the_modules_protobuf_exports_decode_with_opentelemetry_proto_as_its_json_exports() {
    let protobuf = module_exports(None);
    let json = module_exports(Some("json"));
    for (exports, content_type) in [(&protobuf, "application/x-protobuf"), (&json, "application/json")] {
        let kinds: Vec<(&str, &str)> = exports.iter().map(|e| (e.path.as_str(), e.content_type.as_str())).collect();
        assert_eq!(kinds, [("/v1/traces", content_type), ("/v1/logs", content_type)]);
    }
    for (i, signal) in ["traces", "logs"].into_iter().enumerate() {
        let official = otlp::official_decode(signal, std::slice::from_ref(&protobuf[i].body)).remove(0);
        let written: Json = serde_json::from_slice(&json[i].body).unwrap();
        assert_eq!(otlp::without_defaults(&official), otlp::without_defaults(&written), "{signal}");
        let (ok, out) = otlp::validate_exports(signal, &[protobuf[i].clone(), json[i].clone()]);
        assert!(ok, "{out}");
    }
    let traces = protobuf[0].json();
    let spans = traces["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().unwrap();
    let logs = protobuf[1].json()["resourceLogs"][0]["scopeLogs"][0]["logRecords"].as_array().unwrap().len();
    // Per request a SERVER span and the CLIENT span of its upstream hop (the default
    // `client_span: child`), and one log record.
    assert_eq!((spans.len(), logs), (10, 5));
    assert_eq!(spans.iter().filter(|s| s["kind"] == 3).count(), 5, "five CLIENT spans");
    let (protobuf_bytes, json_bytes) = (protobuf[0].body.len(), json[0].body.len());
    assert!(protobuf_bytes * 2 < json_bytes, "protobuf {protobuf_bytes} bytes, JSON {json_bytes}");
}
