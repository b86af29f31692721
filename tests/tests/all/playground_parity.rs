//! The playground shows what the module does: every conformance scenario through
//! `edge_telemetry.wasm` in the harness and through `meshlens_playground::simulate` (the pipeline
//! on the recording host, natively) with the same inputs and the playground's default clock and
//! seed gives byte-identical spans (ids and timestamps included, nothing normalised), access-log
//! lines, and headers upstream and downstream. If this fails on ids or times, the playground's
//! defaults no longer match the harness's (`Input::seed_bytes`, `DEFAULT_START_UNIX_MS`).

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use host_harness::{Host, HttpCall, HttpResponse, Module, Responder, export_payload, properties};
use meshlens_playground::{Input, Property, Request, Response};
use meshlens_tests::paths;
use meshlens_tests::plugin::{self, Attribute, Scenario, Upstream};
use serde_json::Value;

fn module() -> Module {
    static MODULE: OnceLock<Module> = OnceLock::new();
    MODULE.get_or_init(|| Module::from_file(paths::edge_telemetry_wasm()).unwrap()).clone()
}

/// The request-to-response time of every exchange (and the upstream's backend latency).
const LATENCY: Duration = Duration::from_millis(7);

/// The Envoy attributes every exchange shows, on both sides (as in `glue_parity`).
const PROPERTIES: [(&[&str], &str); 4] = [
    (&["source", "address"], "127.0.0.1:40000"),
    (&["request", "protocol"], "HTTP/1.1"),
    (&["xds", "cluster_name"], "app"),
    (&["upstream", "address"], "127.0.0.1:8080"),
];

/// A configuration with the access log's every field on, a restarting edge and both inject
/// formats, JSON exports: what the other two configurations leave out.
const LOGGED: &str = r#"{
  "service": {"name": "parity"},
  "routes": ["/api/v1/query", "/users/{id}", "/health"],
  "tracing": {"edge_policy": "restart", "inject": ["tracecontext", "b3"], "exporter": {"encoding": "json"}},
  "access_log": {"sinks": ["proxy_log"], "fields": ["method", "route", "path", "status", "upstream_cluster",
    "upstream_host", "client_address", "user_agent", "request_id", "query_hash"]}
}"#;

/// What one side emitted for one exchange.
#[derive(Debug, PartialEq, Eq)]
struct Emitted {
    upstream: Option<Vec<(String, String)>>,
    downstream: Vec<(String, String)>,
    /// The exported spans, as JSON text.
    spans: String,
    access_log: Vec<String>,
}

/// The playground's input for a scenario: the exchange `glue_parity` runs, on the playground's
/// default clock and seed.
pub(crate) fn input(config: &str, s: &Scenario) -> Input {
    let mut headers = vec![(String::from("user-agent"), String::from("meshlens-tests/1"))];
    headers.extend(s.headers.iter().cloned());
    let (status, body): (u16, &str) = match s.upstream {
        Upstream::App => (200, "ok"),
        Upstream::NoRoute => (404, ""),
        Upstream::Down => (503, "no healthy upstream"),
    };
    let response_headers = if body.is_empty() {
        Vec::new()
    } else {
        vec![
            (String::from("content-length"), body.len().to_string()),
            (String::from("content-type"), String::from("text/plain")),
        ]
    };
    let mut properties: BTreeMap<String, Property> =
        PROPERTIES.iter().map(|(path, v)| (path.join("."), Property::Text((*v).to_owned()))).collect();
    for (path, value) in s.upstream.envoy_attributes(latency_nanos()) {
        let path = path.join(".");
        match value {
            Attribute::Text(t) => properties.insert(path, Property::Text(t.to_owned())),
            Attribute::Int(n) | Attribute::Duration(n) => properties.insert(path, Property::Int(n)),
            Attribute::Absent => properties.remove(&path),
        };
    }
    Input {
        config: Some(config.to_owned()),
        request: Request {
            method: String::from("GET"),
            path: s.path.clone(),
            scheme: String::from("http"),
            authority: String::from("meshlens.test"),
            headers,
            body_bytes: 0,
        },
        response: Response {
            status,
            headers: response_headers,
            body_bytes: u32::try_from(body.len()).unwrap(),
            latency_ms: u64::try_from(LATENCY.as_millis()).unwrap(),
            from_upstream: status == 200,
            trailers: None,
        },
        properties,
        ..Input::default()
    }
}

fn latency_nanos() -> i64 {
    i64::try_from(LATENCY.as_nanos()).unwrap()
}

