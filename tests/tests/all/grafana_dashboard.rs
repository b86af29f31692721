//! The shipped Grafana dashboard (`envoy-config/grafana/meshlens-dashboard.json`) is a valid JSON
//! model whose every PromQL expression parses (the real `promtool check rules`, with the
//! expressions as recording rules after Grafana's variables are replaced by literal values) and
//! references only metrics the module emits or the shipped recording rules define. Broken copies
//! (a metric the module does not emit, an expression that does not parse) fail.

use std::collections::BTreeSet;

use meshlens_tests::envoy::TempDir;
use meshlens_tests::paths;
use meshlens_tests::prometheus::promtool;
use serde_json::Value as Json;
use telemetry_core::names;

const DASHBOARD: &str = "envoy-config/grafana/meshlens-dashboard.json";
const RULES: &str = "envoy-config/prometheus/meshlens.rules.yml";

/// The Chat2SQL profile's custom families (`envoy-config/profiles/`), beside the module's own in
/// `telemetry_core::names`.
const CHAT2SQL_COUNTERS: [&str; 1] = ["chat2sql_query_total"];
const CHAT2SQL_HISTOGRAMS: [&str; 1] = ["chat2sql_query_duration_seconds"];

/// Grafana's variables and the literal values they are checked with.
const VARIABLES: [(&str, &str); 6] = [
    ("$__rate_interval", "1m"),
    ("$__interval", "1m"),
    ("$__range", "1h"),
    ("$job", ".*"),
    ("$reporter", ".*"),
    ("$route", ".*"),
];

/// Every metric name a dashboard expression may use.
fn known_metrics() -> BTreeSet<String> {
    let mut known: BTreeSet<String> =
        names::SELF_TELEMETRY.iter().chain(&CHAT2SQL_COUNTERS).map(|s| (*s).to_owned()).collect();
    known.insert(format!("{}{}", names::DEFAULT_PREFIX, names::REQUESTS));
    let standard = [names::REQUEST_DURATION, names::REQUEST_SIZE, names::RESPONSE_SIZE]
        .map(|f| format!("{}{f}", names::DEFAULT_PREFIX));
    for family in standard.iter().map(String::as_str).chain(CHAT2SQL_HISTOGRAMS) {
        for suffix in ["_bucket", "_sum", "_count"] {
            known.insert(format!("{family}{suffix}"));
        }
    }
    let rules = std::fs::read_to_string(paths::repo_root().join(RULES)).unwrap();
    let records: Vec<String> =
        rules.lines().filter_map(|l| l.trim().strip_prefix("- record:")).map(|r| r.trim().to_owned()).collect();
    assert!(records.len() >= 4, "recording rules of {RULES}: {records:?}");
    known.extend(records);
    known
}

fn dashboard_text() -> String {
    std::fs::read_to_string(paths::repo_root().join(DASHBOARD)).unwrap()
}

/// Every `expr` in the model (panel targets, nested rows included), in document order.
fn expressions(model: &Json) -> Vec<String> {
    fn walk(value: &Json, out: &mut Vec<String>) {
        match value {
            Json::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("expr", Json::String(expr)) => out.push(expr.clone()),
                        _ => walk(value, out),
                    }
                }
            }
            Json::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(model, &mut out);
    out
}

/// `expr` with Grafana's variables replaced by literal values.
fn substitute(expr: &str) -> String {
    let mut text = expr.to_owned();
    for (variable, value) in VARIABLES {
        text = text.replace(variable, value);
    }
    assert!(!text.contains('$'), "an unknown Grafana variable in {expr}");
    text
}

