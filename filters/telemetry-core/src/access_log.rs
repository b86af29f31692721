//! Access-log records: one per request, written at stream end, carrying the same trace and span
//! ids as the span and the response's trace-ID header.
//!
//! A record is written as one JSON object per line to the proxy log (what Promtail/Loki read
//! from Envoy's output), and can be exported as OTLP/HTTP logs (protobuf or JSON).

pub mod build;
pub mod line;
pub mod sha256;

use std::borrow::Cow;

use crate::ids::{SpanId, TraceId};

/// One log record.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    pub time_unix_nanos: u64,
    pub severity: Severity,
    /// The human-readable message (`GET /api/v1/query 200`); the OTLP body.
    pub message: String,
    pub trace_id: Option<TraceId>,
    pub span_id: Option<SpanId>,
    /// W3C trace flags of the request's context.
    pub trace_flags: u8,
    /// Structured fields, in output order.
    pub fields: Vec<(Cow<'static, str>, FieldValue)>,
}

/// Log severity, with OpenTelemetry's severity numbers (logs data model, "SeverityNumber").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warn,
    Error,
}

/// A field value.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Severity {
    /// OpenTelemetry `SeverityNumber`: INFO 9, WARN 13, ERROR 17.
    pub fn number(self) -> u8 {
        match self {
            Self::Info => 9,
            Self::Warn => 13,
            Self::Error => 17,
        }
    }

    /// Lowercase name, as the JSON line's `level` (`info`, `warn`, `error`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }

    /// OpenTelemetry `severityText` (`INFO`, `WARN`, `ERROR`).
    pub fn text(self) -> &'static str {
        match self {
            Self::Info => "INFO",
            Self::Warn => "WARN",
            Self::Error => "ERROR",
        }
    }
}

impl LogRecord {
    /// A field's value, by name.
    pub fn field(&self, name: &str) -> Option<&FieldValue> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}
