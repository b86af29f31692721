//! The OTLP/HTTP JSON logs encoder against the strict validator in `../shared/tools/`
//! (`--signal logs`).
//!
//! The validator walks each payload against the official opentelemetry-proto descriptors (hex
//! ids, integer enums, lowerCamelCase keys, no unknown fields), decodes it with protobuf's strict
//! JSON parser, then checks that any trace or span id present is the right size and not zero.
//! Realistic payloads must pass; broken variants of our own output must fail, which shows that a
//! pass means something. Decoding with serde_json then checks that ids and values survive.

use meshlens_tests::otlp::validate;
use serde_json::Value as Json;
use telemetry_core::access_log::{FieldValue, LogRecord, Severity};
use telemetry_core::ids::{IdGenerator, SpanId, TraceId};
use telemetry_core::otlp::encode_logs;
use telemetry_core::span::{KeyValue, Resource, SCOPE_NAME, SCOPE_VERSION};

const TIME: u64 = 1_767_225_600_123_000_000;

#[test]
fn otlp_logs_access_log_record_with_http_fields_and_ids_is_valid() {
    check_valid(&[access_record(1)]);
}

#[test]
fn otlp_logs_security_event_without_ids_is_valid() {
    check_valid(&[security_event()]);
}

#[test]
fn otlp_logs_batch_of_100_records_is_valid() {
    let mut records: Vec<LogRecord> = (0..99).map(access_record).collect();
    records.push(security_event());
    check_valid(&records);
}

#[test]
fn otlp_logs_strings_with_escapes_and_special_doubles_are_valid() {
    let record = LogRecord {
        message: "GET /search?q=\"quoted\"\\path\n\t\u{1} {}".into(),
        fields: vec![
            ("path".into(), text("/caf\u{e9}/\u{1f980}/\u{1f}\u{7f}")),
            ("user_agent".into(), text("curl/8.5.0 \"evil\\agent\"\r\n")),
            ("weird key \"\\\u{0}".into(), FieldValue::Bool(false)),
            ("nan".into(), FieldValue::Float(f64::NAN)),
            ("neg_inf".into(), FieldValue::Float(f64::NEG_INFINITY)),
            ("tiny".into(), FieldValue::Float(1.5e-300)),
            ("min".into(), FieldValue::Int(i64::MIN)),
            ("empty".into(), text("")),
        ],
        ..access_record(7)
    };
    check_valid(&[record]);
}

