//! OTLP/HTTP export payloads, binary protobuf or JSON, read back into one shape: the OTLP JSON
//! encoding as a [`serde_json::Value`] (lowerCamelCase keys, trace and span ids as lowercase hex,
//! 64-bit integers as decimal strings, enums as integers), so the harness's report and the tests
//! read every payload the same way whatever encoding the module was configured with.
//!
//! This crate is for the host side only (the harness, the tests, the benches): the module
//! encodes, it never decodes, and must not carry this code.
//!
//! The schema below is the subset of opentelemetry-proto (`trace/v1/trace.proto`,
//! `logs/v1/logs.proto`, `common/v1/common.proto`, `resource/v1/resource.proto`,
//! `collector/{trace,logs}/v1/*_service.proto`) that traces and logs use, with the proto field
//! numbers (`AnyValue`'s `kvlist_value`, which meshlens never writes, is left out; its
//! `array_value` carries the string arrays of header attributes). The decoder is strict: a field number the schema does not know, a wire type that
//! does not match the field, invalid UTF-8 in a string or a truncated message is an error, so a
//! test fails on a malformed payload instead of reading around it.
//!
//! ```
//! // ExportTraceServiceRequest { resource_spans: [ResourceSpans { scope_spans: [ScopeSpans {
//! //   spans: [Span { name: "GET" }] }] }] }
//! let bytes = [0x0a, 0x09, 0x12, 0x07, 0x12, 0x05, 0x2a, 0x03, b'G', b'E', b'T'];
//! let value = otlp_decode::decode(otlp_decode::Signal::Traces, &bytes).unwrap();
//! assert_eq!(value["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"], "GET");
//! ```

use serde_json::{Map, Number, Value};

/// Which OTLP export a payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// `ExportTraceServiceRequest`, `POST /v1/traces`.
    Traces,
    /// `ExportLogsServiceRequest`, `POST /v1/logs`.
    Logs,
    /// `ExportMetricsServiceRequest`, `POST /v1/metrics`: the sums and histograms meshlens sends.
    Metrics,
}

/// Why a payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl Signal {
    /// The signal an export request's `:path` names (`…/v1/traces`, `…/v1/logs`).
    pub fn of_path(path: &str) -> Option<Self> {
        if path.ends_with("/v1/traces") {
            Some(Self::Traces)
        } else if path.ends_with("/v1/logs") {
            Some(Self::Logs)
        } else if path.ends_with("/v1/metrics") {
            Some(Self::Metrics)
        } else {
            None
        }
    }
}

/// Whether a `content-type` is OTLP's binary protobuf encoding (`application/x-protobuf`).
pub fn is_protobuf(content_type: &str) -> bool {
    content_type.trim().to_ascii_lowercase().starts_with("application/x-protobuf")
}

/// Reads one export payload as sent with `content_type`: binary protobuf for
/// `application/x-protobuf`, JSON otherwise.
pub fn payload(signal: Signal, content_type: &str, body: &[u8]) -> Result<Value, Error> {
    if is_protobuf(content_type) {
        decode(signal, body)
    } else {
        serde_json::from_slice(body).map_err(|e| Error(format!("not OTLP JSON: {e}")))
    }
}

/// Decodes one binary protobuf export request into its OTLP JSON shape.
pub fn decode(signal: Signal, bytes: &[u8]) -> Result<Value, Error> {
    let schema = match signal {
        Signal::Traces => TRACE_REQUEST,
        Signal::Logs => LOGS_REQUEST,
        Signal::Metrics => METRICS_REQUEST,
    };
    message(bytes, schema, "request").map(Value::Object)
}

