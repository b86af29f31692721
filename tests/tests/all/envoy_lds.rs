//! Configuration changes in a running Envoy 1.40 (issue #16): the listener comes from a file
//! (`dynamic_resources.lds_config.path_config_source`) that the test replaces by an atomic move,
//! as a control plane or an operator would. A valid change of the plugin configuration applies to
//! the next requests; an invalid plugin configuration, or a module file that is not Wasm, is
//! rejected by Envoy (`listener_manager.lds.update_rejected`), and the previous listener keeps
//! serving with its telemetry (trace-ID header, spans).

use std::path::Path;
use std::time::Duration;

use meshlens_tests::envoy::bootstrap::{Bootstrap, Cluster, FailurePolicy, HttpFilter, Listener, Wasm};
use meshlens_tests::envoy::{Envoy, TempDir, free_port, write_atomically};
use meshlens_tests::http::{self, Reply, Server};
use meshlens_tests::otlp::Receiver;
use meshlens_tests::paths;

const REJECTED: &str = "envoy_listener_manager_lds_update_rejected";
const SUCCESS: &str = "envoy_listener_manager_lds_update_success";
const WAIT: Duration = Duration::from_secs(20);

/// The bootstrap: admin, the app and collector clusters, listeners from `lds`.
fn bootstrap(admin: u16, app: u16, collector: u16, lds: &Path) -> String {
    Bootstrap {
        admin,
        lds: Some(lds.to_path_buf()),
        clusters: vec![Cluster::http1("app", app), Cluster::http1("otel_collector", collector)],
        ..Bootstrap::default()
    }
    .yaml()
}

/// The LDS file: one listener on `port` running `module` (FAIL_OPEN) with plugin configuration
/// `plugin`.
fn listeners(port: u16, module: &Path, plugin: &str) -> String {
    let wasm = Wasm {
        configuration: Some(plugin.to_owned()),
        failure_policy: Some(FailurePolicy::FailOpen),
        ..Wasm::named(module, "meshlens")
    };
    Listener::to_app(port, vec![HttpFilter::Wasm(wasm)]).lds()
}

fn plugin(trace_id_header: &str) -> String {
    format!(
        r#"{{"service": {{"name": "lds"}},
 "tracing": {{"sampling": {{"ratio": 1.0}}, "trace_id_header": "{trace_id_header}",
             "exporter": {{"cluster": "otel_collector", "authority": "otel-collector:4318"}}}}}}"#
    )
}

/// GET / through the listener: (status, value of `header`).
fn get(envoy: &Envoy, header: &str) -> (u16, Option<String>) {
    let resp = http::get(envoy.listener, "/", &[]).expect("GET / through Envoy");
    (resp.status(), resp.header(header).map(str::to_owned))
}

/// Waits until the next response carries `header` (the new listener serves), at most [`WAIT`].
fn wait_header(envoy: &Envoy, header: &str) -> (u16, Option<String>) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let seen = get(envoy, header);
        if seen.1.is_some() || std::time::Instant::now() > deadline {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Envoy's log once it contains `line` (at most [`WAIT`]); fails when it never does.
fn wait_log(envoy: &Envoy, line: &str) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let log = envoy.log();
        if log.contains(line) {
            return log;
        }
        assert!(std::time::Instant::now() < deadline, "Envoy never logged `{line}`:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// After a rejected update: the old listener answers with the old header and exports its span.
fn still_serving(envoy: &Envoy, collector: &Receiver, header: &str, spans_before: usize) {
    let (status, id) = get(envoy, header);
    assert_eq!(status, 200);
    let id = id.unwrap_or_else(|| panic!("`{header}` missing after a rejected update:\n{}", envoy.log()));
    // Waits for that trace's span itself: a count could be reached by a span still on its way
    // from an earlier request (the CLIENT span of the hop to the app, say).
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let spans = collector.spans();
        if spans.iter().any(|s| s.trace_id == id) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no span exported for trace {id} after a rejected update ({} spans, {spans_before} before)",
            spans.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn lds_applies_a_valid_plugin_change_and_rejects_a_bad_config_or_module_keeping_the_old_listener() {
    let app = Server::start(|_| Reply::text(200, "ok"));
    let collector = Receiver::start();
    let dir = TempDir::new("lds");
    let lds = dir.0.join("lds.yaml");
    let (port, admin) = (free_port(), free_port());
    let module = paths::edge_telemetry_wasm();
    write_atomically(&lds, &listeners(port, &module, &plugin("x-first-id")));
    let envoy = Envoy::start_text(&bootstrap(admin, app.port(), collector.server.port(), &lds), port, admin, 1);

    let (status, first) = get(&envoy, "x-first-id");
    assert_eq!(status, 200);
    assert!(first.is_some(), "the first configuration's trace-ID header is missing:\n{}", envoy.log());
    let success = envoy.metric(SUCCESS);

    // (a) A valid change applies: the next responses carry the new header name, not the old.
    write_atomically(&lds, &listeners(port, &module, &plugin("x-second-id")));
    assert!(
        envoy.wait_metric(SUCCESS, success + 1, WAIT) > success,
        "the valid update was not applied:\n{}",
        envoy.log()
    );
    let (status, second) = wait_header(&envoy, "x-second-id");
    assert_eq!(status, 200);
    assert!(second.is_some(), "the new trace-ID header never appeared:\n{}", envoy.log());
    assert_eq!(get(&envoy, "x-first-id").1, None, "the old header name is still served");
    let spans = collector.wait_spans(2).len();

    // (b) An invalid plugin configuration: rejected, the listener of (a) keeps serving.
    write_atomically(&lds, &listeners(port, &module, &plugin("not a header")));
    assert_eq!(envoy.wait_metric(REJECTED, 1, WAIT), 1, "the invalid plugin config was not rejected:\n{}", envoy.log());
    still_serving(&envoy, &collector, "x-second-id", spans);

    // (c) A module file that is not Wasm: rejected the same way.
    let not_wasm = dir.0.join("not-wasm.wasm");
    std::fs::write(&not_wasm, "this is not a wasm module\n").unwrap();
    let spans = collector.spans().len();
    write_atomically(&lds, &listeners(port, &not_wasm, &plugin("x-third-id")));
    assert_eq!(envoy.wait_metric(REJECTED, 2, WAIT), 2, "the non-Wasm module was not rejected:\n{}", envoy.log());
    still_serving(&envoy, &collector, "x-second-id", spans);
    assert_eq!(get(&envoy, "x-third-id").1, None);
    // What an operator reads (Envoy writes its log file every 10 s: the last line is waited for).
    let log = wait_log(&envoy, "Failed to parse corrupted Wasm module");
    assert!(log.contains("lds: listener 'edge' config rejected: Unable to create Wasm plugin meshlens"), "{log}");
    assert!(
        log.contains("invalid plugin configuration: tracing.trace_id_header"),
        "the bad field is not named:\n{log}"
    );
    // The listeners say FAIL_OPEN, yet Envoy 1.40 logs a plugin that fails to load as "configured
    // to fail closed" (critical): the README says so, so that nobody reads it as the policy.
    assert!(
        log.contains("[critical][wasm]") && log.contains("Plugin configured to fail closed failed to load"),
        "{log}"
    );
}
