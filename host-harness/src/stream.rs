//! One HTTP stream as the host sees it: the header maps and bodies with Envoy's rules for what is
//! visible in which callback, and what was finally sent upstream and downstream.

use crate::properties::Properties;

/// Identifies an HTTP stream (its proxy-wasm context id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(pub u32);

/// A header or trailer map: ordered pairs with lowercase names, as Envoy keeps them.
pub type Headers = Vec<(String, String)>;

/// A reply the module generated with `proxy_send_local_response`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReply {
    pub status: u16,
    /// Response code details (Envoy replaces spaces with underscores).
    pub details: String,
    pub body: Vec<u8>,
    /// Additional headers, names lowercased.
    pub headers: Headers,
    /// `None` when the module passed -1 (no `grpc-status`).
    pub grpc_status: Option<u32>,
}

impl LocalReply {
    /// The response Envoy sends for this reply (`Http::Utility::sendLocalReply`): headers and
    /// body. To a gRPC request (`content-type: application/grpc...`) it is headers only:
    /// `:status 200`, `content-type: application/grpc`, `grpc-status` (the module's, else the
    /// HTTP status mapped to a gRPC code) and `grpc-message` (the body, percent-encoded), then
    /// the module's headers; no body. Otherwise the status, and with a body `content-length` and
    /// `content-type: text/plain`, then the module's headers.
    pub fn response(&self, grpc_request: bool) -> (Headers, Vec<u8>) {
        if grpc_request {
            let status = self.grpc_status.unwrap_or_else(|| http_to_grpc_status(self.status));
            let mut headers: Headers = vec![
                (":status".into(), "200".into()),
                ("content-type".into(), "application/grpc".into()),
                ("grpc-status".into(), status.to_string()),
            ];
            if !self.body.is_empty() {
                headers.push(("grpc-message".into(), percent_encode(&self.body)));
            }
            headers.extend(self.headers.iter().cloned());
            return (headers, Vec::new());
        }
        // Measured on Envoy 1.40: the module's headers come first, then the `content-length` and
        // `content-type` Envoy adds for the body.
        let mut headers: Headers = vec![(":status".into(), self.status.to_string())];
        headers.extend(self.headers.iter().cloned());
        if !self.body.is_empty() {
            headers.push(("content-length".into(), self.body.len().to_string()));
            headers.push(("content-type".into(), "text/plain".into()));
        }
        (headers, self.body.clone())
    }
}

/// Whether request headers make a gRPC request for Envoy (`Grpc::Common::isGrpcRequestHeaders`).
pub fn is_grpc_request(headers: &[(String, String)]) -> bool {
    first(headers, "content-type").is_some_and(|v| {
        v == "application/grpc" || v.starts_with("application/grpc+") || v.starts_with("application/grpc;")
    })
}

/// Envoy's `Grpc::Utility::httpToGrpcStatus`.
fn http_to_grpc_status(status: u16) -> u32 {
    match status {
        400 => 13,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502 | 503 | 504 => 14,
        _ => 2,
    }
}