/// How a field's value becomes JSON (OTLP JSON encoding: opentelemetry-proto
/// `docs/specification.md`, "JSON Protobuf Encoding").
#[derive(Debug, Clone, Copy)]
enum Kind {
    Message(&'static [Field]),
    /// `string`.
    Text,
    /// `bytes` holding a trace or span id: lowercase hex.
    Id,
    /// Other `bytes`: base64, the proto3 JSON mapping.
    Bytes,
    /// `fixed64`: a decimal string.
    Fixed64,
    /// `int64`: a decimal string.
    Int64,
    /// `uint32` and enums: a number.
    Uint,
    /// `fixed32`: a number.
    Fixed32,
    /// `double`: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
    Double,
    Bool,
    /// `sfixed64`: a decimal string.
    SFixed64,
    /// Packed `repeated fixed64`: an array of decimal strings.
    PackedFixed64,
    /// Packed `repeated double`: an array of numbers.
    PackedDouble,
}

#[derive(Debug)]
struct Field {
    number: u32,
    name: &'static str,
    kind: Kind,
    repeated: bool,
}

const fn one(number: u32, name: &'static str, kind: Kind) -> Field {
    Field { number, name, kind, repeated: false }
}

const fn many(number: u32, name: &'static str, kind: Kind) -> Field {
    Field { number, name, kind, repeated: true }
}

// collector/trace/v1/trace_service.proto, collector/logs/v1/logs_service.proto.
const TRACE_REQUEST: &[Field] = &[many(1, "resourceSpans", Kind::Message(RESOURCE_SPANS))];
const LOGS_REQUEST: &[Field] = &[many(1, "resourceLogs", Kind::Message(RESOURCE_LOGS))];

// trace/v1/trace.proto.
const RESOURCE_SPANS: &[Field] = &[
    one(1, "resource", Kind::Message(RESOURCE)),
    many(2, "scopeSpans", Kind::Message(SCOPE_SPANS)),
    one(3, "schemaUrl", Kind::Text),
];
const SCOPE_SPANS: &[Field] =
    &[one(1, "scope", Kind::Message(SCOPE)), many(2, "spans", Kind::Message(SPAN)), one(3, "schemaUrl", Kind::Text)];
const SPAN: &[Field] = &[
    one(1, "traceId", Kind::Id),
    one(2, "spanId", Kind::Id),
    one(3, "traceState", Kind::Text),
    one(4, "parentSpanId", Kind::Id),
    one(16, "flags", Kind::Fixed32),
    one(5, "name", Kind::Text),
    one(6, "kind", Kind::Uint),
    one(7, "startTimeUnixNano", Kind::Fixed64),
    one(8, "endTimeUnixNano", Kind::Fixed64),
    many(9, "attributes", Kind::Message(KEY_VALUE)),
    one(10, "droppedAttributesCount", Kind::Uint),
    many(11, "events", Kind::Message(EVENT)),
    one(12, "droppedEventsCount", Kind::Uint),
    many(13, "links", Kind::Message(LINK)),
    one(14, "droppedLinksCount", Kind::Uint),
    one(15, "status", Kind::Message(STATUS)),
];
const EVENT: &[Field] = &[
    one(1, "timeUnixNano", Kind::Fixed64),
    one(2, "name", Kind::Text),
    many(3, "attributes", Kind::Message(KEY_VALUE)),
    one(4, "droppedAttributesCount", Kind::Uint),
];
const LINK: &[Field] = &[
    one(1, "traceId", Kind::Id),
    one(2, "spanId", Kind::Id),
    one(3, "traceState", Kind::Text),
    many(4, "attributes", Kind::Message(KEY_VALUE)),
    one(5, "droppedAttributesCount", Kind::Uint),
    one(6, "flags", Kind::Fixed32),
];
const STATUS: &[Field] = &[one(2, "message", Kind::Text), one(3, "code", Kind::Uint)];

// logs/v1/logs.proto.
const RESOURCE_LOGS: &[Field] = &[
    one(1, "resource", Kind::Message(RESOURCE)),
    many(2, "scopeLogs", Kind::Message(SCOPE_LOGS)),
    one(3, "schemaUrl", Kind::Text),
];
const SCOPE_LOGS: &[Field] = &[
    one(1, "scope", Kind::Message(SCOPE)),
    many(2, "logRecords", Kind::Message(LOG_RECORD)),
    one(3, "schemaUrl", Kind::Text),
];
const LOG_RECORD: &[Field] = &[
    one(1, "timeUnixNano", Kind::Fixed64),
    one(11, "observedTimeUnixNano", Kind::Fixed64),
    one(2, "severityNumber", Kind::Uint),
    one(3, "severityText", Kind::Text),
    one(5, "body", Kind::Message(ANY_VALUE)),
    many(6, "attributes", Kind::Message(KEY_VALUE)),
    one(7, "droppedAttributesCount", Kind::Uint),
    one(8, "flags", Kind::Fixed32),
    one(9, "traceId", Kind::Id),
    one(10, "spanId", Kind::Id),
    one(12, "eventName", Kind::Text),
];

// collector/metrics/v1/metrics_service.proto, metrics/v1/metrics.proto: what meshlens sends
// (sums and explicit-bucket histograms), plus the fields a decoder must know to skip nothing.
const METRICS_REQUEST: &[Field] = &[many(1, "resourceMetrics", Kind::Message(RESOURCE_METRICS))];
const RESOURCE_METRICS: &[Field] = &[
    one(1, "resource", Kind::Message(RESOURCE)),
    many(2, "scopeMetrics", Kind::Message(SCOPE_METRICS)),
    one(3, "schemaUrl", Kind::Text),
];
const SCOPE_METRICS: &[Field] = &[
    one(1, "scope", Kind::Message(SCOPE)),
    many(2, "metrics", Kind::Message(METRIC)),
    one(3, "schemaUrl", Kind::Text),
];
const METRIC: &[Field] = &[
    one(1, "name", Kind::Text),
    one(2, "description", Kind::Text),
    one(3, "unit", Kind::Text),
    one(7, "sum", Kind::Message(SUM)),
    one(9, "histogram", Kind::Message(HISTOGRAM)),
];
const SUM: &[Field] = &[
    many(1, "dataPoints", Kind::Message(NUMBER_POINT)),
    one(2, "aggregationTemporality", Kind::Uint),
    one(3, "isMonotonic", Kind::Bool),
];
const HISTOGRAM: &[Field] =
    &[many(1, "dataPoints", Kind::Message(HISTOGRAM_POINT)), one(2, "aggregationTemporality", Kind::Uint)];
const NUMBER_POINT: &[Field] = &[
    many(7, "attributes", Kind::Message(KEY_VALUE)),
    one(2, "startTimeUnixNano", Kind::Fixed64),
    one(3, "timeUnixNano", Kind::Fixed64),
    one(4, "asDouble", Kind::Double),
    one(6, "asInt", Kind::SFixed64),
    many(5, "exemplars", Kind::Message(EXEMPLAR)),
    one(8, "flags", Kind::Uint),
];
const HISTOGRAM_POINT: &[Field] = &[
    many(9, "attributes", Kind::Message(KEY_VALUE)),
    one(2, "startTimeUnixNano", Kind::Fixed64),
    one(3, "timeUnixNano", Kind::Fixed64),
    one(4, "count", Kind::Fixed64),
    one(5, "sum", Kind::Double),
    one(6, "bucketCounts", Kind::PackedFixed64),
    one(7, "explicitBounds", Kind::PackedDouble),
    many(8, "exemplars", Kind::Message(EXEMPLAR)),
    one(10, "flags", Kind::Uint),
    one(11, "min", Kind::Double),
    one(12, "max", Kind::Double),
];
const EXEMPLAR: &[Field] = &[
    many(7, "filteredAttributes", Kind::Message(KEY_VALUE)),
    one(2, "timeUnixNano", Kind::Fixed64),
    one(3, "asDouble", Kind::Double),
    one(6, "asInt", Kind::SFixed64),
    one(4, "spanId", Kind::Id),
    one(5, "traceId", Kind::Id),
];

// resource/v1/resource.proto, common/v1/common.proto.
const RESOURCE: &[Field] =
    &[many(1, "attributes", Kind::Message(KEY_VALUE)), one(2, "droppedAttributesCount", Kind::Uint)];
const SCOPE: &[Field] = &[
    one(1, "name", Kind::Text),
    one(2, "version", Kind::Text),
    many(3, "attributes", Kind::Message(KEY_VALUE)),
    one(4, "droppedAttributesCount", Kind::Uint),
];
const KEY_VALUE: &[Field] = &[one(1, "key", Kind::Text), one(2, "value", Kind::Message(ANY_VALUE))];
const ANY_VALUE: &[Field] = &[
    one(1, "stringValue", Kind::Text),
    one(2, "boolValue", Kind::Bool),
    one(3, "intValue", Kind::Int64),
    one(4, "doubleValue", Kind::Double),
    one(5, "arrayValue", Kind::Message(ARRAY_VALUE)),
    one(7, "bytesValue", Kind::Bytes),
];
/// `ArrayValue.values`: scalars only (a constant schema cannot refer back to [`ANY_VALUE`], and
/// meshlens never nests arrays, so a nested array is an unknown field: an error).
const ARRAY_VALUE: &[Field] = &[many(1, "values", Kind::Message(ANY_SCALAR))];
const ANY_SCALAR: &[Field] = &[
    one(1, "stringValue", Kind::Text),
    one(2, "boolValue", Kind::Bool),
    one(3, "intValue", Kind::Int64),
    one(4, "doubleValue", Kind::Double),
    one(7, "bytesValue", Kind::Bytes),
];

/// Wire types (protobuf encoding guide, "Message Structure").
const VARINT: u64 = 0;
const I64: u64 = 1;
const LEN: u64 = 2;
const I32: u64 = 5;

/// One message's fields as a JSON object; `path` names the message in errors.
fn message(bytes: &[u8], schema: &'static [Field], path: &str) -> Result<Map<String, Value>, Error> {
    let mut out = Map::new();
    let mut r = Reader { bytes, pos: 0 };
    while !r.done() {
        let key = r.varint()?;
        let (number, wire) = (key >> 3, key & 7);
        let Some(field) = schema.iter().find(|f| u64::from(f.number) == number) else {
            return Err(Error(format!("{path}: unknown field {number} (wire type {wire})")));
        };
        let at = format!("{path}.{}", field.name);
        let expected = match field.kind {
            Kind::Message(_) | Kind::Text | Kind::Id | Kind::Bytes | Kind::PackedFixed64 | Kind::PackedDouble => LEN,
            Kind::Fixed64 | Kind::Double | Kind::SFixed64 => I64,
            Kind::Int64 | Kind::Uint | Kind::Bool => VARINT,
            Kind::Fixed32 => I32,
        };
        if wire != expected {
            return Err(Error(format!("{at}: wire type {wire}, expected {expected}")));
        }
        let value = match field.kind {
            Kind::Message(fields) => Value::Object(message(r.len_prefixed()?, fields, &at)?),
            Kind::Text => {
                let text = std::str::from_utf8(r.len_prefixed()?).map_err(|e| Error(format!("{at}: {e}")))?;
                Value::String(text.to_owned())
            }
            Kind::Id => Value::String(hex(r.len_prefixed()?)),
            Kind::Bytes => Value::String(base64(r.len_prefixed()?)),
            Kind::Fixed64 => Value::String(u64::from_le_bytes(r.fixed()?).to_string()),
            Kind::Int64 => Value::String((r.varint()? as i64).to_string()),
            Kind::Uint => Value::Number(Number::from(r.varint()?)),
            Kind::Fixed32 => Value::Number(Number::from(u32::from_le_bytes(r.fixed()?))),
            Kind::Double => double(f64::from_bits(u64::from_le_bytes(r.fixed()?))),
            Kind::Bool => Value::Bool(r.varint()? != 0),
            Kind::SFixed64 => Value::String(i64::from_le_bytes(r.fixed()?).to_string()),
            Kind::PackedFixed64 | Kind::PackedDouble => {
                let body = r.len_prefixed()?;
                if body.len() % 8 != 0 {
                    return Err(Error(format!("{at}: packed 8-byte values in {} bytes", body.len())));
                }
                let items = body.chunks(8).map(|c| {
                    let v = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
                    match field.kind {
                        Kind::PackedDouble => double(f64::from_bits(v)),
                        _ => Value::String(v.to_string()),
                    }
                });
                Value::Array(items.collect())
            }
        };
        if field.repeated {
            if let Value::Array(items) = out.entry(field.name).or_insert_with(|| Value::Array(Vec::new())) {
                items.push(value);
            }
        } else {
            out.insert(field.name.to_owned(), value);
        }
    }
    Ok(out)
}

/// A double in the proto3 JSON mapping: a number, or the strings for NaN and the infinities.
fn double(n: f64) -> Value {
    match Number::from_f64(n) {
        Some(n) => Value::Number(n),
        None if n.is_nan() => Value::String("NaN".into()),
        None if n > 0.0 => Value::String("Infinity".into()),
        None => Value::String("-Infinity".into()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk.first(), chunk.get(1), chunk.get(2)].map(|b| b.copied().unwrap_or(0));
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let sextet = (n >> (18 - 6 * i)) & 63;
                out.push(char::from(ALPHABET.get(sextet as usize).copied().unwrap_or(b'=')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A cursor over one message's bytes; every read is bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn varint(&mut self) -> Result<u64, Error> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.bytes.get(self.pos).ok_or_else(|| Error("truncated varint".into()))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(Error("varint longer than 10 bytes".into()))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let slice = end.and_then(|e| self.bytes.get(self.pos..e)).ok_or_else(|| {
            Error(format!("truncated: {n} bytes wanted at offset {}, {} in the message", self.pos, self.bytes.len()))
        })?;
        self.pos += n;
        Ok(slice)
    }

    fn len_prefixed(&mut self) -> Result<&'a [u8], Error> {
        let n = usize::try_from(self.varint()?).map_err(|_| Error("length too large".into()))?;
        self.take(n)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_pads_like_the_proto3_json_mapping() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
    }

