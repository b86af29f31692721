//! Traffic format version 2 and Envoy's own semantics (`--envoy-defaults`): body chunks,
//! trailers and properties reach the module as the callbacks Envoy 1.40 makes (the SDK probe
//! logs each), and the JSON report shows the bodies as they left.

use host_harness::traffic;
use host_harness::{Host, Module};

use crate::cli::{json_report, scratch};
use crate::support::{sdk_probe, third_party};

/// The probe's lines for the exchange on `line`, its context id replaced by `#`.
fn probe_lines(host_logs: &[(u32, String)], context: u32) -> Vec<String> {
    let prefix = format!("probe: {context} ");
    host_logs.iter().filter_map(|(_, m)| m.strip_prefix(&prefix)).map(str::to_owned).collect()
}

/// Replays `text` through the SDK probe (its callout refused: no cluster exists) and returns
/// each exchange's probe lines.
fn replay_probe(text: &str, envoy_defaults: bool) -> Vec<Vec<String>> {
    let module: Module = sdk_probe("wasm32-wasip1");
    let mut host =
        Host::builder(&module).clusters(Vec::<String>::new()).envoy_defaults(envoy_defaults).build().unwrap();
    let exchanges = traffic::parse(text).unwrap();
    let outcomes = traffic::replay(&mut host, &exchanges, |_| {}).unwrap();
    let logs: Vec<(u32, String)> = host.logs().iter().map(|l| (l.context_id, l.message.clone())).collect();
    outcomes.iter().map(|o| probe_lines(&logs, o.id.0)).collect()
}

const TRAFFIC: &str = r#"{"meshlens_traffic": 2}
{"method": "POST", "path": "/post", "authority": "a.example", "headers": {"content-length": "5"}, "body": "hello", "response": {"headers": {"content-type": "text/plain", "content-length": "18"}, "body": "hello secret world", "latency_ms": 3}}
{"path": "/chunked", "authority": "a.example", "response": {"headers": {"transfer-encoding": "chunked"}, "chunks": ["hello ", "secret world"]}}
{"method": "HEAD", "path": "/head", "authority": "a.example", "response": {"headers": {"content-length": "11"}, "body": "not sent"}}
{"method": "POST", "path": "/deny", "authority": "a.example", "headers": {"content-length": "5"}, "body": "hello"}
"#;

#[test]
fn with_envoy_defaults_the_callbacks_are_envoys() {
    let [post, chunked, head, deny] = &replay_probe(TRAFFIC, true)[..] else { panic!("four exchanges") };
    let request_id = post.iter().find_map(|l| l.strip_prefix("> x-request-id: ")).unwrap();
    assert_eq!(
        post,
        &[
            "request headers 7 eos=false",
            "> :authority: a.example",
            "> :path: /post",
            "> :method: POST",
            "> :scheme: http",
            "> content-length: 5",
            "> x-forwarded-proto: http",
            &format!("> x-request-id: {request_id}"),
            "request body 5 eos=false",
            "request body 0 eos=true",
            "response headers 4 eos=false",
            "< :status: 200",
            "< content-type: text/plain",
            "< content-length: 18",
            "< x-envoy-upstream-service-time: 3",
            "response body 18 eos=false",
            "response body 0 eos=true",
        ]
    );
    let bodies = |lines: &[String]| lines.iter().filter(|l| l.contains(" body ")).cloned().collect::<Vec<_>>();
    assert_eq!(
        bodies(chunked),
        ["response body 6 eos=false", "response body 12 eos=false", "response body 0 eos=true"],
        "one call per chunk, then the end of the stream"
    );
    assert!(head.contains(&"response headers 3 eos=true".to_owned()), "{head:?}");
    assert_eq!(bodies(head), Vec::<String>::new(), "a reply to HEAD has no body");
    assert_eq!(
        &deny[deny.len() - 6..],
        [
            "response headers 4 eos=false",
            "< :status: 403",
            "< x-probe: denied",
            "< content-length: 6",
            "< content-type: text/plain",
            "response body 6 eos=true"
        ],
        "the module's headers, then Envoy's"
    );
    let again = replay_probe(TRAFFIC, true);
    assert_eq!(again[0], *post, "request ids come from the seed");
}

#[test]
fn without_envoy_defaults_headers_are_the_traffics_and_a_body_is_one_call() {
    let [post, ..] = &replay_probe(TRAFFIC, false)[..] else { panic!("four exchanges") };
    let names: Vec<&str> =
        post.iter().filter_map(|l| l.strip_prefix("> ")).filter_map(|l| l.split(": ").next()).collect();
    assert_eq!(names, [":method", ":scheme", ":authority", ":path", "content-length"]);
    assert!(
        post.contains(&"request body 5 eos=true".to_owned()) && post.contains(&"response body 18 eos=true".to_owned())
    );
    assert!(!post.iter().any(|l| l.contains("x-envoy-upstream-service-time")));
}

