//! Conformance: the same scenarios through real Envoy 1.40 and through the harness must produce
//! the same observable results: headers sent upstream and downstream, span fields other than
//! ids and timestamps, and the module's metric series and values. This suite is the harness's
//! definition of "faithful"; every scenario added here tightens it.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use host_harness::metrics::{PrometheusConfig, StatsTag};
use host_harness::{Host, HttpResponse, Module, Responder};
use meshlens_tests::envoy::{Envoy, Render, stats_tags};
use meshlens_tests::http::{self, Message, Reply, Server};
use meshlens_tests::otlp::{self, Receiver};
use meshlens_tests::paths;
use meshlens_tests::plugin::{self, Scenario, Upstream};
use serde_json::Value;

/// One scenario's observable result, with ids replaced by their role.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Observed {
    upstream: BTreeMap<String, String>,
    downstream: BTreeMap<String, String>,
    span: Option<BTreeMap<String, String>>,
    /// The CLIENT span of the upstream hop, child of `span`.
    client: Option<BTreeMap<String, String>>,
}

/// The module's own metric lines (`meshlens_*`) in Prometheus text, sorted. Durations are wall
/// time in Envoy and virtual time in the harness, so the values of finite duration buckets and of
/// the duration sum are masked (`*`); the series themselves, `_count` and `+Inf` must match. So is
/// the memory gauge's value: when the last tick ran relative to the traffic differs between the
/// two hosts, and with it how full the batches were.
fn module_metrics(text: &str) -> Vec<String> {
    let masked = |l: &str| {
        let timed = (l.starts_with("meshlens_http_request_duration_seconds_bucket") && !l.contains("le=\"+Inf\""))
            || l.starts_with("meshlens_http_request_duration_seconds_sum")
            || l.starts_with("meshlens_wasm_memory_bytes");
        match l.rsplit_once(' ') {
            Some((series, _)) if timed => format!("{series} *"),
            _ => l.to_owned(),
        }
    };
    let mut lines: Vec<String> = text.lines().filter(|l| l.starts_with("meshlens_")).map(masked).collect();
    lines.sort();
    lines
}

fn module() -> Module {
    static MODULE: OnceLock<Module> = OnceLock::new();
    MODULE.get_or_init(|| Module::from_file(paths::edge_telemetry_wasm()).unwrap()).clone()
}

/// Names an id by what it is to the scenario.
fn role(id: &str, incoming: &[(&str, &str)]) -> String {
    let given = incoming.iter().any(|(_, v)| v.contains(id));
    if id.is_empty() {
        String::from("-")
    } else if given {
        format!("incoming:{id}")
    } else {
        String::from("new")
    }
}

/// The SERVER span of trace `trace` among `spans`, and the CLIENT span it parents.
fn server_and_client<'a>(spans: &'a [Value], trace: &str) -> (Option<&'a Value>, Option<&'a Value>) {
    let server = spans.iter().find(|v| v["traceId"] == trace && v["kind"] == 2);
    let client = server.and_then(|server| {
        spans.iter().find(|v| v["traceId"] == trace && v["kind"] == 3 && v["parentSpanId"] == server["spanId"])
    });
    (server, client)
}

