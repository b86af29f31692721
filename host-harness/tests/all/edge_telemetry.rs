//! meshlens's own module driven through the harness.

use std::time::Duration;

use host_harness::{Action, Host, HttpResponse, Responder};

use crate::support::edge_telemetry;

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn host(config: &str) -> Host {
    Host::builder(&edge_telemetry())
        .root_id("meshlens")
        .plugin_config(config)
        .respond("otel_collector", Responder::Respond(HttpResponse { status: 200, ..Default::default() }))
        .build()
        .unwrap()
}

#[test]
fn a_request_continues_the_trace_and_exports_its_span() {
    let mut h = host(r#"{"routes": ["/users/{id}"]}"#);
    let s = h.new_stream();
    let action = h
        .request_headers(
            s,
            &[(":method", "GET"), (":path", "/users/7?x=1"), (":authority", "api"), ("traceparent", PARENT)],
            true,
        )
        .unwrap();
    assert_eq!(action, Action::Continue);
    h.advance(Duration::from_millis(25)).unwrap();
    h.response_headers(s, &[(":status", "200")], true).unwrap();
    h.complete(s).unwrap();
    h.advance(Duration::from_secs(2)).unwrap();

    let stream = h.stream(s).unwrap();
    let upstream = stream.upstream_request_header("traceparent").unwrap();
    assert!(upstream.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{upstream}");
    assert_eq!(stream.downstream_response_header("x-trace-id"), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
    let spans = h.spans();
    assert_eq!(spans.len(), 1, "logs: {:?}", h.logs());
    let span = &spans[0];
    assert_eq!(span.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(span.parent_span_id, "00f067aa0ba902b7");
    assert_eq!(&upstream[36..52], span.span_id);
    assert_eq!(span.name, "GET /users/{id}");
    assert_eq!(span.duration_nanos(), 25_000_000, "the virtual clock measures the span");
    assert_eq!(span.attribute("http.response.status_code"), Some("200"));
    let calls = h.http_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].upstream, "otel_collector");
    assert!(calls[0].headers.contains(&(":path".to_owned(), "/v1/traces".to_owned())));
}
