//! `tracing.client_span`: the CLIENT span of the upstream hop under each mode, on the recording
//! host, with the upstream attributes Envoy 1.40 shows at stream end.

use serde_json::Value;

use super::super::Pipeline;
use super::super::fake::{FakeHost, Reply, Sent};
use super::{START, attribute, exported_spans, header, upstream_attributes};

/// One request with `config`, relayed by the app (or answered as `upstream` says: `app`,
/// `no_route`, `down`), then exported: what was sent and the spans, as the collector decodes them
/// from protobuf.
fn one(config: &str, path: &str, upstream: &str, reply: &Reply<'_>) -> (Sent, Vec<Value>) {
    let host = FakeHost::new(START, [3; 32]);
    host.set_property("source.address", "10.0.0.7:5000");
    let mut pipeline = Pipeline::configure(config.as_bytes(), &host).unwrap();
    upstream_attributes(&host, upstream);
    let request = [(":method", "GET"), (":path", path), (":scheme", "https"), (":authority", "shop.example:8443")];
    let sent = host.exchange(&mut pipeline, &request, b"", reply);
    host.tick(&mut pipeline, 5_000_000_000);
    let spans = exported_spans(&host);
    (sent, spans)
}

const OK: Reply<'static> =
    Reply { headers: &[(":status", "200")], body: b"ok", from_upstream: true, latency_nanos: 3_000_000 };

/// The parent id of the `traceparent` the upstream received.
fn upstream_parent(sent: &Sent) -> String {
    let tp = header(sent.upstream.as_ref().unwrap(), "traceparent").unwrap();
    tp.split('-').nth(2).unwrap().to_owned()
}

/// The span id `traceresponse` names.
fn responded_span(sent: &Sent) -> String {
    header(&sent.downstream, "traceresponse").unwrap().split('-').nth(2).unwrap().to_owned()
}

fn text<'a>(span: &'a Value, key: &str) -> Option<&'a str> {
    attribute(span, key).and_then(|v| v["stringValue"].as_str())
}

#[test]
fn child_is_the_upstream_parent_and_the_server_span_stays_the_responded_one() {
    let (sent, spans) = one("{}", "/cart?token=s3cr3t&page=2", "app", &OK);
    assert_eq!(spans.len(), 2);
    let (server, client) = (&spans[0], &spans[1]);
    assert_eq!((server["kind"].as_u64(), client["kind"].as_u64()), (Some(2), Some(3)));
    assert_eq!(client["parentSpanId"], server["spanId"]);
    assert_eq!(client["spanId"], upstream_parent(&sent).as_str(), "the upstream's parent is the CLIENT span");
    assert_eq!(server["spanId"], responded_span(&sent).as_str(), "traceresponse names the SERVER span");
    assert_eq!(client["traceId"], server["traceId"]);
    let flags = |span: &Value| span["flags"].as_u64().unwrap();
    assert_eq!(flags(client) & 0xff, flags(server) & 0xff, "the same W3C flags");
    assert_eq!(flags(client) & 0x300, 0x100, "OTLP: the CLIENT span's parent is not remote");
    assert_eq!(text(client, "http.request.method"), Some("GET"));
    assert_eq!(
        text(client, "url.full"),
        Some("https://shop.example:8443/cart?token=[REDACTED]&page=2"),
        "url.full from the SERVER span's scrubbed parts"
    );
    assert_eq!(text(client, "server.address"), Some("127.0.0.1"), "the upstream host, not the authority");
    assert_eq!(attribute(client, "server.port").unwrap()["intValue"], "8080");
    assert_eq!(text(client, "network.peer.address"), Some("127.0.0.1"));
    assert_eq!(attribute(client, "network.peer.port").unwrap()["intValue"], "8080");
    assert_eq!(text(client, "upstream_cluster.name"), Some("app"));
    assert!(attribute(client, "client.address").is_none() && attribute(client, "http.route").is_none());
    assert_eq!(client["status"]["code"].as_u64().unwrap_or(0), 0);
}

#[test]
fn upstream_errors_are_client_span_errors_and_4xx_too() {
    let not_found = Reply { headers: &[(":status", "404")], ..OK };
    let (_, spans) = one("{}", "/missing", "app", &not_found);
    assert_eq!(spans[0]["status"]["code"].as_u64().unwrap_or(0), 0, "a 4xx is the caller's error on the server");
    assert_eq!(spans[1]["status"]["code"], 2, "and the client's error on the client (HTTP conventions)");
    assert_eq!(text(&spans[1], "error.type"), Some("404"));
}

