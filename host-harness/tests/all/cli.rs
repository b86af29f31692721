//! The `meshlens` binary, run as a user runs it: the sample Chat2SQL replay, determinism, the
//! JSON report, and the errors and exit statuses for bad inputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::guest;
use crate::support::{edge_telemetry_path, repo_root};

/// Runs `meshlens` with `args`, standard input closed.
pub(crate) fn meshlens<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshlens")).args(args).stdin(Stdio::null()).output().unwrap()
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

pub(crate) fn testdata(name: &str) -> PathBuf {
    repo_root().join("host-harness/testdata").join(name)
}

/// `meshlens run --wasm <wasm> --traffic <traffic> --format json` plus `extra`, which must
/// succeed; returns the JSON report.
pub(crate) fn json_report(wasm: &Path, traffic: &Path, extra: &[&str]) -> Value {
    let mut args: Vec<&std::ffi::OsStr> =
        vec!["run".as_ref(), "--wasm".as_ref(), wasm.as_os_str(), "--traffic".as_ref(), traffic.as_os_str()];
    args.extend(["--format", "json"].iter().chain(extra).map(|a: &&str| -> &std::ffi::OsStr { a.as_ref() }));
    let out = meshlens(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A fresh directory for one test's files.
pub(crate) fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `meshlens run` on the sample traffic with the sample configuration, plus `extra` flags.
pub(crate) fn run_sample(extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec![
        "run".into(),
        "--wasm".into(),
        edge_telemetry_path().display().to_string(),
        "--config".into(),
        testdata("chat2sql.config.json").display().to_string(),
        "--traffic".into(),
        testdata("chat2sql.jsonl").display().to_string(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    meshlens(&args)
}

fn sample_json() -> Value {
    let out = run_sample(&["--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A header's value among `[name, value]` pairs.
fn header<'a>(pairs: &'a Value, name: &str) -> Option<&'a str> {
    pairs.as_array().unwrap().iter().find(|p| p[0] == name).map(|p| p[1].as_str().unwrap())
}

#[test]
fn the_sample_replay_reports_every_exchange_and_every_sampled_span() {
    let report = sample_json();
    let text = std::fs::read_to_string(testdata("chat2sql.jsonl")).unwrap();
    let exchange_lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(i, _)| i + 1)
        .collect();
    let exchanges = report["exchanges"].as_array().unwrap();
    let lines: Vec<usize> = exchanges.iter().map(|e| e["line"].as_u64().unwrap() as usize).collect();
    assert_eq!(lines, exchange_lines, "one exchange per line, in file order");
    assert!((60..=200).contains(&exchanges.len()));
    assert!(exchanges.iter().all(|e| e["outcome"] == "completed"));
    assert_eq!(report["summary"]["exchanges"], exchanges.len());

    // Sampled requests are those the module sent upstream with the sampled flag (bit 0; bit 1 is
    // Trace Context Level 2's random-trace-id flag, set on the module's own trace ids).
    let sampled_flag = |e: &&Value| {
        let flags = header(&e["upstream"]["added"], "traceparent").unwrap().rsplit('-').next().unwrap();
        u8::from_str_radix(flags, 16).unwrap() & 1 == 1
    };
    let sampled: Vec<&Value> = exchanges.iter().filter(sampled_flag).collect();
    let all_spans = report["spans"].as_array().unwrap();
    // Every replayed exchange goes upstream: a SERVER span and its CLIENT span (`client_span:
    // child`, the default) per sampled request.
    let spans: Vec<&Value> = all_spans.iter().filter(|s| s["kind"] == "server").collect();
    assert_eq!(spans.len(), sampled.len(), "one SERVER span per sampled request");
    assert_eq!(all_spans.len(), 2 * sampled.len(), "and one CLIENT span");
    assert!(sampled.len() < exchanges.len(), "/health is never sampled");
    for e in &sampled {
        let traceparent = header(&e["upstream"]["added"], "traceparent").unwrap();
        let trace_id = header(&e["downstream"]["added"], "x-trace-id").unwrap();
        let client = all_spans.iter().find(|s| s["span_id"] == traceparent[36..52]).unwrap();
        assert_eq!(client["kind"], "client", "line {}: the upstream's parent is the CLIENT span", e["line"]);
        let span = spans.iter().find(|s| s["span_id"] == client["parent_span_id"]).unwrap();
        assert_eq!(span["trace_id"], trace_id, "line {}: x-trace-id is the span's trace id", e["line"]);
        assert_eq!(span["attributes"]["http.response.status_code"], e["status"].to_string());
        assert_eq!(client["attributes"]["http.response.status_code"], e["status"].to_string());
    }
    let unsampled_trace_ids: Vec<&str> = exchanges
        .iter()
        .filter(|e| !sampled.contains(e))
        .map(|e| header(&e["downstream"]["added"], "x-trace-id").unwrap())
        .collect();
    assert!(spans.iter().all(|s| !unsampled_trace_ids.contains(&s["trace_id"].as_str().unwrap())));

    let status = |s: &Value| s["attributes"]["http.response.status_code"].as_str().unwrap().parse::<u16>().unwrap();
    let server_errors: Vec<&Value> = spans.iter().copied().filter(|s| status(s) >= 500).collect();
    assert!(server_errors.len() >= 4, "the sample has 500s and 503s");
    assert!(server_errors.iter().all(|s| s["status"] == "error"));
    assert!(spans.iter().filter(|s| (400..500).contains(&status(s))).all(|s| s["status"] == "unset"));
    assert!(spans.iter().any(|s| status(s) == 429));
    assert!(spans.iter().any(|s| s["duration_ms"].as_f64().unwrap() > 5000.0), "slow queries");
    assert!(spans.iter().all(|s| s["resource"]["service.name"] == "chat2sql"));

    let metric = |name: &str| {
        report["metrics"]["samples"].as_array().unwrap().iter().find(|m| m["name"] == name).unwrap()["value"].clone()
    };
    assert_eq!(metric("meshlens_spans_exported_total"), all_spans.len());
    assert_eq!(metric("meshlens_trace_context_invalid_total"), 2, "uppercase and all-zero traceparents");
    assert!(report["metrics"]["prometheus"].as_str().unwrap().contains("meshlens_spans_exported_total"));

    let calls = report["callouts"]["http"].as_array().unwrap();
    assert!(calls.iter().all(|c| c["cluster"] == "otel_collector" && c["status"] == 200));
    assert_eq!(calls.iter().map(|c| c["spans"].as_u64().unwrap()).sum::<u64>(), all_spans.len() as u64);
    let logs = report["logs"].as_array().unwrap();
    assert!(logs.iter().any(|l| l["source"] == "root" && l["message"].as_str().unwrap().contains("configured")));
}

#[test]
fn the_text_report_has_every_section() {
    let out = run_sample(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "no progress bar outside a terminal: {}", stderr(&out));
    let text = stdout(&out);
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("meshlens replay: 70 exchanges (70 completed), "), "{first}");
    for section in ["\nExchanges (70)\n", "\nSpans (", "\nMetrics (Prometheus text)\n", "\nLogs (", "\nCallouts ("] {
        assert!(text.contains(section), "missing {section:?}");
    }
    assert!(text.contains("  line 7    t=300ms  POST /api/v1/query -> 200  [1240 ms]\n"), "{text}");
    assert!(text.contains("      downstream + x-trace-id: 4bf92f3577b34da6a3ce929d0e0e4736\n"));
    assert!(text.contains("resource: service.name=chat2sql "));
}

#[test]
fn the_summary_counts_spans_per_route_and_lists_trace_ids() {
    let json = sample_json();
    let out = run_sample(&["--format", "summary"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let spans = json["spans"].as_array().unwrap();
    for route in ["/api/v1/query", "/api/v1/sql/execute", "/api/v1/schema"] {
        let count = spans.iter().filter(|s| s["attributes"]["http.route"] == route).count();
        assert!(count > 0, "the sample has spans for {route}");
        let row =
            text.lines().find(|l| l.trim_start().starts_with(&format!("{route} "))).unwrap_or_else(|| panic!("{text}"));
        let columns: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(columns[1], count.to_string(), "span count of {route}: {row}");
        // The CLIENT spans of those requests' upstream hops, under their parent's route.
        let servers: Vec<&Value> = spans.iter().filter(|s| s["attributes"]["http.route"] == route).collect();
        let clients = spans
            .iter()
            .filter(|c| c["kind"] == "client" && servers.iter().any(|s| s["span_id"] == c["parent_span_id"]))
            .count();
        let upstream = format!("{route} (upstream) ");
        let row = text.lines().find(|l| l.trim_start().starts_with(&upstream)).unwrap_or_else(|| panic!("{text}"));
        assert_eq!(row.split_whitespace().nth(2), Some(clients.to_string().as_str()), "{row}");
    }
    assert!(
        !text.lines().any(|l| l.trim_start().starts_with("/health ")),
        "/health is never sampled, so it has no row:\n{text}"
    );
    let first_id = header(&json["exchanges"][0]["downstream"]["added"], "x-trace-id").unwrap();
    assert!(text.contains(first_id), "the first caller's trace id is listed");
    assert!(text.contains("meshlens_spans_exported_total{} "), "module counters are shown");
}

#[test]
fn the_summary_reads_requests_and_latency_per_route_from_the_module_metrics() {
    let gateway = repo_root().join("envoy-config/edge-gateway.yaml").display().to_string();
    let json: Value = {
        let out = run_sample(&["--format", "json", "--envoy-config", &gateway]);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let out = run_sample(&["--format", "summary", "--envoy-config", &gateway]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let samples = json["metrics"]["samples"].as_array().unwrap();
    let requests = |route: &str| -> f64 {
        samples
            .iter()
            .filter(|s| s["name"] == "meshlens_http_requests_total" && s["labels"]["route"] == route)
            .map(|s| s["value"].as_f64().unwrap())
            .sum()
    };
    let exchanges = json["exchanges"].as_array().unwrap();
    let schema = exchanges.iter().filter(|e| e["path"].as_str().unwrap().starts_with("/api/v1/schema")).count();
    assert_eq!(requests("/api/v1/schema"), schema as f64, "every request is counted, sampled or not");
    let row = text.lines().find(|l| l.trim_start().starts_with("/api/v1/schema ")).unwrap();
    assert_eq!(row.split_whitespace().nth(1), Some(schema.to_string().as_str()), "{row}");
    assert!(text.contains("histogram_quantile"), "{text}");
    assert!(samples.iter().all(|s| s["labels"]["route"].as_str().is_none_or(|r| !r.contains('?'))), "no raw paths");
}

#[test]
fn a_replay_is_deterministic() {
    for format in ["text", "json"] {
        let first = run_sample(&["--format", format]);
        let second = run_sample(&["--format", format]);
        assert!(first.status.success(), "{}", stderr(&first));
        assert_eq!(stdout(&first), stdout(&second), "{format} output differs between runs");
    }
    let seeded = run_sample(&["--format", "json", "--seed", "7"]);
    assert_ne!(stdout(&seeded), stdout(&run_sample(&["--format", "json"])), "the seed picks the ids");
}

#[test]
fn flags_choose_the_start_time_the_output_file_and_standard_input() {
    let dir = scratch("flags");
    let out_file = dir.join("report.json");
    let traffic = r#"{"path": "/api/v1/query", "response": {"status": 200, "latency_ms": 20}}"#;
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshlens"))
        .args(["run", "--wasm"])
        .arg(edge_telemetry_path())
        .args(["--traffic", "-", "--format=json", "--start-time", "2030-06-01T12:00:00Z", "--out"])
        .arg(&out_file)
        .args(["--collector-cluster", "collector", "--collector-cluster", "otel_collector"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), traffic.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "the report goes to --out");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(report["spans"][0]["start_unix_nanos"], 1_906_545_600_000_000_000u64);
    assert_eq!(report["spans"][0]["duration_ms"], 20.0);
}

#[test]
fn calls_to_clusters_no_rule_answers_fail_with_a_warning() {
    let path = scratch("collectors").join("traffic.jsonl");
    std::fs::write(&path, "{\"path\": \"/api/v1/query\"}\n").unwrap();
    let out = meshlens(&[
        "run".as_ref(),
        "--wasm".as_ref(),
        edge_telemetry_path().as_os_str(),
        "--traffic".as_ref(),
        path.as_os_str(),
        "--collector-cluster".as_ref(),
        "elsewhere".as_ref(),
        "--format=json".as_ref(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let calls = report["callouts"]["http"].as_array().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!((&calls[0]["cluster"], &calls[0]["state"]), (&Value::from("otel_collector"), &Value::from("failed")));
    assert_eq!((&calls[0]["status"], &calls[0]["unmatched"]), (&Value::Null, &Value::from(true)));
    assert_eq!(report["summary"]["unmatched_callouts"], 1);
    assert!(stderr(&out).contains("meshlens: warning: 1 callout(s) matched no --callouts rule"), "{}", stderr(&out));
    assert!(report["metrics"]["prometheus"].as_str().unwrap().contains("meshlens_spans_failed_total"));
    let failed =
        report["metrics"]["samples"].as_array().unwrap().iter().find(|m| m["name"] == "meshlens_spans_failed_total");
    assert_eq!(failed.unwrap()["value"], 2, "the request's SERVER and CLIENT spans");
}

/// A guest that answers by the number of regular request headers it gets: one, a local reply;
/// two, it holds the request; three, it traps. It marks every response it sees.
const GUEST: &str = r#"
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (call $log (str "request"))
    (if (i32.eq (local.get $n) (i32.const 5))
      (then
        (drop (call $proxy_send_local_response (i32.const 403) (str "denied by guest") (str "go away")
          (pairs "x-denied" "yes") (i32.const -1)))
        (return (i32.const 1))))
    (if (i32.eq (local.get $n) (i32.const 6)) (then (return (i32.const 1))))
    (if (i32.eq (local.get $n) (i32.const 7)) (then unreachable))
    (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (drop (call $proxy_add_header_map_value (i32.const 2) (str "x-guest") (str "seen")))
    (i32.const 0))
"#;

fn guest_wasm(dir: &Path) -> PathBuf {
    let path = dir.join("guest.wasm");
    std::fs::write(&path, wat::parse_str(guest::wat(GUEST)).unwrap()).unwrap();
    path
}

#[test]
fn local_replies_and_held_requests_are_reported() {
    let dir = scratch("guest");
    let traffic = dir.join("traffic.jsonl");
    std::fs::write(
        &traffic,
        "{\"path\": \"/ok\", \"response\": {\"status\": 201, \"latency_ms\": 5}}\n\
         {\"path\": \"/deny\", \"headers\": {\"a\": \"1\"}, \"body\": \"never sent\"}\n\
         {\"path\": \"/hold\", \"headers\": [[\"a\", \"1\"], [\"a\", \"2\"]], \"response\": {\"latency_ms\": 50}}\n",
    )
    .unwrap();
    let out = meshlens(&[
        "run".as_ref(),
        "--wasm".as_ref(),
        guest_wasm(&dir).as_os_str(),
        "--traffic".as_ref(),
        traffic.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let [ok, deny, hold] = report["exchanges"].as_array().unwrap().as_slice() else { panic!("three exchanges") };
    assert_eq!((&ok["outcome"], &ok["status"]), (&Value::from("completed"), &Value::from(201)));
    assert_eq!(ok["downstream"]["added"], serde_json::json!([["x-guest", "seen"]]));
    assert_eq!((&deny["outcome"], &deny["status"]), (&Value::from("local_reply"), &Value::from(403)));
    assert_eq!(deny["local_reply"]["details"], "denied_by_guest");
    assert_eq!(deny["local_reply"]["body"], "go away");
    assert_eq!(
        deny["downstream"]["added"],
        serde_json::json!([["x-guest", "seen"]]),
        "the reply's own headers are not changes"
    );
    assert_eq!(
        deny["codec_added"],
        serde_json::json!([["connection", "close"]]),
        "Envoy 1.40 closes the connection of a reply to a request whose body it did not read"
    );
    assert_eq!(
        (&hold["outcome"], &hold["status"], &hold["ended_at_ms"]),
        (&Value::from("request_paused"), &Value::Null, &Value::from(55))
    );
    let log_lines: Vec<&Value> = report["logs"].as_array().unwrap().iter().map(|l| &l["line"]).collect();
    assert_eq!(log_lines, [1, 2, 3], "each log line names its exchange's traffic line");
    assert_eq!(report["summary"]["local_replies"], 1);
    assert_eq!(report["summary"]["request_paused"], 1);

    let text = meshlens(&[
        "run".as_ref(),
        "--wasm".as_ref(),
        guest_wasm(&dir).as_os_str(),
        "--traffic".as_ref(),
        traffic.as_os_str(),
    ]);
    let text = stdout(&text);
    assert!(text.starts_with("meshlens replay: 3 exchanges (1 completed, 1 local reply, 1 held by the module), "));
    assert!(text.contains("  line 2    t=5ms  GET /deny -> local reply 403 (denied_by_guest)  [0 ms]\n"), "{text}");
    assert!(text.contains("  line 3    t=5ms  GET /hold -> held by the module, no response  [50 ms]\n"), "{text}");
    assert!(text.contains("  [info] line 2: request\n"), "{text}");
}

#[test]
fn a_trap_fails_the_run_with_the_exchange_line() {
    let dir = scratch("trap");
    let traffic = dir.join("traffic.jsonl");
    std::fs::write(&traffic, "{\"path\": \"/ok\"}\n# the next one makes the guest trap\n{\"path\": \"/\", \"headers\": {\"a\": \"1\", \"b\": \"2\", \"c\": \"3\"}, \"at_ms\": 10}\n{\"path\": \"/after\", \"at_ms\": 20}\n").unwrap();
    // Envoy's failure policies (tests/tests/all/envoy_failure_policy.rs): the request that
    // trapped gets 503; later ones 503 (fail-closed, the default) or pass without the filter.
    let wasm = guest_wasm(&dir);
    for (policy, after) in [(None, 503), (Some("fail-closed"), 503), (Some("fail-open"), 200)] {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "run".as_ref(),
            "--wasm".as_ref(),
            wasm.as_os_str(),
            "--traffic".as_ref(),
            traffic.as_os_str(),
            "--format".as_ref(),
            "json".as_ref(),
        ];
        if let Some(policy) = policy {
            args.push(std::ffi::OsStr::new("--failure-policy"));
            args.push(std::ffi::OsStr::new(policy));
        }
        let out = meshlens(&args);
        assert_eq!(out.status.code(), Some(1), "{policy:?}");
        let err = stderr(&out);
        let expected = format!(
            "meshlens: error: {}:3: while replaying this exchange: the module trapped in proxy_on_request_headers",
            traffic.display()
        );
        assert!(err.starts_with(&expected), "{err}");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let statuses: Vec<u64> =
            report["exchanges"].as_array().unwrap().iter().map(|e| e["status"].as_u64().unwrap()).collect();
        assert_eq!(statuses, [200, 503, after], "{policy:?}");
        let traps = report["summary"]["traps"].as_array().unwrap();
        assert_eq!(traps.len(), 1);
        assert_eq!(
            (traps[0]["line"].as_u64(), traps[0]["callback"].as_str()),
            (Some(3), Some("proxy_on_request_headers"))
        );
        // The filter no longer runs after the trap: no mark on the last response.
        assert_eq!(
            report["exchanges"][2]["downstream"]["added"].as_array().unwrap().len(),
            0,
            "{policy:?} {}",
            report["exchanges"][2]
        );
    }
}

/// Runs the sample module with `traffic` as the traffic file; returns the exit status and stderr.
fn run_traffic(test: &str, traffic: &str) -> (Option<i32>, String, PathBuf) {
    let path = scratch(test).join("traffic.jsonl");
    std::fs::write(&path, traffic).unwrap();
    let out = meshlens(&[
        "run".as_ref(),
        "--wasm".as_ref(),
        edge_telemetry_path().as_os_str(),
        "--traffic".as_ref(),
        path.as_os_str(),
    ]);
    assert!(out.stdout.is_empty());
    (out.status.code(), stderr(&out), path)
}

#[test]
fn a_malformed_traffic_line_is_named_with_its_file_line_and_column() {
    let (code, err, path) = run_traffic("malformed", "{\"path\": \"/a\"}\n\n{\"path\": \"/b\" \"method\": \"GET\"}\n");
    assert_eq!(code, Some(2));
    assert_eq!(err, format!("meshlens: error: {}:3:15: not valid JSON: expected `,` or `}}`\n", path.display()));
}

#[test]
fn an_unknown_field_is_named_with_its_line() {
    let (code, err, path) = run_traffic("unknown", "// first\n{\"path\": \"/a\", \"response\": {\"stauts\": 500}}\n");
    assert_eq!(code, Some(2));
    assert_eq!(
        err,
        format!("meshlens: error: {}:2:29: unknown field `response.stauts` (did you mean `status`?)\n", path.display())
    );
    let (code, err, _) = run_traffic("invalid", "{\"path\": \"api\"}\n");
    assert_eq!(code, Some(2));
    assert!(err.ends_with(":1:10: path: must start with `/`, got \"api\"\n"), "{err}");
}

#[test]
fn a_missing_file_is_an_input_error() {
    let out =
        meshlens(&["run", "--wasm", "/no/such/module.wasm", "--traffic", testdata("chat2sql.jsonl").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "meshlens: error: cannot read the module /no/such/module.wasm: No such file or directory\n"
    );
    let out =
        meshlens(&["run", "--wasm", edge_telemetry_path().to_str().unwrap(), "--traffic", "/no/such/traffic.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "meshlens: error: cannot read the traffic file /no/such/traffic.jsonl: No such file or directory\n"
    );
}

#[test]
fn an_invalid_module_config_fails_with_the_modules_log_line() {
    let dir = scratch("config");
    let config = dir.join("config.json");
    std::fs::write(&config, r#"{"service": {"name": "chat2sql"}, "tracing": {"sampling": {"ratio": 2}}}"#).unwrap();
    let out = run_with_config(&config);
    assert_eq!(out.status.code(), Some(1), "the module refused it");
    assert_eq!(
        stderr(&out),
        format!(
            "meshlens: error: the module rejected {} (proxy_on_configure returned false); it logged:\n  \
             meshlens: invalid plugin configuration: tracing.sampling.ratio: must be a number from 0 to 1, got 2\n",
            config.display()
        )
    );
    // The host passes the bytes as Envoy does; the module itself refuses what is not JSON.
    std::fs::write(&config, "{\n  \"service\": {\"name\": \"chat2sql\"},,\n}").unwrap();
    let out = run_with_config(&config);
    assert_eq!(out.status.code(), Some(1), "the module refused it, not the host");
    assert!(stderr(&out).contains("proxy_on_configure returned false"), "{}", stderr(&out));
}

fn run_with_config(config: &Path) -> Output {
    meshlens(&[
        "run".as_ref(),
        "--wasm".as_ref(),
        edge_telemetry_path().as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
        "--traffic".as_ref(),
        testdata("chat2sql.jsonl").as_os_str(),
    ])
}

#[test]
fn bad_flags_exit_2_with_the_usage() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["run", "--wasm", "m.wasm", "--traffic", "t.jsonl", "--formt", "json"],
            "unknown flag --formt; did you mean --format?",
        ),
        (&["run", "--traffic", "t.jsonl"], "missing --wasm FILE"),
        (
            &["run", "--wasm", "m.wasm", "--traffic", "t.jsonl", "--format", "yaml"],
            "--format: expected text, json, jsonl, summary, cost or html, got 'yaml'",
        ),
        (&["run", "--wasm", "m.wasm", "--traffic"], "--traffic needs a value (FILE)"),
        (&["replay"], "unknown command 'replay'; the commands are run and help"),
        (&[], "no command given"),
    ];
    for (args, message) in cases {
        let out = meshlens(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.starts_with(&format!("meshlens: error: {message}\n\nUsage: meshlens run --wasm FILE")),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn help_and_version() {
    for args in [&["--help"][..], &["-h"], &["help"]] {
        let out = meshlens(args);
        assert!(out.status.success());
        assert!(stdout(&out).contains("Usage:\n  meshlens run --wasm FILE --traffic FILE [OPTIONS]\n"));
    }
    for args in [&["run", "--help"][..], &["help", "run"], &["run", "--wasm", "x", "-h"]] {
        let out = meshlens(args);
        assert!(out.status.success());
        let help = stdout(&out);
        for flag in
            ["--wasm FILE", "--traffic FILE", "--config FILE", "--format text|json", "--out FILE", "--root-id ID"]
        {
            assert!(help.contains(flag), "{flag} is documented");
        }
        assert!(
            help.contains("--collector-cluster NAME")
                && help.contains("--seed N")
                && help.contains("--start-time TIME")
        );
        assert!(help.contains("Exit status: 0 success; 1 the module failed"));
    }
    let out = meshlens(&["--version"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), format!("meshlens {} (proxy-wasm ABI 0.2.0 and 0.2.1)\n", env!("CARGO_PKG_VERSION")));
}

/// `--format cost` counts what meshlens costs per request. The hostcall counts are the budget the
/// request path is written to (benches/RESULTS.md): one request-header map read, one `:status`
/// read, trace headers set, four properties (client address, protocol, upstream cluster and
/// host), one log line; body sizes and the status cost no property read.
#[test]
fn the_cost_report_counts_instructions_and_hostcalls_per_exchange() {
    let dir = scratch("cost");
    let traffic = dir.join("traffic.jsonl");
    let exchange =
        r#"{"path": "/api/v1/query", "headers": {"user-agent": "wrk"}, "response": {"status": 200, "body": "ok"}}"#;
    std::fs::write(&traffic, format!("{exchange}\n").repeat(1000)).unwrap();
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        r#"{"routes": ["/api/v1/query"], "tracing": {"exporter": {"max_batch_spans": 512}},
            "access_log": {"sinks": ["proxy_log"]}}"#,
    )
    .unwrap();
    let run = || {
        let out = meshlens(&[
            "run".as_ref(),
            "--wasm".as_ref(),
            edge_telemetry_path().as_os_str(),
            "--config".as_ref(),
            config.as_os_str(),
            "--traffic".as_ref(),
            traffic.as_os_str(),
            "--format".as_ref(),
            "cost".as_ref(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let text = run();
    let per_exchange = |name: &str| -> f64 {
        let line = text.lines().find(|l| l.trim_start().starts_with(name)).unwrap_or_else(|| panic!("{name}: {text}"));
        line.split_whitespace().last().unwrap().parse().unwrap()
    };
    assert!(text.contains("cost per exchange over 1000 exchanges"), "{text}");
    assert!(per_exchange("guest Wasm instructions") > 1_000.0, "{text}");
    assert_eq!(per_exchange("proxy_get_header_map_pairs"), 1.0, "{text}");
    assert_eq!(per_exchange("proxy_get_header_map_value"), 1.0, "one :status read: {text}");
    // source.address, request.protocol, the cluster, the upstream host (access line and CLIENT
    // span), the CLIENT span's backend latency and connection-pool wait.
    assert_eq!(per_exchange("proxy_get_property"), 6.0, "{text}");
    assert_eq!(per_exchange("proxy_replace_header_map_value"), 3.0, "traceparent, x-trace-id, traceresponse: {text}");
    assert_eq!(per_exchange("proxy_log"), 1.0, "{text}");
    // The rest is the ticks of the 10 s final flush (time, metrics, the memory gauge), spread over
    // 1000 exchanges.
    assert!(per_exchange("hostcalls") < 14.5, "{text}");
    // Counted, not timed: the same inputs give the same report.
    assert_eq!(run(), text);
}

/// `--log-level` is the proxy's: the module reads it at configure time, and lines below it are
/// not written. At Istio's default `warning` the access lines are gone and the module's one
/// warning says how to bring them back; at `info` they are there and nothing warns.
#[test]
fn at_log_level_warning_access_lines_are_not_written_and_the_module_says_why() {
    let report = |level: &str| -> Value {
        let out = run_sample(&["--format", "json", "--log-level", level]);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let is_access_line = |l: &Value| {
        let m = l["message"].as_str().unwrap();
        m.starts_with('{') && !m.contains("\"event_type\"")
    };
    let warns = |l: &Value| l["message"].as_str().unwrap().contains("--component-log-level wasm:info");

    let warning = report("warning");
    let logs = warning["logs"].as_array().unwrap();
    assert!(!logs.iter().any(is_access_line), "no access line is written at warning: {logs:?}");
    let warnings: Vec<&Value> = logs.iter().filter(|l| warns(l)).collect();
    assert_eq!(warnings.len(), 1, "one warning, at configure time: {logs:?}");
    assert_eq!(warnings[0]["level"], "warn");
    assert_eq!(warnings[0]["source"], "root");
    assert!(logs.iter().all(|l| l["level"] != "info"), "nothing below warning is reported: {logs:?}");
    let not_written = warning["summary"]["log_lines_not_written"].as_u64().unwrap();

    let info = report("info");
    let logs = info["logs"].as_array().unwrap();
    let access_lines = logs.iter().filter(|l| is_access_line(l)).count();
    assert_eq!(access_lines, 70, "one access line per exchange at info");
    assert!(!logs.iter().any(warns), "{logs:?}");
    assert!(not_written > access_lines as u64, "the access lines and the info lines were not written");
    assert_eq!(info["summary"]["log_lines"].as_u64().unwrap(), logs.len() as u64);
}

/// The sample replay with OTLP logs on, in one export encoding (`None`: the default).
fn sample_with_otlp_logs(test: &str, encoding: Option<&str>) -> Value {
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(testdata("chat2sql.config.json")).unwrap()).unwrap();
    config["access_log"] = serde_json::json!({"sinks": ["proxy_log", "otlp"]});
    if let Some(encoding) = encoding {
        config["tracing"]["exporter"]["encoding"] = encoding.into();
    }
    let file = scratch(test).join("config.json");
    std::fs::write(&file, config.to_string()).unwrap();
    let out = meshlens(&[
        "run",
        "--format",
        "json",
        "--wasm",
        &edge_telemetry_path().display().to_string(),
        "--config",
        &file.display().to_string(),
        "--traffic",
        &testdata("chat2sql.jsonl").display().to_string(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn spans_and_log_records_are_reported_from_protobuf_and_json_exports_alike() {
    let protobuf = sample_with_otlp_logs("encoding-protobuf", None);
    let json = sample_with_otlp_logs("encoding-json", Some("json"));
    assert_eq!(protobuf["spans"], json["spans"], "the same spans, whatever the encoding");
    assert!(!protobuf["spans"].as_array().unwrap().is_empty());
    let count = |report: &Value, field: &str, path: &str| -> u64 {
        let calls = report["callouts"]["http"].as_array().unwrap();
        calls.iter().filter(|c| c["path"] == path).map(|c| c[field].as_u64().unwrap()).sum()
    };
    let exchanges = protobuf["exchanges"].as_array().unwrap().len() as u64;
    for report in [&protobuf, &json] {
        assert_eq!(count(report, "spans", "/v1/traces"), report["spans"].as_array().unwrap().len() as u64);
        assert_eq!(count(report, "log_records", "/v1/logs"), exchanges, "one OTLP record per request");
        assert_eq!(count(report, "log_records", "/v1/traces"), 0);
    }
    let bytes = |report: &Value| count(report, "body_bytes", "/v1/traces");
    assert!(bytes(&protobuf) * 2 < bytes(&json), "protobuf {} bytes, JSON {}", bytes(&protobuf), bytes(&json));
}

#[test]
fn a_trailers_only_grpc_reply_in_a_traffic_file_is_a_failed_call() {
    // The traffic format has no trailers (yet): a trailers-only reply, the status in the response
    // headers, is what it can express.
    let traffic = r#"{"method": "POST", "path": "/grpc.test.EchoService/Echo", "headers": {"content-type": "application/grpc"}, "response": {"status": 200, "headers": {"content-type": "application/grpc", "grpc-status": "14", "grpc-message": "upstream%20gone"}}}
{"method": "POST", "path": "/grpc.test.EchoService/Echo", "headers": {"content-type": "application/grpc"}, "response": {"status": 200, "headers": {"content-type": "application/grpc", "grpc-status": "0"}}}
"#;
    let path = scratch("grpc").join("traffic.jsonl");
    std::fs::write(&path, traffic).unwrap();
    let report = json_report(&edge_telemetry_path(), &path, &[]);
    // The SERVER spans; each call also has a CLIENT span for its upstream hop.
    let spans: Vec<&Value> = report["spans"].as_array().unwrap().iter().filter(|s| s["kind"] == "server").collect();
    assert_eq!(spans.len(), 2, "{report}");
    let by_code = |code: &str| *spans.iter().find(|s| s["attributes"]["rpc.grpc.status_code"] == code).unwrap();
    let failed = by_code("14");
    assert_eq!(
        (failed["status"].as_str(), failed["attributes"]["error.type"].as_str()),
        (Some("error"), Some("UNAVAILABLE"))
    );
    assert_eq!(failed["attributes"]["rpc.method"], "Echo");
    assert_eq!(by_code("0")["status"], "unset");
}

/// Epoch milliseconds in `at_ms` by mistake: an error naming the line, not 20 hours of ticks.
#[test]
fn epoch_milliseconds_in_at_ms_are_an_error_naming_the_line() {
    let (code, err, path) = run_traffic("epoch-ms", "{\"path\": \"/\"}\n{\"path\":\"/\",\"at_ms\":1767225600000}\n");
    assert_eq!(code, Some(2));
    assert_eq!(
        err,
        format!(
            "meshlens: error: {}:2:21: at_ms: 1767225600000 is past the longest replay, 604800000 ms (7 days); at_ms \
             counts milliseconds since the replay started, not since the Unix epoch\n",
            path.display()
        )
    );
    let (code, err, path) = run_traffic("latency", "{\"path\": \"/\", \"response\": {\"latency_ms\": 86400000}}\n");
    assert_eq!(code, Some(2));
    assert_eq!(
        err,
        format!(
            "meshlens: error: {}:1:42: response.latency_ms: 86400000 is more than the longest exchange, 3600000 ms (1 hour)\n",
            path.display()
        )
    );
}

/// The longest replay allowed, a week of idle virtual time, runs: idle stretches are skipped.
#[test]
fn a_week_of_idle_virtual_time_replays() {
    let dir = scratch("week");
    let traffic = dir.join("traffic.jsonl");
    std::fs::write(&traffic, "{\"path\": \"/a\"}\n{\"path\": \"/b\", \"at_ms\": 604800000}\n").unwrap();
    let report = json_report(&edge_telemetry_path(), &traffic, &[]);
    assert_eq!(report["summary"]["virtual_ms"], 604_800_000 + 10_000);
    // A SERVER and a CLIENT span per exchange (the upstream hop).
    assert_eq!(report["summary"]["spans"], 4, "both exchanges' spans are exported");
}

/// Loops forever when a request arrives.
const LOOPS: &str = r#"
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (loop $forever (br $forever))
    (i32.const 0))
"#;

/// A runaway guest fails the run, naming the callback and the exchange, instead of hanging it.
/// The guest is a `.wat` file: text is read as WAT by its extension.
#[test]
fn a_guest_that_loops_forever_fails_the_run_naming_the_callback() {
    let dir = scratch("loops");
    let wasm = dir.join("loops.wat");
    std::fs::write(&wasm, guest::wat(LOOPS)).unwrap();
    let traffic = dir.join("traffic.jsonl");
    std::fs::write(&traffic, "{\"path\": \"/\"}\n").unwrap();
    let out = meshlens(&[
        "run",
        "--wasm",
        wasm.to_str().unwrap(),
        "--traffic",
        traffic.to_str().unwrap(),
        "--callback-time-limit",
        "100ms",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let expected = format!(
        "meshlens: error: {}:1: while replaying this exchange: the module trapped in proxy_on_request_headers: ran \
         longer than the limit of 100 ms per callback (an endless loop?)\n",
        traffic.display()
    );
    assert!(err.starts_with(&expected), "{err}");
    assert!(err.ends_with("(--callback-time-limit changes the limit; 0 removes it)\n"), "{err}");
    let out = meshlens(&["run", "--wasm", "m.wasm", "--traffic", "t.jsonl", "--callback-time-limit", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with(
        "meshlens: error: --callback-time-limit: expected a duration (10s, 250ms; 0 for no limit), got 'soon'\n"
    ));
}

/// Each input is checked for what it should be, and the message says what was expected.
#[test]
fn every_input_file_is_checked_for_what_it_should_be() {
    let dir = scratch("input-types");
    let binary = dir.join("data.bin");
    std::fs::write(&binary, b"\x7fELF\xff\x00\x01\x02").unwrap();
    let text = dir.join("notes.wasm");
    std::fs::write(&text, "hello\n").unwrap();
    let traffic = dir.join("traffic.jsonl");
    std::fs::write(&traffic, "{\"path\": \"/\"}\n").unwrap();
    let wasm = edge_telemetry_path().display().to_string();
    let (binary, text, traffic) =
        (binary.display().to_string(), text.display().to_string(), traffic.display().to_string());
    let cases: [(&[&str], String); 4] = [
        (
            &["--wasm", &text, "--traffic", &traffic],
            format!("{text}: not a Wasm module: expected the binary format (starting with \\0asm), got text"),
        ),
        (
            &["--wasm", &binary, "--traffic", &traffic],
            format!(
                "{binary}: not a Wasm module: expected the binary format (starting with \\0asm), got binary data of \
                 another kind"
            ),
        ),
        (
            &["--wasm", &wasm, "--traffic", &binary],
            format!("{binary}:1: expected JSON Lines text, got binary data (not UTF-8)"),
        ),
        (
            &["--wasm", &wasm, "--traffic", &traffic, "--envoy-config", &binary],
            format!("{binary}: expected YAML/JSON text, got binary data"),
        ),
    ];
    for (args, message) in cases {
        let out = meshlens(&[&["run"][..], args].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(stderr(&out), format!("meshlens: error: {message}\n"), "{args:?}");
    }
}

/// A UTF-8 byte order mark (as some Windows editors write) starts the traffic without changing
/// it. The configuration is the module's, byte for byte, as Envoy passes it: a mark there
/// reaches the module.
#[test]
fn a_byte_order_mark_is_skipped() {
    let dir = scratch("bom");
    let traffic = dir.join("traffic.jsonl");
    let sample = std::fs::read_to_string(testdata("chat2sql.jsonl")).unwrap();
    std::fs::write(&traffic, format!("\u{feff}{sample}")).unwrap();
    let config = dir.join("config.json");
    let sample_config = std::fs::read_to_string(testdata("chat2sql.config.json")).unwrap();
    std::fs::write(&config, format!("\u{feff}{sample_config}")).unwrap();
    let marked = meshlens(&[
        "run",
        "--wasm",
        edge_telemetry_path().to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--traffic",
        traffic.to_str().unwrap(),
    ]);
    assert_eq!(marked.status.code(), Some(1), "the module sees the mark: {}", stderr(&marked));
    std::fs::write(&config, sample_config).unwrap();
    let out = meshlens(&[
        "run",
        "--wasm",
        edge_telemetry_path().to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--traffic",
        traffic.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, run_sample(&["--format", "json"]).stdout);
}

/// A start time so late the clock would overflow is refused (it used to freeze the clock, every
/// duration 0).
#[test]
fn a_start_time_the_clock_cannot_run_from_is_refused() {
    let out = meshlens(&["run", "--wasm", "m.wasm", "--traffic", "t.jsonl", "--start-time", "18446744073709551615"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.starts_with("meshlens: error: --start-time: 18446744073709551615 is too late: "), "{err}");
    assert!(err.contains("so the latest start is 18446135663709551615\n"), "{err}");
}

/// Report sections too large for memory wait in temporary files; the report is the same.
#[test]
fn a_report_kept_in_temporary_files_is_the_same() {
    for format in ["json", "text", "summary"] {
        let kept = run_sample(&["--format", format]);
        let spilled = {
            let mut args: Vec<String> = vec![
                "run".into(),
                "--wasm".into(),
                edge_telemetry_path().display().to_string(),
                "--config".into(),
                testdata("chat2sql.config.json").display().to_string(),
                "--traffic".into(),
                testdata("chat2sql.jsonl").display().to_string(),
                "--format".into(),
                format.into(),
            ];
            args.shrink_to_fit();
            Command::new(env!("CARGO_BIN_EXE_meshlens"))
                .args(&args)
                .env("MESHLENS_SPILL_AFTER", "100")
                .stdin(Stdio::null())
                .output()
                .unwrap()
        };
        assert!(spilled.status.success(), "{}", stderr(&spilled));
        assert_eq!(stdout(&spilled), stdout(&kept), "{format}");
    }
}

/// `--format jsonl` writes each record as the replay produces it: the same exchanges (in file
/// order), spans, log lines and HTTP calls as the JSON report, then gRPC calls, the metrics and
/// the summary. A closed standard output ends the run quietly.
#[test]
fn json_lines_are_the_json_report_record_by_record() {
    let report = sample_json();
    let out = run_sample(&["--format", "jsonl"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let records: Vec<Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let of = |kind: &str| -> Vec<Value> {
        records
            .iter()
            .filter(|r| r["type"] == kind)
            .map(|r| {
                let mut r = r.clone();
                r.as_object_mut().unwrap().remove("type");
                r
            })
            .collect()
    };
    assert_eq!(Value::from(of("exchange")), report["exchanges"]);
    assert_eq!(Value::from(of("span")), report["spans"]);
    assert_eq!(Value::from(of("log")), report["logs"]);
    assert_eq!(Value::from(of("http_call")), report["callouts"]["http"]);
    assert_eq!(Value::from(of("grpc_call")), report["callouts"]["grpc"]);
    assert_eq!(of("metrics"), [report["metrics"].clone()]);
    assert_eq!(of("summary"), [report["summary"].clone()]);
    let kinds: Vec<&str> = records.iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(kinds[kinds.len() - 2..], ["metrics", "summary"]);
    let first_exchange = kinds.iter().position(|k| *k == "exchange").unwrap();
    assert!(first_exchange < kinds.iter().position(|k| *k == "span").unwrap(), "written as they come");
    // Each exchange's access-log line comes before the exchange itself (proxy_on_log).
    let line_4 = records.iter().position(|r| r["type"] == "exchange" && r["line"] == 4).unwrap();
    assert!(records[..line_4].iter().any(|r| r["type"] == "log" && r["line"] == 4));

    let mut child = Command::new(env!("CARGO_BIN_EXE_meshlens"))
        .args([
            "run",
            "--wasm",
            edge_telemetry_path().to_str().unwrap(),
            "--traffic",
            testdata("chat2sql.jsonl").to_str().unwrap(),
            "--format",
            "jsonl",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "a closed pipe is not an error: {}", stderr(&out));
}

/// `--workers 2`: two VMs of the module, each configured, the exchanges shared between them.
#[test]
fn two_workers_each_configure_and_share_the_exchanges() {
    let one = run_sample(&["--format", "json"]);
    let two = run_sample(&["--format", "json", "--workers", "2"]);
    assert!(two.status.success(), "{}", stderr(&two));
    let (one, two): (Value, Value) =
        (serde_json::from_slice(&one.stdout).unwrap(), serde_json::from_slice(&two.stdout).unwrap());
    assert_eq!(one["summary"]["exchanges"], two["summary"]["exchanges"]);
    let configured = |r: &Value| {
        r["logs"].as_array().unwrap().iter().filter(|l| l["message"].as_str().unwrap().contains("configured")).count()
    };
    assert_eq!((configured(&one), configured(&two)), (1, 2));
    let statuses =
        |r: &Value| r["exchanges"].as_array().unwrap().iter().map(|e| e["status"].clone()).collect::<Vec<_>>();
    assert_eq!(statuses(&one), statuses(&two));
}
