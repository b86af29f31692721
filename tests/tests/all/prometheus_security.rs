//! The security alerts through real components: Envoy 1.40 runs the module with the shipped
//! gateway configuration (security defaults: a burst is 10 failures from one client in 60 s),
//! Prometheus scrapes it (Envoy's `/stats/prometheus` and the module's `/meshlens/metrics`, one
//! job) and evaluates the shipped rules. The security series exist at 0 before
//! any failure, so the first burst is an increase and `MeshlensSecurityEvent` fires; a flood of
//! 401s makes `MeshlensAccessFailureRatio` pending. Both carry `component: security`.

use std::time::Duration;

use meshlens_tests::envoy::{Envoy, Render};
use meshlens_tests::http::{Client, Reply, Server};
use meshlens_tests::paths;
use meshlens_tests::prometheus::Prometheus;

#[test]
fn the_first_burst_fires_the_security_alert_and_a_flood_of_401s_the_ratio_alert() {
    let app =
        Server::start(|m| if m.start.contains("/login") { Reply::text(401, "no") } else { Reply::text(200, "ok") });
    let collector = Server::start(|_| Reply::text(200, ""));
    let render = Render { app_port: app.port(), collector_port: collector.port(), plugin_config: None };
    let envoy = Envoy::start("edge-gateway.yaml", &render, 1);
    let rules = paths::repo_root().join("envoy-config/prometheus/meshlens.rules.yml");
    let prometheus = Prometheus::start(&envoy, &[&rules]);
    prometheus.wait_scraped();
    let events = "meshlens_security_events_total{event_type=\"access_failure_burst\"}";
    let zero = prometheus.wait_for(
        "the security events series at 0 before any failure",
        Duration::from_secs(30),
        |p| p.query(events).first().map(|(_, v)| *v),
        |p| format!("{:?}", p.query("{__name__=~\"meshlens_security.*\"}")),
    );
    assert_eq!(zero, 0.0);

    let mut client = Client::connect(envoy.listener).unwrap();
    for _ in 0..3 {
        assert_eq!(client.get("/api/v1/query", &[]).unwrap().status(), 200);
    }
    for _ in 0..12 {
        assert_eq!(client.get("/api/v1/login", &[]).unwrap().status(), 401);
    }
    let alert = |name: &'static str| {
        move |p: &Prometheus| p.alerts().into_iter().find(|a| a.labels.get("alertname").is_some_and(|n| n == name))
    };
    let event = prometheus.wait_for(
        "MeshlensSecurityEvent firing",
        Duration::from_secs(30),
        |p| alert("MeshlensSecurityEvent")(p).filter(|a| a.state == "firing"),
        |p| format!("{:?}; {:?}", p.query(events), p.alerts()),
    );
    assert_eq!(event.labels["component"], "security");
    assert_eq!(event.labels["event_type"], "access_failure_burst");
    // `increase()` extrapolates over the window, so the count it shows is approximate.
    assert!(
        event.annotations["description"].contains(" access_failure_burst event(s) in the last 5 minutes"),
        "{event:?}"
    );
    assert!(event.value >= 1.0, "{event:?}");
    assert!(alert("MeshlensAccessFailureRatio")(&prometheus).is_none(), "12 failures are a burst, not a ratio alert");

    // A flood: 400 401s in a few seconds, over 1/s averaged on 5m and nearly every request.
    for _ in 0..400 {
        client.get("/api/v1/login", &[]).unwrap();
    }
    let ratio = prometheus.wait_for(
        "MeshlensAccessFailureRatio pending",
        Duration::from_secs(30),
        alert("MeshlensAccessFailureRatio"),
        |p| format!("{:?}; {:?}", p.query("job:meshlens_security_responses:ratio_rate5m"), p.alerts()),
    );
    assert_eq!(ratio.state, "pending", "for 5m before it fires");
    assert_eq!(ratio.labels["component"], "security");
    assert_eq!(ratio.labels["kind"], "unauthorized");
    // Above the threshold; not exact: the failures and the requests are different counters, each
    // rate extrapolated over its own samples.
    assert!(ratio.value > 0.2, "the share of 401s: {ratio:?}");
}
