//! The whole request lifecycle, natively: every scenario of the harness-vs-Envoy conformance
//! table (`tests/data/conformance-scenarios.json`) through the pipeline on the recording host,
//! with the shipped gateway configuration, and what it sent and emitted asserted.

mod client;

use std::path::PathBuf;

use serde_json::Value;

use super::Pipeline;
use super::fake::{FakeHost, HttpCall, Reply, Sent};
use super::host::Headers;
use crate::names;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One conformance scenario.
struct Scenario {
    name: String,
    path: String,
    headers: Vec<(String, String)>,
    upstream: String,
}

fn scenarios() -> Vec<Scenario> {
    let text = std::fs::read_to_string(repo_root().join("tests/data/conformance-scenarios.json")).unwrap();
    let value: Value = serde_json::from_str(&text).unwrap();
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Scenario {
            name: s["name"].as_str().unwrap().to_owned(),
            path: s["path"].as_str().unwrap().to_owned(),
            headers: s["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_str().unwrap().to_owned(), p[1].as_str().unwrap().to_owned()))
                .collect(),
            upstream: s["upstream"].as_str().unwrap().to_owned(),
        })
        .collect()
}

/// The JSON after the `# meshlens-config:` marker of a shipped Envoy config.
fn plugin_config(file: &str) -> String {
    let text = std::fs::read_to_string(repo_root().join("envoy-config").join(file)).unwrap();
    let mut lines = text.lines().skip_while(|l| !l.trim_start().starts_with("# meshlens-config:")).skip(1);
    let value = lines.next().unwrap();
    let indent = value.len() - value.trim_start().len();
    lines.take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent).collect::<Vec<_>>().join("\n")
}

/// Everything a run of the scenarios produced.
struct Run {
    sent: Vec<Sent>,
    spans: Vec<Value>,
    lines: Vec<Value>,
    host: FakeHost,
    pipeline: Pipeline,
}

/// What a scrape of the metrics endpoint (from 127.0.0.1, allowed by the shipped configs) gets.
fn scrape(host: &FakeHost, pipeline: &mut Pipeline) -> String {
    host.set_property("source.address", "127.0.0.1:40001");
    let request = [(":method", "GET"), (":path", "/meshlens/metrics")];
    let unused = Reply { headers: &[], body: b"", from_upstream: false, latency_nanos: 0 };
    host.exchange(pipeline, &request, b"", &unused);
    let (status, _, body) = host.replies.borrow().last().cloned().expect("a reply to the scrape");
    assert_eq!(status, 200);
    String::from_utf8(body).unwrap()
}

/// The value of one series (name and labels exactly as printed) in exposition `text`.
fn sample(text: &str, series: &str) -> Option<i64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// `meshlens_<family>{...}` of the standard labels of the shipped gateway.
fn gateway_series(family: &str, route: &str, status: &str, le: Option<&str>) -> String {
    let class = format!("{}xx", &status[..1]);
    let le = le.map(|le| format!(",le=\"{le}\"")).unwrap_or_default();
    format!(
        "meshlens_{family}{{reporter=\"gateway\",method=\"GET\",route=\"{route}\",status_code=\"{status}\",status_class=\"{class}\",grpc_status=\"none\"{le}}}"
    )
}

const START: u64 = 1_767_225_600_000_000_000;
const ENVOY_503_BODY: &[u8] = b"no healthy upstream";

