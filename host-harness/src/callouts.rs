//! HTTP and gRPC calls the module dispatched, and the answers the scenario gives them.

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
}

impl Callouts {
    /// Token numbering as Envoy's: HTTP calls count from 1; gRPC calls are odd, streams even.
    pub fn new(responders: Vec<(String, Responder)>) -> Self {
        Self { next_http_token: 1, next_grpc_call: 1, next_grpc_stream: 2, responders, ..Self::default() }
    }

    pub fn http_mut(&mut self, token: u32) -> Option<&mut HttpCall> {
        self.http.iter_mut().find(|c| c.token == token)
    }

    pub fn responder(&self, upstream: &str) -> &Responder {
        self.responders.iter().find(|(u, _)| u == upstream).map_or(&Responder::Manual, |(_, r)| r)
    }
}
