//! The JSON line written to the proxy log: `timestamp`, `level`, `message`, `trace_id`,
//! `span_id`, then the record's fields, one object per line.

use std::fmt::Write;

use super::build::{self, AccessLogConfig, FieldName, RequestLog, Value};
use super::{FieldValue, LogRecord, Severity};
use crate::ids::{SpanId, TraceId};
use crate::json;
use crate::redact::{Counts, Policy};

/// Appends the record as one JSON object (no trailing newline) to `out`.
pub fn encode(record: &LogRecord, out: &mut String) {
    let time = record.time_unix_nanos;
    push_head(out, |out| rfc3339_millis(time, out), record.severity, |out| json::push_escaped(out, &record.message));
    push_ids(out, record.trace_id, record.span_id);
    for (name, value) in &record.fields {
        let value = match value {
            FieldValue::Str(s) => Value::Str(s.as_str().into()),
            FieldValue::Int(i) => Value::Int(*i),
            FieldValue::Float(f) => Value::Float(*f),
            FieldValue::Bool(b) => {
                out.push(',');
                json::push_str(out, name);
                out.push_str(if *b { ":true" } else { ":false" });
                continue;
            }
        };
        push_field(out, name, &value);
    }
    out.push('}');
}

/// Appends the request's line straight from the request, without building a [`LogRecord`]:
/// byte for byte what `encode(&build::build(..))` writes (a test holds them equal), minus the
/// record's allocations, since this runs for every request.
///
/// `stamp` keeps the last second's timestamp text: lines of the same second share it.
pub fn encode_request(
    cfg: &AccessLogConfig,
    policy: &Policy,
    counts: &mut Counts,
    req: &RequestLog<'_>,
    stamp: &mut Stamp,
    out: &mut String,
) {
    let clean_path = build::clean_path(policy, counts, req);
    let time = req.end_unix_nanos;
    push_head(
        out,
        |out| stamp.write(time, out),
        build::severity(req.status, req.grpc),
        |out| {
            json::push_escaped(out, req.method);
            out.push(' ');
            json::push_escaped(out, &clean_path);
            out.push(' ');
            json::push_u64(out, u64::from(req.status));
        },
    );
    push_ids(out, req.trace.map(|t| t.0), req.trace.map(|t| t.1));
    build::each_field(cfg, policy, counts, req, &clean_path, |name, value| match name {
        // Standard names are plain ASCII words: no escaping to check.
        FieldName::Standard(field) => {
            out.push_str(field.line_key());
            push_value(out, &value);
        }
        FieldName::Extra(name) => push_field(out, name, &value),
    });
    out.push('}');
}

/// `{"timestamp":"…","level":"…","message":"…"` with `timestamp` writing the time's text and
/// `message` the escaped message.
fn push_head(
    out: &mut String,
    timestamp: impl FnOnce(&mut String),
    severity: Severity,
    message: impl FnOnce(&mut String),
) {
    out.push_str("{\"timestamp\":\"");
    timestamp(out);
    out.push_str("\",\"level\":\"");
    out.push_str(severity.name());
    out.push_str("\",\"message\":\"");
    message(out);
    out.push('"');
}

fn push_ids(out: &mut String, trace_id: Option<TraceId>, span_id: Option<SpanId>) {
    if let (Some(trace_id), Some(span_id)) = (trace_id, span_id) {
        // Every traced line: both ids assembled on the stack and appended once.
        let mut text = *b",\"trace_id\":\"################################\",\"span_id\":\"################\"";
        crate::ids::hex_fields(&mut text, &[(13, &trace_id.to_bytes()), (58, &span_id.to_bytes())]);
        // ASCII only: valid UTF-8.
        out.push_str(std::str::from_utf8(&text).unwrap_or_default());
        return;
    }
    if let Some(id) = trace_id {
        out.push_str(",\"trace_id\":\"");
        id.write_hex(out);
        out.push('"');
    }
    if let Some(id) = span_id {
        out.push_str(",\"span_id\":\"");
        id.write_hex(out);
        out.push('"');
    }
}

/// `,"name":value`.
fn push_field(out: &mut String, name: &str, value: &Value<'_>) {
    out.push(',');
    json::push_str(out, name);
    out.push(':');
    push_value(out, value);
}

fn push_value(out: &mut String, value: &Value<'_>) {
    match value {
        Value::Str(s) => json::push_str(out, s),
        Value::Int(i) => json::push_i64(out, *i),
        Value::Float(f) if f.is_finite() => push_f64(out, *f),
        Value::Float(_) => out.push_str("null"),
    }
}

