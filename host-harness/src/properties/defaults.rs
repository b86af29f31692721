//! The default table: what a plain Envoy 1.40 answers for a loopback listener with one cluster
//! (documented on [`super::Properties::envoy_defaults`]).

use std::collections::BTreeMap;

use super::Value;

/// The default entries, keyed by path.
pub(super) fn table() -> BTreeMap<Vec<String>, Value> {
    let text = |s: &str| Value::String(s.to_owned());
    let empty_proto = || Value::Bytes(Vec::new());
    let entries = [
        ("source.address", text("127.0.0.1:40000")),
        ("source.port", Value::Int(40000)),
        ("destination.address", text("127.0.0.1:10000")),
        ("destination.port", Value::Int(10000)),
        ("connection.id", Value::Uint(0)),
        ("connection.mtls", Value::Bool(false)),
        ("connection.requested_server_name", text("")),
        ("upstream.address", text("127.0.0.1:8080")),
        ("upstream.port", Value::Int(8080)),
        ("upstream.local_address", text("127.0.0.1:40001")),
        ("upstream.transport_failure_reason", text("")),
        ("upstream.cx_pool_ready_duration", Value::Duration(0)),
        ("upstream.locality", empty_proto()),
        ("upstream.num_endpoints", Value::Uint(1)),
        ("response.flags", Value::Int(0)),
        ("metadata", empty_proto()),
        ("xds.node.id", text("")),
        ("xds.node.cluster", text("")),
        ("xds.node.metadata", Value::Map(Vec::new())),
        ("xds.node.user_agent_name", text("envoy")),
        ("xds.node.locality", empty_proto()),
        ("xds.cluster_name", text("app")),
        ("xds.cluster_metadata", empty_proto()),
        ("xds.listener_direction", Value::Int(0)),
        ("xds.listener_metadata", empty_proto()),
        ("xds.route_name", text("")),
        ("xds.route_metadata", empty_proto()),
        ("xds.virtual_host_name", text("app")),
        ("xds.virtual_host_metadata", empty_proto()),
        ("xds.filter_chain_name", text("")),
    ];
    entries.into_iter().map(|(path, value)| (path.split('.').map(str::to_owned).collect(), value)).collect()
}
