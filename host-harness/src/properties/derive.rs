//! Values Envoy computes from the stream: `request.*`, `response.*` from headers, sizes and
//! clocks; the plugin names; `xds.node` as a protobuf message.

use super::{Facts, Properties, StreamFacts, Value, paths};
use crate::abi::Status;
use crate::pairs;

/// A resolved value that the rest of a path may walk into.
#[derive(Debug)]
pub(super) enum Node<'a> {
    /// A typed value (maps and lists can be walked by key or index).
    Value(Value),
    /// A header map: keys lower-cased, repeated names joined with `,` (Envoy's `HeadersWrapper`).
    Headers(&'a [(String, String)]),
    /// Exists but Envoy cannot serialize it.
    Unserializable,
    /// Does not exist now.
    Missing,
}

impl Node<'_> {
    /// The value at `rest` below this node, encoded.
    pub(super) fn walk(self, rest: &[&str]) -> Result<Vec<u8>, Status> {
        match (self, rest) {
            (Self::Missing, _) => Err(Status::NotFound),
            (Self::Unserializable, []) => Err(Status::SerializationFailure),
            (Self::Value(v), []) => Ok(v.encode()),
            (Self::Headers(h), []) => Ok(pairs::encode(&header_map(h))),
            (Self::Headers(h), [name]) => joined(h, name).map(String::into_bytes).ok_or(Status::NotFound),
            (Self::Value(Value::Map(entries)), [key]) => {
                entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone().into_bytes()).ok_or(Status::NotFound)
            }
            (Self::Value(Value::List(items)), [index]) => index
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get(i))
                .map(|v| v.clone().into_bytes())
                .ok_or(Status::NotFound),
            _ => Err(Status::NotFound),
        }
    }
}

/// The derived node for `path` and how many segments it used; `None` when Envoy does not derive
/// this path (the caller falls back to filter state and namespaces).
pub(super) fn lookup<'a>(props: &Properties, path: &[&str], facts: &Facts<'a>) -> Option<(Node<'a>, usize)> {
    let string = |s: &str| Node::Value(Value::String(s.to_owned()));
    Some(match path {
        ["plugin_name", ..] => (string(facts.plugin_name), 1),
        ["plugin_root_id", ..] => (string(facts.plugin_root_id), 1),
        ["plugin_vm_id", ..] => (string(facts.plugin_vm_id), 1),
        ["connection_id", ..] => {
            (props.table_value(&["connection", "id"]).cloned().map_or(Node::Missing, Node::Value), 1)
        }
        ["xds", "node", ..] => (Node::Value(Value::Bytes(node_proto(props))), 2),
        ["xds", "upstream_host_metadata" | "upstream_host_locality_metadata", ..] => (Node::Unserializable, 2),
        ["upstream_filter_state", ..] => (Node::Unserializable, 1),
        ["upstream", "request_attempt_count", ..] => {
            let tried = paths::Availability::Upstream.is_met(facts);
            (Node::Value(Value::Uint(u64::from(tried))), 2)
        }
        ["request", name, ..] => (facts.stream.map_or(Node::Missing, |s| request(&s, name)), 2),
        ["response", name, ..] => (facts.stream.map_or(Node::Missing, |s| response(&s, name)), 2),
        _ => return None,
    })
}

/// `request.<name>` (Envoy's `RequestWrapper`).
fn request<'a>(s: &StreamFacts<'a>, name: &str) -> Node<'a> {
    let h = s.request_headers;
    let path = joined(h, ":path").unwrap_or_default();
    let text = |v: Option<String>| v.map_or(Node::Missing, |v| Node::Value(Value::String(v)));
    match name {
        "headers" => Node::Headers(h),
        "path" => text(joined(h, ":path")),
        "url_path" => text(path.split('?').next().map(str::to_owned)),
        "query" => text(Some(path.split_once('?').map_or("", |(_, q)| q).to_owned())),
        "host" => text(joined(h, ":authority")),
        "scheme" => text(joined(h, ":scheme")),
        "method" => text(joined(h, ":method")),
        "referer" => text(joined(h, "referer")),
        "useragent" => text(joined(h, "user-agent")),
        "id" => text(joined(h, "x-request-id")),
        "protocol" if !s.protocol.is_empty() => text(Some(s.protocol.to_owned())),
        "time" => Node::Value(Value::Timestamp(s.request_start_nanos)),
        "duration" => Node::Value(Value::Duration(s.now_nanos.saturating_sub(s.request_start_nanos).max(0))),
        // Envoy prefers a visible content-length (an unparsable one answers nothing).
        "size" => match joined(h, "content-length") {
            Some(cl) => cl.parse::<i64>().map_or(Node::Missing, |n| Node::Value(Value::Int(n))),
            None => Node::Value(Value::Int(int(s.request_body_bytes))),
        },
        "total_size" => Node::Value(Value::Int(int(s.request_body_bytes).saturating_add(byte_size(h)))),
        "headers_bytes" => Node::Value(Value::Int(byte_size(h))),
        _ => Node::Missing,
    }
}

/// `response.<name>` (Envoy's `ResponseWrapper`).
fn response<'a>(s: &StreamFacts<'a>, name: &str) -> Node<'a> {
    let headers = s.response_headers.unwrap_or_default();
    let trailers = s.response_trailers.unwrap_or_default();
    match name {
        "code" => s.response_code.map_or(Node::Missing, |c| Node::Value(Value::Int(i64::from(c)))),
        "code_details" => s.response_code_details.map_or(Node::Missing, |d| Node::Value(Value::String(d.to_owned()))),
        "grpc_status" => grpc_status(s).map_or(Node::Missing, |g| Node::Value(Value::Int(g))),
        "headers" => Node::Headers(headers),
        "trailers" => Node::Headers(trailers),
        "headers_bytes" => Node::Value(Value::Int(byte_size(headers))),
        "size" => Node::Value(Value::Int(int(s.response_body_bytes))),
        "total_size" => Node::Value(Value::Int(
            int(s.response_body_bytes).saturating_add(byte_size(headers)).saturating_add(byte_size(trailers)),
        )),
        // No upstream clock offline: the whole request's duration, unless the scenario sets it.
        "backend_latency" => Node::Value(Value::Duration(s.now_nanos.saturating_sub(s.request_start_nanos).max(0))),
        _ => Node::Missing,
    }
}

