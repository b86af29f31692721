//! The span model: the finished spans of an HTTP request (a SERVER span, and a CLIENT span for the
//! upstream hop), plus the resource they belong to.
//!
//! Field meanings follow the OpenTelemetry trace data model (opentelemetry-proto
//! `trace/v1/trace.proto`); attribute names follow the stable HTTP semantic conventions.

use std::borrow::Cow;

use crate::ids::{SpanId, TraceId};

/// A finished span, ready to encode.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// The span this one continues: the incoming parent-id under the `trust` edge policy, or,
    /// for a CLIENT span, this proxy's SERVER span.
    pub parent_span_id: Option<SpanId>,
    /// Whether the parent is a span of this proxy (a CLIENT span's SERVER span) rather than the
    /// caller's: OTLP's `SPAN_FLAGS_CONTEXT_IS_REMOTE` is then clear.
    pub local_parent: bool,
    /// The W3C `tracestate` this span was created with, as propagated.
    pub trace_state: Option<String>,
    /// W3C trace flags (bit 0: sampled).
    pub flags: u8,
    pub name: String,
    pub kind: SpanKind,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
    pub attributes: Vec<KeyValue>,
    pub status: Status,
    pub links: Vec<Link>,
}

/// OTLP `Span.SpanKind`, with the proto's integer values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Internal = 1,
    Server = 2,
    Client = 3,
}

/// OTLP `Status`: code and an optional message (only meaningful for `Error`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Status {
    pub code: StatusCode,
    pub message: String,
}

/// OTLP `Status.StatusCode`, with the proto's integer values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusCode {
    #[default]
    Unset = 0,
    Ok = 1,
    Error = 2,
}

/// A link to another span: under the `restart` edge policy, the incoming (untrusted) context.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub trace_state: Option<String>,
    pub flags: u8,
    pub attributes: Vec<KeyValue>,
}

/// One attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyValue {
    pub key: Cow<'static, str>,
    pub value: Value,
}

/// An attribute value (the kinds of OTLP `AnyValue` that meshlens emits).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    /// An `ArrayValue` of strings: the `string[]` type of the semantic conventions'
    /// `http.request.header.<key>` and `http.response.header.<key>`.
    StringArray(Vec<String>),
}

/// The entity producing spans: `service.name` and friends.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resource {
    pub attributes: Vec<KeyValue>,
}

/// The instrumentation scope written into every export: this crate's name and version.
pub const SCOPE_NAME: &str = "meshlens";
/// See [`SCOPE_NAME`].
pub const SCOPE_VERSION: &str = env!("CARGO_PKG_VERSION");

impl KeyValue {
    /// A string attribute.
    pub fn string(key: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Self {
        Self { key: key.into(), value: Value::String(value.into()) }
    }

    /// An integer attribute.
    pub fn int(key: impl Into<Cow<'static, str>>, value: i64) -> Self {
        Self { key: key.into(), value: Value::Int(value) }
    }

    /// A string-array attribute.
    pub fn strings(key: impl Into<Cow<'static, str>>, values: Vec<String>) -> Self {
        Self { key: key.into(), value: Value::StringArray(values) }
    }

    /// A boolean attribute.
    pub fn bool(key: impl Into<Cow<'static, str>>, value: bool) -> Self {
        Self { key: key.into(), value: Value::Bool(value) }
    }
}
