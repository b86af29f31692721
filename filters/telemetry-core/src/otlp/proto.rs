//! OTLP/HTTP binary protobuf encoding of finished spans: the body of a `POST /v1/traces` sent
//! with `Content-Type: application/x-protobuf`, the default OTLP/HTTP encoding.
//!
//! The OTLP specification (opentelemetry-proto `docs/specification.md`, "OTLP/HTTP Request",
//! "Binary Protobuf Encoding") sends the `ExportTraceServiceRequest` and
//! `ExportLogsServiceRequest` messages of `collector/{trace,logs}/v1/*_service.proto` as
//! proto3 binary, with `Content-Type: application/x-protobuf`; it is the encoding a receiver
//! MUST support (`http/protobuf`), where JSON is optional. This encoder writes exactly the
//! fields the JSON encoder of the parent module writes, in the same order, so the two encodings
//! of a batch decode to the same message:
//!
//! | message (file) | field | number | wire type |
//! | --- | --- | --- | --- |
//! | `ExportTraceServiceRequest` (collector/trace/v1/trace_service.proto) | `resource_spans` | 1 | LEN, repeated |
//! | `ResourceSpans` (trace/v1/trace.proto) | `resource`, `scope_spans` | 1, 2 | LEN |
//! | `ScopeSpans` | `scope`, `spans` | 1, 2 | LEN |
//! | `Span` | `trace_id`, `span_id` | 1, 2 | LEN (16 and 8 raw bytes) |
//! | | `trace_state` | 3 | LEN (string) |
//! | | `parent_span_id` | 4 | LEN (8 bytes) |
//! | | `flags` | 16 | I32 (fixed32) |
//! | | `name` | 5 | LEN |
//! | | `kind` | 6 | VARINT (enum `SpanKind`) |
//! | | `start_time_unix_nano`, `end_time_unix_nano` | 7, 8 | I64 (fixed64) |
//! | | `attributes`, `links`, `status` | 9, 13, 15 | LEN |
//! | `Span.Link` | `trace_id`, `span_id`, `trace_state`, `attributes`, `flags` | 1, 2, 3, 4, 6 | LEN ×4, I32 |
//! | `Status` | `message`, `code` | 2, 3 | LEN, VARINT |
//! | `Resource` (resource/v1/resource.proto) | `attributes` | 1 | LEN |
//! | `InstrumentationScope` (common/v1/common.proto) | `name`, `version` | 1, 2 | LEN |
//! | `KeyValue` | `key`, `value` | 1, 2 | LEN |
//! | `AnyValue` (oneof `value`) | `string_value`, `bool_value`, `int_value`, `double_value`, `array_value` | 1, 2, 3, 4, 5 | LEN, VARINT, VARINT (int64), I64 (double), LEN |
//! | `ArrayValue` | `values` (each an `AnyValue` with `string_value`) | 1 | LEN, repeated |
//!
//! The log record fields are in [`logs`]. As in the JSON encoding, `Status.code` is written even
//! when it is `UNSET` (0) so that the outcome is explicit (proto3 parsers accept an explicit
//! default), and `AnyValue` members are always written: they sit in a `oneof`, which has presence.
//!
//! Lengths are written in one pass, linear in the output: a `KeyValue`'s length is known from the
//! lengths of its key and value before they are written; a span, a scope and a resource reserve
//! a length prefix of the usual width, write their body, then patch the prefix in. When the
//! reservation was too narrow or too wide (a span over 16 KiB, a batch under 128 bytes) the body
//! moves once by the difference, so every length stays in its shortest varint form.

mod logs;
mod metrics;

use crate::ids::{SpanId, TraceId};
use crate::span::{KeyValue, Link, Resource, SCOPE_NAME, SCOPE_VERSION, Span, Status, StatusCode, Value};

pub(crate) use logs::push_record_entry;
pub use logs::{encode_logs, encode_logs_into};
pub use metrics::encode_metrics_into;

use super::{HAS_IS_REMOTE, IS_REMOTE};

