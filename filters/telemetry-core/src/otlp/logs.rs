//! OTLP/HTTP JSON encoding of access-log records and security events: the body of a
//! `POST /v1/logs` sent with `Content-Type: application/json`, when `tracing.exporter.encoding` is
//! `json` (the default, protobuf, is [`super::proto`]'s `logs`).
//!
//! The message is `ExportLogsServiceRequest` (opentelemetry-proto
//! `collector/logs/v1/logs_service.proto`, fields from `logs/v1/logs.proto`), in the same "JSON
//! Protobuf Encoding" as the traces encoder in the parent module: hex `traceId`/`spanId`, the
//! `severityNumber` enum as an integer, lowerCamelCase keys, fixed64 times as decimal strings,
//! `flags` (fixed32) as a number. Attributes and resource use the parent's `AnyValue` writer, so a
//! value is spelled the same in a span and in a log record.
//!
//! One [`LogRecord`] becomes one `LogRecord` message, fields in logs.proto declaration order:
//! - `timeUnixNano` and `observedTimeUnixNano` are both the record's time. The logs data model
//!   says that for events that originate in the producer itself the observed timestamp is
//!   typically set at generation time and equals the timestamp: meshlens is that producer.
//! - `severityNumber`/`severityText` from [`Severity::number`](crate::access_log::Severity::number)
//!   and [`Severity::text`](crate::access_log::Severity::text).
//! - `body` is the message as a `stringValue`; `attributes` are the fields in order (`Str` →
//!   `stringValue`, `Int` → `intValue`, `Float` → `doubleValue`, `Bool` → `boolValue`).
//! - `flags` carries the W3C trace flags in its low byte (`LOG_RECORD_FLAGS_TRACE_FLAGS_MASK`).
//!   It is written only with a trace id: without one the flags describe no context.
//! - `traceId` and `spanId` are lowercase hex, each omitted when the record has none (a security
//!   event is not part of one request's trace).
//!
//! `droppedAttributesCount` and `eventName` are never written: meshlens drops no fields here, and
//! the record's kind is already an attribute (`event_type`).

use std::borrow::Cow;

use super::{push_flags, push_value};
use crate::access_log::{FieldValue, LogRecord};
use crate::json;
use crate::span::{Resource, Value};

/// Encodes one ExportLogsServiceRequest: one ResourceLogs (resource attributes), one ScopeLogs
/// (scope name/version = [`SCOPE_NAME`](crate::span::SCOPE_NAME)/
/// [`SCOPE_VERSION`](crate::span::SCOPE_VERSION)), the given records.
///
/// With no records the request has no ResourceLogs at all (`{"resourceLogs":[]}`), as the OTLP
/// specification's "Empty Telemetry Envelopes" asks. Callers should not send it anyway.
///
/// ```
/// use telemetry_core::otlp::encode_logs;
/// use telemetry_core::span::Resource;
///
/// assert_eq!(encode_logs(&Resource::default(), &[]), r#"{"resourceLogs":[]}"#);
/// ```
pub fn encode_logs(resource: &Resource, records: &[LogRecord]) -> String {
    // An access-log record with the usual HTTP fields encodes to about 1.2 KB.
    let mut out = String::with_capacity(256 + 1200 * records.len());
    encode_logs_into(&mut out, resource, records);
    out
}

/// Same as [`encode_logs`], appending into a reusable buffer. `out` is not cleared first: the
/// caller decides when to.
pub fn encode_logs_into(out: &mut String, resource: &Resource, records: &[LogRecord]) {
    super::envelope(out, &super::LOGS, resource, records.len(), |out| super::push_items(out, records, push_record));
}

