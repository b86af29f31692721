//! OTLP/HTTP JSON encoding of finished spans: the body of a `POST /v1/traces` sent with
//! `Content-Type: application/json`, when `tracing.exporter.encoding` is `json`. The default,
//! binary protobuf, is [`proto`]: the same fields, on the wire of the same messages.
//!
//! The message is `ExportTraceServiceRequest` (opentelemetry-proto
//! `collector/trace/v1/trace_service.proto`, fields from `trace/v1/trace.proto`) written in the
//! "JSON Protobuf Encoding" of the OTLP specification (opentelemetry-proto `docs/specification.md`):
//! the proto3 JSON mapping with these deviations, all applied here:
//! - `traceId`, `spanId` and `parentSpanId` are hex strings, not base64 (we write lowercase);
//! - enum values (`kind`, `status.code`) are integers, never names;
//! - keys are the lowerCamelCase JSON names, never the original snake_case field names.
//!
//! From the proto3 JSON mapping itself: 64-bit integers (`startTimeUnixNano`, `endTimeUnixNano`,
//! `intValue`) are decimal strings; `flags` (fixed32) is a number; a `doubleValue` that is NaN or
//! infinite is the string `"NaN"`, `"Infinity"` or `"-Infinity"`, the mapping's spelling of
//! those values, so the attribute keeps its type instead of being dropped.
//!
//! The JSON is written by hand, in proto field declaration order, with no whitespace: the same
//! spans always give the same bytes, and encoding allocates nothing beyond the output buffer.
//! Fields at their default value are omitted where that loses nothing: `parentSpanId` of a root
//! span, an absent or empty `traceState`, empty `attributes` and `links`, an empty status message.

mod encoded;
mod logs;
pub mod metrics;
pub mod proto;

use crate::ids::{SpanId, TraceId};
use crate::json;
use crate::span::{KeyValue, Link, Resource, SCOPE_NAME, SCOPE_VERSION, Span, Status, StatusCode, Value};

pub use encoded::{Encoded, Item};
pub use logs::{encode_logs, encode_logs_into};

/// `SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK` (trace.proto, OTLP 1.1+): bit 8 says whether
/// bit 9 is known.
const HAS_IS_REMOTE: u32 = 0x100;
/// `SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK`: bit 9, set when the parent span (for
/// `Span.flags`) or the linked span (for `Link.flags`) lives in another process.
const IS_REMOTE: u32 = 0x200;

/// Encodes one ExportTraceServiceRequest: one ResourceSpans (resource attributes), one ScopeSpans
/// (scope name/version = [`SCOPE_NAME`]/[`SCOPE_VERSION`]), the given spans.
///
/// With no spans the request has no ResourceSpans at all (`{"resourceSpans":[]}`): the OTLP
/// specification ("Empty Telemetry Envelopes") asks senders not to create empty envelopes.
/// Callers should not send it anyway.
///
/// ```
/// use telemetry_core::otlp::encode_traces;
/// use telemetry_core::span::Resource;
///
/// assert_eq!(encode_traces(&Resource::default(), &[]), r#"{"resourceSpans":[]}"#);
/// ```
pub fn encode_traces(resource: &Resource, spans: &[Span]) -> String {
    // A SERVER span with the usual HTTP attributes encodes to about 800 bytes.
    let mut out = String::with_capacity(256 + 800 * spans.len());
    encode_traces_into(&mut out, resource, spans);
    out
}

/// Same as [`encode_traces`], appending into a reusable buffer. `out` is not cleared first: the
/// caller decides when to.
pub fn encode_traces_into(out: &mut String, resource: &Resource, spans: &[Span]) {
    envelope(out, &SPANS, resource, spans.len(), |out| push_items(out, spans, push_span));
}

/// The member names of one signal's export request in JSON: `ExportTraceServiceRequest` and
/// `ExportLogsServiceRequest` have the same shape (a list of resources, each with a list of
/// scopes, each with a list of items) under these names.
#[derive(Debug)]
pub struct Names {
    resources: &'static str,
    scopes: &'static str,
    items: &'static str,
}

