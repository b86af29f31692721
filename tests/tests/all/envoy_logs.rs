//! Access logs and security events through a real Envoy: JSON lines in Envoy's own log output
//! carrying the trace ids the caller and the upstream saw, OTLP log exports that pass the strict
//! validator, and one security event per burst of 401s from one peer, whatever it claims to be.

use std::time::{Duration, Instant};

use meshlens_tests::envoy::{Envoy, Render};
use meshlens_tests::http::{Client, Reply, Server};
use meshlens_tests::otlp::{self, Receiver};
use serde_json::Value;

const CONFIG: &str = r#"{
  "service": {"name": "edge-gateway"},
  "routes": ["/api/v1/query", "/api/v1/login", "/users/{id}"],
  "tracing": {"exporter": {"cluster": "otel_collector", "flush_interval_ms": 100}},
  "access_log": {"sinks": ["proxy_log", "otlp"]},
  "security": {"threshold": 10, "window_s": 60}
}"#;

/// The JSON objects meshlens wrote into Envoy's log (`... wasm log meshlens meshlens meshlens: {...}`).
fn log_lines(envoy: &Envoy) -> Vec<Value> {
    envoy
        .log()
        .lines()
        // Envoy names the plugin, root id and (in stream contexts) the VM id before the message.
        .filter_map(|l| l.split_once("wasm log ").and_then(|(_, rest)| rest.split_once(": {")).map(|(_, json)| json))
        .map(|json| format!("{{{json}"))
        .map(|json| serde_json::from_str(&json).unwrap_or_else(|e| panic!("not JSON ({e}): {json}")))
        .collect()
}

#[test]
fn access_log_lines_carry_the_trace_ids_and_a_burst_of_401s_is_one_event() {
    let app =
        Server::start(
            |m| {
                if m.start.contains("/api/v1/login") { Reply::text(401, "no") } else { Reply::text(200, "ok") }
            },
        );
    let collector = Receiver::start();
    let render =
        Render { app_port: app.port(), collector_port: collector.server.port(), plugin_config: Some(CONFIG.into()) };
    let envoy = Envoy::start("edge-gateway.yaml", &render, 1);
    let mut client = Client::connect(envoy.listener).unwrap();
    let mut sent = Vec::new();
    for i in 0..5 {
        let resp =
            client.get(&format!("/users/{i}?token=s3cr3t-{i}&q=ok"), &[("authorization", "Bearer s3cr3t")]).unwrap();
        let upstream = app.requests().last().unwrap().header("traceparent").unwrap().to_owned();
        let responded = resp.header("traceresponse").unwrap().split('-').nth(2).unwrap().to_owned();
        sent.push((resp.header("x-trace-id").unwrap().to_owned(), upstream, responded));
    }
    // One peer spoofing a different client on every request: the edge trusts no client-supplied
    // `x-forwarded-for`, so the burst is still the peer's.
    for i in 0..25 {
        let spoofed = format!("192.0.2.{i}");
        assert_eq!(client.get("/api/v1/login", &[("x-forwarded-for", &spoofed)]).unwrap().status(), 401);
    }

    let deadline = Instant::now() + Duration::from_secs(15);
    let mut lines = log_lines(&envoy);
    while lines.len() < 31 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        lines = log_lines(&envoy);
    }
    let requests: Vec<&Value> = lines.iter().filter(|l| l["event_type"].is_null()).collect();
    assert_eq!(requests.len(), 30, "one line per request");
    // Each request's SERVER span and the CLIENT span of its upstream hop.
    let spans = collector.wait_spans(60);
    for (trace_id, upstream, responded) in &sent {
        let line =
            requests.iter().find(|l| l["trace_id"] == trace_id.as_str()).expect("a line with the response's trace id");
        assert!(upstream.contains(trace_id.as_str()), "the upstream continued the same trace");
        assert_eq!(line["span_id"], responded.as_str(), "the logged span is the SERVER span traceresponse names");
        let parent = upstream.split('-').nth(2).unwrap();
        let client = spans.iter().find(|s| s.span_id == parent).expect("the upstream's parent is an exported span");
        assert_eq!(client.raw["kind"], 3, "the upstream's parent is the CLIENT span");
        assert_eq!(client.parent_span_id, responded.as_str(), "a child of the logged SERVER span");
        assert_eq!(line["route"], "/users/{id}");
        assert_eq!(line["status"], 200);
        assert_eq!(line["service"], "edge-gateway");
        assert_eq!(line["query_hash"].as_str().map(str::len), Some(16));
        assert!(line["path"].as_str().unwrap().starts_with("/users/"), "{line}");
        assert_eq!(line["upstream_cluster"], "app", "{line}");
        assert_eq!(line["upstream_host"], format!("127.0.0.1:{}", app.port()).as_str(), "{line}");
    }
    for line in &requests {
        let (ip, port) = line["client_address"].as_str().unwrap().rsplit_once(':').unwrap();
        assert_eq!(ip, "127.0.0.1", "the real peer, not a spoofed x-forwarded-for: {line}");
        assert_ne!(port, "0", "the peer's port: {line}");
    }
    let text = lines.iter().map(Value::to_string).collect::<String>();
    assert!(!text.contains("s3cr3t"), "no secret reaches a log line: {text}");

    let events: Vec<&Value> = lines.iter().filter(|l| !l["event_type"].is_null()).collect();
    assert_eq!(events.len(), 1, "25 failures in one window are one burst: {events:?}");
    assert_eq!(events[0]["event_type"], "access_failure_burst");
    assert_eq!(events[0]["client_address"], "127.0.0.1");
    assert_eq!(events[0]["count"], 10);
    assert_eq!(events[0]["level"], "warn");

    let prometheus = envoy.prometheus();
    assert!(
        prometheus.contains("meshlens_security_events_total{event_type=\"access_failure_burst\"} 1"),
        "{prometheus}"
    );
    assert!(prometheus.contains("meshlens_security_responses_total{kind=\"unauthorized\"} 25"), "{prometheus}");

    let deadline = Instant::now() + Duration::from_secs(15);
    let log_exports = || -> Vec<otlp::Export> {
        collector.exports().into_iter().filter(|e| e.signal() == Some(otlp::Signal::Logs)).collect()
    };
    let records = |exports: &[otlp::Export]| -> usize {
        exports
            .iter()
            .map(|e| e.json()["resourceLogs"][0]["scopeLogs"][0]["logRecords"].as_array().map_or(0, Vec::len))
            .sum()
    };
    while records(&log_exports()) < 31 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let exports = log_exports();
    assert_eq!(records(&exports), 31, "every line is also exported as an OTLP log record");
    assert!(exports.iter().all(otlp::Export::is_protobuf), "logs are protobuf by default");
    let (ok, out) = otlp::validate_exports("logs", &exports);
    assert!(ok, "OTLP logs validator:\n{out}");
    let first = exports[0].json();
    let record = &first["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
    assert_eq!(record["traceId"], sent[0].0.as_str(), "log records carry the trace id");
}

