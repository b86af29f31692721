use serde_json::Value;

use super::*;

fn preset(id: &str) -> Input {
    presets().into_iter().find(|p| p.id == id).map(|p| p.input).unwrap()
}

/// The only place the tests call `simulate`: the output, checked for what every run must have.
fn check(input: &Input) -> Output {
    let out = simulate(input);
    assert_eq!((&out.input_error, &out.config_error), (&None, &None));
    assert!(!out.downstream_response_headers.is_empty());
    // The JSON the browser gets is the same output.
    let json: Value = serde_json::from_str(&simulate_json(&serde_json::to_string(input).unwrap())).unwrap();
    assert_eq!(json, serde_json::to_value(&out).unwrap());
    out
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"].as_array()?.iter().find(|a| a["key"] == key).map(|a| &a["value"])
}

#[test]
fn presets_are_data_every_one_runs() {
    let all = presets();
    let ids: Vec<&str> = all.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        ["w3c-caller", "b3-caller", "no-context", "invalid-context", "auth-failure", "slow-query", "upstream-5xx"]
    );
    // The JSON is read whole: no preset is silently dropped.
    assert_eq!(serde_json::from_str::<Vec<Preset>>(PRESETS).unwrap(), all);
    for p in &all {
        let out = check(&p.input);
        assert!(out.decision.is_some(), "{}", p.id);
        assert!(out.upstream_request_headers.is_some(), "{}: every preset reaches the upstream", p.id);
    }
}

