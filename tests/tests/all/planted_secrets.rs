//! Secrets planted where real clients put them, through the module in the harness with every
//! output on (spans, the access line with header fields, OTLP logs, metric labels from headers):
//! none may appear in any output. And the reverse: innocent values in the same places come out
//! untouched.

use std::sync::OnceLock;
use std::time::Duration;

use host_harness::metrics::PrometheusConfig;
use host_harness::{Host, HttpResponse, Module, Responder};
use meshlens_tests::paths;

fn module() -> Module {
    static MODULE: OnceLock<Module> = OnceLock::new();
    MODULE.get_or_init(|| Module::from_file(paths::edge_telemetry_wasm()).unwrap()).clone()
}

/// Every output on: the headers clients use as carriers are access-log fields and metric labels.
const CONFIG: &str = r#"{
  "routes": ["/api/v1/query", "/users/{id}"],
  "metrics": {"dimensions": [{"name": "tenant", "from": {"request_header": "x-tenant"}},
                             {"name": "client", "from": {"request_header": "x-forwarded-for"}}]},
  "access_log": {"sinks": ["proxy_log", "otlp"],
    "fields": ["method", "route", "path", "status", "client_address", "user_agent", "request_id", "query_hash"],
    "extra": [{"name": "referer", "from": {"request_header": "referer"}},
              {"name": "baggage", "from": {"request_header": "baggage"}},
              {"name": "xff", "from": {"request_header": "x-forwarded-for"}},
              {"name": "tenant", "from": {"request_header": "x-tenant"}},
              {"name": "location", "from": {"response_header": "location"}}]}
}"#;

/// Where a secret goes in a request.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// The path, with `{}` where the secret goes.
    Path(&'static str),
    /// `:authority`, with `{}` where the secret goes.
    Authority(&'static str),
    /// A request header, with `{}` where the secret goes.
    Header(&'static str, &'static str),
    /// A response header, with `{}` where the secret goes.
    ResponseHeader(&'static str, &'static str),
}

/// The catalogue: each secret (the part that must not leak) and the places it is planted.
const PLANTED: &[(&str, &[Place])] = &[
    ("PLANTEDsess1", &[Place::Path("/api/v1/query;jsessionid={}")]),
    (
        "PLANTEDpw2",
        &[Place::Authority("admin:{}@api.example.com"), Place::Header("referer", "https://u:{}@x.example/")],
    ),
    (
        "PLANTEDtok3",
        &[
            Place::Path("/api/v1/query?token={}&q=1"),
            Place::Header("referer", "https://x.example/cb?code={}&state=ok"),
            Place::ResponseHeader("location", "https://x.example/next?access_token={}"),
        ],
    ),
    ("PLANTEDbag4", &[Place::Header("baggage", "userId=alice,user.password={}")]),
    ("PLANTEDxff5", &[Place::Header("x-forwarded-for", "203.0.113.7, {}")]),
    (
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJQTEFOVEVEIn0.c2lnbmF0dXJl",
        &[Place::Path("/users/{}"), Place::Header("x-tenant", "{}")],
    ),
    ("4111111111111111", &[Place::Path("/api/v1/query?q={}"), Place::Header("x-tenant", "card {}")]),
    ("planted@example.com", &[Place::Header("user-agent", "bot/1 ({})"), Place::Header("x-tenant", "{}")]),
    ("AKIAIOSFODNN7PLANTED", &[Place::Header("x-tenant", "key={}"), Place::Path("/api/v1/query?q={}")]),
    ("AIzaSyPLANTEDPLANTEDPLANTEDPLANTED12345", &[Place::Header("referer", "https://maps.example/?k={}")]),
    ("ghp_PLANTEDplantedPLANTEDplantedPLANTED1", &[Place::Header("x-tenant", "{}")]),
    ("xoxb-PLANTED-1234567890", &[Place::Header("baggage", "hook={}")]),
    ("sk_live_PLANTEDplantedPLANTEDplanted", &[Place::Header("x-tenant", "{}")]),
    ("-----BEGIN PRIVATE KEY-----MIIEvPLANTED-----END PRIVATE KEY-----", &[Place::Header("x-tenant", "{}")]),
];

/// Values that look a little like secrets and must come out as they went in.
const INNOCENT: &[(&str, Place)] = &[
    ("8b1f3c2a-9c61-4d7e-a0b5-123456789abc", Place::Header("x-tenant", "{}")),
    ("203.0.113.9", Place::Header("x-forwarded-for", "{}")),
    ("2001:db8::1", Place::Header("x-forwarded-for", "{}")),
    ("page=2", Place::Header("referer", "https://x.example/list?{}")),
    ("userId=alice", Place::Header("baggage", "{}")),
    ("color=red", Place::Path("/cars;{}")),
    ("8b123456-9c61-4d7e-a0b5-123456789012", Place::Header("x-request-id", "{}")),
    ("1767225600123", Place::Header("x-tenant", "{}")),
];

/// Runs one request with the place filled in; returns everything the module emitted, as text.
fn emitted(secret: &str, place: Place) -> String {
    let mut host = Host::builder(&module())
        .root_id("meshlens")
        .plugin_config(CONFIG)
        .respond("otel_collector", Responder::Respond(HttpResponse { status: 200, ..Default::default() }))
        .build()
        .unwrap();
    let fill = |template: &str| template.replace("{}", secret);
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
        Place::Path(t) => set(&mut request, ":path", fill(t)),
        Place::Authority(t) => set(&mut request, ":authority", fill(t)),
        Place::Header(name, t) => set(&mut request, name, fill(t)),
        Place::ResponseHeader(name, t) => set(&mut response, name, fill(t)),
    }
    let id = host.new_stream();
    host.request_headers(id, &as_refs(&request), true).unwrap();
    host.response_headers(id, &as_refs(&response), true).unwrap();
    host.complete(id).unwrap();
    host.advance(Duration::from_secs(3)).unwrap();
    let mut out = String::new();
    for call in host.http_calls() {
        out.push_str(&String::from_utf8_lossy(&call.body));
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
    for (secret, places) in PLANTED {
        for place in *places {
            let out = emitted(secret, *place);
            assert!(out.contains("resourceSpans") && out.contains("resourceLogs"), "{place:?}: spans and logs out");
            assert!(!out.contains(secret), "{secret} planted in {place:?} leaked:\n{out}");
        }
    }
}

#[test]
fn innocent_values_come_out_untouched() {
    for (value, place) in INNOCENT {
        let out = emitted(value, *place);
        assert!(out.contains(value), "{value} in {place:?} was masked:\n{out}");
    }
}