/// Envoy's `Grpc::Utility::PercentEncoding::encode`: bytes outside `' '..='~'`, and `%`.
fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if (b' '..=b'~').contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The state of one stream.
#[derive(Debug, Clone)]
pub struct Stream {
    pub(crate) root_id: u32,
    pub(crate) created: bool,
    pub(crate) request_headers: Headers,
    /// The maps as the module's header callbacks received them (Envoy's additions included).
    pub(crate) received_request_headers: Headers,
    pub(crate) received_response_headers: Headers,
    pub(crate) request_trailers: Option<Headers>,
    pub(crate) response_headers: Option<Headers>,
    pub(crate) response_trailers: Option<Headers>,
    /// Which maps Envoy lets the current callback see (its map pointers are non-null).
    pub(crate) visible: Visible,
    pub(crate) request_body: Vec<u8>,
    pub(crate) response_body: Vec<u8>,
    pub(crate) request_body_sent: Vec<u8>,
    pub(crate) response_body_sent: Vec<u8>,
    pub(crate) request_body_bytes: u64,
    pub(crate) response_body_bytes: u64,
    pub(crate) buffering_request: bool,
    pub(crate) buffering_response: bool,
    pub(crate) request_paused: bool,
    pub(crate) response_paused: bool,
    pub(crate) end_of_stream: bool,
    /// The request ended (headers or body with `end_of_stream`, or trailers): Envoy read it all.
    pub(crate) request_ended: bool,
    pub(crate) start_nanos: u64,
    /// When the module last let the request go upstream (wall clock, Unix nanoseconds): its
    /// headers callback returned Continue, or it continued a paused request.
    pub(crate) released_at_nanos: Option<u64>,
    pub(crate) pending_local_reply: Option<LocalReply>,
    /// `proxy_continue_stream` calls to apply after the callback: (request, response).
    pub(crate) pending_continue: (bool, bool),
    /// Continues applied since the current driving call began: (request, response).
    pub(crate) continued: (bool, bool),
    pub(crate) local_reply: Option<LocalReply>,
    pub(crate) reset: bool,
    /// The status sent downstream, once the response started (Envoy's `response.code`).
    pub(crate) response_code: Option<u16>,
    pub(crate) access_log_phase: bool,
    pub(crate) complete: bool,
    pub(crate) properties: Properties,
    /// The headers arrived with `end_of_stream` (no body, no trailers): (request, response).
    pub(crate) headers_end_stream: (bool, bool),
    /// The body's end arrived (a headers or body call with `end_of_stream`): (request, response).
    pub(crate) body_ended: (bool, bool),
    /// What the filter let go on, for the next filter of a chain to receive.
    pub(crate) released: Released,
    /// What the next filter (request) or the previous one (response) received of it.
    pub(crate) forwarded: Released,
    /// Envoy closes the downstream connection after this response (a local reply to a request
    /// whose body was unread, over HTTP/1).
    pub(crate) close_connection: bool,
    /// What Envoy's HTTP/1 codec added to the response headers on the wire (the last entries of
    /// [`Stream::downstream_response_headers`]); no filter saw them.
    pub(crate) codec_headers: Headers,
    /// The context ids of every filter of this stream's chain, in filter order, when several
    /// HTTP plugins filter it (see [`crate::Host::new_stream`]).
    pub(crate) chain: Option<std::sync::Arc<[u32]>>,
}

/// What one filter let go on in each direction: headers, body bytes (how many; the end) and
/// trailers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Released {
    pub request_headers: bool,
    pub request_body: usize,
    pub request_body_end: bool,
    pub request_trailers: bool,
    pub response_headers: bool,
    pub response_body: usize,
    pub response_body_end: bool,
    pub response_trailers: bool,
}

/// Envoy's map and buffer pointers: set for the callback that handles them, cleared when it
/// returns Continue (or on `continue_stream`), replaced by the logged maps in `on_log`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Visible {
    pub request_headers: bool,
    pub request_trailers: bool,
    pub response_headers: bool,
    pub response_trailers: bool,
    pub request_body: bool,
    pub response_body: bool,
}

impl Stream {
    pub(crate) fn new(root_id: u32, start_nanos: u64, properties: Properties) -> Self {
        Self {
            root_id,
            created: false,
            request_headers: Vec::new(),
            received_request_headers: Vec::new(),
            received_response_headers: Vec::new(),
            request_trailers: None,
            response_headers: None,
            response_trailers: None,
            visible: Visible::default(),
            request_body: Vec::new(),
            response_body: Vec::new(),
            request_body_sent: Vec::new(),
            response_body_sent: Vec::new(),
            request_body_bytes: 0,
            response_body_bytes: 0,
            buffering_request: false,
            buffering_response: false,
            request_paused: false,
            response_paused: false,
            end_of_stream: false,
            request_ended: false,
            start_nanos,
            released_at_nanos: None,
            pending_local_reply: None,
            pending_continue: (false, false),
            continued: (false, false),
            local_reply: None,
            reset: false,
            response_code: None,
            access_log_phase: false,
            complete: false,
            properties,
            headers_end_stream: (false, false),
            body_ended: (false, false),
            released: Released::default(),
            forwarded: Released::default(),
            close_connection: false,
            codec_headers: Vec::new(),
            chain: None,
        }
    }

    /// The request headers as they went (or will go) upstream, after the module's changes.
    pub fn upstream_request_headers(&self) -> &[(String, String)] {
        &self.request_headers
    }