/// The same exchange through the module in the harness, on the harness's default clock and seed.
fn through_harness(input: &Input, s: &Scenario) -> Emitted {
    let config = input.config.clone().unwrap();
    let mut builder = Host::builder(&module())
        .root_id("meshlens")
        .plugin_config(config)
        .respond("otel_collector", Responder::Respond(HttpResponse { status: 200, ..Default::default() }));
    for (path, value) in PROPERTIES {
        builder = builder.property(path, properties::Value::String(value.to_owned()));
    }
    let mut host = builder.build().unwrap();
    let id = host.new_stream();
    s.upstream.set_in_harness(&mut host, id, latency_nanos());
    let borrowed = |list: &[(String, String)]| -> Vec<(String, String)> { list.to_vec() };
    let request: Vec<(String, String)> =
        input.request_headers().iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let request: Vec<(&str, &str)> = request.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    host.request_headers(id, &request, true).unwrap();
    let upstream = borrowed(host.stream(id).unwrap().upstream_request_headers());
    host.advance(LATENCY).unwrap();
    let (status, extra) = input.response_headers();
    let mut response = vec![(":status", status.as_str())];
    response.extend(extra);
    let body = vec![0u8; input.response.body_bytes as usize];
    host.response_headers(id, &response, body.is_empty()).unwrap();
    if !body.is_empty() {
        host.response_body(id, &body, true).unwrap();
    }
    let downstream = borrowed(host.stream(id).unwrap().downstream_response_headers());
    host.complete(id).unwrap();
    host.advance(Duration::from_secs(5)).unwrap();
    // The spans of every trace export, as the harness reads them (`export_payload`).
    let mut exported = Vec::new();
    for call in host.http_calls().iter().filter(|c| is_trace_export(c)) {
        let payload = export_payload(call).unwrap();
        for rs in payload["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                exported.extend(ss["spans"].as_array().into_iter().flatten().cloned());
            }
        }
    }
    Emitted {
        upstream: input.response.from_upstream.then_some(upstream),
        downstream,
        spans: Value::Array(exported).to_string(),
        access_log: host.logs().iter().filter(|l| l.message.starts_with('{')).map(|l| l.message.clone()).collect(),
    }
}

fn is_trace_export(call: &HttpCall) -> bool {
    let path = call.headers.iter().find(|(k, _)| k == ":path").map(|(_, v)| v.as_str());
    path.and_then(otlp_decode::Signal::of_path) == Some(otlp_decode::Signal::Traces)
}

fn through_playground(input: &Input) -> Emitted {
    let out = meshlens_playground::simulate(input);
    assert_eq!((&out.input_error, &out.config_error), (&None, &None));
    Emitted {
        upstream: out.upstream_request_headers,
        downstream: out.downstream_response_headers,
        spans: Value::Array(out.spans).to_string(),
        access_log: out.access_log,
    }
}

/// Every scenario under `config`: the same bytes on both sides. Returns how many spans and
/// access lines were compared.
fn assert_identical(name: &str, config: &str) -> (usize, usize) {
    let (mut spans, mut lines) = (0, 0);
    for s in plugin::scenarios() {
        let input = input(config, &s);
        let wasm = through_harness(&input, &s);
        let core = through_playground(&input);
        let at = format!("{name} configuration, scenario `{}`", s.name);
        assert_eq!(wasm.upstream, core.upstream, "{at}: headers sent upstream, Wasm (left), playground (right)");
        assert_eq!(wasm.downstream, core.downstream, "{at}: headers sent downstream");
        assert_eq!(wasm.spans, core.spans, "{at}: exported spans, as JSON text");
        assert_eq!(wasm.access_log, core.access_log, "{at}: access-log lines");
        spans += serde_json::from_str::<Vec<Value>>(&core.spans).unwrap().len();
        lines += core.access_log.len();
    }
    (spans, lines)
}

#[test]
fn the_playground_emits_byte_for_byte_what_the_module_emits_in_the_harness() {
    let yaml = std::fs::read_to_string(paths::repo_root().join("envoy-config/edge-gateway.yaml")).unwrap();
    let gateway = plugin::config_of(&yaml);
    let (spans, _) = assert_identical("edge gateway", &gateway);
    // Every scenario but the unsampled caller's has a SERVER span; those that went upstream a
    // CLIENT span too.
    assert!(spans >= plugin::scenarios().len(), "{spans} spans compared");
    let (spans, _) = assert_identical("Chat2SQL (the playground's default)", meshlens_playground::DEFAULT_CONFIG);
    assert!(spans > 0);
    let (spans, lines) = assert_identical("logged", LOGGED);
    assert!(spans > 0);
    assert_eq!(lines, plugin::scenarios().len(), "one access line per exchange");
}
