//! The SERVER span's peer and client attributes, and the configured ones: captured request and
//! response headers (`http.request.header.<name>`, `http.response.header.<name>`) and custom
//! attributes from headers or Envoy attributes.
//!
//! Sources follow the HTTP server span conventions (OpenTelemetry semantic conventions,
//! `docs/http/http-spans.md`, "HTTP server span"):
//! - `network.peer.address` / `network.peer.port`: the peer of the connection (Envoy's
//!   `source.address`, when it is the socket's address);
//! - `client.address`: "the IP address of the original client behind all proxies, if known (e.g.
//!   from Forwarded#for, X-Forwarded-For, or a similar header). Otherwise, the immediate client
//!   peer address", and `client.port` "the port of whichever client was captured in
//!   `client.address`": `X-Forwarded-For` carries no port, so a forwarded client has none;
//! - header attributes: "the attribute value MUST consist of either multiple header values as an
//!   array of strings or a single-item array", captured only for headers named in the
//!   configuration.
//!
//! Every configured value goes through the redaction policy as metric labels and log fields do
//! ([`DimensionSource::clean`]): a header the policy denies keeps its shape with the secret
//! replaced (`authorization: Bearer [REDACTED]`), and with an allow list a header that is not
//! allowed is not captured. Values are then cut to the configured byte limit, ending with
//! [`TRUNCATED`].

use std::net::IpAddr;

use super::split_host_port;
use crate::metrics::DimensionSource;
use crate::redact::{Counts, Policy};
use crate::span::KeyValue;

/// The configured span attributes (the `tracing` section's `request_headers`,
/// `response_headers`, `attributes` and `max_attribute_bytes`), validated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpanAttributes {
    /// In output order: captured request headers, captured response headers, custom attributes.
    pub entries: Vec<Attribute>,
    /// The longest value written, in bytes, [`TRUNCATED`] included.
    pub max_value_bytes: usize,
}

/// One configured attribute: its key, where its value comes from and the value's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub key: String,
    pub source: DimensionSource,
    pub shape: Shape,
}

/// The type of a configured attribute's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Every value of the header, as a string array (`http.*.header.<name>`).
    Values,
    /// A string: a header's first value, or a string attribute.
    Text,
    /// An Envoy integer attribute (8 little-endian bytes).
    Int,
    /// An Envoy boolean attribute (one byte).
    Bool,
}

/// What the request gave for one configured attribute, before redaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Captured {
    Absent,
    /// A header's values, in order.
    Header(Vec<String>),
    /// An Envoy attribute's raw value.
    Property(Vec<u8>),
}

/// Appended to a value cut at [`SpanAttributes::max_value_bytes`].
pub const TRUNCATED: &str = "...[TRUNCATED]";

/// The most attributes a configuration may add to a span (headers and custom ones together).
pub const MAX_CONFIGURED: usize = 32;

/// The bounds of `tracing.max_attribute_bytes`, and its default.
pub const MAX_VALUE_BYTES: (usize, usize) = (32, 16_384);
/// See [`MAX_VALUE_BYTES`].
pub const DEFAULT_MAX_VALUE_BYTES: usize = 256;

/// Namespaces meshlens fills itself (the HTTP, network and RPC conventions, and its own): a
/// custom attribute key may not start with one, so it can never shadow or collide with a
/// standard attribute, today's or one added later.
pub const RESERVED_PREFIXES: &[&str] =
    &["http.", "url.", "server.", "client.", "network.", "user_agent.", "error.", "rpc.", "meshlens."];

