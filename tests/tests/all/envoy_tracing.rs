//! Trace propagation and span export through a real Envoy 1.40 (V8) running the release module
//! with `envoy-config/edge-gateway.yaml`. Upstream and collector are loopback servers in this
//! process; nothing is mocked on Envoy's side.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use meshlens_tests::envoy::{Envoy, Render, free_port, metric_value};
use meshlens_tests::http::{self, Client, Reply, Server};
use meshlens_tests::otlp::{self, ReceivedSpan, Receiver};

const PARENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN: &str = "00f067aa0ba902b7";

struct Rig {
    app: Server,
    collector: Receiver,
    envoy: Envoy,
}

fn rig(plugin_config: Option<&str>, concurrency: u32) -> Rig {
    let app = Server::start(|_| Reply::text(200, "ok"));
    let collector = Receiver::start();
    let render = Render {
        app_port: app.port(),
        collector_port: collector.server.port(),
        plugin_config: plugin_config.map(str::to_owned),
    };
    let envoy = Envoy::start("edge-gateway.yaml", &render, concurrency);
    Rig { app, collector, envoy }
}

fn assert_valid_otlp(collector: &Receiver) {
    let exports = collector.exports();
    assert!(!exports.is_empty(), "no payload received");
    // The default encoding: protobuf, decoded by the official opentelemetry-proto package.
    assert!(exports.iter().all(|e| e.content_type == "application/x-protobuf"), "{exports:?}");
    let (ok, out) = otlp::validate_exports("traces", &exports);
    assert!(ok, "OTLP validator rejected a payload:\n{out}");
}

/// The SERVER spans among `spans` (OTLP `SPAN_KIND_SERVER`).
fn servers(spans: &[ReceivedSpan]) -> Vec<&ReceivedSpan> {
    spans.iter().filter(|s| s.raw["kind"] == 2).collect()
}

/// The CLIENT span whose parent is `server` (`tracing.client_span: child`, the gateway's default).
fn client_of<'a>(spans: &'a [ReceivedSpan], server: &ReceivedSpan) -> Option<&'a ReceivedSpan> {
    spans.iter().find(|s| s.raw["kind"] == 3 && s.trace_id == server.trace_id && s.parent_span_id == server.span_id)
}

/// A span's start and end, in Unix nanoseconds.
fn times(span: &ReceivedSpan) -> (u64, u64) {
    let at = |k: &str| span.raw[k].as_str().and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("{k}: {span:?}"));
    (at("startTimeUnixNano"), at("endTimeUnixNano"))
}

fn parts(traceparent: &str) -> (String, String, String) {
    let p: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(p.len(), 4, "traceparent {traceparent}");
    assert_eq!(p[0], "00");
    (p[1].to_owned(), p[2].to_owned(), p[3].to_owned())
}

