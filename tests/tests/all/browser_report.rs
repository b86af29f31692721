//! `meshlens run --format html` in headless Debian Chromium: the Chat2SQL sample replay's report
//! opens from a file with no console error and no request for anything outside it, its waterfall
//! draws one bar per span with widths proportional to the spans' durations, its histogram bars
//! have heights proportional to the module's bucket counts, the access-line search filters rows,
//! and a trace id link leads to that trace's waterfall. A screenshot is saved.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use meshlens_tests::browser::{self, Browser};
use meshlens_tests::paths;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

/// The `meshlens` CLI that `cargo test --workspace` builds beside this test binary (for
/// `host-harness`'s own tests).
fn meshlens_cli() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/");
    let cli = dir.join("meshlens");
    assert!(
        cli.is_file(),
        "missing {} (run the tests with `cargo test --workspace`, or `cargo build -p host-harness`)",
        cli.display()
    );
    cli
}

/// Replays the Chat2SQL sample traffic through the module and writes the HTML report.
fn report() -> PathBuf {
    let traffic = paths::repo_root().join("host-harness/testdata/chat2sql.jsonl");
    report_of(&traffic, "chat2sql-report.html")
}

/// Replays `traffic` under the Chat2SQL configuration and writes the HTML report as `name`.
fn report_of(traffic: &std::path::Path, name: &str) -> PathBuf {
    let root = paths::repo_root();
    let data = root.join("host-harness/testdata");
    let out = browser::artifacts_dir().join(name);
    let run = Command::new(meshlens_cli())
        .args(["run", "--format", "html", "--wasm"])
        .arg(paths::edge_telemetry_wasm())
        .arg("--config")
        .arg(data.join("chat2sql.config.json"))
        .arg("--traffic")
        .arg(traffic)
        .arg("--envoy-config")
        .arg(root.join("envoy-config/edge-gateway.yaml"))
        .output()
        .expect("run meshlens");
    assert!(run.status.success(), "meshlens run --format html failed:\n{}", String::from_utf8_lossy(&run.stderr));
    std::fs::write(&out, &run.stdout).expect("write the report");
    out
}

fn number(v: Option<String>) -> f64 {
    v.and_then(|s| s.parse().ok()).unwrap_or(f64::NAN)
}

#[test]
fn the_report_draws_the_replay_in_a_browser() {
    let file = report();
    let browser = Browser::start(1280, 1000);
    browser.goto(&format!("file://{}", file.display()));
    browser.wait_for(".span-bar", WAIT);

    // Nothing outside the file: every resource the page loaded is the page itself.
    let loaded = browser.script("return performance.getEntriesByType('resource').map(r => r.name)", &[]);
    assert_eq!(loaded, Value::Array(Vec::new()), "the report loads nothing else");

    // Waterfall: per trace, drawn widths are proportional to durations.
    let bars = browser.find_all(".span-bar");
    assert!(bars.len() >= 2, "{} bars", bars.len());
    let mut by_trace: std::collections::BTreeMap<String, Vec<(f64, f64)>> = Default::default();
    for bar in &bars {
        let trace = bar.attr("data-trace-id").expect("data-trace-id");
        let duration = number(bar.attr("data-duration-ns"));
        let (_, _, width, _) = bar.rect();
        by_trace.entry(trace).or_default().push((duration, width));
    }
    let mut compared = 0;
    for (trace, spans) in &by_trace {
        let (longest, full) = spans.iter().copied().fold((0.0, 0.0), |a, b| if b.0 > a.0 { b } else { a });
        for (duration, width) in spans {
            let expected = full * duration / longest;
            // Bars have a minimum drawn width so that a very short span stays visible.
            if expected >= 4.0 {
                assert!(
                    (width - expected).abs() <= 1.5,
                    "trace {trace}: {duration} ns drawn {width}px, expected {expected:.1}px"
                );
                compared += 1;
            }
        }
    }
    assert!(compared >= bars.len() / 2, "only {compared} of {} bars compared", bars.len());

    // Histograms: drawn heights are proportional to the bucket counts, per route.
    let hist = browser.find_all(".hist-bar");
    assert!(!hist.is_empty(), "histogram bars");
    let mut by_route: std::collections::BTreeMap<String, Vec<(f64, f64)>> = Default::default();
    for bar in &hist {
        let route = bar.attr("data-route").expect("data-route");
        let (_, _, _, height) = bar.rect();
        by_route.entry(route).or_default().push((number(bar.attr("data-count")), height));
    }
    for (route, buckets) in &by_route {
        let (most, tallest) = buckets.iter().copied().fold((0.0, 0.0), |a, b| if b.0 > a.0 { b } else { a });
        assert!(most > 0.0, "{route}: an empty histogram drawn");
        for (count, height) in buckets {
            let expected = tallest * count / most;
            assert!((height - expected).abs() <= 1.5, "{route}: {count} drawn {height}px, expected {expected:.1}px");
        }
    }
    assert!(!browser.find_all(".quantile").is_empty(), "p50/p95/p99 marks");

    // The access-line search filters rows, and a trace link leads to its waterfall.
    let search = browser.wait_for("#access-log input", WAIT);
    let visible_rows =
        "return [...document.querySelectorAll('#access-log tbody tr')].filter(r => r.offsetParent !== null).length";
    let all = browser.script(visible_rows, &[]).as_u64().unwrap_or(0);
    assert!(all > 1, "{all} access lines shown");
    let link = browser.find_all("#access-log a[href^='#trace-']").into_iter().next().expect("a trace link");
    let target = link.attr("href").unwrap_or_default();
    let trace_id = target.trim_start_matches("#trace-").to_owned();
    search.send_keys(&trace_id);
    browser.wait_until(&format!("{}; return n >= 1 && n < {all}", visible_rows.replace("return ", "const n = ")), WAIT);
    browser
        .find_all("#access-log a[href^='#trace-']")
        .into_iter()
        .find(|a| a.text().contains(&trace_id[..8]))
        .unwrap_or(link)
        .click();
    assert!(browser.url().ends_with(&target), "{} after clicking {target}", browser.url());
    let shown = browser.find_all(&format!("[id='trace-{trace_id}'] .span-bar"));
    assert!(!shown.is_empty(), "the linked trace has its bars");

    browser.script(
        "const i = document.querySelector('#access-log input'); i.value = ''; i.dispatchEvent(new Event('input')); \
         location.hash = ''; window.scrollTo(0, 0)",
        &[],
    );
    browser.wait_until(&format!("{}; return n === {all}", visible_rows.replace("return ", "const n = ")), WAIT);
    browser.screenshot(&browser::artifacts_dir().join("report-full.png"));
    browser.screenshot_top(&browser::artifacts_dir().join("report.png"), 1900.0);
    let errors = browser.console_errors();
    assert!(errors.is_empty(), "console errors: {errors:?}");
}

