//! The proxy-wasm module is glue and nothing else: the same exchanges through `edge_telemetry.wasm`
//! in the harness and through `telemetry-core`'s pipeline on its recording host (no Wasm) give the
//! same headers upstream and downstream, the same spans, the same access-log lines and the same
//! metric series. With the conformance suite (harness = Envoy), this ties the native lifecycle
//! tests to what Envoy does.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use host_harness::metrics::MetricValue;
use host_harness::properties;
use host_harness::{Host, HttpResponse, Module, Responder};
use meshlens_tests::plugin::{self, Upstream};
use meshlens_tests::{otlp, paths};
use serde_json::Value;
use telemetry_core::names;
use telemetry_core::pipeline::Pipeline;
use telemetry_core::pipeline::fake::{FakeHost, Reply};

fn module() -> Module {
    static MODULE: OnceLock<Module> = OnceLock::new();
    MODULE.get_or_init(|| Module::from_file(paths::edge_telemetry_wasm()).unwrap()).clone()
}

/// The harness's virtual clock start (2026-01-01T00:00:00Z), used by both hosts.
const START: u64 = 1_767_225_600_000_000_000;

/// One exchange: request headers and body, response headers and body, and whether the request
/// reached an upstream (else the reply came from the proxy).
struct Exchange {
    request: Vec<(String, String)>,
    request_body: Vec<u8>,
    response: Vec<(String, String)>,
    body: Vec<u8>,
    upstream: bool,
    /// What answered, for the upstream attributes both hosts show at stream end.
    kind: Upstream,
}

/// Milliseconds between an exchange's request and response, on both hosts: short enough that no
/// tick falls inside a run of exchanges, so both hosts batch the same spans together.
const LATENCY: Duration = Duration::from_millis(7);

/// [`LATENCY`] in nanoseconds: the upstream's `response.backend_latency` on both hosts.
fn backend_latency_nanos() -> i64 {
    i64::try_from(LATENCY.as_nanos()).unwrap()
}

/// The conformance scenarios as exchanges.
fn conformance_exchanges() -> Vec<Exchange> {
    plugin::scenarios()
        .iter()
        .map(|s| {
            let mut request = pairs(&[
                (":method", "GET"),
                (":path", &s.path),
                (":scheme", "http"),
                (":authority", "meshlens.test"),
                ("user-agent", "meshlens-tests/1"),
            ]);
            request.extend(s.headers.iter().cloned());
            let (status, body): (&str, &[u8]) = match s.upstream {
                Upstream::App => ("200", b"ok"),
                Upstream::NoRoute => ("404", b""),
                Upstream::Down => ("503", b"no healthy upstream"),
            };
            let length = body.len().to_string();
            let response = if body.is_empty() {
                pairs(&[(":status", status)])
            } else {
                pairs(&[(":status", status), ("content-length", &length), ("content-type", "text/plain")])
            };
            let upstream = status == "200";
            Exchange { request, request_body: Vec::new(), response, body: body.to_vec(), upstream, kind: s.upstream }
        })
        .collect()
}

/// Exchanges that exercise every section with every option: secrets to redact, access failures
/// that make a burst, header and property dimensions, extra log fields, OTLP logs.
fn busy_exchanges() -> Vec<Exchange> {
    let mut out = Vec::new();
    for i in 0..12 {
        let path = format!("/users/{i}?token=secret{i}&page=2");
        let status = if i % 3 == 0 { "401" } else { "200" };
        // Every fourth caller sends an unsampled context: under `restart` it becomes a link.
        let parent = format!("00-{:032x}-{:016x}-0{}", 0xabc0 + i, 0xdef0 + i, i % 4 / 3);
        out.push(Exchange {
            request: pairs(&[
                (":method", if i % 2 == 0 { "GET" } else { "POST" }),
                (":path", &path),
                (":scheme", "https"),
                (":authority", "api.example.com:8443"),
                ("user-agent", "curl/8 alice@example.com"),
                ("authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"),
                ("x-tenant", if i % 2 == 0 { "acme" } else { "globex" }),
                ("x-request-id", "8b1f3c2a-9c61-4d7e-a0b5-123456789abc"),
                ("traceparent", &parent),
                ("x-forwarded-for", if i % 2 == 0 { "198.51.100.7, 10.0.0.1" } else { "10.0.0.1" }),
            ]),
            request_body: format!("{{\"question\": \"q{i}\"}}").into_bytes(),
            response: pairs(&[(":status", status), ("x-cache", "HIT")]),
            body: b"{}".to_vec(),
            upstream: true,
            kind: Upstream::App,
        });
    }
    out
}