    /// The request headers as the module received them: the client's, with what the host adds
    /// as Envoy ([`HostBuilder::envoy_defaults`](crate::HostBuilder::envoy_defaults)).
    pub fn received_request_headers(&self) -> &[(String, String)] {
        &self.received_request_headers
    }

    /// The response headers as the module received them: the upstream's (with Envoy's additions),
    /// or the local reply Envoy built from the module's `proxy_send_local_response`.
    pub fn received_response_headers(&self) -> &[(String, String)] {
        &self.received_response_headers
    }

    /// The response headers as they went downstream, after the module's changes, with what
    /// Envoy's HTTP/1 codec adds on the wire last ([`Stream::codec_response_headers`]).
    pub fn downstream_response_headers(&self) -> &[(String, String)] {
        self.response_headers.as_deref().unwrap_or_default()
    }

    /// What Envoy's HTTP/1 codec added on the wire to a local reply's headers, which no filter
    /// saw: `content-length: 0` when the reply has no body, `connection: close` when Envoy
    /// closes the connection after it.
    pub fn codec_response_headers(&self) -> &[(String, String)] {
        &self.codec_headers
    }

    /// One request header sent upstream, by lowercase name (first value).
    pub fn upstream_request_header(&self, name: &str) -> Option<&str> {
        first(&self.request_headers, name)
    }

    /// One response header sent downstream, by lowercase name (first value).
    pub fn downstream_response_header(&self, name: &str) -> Option<&str> {
        first(self.response_headers.as_deref().unwrap_or_default(), name)
    }

    /// Request trailers sent upstream.
    pub fn upstream_request_trailers(&self) -> Option<&[(String, String)]> {
        self.request_trailers.as_deref()
    }

    /// Response trailers sent downstream.
    pub fn downstream_response_trailers(&self) -> Option<&[(String, String)]> {
        self.response_trailers.as_deref()
    }

    /// Request body bytes passed upstream.
    pub fn upstream_request_body(&self) -> &[u8] {
        &self.request_body_sent
    }

    /// Response body bytes passed downstream.
    pub fn downstream_response_body(&self) -> &[u8] {
        &self.response_body_sent
    }

    /// The local reply the module sent, if any.
    pub fn local_reply(&self) -> Option<&LocalReply> {
        self.local_reply.as_ref()
    }

    /// Whether the request is held (headers or body callback returned Pause) and not continued.
    pub fn request_paused(&self) -> bool {
        self.request_paused
    }

    /// When the module let the request go upstream (Unix nanoseconds on the virtual clock): its
    /// headers callback returned Continue, or it continued the paused request. Envoy's upstream
    /// timing starts there, not at arrival.
    pub fn request_released_at_unix_nanos(&self) -> Option<u64> {
        self.released_at_nanos
    }

    /// Whether the response is held.
    pub fn response_paused(&self) -> bool {
        self.response_paused
    }

    /// Whether the module reset the stream (`proxy_close_stream`).
    pub fn was_reset(&self) -> bool {
        self.reset
    }

    /// Whether the stream finished (`on_log`, `on_done`, `on_delete` ran).
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The response status sent downstream, if a response started.
    pub fn status(&self) -> Option<u16> {
        self.response_code
    }

    /// Whether the client speaks HTTP/1 (`request.protocol`, `HTTP/1.1` unless the scenario set
    /// another): Envoy's HTTP/1 codec then frames what goes downstream itself.
    pub(crate) fn downstream_http1(&self) -> bool {
        match self.properties.configured(&["request", "protocol"]) {
            Some(crate::properties::Value::String(protocol)) => protocol.starts_with("HTTP/1"),
            _ => true,
        }
    }

    /// Envoy's response code details: the module's own for its local reply, `via_upstream`
    /// for an upstream response.
    pub(crate) fn response_code_details(&self) -> Option<&str> {
        match (&self.local_reply, self.response_code) {
            (Some(reply), _) => Some(reply.details.as_str()),
            (None, Some(_)) => Some("via_upstream"),
            (None, None) => None,
        }
    }
}

/// The first value of `name` (compared case-insensitively).
pub(crate) fn first<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Header names as Envoy stores them: lowercase.
pub(crate) fn normalize(headers: &[(&str, &str)]) -> Headers {
    headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned())).collect()
}
