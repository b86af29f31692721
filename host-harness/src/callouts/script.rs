//! Scripted callout answers (`meshlens run --callouts FILE`, [`crate::HostBuilder::callouts`]):
//! rules matched by cluster (and `:path` prefix, or gRPC service and method), each answering
//! its calls with a list of answers in order.
//!
//! ```json
//! {"rules": [
//!   {"cluster": "httpbin", "path_prefix": "/bytes",
//!    "answers": [{"status": 200, "body": "\u0002", "delay_ms": 300}, {"status": 200, "body_base64": "AQ=="}],
//!    "then": "cycle"},
//!   {"cluster": "slow", "answers": [{"timeout": true}]},
//!   {"cluster": "flaky", "answers": [{"reset": true}, {"status": 204}]},
//!   {"cluster": "grpcbin", "grpc_service": "grpcbin.GRPCBin", "grpc_method": "RandomError",
//!    "answers": [{"grpc_status": 0, "message": "ok"}, {"grpc_status": 3, "grpc_message": "odd"}],
//!    "then": "cycle"}
//! ]}
//! ```
//!
//! Rules are tried in order; the first that matches a call answers it. A rule with
//! `grpc_service`, `grpc_method` or gRPC answers matches gRPC calls only; one with `path_prefix`
//! or HTTP answers, HTTP calls only; a rule of timeouts only matches both. Its answers are used
//! one per call, in order; after the last, `then` says what follows: `"repeat_last"` (the
//! default) or `"cycle"`. Unknown fields are errors, with their line and column.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::HttpResponse;
use crate::stream::Headers;

/// What the host does with a call no rule matches (when a script is installed), as with a
/// cluster with no healthy endpoint: `proxy_http_call` fails at once with INTERNAL_FAILURE
/// (Envoy 1.40, `tests/tests/all/envoy_callouts.rs`); gRPC calls close at once with UNAVAILABLE
/// (14, measured: `tests/tests/all/envoy_grpc_local_reply.rs`) and this message (not measured).
pub const UNMATCHED_MESSAGE: &str = "no healthy upstream";

/// A parsed, validated callout script.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Script {
    rules: Vec<Rule>,
    /// Calls answered per rule so far.
    used: Vec<usize>,
}

/// A script that cannot be used: where (1-based line and column, when the JSON names one) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// One rule: which calls, and their answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub cluster: String,
    pub path_prefix: Option<String>,
    pub grpc_service: Option<String>,
    pub grpc_method: Option<String>,
    pub answers: Vec<Answer>,
    pub cycle: bool,
    kind: Kind,
}

/// One scripted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP response, `delay_ms` after the call.
    Http { response: HttpResponse, delay_ms: u64 },
    /// The call fails without a response (reset, connection failure): zero headers, status 11.
    Reset { delay_ms: u64 },
    /// Never answered: the call's own timeout fires on the virtual clock (none with timeout 0).
    Timeout,
    /// A gRPC answer, `delay_ms` after the call.
    Grpc { reply: GrpcReply, delay_ms: u64 },
}

/// A gRPC call's answer: initial metadata, a message (when any), trailing metadata, the status.
/// A unary call gets the message (status 0) or the status (any other), as in Envoy 1.40; the
/// metadata is kept for the report, Envoy gives a unary call no metadata callback.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GrpcReply {
    pub initial_metadata: Headers,
    pub message: Option<Vec<u8>>,
    pub trailing_metadata: Headers,
    pub status: u32,
    pub status_message: String,
}

/// Which calls a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Http,
    Grpc,
    Both,
}

/// A call to match.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Call<'a> {
    Http { cluster: &'a str, path: &'a str },
    Grpc { cluster: &'a str, service: &'a str, method: &'a str },
}

impl Script {
    /// Parses a script (JSON, see the module documentation).
    pub fn parse(text: &str) -> Result<Self, ScriptError> {
        let raw: RawScript = serde_json::from_str(text).map_err(|e| {
            let message = e.to_string();
            let message = message.rsplit_once(" at line ").map_or(message.as_str(), |(m, _)| m).to_owned();
            ScriptError { line: e.line(), column: e.column(), message }
        })?;
        let rules = raw.rules.into_iter().enumerate().map(|(i, r)| r.validate(i)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(rules))
    }

    /// A script of `rules`.
    pub fn new(rules: Vec<Rule>) -> Self {
        let used = vec![0; rules.len()];
        Self { rules, used }
    }

    /// A rule answering every HTTP call to `cluster` with `response` at once (what
    /// `--collector-cluster` is).
    pub fn always(cluster: &str, response: HttpResponse) -> Rule {
        Rule {
            cluster: cluster.to_owned(),
            path_prefix: None,
            grpc_service: None,
            grpc_method: None,
            answers: vec![Answer::Http { response, delay_ms: 0 }],
            cycle: false,
            kind: Kind::Http,
        }
    }

