//! The protobuf encoders against hand-assembled bytes, and against the JSON encoders: both
//! encodings of the same batch must read back (through `otlp-decode`, which does not share this
//! code) as the same OTLP JSON value. The Python `opentelemetry-proto` package checks the bytes
//! again in the integration tests (`tests/tests/all/otlp_proto.rs`).

use super::*;
use crate::access_log::{FieldValue, LogRecord, Severity};
use crate::span::SpanKind;
use otlp_decode::Signal;
use proptest::prelude::*;
use serde_json::Value as Json;

use crate::otlp::tests::{LINK_TRACE, PARENT, SPAN, TRACE, span};

fn record() -> LogRecord {
    LogRecord {
        time_unix_nanos: 1_767_225_600_123_000_000,
        severity: Severity::Info,
        message: "GET /api/v1/query 200".into(),
        trace_id: TraceId::from_hex(TRACE),
        span_id: SpanId::from_hex(SPAN),
        trace_flags: 1,
        fields: vec![],
    }
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// The only caller of the trace encoder: both entry points agree, `encode_traces_into` appends,
/// and the bytes read back as exactly what the JSON encoder writes for the same spans.
fn check_traces(resource: &Resource, spans: &[Span]) -> Vec<u8> {
    let bytes = encode_traces(resource, spans);
    let mut reused = b"previous;".to_vec();
    encode_traces_into(&mut reused, resource, spans);
    assert_eq!(&reused[..9], b"previous;");
    assert_eq!(&reused[9..], &bytes[..], "encode_traces_into must append the same bytes");
    let decoded = otlp_decode::decode(Signal::Traces, &bytes).unwrap();
    let json: Json = serde_json::from_str(&crate::otlp::encode_traces(resource, spans)).unwrap();
    assert_eq!(decoded, json, "protobuf and JSON encodings differ");
    bytes
}

fn check_logs(resource: &Resource, records: &[LogRecord]) -> Vec<u8> {
    let bytes = encode_logs(resource, records);
    let mut reused = b"previous;".to_vec();
    encode_logs_into(&mut reused, resource, records);
    assert_eq!(&reused[9..], &bytes[..], "encode_logs_into must append the same bytes");
    let decoded = otlp_decode::decode(Signal::Logs, &bytes).unwrap();
    let json: Json = serde_json::from_str(&crate::otlp::encode_logs(resource, records)).unwrap();
    assert_eq!(decoded, json, "protobuf and JSON encodings differ");
    bytes
}

#[test]
fn golden_root_span() {
    let version = SCOPE_VERSION.as_bytes();
    assert_eq!(version.len(), 5, "the golden bytes below assume a five-byte version such as 0.1.0");
    let mut expected = hex(concat!(
        "0a 58",                         // ExportTraceServiceRequest.resource_spans, 88 bytes
        "0a 00",                         // ResourceSpans.resource: present, no attributes
        "12 54",                         // ResourceSpans.scope_spans, 84 bytes
        "0a 11",                         // ScopeSpans.scope, 17 bytes
        "0a 08 6d 65 73 68 6c 65 6e 73", // name "meshlens"
        "12 05",                         // version (5 bytes, appended below)
    ));
    expected.extend_from_slice(version);
    expected.extend(hex(concat!(
        "12 3f",                                  // ScopeSpans.spans, 63 bytes
        "0a 10 4bf92f3577b34da6a3ce929d0e0e4736", // trace_id, raw
        "12 08 00f067aa0ba902b7",                 // span_id, raw
        "85 01 01 01 00 00",                      // flags = 16, fixed32 0x101: sampled, parent known local
        "2a 03 47 45 54",                         // name "GET"
        "30 02",                                  // kind SERVER
        "39 00 00 2a 36 fe 9c 97 17",             // start_time_unix_nano, fixed64 LE
        "41 80 b2 10 45 fe 9c 97 17",             // end_time_unix_nano
        "7a 02 18 00",                            // status { code: UNSET }
    )));
    assert_eq!(1_700_000_000_000_000_000u64.to_le_bytes().to_vec(), hex("00 00 2a 36 fe 9c 97 17"));
    assert_eq!(1_700_000_000_250_000_000u64.to_le_bytes().to_vec(), hex("80 b2 10 45 fe 9c 97 17"));
    assert_eq!(check_traces(&Resource::default(), &[span()]), expected);
}

#[test]
fn golden_string_array() {
    // AnyValue { array_value = 5: ArrayValue { values = 1: [{string_value "a"}, {string_value "bc"}] } }.
    let resource = Resource { attributes: vec![KeyValue::strings("h", vec!["a".into(), "bc".into()])] };
    let bytes = check_traces(&resource, &[span()]);
    let expected = hex(concat!(
        "0a 12 0a 01 68 12 0d", // {key "h", value (13 bytes)
        "2a 0b",                // array_value, 11 bytes
        "0a 03 0a 01 61",       // values[0] {string_value "a"}
        "0a 04 0a 02 62 63",    // values[1] {string_value "bc"}
    ));
    assert!(bytes.windows(expected.len()).any(|w| w == expected), "{bytes:02x?}");
}

#[test]
fn golden_attribute_values() {
    // Each AnyValue member, checked byte for byte inside a Resource.
    let resource = Resource {
        attributes: vec![
            KeyValue::string("s", "v"),
            KeyValue::bool("b", false),
            KeyValue::int("i", -1),
            KeyValue { key: "d".into(), value: Value::Double(0.5) },
        ],
    };
    let bytes = check_traces(&resource, &[span()]);
    let expected_resource = hex(concat!(
        "0a 35",                                                 // ResourceSpans.resource, 53 bytes
        "0a 08 0a 01 73 12 03 0a 01 76",                         // {key "s", value {string_value "v"}}
        "0a 07 0a 01 62 12 02 10 00",                            // {key "b", value {bool_value false}}: oneof, written
        "0a 10 0a 01 69 12 0b 18 ff ff ff ff ff ff ff ff ff 01", // int_value -1: ten bytes
        "0a 0e 0a 01 64 12 09 21 00 00 00 00 00 00 e0 3f",       // double_value 0.5, LE
    ));
    let at = bytes.windows(expected_resource.len()).position(|w| w == expected_resource);
    // The request's key and its two-byte length (141) come first.
    assert_eq!(at, Some(3), "{bytes:02x?}");
}

#[test]
fn golden_log_record() {
    let bytes = check_logs(&Resource::default(), &[LogRecord { fields: vec![], ..record() }]);
    let record = hex(concat!(
        "09 c0 d4 4e f5 51 72 86 18", // time_unix_nano = 1, fixed64
        "59 c0 d4 4e f5 51 72 86 18", // observed_time_unix_nano = 11
        "10 09",                      // severity_number INFO
        "1a 04 49 4e 46 4f",          // severity_text "INFO"
        "2a 17 0a 15",                // body: AnyValue { string_value: 21 bytes }
    ));
    assert_eq!(1_767_225_600_123_000_000u64.to_le_bytes().to_vec(), hex("c0 d4 4e f5 51 72 86 18"));
    let at = bytes.windows(record.len()).position(|w| w == record).expect("record start");
    let rest = &bytes[at + record.len() + 21..];
    assert_eq!(rest, hex("45 01 00 00 00 4a 10 4bf92f3577b34da6a3ce929d0e0e4736 52 08 00f067aa0ba902b7"));
}

#[test]
fn empty_batches_are_empty_requests() {
    assert!(encode_traces(&Resource::default(), &[]).is_empty());
    assert!(encode_logs(&Resource::default(), &[]).is_empty());
}

#[test]
fn every_span_field_matches_the_json_encoding() {
    let resource = Resource { attributes: vec![KeyValue::string("service.name", "checkout")] };
    let linked = Link {
        trace_id: TraceId::from_hex(LINK_TRACE).unwrap(),
        span_id: SpanId::from_hex(PARENT).unwrap(),
        trace_state: Some("congo=t61rcWkgMzE".into()),
        flags: 1,
        attributes: vec![KeyValue::string("meshlens.link.reason", "untrusted")],
    };
    let spans = [
        Span {
            parent_span_id: SpanId::from_hex(PARENT),
            local_parent: false,
            trace_state: Some("rojo=00f067aa0ba902b7".into()),
            name: "GET /users/{id}".into(),
            attributes: vec![
                KeyValue::string("http.request.method", "GET"),
                KeyValue::int("http.response.status_code", 200),
                KeyValue::bool("t", true),
                KeyValue { key: "nan".into(), value: Value::Double(f64::NAN) },
                KeyValue { key: "inf".into(), value: Value::Double(f64::NEG_INFINITY) },
                KeyValue::int("min", i64::MIN),
                KeyValue::string("empty", ""),
            ],
            status: Status { code: StatusCode::Error, message: "upstream reset".into() },
            ..span()
        },
        Span { links: vec![linked.clone(), Link { trace_state: None, attributes: vec![], ..linked }], ..span() },
        Span { kind: SpanKind::Client, status: Status { code: StatusCode::Ok, message: "dropped".into() }, ..span() },
        Span {
            trace_state: Some(String::new()),
            status: Status { code: StatusCode::Error, message: String::new() },
            ..span()
        },
    ];
    check_traces(&resource, &spans);
}

#[test]
fn every_log_field_matches_the_json_encoding() {
    let resource = Resource { attributes: vec![KeyValue::string("service.name", "chat2sql")] };
    let records = [
        LogRecord {
            fields: vec![
                ("method".into(), FieldValue::Str("GET".into())),
                ("status".into(), FieldValue::Int(200)),
                ("duration_ms".into(), FieldValue::Float(12.5)),
                ("cached".into(), FieldValue::Bool(false)),
            ],
            ..record()
        },
        LogRecord { trace_id: None, span_id: None, severity: Severity::Warn, ..record() },
        LogRecord { trace_id: None, severity: Severity::Error, ..record() },
        LogRecord { trace_flags: 0, ..record() },
    ];
    check_logs(&resource, &records);
}

#[test]
fn lengths_take_the_shortest_form_whatever_was_reserved() {
    // A span over 16 KiB needs a three-byte length where two were reserved; a request of one
    // small span needs one byte where two were reserved. Both decode, and every length is
    // minimal: re-encoding the length of the span field gives the bytes found.
    let big = Span { attributes: vec![KeyValue::string("user_agent.original", "x".repeat(20_000))], ..span() };
    let bytes = check_traces(&Resource::default(), &[big.clone(), span()]);
    let mut large = Vec::new();
    encode_traces_into(&mut large, &Resource::default(), &vec![big; 300]);
    let decoded = otlp_decode::decode(Signal::Traces, &large).unwrap();
    assert_eq!(decoded["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().unwrap().len(), 300);
    // The request's own length: key 0x0a, then a minimal varint of the rest.
    let (mut len, mut width) = (0u64, 0);
    while bytes[1 + width] & 0x80 != 0 {
        len |= u64::from(bytes[1 + width] & 0x7f) << (7 * width);
        width += 1;
    }
    len |= u64::from(bytes[1 + width]) << (7 * width);
    width += 1;
    assert_eq!(1 + width + len as usize, bytes.len());
    assert_eq!(width, varint_len(len), "the length is in its shortest form");
    for v in [0u64, 127, 128, 16_383, 16_384, u64::MAX] {
        let mut out = Vec::new();
        varint(&mut out, v);
        assert_eq!(out.len(), varint_len(v), "{v}");
    }
}

fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::String),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        double().prop_map(Value::Double),
        prop::collection::vec(any::<String>(), 0..4).prop_map(Value::StringArray),
    ]
}

