//! The JSON line written to the proxy log: `timestamp`, `level`, `message`, `trace_id`,
//! `span_id`, then the record's fields, one object per line.

use std::fmt::Write;

use super::{FieldValue, LogRecord};
use crate::otlp::json;

/// Appends the record as one JSON object (no trailing newline) to `out`.
pub fn encode(record: &LogRecord, out: &mut String) {
    out.push_str("{\"timestamp\":\"");
    rfc3339_millis(record.time_unix_nanos, out);
    out.push_str("\",\"level\":\"");
    out.push_str(record.severity.name());
    out.push_str("\",\"message\":");
    json::push_str(out, &record.message);
    if let Some(id) = record.trace_id {
        out.push_str(",\"trace_id\":\"");
        id.write_hex(out);
        out.push('"');
    }
    if let Some(id) = record.span_id {
        out.push_str(",\"span_id\":\"");
        id.write_hex(out);
        out.push('"');
    }
    for (name, value) in &record.fields {
        out.push(',');
        json::push_str(out, name);
        out.push(':');
        match value {
            FieldValue::Str(s) => json::push_str(out, s),
            FieldValue::Int(i) => {
                let _ = write!(out, "{i}");
            }
            FieldValue::Float(f) if f.is_finite() => {
                let _ = write!(out, "{f}");
            }
            FieldValue::Float(_) => out.push_str("null"),
            FieldValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        }
    }
    out.push('}');
}

/// `2026-01-01T00:00:00.123Z` (RFC 3339, UTC, milliseconds) from Unix nanoseconds.
pub fn rfc3339_millis(unix_nanos: u64, out: &mut String) {
    let secs = unix_nanos / 1_000_000_000;
    let millis = (unix_nanos / 1_000_000) % 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(i64::try_from(days).unwrap_or(0));
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    );
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, u32::try_from(month).unwrap_or(1), u32::try_from(day).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access_log::Severity;
    use crate::ids::{SpanId, TraceId};

    #[test]
    fn timestamps_are_rfc3339_with_milliseconds() {
        let mut s = String::new();
        rfc3339_millis(1_767_225_600_123_456_789, &mut s);
        assert_eq!(s, "2026-01-01T00:00:00.123Z");
        s.clear();
        rfc3339_millis(951_782_400_000_000_000, &mut s);
        assert_eq!(s, "2000-02-29T00:00:00.000Z", "leap day");
        s.clear();
        rfc3339_millis(0, &mut s);
        assert_eq!(s, "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn a_line_is_one_json_object_with_ids_first() {
        let record = LogRecord {
            time_unix_nanos: 1_767_225_600_000_000_000,
            severity: Severity::Warn,
            message: String::from("GET /a \"quoted\"\n"),
            trace_id: TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736"),
            span_id: SpanId::from_hex("00f067aa0ba902b7"),
            trace_flags: 1,
            fields: vec![("status".into(), FieldValue::Int(404)), ("ok".into(), FieldValue::Bool(false))],
        };
        let mut line = String::new();
        encode(&record, &mut line);
        assert_eq!(
            line,
            r#"{"timestamp":"2026-01-01T00:00:00.000Z","level":"warn","message":"GET /a \"quoted\"\n","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","status":404,"ok":false}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["status"], 404);
    }
}