    /// Adds a rule after the others.
    pub fn push(&mut self, rule: Rule) {
        self.rules.push(rule);
        self.used.push(0);
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The next answer for `call`, and the index of the rule that gave it; `None` when no rule
    /// matches.
    pub(crate) fn answer(&mut self, call: Call<'_>) -> Option<(usize, Answer)> {
        let index = self.rules.iter().position(|r| r.matches(call))?;
        let rule = self.rules.get(index)?;
        let used = self.used.get_mut(index)?;
        let n = rule.answers.len();
        let at = if rule.cycle { *used % n.max(1) } else { (*used).min(n.saturating_sub(1)) };
        *used += 1;
        rule.answers.get(at).cloned().map(|a| (index, a))
    }
}

impl Rule {
    fn matches(&self, call: Call<'_>) -> bool {
        match call {
            Call::Http { cluster, path } => {
                self.kind != Kind::Grpc
                    && self.cluster == cluster
                    && self.path_prefix.as_deref().is_none_or(|p| path.starts_with(p))
            }
            Call::Grpc { cluster, service, method } => {
                self.kind != Kind::Http
                    && self.cluster == cluster
                    && self.grpc_service.as_deref().is_none_or(|s| s == service)
                    && self.grpc_method.as_deref().is_none_or(|m| m == method)
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    cluster: String,
    path_prefix: Option<String>,
    grpc_service: Option<String>,
    grpc_method: Option<String>,
    answers: Vec<RawAnswer>,
    then: Option<Then>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Then {
    RepeatLast,
    Cycle,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAnswer {
    status: Option<u16>,
    headers: Option<RawHeaders>,
    body: Option<String>,
    body_base64: Option<String>,
    reset: Option<bool>,
    timeout: Option<bool>,
    delay_ms: Option<u64>,
    grpc_status: Option<u32>,
    grpc_message: Option<String>,
    message: Option<String>,
    message_base64: Option<String>,
    initial_metadata: Option<RawHeaders>,
    trailing_metadata: Option<RawHeaders>,
}

/// `{"name": "value"}` or `[["name", "value"], ...]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawHeaders {
    Map(BTreeMap<String, String>),
    Pairs(Vec<(String, String)>),
}

impl RawHeaders {
    fn into_headers(self) -> Headers {
        match self {
            Self::Map(m) => m.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect(),
            Self::Pairs(p) => p.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect(),
        }
    }
}

impl RawRule {
    fn validate(self, index: usize) -> Result<Rule, ScriptError> {
        let at = |message: String| ScriptError { line: 0, column: 0, message: format!("rules[{index}]: {message}") };
        if self.cluster.is_empty() {
            return Err(at(String::from("cluster: empty")));
        }
        if self.answers.is_empty() {
            return Err(at(String::from("answers: at least one answer is needed")));
        }
        let grpc_match = self.grpc_service.is_some() || self.grpc_method.is_some();
        if grpc_match && self.path_prefix.is_some() {
            return Err(at(String::from("path_prefix matches HTTP calls, grpc_service and grpc_method gRPC calls")));
        }
        let answers = self
            .answers
            .into_iter()
            .enumerate()
            .map(|(i, a)| a.validate().map_err(|m| at(format!("answers[{i}]: {m}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let http = answers.iter().any(|a| matches!(a, Answer::Http { .. } | Answer::Reset { .. }));
        let grpc = answers.iter().any(|a| matches!(a, Answer::Grpc { .. }));
        let kind = match (http || self.path_prefix.is_some(), grpc || grpc_match) {
            (true, true) => return Err(at(String::from("mixes HTTP and gRPC answers or matches"))),
            (true, false) => Kind::Http,
            (false, true) => Kind::Grpc,
            (false, false) => Kind::Both,
        };
        Ok(Rule {
            cluster: self.cluster,
            path_prefix: self.path_prefix,
            grpc_service: self.grpc_service,
            grpc_method: self.grpc_method,
            answers,
            cycle: self.then == Some(Then::Cycle),
            kind,
        })
    }
}

impl RawAnswer {
    fn validate(self) -> Result<Answer, String> {
        let delay_ms = self.delay_ms.unwrap_or(0);
        let http_fields =
            self.status.is_some() || self.headers.is_some() || self.body.is_some() || self.body_base64.is_some();
        let grpc_fields = self.grpc_status.is_some()
            || self.grpc_message.is_some()
            || self.message.is_some()
            || self.message_base64.is_some()
            || self.initial_metadata.is_some()
            || self.trailing_metadata.is_some();
        if self.timeout == Some(true) {
            if http_fields || grpc_fields || self.reset.is_some() || self.delay_ms.is_some() {
                return Err(String::from("timeout: true takes no other field"));
            }
            return Ok(Answer::Timeout);
        }
        if self.reset == Some(true) {
            if http_fields || grpc_fields {
                return Err(String::from("reset: true takes only delay_ms"));
            }
            return Ok(Answer::Reset { delay_ms });
        }
        if http_fields && grpc_fields {
            return Err(String::from("mixes HTTP fields (status, headers, body) and gRPC fields"));
        }
        if grpc_fields {
            let message = match (self.message, self.message_base64) {
                (Some(_), Some(_)) => return Err(String::from("message and message_base64 are given together")),
                (Some(text), None) => Some(text.into_bytes()),
                (None, Some(b64)) => Some(base64(&b64).ok_or("message_base64: not valid base64")?),
                (None, None) => None,
            };
            let status = self.grpc_status.unwrap_or(0);
            if status > 16 {
                return Err(format!("grpc_status: expected 0 to 16, got {status}"));
            }
            let reply = GrpcReply {
                initial_metadata: self.initial_metadata.map(RawHeaders::into_headers).unwrap_or_default(),
                message,
                trailing_metadata: self.trailing_metadata.map(RawHeaders::into_headers).unwrap_or_default(),
                status,
                status_message: self.grpc_message.unwrap_or_default(),
            };
            return Ok(Answer::Grpc { reply, delay_ms });
        }
        let status = self.status.unwrap_or(200);
        if !(100..=599).contains(&status) {
            return Err(format!("status: expected 100 to 599, got {status}"));
        }
        let body = match (self.body, self.body_base64) {
            (Some(_), Some(_)) => return Err(String::from("body and body_base64 are given together")),
            (Some(text), None) => text.into_bytes(),
            (None, Some(b64)) => base64(&b64).ok_or("body_base64: not valid base64")?,
            (None, None) => Vec::new(),
        };
        let mut headers = self.headers.map(RawHeaders::into_headers).unwrap_or_default();
        if !body.is_empty() && !headers.iter().any(|(k, _)| k == "content-length") {
            headers.push((String::from("content-length"), body.len().to_string()));
        }
        Ok(Answer::Http { response: HttpResponse { status, headers, body, trailers: Vec::new() }, delay_ms })
    }
}

/// Standard base64 (padding optional).
fn base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in text.trim_end_matches('=').bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_run_in_order_then_repeat_or_cycle() {
        let mut script = Script::parse(
            r#"{"rules": [
                {"cluster": "a", "answers": [{"status": 200}, {"status": 403}]},
                {"cluster": "b", "answers": [{"status": 200}, {"reset": true}], "then": "cycle"}
            ]}"#,
        )
        .unwrap();
        let http = |cluster| Call::Http { cluster, path: "/" };
        let status = |a: Option<(usize, Answer)>| match a {
            Some((_, Answer::Http { response, .. })) => response.status,
            Some((_, Answer::Reset { .. })) => 0,
            other => panic!("{other:?}"),
        };
        let a: Vec<u16> = (0..3).map(|_| status(script.answer(http("a")))).collect();
        assert_eq!(a, [200, 403, 403]);
        let b: Vec<u16> = (0..3).map(|_| status(script.answer(http("b")))).collect();
        assert_eq!(b, [200, 0, 200]);
        assert_eq!(script.answer(http("c")), None);
        assert_eq!(script.answer(Call::Grpc { cluster: "a", service: "s", method: "m" }), None);
    }

    #[test]
    fn mistakes_name_their_place() {
        let e = Script::parse("{\"rules\": [\n  {\"cluster\": \"a\", \"answers\": [{\"stauts\": 200}]}]}").unwrap_err();
        assert_eq!((e.line, e.column), (2, 40), "{e:?}");
        assert!(e.message.starts_with("unknown field `stauts`"), "{e:?}");
        let e = Script::parse(r#"{"rules": [{"cluster": "a", "answers": [{"status": 200, "grpc_status": 3}]}]}"#)
            .unwrap_err();
        assert_eq!(e.message, "rules[0]: answers[0]: mixes HTTP fields (status, headers, body) and gRPC fields");
        let e = Script::parse(r#"{"rules": [{"cluster": "a", "answers": [{"timeout": true, "delay_ms": 3}]}]}"#)
            .unwrap_err();
        assert_eq!(e.message, "rules[0]: answers[0]: timeout: true takes no other field");
        let e = Script::parse(r#"{"rules": [{"cluster": "a", "answers": [], "then": "loop"}]}"#).unwrap_err();
        assert!(e.message.starts_with("unknown variant `loop`"), "{e:?}");
    }

    #[test]
    fn bodies_and_messages_are_text_or_base64() {
        let mut script = Script::parse(
            r#"{"rules": [{"cluster": "a", "answers": [{"body_base64": "AQI="}]},
                          {"cluster": "g", "answers": [{"message_base64": "CgNhYmM", "grpc_status": 0}]}]}"#,
        )
        .unwrap();
        let Some((0, Answer::Http { response, .. })) = script.answer(Call::Http { cluster: "a", path: "/" }) else {
            panic!()
        };
        assert_eq!((response.body, response.headers), (vec![1, 2], vec![("content-length".into(), "2".into())]));
        let Some((1, Answer::Grpc { reply, .. })) =
            script.answer(Call::Grpc { cluster: "g", service: "s", method: "m" })
        else {
            panic!()
        };
        assert_eq!(reply.message.as_deref(), Some(&b"\n\x03abc"[..]));
    }
}
