//! Envoy's top-level names and when Envoy answers each path.

use super::{Facts, StreamFacts};

/// Top-level names Envoy 1.40 resolves itself: the CEL activation (`request`, ..., `xds`) and the
/// Wasm tokens (`plugin_name`, ..., `connection_id`). Any other name is filter state `wasm.<name>`.
pub(super) const RESERVED: [&str; 14] = [
    "request",
    "response",
    "connection",
    "upstream",
    "source",
    "destination",
    "metadata",
    "filter_state",
    "upstream_filter_state",
    "xds",
    "plugin_name",
    "plugin_root_id",
    "plugin_vm_id",
    "connection_id",
];

/// When a path can answer (measured on Envoy 1.40, see the tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Availability {
    /// In every context, the root context included.
    Always,
    /// In a stream context.
    Stream,
    /// While the request headers are visible (`on_request_headers`, `on_log`).
    RequestHeaders,
    /// Once the response started (its status is known).
    ResponseStarted,
    /// Once the response started and an upstream host was picked for it.
    Upstream,
    /// Once the stream completed (`on_log`, `on_done`).
    Complete,
    /// Once the stream completed with a response received from an upstream.
    BackendLatency,
}

/// The availability of a path, by its first two segments.
pub(super) fn availability(path: &[&str]) -> Availability {
    use Availability::*;
    match path {
        ["plugin_name" | "plugin_root_id" | "plugin_vm_id", ..] | ["xds"] | ["xds", "node", ..] => Always,
        ["xds", "upstream_host_metadata" | "upstream_host_locality_metadata", ..] => Upstream,
        [
            "request",
            "path" | "url_path" | "host" | "scheme" | "method" | "referer" | "useragent" | "id" | "query",
            ..,
        ] => RequestHeaders,
        ["request", "duration", ..] => Complete,
        ["response", "code" | "code_details" | "grpc_status", ..] => ResponseStarted,
        ["response", "backend_latency", ..] => BackendLatency,
        ["upstream"] | ["upstream", "num_endpoints" | "request_attempt_count", ..] => Stream,
        ["upstream", ..] | ["upstream_filter_state", ..] => Upstream,
        [first, ..] if RESERVED.contains(first) => Stream,
        _ => Always,
    }
}

impl Availability {
    /// Whether the context in `facts` meets this availability.
    pub(super) fn is_met(self, facts: &Facts<'_>) -> bool {
        let Some(s) = facts.stream else { return self == Self::Always };
        match self {
            Self::Always | Self::Stream => true,
            Self::RequestHeaders => !s.request_headers.is_empty(),
            Self::ResponseStarted => s.response_code.is_some(),
            Self::Upstream => s.response_code.is_some() && from_upstream(&s),
            Self::Complete => s.complete,
            Self::BackendLatency => {
                s.complete && s.response_code.is_some() && s.response_code_details.is_none_or(|d| d == "via_upstream")
            }
        }
    }
}

/// Whether an upstream host was picked: a response relayed from upstream or an upstream failure
/// (`upstream_reset_before_response_started{...}`), not a local reply such as `direct_response`
/// or `route_not_found`. Unknown details count as upstream.
fn from_upstream(s: &StreamFacts<'_>) -> bool {
    s.response_code_details.is_none_or(|d| d == "via_upstream" || d.starts_with("upstream_"))
}
