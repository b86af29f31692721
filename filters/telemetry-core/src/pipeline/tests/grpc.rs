//! gRPC calls through the pipeline with the shipped gateway configuration: status from the
//! trailers or a trailers-only response's headers, the span's `rpc.*` attributes and status, the
//! `grpc_status` metric label and the access line's level and field.

use serde_json::Value;

use super::super::Pipeline;
use super::super::fake::{FakeHost, Reply};
use super::{START, attribute, exported_spans, plugin_config, sample, scrape};

/// One call: what goes in and what must come out.
struct Case {
    name: &'static str,
    path: &'static str,
    content_type: &'static str,
    headers: &'static [(&'static str, &'static str)],
    trailers: Option<&'static [(&'static str, &'static str)]>,
    /// `rpc.grpc.status_code`.
    code: Option<i64>,
    /// `error.type`, and so whether the span is an error.
    error_type: Option<&'static str>,
    /// The `grpc_status` label.
    label: &'static str,
    /// The access line's `level`.
    level: &'static str,
}

const GRPC_200: &[(&str, &str)] = &[(":status", "200"), ("content-type", "application/grpc")];

const CASES: [Case; 9] = [
    Case {
        name: "OK in the trailers",
        path: "/grpc.test.EchoService/Echo",
        content_type: "application/grpc",
        headers: GRPC_200,
        trailers: Some(&[("grpc-status", "0")]),
        code: Some(0),
        error_type: None,
        label: "0",
        level: "info",
    },
    Case {
        name: "INTERNAL in the trailers after a message",
        path: "/grpc.test.EchoService/Echo",
        content_type: "application/grpc+proto",
        headers: GRPC_200,
        trailers: Some(&[("grpc-status", "13"), ("grpc-message", "boom%20for%20alice@example.com")]),
        code: Some(13),
        error_type: Some("INTERNAL"),
        label: "13",
        level: "error",
    },
    Case {
        name: "trailers-only UNIMPLEMENTED",
        path: "/grpc.test.EchoService/Missing",
        content_type: "application/grpc",
        headers: &[
            (":status", "200"),
            ("content-type", "application/grpc"),
            ("grpc-status", "12"),
            ("grpc-message", "Method not found!"),
        ],
        trailers: None,
        code: Some(12),
        error_type: Some("UNIMPLEMENTED"),
        label: "12",
        level: "error",
    },
    Case {
        name: "NOT_FOUND is the caller's error",
        path: "/grpc.test.EchoService/Echo",
        content_type: "application/grpc",
        headers: GRPC_200,
        trailers: Some(&[("grpc-status", "5")]),
        code: Some(5),
        error_type: None,
        label: "5",
        level: "warn",
    },
    Case {
        name: "a reset stream: no status",
        path: "/grpc.test.EchoService/Echo",
        content_type: "application/grpc",
        headers: GRPC_200,
        trailers: None,
        code: None,
        error_type: Some("_OTHER"),
        label: "missing",
        level: "error",
    },
    Case {
        name: "a status out of range is no status",
        path: "/grpc.test.EchoService/Echo",
        content_type: "application/grpc",
        headers: GRPC_200,
        trailers: Some(&[("grpc-status", "99")]),
        code: None,
        error_type: Some("_OTHER"),
        label: "missing",
        level: "error",
    },
    Case {
        name: "gRPC-Web keeps its trailers in the body",
        path: "/grpc.test.EchoService/Echo",
        content_type: "application/grpc-web+proto",
        headers: &[(":status", "200"), ("content-type", "application/grpc-web+proto")],
        trailers: None,
        code: None,
        error_type: None,
        label: "missing",
        level: "info",
    },
    Case {
        name: "a path that is no gRPC method",
        path: "/not/a/grpc/method",
        content_type: "application/grpc",
        headers: GRPC_200,
        trailers: Some(&[("grpc-status", "0")]),
        code: Some(0),
        error_type: None,
        label: "0",
        level: "info",
    },
    Case {
        name: "plain HTTP with a grpc-status trailer",
        path: "/upload",
        content_type: "application/json",
        headers: &[(":status", "200")],
        trailers: Some(&[("grpc-status", "13")]),
        code: None,
        error_type: None,
        label: "none",
        level: "info",
    },
];

