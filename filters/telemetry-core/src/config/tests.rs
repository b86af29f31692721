use super::*;

fn error_of(json: &str) -> String {
    Config::from_json(json.as_bytes()).unwrap_err().to_string()
}

#[test]
fn empty_config_means_defaults() {
    let config = Config::from_json(b"").unwrap();
    let tracing = config.tracing.unwrap();
    assert_eq!(tracing.extract, [Format::TraceContext, Format::B3Single, Format::B3Multi]);
    assert_eq!(tracing.inject, [Format::TraceContext]);
    assert_eq!(tracing.trace_id_header.as_deref(), Some("x-trace-id"));
    assert_eq!(tracing.client_span, ClientSpan::Child, "a gateway's CLIENT span by default");
    assert_eq!(tracing.exporter.cluster, "otel_collector");
    assert_eq!(tracing.exporter.authority, "otel_collector");
    assert_eq!(tracing.exporter.path, "/v1/traces");
    assert_eq!(tracing.exporter.encoding, Encoding::Protobuf);
    assert_eq!(tracing.exporter.encoding.content_type(), "application/x-protobuf");
    assert_eq!(config.resource.attributes[0], KeyValue::string("service.name", "unknown_service:meshlens"));
    assert!(Config::from_json(b"  {} ").is_ok());
}

