//! `envoy-config/sidecar.yaml` carries real traffic end to end on 127.0.0.1:
//! client -> inbound listener [meshlens] -> app -> outbound listener [meshlens] -> upstream,
//! with one trace across both hops and a CLIENT/SERVER pair on each: the caller's CLIENT span
//! (here only its id, in the `traceparent` the test sends) with the inbound SERVER span, the
//! outbound CLIENT span with the remote service's SERVER span (its parent is the CLIENT span). The
//! app is a loopback server that, like an instrumented application, forwards the `traceparent` it
//! received on its own outgoing call.

use std::net::SocketAddr;

use meshlens_tests::envoy::{Envoy, Render, free_port, render, render_ports, stats_tags};
use meshlens_tests::http::{self, Reply, Server};
use meshlens_tests::otlp::{self, Receiver};
use meshlens_tests::paths;

/// The sidecar's fixed ports besides the ones [`Render`] substitutes.
const INBOUND_PORT: u16 = 15006;
const OUTBOUND_PORT: u16 = 15001;
const REMOTE_SERVICE_PORT: u16 = 9080;

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn parent_id(traceparent: &str) -> (String, String) {
    let p: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(p.len(), 4, "traceparent {traceparent}");
    (p[1].to_owned(), p[2].to_owned())
}

/// The value of the `meshlens_http_requests_total` series whose labels include `reporter`.
fn requests_of(prometheus: &str, reporter: &str) -> u64 {
    let label = format!("reporter=\"{reporter}\"");
    prometheus
        .lines()
        .filter(|l| l.starts_with("meshlens_http_requests_total{") && l.contains(&label))
        .filter_map(|l| l.rsplit_once(' ')?.1.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

#[test]
fn one_trace_spans_the_inbound_server_and_the_outbound_client_span() {
    let upstream = Server::start(|_| Reply::text(200, "from upstream"));
    let collector = Receiver::start();
    let (inbound, outbound, admin) = (free_port(), free_port(), free_port());
    let outbound_addr = SocketAddr::from(([127, 0, 0, 1], outbound));
    let app = Server::start(move |req| {
        let traceparent = req.header("traceparent").unwrap_or_default().to_owned();
        match http::get(outbound_addr, "/remote/orders", &[("traceparent", &traceparent)]) {
            Ok(resp) => Reply::text(200, &format!("app got {}", resp.status())),
            Err(e) => Reply::text(502, &format!("outbound call failed: {e}")),
        }
    });
    let r = Render { app_port: app.port(), collector_port: collector.server.port(), plugin_config: None };
    let text = render_ports(
        &render("sidecar.yaml", &r, inbound, admin),
        &[(INBOUND_PORT, inbound), (OUTBOUND_PORT, outbound), (REMOTE_SERVICE_PORT, upstream.port())],
    );
    let envoy = Envoy::start_text(&text, inbound, admin, 1);

    let caller = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let resp = http::get(envoy.listener, "/orders/7", &[("traceparent", &caller)]).unwrap();
    assert_eq!(resp.status(), 200, "{}", String::from_utf8_lossy(&resp.body));
    assert_eq!(resp.body, b"app got 200");
    assert_eq!(resp.header("x-trace-id"), Some(CALLER_TRACE));

    let spans = collector.wait_spans(2);
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let inbound_span = spans.iter().find(|s| s.parent_span_id == CALLER_SPAN).expect("the inbound span");
    let outbound_span = spans.iter().find(|s| s.parent_span_id != CALLER_SPAN).expect("the outbound span");
    assert_eq!(inbound_span.trace_id, CALLER_TRACE);
    assert_eq!(outbound_span.trace_id, CALLER_TRACE, "one trace across both hops");
    assert_eq!(outbound_span.parent_span_id, inbound_span.span_id, "the outbound span is a child of the inbound one");
    // Inbound: `client_span: off`, a SERVER span only. Outbound: `only`, one CLIENT span.
    assert_eq!(inbound_span.raw["kind"], 2, "the inbound hop's SERVER span");
    assert_eq!(outbound_span.raw["kind"], 3, "the outbound hop's CLIENT span");
    assert_eq!(inbound_span.name, "GET /orders/{id}");
    assert_eq!(outbound_span.name, "GET", "an HTTP client span's name is its method");
    let remote_port = upstream.port().to_string();
    assert_eq!(outbound_span.attribute("server.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(outbound_span.attribute("server.port").as_deref(), Some(remote_port.as_str()));
    assert_eq!(outbound_span.attribute("network.peer.port").as_deref(), Some(remote_port.as_str()));
    assert_eq!(outbound_span.attribute("upstream_cluster.name").as_deref(), Some("remote_service"));
    assert_eq!(outbound_span.attribute("url.full").as_deref(), Some("http://meshlens.test/remote/orders"));
    assert_eq!(outbound_span.attribute("http.response.status_code").as_deref(), Some("200"));
    assert_eq!(outbound_span.attribute("url.path"), None, "no server-side attributes on the CLIENT span");
    assert_eq!(inbound_span.attribute("upstream_cluster.name"), None, "no client-side ones on the SERVER span");

    let app_seen = app.requests();
    assert_eq!(
        parent_id(app_seen[0].header("traceparent").unwrap()),
        (CALLER_TRACE.into(), inbound_span.span_id.clone())
    );
    let upstream_seen = upstream.requests();
    assert_eq!(upstream_seen.len(), 1);
    let (trace, parent) = parent_id(upstream_seen[0].header("traceparent").expect("traceparent at the upstream"));
    assert_eq!(trace, CALLER_TRACE);
    assert_eq!(parent, outbound_span.span_id, "the remote service's parent is the outbound CLIENT span");

    let (ok, out) = otlp::validate_exports("traces", &collector.exports());
    assert!(ok, "OTLP validator rejected a payload:\n{out}");

    let prometheus = envoy.prometheus();
    assert_eq!(requests_of(&prometheus, "sidecar_inbound"), 1, "{prometheus}");
    assert_eq!(requests_of(&prometheus, "sidecar_outbound"), 1, "{prometheus}");
}

#[test]
fn the_sidecar_has_the_gateways_stats_tags_and_fixed_loopback_ports() {
    let read = |name: &str| std::fs::read_to_string(paths::repo_root().join("envoy-config").join(name)).unwrap();
    let (sidecar, gateway) = (read("sidecar.yaml"), read("edge-gateway.yaml"));
    assert_eq!(stats_tags(&sidecar), stats_tags(&gateway));
    for port in [INBOUND_PORT, OUTBOUND_PORT, REMOTE_SERVICE_PORT, 9901, 8080, 4318] {
        let socket = format!("socket_address: {{ address: 127.0.0.1, port_value: {port} }}");
        assert_eq!(sidecar.matches(&socket).count(), 1, "port {port}");
    }
    for reporter in ["sidecar_inbound", "sidecar_outbound"] {
        assert!(sidecar.contains(&format!(r#""metrics": {{"reporter": "{reporter}"}}"#)), "{reporter}");
    }
    assert_eq!(sidecar.matches("vm_id: meshlens").count(), 2, "both listeners share one VM");
    assert_eq!(sidecar.matches("\"client_span\": \"off\"\n").count(), 1, "inbound: a SERVER span");
    assert_eq!(sidecar.matches("\"client_span\": \"only\"\n").count(), 1, "outbound: a CLIENT span");
    assert_eq!(sidecar.matches("failure_policy: FAIL_OPEN").count(), 2);
}
