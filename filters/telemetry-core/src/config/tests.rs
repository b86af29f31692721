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
    assert_eq!(tracing.exporter.cluster, "otel_collector");
    assert_eq!(tracing.exporter.authority, "otel_collector");
    assert_eq!(tracing.exporter.path, "/v1/traces");
    assert_eq!(config.resource.attributes[0], KeyValue::string("service.name", "unknown_service:meshlens"));
    assert!(Config::from_json(b"  {} ").is_ok());
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
                         "headers": {"X-Api-Key": "k"}}
        }}"#,
    )
    .unwrap();
    assert_eq!(config.routes.len(), 3, "/health is added by its sampling rule");
    let t = config.tracing.unwrap();
    assert_eq!(t.edge_policy, EdgePolicy::Restart);
    assert_eq!(t.trace_id_header.as_deref(), Some("x-request-trace"));
    assert_eq!(t.exporter.headers, [("x-api-key".to_owned(), "k".to_owned())]);
    assert_eq!(t.exporter.authority, "jaeger:4318");
    assert!(t.error_on_4xx && !t.traceresponse);
    let id = config.routes.id_of("/api/v1/query");
    let trace = crate::ids::IdGenerator::from_seed([9; 32]).trace_id();
    assert!(t.sampler.should_sample(trace, Some(false), id));
}

#[test]
fn errors_name_the_field_and_the_problem() {
    assert_eq!(
        error_of(r#"{"tracing": {"sampling": {"ratio": 1.5}}}"#),
        "tracing.sampling.ratio: must be a number from 0 to 1, got 1.5"
    );
    assert_eq!(
        error_of(r#"{"tracing": {"sampler": {}}}"#),
        "tracing.sampler: unknown field `sampler`, expected one of `enabled`, `extract`, `inject`, `edge_policy`, `sampling`, `trace_id_header`, `traceresponse`, `error_on_4xx`, `exporter`"
    );
    assert_eq!(
        error_of(r#"{"tracing": {"edge_policy": "maybe"}}"#),
        "tracing.edge_policy: unknown variant `maybe`, expected `trust` or `restart`"
    );
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
