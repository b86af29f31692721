//! Access lines in a real Envoy at Istio's default log level, `warning`: meshlens writes them at
//! info, so without `--component-log-level wasm:info` Envoy writes none, and the module says so
//! once, at warning, naming the fix; with it, every line is written.

use std::time::{Duration, Instant};

use meshlens_tests::envoy::{self, Envoy, Render};
use meshlens_tests::http::{self, Reply, Server};
use serde_json::Value;

/// What one Envoy run left in its log: the whole log, and the JSON access lines meshlens wrote.
struct Run {
    log: String,
    lines: Vec<Value>,
}

/// Envoy's count of completed downstream requests on the edge listener.
fn completed(envoy: &Envoy) -> u64 {
    let r = http::get(envoy.admin, "/stats?filter=^http\\.edge\\.downstream_rq_completed$", &[]).unwrap();
    let text = String::from_utf8_lossy(&r.body).into_owned();
    text.split_once(": ").and_then(|(_, v)| v.trim().parse().ok()).unwrap_or(0)
}

/// The JSON objects meshlens wrote into Envoy's log (`... wasm log meshlens meshlens: {...}`).
fn access_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|l| l.split_once("wasm log ").and_then(|(_, rest)| rest.split_once(": {")).map(|(_, json)| json))
        .map(|json| serde_json::from_str(&format!("{{{json}")).unwrap_or_else(|e| panic!("not JSON ({e}): {json}")))
        .collect()
}

/// The shipped gateway with `log_flags`: a 200 from the app, Envoy's own 404 (no route) and a
/// 500 from the app, each answered before the log is read.
fn run(log_flags: &[&str]) -> Run {
    let app =
        Server::start(|m| if m.start.contains("/fail") { Reply::text(500, "boom") } else { Reply::text(200, "ok") });
    let collector = Server::start(|_| Reply::text(200, ""));
    let render = Render { app_port: app.port(), collector_port: collector.port(), plugin_config: None };
    let (listener, admin) = (envoy::free_port(), envoy::free_port());
    let text = envoy::render("edge-gateway.yaml", &render, listener, admin);
    // Two workers: with the main thread's two, four VMs configure the plugin.
    let envoy = Envoy::start_logging(&text, listener, admin, 2, log_flags);
    for (path, status) in [("/api/v1/query", 200), ("/nowhere", 404), ("/api/v1/fail", 500)] {
        assert_eq!(http::get(envoy.listener, path, &[]).unwrap().status(), status, "{path}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while (completed(&envoy) < 3 || access_lines(&envoy.log()).len() < 3) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(completed(&envoy), 3, "Envoy completed the three requests");
    // The stream's log callback ran with its completion; leave Envoy time to write what it would.
    std::thread::sleep(Duration::from_millis(500));
    let log = envoy.log();
    Run { lines: access_lines(&log), log }
}

/// The module's warning lines.
fn warnings(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains("--component-log-level wasm:info")).collect()
}

#[test]
fn at_warning_envoy_writes_no_access_line_and_the_module_says_how_to_fix_it() {
    let r = run(&["--log-level", "warning"]);
    assert!(r.lines.is_empty(), "no access line at -l warning: {:?}", r.lines);
    let warnings = warnings(&r.log);
    // Once, although four VMs ran on_configure (Envoy 1.40 configures the plugin twice on its
    // main thread, then once per worker): the first keeps the line in shared data.
    assert_eq!(warnings.len(), 1, "the module warned once:\n{}", r.log);
    for line in &warnings {
        assert!(line.contains("[warning][wasm]"), "written at warning by the wasm logger: {line}");
        assert!(line.contains("its wasm log level is warning"), "{line}");
        assert!(line.contains(r#"sidecar.istio.io/componentLogLevel: "wasm:info""#), "{line}");
        assert!(line.contains("`otlp` sink"), "{line}");
    }
}

/// The flags the tests and the demo use, and the value the shipped Istio pod annotation gives
/// Envoy (`sidecar.istio.io/componentLogLevel` becomes `--component-log-level`).
#[test]
fn at_warning_with_the_wasm_component_at_info_every_access_line_is_written() {
    let istio = crate::istio_resources::shipped_component_log_level();
    assert_eq!(["--log-level", "warning", "--component-log-level", istio.as_str()], envoy::LOG_WARNING_WASM_INFO);
    let r = run(&envoy::LOG_WARNING_WASM_INFO);
    let mut statuses: Vec<u64> = r.lines.iter().map(|l| l["status"].as_u64().unwrap()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 404, 500], "every access line:\n{}", r.log);
    for line in &r.lines {
        assert_eq!(line["trace_id"].as_str().map(str::len), Some(32), "{line}");
    }
    for line in r.log.lines().filter(|l| l.contains(r#""status":"#)) {
        assert!(line.contains("[info][wasm]"), "written at info (`access_log.level`): {line}");
    }
    assert!(warnings(&r.log).is_empty(), "nothing to warn about:\n{}", r.log);
    assert!(!r.log.contains("[info][main]"), "Envoy's own loggers stay at warning:\n{}", r.log);
}