/// Envoy attributes a custom span attribute may read, with their type (Envoy's attribute list,
/// <https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/attributes>). Left
/// out on purpose: `request.headers` and `response.headers` (headers are captured by name, through
/// the header rules), `connection.peer_certificate` (a whole PEM), `metadata` and `filter_state`
/// (arbitrary, often binary, data), durations and timestamps. `node.metadata.<KEY>` is allowed
/// for any one key (see [`allowed_property`]).
pub const PROPERTIES: &[(&str, Shape)] = &[
    ("request.id", Shape::Text),
    ("request.protocol", Shape::Text),
    ("request.scheme", Shape::Text),
    ("request.host", Shape::Text),
    ("request.method", Shape::Text),
    ("request.referer", Shape::Text),
    ("request.size", Shape::Int),
    ("request.total_size", Shape::Int),
    ("response.code", Shape::Int),
    ("response.code_details", Shape::Text),
    ("response.flags", Shape::Int),
    ("response.grpc_status", Shape::Int),
    ("response.size", Shape::Int),
    ("response.total_size", Shape::Int),
    ("source.address", Shape::Text),
    ("source.port", Shape::Int),
    ("destination.address", Shape::Text),
    ("destination.port", Shape::Int),
    ("connection.id", Shape::Int),
    ("connection.mtls", Shape::Bool),
    ("connection.requested_server_name", Shape::Text),
    ("connection.tls_version", Shape::Text),
    ("connection.subject_peer_certificate", Shape::Text),
    ("connection.uri_san_peer_certificate", Shape::Text),
    ("connection.dns_san_peer_certificate", Shape::Text),
    ("connection.sha256_peer_certificate_digest", Shape::Text),
    ("connection.transport_failure_reason", Shape::Text),
    ("connection.termination_details", Shape::Text),
    ("upstream.address", Shape::Text),
    ("upstream.port", Shape::Int),
    ("upstream.local_address", Shape::Text),
    ("upstream.tls_version", Shape::Text),
    ("upstream.transport_failure_reason", Shape::Text),
    ("upstream.request_attempt_count", Shape::Int),
    ("xds.cluster_name", Shape::Text),
    ("xds.route_name", Shape::Text),
    ("xds.virtual_host_name", Shape::Text),
    ("xds.filter_chain_name", Shape::Text),
    ("xds.listener_direction", Shape::Int),
    ("node.id", Shape::Text),
    ("node.cluster", Shape::Text),
    ("plugin_name", Shape::Text),
    ("plugin_root_id", Shape::Text),
    ("plugin_vm_id", Shape::Text),
];

/// The type of an allowed Envoy attribute path; `None` when the path is not allowed.
pub fn allowed_property(path: &[String]) -> Option<Shape> {
    if let [node, metadata, key] = path
        && node == "node"
        && metadata == "metadata"
        && !key.is_empty()
    {
        return Some(Shape::Text);
    }
    let dotted = path.join(".");
    PROPERTIES.iter().find(|(p, _)| *p == dotted).map(|(_, shape)| *shape)
}

/// Appends `network.peer.address`/`network.peer.port` and `client.address`/`client.port`.
///
/// `source` is Envoy's `source.address`: the connection's peer, unless Envoy's HTTP connection
/// manager took the client from `x-forwarded-for` (`use_remote_address: false`, or
/// `xff_num_trusted_hops` > 0), in which case Envoy gives that address with port 0 and no
/// attribute gives the socket's peer: `network.peer.*` is then left out.
///
/// `forwarded_for` is the request's first `x-forwarded-for` value as the filter sees it, after
/// Envoy's connection manager: with `use_remote_address: true` Envoy has appended one entry (the
/// peer, or for a loopback peer Envoy's own address), so when `source` is the peer a forwarded
/// client exists only if the header has two entries or more; when Envoy took the client from the
/// header (port 0), every entry was forwarded. The original client is then the left-most entry,
/// when it is an IP address: `client.address`, without `client.port` (the header has no ports).
/// Otherwise the client is `source`, its port included unless 0. A port of 0 is never written.
/// (With Envoy's `skip_xff_append`, a lone entry the client sent is taken for Envoy's own: the
/// client is then the peer.)
///
/// The left-most entry is what the client (or the first proxy) claims, checked by nobody:
/// `network.peer.address` is the address the proxy saw.
pub fn peer_and_client(source: Option<&str>, forwarded_for: Option<&str>, out: &mut Vec<KeyValue>) {
    let peer = source.map(split_host_port);
    let direct = peer.and_then(|(host, port)| Some((host, port.filter(|p| *p != 0)?)));
    if let Some((host, port)) = direct {
        out.push(KeyValue::string("network.peer.address", host.to_owned()));
        out.push(KeyValue::int("network.peer.port", i64::from(port)));
    }
    // Entries Envoy did not add itself: all of them when it read the client from the header.
    let appended = usize::from(direct.is_some());
    match forwarded_for.and_then(|xff| forwarded_client(xff, appended)) {
        Some(client) => out.push(KeyValue::string("client.address", client.to_owned())),
        None => {
            if let Some((host, port)) = peer {
                out.push(KeyValue::string("client.address", host.to_owned()));
                if let Some(port) = port.filter(|p| *p != 0) {
                    out.push(KeyValue::int("client.port", i64::from(port)));
                }
            }
        }
    }
}