/// Envoy's `Grpc::Common::getGrpcStatus(trailers, headers, info)`: `grpc-status` from the visible
/// trailers, else the visible headers (unparsable or above 16: -1, `InvalidCode`), else the HTTP
/// status mapped as gRPC's HTTP mapping says (`Grpc::Utility::httpToGrpcStatus`).
fn grpc_status(s: &StreamFacts<'_>) -> Option<i64> {
    let parse = |v: &str| match v.trim().trim_start_matches('+').parse::<u64>() {
        Ok(n) if n <= 16 => i64::try_from(n).unwrap_or(-1),
        _ => -1,
    };
    let header = |h: Option<&[(String, String)]>| {
        h.and_then(|h| h.iter().find(|(k, v)| k.eq_ignore_ascii_case("grpc-status") && !v.is_empty()))
            .map(|(_, v)| parse(v))
    };
    header(s.response_trailers).or_else(|| header(s.response_headers)).or_else(|| {
        s.response_code.map(|code| match code {
            400 => 13,                   // INTERNAL
            401 => 16,                   // UNAUTHENTICATED
            403 => 7,                    // PERMISSION_DENIED
            404 => 12,                   // UNIMPLEMENTED
            429 | 502 | 503 | 504 => 14, // UNAVAILABLE
            _ => 2,                      // UNKNOWN
        })
    })
}

/// The map Envoy serializes for a header map: lower-cased names in first-seen order, repeated
/// names joined with `,`. (Envoy's own order is a hash order, not the header order.)
fn header_map(h: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in h {
        let k = k.to_ascii_lowercase();
        match out.iter_mut().find(|(seen, _)| *seen == k) {
            Some((_, joined)) => {
                joined.push(',');
                joined.push_str(v);
            }
            None => out.push((k, v.clone())),
        }
    }
    out
}

/// All values of `name` (case-insensitive) joined with `,`; `None` when absent.
fn joined(h: &[(String, String)], name: &str) -> Option<String> {
    let values: Vec<&str> = h.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// Envoy's `HeaderMap::byteSize`: every name and value length, each entry counted.
fn byte_size(h: &[(String, String)]) -> i64 {
    h.iter().map(|(k, v)| int((k.len() + v.len()) as u64)).fold(0, i64::saturating_add)
}

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `xds.node` as Envoy serializes the `envoy.config.core.v3.Node` message, from the table's
/// `xds.node.*` entries: `id` (1), `cluster` (2), `metadata` (3, a `Struct`), `user_agent_name` (6).
/// Envoy also sends the build version and its extension list, which the harness leaves out.
fn node_proto(props: &Properties) -> Vec<u8> {
    let text = |field: &str| match props.table_value(&["xds", "node", field]) {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let mut out = Vec::new();
    proto::string(&mut out, 1, &text("id"));
    proto::string(&mut out, 2, &text("cluster"));
    let mut fields: Vec<(String, Value)> = match props.table_value(&["xds", "node", "metadata"]) {
        Some(Value::Map(entries)) => entries.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect(),
        _ => Vec::new(),
    };
    for (name, value) in props.children(&["xds".into(), "node".into(), "metadata".into()]) {
        fields.retain(|(k, _)| *k != name);
        fields.push((name, value.clone()));
    }
    let mut metadata = Vec::new();
    for (name, value) in &fields {
        let mut entry = Vec::new();
        proto::string(&mut entry, 1, name);
        proto::bytes(&mut entry, 2, &proto::struct_value(value));
        proto::bytes(&mut metadata, 1, &entry);
    }
    proto::bytes(&mut out, 3, &metadata);
    proto::string(&mut out, 6, &text("user_agent_name"));
    out
}

/// The few protobuf encodings `xds.node` needs (proto3: empty fields are left out).
mod proto {
    use super::Value;

    /// A length-delimited field, left out when empty.
    pub(super) fn bytes(out: &mut Vec<u8>, field: u32, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        varint(out, u64::from(field << 3 | 2));
        varint(out, data.len() as u64);
        out.extend_from_slice(data);
    }

    pub(super) fn string(out: &mut Vec<u8>, field: u32, s: &str) {
        bytes(out, field, s.as_bytes());
    }

    /// A `google.protobuf.Value`: numbers as `number_value` (2), strings as `string_value` (3),
    /// bools as `bool_value` (4); other types become strings of their encoding.
    pub(super) fn struct_value(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        let number = |out: &mut Vec<u8>, x: f64| {
            out.push(2 << 3 | 1);
            out.extend_from_slice(&x.to_le_bytes());
        };
        match v {
            Value::Double(x) => number(&mut out, *x),
            Value::Int(n) => number(&mut out, *n as f64),
            Value::Uint(n) => number(&mut out, *n as f64),
            Value::Bool(b) => {
                out.push(4 << 3);
                out.push(u8::from(*b));
            }
            Value::String(s) => string(&mut out, 3, s),
            other => bytes(&mut out, 3, &other.encode()),
        }
        out
    }

    fn varint(out: &mut Vec<u8>, mut n: u64) {
        while n >= 0x80 {
            out.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }
}
