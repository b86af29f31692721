//! HTTP and gRPC calls the module dispatched, and the answers the scenario gives them.

mod script;

pub use script::{Answer, GrpcReply, Rule, Script, ScriptError, UNMATCHED_MESSAGE};

pub(crate) use script::Call;

use crate::stream::Headers;

/// One `proxy_http_call`, as Envoy received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall {
    /// The token the module got back.
    pub token: u32,
    /// The root context of the plugin that dispatched it: Envoy delivers the answer there
    /// (cpp-host `http_call` runs on `root_context()`), even after the dispatching stream ended.
    pub context_id: u32,
    /// The cluster name.
    pub upstream: String,
    pub headers: Headers,
    pub body: Vec<u8>,
    pub trailers: Headers,
    /// 0 means no timeout (Envoy's rule).
    pub timeout_ms: u32,
    /// Host monotonic time at dispatch.
    pub dispatched_at_nanos: u64,
    pub state: CallState,
    /// Host monotonic time of the answer (failure, timeout) the module got.
    pub answered_at_nanos: Option<u64>,
    /// The rule of the callout script that answered it.
    pub rule: Option<usize>,
    /// A script is installed and no rule matched: the host's default answered.
    pub unmatched: bool,
}

/// Where a call stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallState {
    Pending,
    /// Answered with this HTTP status.
    Answered(u16),
    /// Failed without a response (connection failure or reset): the module saw zero headers.
    Failed,
    /// Timed out on the virtual clock: like Envoy's router, the module got a 504 local reply.
    TimedOut,
}

/// A scripted answer to an HTTP call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Headers,
    pub body: Vec<u8>,
    pub trailers: Headers,
}

/// How the host answers calls to one upstream without the scenario stepping in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Responder {
    /// Leave calls pending until the scenario answers them (or they time out).
    Manual,
    /// Answer every call with this response right after the dispatching callback returns.
    Respond(HttpResponse),
    /// Fail every call (connection refused): the module sees zero headers.
    Fail,
}

/// One gRPC call or stream the module opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcCall {
    pub token: u32,
    pub context_id: u32,
    pub upstream: Vec<u8>,
    pub service: String,
    pub method: String,
    pub initial_metadata: Headers,
    /// Messages sent: the request of a call, or each `proxy_grpc_send` of a stream.
    pub messages: Vec<Vec<u8>>,
    pub timeout_ms: Option<u32>,
    pub streaming: bool,
    pub cancelled: bool,
    pub closed: bool,
    /// Host monotonic time at dispatch.
    pub dispatched_at_nanos: u64,
    /// The status it closed with, and its message (`proxy_on_grpc_close`).
    pub status: Option<(u32, String)>,
    /// Host monotonic time of the close.
    pub answered_at_nanos: Option<u64>,
    /// The rule of the callout script that answered it.
    pub rule: Option<usize>,
    /// A script is installed and no rule matched: the host's default answered.
    pub unmatched: bool,
}

/// An answer waiting on the virtual clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scheduled {
    pub due_nanos: u64,
    pub token: u32,
    pub answer: ScheduledAnswer,
}

/// What a [`Scheduled`] answer delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScheduledAnswer {
    /// An HTTP response, or a failure (`None`).
    Http(Option<HttpResponse>),
    Grpc(GrpcReply),
}

/// The callout bookkeeping kept in the host state.
#[derive(Debug, Default)]
pub(crate) struct Callouts {
    pub http: Vec<HttpCall>,
    pub grpc: Vec<GrpcCall>,
    pub next_http_token: u32,
    pub next_grpc_call: u32,
    pub next_grpc_stream: u32,
    /// The answer being delivered (readable through map 6/7 and buffer 4 during the callback).
    pub current_response: Option<HttpResponse>,
    /// gRPC metadata and message being delivered.
    pub current_grpc_metadata: Option<Headers>,
    pub current_grpc_message: Option<Vec<u8>>,
    /// Answers to deliver after the current callback returns (token, answer; `None` = failure).
    pub deferred: Vec<(u32, Option<HttpResponse>)>,
    pub responders: Vec<(String, Responder)>,
    /// The callout script, when one is installed.
    pub script: Option<Script>,
    /// Scripted answers waiting for their time (delivered after the callback when due now).
    pub scheduled: Vec<Scheduled>,
}

impl Callouts {
    /// Token numbering as Envoy's: HTTP calls count from 1; gRPC calls are odd, streams even.
    pub fn new(responders: Vec<(String, Responder)>) -> Self {
        Self { next_http_token: 1, next_grpc_call: 1, next_grpc_stream: 2, responders, ..Self::default() }
    }

    pub fn http_mut(&mut self, token: u32) -> Option<&mut HttpCall> {
        self.http.iter_mut().find(|c| c.token == token)
    }

    /// Decides how a new HTTP call is answered: by the script, a responder, or not at all (the
    /// scenario answers it). Returns the rule, and whether a script is installed and nothing
    /// matched: the call then fails at once, as one to a cluster with no healthy endpoint.
    pub fn dispatch_http(&mut self, token: u32, upstream: &str, path: &str, now: u64) -> (Option<usize>, bool) {
        let scripted = self.script.as_mut().map(|s| s.answer(Call::Http { cluster: upstream, path }));
        match scripted {
            Some(Some((rule, answer))) => {
                let (answer, delay_ms) = match answer {
                    Answer::Http { response, delay_ms } => (Some(response), delay_ms),
                    Answer::Reset { delay_ms } => (None, delay_ms),
                    Answer::Timeout | Answer::Grpc { .. } => return (Some(rule), false),
                };
                self.schedule(token, now, delay_ms, ScheduledAnswer::Http(answer));
                (Some(rule), false)
            }
            scripted => match self.responder(upstream).clone() {
                Responder::Respond(response) => {
                    self.deferred.push((token, Some(response)));
                    (None, false)
                }
                Responder::Fail => {
                    self.deferred.push((token, None));
                    (None, false)
                }
                // Envoy 1.40, a cluster with no healthy endpoint: `proxy_http_call` itself fails
                // (tests/tests/all/envoy_callouts.rs); the caller turns this into that status.
                Responder::Manual if scripted.is_some() => (None, true),
                Responder::Manual => (None, false),
            },
        }
    }

    /// Decides how a new gRPC call is answered (see [`Self::dispatch_http`]).
    pub fn dispatch_grpc(
        &mut self,
        token: u32,
        cluster: &str,
        service: &str,
        method: &str,
        now: u64,
    ) -> (Option<usize>, bool) {
        let Some(script) = self.script.as_mut() else { return (None, false) };
        match script.answer(Call::Grpc { cluster, service, method }) {
            Some((rule, Answer::Grpc { reply, delay_ms })) => {
                self.schedule(token, now, delay_ms, ScheduledAnswer::Grpc(reply));
                (Some(rule), false)
            }
            Some((rule, _)) => (Some(rule), false),
            None => {
                let reply =
                    GrpcReply { status: 14, status_message: UNMATCHED_MESSAGE.to_owned(), ..GrpcReply::default() };
                self.schedule(token, now, 0, ScheduledAnswer::Grpc(reply));
                (None, true)
            }
        }
    }

    fn schedule(&mut self, token: u32, now: u64, delay_ms: u64, answer: ScheduledAnswer) {
        let due_nanos = now.saturating_add(delay_ms.saturating_mul(1_000_000));
        self.scheduled.push(Scheduled { due_nanos, token, answer });
    }

    pub fn responder(&self, upstream: &str) -> &Responder {
        self.responders.iter().find(|(u, _)| u == upstream).map_or(&Responder::Manual, |(_, r)| r)
    }
}
