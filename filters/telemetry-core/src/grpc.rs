//! gRPC: recognising a call, naming its service and method, and judging how it ended.
//!
//! A gRPC call is an HTTP/2 request whose `content-type` is `application/grpc[+format]`; its
//! `:path` is `/{package.Service}/{Method}`, and it ends with `grpc-status` (and optionally a
//! percent-encoded `grpc-message`) in the response trailers, or in the response headers of a
//! trailers-only response (gRPC, `doc/PROTOCOL-HTTP2.md`, "Requests" and "Responses").
//!
//! gRPC-Web (`application/grpc-web[+format]`, `application/grpc-web-text[+format]`) is the same
//! call model with the same status codes, so it counts as gRPC (`rpc.system` = `grpc`). Its
//! trailers, though, travel in the response body (`doc/PROTOCOL-WEB.md`, "Message framing"),
//! which this filter never reads: only a trailers-only gRPC-Web response (status in the headers)
//! shows a status. Behind Envoy's `grpc_web` filter (Istio puts it ahead of Wasm plugins) the
//! filter sees the translated call, plain gRPC with real trailers.
//!
//! The span conventions are OpenTelemetry's (`docs/rpc/rpc-spans.md`, `docs/rpc/grpc.md`):
//! `rpc.system`, `rpc.service`, `rpc.method`, `rpc.grpc.status_code`, and the status rules of
//! [`error_type`]. Newer semantic-conventions versions (development status) rename some of them:
//! `rpc.system.name`, `rpc.response.status_code` (the code's name, a string, `"INTERNAL"`), and
//! `rpc.method` as the full `package.Service/Method`; this module emits the names listed above,
//! which are what backends read today.

use crate::span::SpanKind;

/// Which gRPC wire protocol a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `application/grpc`: HTTP/2 with trailers.
    Grpc,
    /// `application/grpc-web*`: trailers in the body, invisible to the filter.
    GrpcWeb,
}

/// A gRPC status code, 0 (`OK`) to 16 (`UNAUTHENTICATED`): the codes of gRPC's
/// `doc/statuscodes.md`, the values `rpc.grpc.status_code` may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Code(u8);

/// How a gRPC call ended, as the filter saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    pub protocol: Protocol,
    /// `grpc-status` of the trailers (or of a trailers-only response's headers); `None` when the
    /// response had none (a reset stream, a non-gRPC upstream) or an invalid one.
    pub status: Option<Code>,
}

/// The names of the codes, by number (`doc/statuscodes.md`).
const NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The codes in decimal, as metric label values take them (no formatting on the request path).
const NUMBERS: [&str; 17] =
    ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16"];

/// The `grpc_status` label of a request that is not a gRPC call.
pub const LABEL_NOT_GRPC: &str = "none";
/// The `grpc_status` label of a gRPC call whose response had no valid `grpc-status`.
pub const LABEL_MISSING: &str = "missing";

/// Longest `rpc.service` or `rpc.method` kept: a longer name is not taken as one.
const MAX_NAME_LEN: usize = 256;
/// Longest span status message kept from `grpc-message`, in bytes (cut on a character boundary).
pub const MAX_MESSAGE_LEN: usize = 512;

/// The protocol a request's `content-type` names, `None` for anything but gRPC. Media types are
/// compared ignoring ASCII case; `application/grpc` must be the whole type or be followed by
/// `+format`, `;parameters` or (gRPC-Web) `-web`.
pub fn protocol(content_type: &str) -> Option<Protocol> {
    const GRPC: &str = "application/grpc";
    let head = content_type.get(..GRPC.len())?;
    if !head.eq_ignore_ascii_case(GRPC) {
        return None;
    }
    let rest = content_type.get(GRPC.len()..)?;
    match rest.as_bytes().first() {
        None | Some(b'+' | b';' | b' ' | b'\t') => Some(Protocol::Grpc),
        Some(b'-') if rest.get(..4).is_some_and(|w| w.eq_ignore_ascii_case("-web")) => match rest.as_bytes().get(4) {
            None | Some(b'+' | b';' | b'-' | b' ' | b'\t') => Some(Protocol::GrpcWeb),
            _ => None,
        },
        _ => None,
    }
}

/// `rpc.service` and `rpc.method` from a gRPC `:path`, `/{service}/{method}` (PROTOCOL-HTTP2.md:
/// `Path → ":path" "/" Service-Name "/" {method name}`). Both must be non-empty names of at most
/// 256 bytes made of letters, digits and `_` (and `.` between the service's package parts):
/// anything else (a query, more segments, percent-encoded bytes) is not a gRPC method, and gives
/// `None` rather than a piece of an arbitrary path.
pub fn method(path: &str) -> Option<(&str, &str)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    let name = |s: &str, dots: bool| {
        !s.is_empty()
            && s.len() <= MAX_NAME_LEN
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || (dots && b == b'.'))
            && !(dots && (s.starts_with('.') || s.ends_with('.') || s.contains("..")))
    };
    (name(service, true) && name(method, false)).then_some((service, method))
}

