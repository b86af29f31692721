//! meshlens's own module driven through the harness.

use std::time::Duration;

use host_harness::{Action, Host, HttpResponse, Responder};

use crate::support::edge_telemetry;

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn host(config: &str) -> Host {
    Host::builder(&edge_telemetry())
        .root_id("meshlens")
        .plugin_config(config)
        .respond("otel_collector", Responder::Respond(HttpResponse { status: 200, ..Default::default() }))
        .build()
        .unwrap()
}

#[test]
fn a_request_continues_the_trace_and_exports_its_span() {
    let mut h = host(r#"{"routes": ["/users/{id}"]}"#);
    let s = h.new_stream();
    let action = h
        .request_headers(
            s,
            &[(":method", "GET"), (":path", "/users/7?x=1"), (":authority", "api"), ("traceparent", PARENT)],
            true,
        )
        .unwrap();
    assert_eq!(action, Action::Continue);
    h.advance(Duration::from_millis(25)).unwrap();
    h.response_headers(s, &[(":status", "200")], true).unwrap();
    h.complete(s).unwrap();
    h.advance(Duration::from_secs(2)).unwrap();

    let stream = h.stream(s).unwrap();
    let upstream = stream.upstream_request_header("traceparent").unwrap();
    assert!(upstream.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{upstream}");
    assert_eq!(stream.downstream_response_header("x-trace-id"), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
    let spans = h.spans();
    assert_eq!(spans.len(), 2, "a SERVER and a CLIENT span; logs: {:?}", h.logs());
    let span = spans.iter().find(|s| s.kind == 2).expect("the SERVER span");
    let client = spans.iter().find(|s| s.kind == 3).expect("the CLIENT span of the upstream hop");
    assert_eq!(span.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(span.parent_span_id, "00f067aa0ba902b7");
    assert_eq!(client.parent_span_id, span.span_id);
    assert_eq!(&upstream[36..52], client.span_id, "the upstream's parent is the CLIENT span");
    assert_eq!(span.name, "GET /users/{id}");
    assert_eq!(client.name, "GET");
    assert_eq!(span.duration_nanos(), 25_000_000, "the virtual clock measures the span");
    // The harness's default upstream (127.0.0.1:8080 of cluster `app`), its backend latency the
    // whole virtual exchange.
    assert_eq!(client.duration_nanos(), 25_000_000);
    assert_eq!(client.attribute("server.address"), Some("127.0.0.1"));
    assert_eq!(client.attribute("upstream_cluster.name"), Some("app"));
    assert_eq!(client.attribute("url.full"), Some("http://api/users/7?x=1"));
    assert_eq!(span.attribute("http.response.status_code"), Some("200"));
    let calls = h.http_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].upstream, "otel_collector");
    assert!(calls[0].headers.contains(&(":path".to_owned(), "/v1/traces".to_owned())));
}

#[test]
fn the_span_carries_peer_client_and_configured_header_attributes() {
    let mut h = host(
        r#"{"tracing": {"request_headers": ["x-multi", "cookie"], "response_headers": ["content-type", "x-cache"],
            "attributes": [{"key": "app.tenant", "from": {"request_header": "x-tenant"}},
                           {"key": "envoy.source_port", "from": {"property": ["source", "port"]}}]}}"#,
    );
    let s = h.new_stream();
    let request = [
        (":method", "GET"),
        (":path", "/"),
        (":authority", "api"),
        ("x-forwarded-for", "198.51.100.4, 10.0.0.1"),
        ("x-multi", "a"),
        ("x-multi", "b"),
        ("cookie", "session=s3cr3t-value"),
        ("x-tenant", "acme"),
    ];
    h.request_headers(s, &request, true).unwrap();
    let response = [(":status", "200"), ("content-type", "text/plain"), ("x-cache", "HIT"), ("x-cache", "MISS")];
    h.response_headers(s, &response, true).unwrap();
    h.complete(s).unwrap();
    h.advance(Duration::from_secs(2)).unwrap();
    // The SERVER span (kind 2); the CLIENT span of the upstream hop describes the upstream.
    let spans: Vec<_> = h.spans().into_iter().filter(|s| s.kind == 2).collect();
    assert_eq!(spans.len(), 1, "logs: {:?}", h.logs());
    let span = &spans[0];
    // The harness's default peer is 127.0.0.1:40000 (`source.address`, `source.port`).
    assert_eq!(span.attribute("network.peer.address"), Some("127.0.0.1"));
    assert_eq!(span.attribute("network.peer.port"), Some("40000"));
    assert_eq!(span.attribute("client.address"), Some("198.51.100.4"));
    assert_eq!(span.attribute("client.port"), None);
    assert_eq!(span.attribute("http.request.header.x-multi"), Some(r#"["a","b"]"#));
    assert_eq!(span.attribute("http.request.header.cookie"), Some(r#"["session=[REDACTED]"]"#));
    assert_eq!(span.attribute("http.response.header.content-type"), Some(r#"["text/plain"]"#));
    assert_eq!(span.attribute("http.response.header.x-cache"), Some(r#"["HIT","MISS"]"#));
    assert_eq!(span.attribute("app.tenant"), Some("acme"));
    assert_eq!(span.attribute("envoy.source_port"), Some("40000"));
}

/// The labels the shipped gateway config gives the module's stat names.
fn gateway_prometheus() -> host_harness::metrics::PrometheusConfig {
    let yaml = std::fs::read_to_string(crate::support::repo_root().join("envoy-config/edge-gateway.yaml")).unwrap();
    let stats_tags = host_harness::metrics::stats_tags_from_envoy_yaml(&yaml).unwrap();
    host_harness::metrics::PrometheusConfig { stats_tags, ..Default::default() }
}

/// Compares with a golden file; `MESHLENS_BLESS=1` rewrites it.
fn check_golden(name: &str, actual: &str) {
    let path = crate::support::repo_root().join("host-harness/tests/golden").join(name);
    if std::env::var_os("MESHLENS_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (MESHLENS_BLESS=1 writes it)", path.display()));
    assert!(expected == actual, "{} differs (MESHLENS_BLESS=1 rewrites it):\n{actual}", path.display());
}

/// The shipped Chat2SQL profile (`envoy-config/profiles/chat2sql/plugin-config.json`).
fn chat2sql_profile() -> String {
    std::fs::read_to_string(crate::support::repo_root().join("envoy-config/profiles/chat2sql/plugin-config.json"))
        .unwrap()
}

/// One request through the host: method, path, status, upstream latency.
fn exchange(h: &mut Host, method: &str, path: &str, headers: &[(&str, &str)], status: &str, millis: u64) {
    let s = h.new_stream();
    let mut all = vec![(":method", method), (":path", path), (":authority", "api"), (":scheme", "http")];
    all.extend_from_slice(headers);
    h.request_headers(s, &all, true).unwrap();
    h.advance(Duration::from_millis(millis)).unwrap();
    h.response_headers(s, &[(":status", status)], true).unwrap();
    h.complete(s).unwrap();
    h.remove_stream(s);
}

#[test]
fn the_chat2sql_profile_renders_like_the_golden_file() {
    let mut h = host(&chat2sql_profile());
    for (path, status, millis) in [
        ("/api/v1/query", "200", 80),
        ("/api/v1/query", "200", 700),
        ("/api/v1/query", "200", 12_500),
        ("/api/v1/query", "500", 300),
        ("/api/v1/sql/execute", "200", 1_900),
        ("/api/v1/sql/execute", "403", 4),
        ("/health", "200", 1),
    ] {
        exchange(&mut h, "POST", path, &[], status, millis);
    }
    h.advance(Duration::from_secs(2)).unwrap();
    // The profile's families are served by the module at its metrics endpoint.
    let s = h.new_stream();
    h.request_headers(s, &[(":method", "GET"), (":path", "/meshlens/metrics"), (":authority", "m")], true).unwrap();
    let reply = h.stream(s).unwrap().local_reply().cloned().expect("the module answers the scrape");
    let text = String::from_utf8(reply.body).unwrap();
    assert!(text.contains("chat2sql_query_total{query_type=\"nl2sql\",status=\"success\"} 3"), "{text}");
    assert!(text.contains("# TYPE chat2sql_query_duration_seconds histogram\n"), "{text}");
    assert!(!h.prometheus(&gateway_prometheus()).contains("chat2sql_"), "not in Envoy's stats as well");
    check_golden("chat2sql_metrics.prom", &text);
}

#[test]
fn ten_thousand_random_paths_and_header_values_stay_within_the_series_cap() {
    let mut h = host(
        r#"{"routes": ["/api/v1/query", "/users/{id}"], "tracing": {"enabled": false},
            "metrics": {"max_series": 25, "dimensions": [{"name": "tenant", "from": {"request_header": "x-tenant"}}]}}"#,
    );
    let mut seed = 0x1234_5678_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..10_000 {
        let path = format!("/{:x}/{:x}?q={:x}", next(), next(), next());
        let tenant = format!("t-{:x}", next());
        exchange(&mut h, "GET", &path, &[("x-tenant", &tenant)], "200", 1);
    }
    h.advance(Duration::from_secs(2)).unwrap();
    // A custom dimension needs its own stats_tags entry, as the README says.
    let mut prometheus = gateway_prometheus();
    prometheus.stats_tags.push(host_harness::metrics::StatsTag::regex("tenant", "(;tenant=([^;]*))").unwrap());
    let text = h.prometheus(&prometheus);
    let series = text.lines().filter(|l| l.starts_with("meshlens_http_requests_total{")).count();
    assert_eq!(series, 25, "the cap, overflow series included");
    let overflow = text
        .lines()
        .find(|l| l.starts_with("meshlens_metrics_series_overflow_total{metric=\"meshlens_http_requests_total\"}"))
        .unwrap();
    assert!(overflow.ends_with(" 9976"), "10000 requests, 24 kept label sets: {overflow}");
    assert!(
        !text.lines().any(|l| l.contains("route=\"/") && !l.contains("route=\"/api") && !l.contains("route=\"/users"))
    );
    let total: u64 = text
        .lines()
        .filter(|l| l.starts_with("meshlens_http_requests_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 10_000, "every request is counted, in a real series or the overflow one");
}

mod secrets {
    //! One redaction policy for every output: secrets planted in headers, the query and the path
    //! never reach a log line, a span attribute, a metric label or an exported log record.

    use proptest::prelude::*;

    use super::*;

    const CONFIG: &str = r#"{
      "routes": ["/api/v1/query", "/users/{id}"],
      "tracing": {"exporter": {"flush_interval_ms": 10}},
      "metrics": {"dimensions": [{"name": "client", "from": {"request_header": "x-client"}},
                                 {"name": "auth", "from": {"request_header": "authorization"}}]},
      "access_log": {"sinks": ["proxy_log", "otlp"],
                     "extra": [{"name": "auth", "from": {"request_header": "authorization"}},
                               {"name": "client", "from": {"request_header": "x-client"}},
                               {"name": "cookie", "from": {"request_header": "cookie"}}]}
    }"#;

    /// Everything the module emitted, as one text to search.
    fn emitted(h: &Host) -> String {
        let mut all = String::new();
        for log in h.logs() {
            all.push_str(&log.message);
            all.push('\n');
        }
        for call in h.http_calls() {
            all.push_str(&String::from_utf8_lossy(&call.body));
            all.push('\n');
        }
        all.push_str(&h.prometheus(&gateway_prometheus()));
        all
    }

    fn secret() -> impl Strategy<Value = String> {
        "[A-Za-z0-9]{12,24}".prop_map(|s| format!("S3cr3t{s}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn planted_secrets_never_leave_the_module(
            token in secret(),
            password in secret(),
            cookie in secret(),
            api_key in secret(),
            user in "[a-z]{3,10}",
            id in "[0-9]{1,6}",
        ) {
            let mut h = host(CONFIG);
            let jwt = format!("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ{token}In0.c2lnbmF0dXJl{token}");
            let email = format!("{user}.{token}@example.com");
            let path = format!("/users/{id}?token={token}&password={password}&q=ok");
            let auth = format!("Bearer {token}");
            let cookie_header = format!("session={cookie}; theme=dark");
            let headers = [
                ("authorization", auth.as_str()),
                ("cookie", cookie_header.as_str()),
                ("x-api-key", api_key.as_str()),
                ("x-client", email.as_str()),
                ("user-agent", jwt.as_str()),
            ];
            exchange(&mut h, "GET", &path, &headers, "200", 5);
            exchange(&mut h, "GET", &format!("/reset/{jwt}"), &[("x-client", email.as_str())], "401", 5);
            h.advance(Duration::from_secs(3)).unwrap();
            let out = emitted(&h);
            prop_assert!(out.contains("\"trace_id\""), "the access log was written:\n{out}");
            for planted in [&token, &password, &cookie, &api_key] {
                prop_assert!(!out.contains(planted.as_str()), "`{planted}` leaked:\n{out}");
            }
            prop_assert!(out.contains("Bearer [REDACTED]"), "Authorization keeps its scheme:\n{out}");
            prop_assert!(out.contains("session=[REDACTED]"), "cookies keep their names:\n{out}");
        }
    }
}

#[test]
fn the_security_table_does_not_grow_with_distinct_clients() {
    let mut h = host(r#"{"tracing": {"enabled": false}, "security": {"max_clients": 256, "threshold": 3}}"#);
    let mut sizes = Vec::new();
    for round in 0..4u32 {
        for i in 0..5_000u32 {
            let s = h.new_stream();
            let client = format!("10.{}.{}.{}:4000", round, i / 256, i % 256);
            h.set_stream_property(s, &["source", "address"], host_harness::properties::Value::String(client)).unwrap();
            h.request_headers(s, &[(":method", "GET"), (":path", "/login"), (":authority", "api")], true).unwrap();
            h.response_headers(s, &[(":status", "401")], true).unwrap();
            h.complete(s).unwrap();
            h.remove_stream(s);
        }
        h.advance(Duration::from_secs(2)).unwrap();
        sizes.push(h.memory_bytes());
    }
    assert_eq!(sizes[1], sizes[3], "linear memory after 10,000 and 20,000 distinct clients: {sizes:?}");
    let text = h.prometheus(&gateway_prometheus());
    assert!(text.contains("meshlens_security_responses_total{kind=\"unauthorized\"} 20000"), "{text}");
}

/// `query_hash` keyed from the VM environment (Envoy `vm_config.environment_variables`): the
/// module reads the key through WASI `environ_get`, and the key reaches no output.
#[test]
fn the_query_hash_key_comes_from_the_vm_environment() {
    const KEY: &str = "k3y-0f-the-query-hash-1234";
    let config = r#"{"access_log": {"query_hash": {"key_env": "MESHLENS_QUERY_HASH_KEY"}}}"#;
    let build = |env: Option<&str>| {
        let mut b = Host::builder(&edge_telemetry())
            .root_id("meshlens")
            .plugin_config(config)
            .respond("otel_collector", Responder::Respond(HttpResponse { status: 200, ..Default::default() }));
        if let Some(key) = env {
            b = b.env("MESHLENS_QUERY_HASH_KEY", key);
        }
        b.build()
    };
    let query_hash = |h: &mut Host, path: &str| {
        exchange(h, "GET", path, &[], "200", 1);
        let logs = h.logs();
        let line = logs.iter().rev().find(|l| l.message.starts_with('{')).unwrap();
        let line: serde_json::Value = serde_json::from_str(&line.message).unwrap();
        line["query_hash"].as_str().unwrap().to_owned()
    };
    let mut h = build(Some(KEY)).unwrap();
    // HMAC-SHA-256(KEY, "q=select+1"), first 8 bytes (Python's `hmac` agrees).
    assert_eq!(query_hash(&mut h, "/api/v1/query?q=select+1"), "d793c97432e05dc5");
    assert_eq!(query_hash(&mut h, "/api/v1/query?q=select+1"), "d793c97432e05dc5", "equal queries, equal hashes");
    let mut other = build(Some("another-key-of-32-bytes-00000000")).unwrap();
    assert_eq!(query_hash(&mut other, "/api/v1/query?q=select+1"), "b7544d6e0c1969a4");
    h.advance(Duration::from_secs(3)).unwrap();
    for log in h.logs() {
        assert!(!log.message.contains(KEY), "{}", log.message);
    }
    for call in h.http_calls() {
        assert!(!String::from_utf8_lossy(&call.body).contains(KEY));
    }
    // No variable: the configuration is rejected, as Envoy would reject it.
    match build(None) {
        Err(host_harness::Error::Rejected { logs, .. }) => {
            assert!(logs.iter().any(|l| l.contains("access_log.query_hash.key_env")), "{logs:?}")
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("configured without the key"),
    }
}

#[test]
fn a_full_batch_is_sent_when_its_stream_ends_with_no_tick() {
    let mut h = host(r#"{"tracing": {"client_span": "off", "exporter": {"max_batch_spans": 3}}}"#);
    // No virtual time passes: no tick can fire. The stream that fills the batch enqueues a
    // wake-up on the worker's shared queue; `on_queue_ready` sends the batch.
    for _ in 0..2 {
        exchange(&mut h, "GET", "/", &[], "200", 0);
    }
    assert_eq!(h.http_calls().len(), 0, "a partial batch waits for the tick");
    exchange(&mut h, "GET", "/", &[], "200", 0);
    let calls = h.http_calls();
    assert_eq!(calls.len(), 1, "logs: {:?}", h.logs());
    assert!(calls[0].headers.contains(&(":path".to_owned(), "/v1/traces".to_owned())));
}

/// One gRPC call through the module in the harness, ended by `end`; returns its SERVER span and
/// its CLIENT span.
fn grpc_spans(
    end: impl FnOnce(&mut Host, host_harness::StreamId),
) -> (host_harness::SpanRecord, host_harness::SpanRecord) {
    let mut h = host("{}");
    let s = h.new_stream();
    let request = [
        (":method", "POST"),
        (":path", "/grpc.test.EchoService/Echo"),
        (":authority", "api"),
        ("content-type", "application/grpc"),
    ];
    h.request_headers(s, &request, false).unwrap();
    h.request_body(s, b"\0\0\0\0\x02hi", true).unwrap();
    end(&mut h, s);
    h.complete(s).unwrap();
    h.advance(Duration::from_secs(2)).unwrap();
    let spans = h.spans();
    assert_eq!(spans.len(), 2, "logs: {:?}", h.logs());
    let of = |kind: i64| spans.iter().find(|s| s.kind == kind).cloned().unwrap();
    (of(2), of(3))
}

/// [`grpc_spans`]'s SERVER span.
fn grpc_call(end: impl FnOnce(&mut Host, host_harness::StreamId)) -> host_harness::SpanRecord {
    grpc_spans(end).0
}

#[test]
fn a_grpc_clients_error_is_an_error_of_the_client_span_only() {
    // NOT_FOUND is the caller's error: the SERVER span stays unset, the CLIENT span (the gateway
    // as the upstream's client) fails, both carry the rpc attributes.
    let (server, client) = grpc_call_with(&[("grpc-status", "5")]);
    assert_eq!((server.status_code, server.attribute("error.type")), (0, None));
    assert_eq!((client.status_code, client.attribute("error.type")), (2, Some("NOT_FOUND")));
    assert_eq!(client.attribute("rpc.grpc.status_code"), Some("5"));
    assert_eq!(client.attribute("rpc.method"), Some("Echo"));
    assert_eq!(client.parent_span_id, server.span_id);
    // INTERNAL fails both, with the call's message.
    let (server, client) = grpc_call_with(&[("grpc-status", "13"), ("grpc-message", "boom")]);
    assert_eq!((server.status_code, client.status_code), (2, 2));
    assert_eq!(client.attribute("error.type"), Some("INTERNAL"));
    assert_eq!(client.status_message, "boom");
    // OK fails neither.
    let (server, client) = grpc_call_with(&[("grpc-status", "0")]);
    assert_eq!((server.status_code, client.status_code), (0, 0));
}

/// A gRPC call answered 200 with `trailers` after one message.
fn grpc_call_with(trailers: &[(&str, &str)]) -> (host_harness::SpanRecord, host_harness::SpanRecord) {
    grpc_spans(|h, s| {
        h.response_headers(s, &[(":status", "200"), ("content-type", "application/grpc")], false).unwrap();
        h.response_body(s, b"\0\0\0\0\x02hi", false).unwrap();
        h.response_trailers(s, trailers).unwrap();
    })
}

#[test]
fn a_grpc_status_in_the_trailers_or_a_trailers_only_reply_sets_the_span_status() {
    // INTERNAL in the trailers, after a message (a failed call's usual shape: HTTP 200).
    let span = grpc_call(|h, s| {
        h.response_headers(s, &[(":status", "200"), ("content-type", "application/grpc")], false).unwrap();
        h.response_body(s, b"\0\0\0\0\x02hi", false).unwrap();
        h.response_trailers(s, &[("grpc-status", "13"), ("grpc-message", "boom")]).unwrap();
    });
    assert_eq!(span.attribute("rpc.system"), Some("grpc"));
    assert_eq!(span.attribute("rpc.service"), Some("grpc.test.EchoService"));
    assert_eq!(span.attribute("rpc.method"), Some("Echo"));
    assert_eq!(span.attribute("rpc.grpc.status_code"), Some("13"));
    assert_eq!(span.attribute("error.type"), Some("INTERNAL"));
    assert_eq!((span.status_code, span.status_message.as_str()), (2, "boom"));
    // Trailers-only: the status in the response headers, which end the stream.
    let span = grpc_call(|h, s| {
        let headers = [(":status", "200"), ("content-type", "application/grpc"), ("grpc-status", "12")];
        h.response_headers(s, &headers, true).unwrap();
    });
    assert_eq!((span.attribute("rpc.grpc.status_code"), span.status_code), (Some("12"), 2));
    // OK in the trailers: no error.
    let span = grpc_call(|h, s| {
        h.response_headers(s, &[(":status", "200"), ("content-type", "application/grpc")], false).unwrap();
        h.response_trailers(s, &[("grpc-status", "0")]).unwrap();
    });
    assert_eq!(
        (span.attribute("rpc.grpc.status_code"), span.status_code, span.attribute("error.type")),
        (Some("0"), 0, None)
    );
}

/// `replay_stream` keeps only the exchanges in flight: exchanges come from an iterator one at a
/// time, each step takes what the host gathered, and the host holds nothing between steps. The
/// outcomes and what was gathered match `replay` over the same traffic.
#[test]
fn a_streamed_replay_keeps_only_what_is_in_flight() {
    use host_harness::traffic::{self, Exchange};

    let module = edge_telemetry();
    let build = || {
        Host::builder(&module)
            .root_id("meshlens")
            .plugin_config(r#"{"tracing": {"sampling": {"ratio": 1.0}}}"#)
            .respond("otel_collector", Responder::Respond(HttpResponse { status: 200, ..Default::default() }))
            .build()
            .unwrap()
    };
    // Exchanges overlap: each lasts 30 ms and the next starts 10 ms later.
    let text: String = (0..300)
        .map(|i| format!("{{\"path\": \"/users/{i}\", \"at_ms\": {}, \"response\": {{\"latency_ms\": 30}}}}\n", i * 10))
        .collect();
    let mut host = build();
    let expected = traffic::replay(&mut host, &traffic::parse(&text).unwrap(), |_| {}).unwrap();
    let expected_logs = host.logs().len();

    let mut host = build();
    let (mut ended, mut logs, mut calls, mut most_in_flight) = (Vec::new(), 0, 0, 0usize);
    let exchanges = traffic::Reader::new(text.as_bytes()).map(|r| r.map_err(traffic::StreamError::from));
    let replayed = traffic::replay_stream(&mut host, exchanges, |host, line_of, end| {
        let lines = (0..400).filter(|id| line_of(*id).is_some()).count();
        most_in_flight = most_in_flight.max(lines);
        logs += host.take_logs().len();
        calls += host.take_finished_http_calls().len();
        if let Some((exchange, outcome)) = end {
            let exchange: Exchange = exchange;
            ended.push((exchange.line, outcome));
        }
        assert!(host.logs().is_empty());
        Ok::<(), traffic::StreamError>(())
    })
    .unwrap();
    assert_eq!(replayed, 300);
    assert!(most_in_flight <= 4, "only overlapping exchanges are kept: {most_in_flight}");
    assert_eq!(logs, expected_logs, "every log line is taken once");
    assert!(calls > 0);
    ended.sort_by_key(|(line, _)| *line);
    let ends: Vec<_> = ended.iter().map(|(_, o)| (o.end, o.ended_at_ms, o.stream.status())).collect();
    let expected: Vec<_> = expected.iter().map(|o| (o.end, o.ended_at_ms, o.stream.status())).collect();
    assert_eq!(ends, expected);
}
