//! The table: every module, its setup, its exchanges and their known differences.

use super::{Callout, Case, Known, Sdk, get};

/// Start-up: one host is one VM.
const ONE_VM: &str = "Envoy 1.40 with one worker starts and configures the plugin in three VMs (the base \
     VM, the main thread's, the worker's), so what the module logs at start-up appears three times; one \
     harness Host is one VM (a test can build more hosts sharing a Shared, as the meshlens conformance \
     suite does)";

/// The table: every module, its setup and its exchanges.
pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            sdk: Sdk::Rust,
            name: "http_headers",
            root_id: "http_headers_root",
            config: "",
            lua: false,
            startup: None,
            exchanges: vec![
                get("proxied", "/anything?x=1", &[("x-custom", "one")]),
                get("proxied 404", "/missing", &[]).upstream(404, "not here"),
                get("local reply on /hello", "/hello", &[]),
                get("post", "/upload", &[("content-type", "text/plain")]).post(b"some bytes"),
                get(
                    "repeated, upper-case and empty headers",
                    "/dup",
                    &[("X-Dup", "a"), ("x-dup", "b"), ("x-empty", "")],
                ),
            ],
        },
        Case {
            sdk: Sdk::Rust,
            name: "http_body",
            root_id: "http_body_root",
            config: "",
            lua: false,
            startup: None,
            exchanges: vec![
                get("no secret", "/plain", &[]).upstream(200, "nothing to hide"),
                get("secret masked", "/secret", &[]).upstream(200, "this is a secret word"),
                get("secret in a 500", "/error", &[]).upstream(500, "secret error"),
                get("64 KiB, secret at the end", "/large", &[]).upstream(200, format!("{}secret", "x".repeat(65536))),
                get("2 MiB, over Envoy's buffer limit", "/huge", &[])
                    .upstream(200, format!("{}secret", "x".repeat(2 << 20)))
                    .known(
                        "bodies/chunks",
                        "Envoy buffers a response body the module pauses on up to the buffer limit \
                         (1 MiB by default); past it, the headers already sent (200, chunked), it \
                         resets the stream and the client gets no complete response; the harness \
                         buffers without a limit and sends the redacted body",
                        &["status", "headers", "body"],
                    ),
            ],
        },
        Case {
            sdk: Sdk::Rust,
            name: "http_config",
            root_id: "http_config_root",
            config: "conformance-value",
            lua: false,
            startup: None,
            exchanges: vec![
                get("header from config", "/one", &[]),
                get("again, 503 upstream", "/two", &[("custom-header", "from-client")]).upstream(503, "down"),
            ],
        },
        Case {
            sdk: Sdk::Rust,
            name: "http_auth_random",
            root_id: "http_auth_random_root",
            config: "",
            lua: false,
            startup: None,
            exchanges: vec![
                get("even byte: granted", "/a", &[]).callout(Callout::HttpBin(0x42)),
                get("odd byte: forbidden", "/b", &[]).callout(Callout::HttpBin(0x43)),
                get("even byte again", "/c", &[]).callout(Callout::HttpBin(0x00)),
                get("odd byte again", "/d", &[]).callout(Callout::HttpBin(0xff)),
                get("httpbin too late: forbidden", "/e", &[]).callout(Callout::HttpBinLate),
            ],
        },
        Case {
            sdk: Sdk::Rust,
            name: "grpc_auth_random",
            root_id: "grpc_auth_random_root",
            config: "",
            lua: false,
            startup: None,
            exchanges: vec![
                get("not gRPC: 503", "/plain", &[]),
                get("OK: granted", "/pkg.Svc/Call", &[("content-type", "application/grpc")])
                    .callout(Callout::GrpcBin(0)),
                get("NOT_FOUND (odd): aborted", "/pkg.Svc/Call", &[("content-type", "application/grpc")])
                    .callout(Callout::GrpcBin(5)),
                get("UNAVAILABLE (even): granted", "/pkg.Svc/Call", &[("content-type", "application/grpc")])
                    .callout(Callout::GrpcBin(14)),
                // Envoy closes the call at its 1 s timeout with UNAVAILABLE (14, "upstream request
                // timeout"), which the module reads as even: the request goes through.
                get(
                    "grpcbin too late: closed at the timeout (14, even), granted",
                    "/pkg.Svc/Call",
                    &[("content-type", "application/grpc")],
                )
                .callout(Callout::GrpcBinLate),
                get(
                    "reflection: no callout",
                    "/grpc.reflection.v1.ServerReflection/Info",
                    &[("content-type", "application/grpc")],
                ),
            ],
        },
        Case {
            sdk: Sdk::Rust,
            name: "envoy_filter_metadata",
            root_id: "envoy_filter_metadata_root",
            config: "",
            lua: true,
            startup: None,
            exchanges: vec![
                get("metadata set: local reply", "/m", &[("x-custom-metadata", "hello meta")]),
                get("no metadata: proxied", "/m", &[]),
            ],
        },
        // A network (TCP) filter: Envoy loads it as an HTTP filter too (its root context only
        // logs the configuration), then every request panics in the SDK ("invalid context_id":
        // it has no HTTP context) and the VM fails.
        Case {
            sdk: Sdk::Rust,
            name: "envoy_tcp_routing",
            root_id: "envoy_tcp_routing_root",
            config: "tcp",
            lua: false,
            startup: Some(Known { wall: "services/root ids", reason: ONE_VM, fields: &["logs"] }),
            exchanges: vec![
                get("first request: the module panics", "/a", &[]),
                get("second request: the VM has failed", "/b", &[]),
            ],
        },
        // A root context only (a service): creating a request's context panics in the SDK
        // ("missing ContextType on root_context"), in Envoy as in the harness.
        Case {
            sdk: Sdk::Rust,
            name: "hello_world",
            root_id: "hello_world_root",
            config: "",
            lua: false,
            startup: Some(Known { wall: "services/root ids", reason: ONE_VM, fields: &["logs"] }),
            exchanges: vec![get("as an HTTP filter: the module panics", "/a", &[])],
        },
        Case {
            sdk: Sdk::AssemblyScript,
            name: "add_header",
            root_id: "add_header",
            config: "conformance-value",
            lua: false,
            startup: Some(Known { wall: "services/root ids", reason: ONE_VM, fields: &["logs"] }),
            exchanges: vec![
                get("header from config", "/one", &[]),
                get("404 upstream", "/two", &[("hello", "client")]).upstream(404, "none"),
            ],
        },
    ]
}