#[test]
fn otlp_logs_validator_rejects_severity_name_in_our_output() {
    let payload = encode_logs(&resource(), &[access_record(1)]);
    let broken = replace_once(&payload, r#""severityNumber":9"#, r#""severityNumber":"SEVERITY_NUMBER_INFO""#);
    let (ok, report) = validate("logs", &[broken.into_bytes()]);
    assert!(!ok, "the validator accepted an enum name:\n{report}");
    assert!(report.contains("must be an integer"), "{report}");
}

#[test]
fn otlp_logs_validator_rejects_short_trace_id_in_our_output() {
    let record = access_record(1);
    let payload = encode_logs(&resource(), std::slice::from_ref(&record));
    let hex = record.trace_id.unwrap().to_hex();
    let broken = replace_once(&payload, &hex, &hex[..30]);
    let (ok, report) = validate("logs", &[broken.into_bytes()]);
    assert!(!ok, "the validator accepted a 15-byte traceId:\n{report}");
    assert!(report.contains("traceId"), "{report}");
}

#[test]
fn otlp_logs_ids_and_values_round_trip_through_serde_json() {
    let record = access_record(3);
    let decoded: Json = serde_json::from_str(&encode_logs(&resource(), std::slice::from_ref(&record))).unwrap();

    let rl = &decoded["resourceLogs"][0];
    assert_eq!(rl["resource"]["attributes"][0]["key"], "service.name");
    assert_eq!(rl["resource"]["attributes"][0]["value"]["stringValue"], "chat2sql-gateway");
    assert_eq!(rl["scopeLogs"][0]["scope"]["name"], SCOPE_NAME);
    assert_eq!(rl["scopeLogs"][0]["scope"]["version"], SCOPE_VERSION);

    let r = &rl["scopeLogs"][0]["logRecords"][0];
    assert_eq!(r["timeUnixNano"], (TIME + 3_000_000).to_string());
    assert_eq!(r["observedTimeUnixNano"], r["timeUnixNano"]);
    assert_eq!(r["severityNumber"], 9);
    assert_eq!(r["severityText"], "INFO");
    assert_eq!(r["body"]["stringValue"], "GET /api/v1/query 200");
    assert_eq!(r["traceId"], record.trace_id.unwrap().to_hex());
    assert_eq!(r["spanId"], record.span_id.unwrap().to_hex());
    assert_eq!(TraceId::from_hex(r["traceId"].as_str().unwrap()), record.trace_id);
    assert_eq!(SpanId::from_hex(r["spanId"].as_str().unwrap()), record.span_id);
    assert_eq!(r["flags"], 1, "sampled");

    let attribute = |key: &str| {
        let found = r["attributes"].as_array().unwrap().iter().find(|kv| kv["key"] == key);
        found.unwrap_or_else(|| panic!("no attribute {key} in {r}"))["value"].clone()
    };
    assert_eq!(attribute("method")["stringValue"], "GET");
    assert_eq!(attribute("status")["intValue"], "200");
    assert_eq!(attribute("duration_ms")["doubleValue"], 12.5);
    assert_eq!(attribute("request_bytes")["intValue"], "0");
    assert_eq!(attribute("query_hash")["stringValue"], "9f86d081884c7d65");
    let keys: Vec<&str> = r["attributes"].as_array().unwrap().iter().map(|kv| kv["key"].as_str().unwrap()).collect();
    let expected: Vec<&str> = record.fields.iter().map(|(k, _)| k.as_ref()).collect();
    assert_eq!(keys, expected, "attributes keep the fields' order");

    let event: Json = serde_json::from_str(&encode_logs(&resource(), &[security_event()])).unwrap();
    let e = &event["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
    for absent in ["traceId", "spanId", "flags"] {
        assert!(e.get(absent).is_none(), "{absent} written without a trace: {e}");
    }
    assert_eq!(e["severityNumber"], 13);
    assert_eq!(e["severityText"], "WARN");
}

fn resource() -> Resource {
    Resource {
        attributes: vec![
            KeyValue::string("service.name", "chat2sql-gateway"),
            KeyValue::string("service.version", "1.4.2"),
            KeyValue::string("k8s.pod.name", "chat2sql-gateway-7d9f8b6c5-x2x9q"),
        ],
    }
}

fn text(s: &str) -> FieldValue {
    FieldValue::Str(s.to_owned())
}

/// A sampled access-log record for `GET /api/v1/query`, with the fields meshlens writes; ids from
/// a generator seeded with `seed`.
fn access_record(seed: u8) -> LogRecord {
    let mut ids = IdGenerator::from_seed([seed; 32]);
    LogRecord {
        time_unix_nanos: TIME + u64::from(seed) * 1_000_000,
        severity: Severity::Info,
        message: "GET /api/v1/query 200".into(),
        trace_id: Some(ids.trace_id()),
        span_id: Some(ids.span_id()),
        trace_flags: 1,
        fields: vec![
            ("service".into(), text("chat2sql")),
            ("method".into(), text("GET")),
            ("route".into(), text("/api/v1/query")),
            ("path".into(), text("/api/v1/query")),
            ("status".into(), FieldValue::Int(200)),
            ("duration_ms".into(), FieldValue::Float(12.5)),
            ("request_bytes".into(), FieldValue::Int(0)),
            ("response_bytes".into(), FieldValue::Int(1832)),
            ("upstream_cluster".into(), text("chat2sql_backend")),
            ("upstream_host".into(), text("10.0.3.17:8080")),
            ("client_address".into(), text("203.0.113.7")),
            ("user_agent".into(), text("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)")),
            ("request_id".into(), text(&format!("5f0c6e2a-3b1d-4e8f-9a7c-{seed:012}"))),
            ("query_hash".into(), text("9f86d081884c7d65")),
        ],
    }
}

/// A burst of 401s from one client: a WARN record with no trace (it spans many requests).
fn security_event() -> LogRecord {
    LogRecord {
        time_unix_nanos: TIME,
        severity: Severity::Warn,
        message: "security event auth_failure_burst from 203.0.113.7".into(),
        trace_id: None,
        span_id: None,
        trace_flags: 0,
        fields: vec![
            ("service".into(), text("chat2sql")),
            ("event_type".into(), text("auth_failure_burst")),
            ("client_address".into(), text("203.0.113.7")),
            ("count".into(), FieldValue::Int(20)),
            ("window_s".into(), FieldValue::Int(60)),
        ],
    }
}

/// Encodes `records`, asserts the validator accepts the payload without warnings and that it
/// holds every record.
fn check_valid(records: &[LogRecord]) {
    let payload = encode_logs(&resource(), records);
    let decoded: Json = serde_json::from_str(&payload).unwrap();
    let written = decoded["resourceLogs"][0]["scopeLogs"][0]["logRecords"].as_array().map_or(0, Vec::len);
    assert_eq!(written, records.len());
    let (ok, report) = validate("logs", &[payload.clone().into_bytes()]);
    assert!(ok, "the validator rejected our output:\n{report}\npayload: {payload}");
    assert!(report.contains(": ExportLogsServiceRequest"), "{report}");
    assert!(!report.contains("WARN"), "the validator warned:\n{report}");
}

/// `haystack` with the single occurrence of `from` replaced, asserting there is exactly one.
fn replace_once(haystack: &str, from: &str, to: &str) -> String {
    assert_eq!(haystack.matches(from).count(), 1, "{from:?} in {haystack}");
    haystack.replacen(from, to, 1)
}
