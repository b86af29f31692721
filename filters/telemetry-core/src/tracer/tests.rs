use super::*;
use crate::config::Config;
use crate::redact::{Counts, Policy};
use crate::span::Value;

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn setup(json: &str) -> (Config, IdGenerator) {
    (Config::from_json(json.as_bytes()).unwrap(), IdGenerator::from_seed([42; 32]))
}

fn headers(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = [
        (":method", "GET"),
        (":path", "/users/42?token=secret"),
        (":scheme", "http"),
        (":authority", "api.example.com:8080"),
        ("user-agent", "curl/8.0"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    h.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    h
}

fn start_with(json: &str, extra: &[(&str, &str)]) -> (Config, Started) {
    let (config, mut ids) = setup(json);
    let started = start(config.tracing.as_ref().unwrap(), &config.routes, &mut ids, &headers(extra), 1_000);
    (config, started)
}

fn injected<'a>(s: &'a Started, name: &str) -> Option<&'a str> {
    s.inject.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
}

#[test]
fn a_valid_traceparent_keeps_its_trace_id_and_gets_a_new_parent_id() {
    let (_, s) = start_with("{}", &[("traceparent", PARENT), ("tracestate", "congo=t61rcWkgMzE")]);
    let out = injected(&s, "traceparent").unwrap();
    assert!(out.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{out}");
    assert!(out.ends_with("-01"));
    assert_ne!(&out[36..52], "00f067aa0ba902b7");
    assert_eq!(&out[36..52], s.span.context.span_id.to_hex());
    assert_eq!(injected(&s, "tracestate"), Some("congo=t61rcWkgMzE"));
    assert_eq!(s.span.parent.map(|p| p.to_hex()).as_deref(), Some("00f067aa0ba902b7"));
    assert!(!s.invalid_context);
}

#[test]
fn missing_or_invalid_context_starts_a_new_trace() {
    let (_, fresh) = start_with("{}", &[]);
    assert!(!fresh.invalid_context);
    assert_eq!(fresh.span.parent, None);
    let (_, bad) = start_with(
        "{}",
        &[("traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"), ("tracestate", "a=b")],
    );
    assert!(bad.invalid_context);
    assert_eq!(bad.span.parent, None);
    assert_ne!(bad.span.context.trace_id.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(injected(&bad, "tracestate"), None, "tracestate of an invalid traceparent is not forwarded");
    assert_eq!(bad.remove, ["tracestate"]);
}

#[test]
fn restart_policy_links_the_incoming_context_and_strips_its_headers() {
    let (config, s) = start_with(r#"{"tracing": {"edge_policy": "restart"}}"#, &[("traceparent", PARENT), ("b3", "1")]);
    assert_ne!(s.span.context.trace_id.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(s.span.parent, None);
    assert_eq!(s.remove, ["b3"]);
    let span = finish(
        config.tracing.as_ref().unwrap(),
        &config.routes,
        s.span,
        &request_attributes(&headers(&[]), &config.routes),
        &Completion::default(),
        &Policy::default_policy(),
        &mut Counts::default(),
    )
    .unwrap();
    assert_eq!(span.links.len(), 1);
    assert_eq!(span.links[0].trace_id.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(span.links[0].span_id.to_hex(), "00f067aa0ba902b7");
}

#[test]
fn unsampled_parent_propagates_unsampled_and_records_nothing() {
    let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    let (config, s) = start_with("{}", &[("traceparent", unsampled)]);
    assert!(injected(&s, "traceparent").unwrap().ends_with("-00"));
    assert!(!s.span.sampled);
    assert_eq!(
        finish(
            config.tracing.as_ref().unwrap(),
            &config.routes,
            s.span,
            &request_attributes(&headers(&[]), &config.routes),
            &Completion::default(),
            &Policy::default_policy(),
            &mut Counts::default()
        ),
        None
    );
}

#[test]
fn route_rule_always_samples_even_an_unsampled_parent() {
    let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    let (_, s) = start_with(
        r#"{"tracing": {"sampling": {"ratio": 0, "routes": [{"route": "/users/{id}", "sample": "always"}]}}}"#,
        &[("traceparent", unsampled)],
    );
    assert!(s.span.sampled);
    assert!(injected(&s, "traceparent").unwrap().ends_with("-01"));
}

#[test]
fn b3_in_b3_out() {
    let (_, s) = start_with(
        r#"{"tracing": {"inject": ["tracecontext", "b3", "b3multi"]}}"#,
        &[("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")],
    );
    assert_eq!(s.span.context.trace_id.to_hex(), "80f198ee56343ba864fe8b2a57d3eff7");
    let b3 = injected(&s, "b3").unwrap();
    assert!(b3.starts_with("80f198ee56343ba864fe8b2a57d3eff7-"), "{b3}");
    assert_eq!(injected(&s, "x-b3-traceid"), Some("80f198ee56343ba864fe8b2a57d3eff7"));
    assert_eq!(injected(&s, "x-b3-sampled"), Some("1"));
}

#[test]
fn response_headers_carry_the_trace_id_and_traceresponse() {
    let (config, s) = start_with("{}", &[("traceparent", PARENT)]);
    let mut out: Vec<(String, String)> = Vec::new();
    response_headers(config.tracing.as_ref().unwrap(), &s.span, |n, v| out.push((n.to_owned(), v.to_owned())));
    assert_eq!(out[0], ("x-trace-id".to_owned(), "4bf92f3577b34da6a3ce929d0e0e4736".to_owned()));
    assert_eq!(out[1].0, "traceresponse");
    assert_eq!(out[1].1, format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01", s.span.context.span_id.to_hex()));
}

#[test]
fn finished_span_has_http_semantic_convention_attributes() {
    let (config, s) = start_with(r#"{"routes": ["/users/{id}"]}"#, &[("traceparent", PARENT)]);
    let done = Completion {
        end_unix_nanos: 5_000,
        status: 503,
        request_body_bytes: Some(0),
        response_body_bytes: Some(19),
        client_address: Some("127.0.0.1:51234".into()),
        forwarded_for: None,
        protocol: Some("HTTP/1.1".into()),
        ..Completion::default()
    };
    let span = finish(
        config.tracing.as_ref().unwrap(),
        &config.routes,
        s.span,
        &request_attributes(&headers(&[]), &config.routes),
        &done,
        &Policy::default_policy(),
        &mut Counts::default(),
    )
    .unwrap();
    assert_eq!(span.name, "GET /users/{id}");
    assert_eq!(span.kind, SpanKind::Server);
    assert_eq!((span.start_unix_nanos, span.end_unix_nanos), (1_000, 5_000));
    assert_eq!(span.status.code, StatusCode::Error);
    let attr = |k: &str| span.attributes.iter().find(|kv| kv.key == k).map(|kv| kv.value.clone());
    let s = |v: &str| Some(Value::String(v.into()));
    assert_eq!(attr("http.request.method"), s("GET"));
    assert_eq!(attr("url.path"), s("/users/42"), "query string is never recorded");
    assert_eq!(attr("http.route"), s("/users/{id}"));
    assert_eq!(attr("http.response.status_code"), Some(Value::Int(503)));
    assert_eq!(attr("server.address"), s("api.example.com"));
    assert_eq!(attr("server.port"), Some(Value::Int(8080)));
    assert_eq!(attr("client.address"), s("127.0.0.1"));
    assert_eq!(attr("client.port"), Some(Value::Int(51234)));
    assert_eq!(attr("network.peer.address"), s("127.0.0.1"));
    assert_eq!(attr("network.peer.port"), Some(Value::Int(51234)));
    assert_eq!(attr("user_agent.original"), s("curl/8.0"));
    assert_eq!(attr("network.protocol.version"), s("1.1"));
    assert_eq!(attr("http.response.body.size"), Some(Value::Int(19)));
    assert_eq!(attr("error.type"), s("503"));
}

#[test]
fn status_4xx_is_an_error_only_when_configured() {
    for (json, expected) in [("{}", StatusCode::Unset), (r#"{"tracing": {"error_on_4xx": true}}"#, StatusCode::Error)] {
        let (config, s) = start_with(json, &[]);
        let done = Completion { status: 404, ..Completion::default() };
        let span = finish(
            config.tracing.as_ref().unwrap(),
            &config.routes,
            s.span,
            &request_attributes(&headers(&[]), &config.routes),
            &done,
            &Policy::default_policy(),
            &mut Counts::default(),
        )
        .unwrap();
        assert_eq!(span.status.code, expected, "{json}");
    }
}

#[test]
fn unknown_methods_are_reported_as_other() {
    let (config, mut ids) = setup("{}");
    let h = vec![(":method".to_owned(), "PURGE".to_owned()), (":path".to_owned(), "/".to_owned())];
    let s = start(config.tracing.as_ref().unwrap(), &config.routes, &mut ids, &h, 0);
    let span = finish(
        config.tracing.as_ref().unwrap(),
        &config.routes,
        s.span,
        &request_attributes(&h, &config.routes),
        &Completion::default(),
        &Policy::default_policy(),
        &mut Counts::default(),
    )
    .unwrap();
    assert_eq!(span.name, "HTTP");
    assert!(span.attributes.contains(&KeyValue::string("http.request.method", "_OTHER")));
    assert!(span.attributes.contains(&KeyValue::string("http.request.method_original", "PURGE")));
}

#[test]
fn a_connect_request_has_no_url_path_and_no_route() {
    let (config, mut ids) = setup(r#"{"routes": ["/"]}"#);
    let h = vec![(":method".to_owned(), "CONNECT".to_owned()), (":authority".to_owned(), "db:5432".to_owned())];
    let s = start(config.tracing.as_ref().unwrap(), &config.routes, &mut ids, &h, 0);
    let span = finish(
        config.tracing.as_ref().unwrap(),
        &config.routes,
        s.span,
        &request_attributes(&h, &config.routes),
        &Completion { status: 200, ..Completion::default() },
        &Policy::default_policy(),
        &mut Counts::default(),
    )
    .unwrap();
    assert_eq!(span.name, "CONNECT");
    assert!(!span.attributes.iter().any(|a| a.key == "url.path" || a.key == "http.route"), "{:?}", span.attributes);
    assert!(span.attributes.contains(&KeyValue::string("server.address", "db")));
}

#[test]
fn host_port_splitting() {
    assert_eq!(split_host_port("a:80"), ("a", Some(80)));
    assert_eq!(split_host_port("a"), ("a", None));
    assert_eq!(split_host_port("[::1]:443"), ("::1", Some(443)));
    assert_eq!(split_host_port("::1"), ("::1", None));
    assert_eq!(split_host_port("a:x"), ("a:x", None));
}

#[test]
fn b3_ids_without_a_sampling_state_leave_the_decision_to_the_sampler() {
    let (_, s) = start_with(
        r#"{"tracing": {"sampling": {"ratio": 1.0}}}"#,
        &[("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1")],
    );
    assert!(s.span.sampled, "deferred, so the 100% ratio decides");
    let (_, s) = start_with(
        r#"{"tracing": {"sampling": {"ratio": 0.0}}}"#,
        &[("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1")],
    );
    assert!(!s.span.sampled);
}

#[test]
fn undefined_trace_flags_are_not_echoed() {
    // `fd`: every bit but `random-trace-id`; `ff`: every bit. Only `sampled` and `random` pass.
    for (received, sent) in [("fd", "01"), ("ff", "03"), ("fc", "00")] {
        let tp = format!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{received}");
        let json = r#"{"tracing": {"sampling": {"ratio": 0}}}"#;
        let (config, s) = start_with(json, &[("traceparent", tp.as_str())]);
        assert!(injected(&s, "traceparent").unwrap().ends_with(&format!("-{sent}")), "{received}");
        let mut out: Vec<(String, String)> = Vec::new();
        response_headers(config.tracing.as_ref().unwrap(), &s.span, |n, v| out.push((n.to_owned(), v.to_owned())));
        assert!(out[1].1.ends_with(&format!("-{sent}")), "{received}: {}", out[1].1);
    }
}

/// The flags sent upstream, in `traceresponse`, in the exported span and in its link, for one
/// request through `start`, `response_headers` and `finish`.
fn flags_everywhere(json: &str, extra: &[(&str, &str)]) -> (String, String, Option<u8>, Option<u8>) {
    let (config, s) = start_with(json, extra);
    let cfg = config.tracing.as_ref().unwrap();
    let upstream = injected(&s, "traceparent").unwrap().rsplit('-').next().unwrap().to_owned();
    let mut out: Vec<(String, String)> = Vec::new();
    response_headers(cfg, &s.span, |n, v| out.push((n.to_owned(), v.to_owned())));
    let response = out[1].1.rsplit('-').next().unwrap().to_owned();
    let req = request_attributes(&headers(extra), &config.routes);
    let span = finish(
        cfg,
        &config.routes,
        s.span,
        &req,
        &Completion::default(),
        &Policy::default_policy(),
        &mut Counts::default(),
    );
    let link = span.as_ref().and_then(|s| s.links.first()).map(|l| l.flags);
    (upstream, response, span.map(|s| s.flags), link)
}

#[test]
fn random_flag_is_set_on_trace_ids_the_module_generates() {
    // Level 2 "Random Trace ID Flag": a new trace id of this module's own is random.
    let f = |s: &str| s.to_owned();
    assert_eq!(flags_everywhere("{}", &[]), (f("03"), f("03"), Some(0x03), None));
    let unsampled = r#"{"tracing": {"sampling": {"ratio": 0}}}"#;
    assert_eq!(flags_everywhere(unsampled, &[]), (f("02"), f("02"), None, None));
    // An invalid traceparent starts a new trace: the id is ours.
    let bad = [("traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-00")];
    assert_eq!(flags_everywhere("{}", &bad), (f("03"), f("03"), Some(0x03), None));
    // A sampling decision without ids (`b3: 1`) also gets a new id of ours.
    assert_eq!(flags_everywhere("{}", &[("b3", "1")]), (f("03"), f("03"), Some(0x03), None));
}

#[test]
fn random_flag_of_a_continued_trace_is_kept_as_received() {
    let f = |s: &str| s.to_owned();
    let tp = |flags: &str| format!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{flags}");
    assert_eq!(flags_everywhere("{}", &[("traceparent", &tp("03"))]), (f("03"), f("03"), Some(0x03), None));
    assert_eq!(flags_everywhere("{}", &[("traceparent", &tp("01"))]), (f("01"), f("01"), Some(0x01), None));
    assert_eq!(flags_everywhere("{}", &[("traceparent", &tp("02"))]), (f("02"), f("02"), None, None));
    // The caller's sampling decision can change (a route rule), its random bit cannot.
    let always = r#"{"routes": ["/users/{id}"], "tracing": {"sampling": {"routes": [{"route": "/users/{id}", "sample": "always"}]}}}"#;
    assert_eq!(flags_everywhere(always, &[("traceparent", &tp("02"))]), (f("03"), f("03"), Some(0x03), None));
    // B3 promises nothing about randomness.
    let b3 = [("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")];
    assert_eq!(flags_everywhere("{}", &b3), (f("01"), f("01"), Some(0x01), None));
}

#[test]
fn restart_sets_the_random_flag_and_links_the_callers_flags() {
    // `restart`: the new trace id is the module's own, so it is random whatever the caller said;
    // the link keeps the caller's defined flags as received.
    let f = |s: &str| s.to_owned();
    let restart = r#"{"tracing": {"edge_policy": "restart"}}"#;
    let tp = |flags: &str| format!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{flags}");
    assert_eq!(flags_everywhere(restart, &[("traceparent", &tp("01"))]), (f("03"), f("03"), Some(0x03), Some(0x01)));
    assert_eq!(flags_everywhere(restart, &[("traceparent", &tp("ff"))]), (f("03"), f("03"), Some(0x03), Some(0x03)));
    assert_eq!(flags_everywhere(restart, &[("traceparent", &tp("00"))]), (f("03"), f("03"), Some(0x03), Some(0x00)));
}

#[test]
fn ratio_sampling_of_generated_ids_is_unchanged_by_the_random_flag() {
    // The sampler reads the id's low 64 bits; the ids carry the random flag and are still
    // sampled at about the configured ratio.
    let (config, mut ids) = setup(r#"{"tracing": {"sampling": {"ratio": 0.25}}}"#);
    let cfg = config.tracing.as_ref().unwrap();
    let h = headers(&[]);
    let runs: Vec<Started> = (0..4_000).map(|_| start(cfg, &config.routes, &mut ids, &h, 1)).collect();
    assert!(runs.iter().all(|s| s.span.context.flags.random()));
    let sampled = runs.iter().filter(|s| s.span.sampled).count();
    // Binomial(4000, 0.25): sd ~27; 5 sd either side.
    assert!((865..=1_135).contains(&sampled), "{sampled}");
    assert!(
        runs.iter()
            .all(|s| s.span.sampled == crate::sampler::Ratio::new(0.25).unwrap().samples(s.span.context.trace_id))
    );
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn header_value() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,80}",
            "[0-9a-f-]{0,60}",
            Just(PARENT.to_owned()),
            "0[0-9a-f]-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}.{0,8}",
            "[0-9a-f]{16,32}-[0-9a-f]{16}(-[01d])?(-[0-9a-f]{16})?",
        ]
    }

    proptest! {
        /// Whatever a client sends, the tracer neither panics nor sends an invalid traceparent upstream.
        #[test]
        fn on_any_trace_headers(
            values in proptest::collection::vec(header_value(), 8),
            path in "/.{0,40}",
            method in "[A-Z]{0,8}",
            policy in prop_oneof![Just("trust"), Just("restart")],
            status in 0u16..700,
        ) {
            let json = format!(r#"{{"routes": ["/users/{{id}}"], "tracing": {{"edge_policy": "{policy}", "inject": ["tracecontext", "b3", "b3multi"]}}}}"#);
            let (config, mut ids) = setup(&json);
            let names = ["traceparent", "tracestate", "b3", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-flags", "x-b3-parentspanid"];
            let mut h: Vec<(String, String)> = names.iter().zip(&values).map(|(n, v)| ((*n).to_owned(), v.clone())).collect();
            h.push((":path".into(), path));
            h.push((":method".into(), method));
            let cfg = config.tracing.as_ref().unwrap();
            let s = start(cfg, &config.routes, &mut ids, &h, 10);
            let tp = s.inject.iter().find(|(n, _)| *n == "traceparent").map(|(_, v)| v.clone()).unwrap();
            prop_assert!(traceparent::parse(&tp).is_some(), "{}", tp);
            let mut out: Vec<(String, String)> = Vec::new();
            response_headers(cfg, &s.span, |n, v| out.push((n.to_owned(), v.to_owned())));
            let done = Completion { end_unix_nanos: 5, status, ..Completion::default() };
            if let Some(span) = finish(cfg, &config.routes, s.span, &request_attributes(&h, &config.routes), &done, &Policy::default_policy(), &mut Counts::default()) {
                prop_assert!(span.end_unix_nanos >= span.start_unix_nanos);
                let json = crate::otlp::encode_traces(&config.resource, &[span]);
                prop_assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
            }
        }
    }
}

#[test]
fn request_attributes_keep_the_first_value_of_each_header() {
    let routes = RouteTable::new(["/users/{id}"]).unwrap();
    let h = headers(&[("User-Agent", "second/1.0"), ("X-Request-Id", "abc-1"), ("x-request-id", "abc-2")]);
    let a = request_attributes(&h, &routes);
    assert_eq!(a.method(), Some("GET"));
    assert_eq!(a.raw_path(), "/users/42?token=secret");
    assert_eq!(a.path(), "/users/42");
    assert_eq!(a.route, routes.id_of("/users/{id}"));
    assert_eq!((a.scheme(), a.authority()), (Some("http"), Some("api.example.com:8080")));
    assert_eq!(a.user_agent(), Some("curl/8.0"));
    assert_eq!(a.request_id(), Some("abc-1"));
}

#[test]
fn request_attributes_of_a_request_without_headers() {
    let a = request_attributes(&Vec::<(String, String)>::new(), &RouteTable::new(["/"]).unwrap());
    assert_eq!((a.method(), a.raw_path(), a.path()), (None, "", "/"));
    assert_eq!(a.route, None, "no :path matches no route, not even `/`");
    let root = request_attributes(&vec![(String::from(":path"), String::from("/"))], &RouteTable::new(["/"]).unwrap());
    assert_eq!(root.route, Some(crate::route::RouteId(0)));
    assert_eq!((a.scheme(), a.authority(), a.user_agent(), a.request_id()), (None, None, None, None));
    let empty = request_attributes(&vec![(String::from(":authority"), String::new())], &RouteTable::default());
    assert_eq!(empty.authority(), Some(""), "present but empty is not absent");
}

mod decision {
    //! The decision record [`start`] keeps: one test per origin, tracestate fate and sampler rule.

    use super::*;
    use crate::sampler::{Ratio, SampleReason};

    const SAMPLING: &str = r#""sampling": {"ratio": 0.25, "routes": [
        {"route": "/always", "sample": "always"}, {"route": "/never", "sample": "never"},
        {"route": "/half", "sample": 0.5}]}"#;

    /// The decision for a request to `path` with `extra` headers under `tracing` (JSON members).
    fn decide(tracing: &str, path: &str, extra: &[(&str, &str)]) -> Decision {
        let json = format!(r#"{{"routes": ["/always", "/never", "/half"], "tracing": {{{tracing}}}}}"#);
        let (config, mut ids) = setup(&json);
        let mut h = headers(extra);
        h.retain(|(k, _)| k != ":path");
        h.push((String::from(":path"), path.to_owned()));
        let started = start(config.tracing.as_ref().unwrap(), &config.routes, &mut ids, &h, 1_000);
        assert_eq!(started.decision.sampled, started.span.sampled, "the record is the decision's");
        assert_eq!(started.decision.invalid_context, started.invalid_context);
        started.decision
    }

    fn ratio(r: f64) -> Ratio {
        Ratio::new(r).unwrap()
    }

    #[test]
    fn continued_w3c_trace_sampled_by_the_parent_flag() {
        let d = decide(SAMPLING, "/users/1", &[("traceparent", PARENT), ("tracestate", "congo=t61rcWkgMzE")]);
        assert_eq!(d.extracted, Some(Format::TraceContext));
        assert_eq!(
            (d.trace, d.tracestate, d.edge_policy),
            (TraceOrigin::Continued, TraceStateFate::Kept, EdgePolicy::Trust)
        );
        assert_eq!((d.sampled, d.reason, d.invalid_context), (true, SampleReason::Parent, false));
        assert_eq!(
            d.explain(),
            "Continued the caller's trace from W3C Trace Context (traceparent); sampled: the caller's sampled flag is set."
        );
    }

    #[test]
    fn unsampled_parent_is_followed() {
        let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        let d = decide(SAMPLING, "/users/1", &[("traceparent", unsampled)]);
        assert_eq!((d.sampled, d.reason, d.tracestate), (false, SampleReason::Parent, TraceStateFate::Absent));
        assert!(d.explain().ends_with("not sampled: the caller's sampled flag is clear."), "{}", d.explain());
    }

    #[test]
    fn route_always_and_never_win_over_the_parent() {
        let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        let d = decide(SAMPLING, "/always", &[("traceparent", unsampled)]);
        assert_eq!((d.trace, d.sampled, d.reason), (TraceOrigin::Continued, true, SampleReason::RouteAlways));
        assert!(d.explain().ends_with("; sampled: the route's rule is always."), "{}", d.explain());
        let d = decide(SAMPLING, "/never", &[("traceparent", PARENT)]);
        assert_eq!((d.sampled, d.reason), (false, SampleReason::RouteNever));
        assert!(d.explain().ends_with("; not sampled: the route's rule is never."), "{}", d.explain());
    }

    #[test]
    fn new_traces_use_the_route_ratio_or_the_default_ratio() {
        let d = decide(SAMPLING, "/half", &[]);
        assert_eq!(
            (d.trace, d.extracted, d.reason),
            (TraceOrigin::Started, None, SampleReason::RouteRatio(ratio(0.5)))
        );
        assert!(d.explain().starts_with("Started a new trace: no incoming trace context; "), "{}", d.explain());
        assert!(d.explain().contains("the route's ratio 0.5."), "{}", d.explain());
        let d = decide(SAMPLING, "/users/1", &[]);
        assert_eq!(d.reason, SampleReason::DefaultRatio(ratio(0.25)));
        assert!(d.explain().contains("the default ratio 0.25."), "{}", d.explain());
        let d = decide(r#""sampling": {"ratio": 1}"#, "/users/1", &[]);
        assert_eq!((d.sampled, d.reason), (true, SampleReason::DefaultRatio(ratio(1.0))));
        assert!(d.explain().ends_with("; sampled: the trace id falls within the default ratio 1."), "{}", d.explain());
        let d = decide(r#""sampling": {"ratio": 0}"#, "/users/1", &[]);
        assert!(d.explain().ends_with("; not sampled: the trace id falls outside the default ratio 0."));
    }

    #[test]
    fn invalid_context_starts_a_new_trace() {
        let d =
            decide(SAMPLING, "/users/1", &[("traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01")]);
        assert_eq!((d.trace, d.extracted, d.invalid_context), (TraceOrigin::Started, None, true));
        assert_eq!(d.reason, SampleReason::DefaultRatio(ratio(0.25)));
        assert!(d.explain().starts_with("Started a new trace: the incoming trace context was invalid; "));
    }

    #[test]
    fn invalid_tracestate_is_dropped_and_the_trace_continued() {
        let d = decide("", "/users/1", &[("traceparent", PARENT), ("tracestate", "FOO=1")]);
        assert_eq!(
            (d.trace, d.tracestate, d.invalid_context),
            (TraceOrigin::Continued, TraceStateFate::DroppedInvalid, false)
        );
        assert!(d.explain().contains(", its invalid tracestate dropped; sampled"), "{}", d.explain());
    }

    #[test]
    fn restart_keeps_the_caller_only_as_a_link() {
        let tracing = r#""edge_policy": "restart", "sampling": {"ratio": 1}"#;
        let d = decide(tracing, "/users/1", &[("traceparent", PARENT), ("tracestate", "a=1")]);
        assert_eq!(
            (d.trace, d.tracestate, d.edge_policy),
            (TraceOrigin::Restarted, TraceStateFate::NotContinued, EdgePolicy::Restart)
        );
        assert_eq!(d.reason, SampleReason::DefaultRatio(ratio(1.0)), "the caller's flag is not trusted");
        assert!(d.explain().starts_with("Restarted the trace (edge policy restart): the caller's W3C Trace Context"));
        let d = decide(tracing, "/users/1", &[]);
        assert_eq!((d.trace, d.edge_policy), (TraceOrigin::Started, EdgePolicy::Restart));
    }

    #[test]
    fn b3_contexts_and_sampling_states() {
        let b3 = "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1";
        let d = decide(SAMPLING, "/users/1", &[("b3", &format!("{b3}-1"))]);
        assert_eq!(
            (d.extracted, d.trace, d.reason),
            (Some(Format::B3Single), TraceOrigin::Continued, SampleReason::Parent)
        );
        assert!(d.explain().starts_with("Continued the caller's trace from B3 (the single b3 header); sampled"));
        let multi = [("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"), ("x-b3-spanid", "e457b5a2e4d86bd1")];
        let d = decide(SAMPLING, "/half", &multi);
        assert_eq!((d.extracted, d.sampling_deferred), (Some(Format::B3Multi), true));
        assert_eq!(d.reason, SampleReason::RouteRatio(ratio(0.5)), "a deferred decision is this hop's");
        assert!(d.explain().contains("left the decision to this hop"), "{}", d.explain());
        let d = decide(SAMPLING, "/users/1", &[("b3", "0")]);
        assert_eq!(
            (d.trace, d.sampling_only, d.sampled, d.reason),
            (TraceOrigin::Started, Some(false), false, SampleReason::Parent)
        );
        assert!(d.explain().ends_with("not sampled: the caller's B3 sampling state says 0."), "{}", d.explain());
    }

    #[test]
    fn another_format_invalid_beside_the_context_used() {
        let d = decide(SAMPLING, "/users/1", &[("traceparent", PARENT), ("b3", "garbage")]);
        assert_eq!((d.trace, d.invalid_context), (TraceOrigin::Continued, true));
        assert!(d.explain().contains("(another format's headers were invalid)"), "{}", d.explain());
    }
}
