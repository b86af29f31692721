//! The native build (`filters/edge-telemetry-native`, an Envoy dynamic module) in a real Envoy
//! 1.40 with `envoy-config/edge-gateway-native.yaml`: the same trace propagation, span, access
//! line and metrics as the Wasm module, and the same series (names and labels) as the Wasm
//! module's when both serve the same requests. Upstream and collector are loopback servers in
//! this process.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use meshlens_tests::envoy::{Envoy, Render, free_port, metric_value, render};
use meshlens_tests::http::{self, Reply, Server};
use meshlens_tests::native::{self, access_lines, meshlens_series};
use meshlens_tests::otlp::{self, ReceivedSpan, Receiver};
use meshlens_tests::plugin::{self, Upstream};
use serde_json::Value;

/// Prometheus series: `name{labels}` and value.
type Series = Vec<(String, u64)>;

const PARENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN: &str = "00f067aa0ba902b7";

fn render_for(app: &Server, collector: &Receiver, plugin_config: Option<&str>) -> Render {
    Render {
        app_port: app.port(),
        collector_port: collector.server.port(),
        plugin_config: plugin_config.map(str::to_owned),
    }
}

/// Polls `read` until `done` holds or 20 s pass; the last value read.
fn wait_for<T>(mut read: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let value = read();
        if done(&value) || Instant::now() > deadline {
            return value;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn servers(spans: &[ReceivedSpan]) -> Vec<&ReceivedSpan> {
    spans.iter().filter(|s| s.raw["kind"] == 2).collect()
}

fn value_of(series: &[(String, u64)], name: &str) -> Option<u64> {
    series.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
}

/// The gateway test of `envoy_tracing.rs`, on the native build: the caller's trace continues
/// upstream through the module's CLIENT span, `x-trace-id` names it, the SERVER and CLIENT spans
/// reach the collector as valid OTLP, the access line carries the same ids, and the module's
/// counters are on `/stats/prometheus`.
#[test]
fn native_module_continues_the_trace_exports_the_spans_and_logs_the_request() {
    // The app takes 30 ms: the CLIENT span's length shows the unit of the integer attributes.
    let app = Server::start(|_| {
        std::thread::sleep(Duration::from_millis(30));
        Reply::text(200, "ok")
    });
    let collector = Receiver::start();
    let envoy = native::start(&render_for(&app, &collector, None), 1);
    let abi = "Dynamic module ABI version v0.2.0 matched.";
    assert!(wait_for(|| envoy.log(), |log| log.contains(abi)).contains(abi), "{}", envoy.log());

    let incoming = format!("00-{PARENT_TRACE}-{PARENT_SPAN}-01");
    let resp = http::get(envoy.listener, "/api/v1/query?q=select+1", &[("traceparent", &incoming)]).unwrap();
    assert_eq!(resp.status(), 200);
    let upstream = app.requests()[0].header("traceparent").expect("traceparent sent upstream").to_owned();
    let parts: Vec<&str> = upstream.split('-').collect();
    assert_eq!((parts[0], parts[1], parts[3]), ("00", PARENT_TRACE, "01"), "{upstream}");
    assert_ne!(parts[2], PARENT_SPAN, "the upstream's parent is the proxy's span");
    assert_eq!(resp.header("x-trace-id"), Some(PARENT_TRACE));

    let spans = collector.wait_spans(2);
    assert_eq!(spans.len(), 2, "a SERVER and a CLIENT span: {spans:?}");
    let server = servers(&spans)[0];
    let client = spans.iter().find(|s| s.raw["kind"] == 3).expect("a CLIENT span");
    assert_eq!(server.trace_id, PARENT_TRACE);
    assert_eq!(server.parent_span_id, PARENT_SPAN, "the SERVER span's parent is the caller's span");
    assert_eq!(client.parent_span_id, server.span_id, "the CLIENT span is the SERVER span's child");
    assert_eq!(client.span_id, parts[2], "the app's parent is the CLIENT span");
    assert_eq!(server.name, "GET /api/v1/query");
    assert_eq!(server.attribute("http.route").as_deref(), Some("/api/v1/query"));
    assert_eq!(server.attribute("http.response.status_code").as_deref(), Some("200"));
    assert_eq!(server.attribute("client.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(client.attribute("upstream_cluster.name").as_deref(), Some("app"), "xds.cluster_name");
    let app_port = app.port().to_string();
    assert_eq!(client.attribute("server.port").as_deref(), Some(app_port.as_str()), "upstream.address");
    // The CLIENT span lasts `upstream.cx_pool_ready_duration` + `response.backend_latency`
    // (nanoseconds through the ABI's integer attributes, as through proxy-wasm), inside the
    // SERVER span.
    let times = |s: &ReceivedSpan| {
        let at =
            |k: &str| s.raw[k].as_str().and_then(|t| t.parse::<u64>().ok()).unwrap_or_else(|| panic!("{k}: {s:?}"));
        (at("startTimeUnixNano"), at("endTimeUnixNano"))
    };
    let ((start, end), (client_start, client_end)) = (times(server), times(client));
    assert!(start <= client_start && client_start < client_end && client_end <= end, "{server:?} {client:?}");
    assert!(client_end - client_start >= 30_000_000, "the app's 30 ms are in the CLIENT span: {client:?}");
    let responded = format!("00-{PARENT_TRACE}-{}-01", server.span_id);
    assert_eq!(resp.header("traceresponse"), Some(responded.as_str()));
    let exports = collector.exports();
    assert!(exports.iter().all(|e| e.content_type == "application/x-protobuf"), "{exports:?}");
    let (ok, out) = otlp::validate_exports("traces", &exports);
    assert!(ok, "OTLP validator rejected a payload:\n{out}");

    let lines = wait_for(|| access_lines(&envoy.log()), |l| !l.is_empty());
    let line = lines.iter().find(|l| l["trace_id"] == PARENT_TRACE).expect("an access line with the trace id");
    assert_eq!(line["span_id"], server.span_id.as_str());
    assert_eq!(line["status"], 200);
    assert_eq!(line["route"], "/api/v1/query");
    assert_eq!(line["upstream_cluster"], "app");

    let series =
        wait_for(|| meshlens_series(&envoy.prometheus()), |s| value_of(s, "meshlens_spans_exported_total") == Some(2));
    assert_eq!(value_of(&series, "meshlens_spans_exported_total"), Some(2), "{series:?}");
    assert_eq!(value_of(&series, "meshlens_spans_dropped_total"), Some(0));
    assert_eq!(value_of(&series, "meshlens_native_panics_total"), Some(0));
    assert_eq!(value_of(&series, "meshlens_export_failures_total{signal=\"traces\"}"), Some(0));
    let metrics = envoy.module_metrics();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("meshlens_http_requests_total{") && l.contains("route=\"/api/v1/query\"")),
        "{metrics}"
    );
}

/// The module reads a request's headers from a stack buffer up to 32 of them and from the heap
/// beyond: a request with 50 headers, `traceparent` last, is read whole and continues the trace.
#[test]
fn native_module_reads_a_request_with_many_headers_whole() {
    let app = Server::start(|_| Reply::text(200, "ok"));
    let collector = Receiver::start();
    let envoy = native::start(&render_for(&app, &collector, None), 1);
    let incoming = format!("00-{PARENT_TRACE}-{PARENT_SPAN}-01");
    let names: Vec<String> = (0..48).map(|i| format!("x-filler-{i}")).collect();
    let mut headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    headers.push(("traceparent", &incoming));
    let resp = http::get(envoy.listener, "/api/v1/query", &headers).unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.header("x-trace-id"), Some(PARENT_TRACE), "the last of 50 headers was read");
    let upstream = app.requests()[0].header("traceparent").expect("traceparent sent upstream").to_owned();
    assert!(upstream.starts_with(&format!("00-{PARENT_TRACE}-")), "{upstream}");
}

/// With OTLP logs and metrics on, the native build's exports (made from Envoy's main thread)
/// reach the collector at `/v1/logs` and `/v1/metrics` too, and the official decoder and the
/// strict validator accept them.
#[test]
fn native_module_exports_otlp_logs_and_metrics() {
    let config = r#"{
      "service": {"name": "edge-gateway", "version": "0.1.0"},
      "routes": ["/api/v1/query"],
      "tracing": {"sampling": {"ratio": 1.0}, "exporter": {"cluster": "otel_collector"}},
      "access_log": {"enabled": true, "sinks": ["proxy_log", "otlp"]},
      "metrics": {"reporter": "gateway", "otlp": {"interval_ms": 1000}}
    }"#;
    let app = Server::start(|_| Reply::text(200, "ok"));
    let collector = Receiver::start();
    let envoy = native::start(&render_for(&app, &collector, Some(config)), 2);
    for _ in 0..3 {
        assert_eq!(http::get(envoy.listener, "/api/v1/query", &[]).unwrap().status(), 200);
    }
    let exports = wait_for(
        || collector.exports(),
        |e| ["/v1/traces", "/v1/logs", "/v1/metrics"].iter().all(|p| e.iter().any(|x| x.path == *p)),
    );
    for (signal, path) in [("traces", "/v1/traces"), ("logs", "/v1/logs"), ("metrics", "/v1/metrics")] {
        let of: Vec<_> = exports.iter().filter(|e| e.path == path).cloned().collect();
        assert!(!of.is_empty(), "no {path} export: {exports:?}");
        let (ok, out) = otlp::validate_exports(signal, &of);
        assert!(ok, "{signal}: {out}");
    }
}

