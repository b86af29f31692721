//! The playground page (`cargo xtask playground`) in headless Debian Chromium: it loads with no
//! console error, every preset shows what the core compiled natively says (the wasm-bindgen build
//! is the same code: the same decision, headers, spans and access lines, byte for byte), a known
//! configuration error appears with its field path, editing updates the results, a share link
//! reproduces the request, and hostile values stay text. A screenshot is saved per state.

use std::time::Duration;

use meshlens_playground::{Input, Output, Preset};
use meshlens_tests::browser::{self, Browser};
use meshlens_tests::plugin;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

/// The W3C caller preset's incoming context, which the page must continue.
const CALLER_TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

struct Page {
    browser: Browser,
    _server: meshlens_tests::http::Server,
    url: String,
}

fn open() -> Page {
    let server = browser::serve_dir(&browser::playground_dir());
    let url = format!("http://127.0.0.1:{}/", server.port());
    let browser = Browser::start(1400, 1000);
    browser.goto(&url);
    browser.wait_for("body[data-ready=true]", WAIT);
    Page { browser, _server: server, url }
}

fn native(preset: &Preset, config: &str) -> Output {
    let mut input: Input = preset.input.clone();
    input.config.get_or_insert_with(|| config.to_owned());
    meshlens_playground::simulate(&input)
}

fn texts(page: &Page, selector: &str) -> Vec<String> {
    page.browser.find_all(selector).iter().map(|e| e.text()).collect()
}

fn header_value(page: &Page, table: &str, name: &str) -> Option<String> {
    let rows = page.browser.find_all(&format!("#{table} tr[data-name='{name}'] td.value"));
    rows.first().map(|e| e.text())
}

#[test]
fn every_preset_shows_what_the_core_does_and_the_page_has_no_console_error() {
    let page = open();
    let load_ms = page.browser.script(
        "const n = performance.getEntriesByType('navigation')[0]; return [Math.round(n.loadEventEnd), Number(document.body.dataset.loadMs)]",
        &[],
    );
    println!(
        "playground load: navigation loadEventEnd {} ms, usable (wasm instantiated, first simulation shown) {} ms after navigation start",
        load_ms[0], load_ms[1]
    );
    let presets = meshlens_playground::presets();
    assert!(presets.len() >= 7, "W3C, B3, no context, invalid, auth failure, slow query, 5xx: {presets:?}");
    for preset in &presets {
        page.browser.find_all(&format!("#presets button[data-preset='{}']", preset.id))[0].click();
        let want = native(preset, meshlens_playground::DEFAULT_CONFIG);
        let decision = want.decision.as_ref().expect("every preset traces");
        page.browser.wait_until(
            &format!("return document.querySelector('.trace-id')?.textContent === '{}'", decision.trace_id),
            WAIT,
        );
        let shown = page.browser.find_all("#decision")[0].attr("data-sampled");
        assert_eq!(shown.as_deref(), Some(if decision.sampled { "true" } else { "false" }), "{}", preset.id);
        assert_eq!(page.browser.find_all("#decision")[0].attr("data-rule").as_deref(), Some(decision.reason.rule));
        assert_eq!(texts(&page, "pre.access-line"), want.access_log, "{}: the access lines", preset.id);
        let bars = page.browser.find_all(".span-bar");
        assert_eq!(bars.len(), want.spans.len(), "{}: one bar per span", preset.id);
        for (bar, span) in bars.iter().zip(&want.spans) {
            assert_eq!(bar.attr("data-span-id").as_deref(), span["spanId"].as_str());
        }
        for (name, value) in want.downstream_response_headers.iter().filter(|(n, _)| n.starts_with("x-trace")) {
            assert_eq!(header_value(&page, "downstream-headers", name).as_deref(), Some(value.as_str()));
        }
        page.browser.screenshot(&browser::artifacts_dir().join(format!("playground-{}.png", preset.id)));
    }
    let errors = page.browser.console_errors();
    assert!(errors.is_empty(), "console errors: {errors:?}");
}

#[test]
fn a_w3c_caller_continues_its_trace_upstream_and_gets_the_trace_id_back() {
    let page = open();
    page.browser.find_all("#presets button[data-preset='w3c-caller']")[0].click();
    page.browser.wait_until("return document.querySelector('#decision')?.dataset.trace === 'continued'", WAIT);
    let traceparent = header_value(&page, "upstream-headers", "traceparent").expect("traceparent sent upstream");
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[1], CALLER_TRACE_ID, "the caller's trace continues");
    assert_ne!(parts[2], "00f067aa0ba902b7", "the parent sent upstream is this proxy's span, not the caller's");
    assert_eq!(parts[3], "01", "sampled, as the caller asked");
    assert_eq!(header_value(&page, "downstream-headers", "x-trace-id").as_deref(), Some(CALLER_TRACE_ID));
    assert_eq!(page.browser.find_all("#decision")[0].attr("data-extracted").as_deref(), Some("tracecontext"));
    page.browser.screenshot(&browser::artifacts_dir().join("playground.png"));
    assert!(page.browser.console_errors().is_empty());
}