/// The metric names an expression selects: identifiers outside strings, label matchers,
/// range selectors and grouping clauses, that are not function calls or operators.
fn metric_names(expr: &str) -> BTreeSet<String> {
    // Operators, and aggregations (which may be followed by `by (...)` rather than `(`).
    const KEYWORDS: [&str; 22] = [
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "by",
        "without",
        "inf",
        "nan",
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
    ];
    const GROUPING: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '{' || c == '[' {
            let close = if c == '{' { '}' } else { ']' };
            while i < chars.len() && chars[i] != close {
                i += 1;
            }
            i += 1;
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let calls = chars.get(next) == Some(&'(');
            if GROUPING.contains(&word.as_str()) && calls {
                while i < chars.len() && chars[i] != ')' {
                    i += 1;
                }
                i += 1;
            } else if !calls && !KEYWORDS.contains(&word.to_ascii_lowercase().as_str()) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The metric names in `model` that are not known (and the expressions without any metric).
fn unknown_metrics(model: &Json) -> Vec<String> {
    let known = known_metrics();
    let mut unknown = Vec::new();
    for expr in expressions(model) {
        let names = metric_names(&expr);
        if names.is_empty() {
            unknown.push(format!("(no metric in `{expr}`)"));
        }
        unknown.extend(names.into_iter().filter(|n| !known.contains(n)));
    }
    unknown
}

/// Runs `promtool check rules` on the model's expressions as recording rules.
fn check_expressions(model: &Json, tag: &str) -> (bool, String) {
    let mut rules = String::from("groups:\n  - name: grafana-dashboard\n    rules:\n");
    for (i, expr) in expressions(model).iter().enumerate() {
        let quoted = serde_json::to_string(&substitute(expr)).unwrap();
        rules.push_str(&format!("      - record: dashboard:expr_{i}\n        expr: {quoted}\n"));
    }
    let dir = TempDir::new(tag);
    std::fs::write(dir.0.join("dashboard.rules.yml"), rules).unwrap();
    promtool(&["check", "rules", "dashboard.rules.yml"], &dir.0)
}

fn model() -> Json {
    serde_json::from_str(&dashboard_text()).expect("the dashboard is valid JSON")
}

#[test]
fn grafana_dashboard_is_a_json_model_with_the_required_panels() {
    let model = model();
    assert!(model["schemaVersion"].as_u64().unwrap() >= 36, "schemaVersion");
    assert!(model["uid"].is_string() && model["title"].is_string());
    let variables: Vec<&str> =
        model["templating"]["list"].as_array().unwrap().iter().filter_map(|v| v["name"].as_str()).collect();
    for name in ["DS_PROMETHEUS", "job", "reporter", "route"] {
        assert!(variables.contains(&name), "template variable {name}: {variables:?}");
    }
    let panels = model["panels"].as_array().unwrap();
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        assert_eq!(panel["datasource"]["uid"], "${DS_PROMETHEUS}", "panel {}", panel["title"]);
        assert!(panel["targets"].as_array().is_some_and(|t| !t.is_empty()), "panel {} has no query", panel["title"]);
    }
    let ids: BTreeSet<u64> = panels.iter().filter_map(|p| p["id"].as_u64()).collect();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
    let exprs = expressions(&model).join("\n");
    for quantile in ["0.5", "0.95", "0.99"] {
        let wanted = format!(
            "histogram_quantile({quantile}, sum by (route, le) (rate({}{}_bucket",
            names::DEFAULT_PREFIX,
            names::REQUEST_DURATION
        );
        assert!(exprs.contains(&wanted), "p{quantile} latency per route");
    }
    let requests = format!("{}{}", names::DEFAULT_PREFIX, names::REQUESTS);
    assert!(exprs.contains(&requests) && exprs.contains("status_class=\"5xx\""), "request rate and 5xx ratio");
    for family in [
        names::SPANS_EXPORTED,
        names::SPANS_DROPPED,
        names::SPANS_FAILED,
        names::LOGS_EXPORTED,
        names::EXPORT_FAILURES,
        names::SERIES_OVERFLOW,
        names::REDACTIONS,
        names::SECURITY_EVENTS,
    ] {
        assert!(exprs.contains(family), "no panel queries {family}");
    }
}

#[test]
fn grafana_dashboard_expressions_pass_promtool() {
    let model = model();
    assert!(expressions(&model).len() >= 20);
    let (ok, out) = check_expressions(&model, "grafana-exprs");
    assert!(ok, "promtool check rules on the dashboard's expressions:\n{out}");
}

#[test]
fn grafana_dashboard_uses_only_metrics_the_module_emits() {
    assert_eq!(unknown_metrics(&model()), Vec::<String>::new());
}

#[test]
fn grafana_metric_scan_sees_what_it_should() {
    let names = metric_names(
        "histogram_quantile(0.95, sum by (route, le) (rate(a_bucket{job=~\"x|y\", route=\"/a b\"}[5m]))) / on (job) \
         group_left (route) b_total offset 5m > bool 1e3 and c:rule:rate1m + max without (x) (d)",
    );
    assert_eq!(names, ["a_bucket", "b_total", "c:rule:rate1m", "d"].iter().map(|s| (*s).to_owned()).collect());
}

#[test]
fn grafana_broken_copies_fail() {
    let text = dashboard_text();
    let unknown = text.replacen("meshlens_spans_dropped_total", "meshlens_spans_droped_total", 1);
    assert_ne!(unknown, text);
    let found = unknown_metrics(&serde_json::from_str(&unknown).unwrap());
    assert_eq!(found, ["meshlens_spans_droped_total"], "a metric the module does not emit");

    let unparsable = text.replacen("histogram_quantile(0.95, ", "histogram_quantile(0.95,, ", 1);
    assert_ne!(unparsable, text);
    let (ok, out) = check_expressions(&serde_json::from_str(&unparsable).unwrap(), "grafana-broken");
    assert!(!ok, "promtool accepted an expression that does not parse:\n{out}");
}

/// The Security row shows what the security alerts fire on: a panel on the access-failure ratio
/// recording rule whose red threshold is the `MeshlensAccessFailureRatio` threshold in the rules
/// (change one, the test asks for the other), beside the security events panel.
#[test]
fn grafana_security_panel_shows_the_ratio_alerts_threshold() {
    const RATIO: &str = "job:meshlens_security_responses:ratio_rate5m";
    let rules = std::fs::read_to_string(paths::repo_root().join(RULES)).unwrap();
    let threshold: f64 = rules
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{RATIO} > ")))
        .expect("the ratio alert's threshold")
        .trim()
        .parse()
        .unwrap();
    let model = model();
    let panels = model["panels"].as_array().unwrap();
    let panel = panels
        .iter()
        .find(|p| {
            p["targets"].as_array().is_some_and(|t| t.iter().any(|t| t["expr"].as_str().unwrap().starts_with(RATIO)))
        })
        .expect("a panel on the access-failure ratio");
    let steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"].as_array().unwrap();
    let red: Vec<f64> = steps.iter().filter(|s| s["color"] == "red").filter_map(|s| s["value"].as_f64()).collect();
    assert_eq!(red, [threshold], "the panel's red line is the alert's threshold");
    assert_eq!(panel["fieldConfig"]["defaults"]["unit"], "percentunit");
    // The row a panel sits in: the last row header above it.
    let row = |panel: &Json| {
        panels
            .iter()
            .rfind(|p| p["type"] == "row" && p["gridPos"]["y"].as_u64() <= panel["gridPos"]["y"].as_u64())
            .unwrap()["title"]
            .clone()
    };
    assert_eq!(row(panel), "Security", "in the Security row");
    let events = panels.iter().find(|p| p["title"] == "Security events").unwrap();
    assert_eq!(row(events), "Security");
}

/// Panels do not overlap on Grafana's 24-column grid.
#[test]
fn grafana_panels_do_not_overlap() {
    let model = model();
    let boxes: Vec<(String, u64, u64, u64, u64)> = model["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let g = &p["gridPos"];
            let n = |k: &str| g[k].as_u64().unwrap();
            (p["title"].as_str().unwrap().to_owned(), n("x"), n("y"), n("w"), n("h"))
        })
        .collect();
    for (i, a) in boxes.iter().enumerate() {
        assert!(a.1 + a.3 <= 24, "{} is wider than the grid", a.0);
        for b in &boxes[i + 1..] {
            let apart = a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1 || a.2 + a.4 <= b.2 || b.2 + b.4 <= a.2;
            assert!(apart, "{} overlaps {}", a.0, b.0);
        }
    }
}