/// Export failures are counted as the Wasm module counts them: a collector answering 503 fails
/// the spans of each call (`meshlens_spans_failed_total`) and the call
/// (`meshlens_export_failures_total{signal="traces"}`); a collector that is down fails them too
/// (the callout's reset is an answer without a status).
#[test]
fn native_module_counts_failed_exports() {
    let app = Server::start(|_| Reply::text(200, "ok"));
    let collector = Receiver::start();
    collector.answer_with(503);
    let envoy = native::start(&render_for(&app, &collector, None), 1);
    http::get(envoy.listener, "/nope", &[]).unwrap();
    let series =
        wait_for(|| meshlens_series(&envoy.prometheus()), |s| value_of(s, "meshlens_spans_failed_total") == Some(1));
    assert_eq!(value_of(&series, "meshlens_spans_failed_total"), Some(1), "{series:?}");
    assert_eq!(value_of(&series, "meshlens_export_failures_total{signal=\"traces\"}"), Some(1));
    assert_eq!(value_of(&series, "meshlens_spans_exported_total"), Some(0));
    drop(collector);
    http::get(envoy.listener, "/nope", &[]).unwrap();
    let series =
        wait_for(|| meshlens_series(&envoy.prometheus()), |s| value_of(s, "meshlens_spans_failed_total") == Some(2));
    assert_eq!(value_of(&series, "meshlens_spans_failed_total"), Some(2), "{series:?}");
    assert_eq!(value_of(&series, "meshlens_export_failures_total{signal=\"traces\"}"), Some(2));
}