    #[test]
    fn scalars_take_their_json_spelling() {
        // KeyValue { key: "k", value: AnyValue { int_value: -1 } } inside a Resource.
        let mut kv = vec![0x0a, 0x01, b'k', 0x12, 0x0b, 0x18];
        kv.extend([0xff; 9]);
        kv.push(0x01);
        let mut resource = vec![0x0a, kv.len() as u8];
        resource.extend(&kv);
        let decoded = message(&resource, RESOURCE, "resource").unwrap();
        assert_eq!(decoded["attributes"][0]["value"]["intValue"], "-1");
        assert_eq!(double(f64::NAN), "NaN");
        assert_eq!(double(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(double(0.5), 0.5);
        assert_eq!(hex(&[0x00, 0xab]), "00ab");
    }

    #[test]
    fn a_string_array_reads_as_an_array_value() {
        // KeyValue { key: "h", value: AnyValue { array_value: ArrayValue { values: [
        //   AnyValue { string_value: "a" }, AnyValue { string_value: "bc" }] } } } in a Resource.
        let array = [0x0a, 0x03, 0x0a, 0x01, b'a', 0x0a, 0x04, 0x0a, 0x02, b'b', b'c'];
        let mut any = vec![0x2a, array.len() as u8];
        any.extend(array);
        let mut kv = vec![0x0a, 0x01, b'h', 0x12, any.len() as u8];
        kv.extend(&any);
        let mut resource = vec![0x0a, kv.len() as u8];
        resource.extend(&kv);
        let decoded = message(&resource, RESOURCE, "resource").unwrap();
        let values = &decoded["attributes"][0]["value"]["arrayValue"]["values"];
        assert_eq!(values[0]["stringValue"], "a");
        assert_eq!(values[1]["stringValue"], "bc");
    }

    #[test]
    fn malformed_payloads_are_errors() {
        // Unknown field 99 in the request.
        assert!(decode(Signal::Traces, &[0x98, 0x06, 0x00]).unwrap_err().0.contains("unknown field 99"));
        // resource_spans with a varint wire type.
        assert!(decode(Signal::Traces, &[0x08, 0x01]).unwrap_err().0.contains("wire type 0"));
        // A length running past the end.
        assert!(decode(Signal::Logs, &[0x0a, 0x05, 0x00]).unwrap_err().0.contains("truncated"));
        // Invalid UTF-8 in a span name.
        let span = [0x0a, 0x08, 0x12, 0x06, 0x12, 0x04, 0x2a, 0x02, 0xff, 0xfe];
        assert!(decode(Signal::Traces, &span).is_err());
    }

    #[test]
    fn content_type_chooses_the_decoder() {
        assert!(is_protobuf("application/x-protobuf"));
        assert!(is_protobuf("Application/X-Protobuf; charset=binary"));
        assert!(!is_protobuf("application/json"));
        let json = payload(Signal::Logs, "application/json", br#"{"resourceLogs":[]}"#).unwrap();
        assert_eq!(json["resourceLogs"], Value::Array(vec![]));
        assert_eq!(Signal::of_path("/otlp/v1/logs"), Some(Signal::Logs));
        assert_eq!(Signal::of_path("/v1/metrics"), Some(Signal::Metrics));
        assert_eq!(Signal::of_path("/v1/profiles"), None);
        assert_eq!(decode(Signal::Metrics, b"").unwrap(), serde_json::json!({}), "an empty request");
        // explicitBounds = 7 with 7 bytes: not packed doubles.
        let point = [0x3a, 0x07, 0, 0, 0, 0, 0, 0, 0];
        let histogram = [&[0x0a, point.len() as u8][..], &point].concat();
        let metric = [&[0x4a, histogram.len() as u8][..], &histogram].concat();
        let scope = [&[0x12, metric.len() as u8][..], &metric].concat();
        let resource = [&[0x12, scope.len() as u8][..], &scope].concat();
        let request = [&[0x0a, resource.len() as u8][..], &resource].concat();
        assert!(decode(Signal::Metrics, &request).unwrap_err().0.contains("packed 8-byte values"));
    }
}