/// [`rfc3339_millis`] with the text of the last second kept: only the milliseconds change
/// between the lines of one second, so the calendar arithmetic runs once a second (Envoy's
/// access-log formatter caches its timestamps the same way).
#[derive(Debug, Default)]
pub struct Stamp {
    /// The second the text is of, plus one (0: nothing kept yet).
    second: u64,
    text: String,
}

impl Stamp {
    /// Appends `unix_nanos` as [`rfc3339_millis`] writes it.
    pub fn write(&mut self, unix_nanos: u64, out: &mut String) {
        let second = unix_nanos / 1_000_000_000 + 1;
        if second != self.second {
            self.text.clear();
            rfc3339_millis(unix_nanos - unix_nanos % 1_000_000_000, &mut self.text);
            self.second = second;
        }
        // `YYYY-MM-DDTHH:MM:SS.` kept, then the milliseconds and `Z`.
        let millis = (unix_nanos / 1_000_000) % 1000;
        let head = self.text.len().saturating_sub(4);
        out.push_str(self.text.get(..head).unwrap_or_default());
        let digits = [b'0' + (millis / 100) as u8, b'0' + (millis / 10 % 10) as u8, b'0' + (millis % 10) as u8, b'Z'];
        // Three ASCII digits and `Z`: valid UTF-8.
        out.push_str(std::str::from_utf8(&digits).unwrap_or_default());
    }
}