/// Replies Envoy makes itself (no route: 404; no healthy upstream: 503) carry the trace id too,
/// and are logged.
#[test]
fn native_module_tags_local_replies() {
    let app = Server::start(|_| Reply::text(200, "ok"));
    let collector = Receiver::start();
    let envoy = native::start(&render_for(&app, &collector, None), 1);
    for (path, status) in [("/nope", 404), ("/down/x", 503)] {
        let resp = http::get(envoy.listener, path, &[]).unwrap();
        assert_eq!(resp.status(), status);
        let trace = resp.header("x-trace-id").expect("x-trace-id on a local reply").to_owned();
        assert_eq!(trace.len(), 32, "{trace}");
        let lines = wait_for(|| access_lines(&envoy.log()), |l| l.iter().any(|l| l["trace_id"] == trace.as_str()));
        let line = lines.iter().find(|l| l["trace_id"] == trace.as_str()).expect("an access line");
        assert_eq!(line["status"], status);
    }
}

/// The Wasm module and the native build, each in its own Envoy, serve the same requests; their
/// `/stats/prometheus` series are the same names (once Envoy's `envoy_dynamicmodulescustom_`
/// prefix of the native stats is removed), labels and values, but for the memory gauge (the
/// Wasm VM's memory; 0 natively) and the native build's own panic counter. Their
/// `/meshlens/metrics` answers have the same series and request counts.
#[test]
fn native_and_wasm_modules_report_the_same_series() {
    let (wasm, native) = compare(None);
    assert_eq!(value_of(&wasm.0, "meshlens_spans_exported_total"), Some(9), "{:?}", wasm.0);
    assert_eq!(native.0, wasm.0, "native (left) and Wasm (right) /stats/prometheus");
    let names = |s: &[(String, u64)]| s.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&native.1), names(&wasm.1), "the same /meshlens/metrics series");
    let requests_total = |s: &[(String, u64)]| {
        s.iter().filter(|(n, _)| n.starts_with("meshlens_http_requests_total")).cloned().collect::<Vec<_>>()
    };
    assert_eq!(requests_total(&native.1), requests_total(&wasm.1));
    assert_eq!(requests_total(&wasm.1).iter().map(|(_, v)| v).sum::<u64>(), 5);
}