/// Wire type of varints (int32/64, uint32/64, bool, enum): protobuf encoding guide, "Message
/// Structure".
const VARINT: u32 = 0;
/// Wire type of fixed64 and double.
const I64: u32 = 1;
/// Wire type of strings, bytes, embedded messages and packed repeated fields.
const LEN: u32 = 2;
/// Wire type of fixed32 and float.
const I32: u32 = 5;

/// Encodes one ExportTraceServiceRequest with the same content as
/// [`encode_traces`](super::encode_traces): one ResourceSpans, one ScopeSpans, the spans.
///
/// With no spans the request is empty (zero bytes: no ResourceSpans), as the OTLP
/// specification's "Empty Telemetry Envelopes" asks.
///
/// ```
/// use telemetry_core::otlp::proto::encode_traces;
/// use telemetry_core::span::Resource;
///
/// assert!(encode_traces(&Resource::default(), &[]).is_empty());
/// ```
pub fn encode_traces(resource: &Resource, spans: &[Span]) -> Vec<u8> {
    // A SERVER span with the usual HTTP attributes encodes to about 450 bytes.
    let mut out = Vec::with_capacity(128 + 480 * spans.len());
    encode_traces_into(&mut out, resource, spans);
    out
}

/// Same as [`encode_traces`], appending into a reusable buffer. `out` is not cleared first.
pub fn encode_traces_into(out: &mut Vec<u8>, resource: &Resource, spans: &[Span]) {
    if spans.is_empty() {
        return;
    }
    envelope(out, resource, spans.len() * 480, |out| {
        for span in spans {
            push_span_entry(out, span);
        }
    });
}

/// One export request around `entries`, which writes the items as entries of field 2 of the
/// scope message ([`push_span_entry`], [`push_record_entry`]); `estimate` is about how many bytes
/// they take. ExportTraceServiceRequest and ExportLogsServiceRequest have the same field numbers
/// here, so the same bytes: `resource_spans`/`resource_logs` = 1; in it `resource` = 1 and
/// `scope_spans`/`scope_logs` = 2; in that `scope` = 1 and `spans`/`log_records` = 2.
pub(crate) fn envelope(out: &mut Vec<u8>, resource: &Resource, estimate: usize, entries: impl FnOnce(&mut Vec<u8>)) {
    // A batch is usually over 16 KiB.
    message(out, 1, prefix_for(estimate), |out| {
        push_resource(out, resource);
        message(out, 2, prefix_for(estimate), |out| {
            push_scope(out);
            entries(out);
        });
    });
}

/// One span as an entry of `ScopeSpans.spans` (field 2): key, length, body. Entries written one
/// after another are the repeated field.
pub(crate) fn push_span_entry(out: &mut Vec<u8>, span: &Span) {
    message(out, 2, 2, |out| push_span(out, span));
}

/// The body of one `Span`, fields in trace.proto declaration order (the JSON encoder's order).
fn push_span(out: &mut Vec<u8>, span: &Span) {
    push_ids(out, span.trace_id, span.span_id);
    push_trace_state(out, span.trace_state.as_deref());
    if let Some(parent) = span.parent_span_id {
        bytes(out, 4, &parent.to_bytes());
    }
    // Span.flags = 16: the W3C flags and whether the parent is remote (see the JSON encoder).
    let remote = if span.parent_span_id.is_some() && !span.local_parent { IS_REMOTE } else { 0 };
    fixed32(out, 16, u32::from(span.flags) | HAS_IS_REMOTE | remote);
    bytes(out, 5, span.name.as_bytes());
    uint(out, 6, span.kind as u64);
    fixed64(out, 7, span.start_unix_nanos);
    fixed64(out, 8, span.end_unix_nanos);
    push_attributes(out, 9, &span.attributes);
    for link in &span.links {
        message(out, 13, 1, |out| push_link(out, link));
    }
    push_status(out, &span.status);
}

/// The body of one `Span.Link`: ids, trace state, attributes, then `flags` (field 6): the linked
/// span is always in another process.
fn push_link(out: &mut Vec<u8>, link: &Link) {
    push_ids(out, link.trace_id, link.span_id);
    push_trace_state(out, link.trace_state.as_deref());
    push_attributes(out, 4, &link.attributes);
    fixed32(out, 6, u32::from(link.flags) | HAS_IS_REMOTE | IS_REMOTE);
}