fn observe(
    s: &Scenario,
    upstream: Option<&[(String, String)]>,
    downstream: &[(String, String)],
    (span, client): (Option<&Value>, Option<&Value>),
) -> Observed {
    let get = |h: &[(String, String)], k: &str| h.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut up = BTreeMap::new();
    let span_id = span.and_then(|s| s["spanId"].as_str()).unwrap_or("none");
    let client_id = client.and_then(|s| s["spanId"].as_str()).unwrap_or("none");
    if let Some(h) = upstream {
        if let Some(tp) = get(h, "traceparent") {
            let parts: Vec<&str> = tp.split('-').collect();
            up.insert("traceparent.trace".into(), role(parts[1], &s.headers()));
            // The upstream's parent: the CLIENT span (sampled), the proxy's span id (unsampled).
            let parent = match parts[2] {
                p if p == client_id => "client span",
                p if p == span_id => "server span",
                _ if span.is_none() => "unrecorded",
                _ => "other",
            };
            up.insert("traceparent.parent".into(), parent.to_owned());
            up.insert("traceparent.flags".into(), parts[3].to_owned());
        }
        for k in ["tracestate", "b3", "x-b3-traceid"] {
            up.insert(k.into(), get(h, k).unwrap_or_else(|| "-".into()));
        }
    } else {
        up.insert("reached".into(), "no".into());
    }
    let mut down = BTreeMap::new();
    down.insert(":status".into(), get(downstream, ":status").unwrap_or_default());
    let trace = get(downstream, "x-trace-id").unwrap_or_default();
    down.insert("x-trace-id".into(), role(&trace, &s.headers()));
    let tr = get(downstream, "traceresponse").unwrap_or_default();
    down.insert(
        "traceresponse.matches".into(),
        (tr.contains(&trace) && (span.is_none() || tr.contains(span_id))).to_string(),
    );
    let fields = |v: &Value| {
        let mut m = BTreeMap::new();
        m.insert("trace".into(), role(v["traceId"].as_str().unwrap_or(""), &s.headers()));
        m.insert("trace_matches_header".into(), (v["traceId"].as_str() == Some(trace.as_str())).to_string());
        m.insert("parent".into(), role(v["parentSpanId"].as_str().unwrap_or(""), &s.headers()));
        for k in ["name", "kind", "status", "traceState", "links", "flags"] {
            m.insert(k.into(), v[k].to_string());
        }
        for a in v["attributes"].as_array().into_iter().flatten() {
            let key = a["key"].as_str().unwrap_or("");
            // Ports of loopback peers: ephemeral (the caller) or picked at start-up (the app).
            if !["client.port", "server.port", "network.peer.port"].contains(&key)
                || v["kind"] == 2 && key == "server.port"
            {
                m.insert(format!("attr.{key}"), a["value"].to_string());
            }
        }
        m
    };
    let client = client.map(|v| {
        let mut m = fields(v);
        m.insert("parent_is_span".into(), (v["parentSpanId"].as_str() == Some(span_id)).to_string());
        m
    });
    Observed { upstream: up, downstream: down, span: span.map(fields), client }
}

/// What Envoy observed, its module metrics, and the bodies of its own replies per scenario
/// (the harness has no router, so those replies are the harness scenario's input).
fn envoy_side() -> (Vec<Observed>, Vec<String>, Vec<Vec<u8>>) {
    let app = Server::start(|_| Reply::text(200, "ok"));
    let collector = Receiver::start();
    let render = Render { app_port: app.port(), collector_port: collector.server.port(), plugin_config: None };
    let envoy = Envoy::start("edge-gateway.yaml", &render, 1);
    let mut results: Vec<(Message, Option<Message>)> = Vec::new();
    let scenarios = plugin::scenarios();
    for s in &scenarios {
        let before = app.requests().len();
        let resp = http::get(envoy.listener, &s.path, &s.headers()).unwrap();
        let up = app.requests().get(before).cloned();
        results.push((resp, up));
    }
    // A SERVER span per sampled scenario, and a CLIENT span for those that went upstream.
    let sampled = scenarios.len() - 1 + scenarios.iter().filter(|s| s.upstream != Upstream::NoRoute).count() - 1;
    let deadline = Instant::now() + Duration::from_secs(15);
    while collector.spans().len() < sampled && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // A span counts as exported when the collector's answer reaches the module, which hands its
    // counters to Envoy on its next tick: wait for that too before reading the metrics.
    while envoy.metric("meshlens_spans_exported_total") < sampled as u64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let spans: Vec<Value> = collector.spans().into_iter().map(|s| s.raw).collect();
    let observed = scenarios
        .iter()
        .zip(&results)
        .map(|(s, (resp, up))| {
            let trace = resp.header("x-trace-id").unwrap_or("");
            let mut downstream = vec![(":status".to_owned(), resp.start.clone())];
            downstream.extend(resp.headers.iter().cloned());
            observe(s, up.as_ref().map(|m| m.headers.as_slice()), &downstream, server_and_client(&spans, trace))
        })
        .collect();
    let bodies = results.iter().map(|(resp, _)| resp.body.clone()).collect();
    (observed, module_metrics(&envoy.scrape()), bodies)
}