/// `2026-01-01T00:00:00.123Z` (RFC 3339, UTC, milliseconds) from Unix nanoseconds.
pub fn rfc3339_millis(unix_nanos: u64, out: &mut String) {
    let secs = unix_nanos / 1_000_000_000;
    let millis = (unix_nanos / 1_000_000) % 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(i64::try_from(days).unwrap_or(0));
    // `YYYY-MM-DDTHH:MM:SS.mmmZ` written into a stack buffer and appended once: `write!` with
    // padding runs core::fmt's machinery once per field, and this runs for every request.
    let mut text = *b"0000-00-00T00:00:00.000Z";
    let fields = [
        (0, 4, u64::try_from(year).unwrap_or(0)),
        (5, 2, u64::from(month)),
        (8, 2, u64::from(day)),
        (11, 2, rem / 3600),
        (14, 2, (rem % 3600) / 60),
        (17, 2, rem % 60),
        (20, 3, millis),
    ];
    for (start, width, value) in fields {
        let mut rest = value;
        for slot in text.iter_mut().skip(start).take(width).rev() {
            // The remainder is below 10.
            *slot = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
    }
    // ASCII digits and separators only, so the buffer is valid UTF-8.
    out.push_str(std::str::from_utf8(&text).unwrap_or_default());
}

/// Appends a finite double as `{}` (Display) writes it. Millisecond durations, the one float of
/// every line, are whole thousandths: those are written from their integer thousandths without
/// the float formatter (the shortest round-trip form of `k / 1000` below 1e9 is `k / 1000` with
/// trailing zeros dropped, because any shorter decimal is at least 0.001 away). Other values go
/// through the formatter.
fn push_f64(out: &mut String, f: f64) {
    let thousandths = (f * 1000.0).round();
    #[allow(clippy::float_cmp, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    if f.abs() < 1e9 && thousandths / 1000.0 == f {
        if f.is_sign_negative() {
            out.push('-');
        }
        let k = thousandths.abs() as u64;
        json::push_u64(out, k / 1000);
        let frac = k % 1000;
        if frac != 0 {
            out.push('.');
            let digits = [b'0' + (frac / 100) as u8, b'0' + (frac / 10 % 10) as u8, b'0' + (frac % 10) as u8];
            let mut len = 3;
            while len > 1 && digits.get(len - 1) == Some(&b'0') {
                len -= 1;
            }
            for d in digits.iter().take(len) {
                out.push(char::from(*d));
            }
        }
        return;
    }
    let _ = write!(out, "{f}");
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
    use proptest::prelude::*;

    proptest! {
        /// The line written straight from a request is the line of the record built from it,
        /// whatever the values (quotes, control characters, secrets that get redacted, queries).
        #[test]
        fn a_line_from_the_request_equals_the_line_of_its_record(
            path in "/[a-z0-9/?=&%._~\"-]{0,30}",
            agent in proptest::option::of("[ -~\t]{0,40}"),
            tenant in proptest::option::of("[ -~]{0,20}"),
            status in 0u16..600,
            duration_nanos in 0u64..100_000_000_000,
            traced in any::<bool>(),
            grpc in proptest::option::of((any::<bool>(), proptest::option::of(0u8..=16))),
        ) {
            let config = crate::config::Config::from_json(
                br#"{"routes": ["/a/{id}"], "access_log": {"extra": [{"name": "tenant", "from": {"request_header": "x-tenant"}}]}}"#,
            ).unwrap();
            let cfg = config.access_log.as_ref().unwrap();
            let extra = [tenant];
            let req = RequestLog {
                end_unix_nanos: 1_767_225_600_123_456_789,
                trace: traced.then(|| (TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(), SpanId::from_hex("00f067aa0ba902b7").unwrap(), 1)),
                service: "edge \"gw\"",
                method: "GET",
                route: config.routes.find(crate::route::strip_query(&path)).and_then(|r| config.routes.template(r)),
                path: &path,
                status,
                duration_nanos,
                request_bytes: 3,
                response_bytes: 1 << 40,
                upstream_cluster: Some("app"),
                upstream_host: None,
                client_address: Some("10.0.0.1:5000"),
                user_agent: agent.as_deref(),
                request_id: Some("Bearer abc.def"),
                extra: &extra,
                clean: None,
                grpc: grpc.map(|(web, code)| crate::grpc::Call {
                    protocol: if web { crate::grpc::Protocol::GrpcWeb } else { crate::grpc::Protocol::Grpc },
                    status: code.and_then(|n| crate::grpc::Code::parse(&n.to_string())),
                }),
            };
            let (mut direct, mut via_record) = (String::new(), String::new());
            let (mut counted_direct, mut counted_record) = (Counts::default(), Counts::default());
            encode_request(cfg, &config.redaction, &mut counted_direct, &req, &mut Stamp::default(), &mut direct);
            encode(&build::build(cfg, &config.redaction, &mut counted_record, &req), &mut via_record);
            prop_assert_eq!(&direct, &via_record);
            prop_assert_eq!(counted_direct, counted_record);
        }

        /// The fast path writes exactly what Display writes: whole thousandths (every duration
        /// the builder produces), and any other double.
        #[test]
        fn floats_are_written_as_display_writes_them(k in 0u64..2_000_000_000_000, other in proptest::num::f64::NORMAL) {
            #[allow(clippy::cast_precision_loss)]
            for f in [k as f64 / 1000.0, -(k as f64) / 1000.0, other, 0.0, -0.0, 1e9, 999_999_999.999] {
                let mut out = String::new();
                push_f64(&mut out, f);
                prop_assert_eq!(out, format!("{f}"));
            }
        }

        /// A kept second's text gives what the calendar arithmetic gives, for times in any order:
        /// within one second, across seconds, backwards.
        #[test]
        fn a_kept_second_writes_what_the_arithmetic_writes(
            start in any::<u64>(),
            steps in proptest::collection::vec(-2_000_000_000i64..2_000_000_000, 1..8),
        ) {
            let mut stamp = Stamp::default();
            let mut t = start;
            for step in steps {
                let (mut kept, mut fresh) = (String::from("x"), String::from("x"));
                stamp.write(t, &mut kept);
                rfc3339_millis(t, &mut fresh);
                prop_assert_eq!(kept, fresh);
                t = t.saturating_add_signed(step);
            }
        }

        /// Every field is written as the formatter pads it, over the whole range of `u64` nanoseconds.
        #[test]
        fn timestamps_match_the_formatter(unix_nanos in any::<u64>()) {
            let secs = unix_nanos / 1_000_000_000;
            let (year, month, day) = civil_from_days(i64::try_from(secs / 86_400).unwrap());
            let rem = secs % 86_400;
            let expected = format!(
                "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
                rem / 3600,
                (rem % 3600) / 60,
                rem % 60,
                (unix_nanos / 1_000_000) % 1000
            );
            let mut out = String::new();
            rfc3339_millis(unix_nanos, &mut out);
            prop_assert_eq!(out, expected);
        }
    }

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

    #[test]
    fn every_field_has_its_name_and_line_key() {
        for (i, (name, field)) in build::FIELDS.iter().enumerate() {
            assert_eq!(*field as usize, i, "FIELDS is in declaration order");
            assert_eq!(field.name(), *name);
            assert_eq!(field.line_key(), format!(",\"{name}\":"));
        }
    }
}
