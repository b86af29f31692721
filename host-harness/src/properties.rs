//! Envoy's properties (attributes): what `proxy_get_property` answers and what
//! `proxy_set_property` stores, with Envoy's names, binary encodings and availability.
//!
//! The model follows Envoy 1.40 (`source/extensions/common/wasm/context.cc`: `getProperty`,
//! `findValue`, `serializeValue`, `setProperty`; `source/extensions/filters/common/expr/context.cc`
//! for the `request.*`, `response.*`, ... wrappers) and what a probe filter measured on a real
//! Envoy 1.40 (the tests in `properties/tests.rs` hold those measurements as fixtures):
//!
//! - A path is a list of segments (the guest joins them with NUL). One trailing empty segment is
//!   ignored, as Envoy's splitter does; an empty path answers `SerializationFailure`.
//! - Values: see [`Value::encode`]. An empty string is `Ok` with no bytes (the host writes 0/0).
//! - `NotFound` for names Envoy does not know, for values not available yet, and for walking
//!   into a scalar (`request.path.x`). `SerializationFailure` for a namespace itself (`request`,
//!   `source`, `xds`, `filter_state`, ...), which Envoy cannot list.
//! - The root context answers only `plugin_name`, `plugin_root_id`, `plugin_vm_id`, `xds` and
//!   `xds.node.*` (and custom paths a scenario set); everything else is `NotFound` there.
//! - Header-derived values (`request.path`, `request.headers`, `response.headers`, ...) come from
//!   the header lists in [`StreamFacts`]; Envoy shows them only in some callbacks, which
//!   [`StreamFacts::as_seen_in`] applies.
//! - Legacy top-level names (`node`, `cluster_name`, `route_name`, ...) are gone in Envoy 1.40
//!   (measured `NotFound`); a scenario that wants them sets them as custom paths.
//!
//! | path | type | available |
//! | --- | --- | --- |
//! | `plugin_name`, `plugin_root_id`, `plugin_vm_id` | string | always, root included |
//! | `xds.node` (proto bytes), `xds.node.id`/`cluster`/`user_agent_name` (string), `xds.node.metadata` (map) | | always |
//! | `request.path`/`url_path`/`host`/`scheme`/`method`/`referer`/`useragent`/`id`/`query` | string | while request headers are visible |
//! | `request.headers` (map), `request.headers_bytes`/`size`/`total_size` (int), `request.time` (timestamp), `request.protocol` | | stream |
//! | `request.duration` | duration | stream complete |
//! | `response.code`, `response.grpc_status` (int), `response.code_details` | | response started |
//! | `response.flags`/`headers_bytes`/`size`/`total_size` (int), `response.headers`/`trailers` (map) | | stream |
//! | `response.backend_latency` | duration | complete, response from upstream |
//! | `source.*`, `destination.*`, `connection.*`, `connection_id`, `metadata`, `xds.*` (others) | table | stream |
//! | `upstream.*`, `xds.upstream_host_metadata`, `upstream_filter_state` | table | response started via an upstream |
//! | `upstream.num_endpoints`, `upstream.request_attempt_count` (0, then 1 once an upstream was tried) | uint | stream |
//! | any other name `n` | filter state `wasm.n` set by the guest | stream |

mod defaults;
mod derive;
mod paths;
mod table;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use crate::abi::Status;
use crate::pairs;
use derive::Node;
use paths::RESERVED;

/// A typed property value and its Envoy wire encoding.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// UTF-8 text (CEL `string`).
    String(String),
    /// Raw bytes (CEL `bytes`; also serialized protobuf messages such as metadata).
    Bytes(Vec<u8>),
    /// CEL `int`.
    Int(i64),
    /// CEL `uint`.
    Uint(u64),
    /// CEL `double`.
    Double(f64),
    /// CEL `bool`.
    Bool(bool),
    /// Nanoseconds since the Unix epoch.
    Timestamp(i64),
    /// Nanoseconds.
    Duration(i64),
    /// A map with string values, in this order.
    Map(Vec<(String, String)>),
    /// A list of strings.
    List(Vec<String>),
}

