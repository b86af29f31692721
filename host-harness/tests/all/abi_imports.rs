//! An SDK-built module on both wasm targets: every import it declares is provided, the host
//! finds the allocator each target exports, and a request runs through it. The module is
//! `tests/guests/sdk-probe`, built by the `meshlens-tests-guests` build script ([`crate::support::sdk_probe`]).

use std::time::Duration;

use host_harness::metrics::MetricValue;
use host_harness::{Action, Host, HttpResponse, Module, Responder};

use crate::support::{SDK_PROBE_TARGETS, sdk_probe};

fn host(module: &Module) -> Host {
    let allowed = HttpResponse { status: 200, body: b"allowed".to_vec(), ..Default::default() };
    Host::builder(module)
        .root_id("probe")
        .plugin_config("cfg-1")
        .respond("probe_upstream", Responder::Respond(allowed))
        .build()
        .unwrap_or_else(|e| panic!("{module:?} does not start: {e}"))
}

#[test]
fn every_import_of_an_sdk_module_is_provided_on_both_targets() {
    for target in SDK_PROBE_TARGETS {
        let module = sdk_probe(target);
        let imports = module.imports();
        assert!(imports.len() > 20, "{target}: the SDK dispatcher imports most of the ABI: {imports:?}");
        for (from, name, _) in &imports {
            match from.as_str() {
                "env" => assert!(name.starts_with("proxy_"), "{target}: {name}"),
                "wasi_snapshot_preview1" => assert_eq!(target, "wasm32-wasip1", "{name}"),
                other => panic!("{target}: import from {other}::{name}"),
            }
        }
        host(&module);
    }
}

#[test]
fn the_allocator_export_depends_on_the_target() {
    assert_eq!(sdk_probe("wasm32-wasip1").allocator(), "proxy_on_memory_allocate");
    assert_eq!(sdk_probe("wasm32-unknown-unknown").allocator(), "malloc");
}

#[test]
fn a_request_runs_through_both_builds() {
    for target in SDK_PROBE_TARGETS {
        let mut host = host(&sdk_probe(target));
        let s = host.new_stream();
        let action = host.request_headers(s, &[(":method", "GET"), (":path", "/hello"), (":authority", "api")], true);
        assert_eq!(action, Ok(Action::Pause), "{target}: waits for its call");
        let stream = host.stream(s).unwrap();
        assert_eq!(stream.upstream_request_header("x-probe-config"), Some("cfg-1"), "{target}: shared data");
        assert_eq!(stream.upstream_request_header("x-probe-callout"), Some("200"), "{target}: call answer");
        assert_eq!(stream.upstream_request_header("x-probe-callout-body"), Some("allowed"), "{target}");

        host.response_headers(s, &[(":status", "200")], true).unwrap();
        let stream = host.stream(s).unwrap();
        assert_eq!(stream.downstream_response_header("x-probe-root-id"), Some("probe"), "{target}: property");
        assert_eq!(stream.downstream_response_header("x-probe-requests"), Some("1"), "{target}: metric");
        host.complete(s).unwrap();

        let denied = host.new_stream();
        host.request_headers(denied, &[(":method", "GET"), (":path", "/deny"), (":authority", "api")], true).unwrap();
        let reply = host.stream(denied).unwrap().local_reply().cloned().unwrap();
        assert_eq!(reply.status, 403, "{target}");
        assert_eq!(reply.body, b"denied", "{target}");
        assert_eq!(reply.headers, [("x-probe".to_owned(), "denied".to_owned())], "{target}");

        host.advance(Duration::from_secs(1)).unwrap();
        let logs: Vec<&str> = host.logs().iter().map(|l| l.message.as_str()).collect();
        for expected in [
            "probe: configured with \"cfg-1\"".to_owned(),
            format!("probe: stream {} logged with status 200", s.0),
            "probe: dequeued /hello".to_owned(),
            "probe: tick 1".to_owned(),
        ] {
            assert!(logs.contains(&expected.as_str()), "{target}: no `{expected}` in {logs:#?}");
        }
        assert_eq!(host.metrics().value("probe_requests_total"), Some(MetricValue::Counter(2)), "{target}");
        assert!(!host.has_failed(), "{target}");
    }
}
