//! Label names, label values, and how they are written into Envoy stat names.
//!
//! A series is the stat name `<metric>;<label>=<value>;<label>=<value>`. Each label key needs one
//! Envoy `stats_tags` entry, `{tag_name: "<label>", regex: "(;<label>=([^;]*))"}`: Envoy removes
//! the first group from the name and uses the second as the label value, leaving `<metric>`.
//! Values therefore must not contain `;` or `=` (they are replaced), and stay short.

use std::borrow::Cow;

use super::RequestFacts;
use crate::grpc::{self, Call};

/// The value for anything unmatched: an unrouted path, a method or dimension value outside its
/// allow-list.
pub const OTHER: &str = "other";
/// The value of every label of the overflow series.
pub const OVERFLOW: &str = "overflow";
/// Longest label value kept; longer values are cut (on a character boundary).
pub const MAX_VALUE_LEN: usize = 96;

/// Labels the module computes itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// The configured reporter (`proxy`, `gateway`, `sidecar_inbound`...).
    Reporter,
    /// The request method; methods outside the HTTP standard set are `other`.
    Method,
    /// The matched route template, or `other`.
    Route,
    /// The response status, `0` when no response was sent.
    StatusCode,
    /// `2xx`...`5xx`, `0xx` when no response was sent.
    StatusClass,
    /// `success` for 1xx-3xx, `error` for 4xx, 5xx and no response, and for a failed gRPC call
    /// whatever its HTTP status.
    Outcome,
    /// A gRPC call's `grpc-status` in decimal (`0`...`16`), `missing` when its response had
    /// none, `none` for a request that is not a gRPC call.
    GrpcStatus,
}

/// Where a label's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelSource {
    Builtin(Builtin),
    /// The configured dimension with this index.
    Dimension(usize),
}

/// Built-in label names, as configured.
pub const BUILTINS: [(&str, Builtin); 7] = [
    ("reporter", Builtin::Reporter),
    ("method", Builtin::Method),
    ("route", Builtin::Route),
    ("status_code", Builtin::StatusCode),
    ("status_class", Builtin::StatusClass),
    ("outcome", Builtin::Outcome),
    ("grpc_status", Builtin::GrpcStatus),
];

/// The standard families' labels by default. `grpc_status` is one so that a gRPC call that
/// failed with a 200 (`grpc-status: 13`) is an error in the default series too; every series
/// carries it (`none` for plain HTTP), as every series of a family carries the same labels.
pub const DEFAULT_LABELS: [&str; 6] = ["reporter", "method", "route", "status_code", "status_class", "grpc_status"];

const METHODS: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

impl Builtin {
    /// The built-in with this label name.
    pub fn named(name: &str) -> Option<Self> {
        BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
    }

    /// Appends this label's value for a request to `out` (the reporter comes from the
    /// configuration instead): on the request path, so no allocation and no formatter.
    pub fn push_value(self, facts: &RequestFacts<'_>, out: &mut String) {
        match self {
            Self::Reporter => {}
            Self::Method if METHODS.contains(&facts.method) => out.push_str(facts.method),
            Self::Method => out.push_str(OTHER),
            Self::Route => out.push_str(facts.route.unwrap_or(OTHER)),
            Self::StatusCode => push_status(out, facts.status),
            Self::StatusClass => {
                push_status(out, facts.status / 100);
                out.push_str("xx");
            }
            Self::Outcome if (100..400).contains(&facts.status) && !facts.grpc.is_some_and(Call::failed) => {
                out.push_str("success");
            }
            Self::Outcome => out.push_str("error"),
            Self::GrpcStatus => out.push_str(facts.grpc.map_or(grpc::LABEL_NOT_GRPC, Call::label)),
        }
    }
}

/// Appends a status code (or class) in decimal, as `u16::to_string` would.
fn push_status(out: &mut String, n: u16) {
    let digits = [n / 10_000, n / 1_000 % 10, n / 100 % 10, n / 10 % 10, n % 10];
    let first = digits.iter().position(|d| *d != 0).unwrap_or(digits.len() - 1);
    for d in digits.iter().skip(first) {
        // Each digit is below 10.
        out.push(char::from(b'0' + *d as u8));
    }
}