/// Runs every case through one gateway pipeline; returns the spans and access lines, in case
/// order, and the metrics endpoint's text.
fn run() -> (Vec<Value>, Vec<Value>, String) {
    let host = FakeHost::new(START, [15; 32]);
    host.set_property("source.address", "127.0.0.1:40000");
    host.set_property("request.protocol", "HTTP/2");
    let mut pipeline = Pipeline::configure(plugin_config("edge-gateway.yaml").as_bytes(), &host).unwrap();
    host.read_only_planned(pipeline.plan());
    for case in &CASES {
        let request = [
            (":method", "POST"),
            (":path", case.path),
            (":scheme", "http"),
            (":authority", "meshlens.test"),
            ("content-type", case.content_type),
        ];
        if let Some(trailers) = case.trailers {
            host.end_with_trailers(trailers);
        }
        let reply =
            Reply { headers: case.headers, body: b"\0\0\0\0\x02hi", from_upstream: true, latency_nanos: 2_000_000 };
        host.exchange(&mut pipeline, &request, b"\0\0\0\0\x02hi", &reply);
    }
    host.tick(&mut pipeline, 5_000_000_000);
    let spans = exported_spans(&host);
    let lines = host
        .logs
        .borrow()
        .iter()
        .filter(|(_, l)| l.starts_with('{'))
        .map(|(_, l)| serde_json::from_str(l).unwrap())
        .collect();
    let text = scrape(&host, &mut pipeline);
    (spans, lines, text)
}

#[test]
fn grpc_calls_get_rpc_attributes_their_status_a_label_and_a_level() {
    let (spans, lines, _) = run();
    assert_eq!((spans.len(), lines.len()), (CASES.len(), CASES.len()));
    for ((case, span), line) in CASES.iter().zip(&spans).zip(&lines) {
        let name = case.name;
        let grpc = case.content_type.starts_with("application/grpc");
        let system = attribute(span, "rpc.system").map(|v| v["stringValue"].as_str().unwrap());
        assert_eq!(system, grpc.then_some("grpc"), "{name}");
        let code =
            attribute(span, "rpc.grpc.status_code").map(|v| v["intValue"].as_str().unwrap().parse::<i64>().unwrap());
        assert_eq!(code, case.code, "{name}");
        let error_type = attribute(span, "error.type").map(|v| v["stringValue"].as_str().unwrap());
        assert_eq!(error_type, case.error_type, "{name}");
        let status_code = span["status"]["code"].as_i64().unwrap_or(0);
        assert_eq!(status_code == 2, case.error_type.is_some(), "{name}: span status {}", span["status"]);
        assert_eq!(attribute(span, "http.response.status_code").unwrap()["intValue"], "200", "{name}: HTTP stays");
        assert_eq!(line["level"], case.level, "{name}: {line}");
        assert_eq!(line.get("grpc_status").and_then(Value::as_i64), case.code, "{name}: {line}");
        assert_eq!(line["status"], 200, "{name}");
    }
    let service = |i: usize| attribute(&spans[i], "rpc.service").map(|v| v["stringValue"].as_str().unwrap().to_owned());
    let method = |i: usize| attribute(&spans[i], "rpc.method").map(|v| v["stringValue"].as_str().unwrap().to_owned());
    assert_eq!((service(0).as_deref(), method(0).as_deref()), (Some("grpc.test.EchoService"), Some("Echo")));
    assert_eq!(method(2).as_deref(), Some("Missing"));
    assert_eq!((service(7), method(7)), (None, None), "a path that is no gRPC method names none");
    assert_eq!(spans[0]["name"], "POST", "the span stays an HTTP server span, named by method and route");
}

#[test]
fn the_status_message_is_the_decoded_redacted_grpc_message() {
    let (spans, _, _) = run();
    let message = spans[1]["status"]["message"].as_str().unwrap();
    assert!(message.starts_with("boom for "), "percent-decoded: {message}");
    assert!(!message.contains("alice@example.com"), "redacted: {message}");
    assert_eq!(spans[2]["status"]["message"], "Method not found!");
    assert_eq!(spans[4]["status"]["message"], "no grpc-status in the response");
    assert!(spans[0]["status"].get("message").is_none_or(|m| m == ""), "no message on success");
}

#[test]
fn every_series_carries_grpc_status_and_a_failed_200_is_an_error_there() {
    let (_, _, text) = run();
    let series = |label: &str| {
        format!(
            "meshlens_http_requests_total{{reporter=\"gateway\",method=\"POST\",route=\"other\",status_code=\"200\",status_class=\"2xx\",grpc_status=\"{label}\"}}"
        )
    };
    for case in &CASES {
        let count = CASES.iter().filter(|c| c.label == case.label).count();
        let label = case.label;
        assert_eq!(
            sample(&text, &series(label)),
            i64::try_from(count).ok(),
            "{}: grpc_status={label}: {text}",
            case.name
        );
    }
    let labelled = text.lines().filter(|l| l.starts_with("meshlens_http_")).all(|l| l.contains(",grpc_status=\""));
    assert!(labelled, "every series of every family carries the label: {text}");
}

