//! Real OTLP/HTTP receivers take what real Envoy, with the shipped edge config, exports in the
//! default encoding (binary protobuf), and give it back.
//!
//! Why these receivers (both installed by `cargo xtask setup` into `.venv-receivers/`; only the
//! package registries are reachable here, so no collector release binary):
//! - **Arize Phoenix** (PyPI `arize-phoenix`) for traces: its `/v1/traces` accepts protobuf only
//!   (it answers `415 Unsupported content type: application/json`, the refusal issue #14
//!   reports), parses the request with the official generated classes, and stores the spans in
//!   SQLite, from which its REST API (`GET /v1/projects/default/spans`) reads them back. It
//!   takes no logs.
//! - **rotel** (PyPI `rotel`, the OpenTelemetry collector written in Rust on the `opentelemetry-proto`
//!   crate's prost types; one 10 MB binary) for logs, spans and metrics (sums and histograms with
//!   exemplars): it decodes the export, batches
//!   it and exports it again as OTLP/HTTP protobuf to the next hop, here the tests' loopback
//!   receiver. It stores nothing itself; what it re-exports is what it understood. No lean
//!   package on PyPI or npm stores OTLP logs (the stores that do, such as Loki or OpenObserve,
//!   ship as release binaries).
//!
//! Cost: Phoenix is the heavy one, about 140 packages and 860 MB installed, about a minute to
//! install from PyPI and 13 s to start on the 2-core machine (benches/RESULTS.md, "Issue #14").

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use meshlens_tests::envoy::{Envoy, Render, TempDir, free_port};
use meshlens_tests::http::{self, Client, Reply, Server};
use meshlens_tests::otlp::{Receiver, Signal};
use meshlens_tests::{paths, plugin};
use meshlens_tests_process::{Process, Ready};
use serde_json::Value;
use telemetry_core::names;

/// The shipped edge gateway's plugin configuration, with OTLP logs on when asked and a short
/// flush interval; everything else as shipped (the exporter's encoding is the default).
fn shipped_config(otlp_logs_and_metrics: bool) -> String {
    let yaml = std::fs::read_to_string(paths::repo_root().join("envoy-config/edge-gateway.yaml")).unwrap();
    let mut config: Value = serde_json::from_str(&plugin::config_of(&yaml)).unwrap();
    assert!(config["tracing"]["exporter"].get("encoding").is_none(), "the shipped config keeps the default");
    config["tracing"]["exporter"]["flush_interval_ms"] = 200.into();
    if otlp_logs_and_metrics {
        config["access_log"] = serde_json::json!({"sinks": ["proxy_log", "otlp"]});
        config["metrics"]["otlp"] = serde_json::json!({"interval_ms": 1000});
    }
    config.to_string()
}

/// Sends `n` requests through Envoy; returns, per request, (x-trace-id, path, status).
fn traffic(envoy: &Envoy, n: usize) -> Vec<(String, String, u16)> {
    let mut client = Client::connect(envoy.listener).unwrap();
    (0..n)
        .map(|i| {
            let path = if i % 3 == 2 { format!("/missing/{i}") } else { format!("/users/{i}") };
            let resp = client.get(&path, &[("user-agent", "otlp-receivers-test/1.0")]).unwrap();
            (resp.header("x-trace-id").expect("x-trace-id").to_owned(), path, resp.status())
        })
        .collect()
}

/// How many of `sent`'s requests went upstream (routed to the app), each with a CLIENT span.
fn upstream_hops(sent: &[(String, String, u16)]) -> usize {
    sent.iter().filter(|(_, path, _)| path.starts_with("/users/")).count()
}

struct Phoenix {
    addr: SocketAddr,
    _process: Process,
    _dir: TempDir,
}

impl Phoenix {
    fn start() -> Self {
        let dir = TempDir::new("phoenix");
        let (port, grpc) = (free_port(), free_port());
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut cmd = Command::new(paths::phoenix());
        cmd.arg("serve")
            .env("PHOENIX_WORKING_DIR", &dir.0)
            .env("PHOENIX_HOST", "127.0.0.1")
            .env("PHOENIX_PORT", port.to_string())
            .env("PHOENIX_GRPC_PORT", grpc.to_string())
            .env("PHOENIX_TELEMETRY_ENABLED", "false")
            // Phoenix 20 connects to a hosted docs server for its assistant at start-up; with no
            // network that sometimes ends the server (exit 3) instead of being skipped.
            .env("PHOENIX_ALLOW_EXTERNAL_RESOURCES", "false")
            .env("PHOENIX_DISABLE_AGENT_ASSISTANT", "true");
        let process = Process::start("phoenix", cmd, &dir.0.join("phoenix.out"), &[Ready::Http(addr, "/healthz")], {
            Duration::from_secs(120)
        })
        .unwrap_or_else(|e| panic!("{e}"));
        Self { addr, _process: process, _dir: dir }
    }

