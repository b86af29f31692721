//! The request `cargo xtask bench-envoy`'s load sends, as Envoy hands it to a filter, and the
//! answer its `direct_response` gives: what the core-level benches (`benches/core.rs`'s
//! `pipeline` group, `examples/native_cost.rs`) put through the pipeline.

/// `GET /api/v1/query` with the headers Envoy adds before the filter runs.
pub const REQUEST: [(&str, &str); 6] = [
    (":authority", "127.0.0.1:10000"),
    (":path", "/api/v1/query"),
    (":method", "GET"),
    (":scheme", "http"),
    ("x-forwarded-proto", "http"),
    ("x-request-id", "5d2f8e0c-7b1a-4c3e-9f6d-2a8b4c6e1f3d"),
];

/// `200 ok` from the route's `direct_response`.
pub const RESPONSE: [(&str, &str); 3] = [(":status", "200"), ("content-length", "2"), ("content-type", "text/plain")];