#[test]
fn outcome_counts_a_failed_call_as_an_error_whatever_its_http_status() {
    let host = FakeHost::new(START, [16; 32]);
    let json = r#"{"metrics": {"labels": ["outcome", {"name": "grpc", "from": "grpc_status"}], "endpoint": {"path": "/m", "allow": ["127.0.0.1/32"]}}}"#;
    let mut pipeline = Pipeline::configure(json.as_bytes(), &host).unwrap();
    for (status, trailers) in [("0", true), ("13", true), ("5", true), ("", false)] {
        if trailers {
            host.end_with_trailers(&[("grpc-status", status)]);
        }
        let reply = Reply { headers: GRPC_200, body: b"", from_upstream: true, latency_nanos: 1 };
        host.exchange(
            &mut pipeline,
            &[(":method", "POST"), (":path", "/p.S/M"), ("content-type", "application/grpc")],
            b"",
            &reply,
        );
    }
    host.tick(&mut pipeline, 2_000_000_000);
    host.set_property("source.address", "127.0.0.1:1");
    let unused = Reply { headers: &[], body: b"", from_upstream: false, latency_nanos: 0 };
    host.exchange(&mut pipeline, &[(":method", "GET"), (":path", "/m")], b"", &unused);
    let text = String::from_utf8(host.replies.borrow().last().unwrap().2.clone()).unwrap();
    let count = |outcome: &str, grpc: &str| {
        sample(&text, &format!("meshlens_http_requests_total{{outcome=\"{outcome}\",grpc=\"{grpc}\"}}"))
    };
    assert_eq!(count("success", "0"), Some(1), "{text}");
    assert_eq!(count("error", "13"), Some(1), "{text}");
    assert_eq!(count("error", "5"), Some(1), "the caller's errors fail the call too: {text}");
    assert_eq!(count("error", "missing"), Some(1), "{text}");
}

#[test]
fn plain_http_requests_read_no_grpc_status() {
    // The trailers of a plain HTTP response are not read: one `grpc-status` lookup would cost
    // every such request a hostcall.
    let host = FakeHost::new(START, [17; 32]);
    let mut pipeline = Pipeline::configure(b"{}", &host).unwrap();
    let mut exchange = pipeline.new_exchange();
    host.start_request(&[(":method", "GET"), (":path", "/"), ("content-type", "text/plain")]);
    pipeline.on_request_headers(&mut exchange, &host);
    host.start_response(&[(":status", "200"), ("grpc-status", "13")]);
    pipeline.on_response_headers(&mut exchange, &host);
    *host.response_trailers.borrow_mut() = vec![(String::from("grpc-status"), String::from("13"))];
    pipeline.on_response_trailers(&mut exchange, &host);
    assert_eq!(exchange.grpc_status, None);
}

#[test]
fn a_grpc_call_answered_by_a_non_grpc_upstream_fails_with_the_http_status_as_error_type() {
    let host = FakeHost::new(START, [18; 32]);
    let mut pipeline = Pipeline::configure(b"{}", &host).unwrap();
    let request = [(":method", "POST"), (":path", "/p.S/M"), ("content-type", "application/grpc")];
    // A 404 page from an HTTP server: no grpc-status. A plain HTTP 404 is no span error.
    let reply = Reply {
        headers: &[(":status", "404"), ("content-type", "text/html")],
        body: b"",
        from_upstream: true,
        latency_nanos: 1,
    };
    host.exchange(&mut pipeline, &request, b"", &reply);
    host.exchange(&mut pipeline, &[(":method", "POST"), (":path", "/p.S/M")], b"", &reply);
    host.tick(&mut pipeline, 2_000_000_000);
    let spans: Vec<Value> = exported_spans(&host);
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0]["status"]["code"], 2, "the caller's gRPC library fails the call: {}", spans[0]);
    assert_eq!(attribute(&spans[0], "error.type").unwrap()["stringValue"], "404");
    assert_eq!(spans[0]["status"]["message"], "no grpc-status in the response");
    assert!(attribute(&spans[0], "rpc.grpc.status_code").is_none());
    assert_eq!(spans[1]["status"]["code"].as_i64().unwrap_or(0), 0, "the same 404 to plain HTTP: {}", spans[1]);
    let levels: Vec<String> = host
        .logs
        .borrow()
        .iter()
        .filter(|(_, l)| l.starts_with('{'))
        .map(|(_, l)| serde_json::from_str::<Value>(l).unwrap()["level"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(levels, ["error", "warn"], "a failed call is the server's failure; a 404 is the caller's");
}