#[test]
fn client_span_is_read() {
    let mode = |v: &str| Config::from_json(format!(r#"{{"tracing": {{"client_span": "{v}"}}}}"#).as_bytes());
    assert_eq!(mode("child").unwrap().tracing.unwrap().client_span, ClientSpan::Child);
    assert_eq!(mode("off").unwrap().tracing.unwrap().client_span, ClientSpan::Off);
    assert_eq!(mode("only").unwrap().tracing.unwrap().client_span, ClientSpan::Only);
}

#[test]
fn full_config_is_read() {
    let config = Config::from_json(
        br#"{
        "service": {"name": "chat2sql", "version": "1.2.0", "attributes": {"deployment.environment": "prod"}},
        "routes": ["/api/v1/query", "/users/{id}"],
        "tracing": {
            "extract": ["b3", "tracecontext"], "inject": ["tracecontext", "b3multi"],
            "edge_policy": "restart",
            "sampling": {"ratio": 0.1, "routes": [{"route": "/api/v1/query", "sample": "always"},
                                                  {"route": "/health", "sample": "never"}]},
            "trace_id_header": "X-Request-Trace", "traceresponse": false, "error_on_4xx": true,
            "exporter": {"cluster": "jaeger", "authority": "jaeger:4318", "timeout_ms": 250,
                         "headers": {"X-Api-Key": "k"}, "encoding": "json"}
        }}"#,
    )
    .unwrap();
    assert_eq!(config.routes.len(), 3, "/health is added by its sampling rule");
    let t = config.tracing.unwrap();
    assert_eq!(t.edge_policy, EdgePolicy::Restart);
    assert_eq!(t.trace_id_header.as_deref(), Some("x-request-trace"));
    assert_eq!(t.exporter.headers, [("x-api-key".to_owned(), "k".to_owned())]);
    assert_eq!(t.exporter.authority, "jaeger:4318");
    assert_eq!((t.exporter.encoding, t.exporter.encoding.content_type()), (Encoding::Json, "application/json"));
    assert!(t.error_on_4xx && !t.traceresponse);
    let id = config.routes.id_of("/api/v1/query");
    let trace = crate::ids::IdGenerator::from_seed([9; 32]).trace_id();
    assert!(t.sampler.should_sample(trace, Some(false), id));
}

#[test]
fn errors_name_the_field_and_the_problem() {
    assert_eq!(
        error_of(r#"{"tracing": {"exporter": {"encoding": "grpc"}}}"#),
        "tracing.exporter.encoding: unknown variant `grpc`, expected `protobuf` or `json`"
    );
    assert_eq!(
        error_of(r#"{"tracing": {"sampling": {"ratio": 1.5}}}"#),
        "tracing.sampling.ratio: must be a number from 0 to 1, got 1.5"
    );
    assert_eq!(
        error_of(r#"{"tracing": {"sampler": {}}}"#),
        "tracing.sampler: unknown field `sampler`, expected one of `enabled`, `extract`, `inject`, `edge_policy`, `sampling`, `trace_id_header`, `traceresponse`, `error_on_4xx`, `client_span`, `exporter`, `request_headers`, `response_headers`, `attributes`, `max_attribute_bytes`"
    );
    assert_eq!(
        error_of(r#"{"tracing": {"edge_policy": "maybe"}}"#),
        "tracing.edge_policy: unknown variant `maybe`, expected `trust` or `restart`"
    );
    assert_eq!(
        error_of(r#"{"tracing": {"client_span": "both"}}"#),
        "tracing.client_span: unknown variant `both`, expected one of `child`, `off`, `only`"
    );
    assert!(error_of(r#"{"tracing": {"client_span": true}}"#).starts_with("tracing.client_span: "));
    assert_eq!(error_of(r#"{"routes": ["/ok", "bad"]}"#), "routes[1]: `bad` must start with `/`");
    assert_eq!(
        error_of(r#"{"tracing": {"sampling": {"routes": [{"route": "/a", "sample": "sometimes"}]}}}"#),
        "tracing.sampling.routes[0].sample: must be \"always\", \"never\" or a ratio, got \"sometimes\""
    );
    assert_eq!(
        error_of(r#"{"tracing": {"exporter": {"max_in_flight": 0}}}"#),
        "tracing.exporter.max_in_flight: must be from 1 to 64, got 0"
    );
    assert_eq!(error_of(r#"{"tracing": {"inject": []}}"#).split(':').next(), Some("tracing.inject"));
    assert_eq!(
        error_of(r#"{"tracing": {"trace_id_header": "x trace"}}"#),
        "tracing.trace_id_header: `x trace` is not a valid HTTP header name"
    );
    assert_eq!(error_of(r#"{"service": {"name": " "}}"#), "service.name: must not be empty");
    assert!(error_of("5").starts_with("(config): invalid type: integer `5`"), "{}", error_of("5"));
    assert!(error_of("{").starts_with("(config): EOF while parsing"), "{}", error_of("{"));
}

#[test]
fn disabled_tracing_has_no_tracing_config() {
    assert!(Config::from_json(br#"{"tracing": {"enabled": false}}"#).unwrap().tracing.is_none());
}

#[test]
fn empty_trace_id_header_disables_it() {
    let t = Config::from_json(br#"{"tracing": {"trace_id_header": ""}}"#).unwrap().tracing.unwrap();
    assert_eq!(t.trace_id_header, None);
}

mod reader {
    //! The hand-written JSON reader (config/json.rs, read.rs) against serde_json on the same bytes.
    use super::*;
    use proptest::prelude::*;

    const DOCUMENT: &str = r#"{"service": {"name": "edge \"gw\"", "version": "1.0"}, "routes": ["/api/v1/query", "/users/{id}"],
        "tracing": {"sampling": {"ratio": 0.25e0}, "trace_id_header": "x-trace-id", "exporter": {"timeout_ms": 250}},
        "metrics": {"reporter": "gateway", "dimensions": [{"name": "tenant", "from": {"request_header": "x-tenant"}}]},
        "access_log": {"sinks": ["proxy_log"], "fields": ["status", "route"]}, "security": {"threshold": 10}}"#;

    /// A syntax error serde_json reports inside the document (not just text after it, which the
    /// configuration reader, like serde_path_to_error before it, does not look at).
    fn broken_inside(bytes: &[u8]) -> bool {
        match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(_) => false,
            Err(e) => !e.to_string().contains("trailing characters"),
        }
    }

    proptest! {
        /// Any bytes at all: an answer, never a panic (a panic would fail `on_configure`'s VM).
        #[test]
        fn arbitrary_bytes_get_an_answer(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Config::from_json(&bytes);
        }

        /// The valid document with one byte deleted, replaced or inserted: whatever serde_json
        /// finds malformed inside the document is refused, and nothing panics.
        #[test]
        fn damaged_documents_are_refused_like_serde_json_refuses_them(
            at in 0usize..DOCUMENT.len(),
            byte in prop::sample::select(b"{}[]:,\"\\ 0123456789.eE+-tfnx\n".to_vec()),
            edit in 0u8..3,
        ) {
            let mut bytes = DOCUMENT.as_bytes().to_vec();
            match edit {
                0 => { bytes.remove(at); }
                1 => bytes[at] = byte,
                _ => bytes.insert(at, byte),
            }
            let result = Config::from_json(&bytes);
            if broken_inside(&bytes) {
                prop_assert!(result.is_err(), "accepted malformed JSON: {}", String::from_utf8_lossy(&bytes));
            }
        }
    }

    #[test]
    fn the_valid_document_is_read() {
        assert!(!broken_inside(DOCUMENT.as_bytes()));
        let config = Config::from_json(DOCUMENT.as_bytes()).unwrap();
        assert_eq!(config.service_name(), "edge \"gw\"");
        assert_eq!(config.routes.len(), 2);
    }
}

/// Fields are matched by name: every field of every object, and every variant carrying a value,
/// reaches its reader (a listed field without one would fail with "no reader for this field").
#[test]
fn every_field_and_variant_has_a_reader() {
    let raw = |doc: &str| parse::config(&mut crate::json::Reader::new(doc.as_bytes())).map_err(|e| e.message);
    let all = r#"{
        "service": {"name": "s", "version": "1", "namespace": "n", "attributes": {"k": "v"}},
        "routes": ["/a"],
        "tracing": {"enabled": true, "extract": ["tracecontext", "b3", "b3multi"], "inject": ["b3"],
            "edge_policy": "restart", "sampling": {"ratio": 0.5, "routes": [{"route": "/a", "sample": 0.25}]},
            "trace_id_header": "x-t", "traceresponse": false, "error_on_4xx": true,
            "exporter": {"cluster": "c", "authority": "a", "path": "/p", "headers": {"h": "v"}, "timeout_ms": 1,
                "flush_interval_ms": 2, "max_batch_spans": 3, "max_queue_spans": 4, "max_in_flight": 5}},
        "metrics": {"enabled": true, "prefix": "p", "reporter": "gateway", "max_series": 6, "standard": false,
            "labels": ["route", {"name": "r", "from": "route"}], "duration_buckets": [1], "size_buckets": [2],
            "dimensions": [{"name": "a", "from": {"request_header": "x-a"}, "allow": ["1"], "missing": "none"},
                {"name": "b", "from": {"response_header": "x-b"}}, {"name": "c", "from": {"property": ["x", "y"]}},
                {"name": "d", "from": {"route": {"/a": "A"}}}],
            "custom": [{"name": "m", "kind": "duration", "unit": "ms", "buckets": [1], "labels": ["route"],
                "routes": ["/a"]}]},
        "access_log": {"enabled": true, "level": "warn", "sinks": ["proxy_log", "otlp"], "fields": ["status"],
            "extra": [{"name": "e", "from": {"request_header": "x-e"}}],
            "sampling": {"successes": 0.5, "errors": 1, "routes": [{"route": "/a", "ratio": 0.1}]},
            "otlp_path": "/v1/logs"},
        "security": {"enabled": true, "statuses": [401], "threshold": 7, "window_s": 8, "max_clients": 9},
        "redaction": {"headers": {"deny": ["x-secret"]}, "query_params": ["q"],
            "patterns": {"bearer": false, "jwt": false, "card_numbers": false, "emails": true},
            "custom": [{"regex": "a+", "prefix": "sk_", "min_len": 4}]}
    }"#;
    let c = raw(all).unwrap();
    assert_eq!((c.service.namespace.as_deref(), c.tracing.exporter.max_in_flight), (Some("n"), 5));
    assert_eq!((c.security.max_clients, c.redaction.custom[0].min_len), (9, Some(4)));
    assert!(matches!(c.tracing.edge_policy, raw::EdgePolicy::Restart));
    assert!(matches!(c.metrics.custom[0].unit, Some(raw::UnitName::Milliseconds)));
    assert!(matches!(c.metrics.dimensions[3].from, raw::DimensionSource::Route(_)));
    assert_eq!(c.access_log.otlp_path, "/v1/logs");
    let allow = raw(r#"{"redaction": {"headers": {"allow": ["accept"]}}}"#).unwrap();
    assert!(matches!(allow.redaction.headers, Some(raw::HeaderRule::Allow(_))));
    // serde's array form of a struct hands the fields over in declaration order, by name too.
    let array = raw(r#"{"tracing": {"sampling": [0.5, []]}, "security": [false, [403], 2, 3, 4]}"#).unwrap();
    assert_eq!((array.tracing.sampling.ratio, array.security.window_s, array.security.max_clients), (0.5, 3, 4));
}

#[test]
fn query_hash_keys_are_checked_and_never_quoted() {
    use crate::access_log::build::QueryHash;
    use crate::access_log::sha256::HmacKey;
    let query_hash = |json: &str| Config::from_json(json.as_bytes()).unwrap().access_log.unwrap().query_hash;
    assert_eq!(query_hash("{}"), QueryHash::Redacted);
    assert_eq!(
        query_hash(r#"{"access_log": {"query_hash": {"key": "0123456789abcdef"}}}"#),
        QueryHash::Keyed(HmacKey::new(b"0123456789abcdef"))
    );
    assert_eq!(
        error_of(r#"{"access_log": {"query_hash": {"key": "0123456789abcde"}}}"#),
        "access_log.query_hash.key: the key must be at least 16 bytes, got 15"
    );
    assert_eq!(
        error_of(r#"{"access_log": {"query_hash": {"key": "0123456789abcdef", "key_env": "K"}}}"#),
        "access_log.query_hash: set `key` or `key_env`, not both"
    );
    assert_eq!(
        error_of(r#"{"access_log": {"query_hash": {"key_env": ""}}}"#),
        "access_log.query_hash.key_env: must name an environment variable"
    );
    assert_eq!(
        error_of(r#"{"access_log": {"query_hash": {"key_env": "K"}}}"#),
        "access_log.query_hash.key_env: `K` is not set in the VM environment (Envoy \
         `vm_config.environment_variables`, Istio `vmConfig.env`)"
    );
    assert_eq!(
        error_of(r#"{"access_log": {"query_hash": {"salt": "x"}}}"#),
        "access_log.query_hash.salt: unknown field `salt`, expected `key` or `key_env`"
    );
    let env = |name: &str| (name == "K").then(|| String::from("a-key-from-the-environment"));
    let config = Config::from_json_with_env(br#"{"access_log": {"query_hash": {"key_env": "K"}}}"#, &env).unwrap();
    let query_hash = config.access_log.as_ref().unwrap().query_hash.clone();
    assert_eq!(query_hash, QueryHash::Keyed(HmacKey::new(b"a-key-from-the-environment")));
    assert!(!format!("{config:?}").contains("a-key-from-the-environment"));
}

#[test]
fn exporter_headers_that_http_cannot_carry_are_refused_naming_the_header() {
    let error = |headers: &str| {
        let json = format!(r#"{{"tracing": {{"exporter": {{"cluster": "c", "headers": {headers}}}}}}}"#);
        Config::from_json(json.as_bytes()).unwrap_err()
    };
    let e = error(r#"{"x-api-key": "a\r\nx-injected: 1"}"#);
    assert_eq!(e.field, "tracing.exporter.headers.x-api-key");
    assert!(e.message.contains("carriage return"), "{}", e.message);
    assert!(error(r#"{"x-api-key": "a\nb"}"#).message.contains("line feed"));
    assert!(error(r#"{"x-api-key": "a\u0000b"}"#).message.contains("NUL"));
    assert!(error(r#"{"x-api-key": "a\u0007b"}"#).message.contains("0x07"));
    assert!(error(r#"{"x-api-key": " padded"}"#).message.contains("whitespace"));
    let long = format!(r#"{{"x-api-key": "{}"}}"#, "k".repeat(8193));
    assert!(error(&long).message.contains("at most 8192"));
    let e = error(r#"{"Content-Type": "text/plain"}"#);
    assert_eq!(e.field, "tracing.exporter.headers.content-type");
    let many: Vec<String> = (0..33).map(|i| format!(r#""h{i}": "v""#)).collect();
    assert_eq!(error(&format!("{{{}}}", many.join(","))).field, "tracing.exporter.headers");
    let e = Config::from_json(br#"{"tracing": {"exporter": {"cluster": "c", "authority": "a b"}}}"#).unwrap_err();
    assert_eq!(e.field, "tracing.exporter.authority");
    // What real keys look like passes: tokens, base64, a tab inside.
    let ok = r#"{"tracing": {"exporter": {"cluster": "c", "headers": {"authorization": "Basic dXNlcjpwYXNz", "x-tags": "a\tb"}}}}"#;
    assert!(Config::from_json(ok.as_bytes()).is_ok());
}

#[test]
fn metrics_endpoint_and_otlp_errors_name_the_field() {
    let field = |json: &str| Config::from_json(json.as_bytes()).unwrap_err().field;
    assert_eq!(field(r#"{"metrics": {"endpoint": {"path": "metrics"}}}"#), "metrics.endpoint.path");
    assert_eq!(field(r#"{"metrics": {"endpoint": {"path": "/m?x=1"}}}"#), "metrics.endpoint.path");
    assert_eq!(
        field(r#"{"metrics": {"endpoint": {"allow": ["10.0.0.0/8", "10.0.0.0/40"]}}}"#),
        "metrics.endpoint.allow[1]"
    );
    assert_eq!(field(r#"{"metrics": {"otlp": {"interval_ms": 999}}}"#), "metrics.otlp.interval_ms");
    assert_eq!(field(r#"{"metrics": {"otlp": {"path": "v1/metrics"}}}"#), "metrics.otlp.path");
    assert_eq!(field(r#"{"tracing": {"enabled": false}, "metrics": {"otlp": {}}}"#), "metrics.otlp");
    let c = Config::from_json(br#"{"metrics": {"endpoint": {}, "otlp": {}}}"#).unwrap().metrics.unwrap();
    assert_eq!(c.endpoint.map(|e| e.path), Some(String::from("/meshlens/metrics")));
    assert_eq!(c.otlp.map(|o| (o.path, o.interval_ms)), Some((String::from("/v1/metrics"), 10_000)));
    assert!(c.exemplars, "exemplars are kept for OTLP metrics");
}

#[test]
fn span_attributes_are_read_lowercased_in_order() {
    let config = Config::from_json(
        br#"{"tracing": {"request_headers": ["Content-Type", "x-tenant"], "response_headers": ["cache-control"],
            "attributes": [{"key": "app.tenant", "from": {"request_header": "X-Tenant"}},
                           {"key": "envoy.route", "from": {"property": ["xds", "route_name"]}},
                           {"key": "envoy.upstream_port", "from": {"property": ["upstream", "port"]}},
                           {"key": "k8s.region", "from": {"property": ["node", "metadata", "REGION"]}}],
            "max_attribute_bytes": 64}}"#,
    )
    .unwrap();
    let a = config.tracing.unwrap().attributes;
    let keys: Vec<&str> = a.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "http.request.header.content-type",
            "http.request.header.x-tenant",
            "http.response.header.cache-control",
            "app.tenant",
            "envoy.route",
            "envoy.upstream_port",
            "k8s.region"
        ]
    );
    use crate::tracer::attributes::Shape;
    let shapes: Vec<Shape> = a.entries.iter().map(|e| e.shape).collect();
    assert_eq!(
        shapes,
        [Shape::Values, Shape::Values, Shape::Values, Shape::Text, Shape::Text, Shape::Int, Shape::Text]
    );
    assert_eq!(a.entries[3].source, crate::metrics::DimensionSource::RequestHeader("x-tenant".into()));
    assert_eq!(a.max_value_bytes, 64);
    let defaults = Config::from_json(b"{}").unwrap().tracing.unwrap().attributes;
    assert!(defaults.is_empty());
    assert_eq!(defaults.max_value_bytes, 256);
}

#[test]
fn span_attribute_errors_name_the_field() {
    let cases = [
        (
            r#"{"request_headers": ["bad header"]}"#,
            "tracing.request_headers[0]: `bad header` is not a valid HTTP header name",
        ),
        (r#"{"response_headers": ["a", "A"]}"#, "tracing.response_headers[1]: `a` is listed twice"),
        (
            r#"{"attributes": [{"key": "http.request.header.x", "from": {"request_header": "x"}}]}"#,
            "tracing.attributes[0].key: `http.request.header.x` is in the `http.` namespace, which meshlens fills itself (headers are captured with tracing.request_headers and tracing.response_headers)",
        ),
        (
            r#"{"attributes": [{"key": "client.address", "from": {"request_header": "x-real-ip"}}]}"#,
            "tracing.attributes[0].key: `client.address` is in the `client.` namespace, which meshlens fills itself (headers are captured with tracing.request_headers and tracing.response_headers)",
        ),
        (
            r#"{"attributes": [{"key": "Tenant", "from": {"request_header": "x"}}]}"#,
            "tracing.attributes[0].key: `Tenant` is not a valid attribute key (up to 128 bytes of a-z, 0-9, `.`, `_`, `-`, starting with a letter)",
        ),
        (
            r#"{"attributes": [{"key": "a", "from": {"request_header": "x"}}, {"key": "a", "from": {"request_header": "y"}}]}"#,
            "tracing.attributes[1].key: `a` is already an attribute",
        ),
        (
            r#"{"attributes": [{"key": "a", "from": {"property": ["request", "headers", "authorization"]}}]}"#,
            "tracing.attributes[0].from.property: `request.headers.authorization` is not an allowed Envoy attribute (see the README's list; headers are read with request_header or response_header)",
        ),
        (
            r#"{"attributes": [{"key": "a", "from": {"route": {}}}]}"#,
            "tracing.attributes[0].from: must be a request_header, response_header or property",
        ),
        (r#"{"max_attribute_bytes": 8}"#, "tracing.max_attribute_bytes: must be from 32 to 16384, got 8"),
    ];
    for (tracing, expected) in cases {
        assert_eq!(error_of(&format!(r#"{{"tracing": {tracing}}}"#)), expected, "{tracing}");
    }
    let many: Vec<String> = (0..33).map(|i| format!("\"x-h{i}\"")).collect();
    assert_eq!(
        error_of(&format!(r#"{{"tracing": {{"request_headers": [{}]}}}}"#, many.join(","))),
        "tracing.request_headers: at most 32 span attributes (request_headers, response_headers and attributes together), got 33"
    );
    let twenty: Vec<String> = (0..20).map(|i| format!("\"x-h{i}\"")).collect();
    assert_eq!(
        error_of(&format!(
            r#"{{"tracing": {{"request_headers": [{0}], "response_headers": [{0}]}}}}"#,
            twenty.join(",")
        )),
        "tracing.response_headers: at most 32 span attributes (request_headers, response_headers and attributes together), got 40"
    );
}