    /// The spans Phoenix stored in its default project (at most 1,000).
    fn spans(&self) -> Vec<Value> {
        let resp = http::get(self.addr, "/v1/projects/default/spans?limit=1000", &[]).unwrap();
        if resp.status() != 200 {
            return Vec::new();
        }
        let v: Value = serde_json::from_slice(&resp.body).unwrap();
        v["data"].as_array().cloned().unwrap_or_default()
    }
}

#[test]
fn phoenix_stores_the_protobuf_spans_envoy_exports_with_the_shipped_edge_config() {
    let phoenix = Phoenix::start();
    // Phoenix is the protobuf-only receiver: JSON is refused, which is why protobuf is the default.
    let json =
        http::post(phoenix.addr, "/v1/traces", &[("content-type", "application/json")], br#"{"resourceSpans":[]}"#);
    assert_eq!(json.unwrap().status(), 415);

    let app =
        Server::start(|m| if m.start.contains("/missing/") { Reply::text(404, "no") } else { Reply::text(200, "ok") });
    let render = Render {
        app_port: app.port(),
        collector_port: phoenix.addr.port(),
        plugin_config: Some(shipped_config(false)),
    };
    let envoy = Envoy::start("edge-gateway.yaml", &render, 1);
    let before = wall_clock_nanos();
    let sent = traffic(&envoy, 12);
    let after = wall_clock_nanos();

    // A SERVER span per request, and a CLIENT span for those routed to the app (`/missing/*` has
    // no route: Envoy's 404, no upstream hop).
    let expected = sent.len() + upstream_hops(&sent);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut stored = phoenix.spans();
    while stored.len() < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        stored = phoenix.spans();
    }
    assert_eq!(stored.len(), expected, "the stored spans: {stored:#?}");
    for (trace_id, path, status) in &sent {
        let of_trace: Vec<&Value> = stored.iter().filter(|s| s["context"]["trace_id"] == trace_id.as_str()).collect();
        let span = of_trace
            .iter()
            .find(|s| s["parent_id"].is_null())
            .unwrap_or_else(|| panic!("no stored root span of trace {trace_id}: {stored:#?}"));
        assert_eq!(span["context"]["span_id"].as_str().map(str::len), Some(16), "{span}");
        let client = of_trace.iter().find(|s| s["parent_id"] == span["context"]["span_id"]);
        assert_eq!(client.is_some(), path.starts_with("/users/"), "a CLIENT span, child of the root, when routed");
        let attributes = &span["attributes"];
        assert_eq!(attributes["http.response.status_code"], u64::from(*status), "{span}");
        assert_eq!(attributes["url.path"], path.as_str(), "{span}");
        assert_eq!(attributes["http.request.method"], "GET", "{span}");
        assert_eq!(attributes["user_agent.original"], "otlp-receivers-test/1.0", "{span}");
        // `http.route` only for a configured route template.
        let route = if path.starts_with("/users/") { Value::from("/users/{id}") } else { Value::Null };
        assert_eq!(attributes["http.route"], route, "{span}");
        let (start, end) = (rfc3339_nanos(&span["start_time"]), rfc3339_nanos(&span["end_time"]));
        // Phoenix keeps microseconds: the window is widened by one on each side.
        assert!(before - 1_000 <= start && start <= end && end <= after + 1_000, "{span}");
    }
    let exported = envoy.metric(names::SPANS_EXPORTED);
    assert_eq!(exported, expected as u64, "Phoenix accepted every span:\n{}", envoy.prometheus());
    assert_eq!(envoy.metric(names::EXPORT_FAILURES), 0);
}

