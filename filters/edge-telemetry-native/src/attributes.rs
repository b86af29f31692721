//! Envoy attribute paths (`source.address`) as the dynamic-module ABI's attribute ids.
//!
//! The ids are `envoy_dynamic_module_type_attribute_id` in `abi.h` (see `abi.rs` for the
//! version), numbered in the header's order. A path the ABI has no id for (for example
//! `node.id`, `plugin_name`, `filter_state.*`) reads as absent.

/// How the ABI gives an attribute's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `get_attribute_string`: the bytes as they are.
    String,
    /// `get_attribute_int`: encoded as proxy-wasm encodes integers, 8 little-endian bytes.
    Int,
}

/// An attribute the ABI can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute {
    pub id: u32,
    pub kind: Kind,
}

/// Every path with an ABI id, its id and its kind (`abi.h`, `envoy_dynamic_module_type_attribute_id`).
const TABLE: [(&str, u32, Kind); 40] = [
    ("request.path", 0, Kind::String),
    ("request.url_path", 1, Kind::String),
    ("request.host", 2, Kind::String),
    ("request.scheme", 3, Kind::String),
    ("request.method", 4, Kind::String),
    ("request.referer", 6, Kind::String),
    ("request.useragent", 7, Kind::String),
    ("request.id", 9, Kind::String),
    ("request.protocol", 10, Kind::String),
    ("request.query", 11, Kind::String),
    ("request.duration", 12, Kind::Int),
    ("request.size", 13, Kind::Int),
    ("request.total_size", 14, Kind::Int),
    ("response.code", 15, Kind::Int),
    ("response.code_details", 16, Kind::String),
    ("response.flags", 17, Kind::Int),
    ("response.grpc_status", 18, Kind::Int),
    ("response.size", 21, Kind::Int),
    ("response.total_size", 22, Kind::Int),
    ("response.backend_latency", 23, Kind::Int),
    ("source.address", 24, Kind::String),
    ("source.port", 25, Kind::Int),
    ("destination.address", 26, Kind::String),
    ("destination.port", 27, Kind::Int),
    ("connection.id", 28, Kind::Int),
    ("connection.requested_server_name", 30, Kind::String),
    ("connection.tls_version", 31, Kind::String),
    ("connection.transport_failure_reason", 39, Kind::String),
    ("connection.termination_details", 40, Kind::String),
    ("upstream.address", 41, Kind::String),
    ("upstream.port", 42, Kind::Int),
    ("upstream.tls_version", 43, Kind::String),
    ("upstream.local_address", 51, Kind::String),
    ("upstream.transport_failure_reason", 52, Kind::String),
    ("upstream.request_attempt_count", 53, Kind::Int),
    ("upstream.cx_pool_ready_duration", 54, Kind::Int),
    ("xds.cluster_name", 57, Kind::String),
    ("xds.route_name", 61, Kind::String),
    ("xds.virtual_host_name", 63, Kind::String),
    ("xds.filter_chain_name", 66, Kind::String),
];

/// The ABI attribute for a path given as segments (`["source", "address"]`), if it has one.
pub fn lookup(path: &[String]) -> Option<Attribute> {
    let joined = path.join(".");
    TABLE.iter().find(|(p, _, _)| *p == joined).map(|(_, id, kind)| Attribute { id: *id, kind: *kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(String::from).collect()
    }

    #[test]
    fn the_pipelines_fixed_reads_have_ids() {
        for p in [
            "response.code",
            "source.address",
            "request.protocol",
            "xds.cluster_name",
            "upstream.address",
            "upstream.cx_pool_ready_duration",
            "response.backend_latency",
            "response.flags",
            "response.code_details",
        ] {
            assert!(lookup(&path(p)).is_some(), "{p}");
        }
        assert_eq!(lookup(&path("response.code")), Some(Attribute { id: 15, kind: Kind::Int }));
        assert_eq!(lookup(&path("node.id")), None);
    }
}
