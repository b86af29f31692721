//! What [`crate::simulate`] takes: a configuration, one request, how it is answered, and the
//! Envoy attributes, VM environment, clock and random seed the host shows the module.
//!
//! Every field has a default, so `{}` is a valid input (a `GET /` answered 200 under the default
//! configuration). The clock and the seed default to the harness's own defaults, which makes a
//! simulation's ids and timestamps those of the same exchange through the module in the harness.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The harness's virtual clock start, 2026-01-01T00:00:00Z (`host_harness::DEFAULT_START_UNIX_NANOS`),
/// in milliseconds: JSON numbers in JavaScript hold milliseconds exactly, not nanoseconds.
pub const DEFAULT_START_UNIX_MS: u64 = 1_767_225_600_000;

/// The harness's default random seed (`HostBuilder::seed`).
pub const DEFAULT_SEED: u64 = 0x5eed;

/// The largest body size a simulation accepts (its bytes are allocated).
pub const MAX_BODY_BYTES: u32 = 16 << 20;

/// One simulation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Input {
    /// The plugin configuration, as the module receives it (JSON text); `None`: the default
    /// configuration ([`crate::default_config`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    pub request: Request,
    pub response: Response,
    /// Envoy attributes by path (`"source.address"`, `"upstream.address"`, `"response.flags"`,
    /// `"response.backend_latency"`, ...): a string, or an integer (Envoy's 8-byte encoding of
    /// integers and of durations in nanoseconds). An attribute not listed is absent.
    pub properties: BTreeMap<String, Property>,
    /// The VM environment (`access_log.query_hash.key_env` names a variable here).
    pub env: BTreeMap<String, String>,
    /// Where the host's clock starts, in milliseconds since the Unix epoch.
    pub start_unix_ms: u64,
    /// The host's random seed: the harness's random source (splitmix64) seeded with this, so the
    /// ids are the ones the module draws in the harness with `HostBuilder::seed(seed)`.
    pub seed: u64,
    /// The collector's answer to every export call: an HTTP status, `None` for no answer.
    pub collector_status: Option<u16>,
}

/// The request as it reaches the filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Request {
    pub method: String,
    /// `:path`, query included.
    pub path: String,
    pub scheme: String,
    pub authority: String,
    /// The other headers, in order, after the four pseudo-headers: `[["name", "value"], ...]`.
    pub headers: Vec<(String, String)>,
    /// The request body's size; 0: no body.
    pub body_bytes: u32,
}

/// How the request is answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Response {
    /// `:status`.
    pub status: u16,
    /// The other response headers, in order.
    pub headers: Vec<(String, String)>,
    /// The response body's size; 0: no body.
    pub body_bytes: u32,
    /// Milliseconds from the request headers to the response headers.
    pub latency_ms: u64,
    /// Whether the request went upstream; false for a reply the proxy generated (no route, no
    /// healthy upstream, a denial by an earlier filter), which sends nothing upstream.
    pub from_upstream: bool,
    /// Trailers the response ends with (a gRPC call's `grpc-status`); `None`: no trailers.
    pub trailers: Option<Vec<(String, String)>>,
}

/// An Envoy attribute's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Property {
    /// An integer, or a duration in nanoseconds (Envoy encodes both as 8 bytes, little-endian).
    Int(i64),
    Text(String),
}

impl Default for Input {
    fn default() -> Self {
        Self {
            config: None,
            request: Request::default(),
            response: Response::default(),
            properties: BTreeMap::new(),
            env: BTreeMap::new(),
            start_unix_ms: DEFAULT_START_UNIX_MS,
            seed: DEFAULT_SEED,
            collector_status: Some(200),
        }
    }
}

impl Default for Request {
    fn default() -> Self {
        Self {
            method: String::from("GET"),
            path: String::from("/"),
            scheme: String::from("http"),
            authority: String::from("localhost"),
            headers: Vec::new(),
            body_bytes: 0,
        }
    }
}

impl Default for Response {
    fn default() -> Self {
        Self { status: 200, headers: Vec::new(), body_bytes: 0, latency_ms: 0, from_upstream: true, trailers: None }
    }
}

impl Input {
    /// The request headers the filter sees: `:method`, `:path`, `:scheme`, `:authority`, then
    /// [`Request::headers`].
    pub fn request_headers(&self) -> Vec<(&str, &str)> {
        let r = &self.request;
        let mut headers = vec![
            (":method", r.method.as_str()),
            (":path", r.path.as_str()),
            (":scheme", r.scheme.as_str()),
            (":authority", r.authority.as_str()),
        ];
        headers.extend(r.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        headers
    }

    /// The response headers: `:status`, then [`Response::headers`].
    pub fn response_headers(&self) -> (String, Vec<(&str, &str)>) {
        let status = self.response.status.to_string();
        let headers = self.response.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        (status, headers)
    }

    /// The 32 bytes the module's random source gives first: what `Pipeline::configure` seeds
    /// its ids with. The harness's generator (`host-harness` `state::Rng`, splitmix64 over
    /// [`Input::seed`]) and the module's first draw, in `on_configure`.
    pub fn seed_bytes(&self) -> [u8; 32] {
        let mut state = self.seed;
        let mut out = [0u8; 32];
        for chunk in out.chunks_mut(8) {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes());
        }
        out
    }

    /// [`Input::start_unix_ms`] in nanoseconds.
    pub fn start_unix_nanos(&self) -> u64 {
        self.start_unix_ms.saturating_mul(1_000_000)
    }
}