const BUSY_CONFIG: &str = r#"{
  "service": {"name": "parity", "attributes": {"deployment.environment": "test"}},
  "routes": ["/users/{id}"],
  "tracing": {"inject": ["tracecontext", "b3"], "edge_policy": "restart",
    "request_headers": ["authorization", "x-tenant"], "response_headers": ["x-cache"],
    "attributes": [{"key": "app.tenant", "from": {"request_header": "x-tenant"}},
      {"key": "app.agent", "from": {"request_header": "user-agent"}},
      {"key": "envoy.cluster", "from": {"property": ["xds", "cluster_name"]}}],
    "max_attribute_bytes": 32},
  "metrics": {
    "dimensions": [
      {"name": "tenant", "from": {"request_header": "x-tenant"}, "allow": ["acme"]},
      {"name": "cache", "from": {"response_header": "x-cache"}},
      {"name": "region", "from": {"property": ["node", "locality", "region"]}}],
    "custom": [{"name": "parity_duration_seconds", "kind": "duration", "unit": "ms", "buckets": [1, 10],
      "labels": ["method", "tenant", "cache", "region"], "routes": ["/users/{id}"]}]},
  "access_log": {"sinks": ["proxy_log", "otlp"], "level": "debug", "fields": ["method", "route", "path", "status", "upstream_cluster",
      "upstream_host", "client_address", "user_agent", "request_id", "query_hash"],
    "extra": [{"name": "tenant", "from": {"request_header": "x-tenant"}},
      {"name": "auth", "from": {"request_header": "authorization"}},
      {"name": "cache", "from": {"response_header": "x-cache"}}],
    "query_hash": {"key_env": "MESHLENS_QUERY_HASH_KEY"}},
  "security": {"threshold": 3}
}"#;

