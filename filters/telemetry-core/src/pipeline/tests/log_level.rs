//! The proxy's log level, read at configure time: one warning when the access lines it is handed
//! would be dropped, none otherwise, none per request, and one per proxy however many VMs it
//! configures.

use super::super::Pipeline;
use super::super::fake::{FakeHost, Reply};
use super::super::host::{LogLevel, ProxyLogLevel};
use super::START;

const REPLY: Reply<'static> =
    Reply { headers: &[(":status", "200")], body: b"", from_upstream: true, latency_nanos: 1_000_000 };

/// The warnings logged while configuring `json` and serving three requests under `level`, and
/// the number of JSON lines.
fn run(json: &str, level: Option<ProxyLogLevel>) -> (Vec<String>, usize) {
    let host = FakeHost::new(START, [3; 32]);
    host.log_level.set(level);
    let mut pipeline = Pipeline::configure(json.as_bytes(), &host).unwrap();
    let request = [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "meshlens.test")];
    for _ in 0..3 {
        host.exchange(&mut pipeline, &request, b"", &REPLY);
    }
    let logs = host.logs.borrow();
    let warnings = logs.iter().filter(|(l, m)| *l == LogLevel::Warn && !m.starts_with('{')).map(|(_, m)| m.clone());
    (warnings.collect(), logs.iter().filter(|(_, m)| m.starts_with('{')).count())
}

#[test]
fn access_lines_below_the_proxy_level_are_warned_about_once() {
    let (warnings, lines) = run("{}", Some(ProxyLogLevel::Warn));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("wasm log level is warning"), "{warnings:?}");
    assert!(warnings[0].contains("--component-log-level wasm:info"), "{warnings:?}");
    assert_eq!(lines, 3, "the lines are still handed to the proxy, which drops them");
    let (warnings, _) = run(r#"{"access_log": {"level": "warn"}}"#, Some(ProxyLogLevel::Error));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("wasm:warning"), "{warnings:?}");
}

#[test]
fn no_warning_when_the_lines_are_written_or_not_handed_to_the_proxy() {
    for (json, level) in [
        ("{}", Some(ProxyLogLevel::Info)),
        ("{}", Some(ProxyLogLevel::Debug)),
        (r#"{"access_log": {"level": "warn"}}"#, Some(ProxyLogLevel::Warn)),
        (r#"{"access_log": {"sinks": ["otlp"]}}"#, Some(ProxyLogLevel::Warn)),
        (r#"{"access_log": {"enabled": false}}"#, Some(ProxyLogLevel::Critical)),
        ("{}", None),
    ] {
        let (warnings, _) = run(json, level);
        assert!(warnings.is_empty(), "{json} at {level:?}: {warnings:?}");
    }
}

#[test]
fn the_vms_of_one_proxy_warn_once_and_a_different_warning_is_written_again() {
    // One host for several VMs: they share its shared data, as Envoy's VMs of one plugin do.
    let host = FakeHost::new(START, [3; 32]);
    host.log_level.set(Some(ProxyLogLevel::Warn));
    for _ in 0..3 {
        Pipeline::configure(b"{}", &host).unwrap();
    }
    let warnings = |host: &FakeHost| host.logs.borrow().iter().filter(|(l, _)| *l == LogLevel::Warn).count();
    assert_eq!(warnings(&host), 1, "{:?}", host.logs.borrow());
    host.log_level.set(Some(ProxyLogLevel::Error));
    Pipeline::configure(b"{}", &host).unwrap();
    Pipeline::configure(b"{}", &host).unwrap();
    assert_eq!(warnings(&host), 2, "the error level is another warning: {:?}", host.logs.borrow());
    let last = host.logs.borrow().last().unwrap().1.clone();
    assert!(last.contains("wasm log level is error"), "{last}");
}