/// `Span.status = 15`: `code` (3) always, `message` (2) only for `Error`, as in the JSON.
fn push_status(out: &mut Vec<u8>, status: &Status) {
    let message = if status.code == StatusCode::Error { status.message.as_str() } else { "" };
    let message_len = if message.is_empty() { 0 } else { len_field_size(message.len()) };
    // The code is 0, 1 or 2: key and one byte.
    key(out, 15, LEN);
    varint(out, (message_len + 2) as u64);
    if !message.is_empty() {
        bytes(out, 2, message.as_bytes());
    }
    uint(out, 3, status.code as u64);
}

/// `trace_id = 1` and `span_id = 2`, raw bytes (hex is only the JSON spelling).
fn push_ids(out: &mut Vec<u8>, trace_id: TraceId, span_id: SpanId) {
    bytes(out, 1, &trace_id.to_bytes());
    bytes(out, 2, &span_id.to_bytes());
}

/// `trace_state = 3`, omitted when absent or empty.
fn push_trace_state(out: &mut Vec<u8>, trace_state: Option<&str>) {
    if let Some(state) = trace_state.filter(|s| !s.is_empty()) {
        bytes(out, 3, state.as_bytes());
    }
}

/// `ResourceSpans.resource = 1` (also `ResourceLogs.resource`): always present, like the JSON's
/// `"resource":{}`, with `Resource.attributes = 1`.
fn push_resource(out: &mut Vec<u8>, resource: &Resource) {
    message(out, 1, 1, |out| push_attributes(out, 1, &resource.attributes));
}

/// `ScopeSpans.scope = 1` (also `ScopeLogs.scope`): `InstrumentationScope.name = 1`,
/// `.version = 2`.
fn push_scope(out: &mut Vec<u8>) {
    let len = len_field_size(SCOPE_NAME.len()) + len_field_size(SCOPE_VERSION.len());
    key(out, 1, LEN);
    varint(out, len as u64);
    bytes(out, 1, SCOPE_NAME.as_bytes());
    bytes(out, 2, SCOPE_VERSION.as_bytes());
}

/// Every attribute as a `KeyValue` in repeated field `field`.
fn push_attributes(out: &mut Vec<u8>, field: u32, attributes: &[KeyValue]) {
    for attribute in attributes {
        push_key_value(out, field, &attribute.key, scalar(&attribute.value));
    }
}

/// An `AnyValue` member, borrowed: the span's [`Value`] or a log field.
#[derive(Debug, Clone, Copy)]
enum Scalar<'a> {
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    /// An `ArrayValue` of strings.
    Strings(&'a [String]),
}

fn scalar(value: &Value) -> Scalar<'_> {
    match value {
        Value::String(s) => Scalar::Str(s),
        Value::Bool(b) => Scalar::Bool(*b),
        Value::Int(n) => Scalar::Int(*n),
        Value::Double(n) => Scalar::Double(*n),
        Value::StringArray(items) => Scalar::Strings(items),
    }
}

/// One `KeyValue` (`key = 1`, `value = 2`) in field `field`. Its length is computed from the key
/// and the value before anything is written: no reservation, no patch.
fn push_key_value(out: &mut Vec<u8>, field: u32, key_text: &str, value: Scalar<'_>) {
    let value_len = any_value_len(value);
    key(out, field, LEN);
    varint(out, (len_field_size(key_text.len()) + len_field_size(value_len)) as u64);
    bytes(out, 1, key_text.as_bytes());
    key(out, 2, LEN);
    varint(out, value_len as u64);
    push_any_value(out, value);
}

