//! Secrets planted where real clients put them (the catalogue in `meshlens_tests::planted`),
//! through the module in the harness with every output on (spans, the access line with header fields, OTLP logs, metric labels from headers):
//! none may appear in any output. And the reverse: innocent values in the same places come out
//! untouched.

use std::sync::OnceLock;
use std::time::Duration;

use host_harness::metrics::PrometheusConfig;
use host_harness::{Host, HttpResponse, Module, Responder};
use meshlens_tests::paths;
use meshlens_tests::planted::{CONFIG, INNOCENT, Place, planted};

fn module() -> Module {
    static MODULE: OnceLock<Module> = OnceLock::new();
    MODULE.get_or_init(|| Module::from_file(paths::edge_telemetry_wasm()).unwrap()).clone()
}

/// Runs one request with the place filled in; returns everything the module emitted, as text.
fn emitted(secret: &str, place: Place) -> String {
    let mut host = Host::builder(&module())
        .root_id("meshlens")
        .plugin_config(CONFIG)
        .respond("otel_collector", Responder::Respond(HttpResponse { status: 200, ..Default::default() }))
        .build()
        .unwrap();
    let mut request = vec![
        (":method".to_owned(), "GET".to_owned()),
        (":path".to_owned(), "/api/v1/query".to_owned()),
        (":scheme".to_owned(), "https".to_owned()),
        (":authority".to_owned(), "api.example.com".to_owned()),
        ("x-request-id".to_owned(), "0f3c2b1a-0000-4000-8000-000000000001".to_owned()),
    ];
    let mut response = vec![(":status".to_owned(), "302".to_owned())];
    let set = |list: &mut Vec<(String, String)>, name: &str, value: String| {
        list.retain(|(k, _)| k != name);
        list.push((name.to_owned(), value));
    };
    match place {
        Place::Path(_) => set(&mut request, ":path", place.fill(secret)),
        Place::Authority(_) => set(&mut request, ":authority", place.fill(secret)),
        Place::Header(name, _) => set(&mut request, name, place.fill(secret)),
        Place::ResponseHeader(name, _) => set(&mut response, name, place.fill(secret)),
    }
    let id = host.new_stream();
    host.request_headers(id, &as_refs(&request), true).unwrap();
    host.response_headers(id, &as_refs(&response), true).unwrap();
    host.complete(id).unwrap();
    host.advance(Duration::from_secs(3)).unwrap();
    let mut out = String::new();
    for call in host.http_calls() {
        // The export as sent (protobuf carries text as raw UTF-8) and as OTLP JSON.
        out.push_str(&String::from_utf8_lossy(&call.body));
        out.push_str(&meshlens_tests::otlp::payload_json(&call.headers, &call.body).to_string());
    }
    for line in host.logs() {
        out.push_str(&line.message);
    }
    out.push_str(&host.prometheus(&PrometheusConfig::default()));
    out
}

fn as_refs(list: &[(String, String)]) -> Vec<(&str, &str)> {
    list.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[test]
fn no_planted_secret_reaches_any_output() {
    let mut leaked = Vec::new();
    for (secret, place) in planted() {
        let out = emitted(secret, place);
        assert!(out.contains("resourceSpans") && out.contains("resourceLogs"), "{place:?}: spans and logs out");
        if out.contains(secret) {
            leaked.push(format!("{secret} in {place:?}"));
        }
    }
    assert!(leaked.is_empty(), "planted secrets leaked:\n{}", leaked.join("\n"));
}

#[test]
fn innocent_values_come_out_untouched() {
    for (value, place) in INNOCENT {
        let out = emitted(value, *place);
        assert!(out.contains(value), "{value} in {place:?} was masked:\n{out}");
    }
}