/// A label value safe in an Envoy stat name and a Prometheus label: `;`, `=`, whitespace and
/// control characters become `_`, trailing dots (which Envoy drops) become `_`, and values are
/// cut to [`MAX_VALUE_LEN`] bytes.
pub fn sanitize_value(raw: &str) -> String {
    let mut out: String = raw
        .chars()
        .map(|c| if c == ';' || c == '=' || c.is_whitespace() || c.is_control() { '_' } else { c })
        .collect();
    if out.len() > MAX_VALUE_LEN {
        let mut cut = MAX_VALUE_LEN;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    let kept = out.trim_end_matches('.').len();
    let dots = out.len() - kept;
    out.truncate(kept);
    out.push_str(&"_".repeat(dots));
    if out.is_empty() { String::from("_") } else { out }
}

/// `<metric>;<k>=<v>;...`: the stat name of one series.
pub fn stat_name(metric: &str, labels: &[(&str, &str)]) -> String {
    let len = metric.len() + labels.iter().map(|(k, v)| k.len() + v.len() + 2).sum::<usize>();
    let mut out = String::with_capacity(len);
    out.push_str(metric);
    for (k, v) in labels {
        out.push(';');
        out.push_str(k);
        out.push('=');
        out.push_str(&sanitize_value_cow(v));
    }
    out
}

fn sanitize_value_cow(v: &str) -> Cow<'_, str> {
    let clean = !v.is_empty()
        && v.len() <= MAX_VALUE_LEN
        && !v.ends_with('.')
        && !v.chars().any(|c| c == ';' || c == '=' || c.is_whitespace() || c.is_control());
    if clean { Cow::Borrowed(v) } else { Cow::Owned(sanitize_value(v)) }
}

/// The Envoy `stats_tags` regex that turns label `key` back into a Prometheus label.
pub fn stats_tag_regex(key: &str) -> String {
    format!("(;{key}=([^;]*))")
}

/// Whether `name` is a valid Prometheus label name we allow (`le` is reserved for buckets).
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name != "le"
        && !name.starts_with("__")
}

/// Whether `name` is a valid Prometheus metric name.
pub fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A built-in label's value for `facts`, as the series key gets it.
    fn value(label: Builtin, facts: &RequestFacts<'_>) -> String {
        let mut out = String::new();
        label.push_value(facts, &mut out);
        out
    }

    fn facts(method: &str, route: Option<&str>, status: u16) -> RequestFacts<'static> {
        let method: &'static str = Box::leak(method.to_owned().into_boxed_str());
        let route = route.map(|r| &*Box::leak(r.to_owned().into_boxed_str()));
        RequestFacts {
            method,
            route,
            status,
            duration_nanos: 0,
            request_bytes: 0,
            response_bytes: 0,
            dimensions: &[],
            exemplar: None,
            grpc: None,
        }
    }

    #[test]
    fn builtin_values() {
        let f = facts("GET", Some("/users/{id}"), 404);
        assert_eq!(value(Builtin::Method, &f), "GET");
        assert_eq!(value(Builtin::Route, &f), "/users/{id}");
        assert_eq!(value(Builtin::StatusCode, &f), "404");
        assert_eq!(value(Builtin::StatusClass, &f), "4xx");
        assert_eq!(value(Builtin::Outcome, &f), "error");
        let none = facts("BREW", None, 0);
        assert_eq!(value(Builtin::Method, &none), "other", "non-standard methods do not make series");
        assert_eq!(value(Builtin::Route, &none), "other", "never the raw path");
        assert_eq!(value(Builtin::StatusClass, &none), "0xx");
        assert_eq!(value(Builtin::Outcome, &facts("GET", None, 302)), "success");
    }

    #[test]
    fn stat_names_carry_labels_envoy_can_extract() {
        assert_eq!(
            stat_name("meshlens_http_requests_total", &[("method", "GET"), ("route", "/api/v1/query")]),
            "meshlens_http_requests_total;method=GET;route=/api/v1/query"
        );
        assert_eq!(stat_name("m", &[("k", "a;b=c d")]), "m;k=a_b_c_d");
        assert_eq!(stats_tag_regex("route"), "(;route=([^;]*))");
    }

    #[test]
    fn sanitising() {
        assert_eq!(sanitize_value("v1.2."), "v1.2_", "Envoy would drop a trailing dot");
        assert_eq!(sanitize_value(""), "_");
        assert_eq!(sanitize_value(&"é".repeat(60)).len(), 96, "cut on a character boundary");
        assert_eq!(sanitize_value("tab\there"), "tab_here");
    }

    #[test]
    fn names() {
        assert!(is_label_name("query_type"));
        assert!(!is_label_name("le"));
        assert!(!is_label_name("2x"));
        assert!(!is_label_name("__name"));
        assert!(is_metric_name("chat2sql_query_duration_seconds"));
        assert!(!is_metric_name("chat2sql-query"));
    }

    proptest! {
        #[test]
        fn sanitised_values_never_break_the_encoding(raw in ".{0,200}") {
            let v = sanitize_value(&raw);
            prop_assert!(!v.contains(';') && !v.contains('=') && !v.ends_with('.') && !v.is_empty());
            prop_assert!(v.len() <= MAX_VALUE_LEN);
            let name = stat_name("m", &[("k", &raw)]);
            prop_assert_eq!(name.matches(';').count(), 1);
        }
    }
}