/// What the host knows about the calling context when the guest asks.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The plugin's `name`.
    pub plugin_name: &'a str,
    /// The plugin's `root_id`.
    pub plugin_root_id: &'a str,
    /// The VM's `vm_id`.
    pub plugin_vm_id: &'a str,
    /// The HTTP stream of the calling context; `None` in the root context.
    pub stream: Option<StreamFacts<'a>>,
}

/// What the host knows about an HTTP stream when the guest asks.
#[derive(Debug, Clone, Copy)]
pub struct StreamFacts<'a> {
    /// The stream's context id.
    pub context_id: u32,
    /// Request headers (after filter modifications) as Envoy shows them now: empty where Envoy
    /// hides them (see [`StreamFacts::as_seen_in`]).
    pub request_headers: &'a [(String, String)],
    /// Response headers as Envoy shows them now; `None` before the response or where hidden.
    pub response_headers: Option<&'a [(String, String)]>,
    /// Response trailers as Envoy shows them now; `None` when absent or hidden.
    pub response_trailers: Option<&'a [(String, String)]>,
    /// When the first request byte arrived (`request.time`), ns since the epoch.
    pub request_start_nanos: i64,
    /// The current time, ns since the epoch.
    pub now_nanos: i64,
    /// Request body bytes received so far, the chunk in `on_request_body` included.
    pub request_body_bytes: u64,
    /// Response body bytes sent so far: the chunk in `on_response_body` is not counted yet.
    pub response_body_bytes: u64,
    /// The response status once the response started (upstream headers or a local reply). Keep
    /// it when the headers are hidden: Envoy reads it from the stream info, not the headers.
    pub response_code: Option<u16>,
    /// Envoy's response code details (`via_upstream`, `direct_response`,
    /// `upstream_reset_before_response_started{...}`, ...).
    pub response_code_details: Option<&'a str>,
    /// The stream finished: `on_log` and `on_done`.
    pub complete: bool,
    /// `HTTP/1.0`, `HTTP/1.1`, `HTTP/2` or `HTTP/3`; empty when unknown.
    pub protocol: &'a str,
}

/// The callback a property read happens in, for Envoy's header visibility.
///
/// Envoy drops its pointer to a header map once the callback that received it returns
/// `Continue` and points at the logged maps in `on_log`. A callback that runs while the stream is
/// paused in a phase (an HTTP-call response after `on_request_headers` paused) sees what that
/// phase saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `on_request_headers`.
    RequestHeaders,
    /// `on_request_body`.
    RequestBody,
    /// `on_request_trailers`.
    RequestTrailers,
    /// `on_response_headers`.
    ResponseHeaders,
    /// `on_response_body`.
    ResponseBody,
    /// `on_response_trailers`.
    ResponseTrailers,
    /// `on_log` (the access-log phase).
    Log,
    /// `on_done` and anything after the stream (no header map is visible).
    Done,
}

/// Envoy's properties for one plugin or stream: a table of values a scenario sets (with Envoy-like
/// defaults), values derived from [`Facts`], and what the guest stored with `proxy_set_property`.
///
/// Guest values are filter state, which Envoy keeps per stream: the host keeps one `Properties`
/// per stream, cloned from the scenario's when the stream starts.
#[derive(Debug, Clone)]
pub struct Properties {
    table: BTreeMap<Vec<String>, Value>,
    removed: BTreeSet<Vec<String>>,
    guest: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Value {
    /// Envoy's encoding (`serializeValue` in `source/extensions/common/wasm/context.cc`): strings
    /// and bytes as they are; int, uint and double as 8 bytes little-endian; bool as one byte;
    /// timestamp and duration as int64 nanoseconds little-endian; maps as proxy-wasm pairs; lists
    /// as pairs whose keys are the items and whose values are empty.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::String(s) => s.as_bytes().to_vec(),
            Self::Bytes(b) => b.clone(),
            Self::Int(n) | Self::Timestamp(n) | Self::Duration(n) => n.to_le_bytes().to_vec(),
            Self::Uint(n) => n.to_le_bytes().to_vec(),
            Self::Double(x) => x.to_le_bytes().to_vec(),
            Self::Bool(b) => vec![u8::from(*b)],
            Self::Map(entries) => pairs::encode(entries),
            Self::List(items) => pairs::encode(&items.iter().map(|i| (i.as_str(), "")).collect::<Vec<_>>()),
        }
    }
}