/// The left-most `x-forwarded-for` entry's IP address, as written, when the header has more
/// entries than the `appended` ones Envoy added; `None` when it has not, or when the entry is not
/// an address (`unknown`, an obfuscated identifier).
fn forwarded_client(xff: &str, appended: usize) -> Option<&str> {
    let entries = xff.split(',').map(str::trim).filter(|e| !e.is_empty());
    if entries.clone().count() <= appended {
        return None;
    }
    let first = entries.clone().next()?;
    // Entries are bare addresses; some proxies write `[v6]`, `[v6]:port` or `v4:port`.
    let host = match split_host_port(first) {
        (host, Some(_)) => host,
        (host, None) => host.trim_start_matches('[').trim_end_matches(']'),
    };
    host.parse::<IpAddr>().is_ok().then_some(host)
}

impl SpanAttributes {
    /// Whether any attribute is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The configured attributes of one span, from what the request gave for each entry (in
    /// [`SpanAttributes::entries`] order), redacted and cut to the value limit. An absent or
    /// refused value is left out.
    pub fn values(&self, captured: Vec<Captured>, policy: &Policy, counts: &mut Counts) -> Vec<KeyValue> {
        let mut out = Vec::with_capacity(self.entries.len());
        for (entry, captured) in self.entries.iter().zip(captured) {
            let key = entry.key.clone();
            match (entry.shape, captured) {
                (Shape::Values, Captured::Header(values)) => {
                    let clean: Vec<String> =
                        values.iter().filter_map(|v| self.clean(&entry.source, v, policy, counts)).collect();
                    if !clean.is_empty() {
                        out.push(KeyValue::strings(key, clean));
                    }
                }
                (Shape::Text, Captured::Header(values)) => {
                    if let Some(v) = values.first().and_then(|v| self.clean(&entry.source, v, policy, counts)) {
                        out.push(KeyValue::string(key, v));
                    }
                }
                (Shape::Text, Captured::Property(bytes)) => {
                    let text = crate::pipeline::host::text(bytes);
                    if let Some(v) = self.clean(&entry.source, &text, policy, counts) {
                        out.push(KeyValue::string(key, v));
                    }
                }
                (Shape::Int, Captured::Property(bytes)) => {
                    if let Some(array) = bytes.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                        out.push(KeyValue::int(key, i64::from_le_bytes(array)));
                    }
                }
                (Shape::Bool, Captured::Property(bytes)) => {
                    if let Some(b) = bytes.first() {
                        out.push(KeyValue::bool(key, *b != 0));
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// A value through the redaction policy, then cut to the limit.
    fn clean(&self, source: &DimensionSource, raw: &str, policy: &Policy, counts: &mut Counts) -> Option<String> {
        source.clean(policy, raw, counts).map(|v| truncate(&v, self.max_value_bytes))
    }
}

/// `value` when it fits in `max` bytes; otherwise its longest prefix (on a character boundary)
/// that leaves room for [`TRUNCATED`], then the marker: at most `max` bytes in all.
pub fn truncate(value: &str, max: usize) -> String {
    if value.len() <= max {
        return value.to_owned();
    }
    let mut end = max.saturating_sub(TRUNCATED.len());
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + TRUNCATED.len());
    out.push_str(value.get(..end).unwrap_or_default());
    out.push_str(TRUNCATED);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::Value;

    fn attrs(source: Option<&str>, xff: Option<&str>) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        peer_and_client(source, xff, &mut out);
        out.into_iter().map(|kv| (kv.key.into_owned(), kv.value)).collect()
    }

    fn s(k: &str, v: &str) -> (String, Value) {
        (k.to_owned(), Value::String(v.to_owned()))
    }

    fn i(k: &str, v: i64) -> (String, Value) {
        (k.to_owned(), Value::Int(v))
    }

    #[test]
    fn without_a_forwarded_client_the_client_is_the_peer() {
        let peer = vec![s("network.peer.address", "10.0.0.7"), i("network.peer.port", 5000)];
        let client = vec![s("client.address", "10.0.0.7"), i("client.port", 5000)];
        assert_eq!(attrs(Some("10.0.0.7:5000"), None), [peer.clone(), client.clone()].concat());
        // Envoy's own append (use_remote_address: true): the peer, or for a loopback peer the
        // proxy's own address.
        assert_eq!(attrs(Some("10.0.0.7:5000"), Some("10.0.0.7")), [peer, client].concat());
        let loopback = attrs(Some("127.0.0.1:41000"), Some("192.0.2.2"));
        assert_eq!(loopback[2..], [s("client.address", "127.0.0.1"), i("client.port", 41000)]);
        let v6 = attrs(Some("[::1]:6000"), None);
        assert_eq!(v6[0], s("network.peer.address", "::1"));
        assert_eq!(v6[3], i("client.port", 6000));
    }

    #[test]
    fn a_forwarded_client_has_no_port() {
        let got = attrs(Some("127.0.0.1:41000"), Some("203.0.113.7, 192.0.2.2"));
        let want = vec![
            s("network.peer.address", "127.0.0.1"),
            i("network.peer.port", 41000),
            s("client.address", "203.0.113.7"),
        ];
        assert_eq!(got, want);
        let bracketed = attrs(Some("127.0.0.1:1"), Some("[2001:db8::1]:443, 10.0.0.1"));
        assert_eq!(bracketed[2], s("client.address", "2001:db8::1"));
        let with_port = attrs(Some("127.0.0.1:1"), Some("198.51.100.2:8080,10.0.0.1"));
        assert_eq!(with_port[2], s("client.address", "198.51.100.2"));
    }

    #[test]
    fn an_address_envoy_took_from_x_forwarded_for_is_no_peer_and_port_0_is_never_written() {
        // use_remote_address: false, or trusted hops: Envoy's remote address is the XFF client
        // with port 0, and every entry was forwarded.
        assert_eq!(attrs(Some("203.0.113.7:0"), Some("203.0.113.7")), vec![s("client.address", "203.0.113.7")]);
        assert_eq!(attrs(Some("203.0.113.7:0"), None), vec![s("client.address", "203.0.113.7")]);
        let behind = attrs(Some("203.0.113.7:0"), Some("198.51.100.1, 203.0.113.7"));
        assert_eq!(behind, vec![s("client.address", "198.51.100.1")], "the original client, behind all proxies");
    }

    #[test]
    fn an_entry_that_is_not_an_address_falls_back_to_the_peer() {
        for xff in ["unknown, 10.0.0.1", "_hidden, 10.0.0.1", "", ",", "<script>, 10.0.0.1"] {
            let got = attrs(Some("10.0.0.7:5000"), Some(xff));
            assert_eq!(got[2], s("client.address", "10.0.0.7"), "{xff}");
            assert_eq!(got[3], i("client.port", 5000), "{xff}");
        }
    }

    #[test]
    fn truncation_keeps_the_limit_and_character_boundaries() {
        assert_eq!(truncate("short", 32), "short");
        let long = "a".repeat(100);
        let cut = truncate(&long, 32);
        assert_eq!(cut.len(), 32);
        assert!(cut.ends_with(TRUNCATED) && cut.starts_with("aaaa"));
        let multibyte = "é".repeat(40);
        let cut = truncate(&multibyte, 33);
        assert!(cut.len() <= 33 && cut.ends_with(TRUNCATED), "{cut}");
    }

    #[test]
    fn the_property_allow_list_takes_exact_paths_and_node_metadata_keys() {
        let path = |p: &str| p.split('.').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(allowed_property(&path("xds.route_name")), Some(Shape::Text));
        assert_eq!(allowed_property(&path("source.port")), Some(Shape::Int));
        assert_eq!(allowed_property(&path("node.metadata.REGION")), Some(Shape::Text));
        for refused in ["request.headers", "request.headers.authorization", "metadata", "filter_state.x", "node"] {
            assert_eq!(allowed_property(&path(refused)), None, "{refused}");
        }
    }
}