/// The span's `error.type` for a gRPC call that ended with `status`, and so whether the span is an
/// error: `None` leaves the status unset. OpenTelemetry `docs/rpc/grpc.md`: a SERVER span is an
/// error for `UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE` and
/// `DATA_LOSS` (the others are the caller's errors); a CLIENT span for every code but `OK`;
/// `error.type` is the code ("If a response status code is returned and status indicates an
/// error, `error.type` SHOULD be set to that status code"), by name as `rpc.response.status_code`
/// writes it.
///
/// A call with no status (`None`) is an error of either kind: its caller's gRPC library fails it
/// (gRPC `doc/http-grpc-status-mapping.md`: a response without `grpc-status` gets a synthesized
/// non-`OK` status). Failing "before status code is returned", its `error.type` is the
/// conventions' fallback `_OTHER`.
pub fn error_type(status: Option<Code>, kind: SpanKind) -> Option<&'static str> {
    let Some(code) = status else { return Some("_OTHER") };
    let error = match kind {
        SpanKind::Server | SpanKind::Internal => code.is_server_error(),
        SpanKind::Client => code != Code::OK,
    };
    error.then(|| code.name())
}

/// The span status message of a failed call: `grpc-message`, percent-decoded
/// (PROTOCOL-HTTP2.md: `Status-Message → "grpc-message" Percent-Encoded`), invalid UTF-8
/// replaced, cut to [`MAX_MESSAGE_LEN`] bytes. The caller redacts it.
pub fn message(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len().min(MAX_MESSAGE_LEN));
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = (b == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escaped {
            Some(decoded) => {
                out.push(decoded);
                i += 3;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
        if out.len() >= MAX_MESSAGE_LEN {
            break;
        }
    }
    let mut text = String::from_utf8_lossy(&out).into_owned();
    if text.len() > MAX_MESSAGE_LEN {
        let mut cut = MAX_MESSAGE_LEN;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

impl Code {
    /// `OK`.
    pub const OK: Self = Self(0);

    /// A `grpc-status` value: decimal digits naming a code from 0 to 16, nothing else.
    pub fn parse(value: &str) -> Option<Self> {
        if value.is_empty() || value.len() > 2 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        value.parse::<u8>().ok().filter(|n| usize::from(*n) < NAMES.len()).map(Self)
    }

    /// The code's number, as `rpc.grpc.status_code` carries it.
    pub fn number(self) -> u8 {
        self.0
    }

    /// The code's name: `OK`, `INTERNAL`, ...
    pub fn name(self) -> &'static str {
        NAMES.get(usize::from(self.0)).copied().unwrap_or("_OTHER")
    }

    /// The number in decimal, without formatting.
    pub fn decimal(self) -> &'static str {
        NUMBERS.get(usize::from(self.0)).copied().unwrap_or(LABEL_MISSING)
    }

    /// Whether a server reports the code as its own failure ([`error_type`] of a SERVER span).
    pub fn is_server_error(self) -> bool {
        matches!(
            self.name(),
            "UNKNOWN" | "DEADLINE_EXCEEDED" | "UNIMPLEMENTED" | "INTERNAL" | "UNAVAILABLE" | "DATA_LOSS"
        )
    }
}

impl Call {
    /// The `grpc_status` metric label: the code in decimal, or [`LABEL_MISSING`].
    pub fn label(self) -> &'static str {
        self.status.map_or(LABEL_MISSING, Code::decimal)
    }

    /// Whether the call failed, as its caller sees it: any code but `OK`, or no status at all
    /// from a gRPC upstream (a gRPC-Web response keeps its status in the body: not seen is not
    /// failed).
    pub fn failed(self) -> bool {
        match self.status {
            Some(code) => code != Code::OK,
            None => self.protocol == Protocol::Grpc,
        }
    }

    /// Whether the gRPC rules decide the span's status: the response had a status, or the call
    /// is plain gRPC (a gRPC-Web call without a status kept its trailers in the body, and the
    /// HTTP rules apply to it).
    pub fn decides_status(self) -> bool {
        self.status.is_some() || self.protocol == Protocol::Grpc
    }

    /// Whether the call failed on the server's side: a SERVER span's error codes, or no status
    /// from a gRPC upstream.
    pub fn server_failed(self) -> bool {
        match self.status {
            Some(code) => code.is_server_error(),
            None => self.protocol == Protocol::Grpc,
        }
    }
}

#[cfg(test)]
mod tests;