/// The body of an `AnyValue` with one member set: `string_value = 1`, `bool_value = 2`,
/// `int_value = 3` (int64: a negative number is ten bytes, its two's complement),
/// `double_value = 4` (IEEE 754, little-endian; NaN and infinities need no special spelling),
/// `array_value = 5` (an `ArrayValue` whose `values = 1` are `AnyValue`s with `string_value`).
#[inline]
fn push_any_value(out: &mut Vec<u8>, value: Scalar<'_>) {
    match value {
        Scalar::Str(s) => bytes(out, 1, s.as_bytes()),
        Scalar::Bool(b) => uint(out, 2, u64::from(b)),
        Scalar::Int(n) => uint(out, 3, n as u64),
        Scalar::Double(n) => fixed64(out, 4, n.to_bits()),
        Scalar::Strings(items) => {
            key(out, 5, LEN);
            varint(out, array_len(items) as u64);
            for item in items {
                key(out, 1, LEN);
                varint(out, len_field_size(item.len()) as u64);
                bytes(out, 1, item.as_bytes());
            }
        }
    }
}

/// The encoded length of an `ArrayValue` body of string `AnyValue`s.
fn array_len(items: &[String]) -> usize {
    items.iter().map(|s| len_field_size(len_field_size(s.len()))).sum()
}

/// The encoded length of [`push_any_value`]'s output (each field has a one-byte key).
#[inline]
fn any_value_len(value: Scalar<'_>) -> usize {
    match value {
        Scalar::Str(s) => len_field_size(s.len()),
        Scalar::Bool(_) => 2,
        Scalar::Int(n) => 1 + varint_len(n as u64),
        Scalar::Double(_) => 9,
        Scalar::Strings(items) => len_field_size(array_len(items)),
    }
}

/// The size of a LEN field with a one-byte key (fields 1 to 15) and a `len`-byte body.
#[inline]
fn len_field_size(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// A field's key: `(field << 3) | wire type`, as a varint.
#[inline]
fn key(out: &mut Vec<u8>, field: u32, wire: u32) {
    varint(out, u64::from((field << 3) | wire));
}

/// Base-128 varint, least significant group first, shortest form.
#[inline]
fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// How many bytes [`varint`] writes for `v`.
#[inline]
fn varint_len(v: u64) -> usize {
    // 1 + floor(log2(v) / 7), with 0 taking one byte.
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// A VARINT field (enum, bool, uint, int64 as two's complement).
#[inline]
fn uint(out: &mut Vec<u8>, field: u32, v: u64) {
    key(out, field, VARINT);
    varint(out, v);
}

/// A LEN field holding raw bytes or UTF-8 text.
#[inline]
fn bytes(out: &mut Vec<u8>, field: u32, body: &[u8]) {
    key(out, field, LEN);
    varint(out, body.len() as u64);
    out.extend_from_slice(body);
}

/// A fixed64 (I64) field, little-endian.
#[inline]
fn fixed64(out: &mut Vec<u8>, field: u32, v: u64) {
    key(out, field, I64);
    out.extend_from_slice(&v.to_le_bytes());
}

/// A fixed32 (I32) field, little-endian.
#[inline]
fn fixed32(out: &mut Vec<u8>, field: u32, v: u32) {
    key(out, field, I32);
    out.extend_from_slice(&v.to_le_bytes());
}

/// The width of length prefix to reserve for a body of about `estimate` bytes.
fn prefix_for(estimate: usize) -> usize {
    varint_len(estimate as u64)
}

/// An embedded message in field `field` whose length is not known in advance: reserves `prefix`
/// bytes for the length, lets `body` write the message, then writes the length into the
/// reservation. When the length needs another width, the body moves once by the difference
/// (one `memmove`), so lengths keep their shortest form.
fn message(out: &mut Vec<u8>, field: u32, prefix: usize, body: impl FnOnce(&mut Vec<u8>)) {
    key(out, field, LEN);
    let at = out.len();
    out.resize(at + prefix, 0);
    body(out);
    let len = out.len() - at - prefix;
    let mut encoded = [0u8; 10];
    let width = varint_len(len as u64);
    let mut v = len as u64;
    for slot in encoded.iter_mut().take(width) {
        *slot = (v as u8 & 0x7f) | if v >= 0x80 { 0x80 } else { 0 };
        v >>= 7;
    }
    let encoded = encoded.get(..width).unwrap_or_default();
    if width == prefix {
        if let Some(reserved) = out.get_mut(at..at + prefix) {
            reserved.copy_from_slice(encoded);
        }
    } else {
        out.splice(at..at + prefix, encoded.iter().copied());
    }
}

#[cfg(test)]
mod tests;
