//! OTLP/HTTP binary protobuf encoding of access-log records and security events: the body of a
//! `POST /v1/logs` sent with `Content-Type: application/x-protobuf`.
//!
//! The same fields as the JSON encoder of [`crate::otlp`]'s `logs` module, in the same order:
//!
//! | message (file) | field | number | wire type |
//! | --- | --- | --- | --- |
//! | `ExportLogsServiceRequest` (collector/logs/v1/logs_service.proto) | `resource_logs` | 1 | LEN, repeated |
//! | `ResourceLogs` (logs/v1/logs.proto) | `resource`, `scope_logs` | 1, 2 | LEN |
//! | `ScopeLogs` | `scope`, `log_records` | 1, 2 | LEN |
//! | `LogRecord` | `time_unix_nano` | 1 | I64 (fixed64) |
//! | | `observed_time_unix_nano` | 11 | I64 (fixed64) |
//! | | `severity_number` | 2 | VARINT (enum `SeverityNumber`) |
//! | | `severity_text` | 3 | LEN |
//! | | `body` | 5 | LEN (`AnyValue`, `string_value`) |
//! | | `attributes` | 6 | LEN, repeated `KeyValue` |
//! | | `flags` | 8 | I32 (fixed32), only with a trace id |
//! | | `trace_id`, `span_id` | 9, 10 | LEN (16 and 8 raw bytes) |

use super::{LEN, Scalar, any_value_len, bytes, fixed32, fixed64, key, message, varint};
use super::{push_any_value, push_key_value, uint};
use crate::access_log::{FieldValue, LogRecord};
use crate::span::Resource;

/// Encodes one ExportLogsServiceRequest with the same content as
/// [`crate::otlp::encode_logs`]: one ResourceLogs, one ScopeLogs, the records. With no records
/// the request is empty (zero bytes).
///
/// ```
/// use telemetry_core::otlp::proto::encode_logs;
/// use telemetry_core::span::Resource;
///
/// assert!(encode_logs(&Resource::default(), &[]).is_empty());
/// ```
pub fn encode_logs(resource: &Resource, records: &[LogRecord]) -> Vec<u8> {
    // An access-log record with the usual HTTP fields encodes to about 700 bytes.
    let mut out = Vec::with_capacity(128 + 720 * records.len());
    encode_logs_into(&mut out, resource, records);
    out
}

/// Same as [`encode_logs`], appending into a reusable buffer. `out` is not cleared first.
pub fn encode_logs_into(out: &mut Vec<u8>, resource: &Resource, records: &[LogRecord]) {
    if records.is_empty() {
        return;
    }
    super::envelope(out, resource, records.len() * 720, |out| {
        for record in records {
            push_record_entry(out, record);
        }
    });
}

/// One record as an entry of `ScopeLogs.log_records` (field 2): key, length, body.
pub(crate) fn push_record_entry(out: &mut Vec<u8>, record: &LogRecord) {
    message(out, 2, 2, |out| push_record(out, record));
}

/// The body of one `LogRecord`, in the JSON encoder's order.
fn push_record(out: &mut Vec<u8>, record: &LogRecord) {
    fixed64(out, 1, record.time_unix_nanos);
    fixed64(out, 11, record.time_unix_nanos);
    uint(out, 2, u64::from(record.severity.number()));
    bytes(out, 3, record.severity.text().as_bytes());
    // LogRecord.body = 5: an AnyValue with string_value.
    let body = Scalar::Str(&record.message);
    key(out, 5, LEN);
    varint(out, any_value_len(body) as u64);
    push_any_value(out, body);
    for (name, value) in &record.fields {
        let value = match value {
            FieldValue::Str(s) => Scalar::Str(s),
            FieldValue::Int(n) => Scalar::Int(*n),
            FieldValue::Float(n) => Scalar::Double(*n),
            FieldValue::Bool(b) => Scalar::Bool(*b),
        };
        push_key_value(out, 6, name, value);
    }
    if let Some(trace_id) = record.trace_id {
        fixed32(out, 8, u32::from(record.trace_flags));
        bytes(out, 9, &trace_id.to_bytes());
    }
    if let Some(span_id) = record.span_id {
        bytes(out, 10, &span_id.to_bytes());
    }
}