#[test]
fn an_upstream_failure_names_its_error_type_without_an_upstream_status() {
    let down = Reply { headers: &[(":status", "503")], body: b"", from_upstream: false, latency_nanos: 250_000_000 };
    for (flags, details, error) in [
        (0x20, "upstream_reset_before_response_started{remote_connection_failure}", "connect_failure"),
        (0x4, "response_timeout", "timeout"),
        (0x10, "upstream_reset_before_response_started{remote_reset}", "reset"),
        (0x80, "upstream_reset_before_response_started{overflow}", "overflow"),
    ] {
        let host_details = details.to_owned();
        let (_, spans) = {
            let (sent, spans) = one_with(&down, |host| {
                upstream_attributes(host, "down");
                host.set_property_u64("response.flags", flags);
                host.set_property("response.code_details", &host_details);
            });
            (sent, spans)
        };
        let client = &spans[1];
        assert_eq!(text(client, "error.type"), Some(error), "{details}");
        assert_eq!(client["status"]["code"], 2, "{details}");
        assert!(attribute(client, "http.response.status_code").is_none(), "{details}: Envoy's reply, not the app's");
        assert_eq!(client["endTimeUnixNano"], spans[0]["endTimeUnixNano"], "{details}: ends with the SERVER span");
    }
    // No healthy host: no address, and still a CLIENT span for the attempt.
    let (_, spans) = one_with(&down, |host| {
        upstream_attributes(host, "down");
        host.remove_property("upstream.address");
        host.set_property_u64("response.flags", 0x2);
        host.set_property("response.code_details", "no_healthy_upstream");
    });
    assert_eq!(text(&spans[1], "error.type"), Some("no_healthy_upstream"));
    assert!(attribute(&spans[1], "server.address").is_none());
}

#[test]
fn a_reset_after_the_response_started_keeps_the_upstream_status() {
    let (_, spans) = one_with(&OK, |host| {
        upstream_attributes(host, "app");
        host.remove_property("response.backend_latency");
        host.set_property_u64("response.flags", 0x10);
    });
    assert_eq!(attribute(&spans[1], "http.response.status_code").unwrap()["intValue"], "200");
    assert_eq!(text(&spans[1], "error.type"), Some("reset"));
}

#[test]
fn a_request_answered_without_an_upstream_gets_no_client_span() {
    let no_route = Reply { headers: &[(":status", "404")], body: b"", from_upstream: false, latency_nanos: 0 };
    let (_, spans) = one("{}", "/nowhere", "no_route", &no_route);
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0]["kind"], 2);
}

#[test]
fn off_sends_the_server_span_upstream_and_reads_no_upstream_attribute() {
    let (sent, spans) = one(r#"{"tracing": {"client_span": "off"}}"#, "/cart", "app", &OK);
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0]["kind"], 2);
    assert_eq!(spans[0]["spanId"], upstream_parent(&sent).as_str());
}

#[test]
fn only_makes_the_one_span_a_client_span() {
    let (sent, spans) = one(r#"{"tracing": {"client_span": "only"}}"#, "/cart?page=2", "app", &OK);
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span["kind"], 3);
    assert_eq!(span["name"], "GET");
    assert_eq!(span["spanId"], upstream_parent(&sent).as_str());
    assert_eq!(span["spanId"], responded_span(&sent).as_str());
    assert_eq!(text(span, "url.full"), Some("https://shop.example:8443/cart?page=2"));
    assert_eq!(text(span, "server.address"), Some("127.0.0.1"));
    for server_side in ["url.path", "url.query", "url.scheme", "client.address", "client.port"] {
        assert!(attribute(span, server_side).is_none(), "{server_side}");
    }
    assert_eq!(attribute(span, "http.response.status_code").unwrap()["intValue"], "200");
    // Without an upstream the span stays (the trace-ID headers name it), with the reply's status.
    let no_route = Reply { headers: &[(":status", "404")], body: b"", from_upstream: false, latency_nanos: 0 };
    let (_, spans) = one(r#"{"tracing": {"client_span": "only"}}"#, "/x", "no_route", &no_route);
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0]["kind"], 3);
    assert_eq!(text(&spans[0], "error.type"), Some("404"));
}

#[test]
fn unsampled_requests_draw_no_client_id_and_send_the_proxy_span_id() {
    let config = r#"{"tracing": {"sampling": {"ratio": 0.0}}}"#;
    let (sent, spans) = one(config, "/cart", "app", &OK);
    assert!(spans.is_empty());
    assert_eq!(upstream_parent(&sent), responded_span(&sent), "one id, the same up and down");
    assert!(header(sent.upstream.as_ref().unwrap(), "traceparent").unwrap().ends_with("-02"));
}

/// [`one`] with the default configuration, `path` `/cart`, and the upstream attributes `set`.
fn one_with(reply: &Reply<'_>, set: impl FnOnce(&FakeHost)) -> (Sent, Vec<Value>) {
    let host = FakeHost::new(START, [3; 32]);
    let mut pipeline = Pipeline::configure(b"{}", &host).unwrap();
    set(&host);
    let request = [(":method", "GET"), (":path", "/cart"), (":scheme", "http"), (":authority", "shop.example")];
    let sent = host.exchange(&mut pipeline, &request, b"", reply);
    host.tick(&mut pipeline, 5_000_000_000);
    let spans = exported_spans(&host);
    (sent, spans)
}