impl Phase {
    /// Whether Envoy shows the request headers (`request.path`, `request.headers`, ...).
    pub fn shows_request_headers(self) -> bool {
        matches!(self, Self::RequestHeaders | Self::Log)
    }

    /// Whether Envoy shows the response headers (`response.headers`, ...).
    pub fn shows_response_headers(self) -> bool {
        matches!(self, Self::ResponseHeaders | Self::Log)
    }

    /// Whether Envoy shows the response trailers (`response.trailers`).
    pub fn shows_response_trailers(self) -> bool {
        matches!(self, Self::ResponseTrailers | Self::Log)
    }
}

impl<'a> StreamFacts<'a> {
    /// These facts with the header lists Envoy hides in `phase` removed.
    pub fn as_seen_in(self, phase: Phase) -> Self {
        Self {
            request_headers: if phase.shows_request_headers() { self.request_headers } else { &[] },
            response_headers: self.response_headers.filter(|_| phase.shows_response_headers()),
            response_trailers: self.response_trailers.filter(|_| phase.shows_response_trailers()),
            ..self
        }
    }
}

impl Properties {
    /// Envoy-like defaults for a loopback listener with one upstream cluster (the values a plain
    /// Envoy 1.40 answered with the repository's `envoy-config/edge-gateway.yaml` shape):
    ///
    /// | path | default |
    /// | --- | --- |
    /// | `source.address`, `source.port` | `"127.0.0.1:40000"`, int 40000 |
    /// | `destination.address`, `destination.port` | `"127.0.0.1:10000"`, int 10000 |
    /// | `connection.id` | uint 0 (Envoy's first connection) |
    /// | `connection.mtls` | false |
    /// | `connection.requested_server_name` | `""` (plain text); TLS fields absent |
    /// | `upstream.address`, `upstream.port` | `"127.0.0.1:8080"`, int 8080 |
    /// | `upstream.local_address` | `"127.0.0.1:40001"` |
    /// | `upstream.transport_failure_reason` | `""` |
    /// | `upstream.cx_pool_ready_duration` | duration 0 |
    /// | `upstream.locality` | empty bytes (no locality) |
    /// | `upstream.num_endpoints` | uint 1 |
    /// | `response.flags` | int 0 |
    /// | `metadata` | empty bytes (empty dynamic metadata) |
    /// | `xds.node.id`, `xds.node.cluster` | `""` (no `node` configured) |
    /// | `xds.node.metadata` | empty map |
    /// | `xds.node.user_agent_name` | `"envoy"` |
    /// | `xds.node.locality` | empty bytes |
    /// | `xds.cluster_name`, `xds.virtual_host_name` | `"app"` |
    /// | `xds.route_name`, `xds.filter_chain_name` | `""` (unnamed) |
    /// | `xds.listener_direction` | int 0 (UNSPECIFIED) |
    /// | `xds.cluster_metadata`, `xds.listener_metadata`, `xds.route_metadata`, `xds.virtual_host_metadata` | empty bytes |
    ///
    /// Absent by default: TLS attributes, `connection.termination_details`,
    /// `connection.transport_failure_reason`, and `xds.upstream_host_metadata` /
    /// `xds.upstream_host_locality_metadata` (which, unset, answer `SerializationFailure` once an
    /// upstream was picked, as Envoy does for a host without metadata).
    pub fn envoy_defaults() -> Self {
        Self { table: defaults::table(), removed: BTreeSet::new(), guest: BTreeMap::new() }
    }