/// Without `metrics.endpoint` the request metrics are Envoy stats (labels through the shipped
/// `stats_tags` for the Wasm module, through the ABI's labelled metrics natively): the same
/// series on both, the same request counts, and, for the size histograms, the same buckets.
#[test]
fn request_metrics_as_envoy_stats_match_the_wasm_modules() {
    let config = r#"{
      "service": {"name": "edge-gateway", "version": "0.1.0"},
      "routes": ["/api/v1/query", "/users/{id}", "/health"],
      "tracing": {"sampling": {"ratio": 1.0}, "exporter": {"cluster": "otel_collector"}},
      "metrics": {"reporter": "gateway"}
    }"#;
    let (wasm, native) = compare(Some(config));
    let names = |s: &[(String, u64)]| s.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&native.0), names(&wasm.0), "native (left) and Wasm (right) series");
    let timeless = |s: &[(String, u64)]| {
        s.iter().filter(|(n, _)| !n.starts_with("meshlens_http_request_duration")).cloned().collect::<Vec<_>>()
    };
    assert_eq!(timeless(&native.0), timeless(&wasm.0), "values of every series but the durations");
    let requests: u64 =
        wasm.0.iter().filter(|(n, _)| n.starts_with("meshlens_http_requests_total{")).map(|(_, v)| v).sum();
    assert_eq!(requests, 5, "{:?}", wasm.0);
}

/// Runs the comparison's requests through the Wasm module, then the native build, with the
/// shipped plugin configuration or `plugin_config`; for each, the meshlens series of
/// `/stats/prometheus` (less the memory gauge and the panic counter) and of `/meshlens/metrics`
/// (empty without `metrics.endpoint`).
fn compare(plugin_config: Option<&str>) -> ((Series, Series), (Series, Series)) {
    let endpoint = plugin_config.is_none_or(|c| c.contains("endpoint"));
    let (wasm_app, wasm_collector) = (Server::start(|_| Reply::text(200, "ok")), Receiver::start());
    let wasm = Envoy::start("edge-gateway.yaml", &render_for(&wasm_app, &wasm_collector, plugin_config), 2);
    let wasm_series = serve(wasm.listener, || wasm.prometheus(), || endpoint.then(|| wasm.module_metrics()));
    drop(wasm);
    let (app, collector) = (Server::start(|_| Reply::text(200, "ok")), Receiver::start());
    let native = native::start(&render_for(&app, &collector, plugin_config), 2);
    let native_series = serve(native.listener, || native.prometheus(), || endpoint.then(|| native.module_metrics()));
    assert_eq!(value_of(&native_series.0, "meshlens_native_panics_total"), None, "filtered out by serve");
    (wasm_series, native_series)
}