/// `query_hash` keyed by a variable of the VM environment (`vm_config.environment_variables`,
/// here `key_values` in place of the shipped `host_env_keys`): the module reads it through
/// Envoy's WASI `environ_get`, the hash is the HMAC Python's `hmac` computes, the key is in no
/// log line; without a key the hash is of the redacted query.
#[test]
fn an_env_provided_key_keys_the_query_hash() {
    const KEY: &str = "k3y-0f-the-query-hash-1234";
    let app = Server::start(|_| Reply::text(200, "ok"));
    let collector = Receiver::start();
    let hashes = |plugin: &str, env: Option<&str>| -> Vec<String> {
        let render = Render {
            app_port: app.port(),
            collector_port: collector.server.port(),
            plugin_config: Some(plugin.into()),
        };
        let (listener, admin) = (meshlens_tests::envoy::free_port(), meshlens_tests::envoy::free_port());
        let mut text = meshlens_tests::envoy::render("edge-gateway.yaml", &render, listener, admin);
        if let Some(key) = env {
            let shipped = "host_env_keys: [MESHLENS_QUERY_HASH_KEY]";
            assert!(text.contains(shipped), "the shipped bootstrap passes the variable on");
            text = text.replace(shipped, &format!("key_values: {{MESHLENS_QUERY_HASH_KEY: \"{key}\"}}"));
        }
        let envoy = Envoy::start_text(&text, listener, admin, 1);
        let mut client = Client::connect(envoy.listener).unwrap();
        for path in ["/api/v1/query?q=select+1", "/api/v1/query?q=select+1", "/api/v1/query?password=hunter2"] {
            assert_eq!(client.get(path, &[]).unwrap().status(), 200);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut lines = log_lines(&envoy);
        while lines.len() < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            lines = log_lines(&envoy);
        }
        assert!(!envoy.log().contains(KEY), "the key is in no log line");
        lines.iter().map(|l| l["query_hash"].as_str().unwrap().to_owned()).collect()
    };
    let keyed =
        r#"{"access_log": {"query_hash": {"key_env": "MESHLENS_QUERY_HASH_KEY"}}, "tracing": {"enabled": false}}"#;
    let with_key = hashes(keyed, Some(KEY));
    // HMAC-SHA-256(KEY, "q=select+1") and (KEY, "password=hunter2"), first 8 bytes.
    assert_eq!(with_key, ["d793c97432e05dc5", "d793c97432e05dc5", "77b3aa9376bd2a93"]);
    let unkeyed = hashes(r#"{"tracing": {"enabled": false}}"#, None);
    // SHA-256 of "q=select+1" and of the redacted "password=[REDACTED]".
    assert_eq!(unkeyed, ["5638967c8081ece9", "5638967c8081ece9", "30688345ac750027"]);
}