#[test]
fn a_configuration_error_appears_with_its_field_path_as_the_module_logs_it() {
    let page = open();
    let broken = r#"{"service": {"name": "chat2sql"}, "tracing": {"sampling": {"ratio": 1.5}}}"#;
    let want = meshlens_playground::validate(broken).error.expect("a ratio above 1 is refused");
    assert!(want.path.contains("ratio"), "{want:?}");
    let config = page.browser.find_all("#config").remove(0);
    config.clear();
    config.send_keys(broken);
    let status = page.browser.wait_for("#config-status.error", WAIT);
    assert_eq!(status.attr("data-path"), Some(want.path.clone()));
    assert!(status.text().contains(&want.message), "{} / {want:?}", status.text());
    assert_eq!(texts(&page, "#config-status code.log"), vec![want.log.clone()]);
    assert!(!page.browser.find_all("#result-error")[0].text().is_empty(), "the results say nothing ran");
    page.browser.screenshot(&browser::artifacts_dir().join("playground-config-error.png"));
    // Fixing it brings the results back.
    page.browser.find_all("#config-reset")[0].click();
    page.browser.wait_for("#config-status.ok", WAIT);
    assert!(page.browser.console_errors().is_empty());
}

#[test]
fn editing_the_request_updates_the_results_and_a_share_link_reproduces_them() {
    let page = open();
    let path = page.browser.find_all("#path").remove(0);
    path.clear();
    path.send_keys("/api/v1/query?token=hunter2&page=3");
    page.browser.wait_until(
        "return [...document.querySelectorAll('pre.access-line')].some(l => l.textContent.includes('/api/v1/query'))",
        WAIT,
    );
    let lines = texts(&page, "pre.access-line");
    assert!(lines.iter().all(|l| !l.contains("hunter2")), "the token is redacted: {lines:?}");
    page.browser.find_all("#share")[0].click();
    let link = page.browser.find_all("#share-url")[0].property("value").as_str().unwrap_or_default().to_owned();
    assert!(link.starts_with(&format!("{}#v1.", page.url)), "{link}");
    let trace = texts(&page, ".trace-id");
    let fresh = Browser::start(1400, 1000);
    fresh.goto(&link);
    fresh.wait_for("body[data-ready=true]", WAIT);
    assert_eq!(fresh.find_all("#path")[0].property("value"), json!("/api/v1/query?token=hunter2&page=3"));
    let shared_trace: Vec<String> = fresh.find_all(".trace-id").iter().map(|e| e.text()).collect();
    assert_eq!(shared_trace, trace, "the same input gives the same ids");
    assert!(fresh.console_errors().is_empty());
}

#[test]
fn hostile_values_in_a_shared_link_stay_text() {
    let page = open();
    let evil = "<img src=x onerror=\"document.body.dataset.pwned=1\">";
    let input = json!({
        "request": {"method": "GET", "path": format!("/users/1?q={evil}"), "scheme": "https", "authority": "a.example",
                    "headers": [["user-agent", evil], ["x-evil", "\"><script>document.body.dataset.pwned=1</script>"]]},
        "response": {"status": 200, "headers": [["x-reply", evil]], "latency_ms": 3, "from_upstream": true},
    });
    let fragment = base64url(input.to_string().as_bytes());
    page.browser.goto(&format!("{}#v1.{fragment}", page.url));
    page.browser.script("location.reload()", &[]);
    page.browser.wait_for("body[data-ready=true]", WAIT);
    page.browser.wait_until("return document.querySelectorAll('pre.access-line').length > 0", WAIT);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(page.browser.script("return document.body.dataset.pwned ?? null", &[]), Value::Null);
    assert!(page.browser.find_all("#results img, #inputs img, #results script").is_empty());
    let agent = page.browser.find_all("#request-headers")[0].property("value");
    assert!(agent.as_str().unwrap_or_default().contains(evil), "{agent}");
    let broken = format!("{}#v1.not-base64!", page.url);
    page.browser.goto(&broken);
    page.browser.script("location.reload()", &[]);
    let banner = page.browser.wait_for("#load-error:not([hidden])", WAIT);
    assert!(banner.text().contains("could not be read"), "{}", banner.text());
    assert!(page.browser.console_errors().is_empty());
}

/// The browser build gives, for every conformance scenario, the same output text as the native
/// build; `playground_parity.rs` ties the native build to the module in the harness.
#[test]
fn the_browser_build_matches_the_native_build_on_every_conformance_scenario() {
    let page = open();
    let config = meshlens_playground::DEFAULT_CONFIG;
    let inputs: Vec<Input> = plugin::scenarios().iter().map(|s| crate::playground_parity::input(config, s)).collect();
    let script = "const done = arguments[arguments.length - 1];
        import('./pkg/meshlens_playground.js').then(async m => { await m.default(); done(arguments[0].map(i => m.simulate(i))); })
          .catch(e => done('error: ' + e));";
    let args: Vec<Value> = inputs.iter().map(|i| Value::String(serde_json::to_string(i).unwrap())).collect();
    let got = page.browser.script_async(script, &[Value::Array(args)]);
    let got = got.as_array().unwrap_or_else(|| panic!("{got}"));
    assert_eq!(got.len(), inputs.len());
    for (input, text) in inputs.iter().zip(got) {
        let want = serde_json::to_string(&meshlens_playground::simulate(input)).unwrap();
        assert_eq!(text.as_str(), Some(want.as_str()), "{}", input.request.path);
    }
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}