#[test]
fn w3c_caller_continues_the_trace_on_the_parent_flag() {
    let out = check(&preset("w3c-caller"));
    let d = out.decision.unwrap();
    assert_eq!(
        (d.trace, d.extracted, d.tracestate, d.reason.rule),
        ("continued", Some("tracecontext"), "kept", "parent")
    );
    assert_eq!(d.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert!(d.sampled);
    assert_eq!(
        d.explanation,
        "Continued the caller's trace from W3C Trace Context (traceparent); sampled: the caller's sampled flag is set."
    );
    let up = out.upstream_request_headers.unwrap();
    assert!(header(&up, "traceparent").unwrap().starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
    assert_eq!(header(&up, "tracestate"), Some("congo=t61rcWkgMzE"));
    assert_eq!(header(&out.downstream_response_headers, "x-trace-id"), Some(d.trace_id.as_str()));
    // SERVER (kind 2) and CLIENT (kind 3), the SERVER's parent the caller's span.
    let kinds: Vec<i64> = out.spans.iter().map(|s| s["kind"].as_i64().unwrap()).collect();
    assert_eq!(kinds, [2, 3]);
    assert_eq!(out.spans[0]["parentSpanId"], "00f067aa0ba902b7");
    assert_eq!(out.spans[0]["spanId"], d.span_id.as_str());
    assert_eq!(out.spans[0]["name"], "GET /api/v1/schema");
    assert!(out.resource.unwrap()["attributes"].to_string().contains("chat2sql"));
    assert!(out.metrics.iter().any(|m| m.name == telemetry_core::names::SPANS_EXPORTED && m.delta == 2));
}

#[test]
fn b3_caller_is_continued_from_b3() {
    let d = check(&preset("b3-caller")).decision.unwrap();
    assert_eq!(
        (d.extracted, d.trace, d.trace_id.as_str()),
        (Some("b3"), "continued", "80f198ee56343ba864fe8b2a57d3eff7")
    );
}

#[test]
fn no_context_starts_a_trace_on_the_default_ratio() {
    let out = check(&preset("no-context"));
    let d = out.decision.unwrap();
    assert_eq!((d.trace, d.extracted, d.reason.rule, d.reason.ratio), ("started", None, "default_ratio", Some(0.5)));
    assert_eq!(out.spans.len(), if d.sampled { 2 } else { 0 });
    // Another seed, other ids: the seed is the host's random source.
    let other = check(&Input { seed: 7, ..preset("no-context") }).decision.unwrap();
    assert_ne!(other.trace_id, d.trace_id);
}

#[test]
fn invalid_context_is_seen_and_counted() {
    let out = check(&preset("invalid-context"));
    let d = out.decision.unwrap();
    assert_eq!((d.trace, d.invalid_context), ("started", true));
    assert!(d.explanation.starts_with("Started a new trace: the incoming trace context was invalid"));
    let invalid = out.metrics.iter().find(|m| m.name == telemetry_core::names::TRACE_CONTEXT_INVALID).unwrap();
    assert_eq!(invalid.delta, 1);
}

#[test]
fn auth_failure_redacts_the_bearer_token_everywhere() {
    let input = preset("auth-failure");
    assert!(input.config.is_some(), "the preset brings the configuration that shows the header");
    let out = check(&input);
    assert_eq!(out.decision.as_ref().unwrap().reason.rule, "route_always");
    let text = serde_json::to_string(&(&out.spans, &out.access_log)).unwrap();
    assert!(!text.contains("eyJhbGciOiJIUzI1NiJ9"), "{text}");
    assert_eq!(out.access_log.len(), 1);
    assert!(
        out.access_log[0].contains("\"status\":401") && out.access_log[0].contains("[REDACTED]"),
        "{}",
        out.access_log[0]
    );
    let server = &out.spans[0];
    assert!(attribute(server, "http.request.header.authorization").unwrap().to_string().contains("[REDACTED]"));
    assert!(!out.redactions.is_empty());
    assert!(out.redactions.iter().all(|r| r.count > 0));
}

#[test]
fn slow_query_is_always_sampled_and_lasts_its_latency() {
    let out = check(&preset("slow-query"));
    let d = out.decision.unwrap();
    assert_eq!((d.reason.rule, d.sampled), ("route_always", true));
    let server = &out.spans[0];
    let nanos = |k: &str| server[k].as_str().unwrap().parse::<u64>().unwrap();
    assert_eq!(nanos("endTimeUnixNano") - nanos("startTimeUnixNano"), 2_500_000_000);
    assert_eq!(nanos("startTimeUnixNano"), DEFAULT_START_UNIX_MS * 1_000_000);
    assert_eq!(server["name"], "POST /api/v1/query");
}

#[test]
fn upstream_5xx_is_an_error_span() {
    let out = check(&preset("upstream-5xx"));
    let server = &out.spans[0];
    assert_eq!(server["status"]["code"], 2);
    assert_eq!(attribute(server, "error.type").unwrap()["stringValue"], "503");
}

#[test]
fn a_local_reply_sends_nothing_upstream() {
    let mut input = preset("upstream-5xx");
    input.response.from_upstream = false;
    assert_eq!(check(&input).upstream_request_headers, None);
}

#[test]
fn the_default_configuration_is_valid() {
    assert_eq!(validate(DEFAULT_CONFIG), Validation { ok: true, error: None });
    assert_eq!(validate_json(DEFAULT_CONFIG), r#"{"ok":true}"#);
    assert_eq!(validate(""), Validation { ok: true, error: None }, "empty: every default");
}

#[test]
fn an_invalid_configuration_names_its_field_and_the_line_the_module_logs() {
    let v = validate(r#"{"tracing": {"sampling": {"ratio": 2}}}"#);
    let e = v.error.unwrap();
    assert!(!v.ok);
    assert_eq!(e.path, "tracing.sampling.ratio");
    assert_eq!(e.log, format!("meshlens: invalid plugin configuration: {}: {}", e.path, e.message));
    let e = validate("{not json").error.unwrap();
    assert!(e.log.starts_with("meshlens: invalid plugin configuration: "), "{}", e.log);
    // `simulate` stops there, with the same error, logged at error level as the module does.
    let out = simulate(&Input { config: Some(String::from(r#"{"routes": 1}"#)), ..Input::default() });
    let e = out.config_error.unwrap();
    assert_eq!(e.path, "routes");
    assert_eq!(out.logs, [LogLine { level: "error", message: e.log }]);
    assert!(out.decision.is_none() && out.spans.is_empty());
}

#[test]
fn unreadable_input_is_reported_not_run() {
    let out: Value = serde_json::from_str(&simulate_json(r#"{"request": {"verb": "GET"}}"#)).unwrap();
    assert!(out["input_error"].as_str().unwrap().contains("verb"), "{out}");
    let out: Value = serde_json::from_str(&simulate_json("[]")).unwrap();
    assert!(out["input_error"].is_string());
    let big = Input { request: Request { body_bytes: MAX_BODY_BYTES + 1, ..Request::default() }, ..Input::default() };
    assert!(simulate(&big).input_error.is_some());
}

#[test]
fn an_empty_input_is_a_get_answered_200() {
    let out: Value = serde_json::from_str(&simulate_json("{}")).unwrap();
    assert_eq!(out["decision"]["trace"], "started");
    assert!(out["upstream_request_headers"].is_array());
    // Every key the TypeScript declaration promises is there.
    for key in [
        "decision",
        "upstream_request_headers",
        "downstream_response_headers",
        "spans",
        "resource",
        "access_log",
        "metrics",
        "redactions",
        "logs",
    ] {
        assert!(out.get(key).is_some(), "{key}");
    }
}