/// The VM environment, the same on both hosts: the `query_hash` key `BUSY_CONFIG` names.
const ENV: [(&str, &str); 1] = [("MESHLENS_QUERY_HASH_KEY", "parity-query-hash-key-0123456789")];

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn borrowed(list: &[(String, String)]) -> Vec<(&str, &str)> {
    list.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// What one host emitted, ids replaced by their order of appearance.
#[derive(Debug, PartialEq, Eq)]
struct Emitted {
    upstream: Vec<String>,
    downstream: Vec<String>,
    spans: Vec<String>,
    logs: Vec<String>,
    metrics: BTreeMap<String, u64>,
}

/// The Envoy attributes the module reads, the same on both hosts.
const PROPERTIES: [(&[&str], &str); 4] = [
    (&["source", "address"], "127.0.0.1:40000"),
    (&["request", "protocol"], "HTTP/1.1"),
    (&["xds", "cluster_name"], "app"),
    (&["upstream", "address"], "127.0.0.1:8080"),
];

/// The collector's answer to every export call: a status, or `None` for a refused connection.
type Collector = Option<u16>;

fn through_harness(config: &str, exchanges: &[Exchange], collector: Collector) -> Emitted {
    let responder = match collector {
        Some(status) => Responder::Respond(HttpResponse { status, ..Default::default() }),
        None => Responder::Fail,
    };
    let mut builder =
        Host::builder(&module()).root_id("meshlens").plugin_config(config).respond("otel_collector", responder);
    for (path, value) in PROPERTIES {
        builder = builder.property(path, properties::Value::String(value.to_owned()));
    }
    for (name, value) in ENV {
        builder = builder.env(name, value);
    }
    let mut host = builder.build().unwrap();
    let (mut upstream, mut downstream) = (Vec::new(), Vec::new());
    for e in exchanges {
        let id = host.new_stream();
        e.kind.set_in_harness(&mut host, id, backend_latency_nanos());
        host.request_headers(id, &borrowed(&e.request), e.request_body.is_empty()).unwrap();
        if !e.request_body.is_empty() {
            host.request_body(id, &e.request_body, true).unwrap();
        }
        let sent = host.stream(id).unwrap().upstream_request_headers().to_vec();
        host.advance(LATENCY).unwrap();
        upstream.push(if e.upstream { sorted(&sent) } else { String::from("(local reply)") });
        host.response_headers(id, &borrowed(&e.response), e.body.is_empty()).unwrap();
        if !e.body.is_empty() {
            host.response_body(id, &e.body, true).unwrap();
        }
        downstream.push(sorted(host.stream(id).unwrap().downstream_response_headers()));
        host.complete(id).unwrap();
    }
    host.advance(Duration::from_secs(5)).unwrap();
    // Each export in the OTLP JSON shape, whichever encoding the configuration chose.
    let bodies: Vec<Vec<u8>> =
        host.http_calls().iter().map(|c| otlp::payload_json(&c.headers, &c.body).to_string().into_bytes()).collect();
    let logs = host.logs().iter().map(|l| format!("{:?} {}", l.level, l.message)).collect::<Vec<_>>();
    let metrics = host
        .metrics()
        .iter()
        .filter_map(|(name, value)| match value {
            MetricValue::Counter(v) => Some((name.to_owned(), v)),
            _ => None,
        })
        .collect();
    canonical(exchanges, upstream, downstream, &bodies, &logs, metrics)
}

fn through_core(config: &str, exchanges: &[Exchange], collector: Collector) -> Emitted {
    let mut host = FakeHost::new(START, [0; 32]);
    host.env = ENV.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    for (path, value) in PROPERTIES {
        host.set_property(&path.join("."), value);
    }
    let mut pipeline = Pipeline::configure(config.as_bytes(), &host).unwrap();
    let (mut upstream, mut downstream) = (Vec::new(), Vec::new());
    for e in exchanges {
        let response = borrowed(&e.response);
        let latency_nanos = u64::try_from(LATENCY.as_nanos()).unwrap();
        let reply = Reply { headers: &response, body: &e.body, from_upstream: e.upstream, latency_nanos };
        e.kind.set_in_fake(&host, backend_latency_nanos());
        let sent = host.exchange(&mut pipeline, &borrowed(&e.request), &e.request_body, &reply);
        upstream.push(sent.upstream.map_or_else(|| String::from("(local reply)"), |u| sorted(&u)));
        downstream.push(sorted(&sent.downstream));
    }
    host.tick(&mut pipeline, 5_000_000_000);
    host.answer_calls(&mut pipeline, collector);
    let bodies: Vec<Vec<u8>> =
        host.calls.borrow().iter().map(|c| otlp::payload_json(&c.headers, &c.body).to_string().into_bytes()).collect();
    let logs = host.logs.borrow().iter().map(|(level, l)| format!("{level:?} {l}")).collect::<Vec<_>>();
    let metrics = host
        .metrics
        .borrow()
        .iter()
        .filter(|(_, kind, _)| *kind == telemetry_core::pipeline::host::MetricKind::Counter)
        .map(|(name, _, v)| (name.clone(), u64::try_from(*v).unwrap()))
        .collect();
    canonical(exchanges, upstream, downstream, &bodies, &logs, metrics)
}

fn sorted(headers: &[(String, String)]) -> String {
    let mut lines: Vec<String> = headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    lines.sort();
    lines.join("\n")
}

/// Everything as text, the ids this proxy generated numbered by first appearance, and only the
/// access and event lines of the proxy log (the start-up line is the glue's own). Ids are taken
/// from the places ids go (span and log-record ids, the trace headers sent on, `x-trace-id`), and
/// ids the exchanges brought in are kept as they are, so a continued trace must continue the
/// caller's ids on both sides.
fn canonical(
    exchanges: &[Exchange],
    upstream: Vec<String>,
    downstream: Vec<String>,
    bodies: &[Vec<u8>],
    logs: &[String],
    metrics: BTreeMap<String, u64>,
) -> Emitted {
    let incoming: Vec<&str> = exchanges.iter().flat_map(|e| e.request.iter().map(|(_, v)| v.as_str())).collect();
    let mut ids = Ids::default();
    for body in bodies {
        let v: Value = serde_json::from_slice(body).unwrap();
        for key in ["traceId", "spanId", "parentSpanId"] {
            collect_json(&v, key, &mut ids.generated);
        }
    }
    // `<level> <line>`: the access and event lines are the JSON ones.
    let logs: Vec<&String> =
        logs.iter().filter(|l| l.split_once(' ').is_some_and(|(_, l)| l.starts_with('{'))).collect();
    for line in &logs {
        let v: Value = serde_json::from_str(line.split_once(' ').unwrap().1).unwrap();
        for key in ["trace_id", "span_id"] {
            collect_json(&v, key, &mut ids.generated);
        }
    }
    for headers in upstream.iter().chain(&downstream) {
        for line in headers.lines() {
            let Some((name, value)) = line.split_once(": ") else { continue };
            if ["traceparent", "traceresponse", "b3", "x-trace-id", "x-b3-traceid", "x-b3-spanid"].contains(&name) {
                ids.generated.extend(value.split('-').filter(|p| p.len() == 16 || p.len() == 32).map(str::to_owned));
            }
        }
    }
    ids.generated.retain(|id| !incoming.iter().any(|v| v.contains(id.as_str())));
    let spans = bodies.iter().map(|b| ids.replace(&String::from_utf8_lossy(b))).collect();
    let logs = logs.iter().map(|l| ids.replace(l)).collect();
    let upstream = upstream.iter().map(|u| ids.replace(u)).collect();
    let downstream = downstream.iter().map(|d| ids.replace(d)).collect();
    Emitted { upstream, downstream, spans, logs, metrics }
}

/// Every string value of `key`, anywhere in `v`.
fn collect_json(v: &Value, key: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, value) in map {
                match value {
                    Value::String(s) if k == key && !s.is_empty() => out.push(s.clone()),
                    _ => collect_json(value, key, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_json(i, key, out)),
        _ => {}
    }
}

/// The generated ids, numbered by first appearance in the text they are replaced in.
#[derive(Default)]
struct Ids {
    generated: Vec<String>,
    numbered: Vec<String>,
}

impl Ids {
    fn replace(&mut self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some((at, id)) =
            self.generated.iter().filter_map(|id| rest.find(id.as_str()).map(|at| (at, id))).min()
        {
            out.push_str(&rest[..at]);
            let n = self.numbered.iter().position(|w| w == id).unwrap_or_else(|| {
                self.numbered.push(id.clone());
                self.numbered.len() - 1
            });
            out.push_str(&format!("<id{n}>"));
            rest = &rest[at + id.len()..];
        }
        out.push_str(rest);
        out
    }
}

fn assert_same(config: &str, exchanges: &[Exchange], collector: Collector) -> Emitted {
    let wasm = through_harness(config, exchanges, collector);
    let core = through_core(config, exchanges, collector);
    assert_eq!((wasm.upstream.len(), wasm.downstream.len()), (exchanges.len(), exchanges.len()));
    assert_eq!((core.upstream.len(), core.downstream.len()), (exchanges.len(), exchanges.len()));
    for (i, (w, c)) in wasm.upstream.iter().zip(&core.upstream).enumerate() {
        assert_eq!(w, c, "exchange {i}: headers sent upstream, Wasm (left) and core (right)");
    }
    for (i, (w, c)) in wasm.downstream.iter().zip(&core.downstream).enumerate() {
        assert_eq!(w, c, "exchange {i}: headers sent downstream, Wasm (left) and core (right)");
    }
    assert_eq!(wasm.logs, core.logs, "access lines, Wasm (left) and core (right)");
    assert_eq!(wasm.spans, core.spans, "export bodies, Wasm (left) and core (right)");
    let only_wasm: Vec<_> = wasm.metrics.iter().filter(|(k, v)| core.metrics.get(*k) != Some(v)).collect();
    let only_core: Vec<_> = core.metrics.iter().filter(|(k, v)| wasm.metrics.get(*k) != Some(v)).collect();
    assert!(
        only_wasm.is_empty() && only_core.is_empty(),
        "counters: Wasm only {only_wasm:#?}, core only {only_core:#?}"
    );
    assert!(!core.spans.is_empty() && !core.logs.is_empty() && !core.metrics.is_empty());
    core
}

#[test]
fn the_module_emits_what_the_core_pipeline_emits_for_the_conformance_scenarios() {
    let yaml = std::fs::read_to_string(paths::repo_root().join("envoy-config/edge-gateway.yaml")).unwrap();
    let config = meshlens_tests::plugin::config_of(&yaml);
    let core = assert_same(&config, &conformance_exchanges(), Some(200));
    // Every scenario but the unsampled caller's has a SERVER span, and those that went upstream
    // (all but no route) a CLIENT span too.
    let scenarios = plugin::scenarios();
    let sampled = scenarios.len() - 1;
    let upstream = scenarios.iter().filter(|s| s.upstream != Upstream::NoRoute).count() - 1;
    assert_eq!(core.metrics.get(names::SPANS_EXPORTED), Some(&u64::try_from(sampled + upstream).unwrap()));
}

#[test]
fn the_module_emits_what_the_core_pipeline_emits_with_every_section_on() {
    // The collector refuses every call: the failure paths are compared too.
    let core = assert_same(BUSY_CONFIG, &busy_exchanges(), Some(503));
    assert!(core.metrics.get(names::SPANS_FAILED).is_some_and(|n| *n > 0), "export failures counted");
    // The comparison covers what this configuration turns on.
    assert!(core.logs.iter().any(|l| l.contains("access_failure_burst")), "a security event");
    assert!(core.logs.iter().all(|l| !l.contains("secret") && !l.contains("e30.sig")), "secrets redacted");
    assert!(core.spans.iter().any(|b| b.contains("resourceLogs")), "OTLP logs exported");
    assert!(core.spans.iter().any(|b| b.contains("edge_policy_restart")), "restarted traces linked");
    assert!(core.metrics.keys().any(|k| k.starts_with("parity_duration_seconds_bucket;method=GET;tenant=acme")));
    assert!(core.metrics.keys().any(|k| k.contains("tenant=other")), "values outside the allow-list");
    assert!(core.metrics.keys().any(|k| k.starts_with(names::REDACTIONS)), "redactions counted");
    assert!(core.logs.iter().any(|l| l.contains("\"query_hash\":")), "query_hash keyed from the VM environment");
    assert!(core.logs.iter().all(|l| !l.contains(ENV[0].1)), "the key is in no log line");
}