    /// Scenario override of one path (e.g. `["source", "address"]`); replaces the default or
    /// derived value. The path stays subject to Envoy's availability: `response.code` set here
    /// still answers `NotFound` before the response started.
    pub fn set(&mut self, path: &[&str], value: Value) {
        self.table.insert(owned(path), value);
    }

    /// The value a scenario set for `path` ([`Properties::set`]), if any.
    pub fn configured(&self, path: &[&str]) -> Option<&Value> {
        self.table.get(&owned(path))
    }

    /// Removes a path and everything under it, so it answers `NotFound` (until set again), e.g.
    /// `["upstream"]` for a local reply that never picked an upstream.
    pub fn unset(&mut self, path: &[&str]) {
        let key = owned(path);
        self.table.retain(|k, _| !k.starts_with(&key));
        self.removed.insert(key);
    }

    /// `proxy_get_property`: the encoded value, or the status Envoy answers: `NotFound` when the
    /// value does not exist or is not available in this context, `SerializationFailure` for a
    /// namespace or value Envoy cannot serialize.
    pub fn get(&self, path: &[&str], facts: &Facts<'_>) -> Result<Vec<u8>, Status> {
        let path = match path.split_last() {
            Some((&"", rest)) => rest,
            _ => path,
        };
        if path.is_empty() {
            return Err(Status::SerializationFailure);
        }
        if !paths::availability(path).is_met(facts) {
            return Err(Status::NotFound);
        }
        if let Some(answer) = self.table_answer(path) {
            return answer;
        }
        let key = owned(path);
        if self.removed.iter().any(|r| key.starts_with(r)) {
            return Err(Status::NotFound);
        }
        if let Some((node, used)) = derive::lookup(self, path, facts) {
            return node.walk(path.get(used..).unwrap_or_default());
        }
        if let Some(answer) = self.guest_value(path, facts) {
            return answer;
        }
        let is_namespace = matches!(path, [first] if RESERVED.contains(first));
        if is_namespace || self.is_interior(&key) {
            return Err(Status::SerializationFailure);
        }
        Err(Status::NotFound)
    }

    /// `proxy_set_property` in a stream context: Envoy stores the bytes as filter state
    /// `wasm.<path>` (a mutable bytes value) and answers `Ok` for every path, again and again.
    /// Only a one-segment path reads back (`get(["name"])` or `["filter_state", "wasm.name"]`);
    /// a path that shadows an Envoy name (`request`) reads back only through `filter_state`.
    /// Envoy refuses only paths declared read-only or typed with its `declare_property` foreign
    /// function (`BadArgument`), which the harness does not offer. In the root context Envoy
    /// answers `NotFound`: use [`Properties::set_by_guest_in`], which knows the context.
    pub fn set_by_guest(&mut self, path: &[&str], value: &[u8]) -> Result<(), Status> {
        self.guest.insert(proxy_wasm_abi::property::path(path).into_bytes(), value.to_vec());
        Ok(())
    }

    /// [`Properties::set_by_guest`] for the context in `facts`: `NotFound` in the root context
    /// (Envoy has no stream info to hold filter state there).
    pub fn set_by_guest_in(&mut self, facts: &Facts<'_>, path: &[&str], value: &[u8]) -> Result<(), Status> {
        if facts.stream.is_none() {
            return Err(Status::NotFound);
        }
        self.set_by_guest(path, value)
    }
}

fn owned(path: &[&str]) -> Vec<String> {
    path.iter().map(|s| (*s).to_owned()).collect()
}