/// The issue's gateway test: client -> gateway SERVER -> gateway CLIENT -> app. The app's
/// `traceparent` parent is the CLIENT span, whose parent is the SERVER span, whose parent is the
/// caller's span; `traceresponse` and `x-trace-id` name the SERVER span.
#[test]
fn valid_traceparent_is_continued_through_a_server_and_a_client_span() {
    let r = rig(None, 1);
    let incoming = format!("00-{PARENT_TRACE}-{PARENT_SPAN}-01");
    let resp = http::get(
        r.envoy.listener,
        "/api/v1/query?q=select+1",
        &[("traceparent", &incoming), ("tracestate", "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7")],
    )
    .unwrap();
    assert_eq!(resp.status(), 200);
    let seen = r.app.requests();
    let upstream = seen[0].header("traceparent").expect("traceparent sent upstream");
    let (trace, parent, flags) = parts(upstream);
    assert_eq!(trace, PARENT_TRACE, "trace id kept");
    assert_ne!(parent, PARENT_SPAN, "parent-id is the proxy's span, not the caller's");
    assert_eq!(flags, "01");
    assert_eq!(seen[0].header("tracestate"), Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"));
    assert_eq!(resp.header("x-trace-id"), Some(PARENT_TRACE));

    let spans = r.collector.wait_spans(2);
    assert_eq!(spans.len(), 2, "a SERVER and a CLIENT span");
    let span = servers(&spans)[0];
    let client = client_of(&spans, span).expect("a CLIENT span, child of the SERVER span");
    assert_eq!(client.span_id, parent, "the app's parent is the CLIENT span");
    assert_eq!(span.parent_span_id, PARENT_SPAN, "the SERVER span's parent is the caller's span");
    let responded = format!("00-{PARENT_TRACE}-{}-01", span.span_id);
    assert_eq!(resp.header("traceresponse"), Some(responded.as_str()), "traceresponse names the SERVER span");
    assert_eq!(client.name, "GET");
    let app = r.app.port().to_string();
    assert_eq!(client.attribute("server.address").as_deref(), Some("127.0.0.1"), "the upstream host");
    assert_eq!(client.attribute("server.port").as_deref(), Some(app.as_str()));
    assert_eq!(client.attribute("network.peer.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(client.attribute("network.peer.port").as_deref(), Some(app.as_str()));
    assert_eq!(client.attribute("upstream_cluster.name").as_deref(), Some("app"));
    assert_eq!(client.attribute("http.response.status_code").as_deref(), Some("200"));
    assert_eq!(client.attribute("http.request.method").as_deref(), Some("GET"));
    let url = "http://meshlens.test/api/v1/query?q=select+1";
    assert_eq!(client.attribute("url.full").as_deref(), Some(url), "the request's URL, as forwarded");
    assert_eq!(client.raw["status"]["code"].as_u64().unwrap_or(0), 0);
    let ((start, end), (client_start, client_end)) = (times(span), times(client));
    assert!(start <= client_start && client_start < client_end && client_end <= end, "{span:?} {client:?}");
    assert_eq!(client.raw["flags"].as_u64().unwrap() & 0x300, 0x100, "a local parent: not remote");
    assert_eq!(span.raw["flags"].as_u64().unwrap() & 0x300, 0x300, "the caller's parent: remote");
    assert_eq!(span.name, "GET /api/v1/query");
    assert_eq!(span.raw["kind"], 2);
    assert_eq!(span.attribute("http.route").as_deref(), Some("/api/v1/query"));
    assert_eq!(span.attribute("url.path").as_deref(), Some("/api/v1/query"));
    assert_eq!(span.attribute("http.response.status_code").as_deref(), Some("200"));
    assert_eq!(span.attribute("client.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(span.attribute("user_agent.original").as_deref(), Some("meshlens-tests/1"));
    assert_eq!(span.raw["traceState"], "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
    assert_valid_otlp(&r.collector);
}

#[test]
fn missing_or_invalid_context_starts_a_new_trace() {
    let r = rig(None, 1);
    let uppercase = format!("00-{}-{PARENT_SPAN}-01", PARENT_TRACE.to_uppercase());
    let cases: [&[(&str, &str)]; 3] =
        [&[], &[("traceparent", &uppercase), ("tracestate", "a=b")], &[("traceparent", "ff-junk")]];
    let mut traces = HashSet::new();
    for (i, headers) in cases.iter().enumerate() {
        let resp = http::get(r.envoy.listener, "/users/42", headers).unwrap();
        assert_eq!(resp.status(), 200);
        let upstream = &r.app.requests()[i];
        let (trace, _, flags) = parts(upstream.header("traceparent").unwrap());
        assert_ne!(trace, PARENT_TRACE);
        assert_eq!(flags, "03", "100% sampling, and the module's own trace id is random (Trace Context Level 2)");
        assert_eq!(upstream.header("tracestate"), None, "tracestate of an invalid traceparent is dropped");
        assert_eq!(resp.header("x-trace-id"), Some(trace.as_str()));
        traces.insert(trace);
    }
    assert_eq!(traces.len(), 3, "each request gets its own trace");
    let spans = r.collector.wait_spans(6);
    assert_eq!(spans.iter().map(|s| s.trace_id.clone()).collect::<HashSet<_>>(), traces);
    let servers = servers(&spans);
    assert_eq!(servers.len(), 3);
    assert!(servers.iter().all(|s| s.parent_span_id.is_empty() && client_of(&spans, s).is_some()));
    assert_eq!(r.envoy.metric("meshlens_trace_context_invalid_total"), 2);
}

#[test]
fn local_replies_carry_the_trace_id_of_their_span() {
    let r = rig(None, 1);
    let not_found = http::get(r.envoy.listener, "/no/such/route", &[]).unwrap();
    assert_eq!(not_found.status(), 404);
    let unavailable = http::get(r.envoy.listener, "/down/x", &[]).unwrap();
    assert_eq!(unavailable.status(), 503);
    // No route: a SERVER span alone; the closed port: a SERVER span and its CLIENT span.
    let spans = r.collector.wait_spans(3);
    for (resp, code) in [(&not_found, "404"), (&unavailable, "503")] {
        let id = resp.header("x-trace-id").expect("x-trace-id on a local reply");
        let span = servers(&spans).into_iter().find(|s| s.trace_id == id).expect("a span with the response's trace id");
        assert_eq!(client_of(&spans, span).is_some(), code == "503", "a CLIENT span only for the upstream attempt");
        assert_eq!(span.attribute("http.response.status_code").as_deref(), Some(code));
        let error = span.raw["status"]["code"] == 2;
        assert_eq!(error, code == "503", "5xx is an error, 4xx is not by default");
    }
    assert_valid_otlp(&r.collector);
}

/// The issue's upstream failure: the `down` cluster's only host is a closed port. The CLIENT
/// span names the connect failure (response flag UF) as `error.type`, with Error status and no
/// upstream status code (the 503 is Envoy's); the SERVER span reports the 503 sent downstream.
#[test]
fn an_upstream_connect_failure_gives_a_client_span_with_its_error_type() {
    let r = rig(None, 1);
    let resp = http::get(r.envoy.listener, "/down/orders?id=7", &[]).unwrap();
    assert_eq!(resp.status(), 503);
    let spans = r.collector.wait_spans(2);
    assert_eq!(spans.len(), 2, "{spans:?}");
    let server = servers(&spans)[0];
    let client = client_of(&spans, server).expect("a CLIENT span for the failed attempt");
    assert_eq!(client.attribute("error.type").as_deref(), Some("connect_failure"));
    assert_eq!(client.raw["status"]["code"], 2);
    assert_eq!(client.attribute("http.response.status_code"), None, "no response came from the upstream");
    assert_eq!(client.attribute("server.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(client.attribute("server.port").as_deref(), Some("9"));
    assert_eq!(client.attribute("upstream_cluster.name").as_deref(), Some("down"));
    assert_eq!(server.attribute("http.response.status_code").as_deref(), Some("503"));
    assert_eq!(server.attribute("error.type").as_deref(), Some("503"));
    let ((start, end), (client_start, client_end)) = (times(server), times(client));
    assert!(start <= client_start && client_end <= end);
    assert_valid_otlp(&r.collector);
}

/// The CLIENT span's own timing comes from Envoy (`upstream.cx_pool_ready_duration` +
/// `response.backend_latency`): with an app that takes 150 ms it lasts at least that long and ends
/// within the SERVER span, while the SERVER span (the whole exchange seen by the filter) lasts at
/// least as long.
#[test]
fn the_client_span_lasts_as_long_as_the_upstream_exchange() {
    let app = Server::start(|_| {
        std::thread::sleep(Duration::from_millis(150));
        Reply::text(200, "slow")
    });
    let collector = Receiver::start();
    let render = Render { app_port: app.port(), collector_port: collector.server.port(), plugin_config: None };
    let envoy = Envoy::start("edge-gateway.yaml", &render, 1);
    assert_eq!(http::get(envoy.listener, "/api/v1/query", &[]).unwrap().status(), 200);
    let spans = collector.wait_spans(2);
    let server = servers(&spans)[0];
    let client = client_of(&spans, server).expect("the CLIENT span");
    let ((start, end), (client_start, client_end)) = (times(server), times(client));
    let client_ms = (client_end - client_start) / 1_000_000;
    assert!(client_ms >= 150, "the upstream took 150 ms, the CLIENT span {client_ms} ms");
    assert!(client_start == start && client_end <= end, "{server:?} {client:?}");
    assert!((end - client_end) / 1_000_000 < 100, "it ends with the upstream's last byte, not long before");
}

/// What the CLIENT span reads at stream end, as Envoy 1.40 answers it, shown through access-log
/// fields from those properties (their 8 little-endian bytes as text): `response.backend_latency`
/// and `upstream.cx_pool_ready_duration` for a response relayed from the app; for the closed port
/// the pool's wait (to the failure) but no backend latency, and `response.flags` UF (`0x20`).
/// The harness answers the same (host-harness `properties/paths.rs`), and the pipeline reads the
/// flags only without a backend latency.
#[test]
fn envoy_answers_the_client_spans_attributes_at_stream_end() {
    let app = Server::start(|_| Reply::text(200, "ok"));
    let collector = Receiver::start();
    let config = r#"{"routes": ["/api/v1/query"], "tracing": {"exporter": {"cluster": "otel_collector"}},
        "access_log": {"extra": [{"name": "pool", "from": {"property": ["upstream", "cx_pool_ready_duration"]}},
                                  {"name": "latency", "from": {"property": ["response", "backend_latency"]}},
                                  {"name": "flags", "from": {"property": ["response", "flags"]}}]}}"#;
    let render =
        Render { app_port: app.port(), collector_port: collector.server.port(), plugin_config: Some(config.into()) };
    let envoy = Envoy::start("edge-gateway.yaml", &render, 1);
    for path in ["/api/v1/query", "/down/x"] {
        http::get(envoy.listener, path, &[]).unwrap();
    }
    let lines = || -> Vec<serde_json::Value> {
        envoy
            .log()
            .lines()
            .filter_map(|l| l.split_once(": {\"timestamp\"").map(|(_, rest)| format!("{{\"timestamp\"{rest}")))
            .filter_map(|json| serde_json::from_str(&json).ok())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while lines().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let lines = lines();
    let line = |path: &str| lines.iter().find(|l| l["path"] == path).unwrap_or_else(|| panic!("{path}: {lines:?}"));
    // Present: 8 bytes, shown as text (a byte that is not UTF-8 becomes U+FFFD, so only
    // presence is certain).
    let present = |v: &serde_json::Value| v.as_str().is_some_and(|s| !s.is_empty());
    let relayed = line("/api/v1/query");
    assert!(present(&relayed["pool"]), "{relayed}");
    assert!(present(&relayed["latency"]), "{relayed}");
    assert_eq!(relayed["flags"], "\0\0\0\0\0\0\0\0", "{relayed}");
    let refused = line("/down/x");
    assert!(present(&refused["pool"]), "{refused}");
    assert!(refused["latency"].is_null(), "no backend latency without a response: {refused}");
    assert_eq!(refused["flags"], " \0\0\0\0\0\0\0", "UF (0x20): {refused}");
}

#[test]
fn a_reply_from_envoys_codec_has_no_span_as_it_has_no_trace_id() {
    let r = rig(None, 1);
    // Headers over Envoy's 60 KiB limit: the HTTP/1 codec answers 431 before any filter runs, so
    // no filter can add `x-trace-id`; the module logs the request without a trace and exports no
    // span for it.
    let big = "x".repeat(70 * 1024);
    let too_large = http::get(r.envoy.listener, "/api/v1/query", &[("x-big", &big)]).unwrap();
    assert_eq!(too_large.status(), 431);
    assert_eq!(too_large.header("x-trace-id"), None);
    let ok = http::get(r.envoy.listener, "/api/v1/query", &[]).unwrap();
    let trace = ok.header("x-trace-id").expect("x-trace-id on a proxied reply").to_owned();
    let spans = r.collector.wait_spans(2);
    // Spans leave in batches, in order: the 431's would be in the same batch or an earlier one.
    assert_eq!(spans.len(), 2, "only the proxied request has spans (SERVER and CLIENT): {spans:?}");
    assert!(spans.iter().all(|s| s.trace_id == trace));
    // Envoy writes its log in the background: wait for the line.
    let deadline = Instant::now() + Duration::from_secs(10);
    let logged = || r.envoy.log().lines().find(|l| l.contains(r#""status":431"#)).map(str::to_owned);
    while logged().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let line = logged().unwrap_or_else(|| panic!("the 431 is not logged:\n{}", r.envoy.log()));
    assert!(!line.contains("trace_id"), "a logged trace id nobody received: {line}");
    assert!(line.contains(r#""method":"_OTHER""#), "no method was parsed, none is made up: {line}");
}

#[test]
fn secrets_in_path_parameters_and_the_authority_reach_no_span_or_log_line() {
    let r = rig(None, 1);
    let resp =
        http::get(r.envoy.listener, "/api/v1/query;jsessionid=PLANTED1", &[("host", "admin:PLANTED2@example.com")])
            .unwrap();
    assert_eq!(resp.status(), 200);
    let spans = r.collector.wait_spans(1);
    let span = &spans[0];
    assert_eq!(span.attribute("url.path").as_deref(), Some("/api/v1/query;jsessionid=[REDACTED]"));
    assert_eq!(span.attribute("server.address").as_deref(), Some("example.com"));
    let payloads: String = r.collector.payloads().iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect();
    assert!(!payloads.contains("PLANTED"), "{payloads}");
    let deadline = Instant::now() + Duration::from_secs(15);
    let line = || r.envoy.log().lines().find(|l| l.contains("jsessionid")).map(str::to_owned);
    while line().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let line = line().unwrap_or_else(|| panic!("no access line:\n{}", r.envoy.log()));
    assert!(!line.contains("PLANTED"), "{line}");
    assert!(!r.envoy.log().contains("PLANTED") && !r.envoy.prometheus().contains("PLANTED"));
}

#[test]
fn a_thousand_requests_give_a_thousand_linked_spans() {
    let r = rig(None, 2);
    let per_client = 250;
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let addr = r.envoy.listener;
            std::thread::spawn(move || {
                let mut c = Client::connect(addr).unwrap();
                (0..per_client)
                    .map(|i| {
                        let resp = c.get(&format!("/users/{i}"), &[]).unwrap();
                        assert_eq!(resp.status(), 200);
                        resp.header("x-trace-id").unwrap().to_owned()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let response_ids: HashSet<String> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    assert_eq!(response_ids.len(), 1000);

    let spans = r.collector.wait_spans(2000);
    assert_eq!(spans.len(), 2000, "spans received / expected: a SERVER and a CLIENT span per request");
    let span_traces: HashSet<String> = spans.iter().map(|s| s.trace_id.clone()).collect();
    assert_eq!(span_traces, response_ids, "every response header names an exported span");
    let upstream_parents: HashSet<(String, String)> = r
        .app
        .requests()
        .iter()
        .map(|m| {
            let (t, p, _) = parts(m.header("traceparent").unwrap());
            (t, p)
        })
        .collect();
    let servers = servers(&spans);
    let clients: Vec<&ReceivedSpan> = servers.iter().map(|s| client_of(&spans, s).expect("its CLIENT span")).collect();
    let client_ids: HashSet<(String, String)> =
        clients.iter().map(|s| (s.trace_id.clone(), s.span_id.clone())).collect();
    assert_eq!(upstream_parents, client_ids, "each upstream request's parent is its CLIENT span");
    assert!(servers.iter().all(|s| s.attribute("http.route").as_deref() == Some("/users/{id}")));

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut text = r.envoy.prometheus();
    while metric_value(&text, "meshlens_spans_exported_total") < 2000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        text = r.envoy.prometheus();
    }
    assert_eq!(metric_value(&text, "meshlens_spans_exported_total"), 2000);
    assert_eq!(metric_value(&text, "meshlens_spans_dropped_total"), 0);
    assert_eq!(metric_value(&text, "meshlens_spans_failed_total"), 0);
    assert_valid_otlp(&r.collector);
}

/// A queue of two batches, and requests far faster than the 100 ms tick could drain it (it would
/// take at most 20 spans a tick, and one connection runs hundreds of requests in that time): every
/// span is still exported, because the stream that fills a batch wakes the root, which sends it
/// at once.
#[test]
fn full_batches_leave_as_they_fill_so_a_small_queue_drops_nothing() {
    let config = r#"{"tracing": {"exporter": {"max_batch_spans": 10, "max_queue_spans": 20, "max_in_flight": 64}}}"#;
    let r = rig(Some(config), 1);
    let mut c = Client::connect(r.envoy.listener).unwrap();
    let requests = 1000;
    let started = Instant::now();
    for i in 0..requests {
        assert_eq!(c.get(&format!("/api/v1/query?i={i}"), &[]).unwrap().status(), 200);
    }
    let elapsed = started.elapsed();
    // Every request has a SERVER and a CLIENT span: wait until all of them are accounted for (a
    // wait for one per request read the counter while the last batches were still in flight).
    let spans = 2 * requests;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut text = r.envoy.prometheus();
    while metric_value(&text, "meshlens_spans_exported_total") + metric_value(&text, "meshlens_spans_dropped_total")
        < spans
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
        text = r.envoy.prometheus();
    }
    let exported = metric_value(&text, "meshlens_spans_exported_total");
    assert_eq!(
        metric_value(&text, "meshlens_spans_dropped_total"),
        0,
        "{requests} requests in {elapsed:?} through a queue of 20 spans: exported {exported}"
    );
    assert_eq!(metric_value(&text, "meshlens_spans_failed_total"), 0);
    assert_eq!(exported, spans, "every span exported");
    assert_eq!(r.collector.wait_spans(spans as usize).len(), spans as usize, "the collector got them all");
    assert_valid_otlp(&r.collector);
}

#[derive(Debug, Clone, Copy)]
enum Collector {
    Dead,
    Answers(u16),
    Slow,
}

#[test]
fn a_dead_failing_or_slow_collector_never_fails_requests_and_every_span_is_counted() {
    for kind in [Collector::Dead, Collector::Answers(503), Collector::Slow] {
        let app = Server::start(|_| Reply::text(200, "ok"));
        let collector = match kind {
            Collector::Slow => Receiver::start_with_delay(Duration::from_secs(2)),
            _ => Receiver::start(),
        };
        let collector_port = match kind {
            Collector::Dead => free_port(),
            Collector::Answers(status) => {
                collector.answer_with(status);
                collector.server.port()
            }
            Collector::Slow => collector.server.port(),
        };
        // A small queue and one call at a time, so the queue also overflows; a 300 ms timeout,
        // so the slow collector's calls time out.
        let config = r#"{"tracing": {"exporter": {"max_batch_spans": 20, "max_queue_spans": 40, "max_in_flight": 1, "timeout_ms": 300}}}"#;
        let render = Render { app_port: app.port(), collector_port, plugin_config: Some(config.to_owned()) };
        let envoy = Envoy::start("edge-gateway.yaml", &render, 1);
        let mut c = Client::connect(envoy.listener).unwrap();
        for i in 0..300 {
            let resp = c.get(&format!("/api/v1/query?i={i}"), &[]).unwrap();
            assert_eq!(resp.status(), 200, "request {i} with collector {kind:?}");
            assert!(resp.header("x-trace-id").is_some());
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let (mut failed, mut dropped, mut exported) = (0, 0, 0);
        while Instant::now() < deadline {
            let text = envoy.prometheus();
            failed = metric_value(&text, "meshlens_spans_failed_total");
            dropped = metric_value(&text, "meshlens_spans_dropped_total");
            exported = metric_value(&text, "meshlens_spans_exported_total");
            // Two spans per request: the SERVER span and its CLIENT span.
            if failed + dropped + exported >= 600 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(exported, 0, "collector {kind:?}");
        assert_eq!(
            failed + dropped,
            600,
            "every span is failed or dropped (collector {kind:?}): failed {failed}, dropped {dropped}"
        );
        assert!(failed > 0, "export calls were attempted and failed");
        assert!(envoy.metric("meshlens_export_failures_total") > 0);
    }
}

#[test]
fn restart_policy_starts_a_new_trace_and_links_the_callers() {
    let r = rig(Some(r#"{"tracing": {"edge_policy": "restart", "inject": ["tracecontext", "b3"]}}"#), 1);
    let incoming = format!("00-{PARENT_TRACE}-{PARENT_SPAN}-01");
    let resp = http::get(r.envoy.listener, "/health", &[("traceparent", &incoming), ("tracestate", "a=b")]).unwrap();
    let upstream = &r.app.requests()[0];
    let (trace, parent, _) = parts(upstream.header("traceparent").unwrap());
    assert_ne!(trace, PARENT_TRACE);
    assert_eq!(upstream.header("tracestate"), None, "an untrusted tracestate is not forwarded");
    let b3 = upstream.header("b3").expect("b3 injected when configured");
    assert!(b3.starts_with(&format!("{trace}-{parent}-1")), "{b3}");
    assert_eq!(resp.header("x-trace-id"), Some(trace.as_str()));
    let spans = r.collector.wait_spans(2);
    let server = servers(&spans)[0];
    let links = server.raw["links"].as_array().expect("a link");
    assert_eq!(links[0]["traceId"], PARENT_TRACE);
    assert_eq!(links[0]["spanId"], PARENT_SPAN);
    assert_eq!(server.parent_span_id, "");
    assert_eq!(client_of(&spans, server).map(|c| c.span_id.as_str()), Some(parent.as_str()), "B3 names it too");
    assert_valid_otlp(&r.collector);
}

/// `"encoding": "json"`: spans and log records go as OTLP JSON (`application/json`), and the
/// strict validator takes the bodies exactly as Envoy sent them.
#[test]
fn json_encoding_sends_otlp_json_the_strict_validator_accepts_as_sent() {
    let config = r#"{"service": {"name": "edge-gateway"}, "routes": ["/users/{id}"],
        "tracing": {"exporter": {"cluster": "otel_collector", "encoding": "json", "flush_interval_ms": 100}},
        "access_log": {"sinks": ["proxy_log", "otlp"]}}"#;
    let r = rig(Some(config), 1);
    for i in 0..3 {
        assert_eq!(http::get(r.envoy.listener, &format!("/users/{i}"), &[]).unwrap().status(), 200);
    }
    assert_eq!(r.collector.wait_spans(6).len(), 6);
    let of = |signal: otlp::Signal| -> Vec<otlp::Export> {
        r.collector.exports().into_iter().filter(|e| e.signal() == Some(signal)).collect()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while of(otlp::Signal::Logs).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    for (signal, name) in [(otlp::Signal::Traces, "traces"), (otlp::Signal::Logs, "logs")] {
        let exports = of(signal);
        assert!(!exports.is_empty(), "no {name} export");
        assert!(exports.iter().all(|e| e.content_type == "application/json"), "{exports:?}");
        let bodies: Vec<Vec<u8>> = exports.iter().map(|e| e.body.clone()).collect();
        let (ok, out) = otlp::validate(name, &bodies);
        assert!(ok, "{name}: {out}");
    }
}