/// Three requests of one caller's trace, of 1,000, 250 and 100 ms: three SERVER spans (and their
/// CLIENT spans) in one waterfall, drawn 1 : 1/4 : 1/10 as wide, at their offsets.
#[test]
fn spans_of_different_durations_are_drawn_to_scale() {
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let exchange = |at_ms: u64, latency_ms: u64, status: u16| {
        serde_json::json!({"method": "POST", "path": "/api/v1/query", "at_ms": at_ms,
            "headers": {"traceparent": traceparent}, "response": {"status": status, "latency_ms": latency_ms}})
        .to_string()
    };
    let traffic = browser::artifacts_dir().join("shared-trace.jsonl");
    let lines = [exchange(0, 1000, 200), exchange(250, 250, 200), exchange(400, 100, 503)];
    std::fs::write(&traffic, lines.join("\n") + "\n").expect("write the traffic");
    let file = report_of(&traffic, "shared-trace-report.html");
    let browser = Browser::start(1280, 900);
    browser.goto(&format!("file://{}", file.display()));
    browser.wait_for(".span-bar", WAIT);
    let bars: Vec<(f64, f64, f64, Option<String>)> = browser
        .find_all(".span-bar")
        .iter()
        .map(|b| {
            let (x, _, width, _) = b.rect();
            (number(b.attr("data-duration-ns")), x, width, b.attr("data-status"))
        })
        .collect();
    assert_eq!(bars.len(), 6, "three SERVER and three CLIENT spans");
    let longest = bars.iter().map(|b| b.0).fold(0.0, f64::max);
    assert_eq!(longest, 1e9);
    let (full, x0) = bars.iter().find(|b| b.0 == longest).map(|b| (b.2, b.1)).unwrap();
    for (duration, _, width, _) in &bars {
        assert!((width - full * duration / longest).abs() <= 1.5, "{duration} ns drawn {width}px of {full}px");
    }
    // The 250 ms request started 250 ms in, the 100 ms one 400 ms in.
    for (duration, start) in [(250e6, 250e6), (100e6, 400e6)] {
        let bar = bars.iter().find(|b| b.0 == duration).unwrap();
        assert!((bar.1 - x0 - full * start / longest).abs() <= 1.5, "{duration} ns at {}px", bar.1 - x0);
    }
    for (duration, _, _, status) in &bars {
        let want = if *duration == 100e6 { "error" } else { "unset" };
        assert_eq!(status.as_deref(), Some(want), "the 503 is the error: {bars:?}");
    }
    browser.screenshot(&browser::artifacts_dir().join("report-shared-trace.png"));
    assert!(browser.console_errors().is_empty());
}