/// One `LogRecord`, fields in logs.proto declaration order.
pub(super) fn push_record(out: &mut String, record: &LogRecord) {
    out.push_str(r#"{"timeUnixNano":"#);
    json::push_u64_string(out, record.time_unix_nanos);
    out.push_str(r#","observedTimeUnixNano":"#);
    json::push_u64_string(out, record.time_unix_nanos);
    out.push_str(r#","severityNumber":"#);
    json::push_u64(out, u64::from(record.severity.number()));
    out.push_str(r#","severityText":"#);
    json::push_str(out, record.severity.text());
    out.push_str(r#","body":{"stringValue":"#);
    json::push_str(out, &record.message);
    out.push('}');
    push_fields(out, &record.fields);
    if let Some(trace_id) = record.trace_id {
        push_flags(out, u32::from(record.trace_flags));
        out.push_str(r#","traceId":""#);
        trace_id.write_hex(out);
        out.push('"');
    }
    if let Some(span_id) = record.span_id {
        out.push_str(r#","spanId":""#);
        span_id.write_hex(out);
        out.push('"');
    }
    out.push('}');
}

/// `,"attributes":[...]` from the record's fields, or nothing when there are none.
fn push_fields(out: &mut String, fields: &[(Cow<'static, str>, FieldValue)]) {
    if fields.is_empty() {
        return;
    }
    out.push_str(r#","attributes":["#);
    for (i, (key, value)) in fields.iter().enumerate() {
        out.push_str(if i > 0 { r#",{"key":""# } else { r#"{"key":""# });
        json::push_escaped(out, key);
        push_field_value(out, value);
    }
    out.push(']');
}

/// `","value":` and the field as an `AnyValue`, closing the `KeyValue`. The scalar kinds go
/// through the span attribute writer; a string is written in place, borrowed, rather than
/// copied into a [`Value::String`] first.
fn push_field_value(out: &mut String, value: &FieldValue) {
    match value {
        FieldValue::Str(s) => {
            out.push_str(r#"","value":{"stringValue":""#);
            json::push_escaped(out, s);
            out.push_str(r#""}}"#);
        }
        FieldValue::Int(n) => push_value(out, &Value::Int(*n)),
        FieldValue::Float(n) => push_value(out, &Value::Double(*n)),
        FieldValue::Bool(b) => push_value(out, &Value::Bool(*b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access_log::Severity;
    use crate::ids::{SpanId, TraceId};
    use crate::span::{KeyValue, SCOPE_VERSION};
    use proptest::prelude::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";
    const TIME: u64 = 1_767_225_600_123_000_000;

    /// An INFO record with ids, sampled, and no fields.
    fn record() -> LogRecord {
        LogRecord {
            time_unix_nanos: TIME,
            severity: Severity::Info,
            message: "GET /api/v1/query 200".into(),
            trace_id: TraceId::from_hex(TRACE),
            span_id: SpanId::from_hex(SPAN),
            trace_flags: 1,
            fields: vec![],
        }
    }

    /// The only caller of the encoder: checks the exact bytes, that both entry points agree, and
    /// that the result is JSON. `@VERSION@` in `expected` stands for [`SCOPE_VERSION`].
    fn check(resource: &Resource, records: &[LogRecord], expected: &str) {
        let expected = expected.replace("@VERSION@", SCOPE_VERSION);
        let encoded = encode_logs(resource, records);
        assert_eq!(encoded, expected);
        let mut reused = String::from("previous;");
        encode_logs_into(&mut reused, resource, records);
        assert_eq!(reused, format!("previous;{expected}"), "encode_logs_into must append");
        serde_json::from_str::<serde_json::Value>(&encoded).unwrap();
    }

    /// Checks one record's JSON object inside an otherwise empty request.
    fn check_record(record: LogRecord, expected_record: &str) {
        let envelope = r#"{"resourceLogs":[{"resource":{},"scopeLogs":[{"scope":{"name":"meshlens","version":"@VERSION@"},"logRecords":["#;
        check(&Resource::default(), &[record], &format!("{envelope}{expected_record}]}}]}}]}}"));
    }

    #[test]
    fn golden_request() {
        let resource = Resource { attributes: vec![KeyValue::string("service.name", "chat2sql")] };
        let record = LogRecord {
            fields: vec![
                ("method".into(), FieldValue::Str("GET".into())),
                ("status".into(), FieldValue::Int(200)),
                ("duration_ms".into(), FieldValue::Float(12.5)),
                ("cached".into(), FieldValue::Bool(false)),
            ],
            ..record()
        };
        check(
            &resource,
            &[record],
            concat!(
                r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"chat2sql"}}]},"#,
                r#""scopeLogs":[{"scope":{"name":"meshlens","version":"@VERSION@"},"logRecords":["#,
                r#"{"timeUnixNano":"1767225600123000000","observedTimeUnixNano":"1767225600123000000","#,
                r#""severityNumber":9,"severityText":"INFO","body":{"stringValue":"GET /api/v1/query 200"},"#,
                r#""attributes":[{"key":"method","value":{"stringValue":"GET"}},"#,
                r#"{"key":"status","value":{"intValue":"200"}},"#,
                r#"{"key":"duration_ms","value":{"doubleValue":12.5}},"#,
                r#"{"key":"cached","value":{"boolValue":false}}],"#,
                r#""flags":1,"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7"}]}]}]}"#,
            ),
        );
    }

    #[test]
    fn no_records_means_no_envelope() {
        let resource = Resource { attributes: vec![KeyValue::string("service.name", "chat2sql")] };
        check(&resource, &[], r#"{"resourceLogs":[]}"#);
    }

    #[test]
    fn several_records_are_comma_separated() {
        let second = LogRecord { severity: Severity::Error, message: "second".into(), ..record() };
        let encoded = encode_logs(&Resource::default(), &[record(), second]);
        assert!(encoded.contains(r#""spanId":"00f067aa0ba902b7"},{"timeUnixNano""#), "{encoded}");
        let decoded: serde_json::Value = serde_json::from_str(&encoded).unwrap();
        let records = &decoded["resourceLogs"][0]["scopeLogs"][0]["logRecords"];
        assert_eq!(records[1]["body"]["stringValue"], "second");
        assert_eq!(records[1]["severityNumber"], 17);
        assert_eq!(records[1]["severityText"], "ERROR");
    }

    #[test]
    fn record_without_ids_omits_ids_and_flags() {
        let event = LogRecord {
            severity: Severity::Warn,
            message: "security event".into(),
            trace_id: None,
            span_id: None,
            trace_flags: 1,
            fields: vec![("event_type".into(), FieldValue::Str("auth_failure_burst".into()))],
            ..record()
        };
        check_record(
            event,
            concat!(
                r#"{"timeUnixNano":"1767225600123000000","observedTimeUnixNano":"1767225600123000000","#,
                r#""severityNumber":13,"severityText":"WARN","body":{"stringValue":"security event"},"#,
                r#""attributes":[{"key":"event_type","value":{"stringValue":"auth_failure_burst"}}]}"#,
            ),
        );
    }

    #[test]
    fn record_without_fields_omits_attributes_and_unsampled_flags_are_zero() {
        check_record(
            LogRecord { trace_flags: 0, ..record() },
            concat!(
                r#"{"timeUnixNano":"1767225600123000000","observedTimeUnixNano":"1767225600123000000","#,
                r#""severityNumber":9,"severityText":"INFO","body":{"stringValue":"GET /api/v1/query 200"},"#,
                r#""flags":0,"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7"}"#,
            ),
        );
    }

    #[test]
    fn span_id_alone_is_written_without_flags() {
        check_record(
            LogRecord { trace_id: None, ..record() },
            concat!(
                r#"{"timeUnixNano":"1767225600123000000","observedTimeUnixNano":"1767225600123000000","#,
                r#""severityNumber":9,"severityText":"INFO","body":{"stringValue":"GET /api/v1/query 200"},"#,
                r#""spanId":"00f067aa0ba902b7"}"#,
            ),
        );
    }

    #[test]
    fn special_doubles_and_extreme_integers_keep_their_kind() {
        check_record(
            LogRecord {
                fields: vec![
                    ("nan".into(), FieldValue::Float(f64::NAN)),
                    ("inf".into(), FieldValue::Float(f64::NEG_INFINITY)),
                    ("min".into(), FieldValue::Int(i64::MIN)),
                    ("ok".into(), FieldValue::Bool(true)),
                ],
                trace_id: None,
                span_id: None,
                ..record()
            },
            concat!(
                r#"{"timeUnixNano":"1767225600123000000","observedTimeUnixNano":"1767225600123000000","#,
                r#""severityNumber":9,"severityText":"INFO","body":{"stringValue":"GET /api/v1/query 200"},"#,
                r#""attributes":[{"key":"nan","value":{"doubleValue":"NaN"}},{"key":"inf","value":{"doubleValue":"-Infinity"}},"#,
                r#"{"key":"min","value":{"intValue":"-9223372036854775808"}},{"key":"ok","value":{"boolValue":true}}]}"#,
            ),
        );
    }

    #[test]
    fn awkward_strings_are_escaped_everywhere() {
        let resource = Resource { attributes: vec![KeyValue::string("service.name", "a\"b\\c")] };
        let record = LogRecord {
            message: "say \"hi\"\n\u{1}🦀".into(),
            fields: vec![("tab\tkey".into(), FieldValue::Str("line1\r\nline2 café".into()))],
            trace_id: None,
            span_id: None,
            ..record()
        };
        check(
            &resource,
            &[record],
            concat!(
                r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"a\"b\\c"}}]},"#,
                r#""scopeLogs":[{"scope":{"name":"meshlens","version":"@VERSION@"},"logRecords":["#,
                r#"{"timeUnixNano":"1767225600123000000","observedTimeUnixNano":"1767225600123000000","#,
                "\"severityNumber\":9,\"severityText\":\"INFO\",\"body\":{\"stringValue\":\"say \\\"hi\\\"\\n\\u0001🦀\"},",
                r#""attributes":[{"key":"tab\tkey","value":{"stringValue":"line1\r\nline2 café"}}]}]}]}]}"#,
            ),
        );
    }

    proptest! {
        #[test]
        fn any_record_text_round_trips_through_serde_json(
            message in any::<String>(),
            key in any::<String>(),
            text in any::<String>(),
            int in any::<i64>(),
            time in any::<u64>(),
            flags in any::<u8>(),
        ) {
            let record = LogRecord {
                time_unix_nanos: time,
                message: message.clone(),
                trace_flags: flags,
                fields: vec![(key.clone().into(), FieldValue::Str(text.clone())), ("n".into(), FieldValue::Int(int))],
                ..record()
            };
            let encoded = encode_logs(&Resource::default(), &[record]);
            let decoded: serde_json::Value = serde_json::from_str(&encoded).unwrap();
            let r = &decoded["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
            prop_assert_eq!(&r["body"]["stringValue"], &serde_json::Value::String(message));
            prop_assert_eq!(&r["timeUnixNano"], &serde_json::Value::String(time.to_string()));
            prop_assert_eq!(&r["flags"], &serde_json::Value::from(flags));
            prop_assert_eq!(&r["attributes"][0]["key"], &serde_json::Value::String(key));
            prop_assert_eq!(&r["attributes"][0]["value"]["stringValue"], &serde_json::Value::String(text));
            prop_assert_eq!(&r["attributes"][1]["value"]["intValue"], &serde_json::Value::String(int.to_string()));
        }
    }
}