fn run() -> Run {
    let host = FakeHost::new(START, [7; 32]);
    host.set_property("source.address", "127.0.0.1:40000");
    host.set_property("request.protocol", "HTTP/1.1");
    let mut pipeline = Pipeline::configure(plugin_config("edge-gateway.yaml").as_bytes(), &host).unwrap();
    // The plan must name every request header the pipeline reads: the host shows no others.
    host.read_only_planned(pipeline.plan());
    let length = ENVOY_503_BODY.len().to_string();
    let mut sent = Vec::new();
    for s in scenarios() {
        let mut request =
            vec![(":method", "GET"), (":path", s.path.as_str()), (":scheme", "http"), (":authority", "meshlens.test")];
        request.push(("user-agent", "meshlens-tests/1"));
        request.extend(s.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let ok: &[(&str, &str)] = &[(":status", "200"), ("content-length", "2"), ("content-type", "text/plain")];
        let down: &[(&str, &str)] = &[(":status", "503"), ("content-length", &length), ("content-type", "text/plain")];
        let reply = match s.upstream.as_str() {
            "app" => Reply { headers: ok, body: b"ok", from_upstream: true, latency_nanos: 3_000_000 },
            "no_route" => Reply { headers: &[(":status", "404")], body: b"", from_upstream: false, latency_nanos: 0 },
            "down" => Reply { headers: down, body: ENVOY_503_BODY, from_upstream: false, latency_nanos: 250_000_000 },
            other => panic!("scenario `{}`: unknown upstream `{other}`", s.name),
        };
        upstream_attributes(&host, &s.upstream);
        sent.push(host.exchange(&mut pipeline, &request, b"", &reply));
    }
    host.memory_bytes.set(1 << 20);
    host.tick(&mut pipeline, 5_000_000_000);
    let spans = host
        .calls
        .borrow()
        .iter()
        .flat_map(|c| {
            let v = payload(c);
            v["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().cloned().unwrap_or_default()
        })
        .collect();
    let lines = host
        .logs
        .borrow()
        .iter()
        .filter(|(_, l)| l.starts_with('{'))
        .map(|(_, l)| serde_json::from_str(l).unwrap())
        .collect();
    Run { sent, spans, lines, host, pipeline }
}

/// The upstream attributes Envoy 1.40 shows at stream end for the gateway's three kinds of
/// request (as measured in `host-harness/src/properties/tests.rs`): relayed by the app (a 2.5 ms
/// backend latency after a 0.1 ms pool wait), no route (no cluster), and `down`'s closed port
/// (connect failure: response flag UF, no backend latency).
fn upstream_attributes(host: &FakeHost, upstream: &str) {
    for path in [
        "xds.cluster_name",
        "upstream.address",
        "upstream.cx_pool_ready_duration",
        "response.backend_latency",
        "response.flags",
        "response.code_details",
    ] {
        host.remove_property(path);
    }
    match upstream {
        "app" => {
            host.set_property("xds.cluster_name", "app");
            host.set_property("upstream.address", "127.0.0.1:8080");
            host.set_property_u64("upstream.cx_pool_ready_duration", 100_000);
            host.set_property_u64("response.backend_latency", 2_500_000);
            host.set_property_u64("response.flags", 0);
            host.set_property("response.code_details", "via_upstream");
        }
        "down" => {
            host.set_property("xds.cluster_name", "down");
            host.set_property("upstream.address", "127.0.0.1:9");
            host.set_property_u64("upstream.cx_pool_ready_duration", 0);
            host.set_property_u64("response.flags", 0x20);
            host.set_property("response.code_details", DOWN_DETAILS);
        }
        _ => {
            host.set_property_u64("response.flags", 0x100);
            host.set_property("response.code_details", "route_not_found");
        }
    }
}

/// `response.code_details` of a request to a closed port.
const DOWN_DETAILS: &str =
    "upstream_reset_before_response_started{remote_connection_failure|delayed_connect_error:_Connection_refused}";

/// An export call's body in the OTLP JSON shape, read by its `content-type` (protobuf by
/// default, JSON when the configuration says so).
fn payload(call: &HttpCall) -> Value {
    let path = header(&call.headers, ":path").unwrap();
    let signal = otlp_decode::Signal::of_path(path).unwrap();
    otlp_decode::payload(signal, header(&call.headers, "content-type").unwrap(), &call.body).unwrap()
}

/// Every span of every export call the host recorded, in call order (calls that carry no spans,
/// such as OTLP logs, add none).
fn exported_spans(host: &FakeHost) -> Vec<Value> {
    host.calls
        .borrow()
        .iter()
        .flat_map(|c| payload(c)["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"].as_array().unwrap().iter().find(|a| a["key"] == key).map(|a| &a["value"])
}

/// One row of [`EXPECTED`].
type Expected = (&'static str, Option<&'static str>, bool, &'static str, bool, &'static str);

/// Per scenario, in table order: the span's name (`None`: not sampled), whether the trace is
/// the caller's, the status sent downstream, whether the span is an error, and the W3C trace
/// flags sent (`sampled`, and Level 2's `random-trace-id` on the module's own trace ids and
/// where the caller set it).
const EXPECTED: [Expected; 8] = [
    ("continued W3C trace", Some("GET /api/v1/query"), true, "200", false, "01"),
    ("no context", Some("GET /users/{id}"), false, "200", false, "03"),
    ("invalid traceparent", Some("GET /users/{id}"), false, "200", false, "03"),
    ("B3 single", Some("GET /health"), true, "200", false, "01"),
    ("unsampled caller", None, true, "200", false, "00"),
    ("no route", Some("GET"), false, "404", false, "03"),
    ("no healthy upstream", Some("GET"), true, "503", true, "01"),
    ("Trace Context Level 2 caller", Some("GET /api/v1/query"), true, "200", false, "03"),
];

#[test]
fn every_conformance_scenario_runs_natively_with_one_trace_id_everywhere() {
    let run = run();
    let scenarios = scenarios();
    assert_eq!(scenarios.len(), EXPECTED.len(), "the scenario table and the expectations must match");
    for ((s, sent), (name, span_name, continued, status, error, flags)) in scenarios.iter().zip(&run.sent).zip(EXPECTED)
    {
        assert_eq!(s.name, name);
        let trace = header(&sent.downstream, "x-trace-id").unwrap_or_else(|| panic!("{name}: no x-trace-id"));
        assert_eq!(trace.len(), 32, "{name}");
        assert_eq!(header(&sent.downstream, ":status"), Some(status), "{name}");
        let given = s.headers.iter().any(|(_, v)| v.contains(trace));
        assert_eq!(given, continued, "{name}: trace id {trace} continued from the caller?");
        let traceresponse = header(&sent.downstream, "traceresponse").unwrap();
        assert!(traceresponse.starts_with(&format!("00-{trace}-")), "{name}: {traceresponse}");
        // Two scenarios continue the same caller's trace: the span is found by its own id.
        let span_id = traceresponse.split('-').nth(2).unwrap();
        let span = run.spans.iter().find(|v| v["spanId"] == span_id);
        assert!(span.is_none_or(|v| v["traceId"] == trace), "{name}: the span carries the response's trace id");
        assert_eq!(span.map(|v| v["name"].as_str().unwrap()), span_name, "{name}");
        assert!(traceresponse.ends_with(&format!("-{flags}")), "{name}: {traceresponse}");
        // The CLIENT span: child of the SERVER span, and the upstream's parent; none without an
        // upstream (no route) or a recorded span (unsampled).
        let client = span.and_then(|server| {
            run.spans.iter().find(|v| v["parentSpanId"] == server["spanId"] && v["traceId"] == server["traceId"])
        });
        assert_eq!(client.is_some(), span.is_some() && s.upstream != "no_route", "{name}: a CLIENT span");
        if let Some(up) = &sent.upstream {
            let tp = header(up, "traceparent").unwrap();
            let (parent, flags_sent) = (tp.split('-').nth(2).unwrap(), tp.split('-').nth(3).unwrap());
            assert_eq!(&tp[..36], &traceresponse[..36], "{name}: one trace up and down");
            assert_eq!(flags_sent, flags, "{name}");
            match client {
                Some(client) => {
                    assert_eq!(client["spanId"], parent, "{name}: the upstream's parent is the CLIENT span")
                }
                None => assert_eq!(parent, span_id, "{name}: unsampled, the parent is the proxy's span id"),
            }
        }
        if let Some(client) = client {
            assert_eq!(client["kind"], 3, "{name}: CLIENT");
            assert_eq!(client["name"], "GET", "{name}: `{{method}}`, no route in a client span's name");
            assert_eq!(
                attribute(client, "url.full").unwrap()["stringValue"],
                format!("http://meshlens.test{}", s.path)
            );
            let server = span.unwrap();
            let time = |v: &Value, k: &str| v[k].as_str().unwrap().parse::<u64>().unwrap();
            assert!(time(client, "startTimeUnixNano") >= time(server, "startTimeUnixNano"), "{name}");
            assert!(time(client, "endTimeUnixNano") <= time(server, "endTimeUnixNano"), "{name}");
            if s.upstream == "down" {
                assert_eq!(attribute(client, "error.type").unwrap()["stringValue"], "connect_failure");
                assert_eq!(attribute(client, "server.port").unwrap()["intValue"], "9");
                assert!(attribute(client, "http.response.status_code").is_none(), "{name}: Envoy's 503, not the app's");
                assert_eq!(client["status"]["code"], 2, "{name}");
            } else {
                assert_eq!(attribute(client, "http.response.status_code").unwrap()["intValue"], "200");
                assert_eq!(attribute(client, "network.peer.address").unwrap()["stringValue"], "127.0.0.1");
                assert_eq!(attribute(client, "upstream_cluster.name").unwrap()["stringValue"], "app");
                assert_eq!(
                    time(client, "endTimeUnixNano") - time(client, "startTimeUnixNano"),
                    2_600_000,
                    "{name}: pool wait + backend latency"
                );
            }
        }
        assert_eq!(sent.upstream.is_some(), s.upstream == "app", "{name}");
        let line = run.lines.iter().find(|l| l["span_id"] == span_id).unwrap_or_else(|| panic!("{name}: no log line"));
        assert_eq!(line["status"], status.parse::<u16>().unwrap(), "{name}");
        assert_eq!(line["path"], s.path.split('?').next().unwrap(), "{name}: the path without its query");
        assert_eq!(line["trace_id"], trace, "{name}");
        if let Some(span) = span {
            let want = u64::from_str_radix(flags, 16).unwrap();
            assert_eq!(span["flags"].as_u64().unwrap() & 0xff, want, "{name}: W3C flags in the low 8 bits");
            assert_eq!(span["kind"], 2, "{name}: SERVER");
            assert_eq!(span["status"]["code"].as_u64().unwrap_or(0) == 2, error, "{name}");
            assert_eq!(attribute(span, "http.response.status_code").unwrap()["intValue"], status, "{name}");
            assert_eq!(attribute(span, "url.path").unwrap()["stringValue"], s.path.split('?').next().unwrap());
            assert_eq!(attribute(span, "client.address").unwrap()["stringValue"], "127.0.0.1");
            assert_eq!(attribute(span, "network.peer.port").unwrap()["intValue"], "40000", "{name}");
            // The shipped gateway captures content-type both ways: every reply here has one
            // except the 404 of no route.
            let captured = attribute(span, "http.response.header.content-type");
            let want = (s.upstream != "no_route")
                .then(|| serde_json::json!({"arrayValue": {"values": [{"stringValue": "text/plain"}]}}));
            assert_eq!(captured, want.as_ref(), "{name}");
            let parent = span["parentSpanId"].as_str().unwrap_or("");
            assert_eq!(!parent.is_empty(), continued, "{name}: parent {parent}");
        }
    }
    assert_eq!(
        run.spans.len(),
        7 + 6,
        "every sampled request's SERVER span, and a CLIENT span for 6 that went upstream"
    );
    assert_eq!(run.lines.len(), 8, "one access line per request");
}

#[test]
fn trace_headers_sent_upstream_follow_the_configured_formats() {
    let run = run();
    let up = |i: usize| run.sent[i].upstream.clone().unwrap();
    assert_eq!(header(&up(0), "tracestate"), Some("a=1,b=2"), "tracestate is forwarded as received");
    assert!(header(&up(0), "traceparent").unwrap().starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
    let b3 = up(3);
    assert!(header(&b3, "traceparent").unwrap().starts_with("00-80f198ee56343ba864fe8b2a57d3eff7-"));
    assert_eq!(
        header(&b3, "b3"),
        Some("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"),
        "B3 is read, not injected, under the gateway's `trust` policy: the caller's header passes"
    );
    assert!(header(&up(2), "traceparent").unwrap() != "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01");
    assert!(header(&up(4), "traceparent").unwrap().ends_with("-00"), "the caller's unsampled decision is kept");
    let level_2 = up(7);
    assert!(header(&level_2, "traceparent").unwrap().starts_with("00-a3ce929d0e0e47364bf92f3577b34da6-"));
    assert!(header(&level_2, "traceparent").unwrap().ends_with("-03"), "the caller's random flag is kept");
    assert_eq!(
        header(&level_2, "tracestate"),
        Some("1vendor@acme=x,congo=t61rcWkgMzE"),
        "a Level 2 key is valid and the later duplicate is dropped, not the whole tracestate"
    );
}

#[test]
fn each_exchange_keeps_the_record_of_its_trace_decision() {
    use crate::propagation::Format;
    use crate::tracer::{TraceOrigin, TraceStateFate};
    let run = run();
    let decision = |i: usize| run.sent[i].decision.unwrap();
    assert_eq!((decision(0).extracted, decision(0).trace), (Some(Format::TraceContext), TraceOrigin::Continued));
    assert_eq!(decision(0).tracestate, TraceStateFate::Kept);
    assert_eq!((decision(1).extracted, decision(1).trace), (None, TraceOrigin::Started));
    assert!(decision(2).invalid_context && decision(2).trace == TraceOrigin::Started);
    assert_eq!(decision(3).extracted, Some(Format::B3Single));
    assert!(!decision(4).sampled, "the unsampled caller");
    // The record names the span the exchange exported and the ids sent downstream.
    for (i, sent) in run.sent.iter().enumerate() {
        let context = sent.context.as_ref().unwrap();
        assert_eq!(sent.decision.unwrap().sampled, context.flags.sampled(), "scenario {i}");
        assert_eq!(header(&sent.downstream, "x-trace-id"), Some(context.trace_id.to_hex().as_str()), "scenario {i}");
    }
}

#[test]
fn metric_series_are_served_and_self_telemetry_reaches_the_host_on_the_tick() {
    let mut run = run();
    let text = scrape(&run.host, &mut run.pipeline);
    let requests = |route: &str, status: &str| sample(&text, &gateway_series(names::REQUESTS, route, status, None));
    assert_eq!(requests("/api/v1/query", "200"), Some(2));
    assert_eq!(requests("/users/{id}", "200"), Some(2));
    assert_eq!(requests("/health", "200"), Some(2));
    assert_eq!(requests("other", "404"), Some(1));
    assert_eq!(requests("other", "503"), Some(1));
    let total: i64 = text
        .lines()
        .filter(|l| l.starts_with(&format!("meshlens_{}{{", names::REQUESTS)))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<i64>().ok())
        .sum();
    assert_eq!(total, 8, "{text}");
    let duration = |suffix: &str| format!("{}{suffix}", names::REQUEST_DURATION);
    assert_eq!(sample(&text, &gateway_series(&duration("_count"), "other", "503", None)), Some(1));
    assert_eq!(sample(&text, &gateway_series(&duration("_bucket"), "/users/{id}", "200", Some("+Inf"))), Some(2));
    let host = &run.host;
    assert!(!host.metrics.borrow().iter().any(|(n, _, _)| n.starts_with("meshlens_http_")), "not Envoy counters too");
    assert_eq!(host.metric(names::TRACE_CONTEXT_INVALID), Some(1), "the uppercase traceparent");
    assert_eq!(host.metric(names::CONFIG_RELOADS), Some(1));
    assert_eq!(host.metric(names::WASM_MEMORY), Some(1 << 20));
    assert_eq!(host.metric(names::SPANS_DROPPED), Some(0));
    assert_eq!(host.tick_period_ms.get(), Some(100));
    let calls = host.calls.borrow();
    assert_eq!(calls.len(), 1, "one batch");
    assert_eq!(calls[0].cluster, "otel_collector");
    assert!(calls[0].headers.contains(&(String::from(":authority"), String::from("otel-collector:4318"))));
}

#[test]
fn exported_spans_are_counted_when_the_collector_answers() {
    let run_host = FakeHost::new(START, [9; 32]);
    let mut pipeline = Pipeline::configure(plugin_config("edge-gateway.yaml").as_bytes(), &run_host).unwrap();
    let request = [(":method", "POST"), (":path", "/api/v1/query")];
    let ok = Reply { headers: &[(":status", "200")], body: b"", from_upstream: true, latency_nanos: 1 };
    for _ in 0..3 {
        run_host.exchange(&mut pipeline, &request, b"", &ok);
    }
    run_host.tick(&mut pipeline, 2_000_000_000);
    let token = run_host.calls.borrow()[0].token;
    pipeline.on_export_answer(&run_host, token, Some(200));
    assert_eq!(run_host.metric(names::SPANS_EXPORTED), Some(3));
    assert_eq!(pipeline.queued_spans(), 0);
}

#[test]
fn the_plan_reads_only_what_the_configuration_selects() {
    let config = r#"{"metrics": {"dimensions": [{"name": "tenant", "from": {"request_header": "x-tenant"}},
        {"name": "region", "from": {"property": ["node", "metadata", "REGION"]}},
        {"name": "cache", "from": {"response_header": "x-cache"}}]},
        "access_log": {"fields": ["method", "status", "upstream_host"]}}"#;
    let host = FakeHost::new(START, [1; 32]);
    let pipeline = Pipeline::configure(config.as_bytes(), &host).unwrap();
    let paths: Vec<String> = pipeline.plan().properties().iter().map(|p| p.path().join(".")).collect();
    assert_eq!(
        paths,
        [
            "response.code",
            "source.address",
            "request.protocol",
            "xds.cluster_name",
            "upstream.address",
            "upstream.cx_pool_ready_duration",
            "response.backend_latency",
            "response.flags",
            "response.code_details",
            "node.metadata.REGION"
        ]
    );
    assert_eq!(pipeline.plan().response_headers().collect::<Vec<_>>(), [":status", "x-cache"]);
    let request: Vec<&str> = pipeline.plan().request_headers().collect();
    assert_eq!(
        request[..7],
        [":method", ":path", ":scheme", ":authority", "user-agent", "x-request-id", "content-type"]
    );
    assert_eq!(request[7..9], ["traceparent", "tracestate"]);
    assert!(request.contains(&"b3") && request.contains(&"x-b3-sampled") && request.ends_with(&["x-tenant"]));
    let untraced = Pipeline::configure(br#"{"tracing": {"enabled": false}}"#, &host).unwrap();
    assert!(!untraced.plan().request_headers().any(|h| h == "traceparent"), "no trace headers without tracing");
    let minimal =
        Pipeline::configure(br#"{"tracing": {"client_span": "off"}, "access_log": {"fields": ["method"]}}"#, &host)
            .unwrap();
    let paths: Vec<String> = minimal.plan().properties().iter().map(|p| p.path().join(".")).collect();
    assert_eq!(paths, ["response.code", "source.address", "request.protocol"], "no upstream reads");
}

#[test]
fn a_reply_before_the_request_callback_still_gets_a_trace_id_and_a_span() {
    let host = FakeHost::new(START, [3; 32]);
    let mut pipeline = Pipeline::configure(plugin_config("edge-gateway.yaml").as_bytes(), &host).unwrap();
    // An earlier filter answered: the response headers come first, the request was never seen.
    let mut exchange = pipeline.new_exchange();
    host.start_response(&[(":status", "403")]);
    pipeline.on_response_headers(&mut exchange, &host);
    let trace = host.response_header("x-trace-id").expect("the trace id on a local reply");
    host.request.borrow_mut().extend([(String::from(":path"), String::from("/users/9"))]);
    host.request_visible.set(true);
    pipeline.on_log(&mut exchange, &host);
    host.tick(&mut pipeline, 2_000_000_000);
    let body: Value = payload(&host.calls.borrow()[0]);
    let span = &body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(span["traceId"], trace.as_str());
    assert_eq!(attribute(span, "http.response.status_code").unwrap()["intValue"], "403");
    assert!(host.request.borrow().iter().all(|(k, _)| k != "traceparent"), "nothing is injected afterwards");
}

#[test]
fn a_stream_reset_before_any_response_reads_the_status_property_and_is_an_error() {
    let host = FakeHost::new(START, [4; 32]);
    let mut pipeline = Pipeline::configure(plugin_config("edge-gateway.yaml").as_bytes(), &host).unwrap();
    let mut exchange = pipeline.new_exchange();
    host.start_request(&[(":method", "GET"), (":path", "/api/v1/query")]);
    pipeline.on_request_headers(&mut exchange, &host);
    // Envoy reports no `response.code` for a downstream reset.
    pipeline.on_log(&mut exchange, &host);
    assert!(host.property_reads.borrow().iter().any(|p| p == "response.code"));
    let line: Value = serde_json::from_str(&host.logs.borrow().last().unwrap().1).unwrap();
    assert_eq!(line["status"], 0);
    assert_eq!(line["level"], "error");
    host.tick(&mut pipeline, 2_000_000_000);
    let body: Value = payload(&host.calls.borrow()[0]);
    let span = &body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(span["status"]["code"], 2);
    assert_eq!(attribute(span, "error.type").unwrap()["stringValue"], "_OTHER");
}

#[test]
fn only_vms_that_serve_traffic_set_the_memory_gauge() {
    let host = FakeHost::new(START, [5; 32]);
    host.memory_bytes.set(3 << 16);
    let mut idle = Pipeline::configure(b"{}", &host).unwrap();
    host.tick(&mut idle, 1_000_000_000);
    assert_eq!(host.metric(names::WASM_MEMORY), Some(0), "defined, never set by an idle VM");
    let mut serving = Pipeline::configure(b"{}", &host).unwrap();
    let _ = serving.new_exchange();
    host.tick(&mut serving, 1_000_000_000);
    assert_eq!(host.metric(names::WASM_MEMORY), Some(3 << 16));
}

#[test]
fn failed_and_unanswered_exports_count_every_span_once() {
    let host = FakeHost::new(START, [6; 32]);
    let config = r#"{"tracing": {"exporter": {"max_batch_spans": 2}}}"#;
    let mut pipeline = Pipeline::configure(config.as_bytes(), &host).unwrap();
    let ok = Reply { headers: &[(":status", "200")], body: b"", from_upstream: true, latency_nanos: 1 };
    for _ in 0..4 {
        host.exchange(&mut pipeline, &[(":method", "GET"), (":path", "/")], b"", &ok);
    }
    host.tick(&mut pipeline, 2_000_000_000);
    assert_eq!(host.calls.borrow().len(), 2, "two full batches");
    let tokens: Vec<u32> = host.calls.borrow().iter().map(|c| c.token).collect();
    pipeline.on_export_answer(&host, tokens[0], Some(503));
    pipeline.on_export_answer(&host, tokens[1], None);
    pipeline.on_export_answer(&host, 999, Some(200));
    assert_eq!(host.metric(names::SPANS_FAILED), Some(4));
    assert_eq!(host.metric(names::EXPORT_FAILURES_TRACES), Some(2));
    assert_eq!(host.metric(names::SPANS_EXPORTED), Some(0), "an unknown token counts nothing");
}

#[test]
fn a_full_batch_leaves_when_the_stream_fills_it_not_on_the_next_tick() {
    let host = FakeHost::new(START, [6; 32]);
    let config = r#"{"tracing": {"exporter": {"max_batch_spans": 3, "max_in_flight": 1}}}"#;
    let mut pipeline = Pipeline::configure(config.as_bytes(), &host).unwrap();
    let ok = Reply { headers: &[(":status", "200")], body: b"", from_upstream: true, latency_nanos: 1 };
    let get = [(":method", "GET"), (":path", "/")];
    for _ in 0..2 {
        host.exchange(&mut pipeline, &get, b"", &ok);
    }
    assert_eq!((host.wakes_asked.get(), host.calls.borrow().len()), (0, 0), "a partial batch waits");
    host.exchange(&mut pipeline, &get, b"", &ok);
    assert_eq!(host.wakes_asked.get(), 1, "the third span fills the batch: the root is woken");
    assert_eq!(host.calls.borrow().len(), 1, "and sends it with no tick");
    assert_eq!(pipeline.queued_spans(), 0);
    // The only call slot is taken: a second full batch asks for no wake-up and waits for the
    // answer, which sends it.
    for _ in 0..3 {
        host.exchange(&mut pipeline, &get, b"", &ok);
    }
    assert_eq!((host.wakes_asked.get(), host.calls.borrow().len()), (1, 1));
    host.answer_calls(&mut pipeline, Some(200));
    assert_eq!(host.calls.borrow().len(), 2, "the answer freed the slot");
    host.answer_calls(&mut pipeline, Some(200));
    assert_eq!(host.metric(names::SPANS_EXPORTED), Some(6));
    assert_eq!(host.metric(names::SPANS_DROPPED), Some(0));
}

#[test]
fn one_wake_up_is_asked_for_until_it_runs_and_a_lost_one_is_covered_by_the_tick() {
    let host = FakeHost::new(START, [6; 32]);
    let config = r#"{"tracing": {"exporter": {"max_batch_spans": 2, "max_queue_spans": 8}}}"#;
    let mut pipeline = Pipeline::configure(config.as_bytes(), &host).unwrap();
    let get = [(":method", "GET"), (":path", "/")];
    // Streams end without the wake-up running (the host has not got to it yet).
    for _ in 0..6 {
        let mut exchange = pipeline.new_exchange();
        host.start_request(&get);
        pipeline.on_request_headers(&mut exchange, &host);
        host.start_response(&[(":status", "200")]);
        pipeline.on_response_headers(&mut exchange, &host);
        pipeline.on_log(&mut exchange, &host);
    }
    assert_eq!(host.wakes_asked.get(), 1, "one pending wake-up is enough");
    // The host lost it: the tick sends the full batches and the next full batch wakes again.
    host.wakes.set(0);
    host.tick(&mut pipeline, 1_000_000);
    assert_eq!(host.calls.borrow().len(), 3);
    let ok = Reply { headers: &[(":status", "200")], body: b"", from_upstream: true, latency_nanos: 1 };
    host.exchange(&mut pipeline, &get, b"", &ok);
    host.exchange(&mut pipeline, &get, b"", &ok);
    assert_eq!(host.wakes_asked.get(), 2);
    assert_eq!(host.calls.borrow().len(), 4);
}

#[test]
fn a_refusing_host_is_tried_once_a_tick_not_after_every_request() {
    let host = FakeHost::new(START, [6; 32]);
    let config = r#"{"tracing": {"exporter": {"max_batch_spans": 2}}}"#;
    let mut pipeline = Pipeline::configure(config.as_bytes(), &host).unwrap();
    *host.refuse_calls.borrow_mut() = Some(String::from("BadArgument"));
    let ok = Reply { headers: &[(":status", "200")], body: b"", from_upstream: true, latency_nanos: 1 };
    for _ in 0..2 {
        host.exchange(&mut pipeline, &[(":method", "GET"), (":path", "/")], b"", &ok);
    }
    assert_eq!(host.wakes_asked.get(), 1, "the first full batch wakes the root, which is refused");
    for _ in 0..20 {
        host.exchange(&mut pipeline, &[(":method", "GET"), (":path", "/")], b"", &ok);
    }
    assert_eq!(host.wakes_asked.get(), 1, "no wake-up per request while the host refuses");
    assert_eq!(host.metric(names::EXPORT_FAILURES_TRACES), Some(1));
    host.tick(&mut pipeline, 100_000_000);
    assert_eq!(host.metric(names::EXPORT_FAILURES_TRACES), Some(2), "the tick tries again");
    *host.refuse_calls.borrow_mut() = None;
    host.tick(&mut pipeline, 100_000_000);
    let sent = host.calls.borrow().len();
    assert!(sent >= 1, "the host takes calls again");
    host.answer_calls(&mut pipeline, Some(200));
    for _ in 0..2 {
        host.exchange(&mut pipeline, &[(":method", "GET"), (":path", "/")], b"", &ok);
    }
    assert_eq!(host.wakes_asked.get(), 2, "and full batches wake the root again");
}

#[test]
fn a_host_that_cannot_wake_the_root_still_exports_on_the_tick() {
    let host = FakeHost::new(START, [6; 32]);
    host.refuse_wakes.set(true);
    let config = r#"{"tracing": {"exporter": {"max_batch_spans": 2}}}"#;
    let mut pipeline = Pipeline::configure(config.as_bytes(), &host).unwrap();
    let ok = Reply { headers: &[(":status", "200")], body: b"", from_upstream: true, latency_nanos: 1 };
    for _ in 0..4 {
        host.exchange(&mut pipeline, &[(":method", "GET"), (":path", "/")], b"", &ok);
    }
    assert_eq!(host.calls.borrow().len(), 0);
    host.tick(&mut pipeline, 100_000_000);
    assert_eq!(host.calls.borrow().len(), 2, "both full batches leave on the tick");
}

#[test]
fn a_missing_collector_is_logged_once_per_interval_with_a_count() {
    let host = FakeHost::new(START, [8; 32]);
    let config = r#"{"tracing": {"exporter": {"flush_interval_ms": 100}}}"#;
    let mut pipeline = Pipeline::configure(config.as_bytes(), &host).unwrap();
    *host.refuse_calls.borrow_mut() = Some(String::from("BadArgument"));
    let ok = Reply { headers: &[(":status", "200")], body: b"", from_upstream: true, latency_nanos: 1 };
    // 25 s of ticks every 100 ms, a span in each: 250 refused calls.
    for _ in 0..250 {
        host.exchange(&mut pipeline, &[(":method", "GET"), (":path", "/")], b"", &ok);
        host.tick(&mut pipeline, 100_000_000);
    }
    let refusals: Vec<String> =
        host.logs.borrow().iter().map(|(_, l)| l.clone()).filter(|l| l.contains("refused")).collect();
    assert_eq!(
        refusals,
        [
            "meshlens: export call to cluster otel_collector refused: BadArgument",
            "meshlens: export call to cluster otel_collector refused 100 more times in the last 10 s: BadArgument",
            "meshlens: export call to cluster otel_collector refused 100 more times in the last 10 s: BadArgument",
        ]
    );
    assert_eq!(host.metric(names::EXPORT_FAILURES_TRACES), Some(250), "every refused call is still counted");
    // The collector comes back for longer than an interval, then fails differently: logged at once.
    *host.refuse_calls.borrow_mut() = None;
    for _ in 0..150 {
        host.tick(&mut pipeline, 100_000_000);
    }
    *host.refuse_calls.borrow_mut() = Some(String::from("InternalFailure"));
    host.exchange(&mut pipeline, &[(":method", "GET"), (":path", "/")], b"", &ok);
    host.tick(&mut pipeline, 100_000_000);
    let last = host.logs.borrow().last().unwrap().1.clone();
    assert_eq!(last, "meshlens: export call to cluster otel_collector refused: InternalFailure");
}

#[test]
fn a_reply_the_filter_never_saw_is_logged_and_counted_without_a_span() {
    let host = FakeHost::new(START, [2; 32]);
    let mut pipeline = Pipeline::configure(plugin_config("edge-gateway.yaml").as_bytes(), &host).unwrap();
    // Envoy's codec answered 431 before any filter ran: only `on_log` comes.
    let mut exchange = pipeline.new_exchange();
    // Envoy encodes integer attributes as 8 little-endian bytes.
    host.properties.borrow_mut().insert(String::from("response.code"), 431u64.to_le_bytes().to_vec());
    // What the codec parsed before refusing is visible at stream end, a broken traceparent too.
    host.request.borrow_mut().push((String::from("traceparent"), String::from("00-broken")));
    host.request_visible.set(true);
    pipeline.on_log(&mut exchange, &host);
    host.tick(&mut pipeline, 2_000_000_000);
    assert!(host.calls.borrow().is_empty(), "no span: no x-trace-id could carry its trace id");
    assert_eq!(host.metric(names::TRACE_CONTEXT_INVALID), Some(0), "no span, so no context was parsed");
    let line: Value = serde_json::from_str(&host.logs.borrow().last().unwrap().1).unwrap();
    assert_eq!(line["status"], 431);
    assert!(line.get("trace_id").is_none(), "{line}");
    assert_eq!(line["method"], "_OTHER", "no method was parsed: none is reported as GET");
    let text = scrape(&host, &mut pipeline);
    let series = gateway_series(names::REQUESTS, "other", "431", None).replace("method=\"GET\"", "method=\"other\"");
    assert_eq!(sample(&text, &series), Some(1), "{text}");
}

#[test]
fn secrets_in_the_path_and_the_authority_reach_no_output() {
    let host = FakeHost::new(START, [10; 32]);
    let mut pipeline = Pipeline::configure(plugin_config("edge-gateway.yaml").as_bytes(), &host).unwrap();
    let request = [
        (":method", "GET"),
        (":path", "/api/v1/query;jsessionid=PLANTED1?q=1"),
        (":authority", "admin:PLANTED2@example.com:8443"),
    ];
    let ok = Reply { headers: &[(":status", "200")], body: b"", from_upstream: true, latency_nanos: 1 };
    host.exchange(&mut pipeline, &request, b"", &ok);
    host.tick(&mut pipeline, 2_000_000_000);
    let emitted: String = host.calls.borrow().iter().map(|c| payload(c).to_string()).collect();
    let lines: String = host.logs.borrow().iter().map(|(_, l)| l.clone()).collect();
    let metrics: String = host.metrics.borrow().iter().map(|(n, _, _)| n.clone()).collect();
    for output in [&emitted, &lines, &metrics] {
        assert!(!output.contains("PLANTED"), "a planted secret leaked: {output}");
    }
    let body: Value = serde_json::from_str(&emitted).unwrap();
    let span = &body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(attribute(span, "url.path").unwrap()["stringValue"], "/api/v1/query;jsessionid=[REDACTED]");
    assert_eq!(attribute(span, "server.address").unwrap()["stringValue"], "example.com");
    assert_eq!(attribute(span, "server.port").unwrap()["intValue"], "8443");
    assert_eq!(
        host.metric(&format!("{};kind=path_param", names::REDACTIONS)),
        Some(1),
        "one redaction, shared by the span and the line"
    );
    assert_eq!(host.metric(&format!("{};kind=userinfo", names::REDACTIONS)), Some(1));
}
mod grpc;
mod log_level;
mod query_hash;
mod security_counters;
mod span_attributes;

#[test]
fn exports_are_protobuf_by_default_and_json_when_configured() {
    // The same request, exported under each encoding: the content-type says which, and both
    // bodies read back as the same spans and log records.
    let export = |encoding: &str| {
        let config = format!(
            r#"{{"tracing": {{"exporter": {{{encoding}}}}}, "access_log": {{"sinks": ["otlp"], "fields": ["method", "status"]}}}}"#
        );
        let host = FakeHost::new(START, [12; 32]);
        let mut pipeline = Pipeline::configure(config.as_bytes(), &host).unwrap();
        let ok = Reply { headers: &[(":status", "201")], body: b"", from_upstream: true, latency_nanos: 7 };
        host.exchange(&mut pipeline, &[(":method", "POST"), (":path", "/orders")], b"", &ok);
        host.tick(&mut pipeline, 2_000_000_000);
        let calls = host.calls.borrow();
        let types: Vec<(String, String)> = calls
            .iter()
            .map(|c| {
                (
                    header(&c.headers, ":path").unwrap().to_owned(),
                    header(&c.headers, "content-type").unwrap().to_owned(),
                )
            })
            .collect();
        (types, calls.iter().map(payload).collect::<Vec<_>>(), calls.iter().map(|c| c.body.clone()).collect::<Vec<_>>())
    };
    let (protobuf_types, protobuf, protobuf_bytes) = export("");
    let (json_types, json, json_bytes) = export(r#""encoding": "json""#);
    let (explicit_types, _, _) = export(r#""encoding": "protobuf""#);
    let expect = |ct: &str| vec![("/v1/traces".to_owned(), ct.to_owned()), ("/v1/logs".to_owned(), ct.to_owned())];
    assert_eq!(protobuf_types, expect("application/x-protobuf"));
    assert_eq!(explicit_types, protobuf_types);
    assert_eq!(json_types, expect("application/json"));
    assert!(serde_json::from_slice::<Value>(&protobuf_bytes[0]).is_err(), "the default body is not JSON");
    assert!(serde_json::from_slice::<Value>(&json_bytes[0]).is_ok());
    assert_eq!(protobuf, json);
    assert_eq!(
        protobuf[1]["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["traceId"],
        protobuf[0]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"]
    );
    assert!(protobuf_bytes[0].len() < json_bytes[0].len(), "protobuf is the smaller body");
}

#[test]
fn a_value_that_is_both_a_label_and_a_log_field_is_redacted_once_for_every_output() {
    // x-tenant and an attribute are metric labels and log fields, and the log goes to both sinks.
    let config = r#"{"metrics": {"dimensions": [{"name": "tenant", "from": {"request_header": "x-tenant"}},
        {"name": "region", "from": {"property": ["node", "metadata", "REGION"]}}]},
        "access_log": {"sinks": ["proxy_log", "otlp"], "fields": ["method"],
        "extra": [{"name": "tenant", "from": {"request_header": "x-tenant"}},
                  {"name": "region", "from": {"property": ["node", "metadata", "REGION"]}}]}}"#;
    let host = FakeHost::new(START, [11; 32]);
    let mut pipeline = Pipeline::configure(config.as_bytes(), &host).unwrap();
    let paths: Vec<String> = pipeline.plan().properties().iter().map(|p| p.path().join(".")).collect();
    assert_eq!(paths.iter().filter(|p| *p == "node.metadata.REGION").count(), 1, "one number per path: {paths:?}");
    host.set_property("node.metadata.REGION", "eu-ghp_0123456789abcdefghijABCDEFGHIJ012345");
    let request = [(":method", "GET"), (":path", "/"), ("x-tenant", "acme-AKIAIOSFODNN7EXAMPLE")];
    let ok = Reply { headers: &[(":status", "200")], body: b"", from_upstream: true, latency_nanos: 1 };
    host.exchange(&mut pipeline, &request, b"", &ok);
    let reads = host.property_reads.borrow().iter().filter(|p| *p == "node.metadata.REGION").count();
    assert_eq!(reads, 1, "the attribute is read once for the label and the field");
    host.tick(&mut pipeline, 2_000_000_000);
    host.answer_calls(&mut pipeline, Some(200));
    let line: Value =
        serde_json::from_str(&host.logs.borrow().iter().find(|(_, l)| l.contains("tenant")).unwrap().1).unwrap();
    assert_eq!((line["tenant"].as_str(), line["region"].as_str()), (Some("acme-[REDACTED]"), Some("eu-[REDACTED]")));
    let exported: String = host.calls.borrow().iter().map(|c| payload(c).to_string()).collect();
    assert!(exported.contains("acme-[REDACTED]") && exported.contains("eu-[REDACTED]"), "{exported}");
    let labels: String = host.metrics.borrow().iter().map(|(n, _, _)| n.clone()).collect();
    assert!(labels.contains("tenant=acme-[REDACTED]") && labels.contains("region=eu-[REDACTED]"), "{labels}");
    for output in [&exported, &labels, &line.to_string()] {
        assert!(!output.contains("AKIA") && !output.contains("ghp_"), "{output}");
    }
    // One request, one redaction of each value, whatever the number of places it shows.
    assert_eq!(host.metric(&format!("{};kind=aws_key_id", names::REDACTIONS)), Some(1));
    assert_eq!(host.metric(&format!("{};kind=github_token", names::REDACTIONS)), Some(1));
}

#[test]
fn a_user_agent_no_output_shows_is_not_redacted_or_counted() {
    let agent = "curl/8 (ops@example.com)";
    let count = |config: &str| {
        let host = FakeHost::new(START, [12; 32]);
        let mut pipeline = Pipeline::configure(config.as_bytes(), &host).unwrap();
        let request = [(":method", "GET"), (":path", "/"), ("user-agent", agent)];
        let ok = Reply { headers: &[(":status", "200")], body: b"", from_upstream: true, latency_nanos: 1 };
        host.exchange(&mut pipeline, &request, b"", &ok);
        host.tick(&mut pipeline, 2_000_000_000);
        let lines: String = host.logs.borrow().iter().map(|(_, l)| l.clone()).collect();
        assert!(!lines.contains("ops@"), "{lines}");
        host.metric(&format!("{};kind=email", names::REDACTIONS))
    };
    let unsampled = r#"{"tracing": {"sampling": {"ratio": 0}}, "access_log": {"fields": ["method"]}}"#;
    assert_eq!(count(unsampled), None, "neither the line nor a span shows the user agent");
    let logged = r#"{"tracing": {"sampling": {"ratio": 0}}, "access_log": {"fields": ["user_agent"]}}"#;
    assert_eq!(count(logged), Some(1));
    let traced = r#"{"tracing": {"sampling": {"ratio": 1}}, "access_log": {"fields": ["method"]}}"#;
    assert_eq!(count(traced), Some(1));
}

#[test]
fn the_metrics_endpoint_serves_every_worker_summed_as_typed_histograms() {
    let config = r#"{"routes": ["/api/v1/query"], "metrics": {"duration_buckets": [0.1, 0.5, 1, 2, 5, 10, 30],
        "endpoint": {"allow": ["127.0.0.1/32", "10.1.0.0/16"]}}}"#;
    // Two workers of one proxy: their hosts share the shared data.
    let one = FakeHost::new(START, [13; 32]);
    let two = FakeHost { shared: one.shared.clone(), ..FakeHost::new(START, [14; 32]) };
    let mut first = Pipeline::configure(config.as_bytes(), &one).unwrap();
    let mut second = Pipeline::configure(config.as_bytes(), &two).unwrap();
    let query = [(":method", "GET"), (":path", "/api/v1/query")];
    let ok = Reply { headers: &[(":status", "200")], body: b"", from_upstream: true, latency_nanos: 150_000_000 };
    for _ in 0..3 {
        one.exchange(&mut first, &query, b"", &ok);
        two.exchange(&mut second, &query, b"", &ok);
    }
    two.tick(&mut second, 1_000_000_000);
    let scrape = [(":method", "GET"), (":path", "/meshlens/metrics")];
    one.set_property("source.address", "10.1.2.3:40000");
    let sent = one.exchange(&mut first, &scrape, b"", &ok);
    assert!(sent.upstream.is_none(), "a scrape is answered by the filter");
    let (status, headers, body) = one.replies.borrow().last().cloned().unwrap();
    assert_eq!(status, 200);
    assert_eq!(headers, [(String::from("content-type"), String::from("text/plain; version=0.0.4; charset=utf-8"))]);
    let text = String::from_utf8(body).unwrap();
    let labels = r#"reporter="proxy",method="GET",route="/api/v1/query",status_code="200",status_class="2xx",grpc_status="none""#;
    assert!(text.contains("# TYPE meshlens_http_request_duration_seconds histogram\n"), "{text}");
    assert!(text.contains(&format!("meshlens_http_requests_total{{{labels}}} 6\n")), "both workers, no scrape: {text}");
    assert!(text.contains(&format!("meshlens_http_request_duration_seconds_sum{{{labels}}} 0.9\n")), "{text}");
    assert!(text.contains(&format!("meshlens_http_request_duration_seconds_bucket{{{labels},le=\"0.5\"}} 6\n")));
    // The families are not Envoy counters any more; the module's own counters still are.
    one.tick(&mut first, 1_000_000_000);
    let defined: Vec<String> = one.metrics.borrow().iter().map(|(n, _, _)| n.clone()).collect();
    assert!(!defined.iter().any(|n| n.starts_with("meshlens_http_")), "{defined:?}");
    assert!(defined.iter().any(|n| n == names::CONFIG_RELOADS));
    // Another peer is refused, and neither scrape is a request of the service.
    one.set_property("source.address", "192.0.2.1:40000");
    one.exchange(&mut first, &scrape, b"", &ok);
    assert_eq!(one.replies.borrow().last().unwrap().0, 403);
    assert!(one.logs.borrow().iter().all(|(_, l)| !l.contains("/meshlens/metrics")), "no access line for scrapes");
    one.set_property("source.address", "127.0.0.1:1");
    one.exchange(&mut first, &scrape, b"", &ok);
    let text = String::from_utf8(one.replies.borrow().last().unwrap().2.clone()).unwrap();
    assert!(text.contains(&format!("meshlens_http_requests_total{{{labels}}} 6\n")), "{text}");
    assert!(!text.contains("/meshlens/metrics"), "{text}");
}