#[test]
fn trailers_reach_the_module_after_the_chunks() {
    let text = r#"{"meshlens_traffic": 2}
{"method": "POST", "path": "/t", "chunks": ["a", "b"], "trailers": {"x-req-trailer": "1"}, "response": {"body": "r", "trailers": [["grpc-status", "0"]]}}
"#;
    let [lines] = &replay_probe(text, true)[..] else { panic!("one exchange") };
    let calls: Vec<&str> = lines.iter().map(String::as_str).filter(|l| !l.starts_with(['>', '<'])).collect();
    assert_eq!(
        calls,
        [
            "request headers 6 eos=false",
            "request body 1 eos=false",
            "request body 1 eos=false",
            "request trailers 1 eos=true",
            "response headers 2 eos=false",
            "response body 1 eos=false",
            "response trailers 1 eos=true",
        ],
        "with trailers no body call ends the stream"
    );
    for expected in
        ["> x-req-trailer: 1", "response body 1 eos=false", "response trailers 1 eos=true", "< grpc-status: 0"]
    {
        assert!(lines.iter().any(|l| l == expected), "no `{expected}` in {lines:?}");
    }
}

/// The SDK's `http_body` example masks a response body containing "secret": the report shows the
/// body as it left toward the client, and the request body as it left toward the upstream.
#[test]
fn the_report_shows_bodies_as_they_left() {
    let dir = scratch("bodies");
    let traffic = dir.join("traffic.jsonl");
    let long = "x".repeat(40);
    std::fs::write(
        &traffic,
        format!(
            "{{\"meshlens_traffic\": 2}}\n\
             {{\"method\": \"POST\", \"path\": \"/a\", \"body\": \"question\", \"response\": {{\"chunks\": [\"hello \", \"secret world\"]}}}}\n\
             {{\"path\": \"/b\", \"response\": {{\"body\": \"{long}\"}}}}\n"
        ),
    )
    .unwrap();
    for envoy_defaults in [false, true] {
        let mut extra = vec!["--body-limit", "16"];
        if envoy_defaults {
            extra.push("--envoy-defaults");
        }
        let report = json_report(&third_party("http_body.wasm"), &traffic, &extra);
        let [a, b] = report["exchanges"].as_array().unwrap().as_slice() else { panic!("two exchanges") };
        assert_eq!(a["request_body"], serde_json::json!({"text": "question"}));
        assert_eq!(
            a["response_body"],
            serde_json::json!({"text": "Original message", "truncated": 43}),
            "masked by the module, cut at 16 bytes (envoy_defaults {envoy_defaults})"
        );
        assert_eq!(b["response_body"], serde_json::json!({"text": "x".repeat(16), "truncated": 40}));
        assert_eq!(a["downstream"]["removed"], serde_json::json!([]), "no content-length was sent");
    }
}

/// The SDK's `envoy_filter_metadata` example reads dynamic metadata
/// (`metadata.filter_metadata.envoy.filters.http.lua.uppercased-custom-metadata`) and answers with
/// it: a traffic file's `properties.metadata` is what it reads, as Envoy encodes a Struct string.
#[test]
fn dynamic_metadata_from_the_traffic_reaches_a_third_party_filter() {
    let dir = scratch("metadata");
    let traffic = dir.join("traffic.jsonl");
    std::fs::write(
        &traffic,
        "{\"meshlens_traffic\": 2}\n\
         {\"path\": \"/a\", \"properties\": {\"metadata\": {\"envoy.filters.http.lua\": {\"uppercased-custom-metadata\": \"HELLO\"}}}}\n\
         {\"path\": \"/b\"}\n",
    )
    .unwrap();
    let report = json_report(&third_party("envoy_filter_metadata.wasm"), &traffic, &[]);
    let [a, b] = report["exchanges"].as_array().unwrap().as_slice() else { panic!("two exchanges") };
    assert_eq!(a["outcome"], "local_reply");
    assert_eq!(
        a["local_reply"]["headers"],
        serde_json::json!([["powered-by", "proxy-wasm"], ["uppercased-metadata", "HELLO"]])
    );
    assert_eq!(a["response_body"]["text"], "Custom response with Envoy metadata: \"HELLO\"\n");
    assert_eq!(b["outcome"], "completed", "metadata is per exchange");
}

#[test]
fn the_upstream_service_time_counts_from_when_the_request_went_upstream() {
    // The probe holds each request for its callout, answered after 300 ms; the upstream takes
    // 100 ms from there: the exchange ends at 400 ms, the router's service time is 100 ms.
    let script = r#"{"rules": [{"cluster": "probe_upstream", "answers": [{"status": 200, "delay_ms": 300}]}]}"#;
    let module: Module = sdk_probe("wasm32-wasip1");
    let mut host = Host::builder(&module)
        .callouts(host_harness::Script::parse(script).unwrap())
        .envoy_defaults(true)
        .build()
        .unwrap();
    let traffic = "{\"meshlens_traffic\": 2}\n{\"path\": \"/x\", \"response\": {\"headers\": {\"content-length\": \"0\"}, \"latency_ms\": 100}}\n";
    let outcomes = traffic::replay(&mut host, &traffic::parse(traffic).unwrap(), |_| {}).unwrap();
    assert_eq!(outcomes[0].ended_at_ms, 400);
    assert_eq!(outcomes[0].stream.downstream_response_header("x-envoy-upstream-service-time"), Some("100"));
}