#[test]
fn rotel_takes_the_protobuf_logs_spans_and_metrics_envoy_exports_and_exports_them_again() {
    let next_hop = Receiver::start();
    let dir = TempDir::new("rotel");
    let (http_port, grpc_port) = (free_port(), free_port());
    let rotel_addr = SocketAddr::from(([127, 0, 0, 1], http_port));
    let mut cmd = Command::new(paths::rotel());
    cmd.arg("start")
        .args(["--otlp-http-endpoint", &rotel_addr.to_string()])
        .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc_port}")])
        // rotel 0.0.1a15 gzips its exports whatever `--otlp-exporter-compression` says; the
        // loopback receiver gunzips.
        .args(["--exporter", "otlp", "--otlp-exporter-protocol", "http"])
        .args(["--otlp-exporter-endpoint", &format!("http://127.0.0.1:{}", next_hop.server.port())])
        .args(["--debug-log", "logs", "--debug-log-verbosity", "detailed"]);
    let rotel =
        Process::start("rotel", cmd, &dir.0.join("rotel.out"), &[Ready::Port(rotel_addr)], Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{e}"));

    let app =
        Server::start(|m| if m.start.contains("/missing/") { Reply::text(404, "no") } else { Reply::text(200, "ok") });
    let render = Render { app_port: app.port(), collector_port: http_port, plugin_config: Some(shipped_config(true)) };
    let envoy = Envoy::start("edge-gateway.yaml", &render, 1);
    let sent = traffic(&envoy, 9);

    let records = || -> Vec<Value> {
        let payloads = next_hop.payloads_of(Signal::Logs);
        let resources = payloads.iter().flat_map(|p| p["resourceLogs"].as_array().cloned().unwrap_or_default());
        let scopes = resources.flat_map(|r| r["scopeLogs"].as_array().cloned().unwrap_or_default());
        scopes.flat_map(|s| s["logRecords"].as_array().cloned().unwrap_or_default()).collect()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let expected_spans = sent.len() + upstream_hops(&sent);
    while (records().len() < sent.len() || next_hop.spans().len() < expected_spans) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
    }
    let records = records();
    assert_eq!(records.len(), sent.len(), "every log record came through rotel: {records:#?}");
    let spans = next_hop.spans();
    assert_eq!(spans.len(), expected_spans, "every SERVER and CLIENT span came through rotel");
    for (trace_id, path, status) in &sent {
        let record = records.iter().find(|r| r["traceId"] == trace_id.as_str()).expect("a record of the trace");
        let body = record["body"]["stringValue"].as_str().unwrap_or_default();
        assert!(body.contains(path.as_str()) && body.contains(&status.to_string()), "{record}");
        assert_eq!(record["severityText"], if *status < 400 { "INFO" } else { "WARN" }, "{record}");
        let span =
            spans.iter().find(|s| s.trace_id == *trace_id && s.raw["kind"] == 2).expect("a SERVER span of the trace");
        assert_eq!(record["spanId"], span.span_id.as_str(), "the record and the span share the span id");
        assert_eq!(span.attribute("url.path").as_deref(), Some(path.as_str()));
    }
    let debug = rotel.output();
    assert!(sent.iter().all(|(trace_id, _, _)| debug.contains(trace_id.as_str())), "rotel's own decoding:\n{debug}");
    let prometheus = envoy.prometheus();
    assert_eq!(envoy.metric(names::LOGS_EXPORTED), sent.len() as u64, "{prometheus}");
    assert_eq!(envoy.metric(names::SPANS_EXPORTED), expected_spans as u64, "{prometheus}");
    // The OTLP metrics too: the latest cumulative request count of the worker's stream, and
    // exemplars naming traces the client got back.
    let requests = || -> Option<u64> {
        let payloads = next_hop.payloads_of(Signal::Metrics);
        let resources = payloads.iter().flat_map(|p| p["resourceMetrics"].as_array().cloned().unwrap_or_default());
        let scopes = resources.flat_map(|r| r["scopeMetrics"].as_array().cloned().unwrap_or_default());
        let metrics: Vec<Value> = scopes.flat_map(|s| s["metrics"].as_array().cloned().unwrap_or_default()).collect();
        let totals = metrics.iter().filter(|m| m["name"] == "meshlens_http_requests_total");
        let points = totals.filter_map(|m| m["sum"]["dataPoints"].as_array().cloned()).next_back()?;
        Some(points.iter().map(|p| p["asInt"].as_str().unwrap().parse::<u64>().unwrap()).sum())
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while requests() != Some(sent.len() as u64) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(requests(), Some(sent.len() as u64), "the request count came through rotel");
    let exemplar_traces: Vec<String> = next_hop
        .payloads_of(Signal::Metrics)
        .iter()
        .flat_map(|p| p["resourceMetrics"].as_array().cloned().unwrap_or_default())
        .flat_map(|r| r["scopeMetrics"][0]["metrics"].as_array().cloned().unwrap_or_default())
        .flat_map(|m| m["histogram"]["dataPoints"].as_array().cloned().unwrap_or_default())
        .flat_map(|p| p["exemplars"].as_array().cloned().unwrap_or_default())
        .map(|e| e["traceId"].as_str().unwrap().to_owned())
        .collect();
    assert!(!exemplar_traces.is_empty(), "exemplars survive the collector");
    assert!(exemplar_traces.iter().all(|t| sent.iter().any(|(trace, _, _)| trace == t)), "{exemplar_traces:?}");
}

fn wall_clock_nanos() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    u64::try_from(now.as_nanos()).unwrap()
}

/// Nanoseconds since the epoch of Phoenix's `2026-12-07T02:15:44.044295+00:00`.
fn rfc3339_nanos(v: &Value) -> u64 {
    let text = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    let (date, rest) = text.split_once('T').unwrap();
    let time = rest.trim_end_matches("+00:00").trim_end_matches('Z');
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (hms, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m) = if d[1] <= 2 { (d[0] - 1, d[1] + 9) } else { (d[0], d[1] - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let seconds = days * 86_400 + t[0] * 3_600 + t[1] * 60 + t[2];
    let nanos: i64 = format!("{fraction:0<9}")[..9].parse().unwrap();
    u64::try_from(seconds * 1_000_000_000 + nanos).unwrap()
}
