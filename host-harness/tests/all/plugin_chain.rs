//! Several HTTP plugins of one module on one stream, in filter order, as Envoy 1.40 runs two Wasm
//! filters sharing a VM (measured with the same probe and exchanges in
//! `tests/tests/all/envoy_plugin_chain.rs`).

use host_harness::{Host, HttpResponse, Module, Responder, traffic};

use crate::cli::{json_report, scratch};
use crate::support::sdk_probe;

const TRAFFIC: &str = r#"{"meshlens_traffic": 2}
{"path": "/x", "authority": "a.example", "response": {"headers": {"content-length": "11", "x-up": "1"}, "body": "upstream /x"}}
{"path": "/deny", "authority": "a.example"}
"#;

/// Two probe plugins, `first` then `second`, their callouts answered 200 `upstream /check`.
fn chained_host(module: &Module) -> Host {
    let answer = HttpResponse { status: 200, body: b"upstream /check".to_vec(), ..Default::default() };
    Host::builder(module)
        .root_id("first")
        .plugin_config("cfg-first")
        .add_plugin("second", "cfg-second")
        .respond("probe_upstream", Responder::Respond(answer))
        .envoy_defaults(true)
        .build()
        .unwrap()
}

/// `<context> <rest>` of every probe line about a stream, the request id replaced by its shape.
fn stream_lines(host: &Host) -> Vec<String> {
    host.logs()
        .iter()
        .filter_map(|l| l.message.strip_prefix("probe: "))
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()) || l.starts_with("stream "))
        .map(|l| match l.split_once("> x-request-id: ") {
            Some((head, _)) => format!("{head}> x-request-id: <uuid>"),
            None => l.to_owned(),
        })
        .collect()
}

#[test]
fn the_request_goes_through_the_filters_in_order_and_the_response_in_reverse() {
    let module = sdk_probe("wasm32-wasip1");
    let mut host = chained_host(&module);
    let exchanges = traffic::parse(TRAFFIC).unwrap();
    let outcomes = traffic::replay(&mut host, &exchanges, |_| {}).unwrap();
    let [x, deny] = &outcomes[..] else { panic!("two exchanges") };
    // Roots are 1 and 2; each stream's filters get the next ids, in filter order.
    assert_eq!((x.id.0, deny.id.0), (3, 5));
    let lines = stream_lines(&host);
    let expected = [
        "3 request headers 6 eos=true",
        "3 > :authority: a.example",
        "3 > :path: /x",
        "3 > :method: GET",
        "3 > :scheme: http",
        "3 > x-forwarded-proto: http",
        "3 > x-request-id: <uuid>",
        // The second filter starts once the first continued after its callout, and sees what
        // the first added (the shared value is the last configured plugin's).
        "4 request headers 9 eos=true",
        "4 > :authority: a.example",
        "4 > :path: /x",
        "4 > :method: GET",
        "4 > :scheme: http",
        "4 > x-forwarded-proto: http",
        "4 > x-request-id: <uuid>",
        "4 > x-probe-config: cfg-second",
        "4 > x-probe-callout: 200",
        "4 > x-probe-callout-body: upstream /check",
        // The response: the last filter first, then the first, which sees the second's headers.
        "4 response headers 4 eos=false",
        "4 < :status: 200",
        "4 < content-length: 11",
        "4 < x-up: 1",
        "4 < x-envoy-upstream-service-time: 0",
        "3 response headers 6 eos=false",
        "3 < :status: 200",
        "3 < content-length: 11",
        "3 < x-up: 1",
        "3 < x-envoy-upstream-service-time: 0",
        "3 < x-probe-root-id: second",
        "3 < x-probe-requests: 2",
        "4 response body 11 eos=false",
        "3 response body 11 eos=false",
        "4 response body 0 eos=true",
        "3 response body 0 eos=true",
        "stream 3 logged with status 200",
        "stream 4 logged with status 200",
        // A local reply from the first filter: the second never runs but logs.
        "5 request headers 6 eos=true",
        "5 > :authority: a.example",
        "5 > :path: /deny",
        "5 > :method: GET",
        "5 > :scheme: http",
        "5 > x-forwarded-proto: http",
        "5 > x-request-id: <uuid>",
        "5 response headers 4 eos=false",
        "5 < :status: 403",
        "5 < x-probe: denied",
        "5 < content-length: 6",
        "5 < content-type: text/plain",
        "5 response body 6 eos=true",
        "stream 5 logged with status 403",
        "stream 6 logged with status 403",
    ];
    assert_eq!(lines, expected);

    // Outside the proxy: the first filter's response went downstream, the last's request
    // upstream.
    let header = |o: &traffic::Outcome, name: &str| o.stream.downstream_response_header(name).map(str::to_owned);
    assert_eq!(header(x, "x-probe-root-id").as_deref(), Some("first"));
    assert_eq!(header(x, "x-probe-requests").as_deref(), Some("2"));
    assert_eq!(x.stream.upstream_request_header("x-probe-callout-body"), Some("upstream /check"));
    assert_eq!(x.stream.downstream_response_body(), b"upstream /x");
    assert_eq!(deny.stream.status(), Some(403));
    assert_eq!(header(deny, "x-probe-requests").as_deref(), Some("3"), "one VM, one counter for both plugins");
    assert_eq!(deny.stream.downstream_response_body(), b"denied");
}

#[test]
fn the_cli_chains_plugins_with_their_raw_configuration() {
    let dir = scratch("plugin_chain");
    let traffic = dir.join("traffic.jsonl");
    std::fs::write(&traffic, TRAFFIC).unwrap();
    let second = dir.join("second.txt");
    std::fs::write(&second, "cfg-second").unwrap();
    let plugin = format!("second={}", second.display());
    let extra = ["--root-id", "first", "--config-raw", "cfg-first", "--plugin", &plugin];
    let report = json_report(std::path::Path::new(meshlens_tests_guests::SDK_PROBE_WASIP1), &traffic, &extra);
    let logs = report["logs"].as_array().unwrap();
    let configured: Vec<&str> =
        logs.iter().filter_map(|l| l["message"].as_str()).filter(|m| m.starts_with("probe: configured")).collect();
    assert_eq!(configured, ["probe: configured with \"cfg-first\"", "probe: configured with \"cfg-second\""]);
    // The second filter logs for the exchange the first answered: its lines are that exchange's.
    let second_filter = logs.iter().find(|l| l["message"] == "probe: stream 6 logged with status 403").unwrap();
    assert_eq!((second_filter["line"].as_u64(), second_filter["context"].as_u64()), (Some(3), Some(6)));
    let exchanges = report["exchanges"].as_array().unwrap();
    assert_eq!(exchanges[1]["status"], 403);
}