fn harness_side(envoy_bodies: &[Vec<u8>]) -> (Vec<Observed>, Vec<String>) {
    let text = std::fs::read_to_string(paths::repo_root().join("envoy-config/edge-gateway.yaml")).unwrap();
    let config = plugin::config_of(&text);
    let mut host = Host::builder(&module())
        .root_id("meshlens")
        .vm_id("meshlens")
        .plugin_config(config.clone())
        .respond("otel_collector", Responder::Respond(HttpResponse { status: 200, ..Default::default() }))
        .build()
        .unwrap();
    let mut observed = Vec::new();
    // Envoy 1.40 with one worker configures the plugin in three VMs (its config-reload counter
    // shows 3); two more hosts sharing the stats store stand for the ones that serve no traffic.
    for _ in 0..2 {
        Host::builder(&module())
            .root_id("meshlens")
            .vm_id("meshlens")
            .plugin_config(config.clone())
            .shared(host.shared())
            .build()
            .unwrap();
    }
    let scenarios = plugin::scenarios();
    for (s, envoy_body) in scenarios.iter().zip(envoy_bodies) {
        let id = host.new_stream();
        // What Envoy shows about the upstream at stream end, which the harness cannot know: it
        // has no router (the backend latency is the harness's virtual one).
        s.upstream.set_in_harness(&mut host, id, 0);
        let mut headers = vec![
            (":method", "GET"),
            (":path", &s.path),
            (":scheme", "http"),
            (":authority", "meshlens.test"),
            ("user-agent", "meshlens-tests/1"),
        ];
        headers.extend_from_slice(&s.headers());
        host.request_headers(id, &headers, true).unwrap();
        let upstream = match s.upstream {
            Upstream::App => {
                let sent = host.stream(id).unwrap().upstream_request_headers().to_vec();
                host.response_headers(
                    id,
                    &[(":status", "200"), ("content-length", "2"), ("content-type", "text/plain")],
                    false,
                )
                .unwrap();
                host.response_body(id, b"ok", true).unwrap();
                Some(sent)
            }
            Upstream::NoRoute => {
                host.response_headers(id, &[(":status", "404")], true).unwrap();
                None
            }
            Upstream::Down => {
                let body = envoy_body.as_slice();
                let length = body.len().to_string();
                host.response_headers(
                    id,
                    &[(":status", "503"), ("content-length", &length), ("content-type", "text/plain")],
                    false,
                )
                .unwrap();
                host.response_body(id, body, true).unwrap();
                None
            }
        };
        host.complete(id).unwrap();
        let stream = host.stream(id).unwrap();
        observed.push((upstream, stream.downstream_response_headers().to_vec()));
    }
    host.advance(Duration::from_secs(5)).unwrap();
    let spans: Vec<Value> = host
        .http_calls()
        .iter()
        .flat_map(|c| {
            let v = otlp::payload_json(&c.headers, &c.body);
            v["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().cloned().unwrap_or_default()
        })
        .collect();
    let observed = scenarios
        .iter()
        .zip(&observed)
        .map(|(s, (up, down))| {
            let trace = down.iter().find(|(k, _)| k == "x-trace-id").map(|(_, v)| v.as_str()).unwrap_or("");
            observe(s, up.as_deref(), down, server_and_client(&spans, trace))
        })
        .collect();
    let tags = stats_tags(&text).into_iter().map(|(n, r)| StatsTag::regex(&n, &r).unwrap()).collect();
    let mut text = host.prometheus(&PrometheusConfig { stats_tags: tags, ..Default::default() });
    // The request metrics are served by the module, as a scrape of the metrics listener gets them.
    let scrape = host.new_stream();
    let request = [(":method", "GET"), (":path", "/meshlens/metrics"), (":scheme", "http"), (":authority", "m")];
    host.request_headers(scrape, &request, true).unwrap();
    let reply = host.stream(scrape).unwrap().local_reply().cloned().expect("the module answers the scrape");
    assert_eq!(reply.status, 200);
    text.push_str(&String::from_utf8(reply.body).unwrap());
    (observed, module_metrics(&text))
}

#[test]
fn harness_and_envoy_agree_on_every_scenario() {
    let (envoy, envoy_metrics, envoy_bodies) = envoy_side();
    let (harness, harness_metrics) = harness_side(&envoy_bodies);
    for ((s, e), h) in plugin::scenarios().iter().zip(&envoy).zip(&harness) {
        assert_eq!(h, e, "scenario `{}`: harness (left) differs from Envoy (right)", s.name);
    }
    let only_harness: Vec<&String> = harness_metrics.iter().filter(|l| !envoy_metrics.contains(l)).collect();
    let only_envoy: Vec<&String> = envoy_metrics.iter().filter(|l| !harness_metrics.contains(l)).collect();
    assert!(
        only_harness.is_empty() && only_envoy.is_empty() && !envoy_metrics.is_empty(),
        "module metrics differ:\n only in the harness: {only_harness:#?}\n only in Envoy: {only_envoy:#?}"
    );
}
