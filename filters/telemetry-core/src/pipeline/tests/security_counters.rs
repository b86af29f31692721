//! The security counters exist at 0 from configure time, one per kind of the configured statuses
//! and one per event type, so Prometheus sees a proxy's first failure and first burst as an
//! increase; a configuration without the section defines none.

use super::super::Pipeline;
use super::super::fake::{FakeHost, Reply};
use super::START;
use crate::names;

const DENIED: Reply<'static> =
    Reply { headers: &[(":status", "401")], body: b"", from_upstream: true, latency_nanos: 1_000_000 };

fn responses(kind: &str) -> String {
    format!("{};kind={kind}", names::SECURITY_RESPONSES)
}

fn bursts() -> String {
    format!("{};event_type=access_failure_burst", names::SECURITY_EVENTS)
}

#[test]
fn every_security_series_starts_at_zero() {
    let host = FakeHost::new(START, [5; 32]);
    host.set_property("source.address", "192.0.2.7:4000");
    let json = r#"{"security": {"statuses": [401, 403, 429, 418], "threshold": 3, "window_s": 60}}"#;
    let mut pipeline = Pipeline::configure(json.as_bytes(), &host).unwrap();
    for kind in ["unauthorized", "forbidden", "rate_limited", "other"] {
        assert_eq!(host.metric(&responses(kind)), Some(0), "{kind}");
    }
    assert_eq!(host.metric(&bursts()), Some(0));
    let request = [(":method", "GET"), (":path", "/login"), (":scheme", "http"), (":authority", "meshlens.test")];
    for _ in 0..3 {
        host.exchange(&mut pipeline, &request, b"", &DENIED);
    }
    assert_eq!(host.metric(&responses("unauthorized")), Some(3));
    assert_eq!(host.metric(&responses("forbidden")), Some(0));
    assert_eq!(host.metric(&bursts()), Some(1));
}

#[test]
fn without_security_no_security_series_is_defined() {
    let host = FakeHost::new(START, [5; 32]);
    Pipeline::configure(br#"{"security": {"enabled": false}}"#, &host).unwrap();
    let defined = host.metrics.borrow().iter().filter(|(n, _, _)| n.starts_with("meshlens_security")).count();
    assert_eq!(defined, 0);
    let host = FakeHost::new(START, [5; 32]);
    Pipeline::configure(br#"{"security": {"statuses": [403]}}"#, &host).unwrap();
    let defined: Vec<String> = host
        .metrics
        .borrow()
        .iter()
        .filter(|(n, _, _)| n.starts_with("meshlens_security"))
        .map(|(n, _, _)| n.clone())
        .collect();
    assert_eq!(defined, [responses("forbidden"), bursts()], "only the configured statuses' kinds");
}
