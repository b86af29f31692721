//! Reading back the spans a module exported as OTLP/HTTP (`ExportTraceServiceRequest`), in
//! binary protobuf or JSON as the call's `content-type` says: `otlp-decode` turns either into
//! the OTLP JSON shape read here.

// Indexing a `serde_json::Value` by key yields `Null` for anything missing; it cannot panic.
#![allow(clippy::indexing_slicing)]

use otlp_decode::Signal;
use serde_json::Value;

use crate::callouts::HttpCall;

/// One span, as decoded from an export payload.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRecord {
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    pub kind: i64,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
    pub status_code: i64,
    pub status_message: String,
    pub trace_state: String,
    /// Attribute values as text (`stringValue`, `intValue`, `boolValue`, `doubleValue`; a string
    /// array as JSON, `["a","b"]`).
    pub attributes: Vec<(String, String)>,
    /// Linked spans: (trace id, span id).
    pub links: Vec<(String, String)>,
    /// Attributes of the resource the span belongs to.
    pub resource: Vec<(String, String)>,
}

impl SpanRecord {
    /// An attribute's value as text.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Duration in nanoseconds.
    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nanos.saturating_sub(self.start_unix_nanos)
    }
}

/// Whether an HTTP call is an OTLP/HTTP trace export.
pub(crate) fn is_trace_export(call: &HttpCall) -> bool {
    export_signal(call) == Some(Signal::Traces)
}

/// The OTLP signal an HTTP call exports, by its `:path`.
pub fn export_signal(call: &HttpCall) -> Option<Signal> {
    header(call, ":path").and_then(Signal::of_path)
}

/// An export call's body in the OTLP JSON shape, decoded by its `content-type` (binary
/// protobuf for `application/x-protobuf`, JSON otherwise); `None` when it is not an OTLP export
/// or does not decode.
pub fn export_payload(call: &HttpCall) -> Option<Value> {
    let signal = export_signal(call)?;
    otlp_decode::payload(signal, header(call, "content-type").unwrap_or_default(), &call.body).ok()
}

/// The spans of one trace export call (nothing when it is not one, or does not decode).
pub fn decode_call(call: &HttpCall) -> Vec<SpanRecord> {
    match export_signal(call) {
        Some(Signal::Traces) => export_payload(call).map(|v| decode_value(&v)).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// How many log records one OTLP log export call carries.
pub fn log_records(call: &HttpCall) -> usize {
    if export_signal(call) != Some(Signal::Logs) {
        return 0;
    }
    let Some(v) = export_payload(call) else { return 0 };
    let resources = v["resourceLogs"].as_array().into_iter().flatten();
    let scopes = resources.flat_map(|r| r["scopeLogs"].as_array().into_iter().flatten());
    scopes.map(|s| s["logRecords"].as_array().map_or(0, Vec::len)).sum()
}

/// The spans in one OTLP JSON payload (nothing when it is not OTLP JSON).
pub fn decode(payload: &[u8]) -> Vec<SpanRecord> {
    serde_json::from_slice::<Value>(payload).map(|v| decode_value(&v)).unwrap_or_default()
}

/// The spans of an `ExportTraceServiceRequest` in the OTLP JSON shape.
fn decode_value(v: &Value) -> Vec<SpanRecord> {
    let mut out = Vec::new();
    for rs in v["resourceSpans"].as_array().into_iter().flatten() {
        let resource = attributes(&rs["resource"]["attributes"]);
        for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
            for s in ss["spans"].as_array().into_iter().flatten() {
                out.push(SpanRecord {
                    trace_id: text(&s["traceId"]),
                    span_id: text(&s["spanId"]),
                    parent_span_id: text(&s["parentSpanId"]),
                    name: text(&s["name"]),
                    kind: s["kind"].as_i64().unwrap_or(0),
                    start_unix_nanos: nanos(&s["startTimeUnixNano"]),
                    end_unix_nanos: nanos(&s["endTimeUnixNano"]),
                    status_code: s["status"]["code"].as_i64().unwrap_or(0),
                    status_message: text(&s["status"]["message"]),
                    trace_state: text(&s["traceState"]),
                    attributes: attributes(&s["attributes"]),
                    links: s["links"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|l| (text(&l["traceId"]), text(&l["spanId"])))
                        .collect(),
                    resource: resource.clone(),
                });
            }
        }
    }
    out
}

fn header<'a>(call: &'a HttpCall, name: &str) -> Option<&'a str> {
    call.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn nanos(v: &Value) -> u64 {
    v.as_str().and_then(|s| s.parse().ok()).or_else(|| v.as_u64()).unwrap_or(0)
}

fn attributes(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|kv| {
            let value = &kv["value"];
            let text = if let Some(s) = value["stringValue"].as_str() {
                s.to_owned()
            } else if let Some(s) = value["intValue"].as_str() {
                s.to_owned()
            } else if let Some(b) = value["boolValue"].as_bool() {
                b.to_string()
            } else if let Some(d) = value["doubleValue"].as_f64() {
                d.to_string()
            } else if let Some(items) = value["arrayValue"]["values"].as_array() {
                // A string array (`http.request.header.<name>`) as its JSON text: `["a","b"]`.
                let items: Vec<Value> = items.iter().map(|i| i["stringValue"].clone()).collect();
                Value::Array(items).to_string()
            } else {
                value.to_string()
            };
            (text_of(&kv["key"]), text)
        })
        .collect()
}

fn text_of(v: &Value) -> String {
    text(v)
}