/// Sends the comparison's requests to `listener`, waits for their spans' export, and reads the
/// meshlens series of `/stats/prometheus` (less the memory gauge and the panic counter) and of
/// `/meshlens/metrics`.
fn serve(
    listener: std::net::SocketAddr,
    prometheus: impl Fn() -> String,
    metrics: impl Fn() -> Option<String>,
) -> (Series, Series) {
    for path in ["/api/v1/query", "/api/v1/query", "/users/7", "/nope", "/down/x"] {
        http::get(listener, path, &[]).unwrap();
    }
    // A SERVER and a CLIENT span for each request routed to a cluster (`/down/x` too: its
    // CLIENT span records the failed connection), a SERVER span for the 404.
    let series =
        wait_for(|| meshlens_series(&prometheus()), |s| value_of(s, "meshlens_spans_exported_total") == Some(9));
    let stats = series
        .into_iter()
        .filter(|(n, _)| n != "meshlens_wasm_memory_bytes" && n != "meshlens_native_panics_total")
        .collect();
    (stats, meshlens_series(&metrics().unwrap_or_default()))
}

/// The shipped native bootstraps validate with the built module, which configures. (The
/// directory walk of `envoy_config.rs` validates them too, without a search path: Envoy then
/// finds the module only on the dynamic linker's path, which `cargo test` sets to `target/debug`.)
#[test]
fn the_shipped_native_bootstraps_validate_with_the_built_module() {
    let dir = meshlens_tests::envoy::TempDir::new("native-validate");
    for config in ["edge-gateway-native.yaml", "bench/6-meshlens-native-100.yaml"] {
        let text =
            std::fs::read_to_string(meshlens_tests::paths::repo_root().join("envoy-config").join(config)).unwrap();
        let path = dir.0.join("envoy.yaml");
        let scratch = format!("{}/", dir.0.display());
        std::fs::write(&path, text.replace("target/bench/", &scratch)).unwrap();
        let (ok, out) = native::validate(&path);
        assert!(ok, "{config}: {out}");
        assert!(out.contains("meshlens: configured (native dynamic module)"), "{config}: {out}");
    }
}