#[test]
fn otlp_metrics_carry_exemplars_of_exported_spans() {
    let config = r#"{"routes": ["/api/v1/query"],
        "tracing": {"sampling": {"ratio": 0.5}, "exporter": {"cluster": "otel_collector", "flush_interval_ms": 100}},
        "metrics": {"otlp": {"interval_ms": 1000}}}"#;
    let host = FakeHost::new(START, [15; 32]);
    let mut pipeline = Pipeline::configure(config.as_bytes(), &host).unwrap();
    let ok = Reply { headers: &[(":status", "200")], body: b"", from_upstream: true, latency_nanos: 40_000_000 };
    for _ in 0..40 {
        host.exchange(&mut pipeline, &[(":method", "GET"), (":path", "/api/v1/query")], b"", &ok);
    }
    host.tick(&mut pipeline, 1_000_000_000);
    host.tick(&mut pipeline, 100_000_000);
    host.answer_calls(&mut pipeline, Some(200));
    let calls = host.calls.borrow().clone();
    let body = |path: &str| -> Vec<Value> {
        calls.iter().filter(|c| c.headers.iter().any(|(k, v)| k == ":path" && v == path)).map(payload).collect()
    };
    let traces: Vec<String> = body("/v1/traces")
        .iter()
        .flat_map(|v| v["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().unwrap().clone())
        .map(|s| s["traceId"].as_str().unwrap().to_owned())
        .collect();
    assert!(!traces.is_empty() && traces.len() < 40, "about half sampled: {}", traces.len());
    let metrics = body("/v1/metrics");
    assert_eq!(metrics.len(), 1, "one batch per interval");
    let content_types: Vec<(&str, &str)> = calls
        .iter()
        .map(|c| (header(&c.headers, ":path").unwrap(), header(&c.headers, "content-type").unwrap()))
        .collect();
    assert!(content_types.contains(&("/v1/traces", "application/x-protobuf")), "{content_types:?}");
    assert!(content_types.contains(&("/v1/metrics", "application/x-protobuf")), "{content_types:?}");
    let families = metrics[0]["resourceMetrics"][0]["scopeMetrics"][0]["metrics"].as_array().unwrap().clone();
    let duration = families.iter().find(|m| m["name"] == "meshlens_http_request_duration_seconds").unwrap();
    let point = &duration["histogram"]["dataPoints"][0];
    assert_eq!(point["count"], "40");
    let exemplars = point["exemplars"].as_array().unwrap();
    assert_eq!(exemplars.len(), 1, "40 ms requests share one bucket: one exemplar");
    let exemplar_trace = exemplars[0]["traceId"].as_str().unwrap();
    assert!(traces.iter().any(|t| t == exemplar_trace), "the exemplar's trace {exemplar_trace} was exported");
    assert_eq!(host.metric(names::METRIC_BATCHES_EXPORTED), Some(1));
}

#[test]
fn spans_carry_the_query_scrubbed_and_only_when_there_is_one() {
    let host = FakeHost::new(START, [16; 32]);
    let mut pipeline = Pipeline::configure(br#"{"routes": ["/api/v1/query"]}"#, &host).unwrap();
    let ok = Reply { headers: &[(":status", "200")], body: b"", from_upstream: true, latency_nanos: 1 };
    for path in ["/api/v1/query?q=top+10&access_token=abc&who=ann@example.com#frag", "/api/v1/query", "/api/v1/query?"]
    {
        host.exchange(&mut pipeline, &[(":method", "GET"), (":path", path)], b"", &ok);
    }
    host.tick(&mut pipeline, 2_000_000_000);
    let calls = host.calls.borrow().clone();
    let spans: Vec<Value> = calls
        .iter()
        .flat_map(|c| payload(c)["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().unwrap().clone())
        .collect();
    let query = |i: usize| attribute(&spans[i], "url.query").map(|v| v["stringValue"].as_str().unwrap().to_owned());
    assert_eq!(query(0).as_deref(), Some("q=top+10&access_token=[REDACTED]&who=[REDACTED]"));
    assert_eq!((query(1), query(2)), (None, None), "no query, or an empty one: no attribute");
}