/// Doubles whose shortest decimal form serde_json reads back exactly, and the special values.
fn double() -> impl Strategy<Value = f64> {
    prop_oneof![-1e15..1e15f64, Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(-0.0),]
}

proptest! {
    #[test]
    fn any_span_reads_back_as_its_json_encoding(
        name in any::<String>(),
        attributes in proptest::collection::vec((any::<String>(), any_value()), 0..6),
        start in any::<u64>(),
        end in any::<u64>(),
        flags in any::<u8>(),
        parent in any::<bool>(),
        state in proptest::option::of(any::<String>()),
        message in any::<String>(),
        spans in 1usize..4,
    ) {
        let span = Span {
            name,
            start_unix_nanos: start,
            end_unix_nanos: end,
            flags,
            parent_span_id: if parent { SpanId::from_hex(PARENT) } else { None },
            local_parent: false,
            trace_state: state,
            attributes: attributes.into_iter().map(|(k, value)| KeyValue { key: k.into(), value }).collect(),
            status: Status { code: StatusCode::Error, message },
            ..span()
        };
        check_traces(&Resource::default(), &vec![span; spans]);
    }

    #[test]
    fn any_record_reads_back_as_its_json_encoding(
        message in any::<String>(),
        key in any::<String>(),
        text in any::<String>(),
        int in any::<i64>(),
        float in double(),
        time in any::<u64>(),
        flags in any::<u8>(),
        ids in 0u8..4,
    ) {
        let record = LogRecord {
            time_unix_nanos: time,
            message,
            trace_flags: flags,
            trace_id: if ids & 1 == 1 { TraceId::from_hex(TRACE) } else { None },
            span_id: if ids & 2 == 2 { SpanId::from_hex(SPAN) } else { None },
            fields: vec![
                (key.into(), FieldValue::Str(text)),
                ("n".into(), FieldValue::Int(int)),
                ("f".into(), FieldValue::Float(float)),
            ],
            ..record()
        };
        check_logs(&Resource::default(), &[record]);
    }
}