/// `resourceSpans[].scopeSpans[].spans[]` (trace_service.proto, trace.proto).
pub(crate) const SPANS: Names = Names { resources: "resourceSpans", scopes: "scopeSpans", items: "spans" };
/// `resourceLogs[].scopeLogs[].logRecords[]` (logs_service.proto, logs.proto).
pub(crate) const LOGS: Names = Names { resources: "resourceLogs", scopes: "scopeLogs", items: "logRecords" };

/// One export request of `count` items: one resource (attributes), one scope
/// ([`SCOPE_NAME`]/[`SCOPE_VERSION`]), and `items`, which writes the items' objects
/// comma-separated. With no items the request has no resource at all (`{"resourceSpans":[]}`):
/// the OTLP specification ("Empty Telemetry Envelopes") asks senders not to create empty
/// envelopes.
fn envelope(out: &mut String, names: &Names, resource: &Resource, count: usize, items: impl FnOnce(&mut String)) {
    out.push_str(r#"{""#);
    out.push_str(names.resources);
    if count == 0 {
        out.push_str(r#"":[]}"#);
        return;
    }
    out.push_str(r#"":[{"resource":{"#);
    push_attributes(out, "", &resource.attributes);
    out.push_str(r#"},""#);
    out.push_str(names.scopes);
    out.push_str(r#"":[{"scope":{"name":"#);
    json::push_str(out, SCOPE_NAME);
    out.push_str(r#","version":"#);
    json::push_str(out, SCOPE_VERSION);
    out.push_str(r#"},""#);
    out.push_str(names.items);
    out.push_str(r#"":["#);
    items(out);
    out.push_str("]}]}]}");
}

/// Every item, comma-separated.
fn push_items<T>(out: &mut String, items: &[T], push: fn(&mut String, &T)) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push(out, item);
    }
}

/// [`metrics::encode_metrics_into`] for a byte buffer: the OTLP metrics exporter's body when
/// `encoding` is `json`. `out` holds earlier output of these encoders (UTF-8) or nothing; the
/// exporter clears it first.
pub fn encode_metrics_json_into(out: &mut Vec<u8>, resource: &Resource, batches: &[metrics::MetricsBatch]) {
    with_text(out, |text| metrics::encode_metrics_into(text, resource, batches));
}

/// Lends `out` to a JSON writer as a `String`, without copying: the buffer moves into the
/// `String` and back. Bytes that are not UTF-8 (never written by these encoders) are dropped.
fn with_text(out: &mut Vec<u8>, write: impl FnOnce(&mut String)) {
    let mut text = String::from_utf8(std::mem::take(out)).unwrap_or_default();
    write(&mut text);
    *out = text.into_bytes();
}

/// One `Span`, fields in trace.proto declaration order.
fn push_span(out: &mut String, span: &Span) {
    push_ids(out, span.trace_id, span.span_id);
    push_trace_state(out, span.trace_state.as_deref());
    if let Some(parent) = span.parent_span_id {
        out.push_str(r#","parentSpanId":""#);
        parent.write_hex(out);
        out.push('"');
    }
    // trace.proto `Span.flags`: bits 0-7 are the W3C trace flags; bits 8-9 say whether the
    // *parent* is remote. A proxy's parent always comes from the incoming request headers, so it
    // is remote whenever there is one; a root span's "parent is remote" is known to be false.
    let remote = if span.parent_span_id.is_some() && !span.local_parent { IS_REMOTE } else { 0 };
    push_flags(out, u32::from(span.flags) | HAS_IS_REMOTE | remote);
    out.push_str(r#","name":""#);
    json::push_escaped(out, &span.name);
    out.push_str(r#"","kind":"#);
    json::push_u64(out, span.kind as u64);
    out.push_str(r#","startTimeUnixNano":""#);
    json::push_u64(out, span.start_unix_nanos);
    out.push_str(r#"","endTimeUnixNano":""#);
    json::push_u64(out, span.end_unix_nanos);
    out.push('"');
    push_attributes(out, ",", &span.attributes);
    if !span.links.is_empty() {
        out.push_str(r#","links":["#);
        for (i, link) in span.links.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_link(out, link);
        }
        out.push(']');
    }
    out.push_str(r#","status":"#);
    push_status(out, &span.status);
    out.push('}');
}

/// One `Span.Link`, fields in trace.proto declaration order.
fn push_link(out: &mut String, link: &Link) {
    push_ids(out, link.trace_id, link.span_id);
    push_trace_state(out, link.trace_state.as_deref());
    push_attributes(out, ",", &link.attributes);
    // trace.proto `Link.flags`: bits 8-9 say whether the *linked* span is remote. meshlens links
    // only to the incoming context of another process (the `restart` edge policy).
    push_flags(out, u32::from(link.flags) | HAS_IS_REMOTE | IS_REMOTE);
    out.push('}');
}

/// A `Status`, always present so the outcome is explicit: `{"code":N}` plus the message.
///
/// The message is written only for `Error`: the OpenTelemetry trace API (`Set Status`) says the
/// description MUST be ignored for `Ok` and `Unset`.
fn push_status(out: &mut String, status: &Status) {
    out.push_str(r#"{"code":"#);
    json::push_u64(out, status.code as u64);
    if status.code == StatusCode::Error && !status.message.is_empty() {
        out.push_str(r#","message":"#);
        json::push_str(out, &status.message);
    }
    out.push('}');
}

/// Opens the object and writes `traceId` and `spanId`, lowercase hex.
fn push_ids(out: &mut String, trace_id: TraceId, span_id: SpanId) {
    out.push_str(r#"{"traceId":""#);
    trace_id.write_hex(out);
    out.push_str(r#"","spanId":""#);
    span_id.write_hex(out);
    out.push('"');
}

/// `traceState`, omitted when absent or empty (the proto default).
fn push_trace_state(out: &mut String, trace_state: Option<&str>) {
    if let Some(state) = trace_state.filter(|s| !s.is_empty()) {
        out.push_str(r#","traceState":"#);
        json::push_str(out, state);
    }
}

fn push_flags(out: &mut String, flags: u32) {
    out.push_str(r#","flags":"#);
    json::push_u64(out, u64::from(flags));
}

/// `"attributes":[...]` preceded by `separator`, or nothing when there are none.
fn push_attributes(out: &mut String, separator: &str, attributes: &[KeyValue]) {
    if attributes.is_empty() {
        return;
    }
    out.push_str(separator);
    out.push_str(r#""attributes":["#);
    for (i, attribute) in attributes.iter().enumerate() {
        // The literals between values are written whole: a span has a dozen attributes, and each
        // separate push is a call with its own capacity check.
        out.push_str(if i > 0 { r#",{"key":""# } else { r#"{"key":""# });
        json::push_escaped(out, &attribute.key);
        push_value(out, &attribute.value);
    }
    out.push(']');
}

/// `","value":` and an `AnyValue` with exactly one of its kinds set (common.proto), closing
/// the `KeyValue` object too.
fn push_value(out: &mut String, value: &Value) {
    match value {
        Value::String(s) => {
            out.push_str(r#"","value":{"stringValue":""#);
            json::push_escaped(out, s);
            out.push_str(r#""}}"#);
        }
        Value::Bool(b) => {
            out.push_str(if *b { r#"","value":{"boolValue":true}}"# } else { r#"","value":{"boolValue":false}}"# });
        }
        Value::Int(n) => {
            out.push_str(r#"","value":{"intValue":""#);
            json::push_i64(out, *n);
            out.push_str(r#""}}"#);
        }
        Value::Double(n) => {
            out.push_str(r#"","value":{"doubleValue":"#);
            json::push_f64(out, *n);
            out.push_str("}}");
        }
        // `AnyValue.array_value`: `{"arrayValue":{"values":[AnyValue, ...]}}` (common.proto,
        // `ArrayValue.values`); an empty array omits `values`, as the proto3 JSON mapping omits
        // an empty repeated field.
        Value::StringArray(items) if items.is_empty() => out.push_str(r#"","value":{"arrayValue":{}}}"#),
        Value::StringArray(items) => {
            out.push_str(r#"","value":{"arrayValue":{"values":["#);
            for (i, item) in items.iter().enumerate() {
                out.push_str(if i > 0 { r#",{"stringValue":""# } else { r#"{"stringValue":""# });
                json::push_escaped(out, item);
                out.push_str(r#""}"#);
            }
            out.push_str("]}}}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::SpanKind;
    use proptest::prelude::*;

    // Shared with the protobuf encoder's tests (`otlp/proto/tests.rs`).
    pub(super) const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    pub(super) const SPAN: &str = "00f067aa0ba902b7";
    pub(super) const PARENT: &str = "b7ad6b7169203331";
    pub(super) const LINK_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
    const LINK_SPAN: &str = "b9c7c989f97918e1";

    /// A sampled root SERVER span with nothing optional set.
    pub(super) fn span() -> Span {
        Span {
            trace_id: TraceId::from_hex(TRACE).unwrap(),
            span_id: SpanId::from_hex(SPAN).unwrap(),
            parent_span_id: None,
            local_parent: false,
            trace_state: None,
            flags: 1,
            name: "GET".into(),
            kind: SpanKind::Server,
            start_unix_nanos: 1_700_000_000_000_000_000,
            end_unix_nanos: 1_700_000_000_250_000_000,
            attributes: vec![],
            status: Status::default(),
            links: vec![],
        }
    }

    fn link(trace_state: Option<&str>, flags: u8, attributes: Vec<KeyValue>) -> Link {
        Link {
            trace_id: TraceId::from_hex(LINK_TRACE).unwrap(),
            span_id: SpanId::from_hex(LINK_SPAN).unwrap(),
            trace_state: trace_state.map(str::to_owned),
            flags,
            attributes,
        }
    }

    /// The only caller of the encoder: checks the exact bytes, that both entry points agree, and
    /// that the result is JSON. `@VERSION@` in `expected` stands for [`SCOPE_VERSION`].
    fn check(resource: &Resource, spans: &[Span], expected: &str) {
        let expected = expected.replace("@VERSION@", SCOPE_VERSION);
        let encoded = encode_traces(resource, spans);
        assert_eq!(encoded, expected);
        let mut reused = String::from("previous;");
        encode_traces_into(&mut reused, resource, spans);
        assert_eq!(reused, format!("previous;{expected}"), "encode_traces_into must append");
        serde_json::from_str::<serde_json::Value>(&encoded).unwrap();
    }

    /// Checks one span's JSON object inside an otherwise empty request.
    fn check_span(span: Span, expected_span: &str) {
        let envelope = r#"{"resourceSpans":[{"resource":{},"scopeSpans":[{"scope":{"name":"meshlens","version":"@VERSION@"},"spans":["#;
        check(&Resource::default(), &[span], &format!("{envelope}{expected_span}]}}]}}]}}"));
    }

    #[test]
    fn golden_request() {
        let resource = Resource { attributes: vec![KeyValue::string("service.name", "checkout")] };
        let span = Span {
            parent_span_id: SpanId::from_hex(PARENT),
            local_parent: false,
            trace_state: Some("rojo=00f067aa0ba902b7".into()),
            name: "GET /users/{id}".into(),
            attributes: vec![
                KeyValue::string("http.request.method", "GET"),
                KeyValue::int("http.response.status_code", 200),
            ],
            ..span()
        };
        check(
            &resource,
            &[span],
            concat!(
                r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},"#,
                r#""scopeSpans":[{"scope":{"name":"meshlens","version":"@VERSION@"},"spans":["#,
                r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","#,
                r#""traceState":"rojo=00f067aa0ba902b7","parentSpanId":"b7ad6b7169203331","flags":769,"#,
                r#""name":"GET /users/{id}","kind":2,"#,
                r#""startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000","#,
                r#""attributes":[{"key":"http.request.method","value":{"stringValue":"GET"}},"#,
                r#"{"key":"http.response.status_code","value":{"intValue":"200"}}],"#,
                r#""status":{"code":0}}]}]}]}"#,
            ),
        );
    }

    #[test]
    fn no_spans_means_no_envelope() {
        let resource = Resource { attributes: vec![KeyValue::string("service.name", "checkout")] };
        check(&resource, &[], r#"{"resourceSpans":[]}"#);
    }

    #[test]
    fn several_spans_are_comma_separated() {
        let second = Span { span_id: SpanId::from_hex(PARENT).unwrap(), name: "POST".into(), ..span() };
        let encoded = encode_traces(&Resource::default(), &[span(), second]);
        assert!(encoded.contains(r#""status":{"code":0}},{"traceId""#), "{encoded}");
        let decoded: serde_json::Value = serde_json::from_str(&encoded).unwrap();
        let spans = &decoded["resourceSpans"][0]["scopeSpans"][0]["spans"];
        assert_eq!(spans[1]["name"], "POST");
    }

    #[test]
    fn root_span_omits_every_optional_field() {
        check_span(
            span(),
            r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","flags":257,"name":"GET","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000","status":{"code":0}}"#,
        );
    }

    #[test]
    fn parent_is_written_and_marked_remote() {
        check_span(
            Span { parent_span_id: SpanId::from_hex(PARENT), flags: 0, ..span() },
            r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","parentSpanId":"b7ad6b7169203331","flags":768,"name":"GET","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000","status":{"code":0}}"#,
        );
    }

    #[test]
    fn a_client_span_s_local_parent_is_not_marked_remote() {
        check_span(
            Span {
                parent_span_id: SpanId::from_hex(PARENT),
                local_parent: true,
                kind: SpanKind::Client,
                flags: 1,
                ..span()
            },
            r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","parentSpanId":"b7ad6b7169203331","flags":257,"name":"GET","kind":3,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000","status":{"code":0}}"#,
        );
    }

    #[test]
    fn empty_trace_state_is_omitted() {
        check_span(
            Span { trace_state: Some(String::new()), ..span() },
            r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","flags":257,"name":"GET","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000","status":{"code":0}}"#,
        );
    }

    #[test]
    fn kinds_and_status_codes_are_integers() {
        check_span(
            Span {
                kind: SpanKind::Client,
                status: Status { code: StatusCode::Error, message: "upstream reset".into() },
                ..span()
            },
            r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","flags":257,"name":"GET","kind":3,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000","status":{"code":2,"message":"upstream reset"}}"#,
        );
        check_span(
            Span {
                kind: SpanKind::Internal,
                status: Status { code: StatusCode::Error, message: String::new() },
                ..span()
            },
            r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","flags":257,"name":"GET","kind":1,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000","status":{"code":2}}"#,
        );
    }

    #[test]
    fn status_message_is_dropped_unless_error() {
        check_span(
            Span { status: Status { code: StatusCode::Ok, message: "ignored".into() }, ..span() },
            r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","flags":257,"name":"GET","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000","status":{"code":1}}"#,
        );
    }

    #[test]
    fn links_carry_ids_state_attributes_and_remote_flags() {
        let links = vec![
            link(Some("congo=t61rcWkgMzE"), 1, vec![KeyValue::string("meshlens.link.reason", "untrusted")]),
            link(None, 0, vec![]),
        ];
        check_span(
            Span { links, ..span() },
            concat!(
                r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","flags":257,"name":"GET","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000","links":["#,
                r#"{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b9c7c989f97918e1","traceState":"congo=t61rcWkgMzE","attributes":[{"key":"meshlens.link.reason","value":{"stringValue":"untrusted"}}],"flags":769},"#,
                r#"{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b9c7c989f97918e1","flags":768}"#,
                r#"],"status":{"code":0}}"#,
            ),
        );
    }

    #[test]
    fn every_attribute_kind() {
        let attributes = vec![
            KeyValue::string("s", "v"),
            KeyValue::bool("t", true),
            KeyValue::bool("f", false),
            KeyValue::int("i", -42),
            KeyValue::int("max", i64::MAX),
            KeyValue { key: "d".into(), value: Value::Double(0.25) },
            KeyValue { key: "nan".into(), value: Value::Double(f64::NAN) },
            KeyValue { key: "inf".into(), value: Value::Double(f64::INFINITY) },
            KeyValue::strings("a", vec!["x".into(), "y\"z".into()]),
            KeyValue::strings("e", vec![]),
        ];
        check_span(
            Span { attributes, ..span() },
            concat!(
                r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","flags":257,"name":"GET","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000","attributes":["#,
                r#"{"key":"s","value":{"stringValue":"v"}},{"key":"t","value":{"boolValue":true}},{"key":"f","value":{"boolValue":false}},"#,
                r#"{"key":"i","value":{"intValue":"-42"}},{"key":"max","value":{"intValue":"9223372036854775807"}},"#,
                r#"{"key":"d","value":{"doubleValue":0.25}},{"key":"nan","value":{"doubleValue":"NaN"}},{"key":"inf","value":{"doubleValue":"Infinity"}},"#,
                r#"{"key":"a","value":{"arrayValue":{"values":[{"stringValue":"x"},{"stringValue":"y\"z"}]}}},"#,
                r#"{"key":"e","value":{"arrayValue":{}}}"#,
                r#"],"status":{"code":0}}"#,
            ),
        );
    }

    #[test]
    fn awkward_strings_are_escaped_everywhere() {
        let span = Span {
            name: "say \"hi\"\n".into(),
            trace_state: Some("k=\\v".into()),
            attributes: vec![KeyValue::string("tab\tkey", "\u{1}🦀 café")],
            status: Status { code: StatusCode::Error, message: "line1\r\nline2".into() },
            ..span()
        };
        check_span(
            span,
            concat!(
                r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","traceState":"k=\\v","flags":257,"#,
                r#""name":"say \"hi\"\n","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000","#,
                "\"attributes\":[{\"key\":\"tab\\tkey\",\"value\":{\"stringValue\":\"\\u0001🦀 café\"}}],",
                r#""status":{"code":2,"message":"line1\r\nline2"}}"#,
            ),
        );
    }

    proptest! {
        #[test]
        fn any_span_text_round_trips_through_serde_json(
            name in any::<String>(),
            key in any::<String>(),
            text in any::<String>(),
            int in any::<i64>(),
            start in any::<u64>(),
        ) {
            let span = Span {
                name: name.clone(),
                start_unix_nanos: start,
                end_unix_nanos: start,
                attributes: vec![KeyValue::string(key.clone(), text.clone()), KeyValue::int("n", int)],
                ..span()
            };
            let encoded = encode_traces(&Resource::default(), &[span]);
            let decoded: serde_json::Value = serde_json::from_str(&encoded).unwrap();
            let s = &decoded["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
            prop_assert_eq!(&s["name"], &serde_json::Value::String(name));
            prop_assert_eq!(&s["startTimeUnixNano"], &serde_json::Value::String(start.to_string()));
            prop_assert_eq!(&s["attributes"][0]["key"], &serde_json::Value::String(key));
            prop_assert_eq!(&s["attributes"][0]["value"]["stringValue"], &serde_json::Value::String(text));
            prop_assert_eq!(&s["attributes"][1]["value"]["intValue"], &serde_json::Value::String(int.to_string()));
        }
    }
}