/// A configuration the pipeline refuses fails the filter config: Envoy does not start, and its
/// output has the module's one-line error naming the field.
#[test]
fn an_invalid_configuration_is_refused_with_the_modules_error() {
    let dir = meshlens_tests::envoy::TempDir::new("native-invalid");
    let ports = Render {
        app_port: free_port(),
        collector_port: free_port(),
        plugin_config: Some(String::from(r#"{"tracing": {"sampling": {"ratio": 2}}}"#)),
    };
    let path = dir.0.join("envoy.yaml");
    std::fs::write(&path, render(native::CONFIG, &ports, free_port(), free_port())).unwrap();
    let (ok, out) = native::validate(&path);
    assert!(!ok, "{out}");
    assert!(out.contains("ratio"), "the module's error names the field: {out}");
    // Envoy 1.40: "error initializing configuration '...': Failed to create filter config: Failed
    // to initialize dynamic module", after the module's line "meshlens: invalid plugin
    // configuration: tracing.sampling.ratio: must be a number from 0 to 1, got 2".
    assert!(out.contains("meshlens: invalid plugin configuration: tracing.sampling.ratio"), "{out}");
    assert!(out.contains("Failed to initialize dynamic module"), "{out}");
}

/// A module that returns another ABI version from `envoy_dynamic_module_on_program_init` (the
/// built one with its `v0.2.0` patched to `v0.1.0`) is loaded by Envoy 1.40 with a warning that
/// names the version; it is not refused.
#[test]
fn another_abi_version_loads_with_envoys_warning() {
    let dir = meshlens_tests::envoy::TempDir::new("native-abi");
    let built = std::fs::read(native::module()).unwrap();
    let at = built.windows(7).position(|w| w == b"v0.2.0\0").expect("the ABI version string in the module");
    assert_eq!(built.windows(7).filter(|w| *w == b"v0.2.0\0").count(), 1);
    let mut patched = built.clone();
    patched[at..at + 7].copy_from_slice(b"v0.1.0\0");
    std::fs::write(dir.0.join("libedge_telemetry_native.so"), patched).unwrap();
    let ports = Render { app_port: free_port(), collector_port: free_port(), plugin_config: None };
    let config = dir.0.join("envoy.yaml");
    std::fs::write(&config, render(native::CONFIG, &ports, free_port(), free_port())).unwrap();
    let out = std::process::Command::new(meshlens_tests::paths::envoy())
        .args(["--mode", "validate", "-c", &config.display().to_string(), "--use-dynamic-base-id"])
        .env("ENVOY_DYNAMIC_MODULES_SEARCH_PATH", &dir.0)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("Dynamic module ABI version v0.1.0 is deprecated. Please recompile the module"), "{text}");
    assert!(out.status.success(), "Envoy 1.40 loads it anyway: {text}");
}

/// What one conformance scenario (`tests/data/conformance-scenarios.json`, the harness-vs-Envoy
/// suite's) showed: headers sent upstream and downstream, and the fields of its SERVER and
/// CLIENT spans, with ids named by their role (`incoming:<id>`, `new`) and the loopback ports
/// left out.
type Observation = BTreeMap<String, String>;

/// Runs every conformance scenario through an Envoy at `listener`; one observation each.
fn observe_scenarios(
    listener: std::net::SocketAddr,
    app: &Server,
    collector: &Receiver,
    exported: impl Fn() -> u64,
) -> Vec<Observation> {
    let scenarios = plugin::scenarios();
    let mut results = Vec::new();
    for s in &scenarios {
        let before = app.requests().len();
        let resp = http::get(listener, &s.path, &s.headers()).unwrap();
        results.push((resp, app.requests().get(before).cloned()));
    }
    // As in conformance.rs: a SERVER span per sampled scenario (all but one), a CLIENT span for
    // those that went upstream.
    let sampled = scenarios.len() - 1 + scenarios.iter().filter(|s| s.upstream != Upstream::NoRoute).count() - 1;
    wait_for(exported, |n| *n >= sampled as u64);
    let spans: Vec<Value> = collector.spans().into_iter().map(|s| s.raw).collect();
    scenarios
        .iter()
        .zip(&results)
        .map(|(s, (resp, up))| {
            let incoming = s.headers();
            let role = |id: &str| match id {
                "" => String::from("-"),
                id if incoming.iter().any(|(_, v)| v.contains(id)) => format!("incoming:{id}"),
                _ => String::from("new"),
            };
            let mut o = Observation::new();
            let trace = resp.header("x-trace-id").unwrap_or("").to_owned();
            o.insert(":status".into(), resp.start.clone());
            o.insert("x-trace-id".into(), role(&trace));
            o.insert(
                "traceresponse".into(),
                resp.header("traceresponse").is_some_and(|t| t.contains(&trace)).to_string(),
            );
            for k in ["traceparent", "tracestate", "b3", "x-b3-traceid", "x-b3-sampled"] {
                let value = up.as_ref().and_then(|m| m.header(k)).map_or_else(
                    || "-".to_owned(),
                    |v| {
                        v.split('-')
                            .map(|part| if part.len() >= 16 { role(part) } else { part.to_owned() })
                            .collect::<Vec<_>>()
                            .join("-")
                    },
                );
                o.insert(format!("upstream.{k}"), value);
            }
            for (kind, which) in [(2, "server"), (3, "client")] {
                let Some(span) = spans.iter().find(|v| v["traceId"] == trace.as_str() && v["kind"] == kind) else {
                    continue;
                };
                o.insert(format!("{which}.parent"), role(span["parentSpanId"].as_str().unwrap_or("")));
                for k in ["name", "status", "traceState", "links", "flags"] {
                    o.insert(format!("{which}.{k}"), span[k].to_string());
                }
                for a in span["attributes"].as_array().into_iter().flatten() {
                    let key = a["key"].as_str().unwrap_or("");
                    if !["client.port", "server.port", "network.peer.port"].contains(&key) {
                        o.insert(format!("{which}.attr.{key}"), a["value"].to_string());
                    }
                }
            }
            o
        })
        .collect()
}

/// The harness-vs-Envoy conformance scenarios, through the Wasm module and through the native
/// build: the same headers upstream and downstream and the same span fields, scenario by
/// scenario.
#[test]
fn native_and_wasm_agree_on_the_conformance_scenarios() {
    let (wasm_app, wasm_collector) = (Server::start(|_| Reply::text(200, "ok")), Receiver::start());
    let wasm = Envoy::start("edge-gateway.yaml", &render_for(&wasm_app, &wasm_collector, None), 1);
    let expected = observe_scenarios(wasm.listener, &wasm_app, &wasm_collector, || {
        metric_value(&wasm.prometheus(), "meshlens_spans_exported_total")
    });
    drop(wasm);
    let (app, collector) = (Server::start(|_| Reply::text(200, "ok")), Receiver::start());
    let native = native::start(&render_for(&app, &collector, None), 1);
    let observed = observe_scenarios(native.listener, &app, &collector, || {
        value_of(&meshlens_series(&native.prometheus()), "meshlens_spans_exported_total").unwrap_or(0)
    });
    let attributes =
        |which: &str| expected.iter().map(|o| o.keys().filter(|k| k.starts_with(which)).count()).sum::<usize>();
    assert!(attributes("server.attr.") > 50 && attributes("client.attr.") > 20, "spans observed: {expected:#?}");
    assert_eq!(observed.len(), expected.len());
    for ((s, n), w) in plugin::scenarios().iter().zip(&observed).zip(&expected) {
        assert_eq!(n, w, "scenario `{}`: native (left) differs from Wasm (right)", s.name);
    }
}

/// A real Prometheus scraping the native build as the shipped `prometheus.yml` does, with the
/// shipped rules loaded: the series arrive under the Wasm module's names (the relabelling drops
/// Envoy's dynamic-module prefix), so the same rules and dashboards serve both builds.
#[test]
fn prometheus_sees_the_native_series_under_the_wasm_modules_names() {
    use meshlens_tests::prometheus::Prometheus;
    let app = Server::start(|_| Reply::text(200, "ok"));
    let collector = Receiver::start();
    let envoy = native::start(&render_for(&app, &collector, None), 1);
    for _ in 0..3 {
        assert_eq!(http::get(envoy.listener, "/api/v1/query", &[]).unwrap().status(), 200);
    }
    wait_for(|| meshlens_series(&envoy.prometheus()), |s| value_of(s, "meshlens_spans_exported_total") == Some(6));
    let rules = meshlens_tests::paths::repo_root().join("envoy-config/prometheus/meshlens.rules.yml");
    let prometheus = Prometheus::start(&envoy, &[&rules]);
    prometheus.wait_scraped();
    let exported = prometheus.wait_for(
        "meshlens_spans_exported_total from the native build",
        Duration::from_secs(30),
        |p| p.query("meshlens_spans_exported_total").first().map(|(_, v)| *v).filter(|v| *v >= 6.0),
        |p| format!("{:?}", p.query("{__name__=~\"(envoy_dynamicmodulescustom_)?meshlens_spans.*\"}")),
    );
    assert_eq!(exported, 6.0, "a SERVER and a CLIENT span per request");
    assert!(
        prometheus.query("{__name__=~\"envoy_dynamicmodulescustom_.*\"}").is_empty(),
        "no series keeps the dynamic-module prefix"
    );
}
