//! The shipped Alertmanager config (`envoy-config/alertmanager/alertmanager.yml`) passes the real
//! `amtool check-config`, a broken copy fails it, and alerts with the labels the shipped rules
//! set (`severity`, `component`) reach the intended receivers (`amtool config routes test`).

use std::path::{Path, PathBuf};
use std::process::Command;

use meshlens_tests::envoy::TempDir;
use meshlens_tests::paths;
use serde_json::Value as Json;

const CONFIG: &str = "envoy-config/alertmanager/alertmanager.yml";

fn config() -> PathBuf {
    paths::repo_root().join(CONFIG)
}

/// Runs `amtool <args>`: (exit 0, stdout, stderr).
fn amtool(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(paths::amtool()).args(args).output().expect("run amtool");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn check_config(file: &Path) -> (bool, String) {
    let (ok, out, err) = amtool(&["check-config", &file.to_string_lossy()]);
    (ok, format!("{out}{err}"))
}

/// The receivers an alert with `labels` is routed to, in order.
fn routes(labels: &[&str]) -> Vec<String> {
    let flag = format!("--config.file={}", config().display());
    let args: Vec<&str> =
        ["config", "routes", "test", flag.as_str()].into_iter().chain(labels.iter().copied()).collect();
    let (ok, out, err) = amtool(&args);
    assert!(ok, "amtool config routes test {labels:?} failed: {out}{err}");
    out.trim().split(',').map(str::to_owned).collect()
}

/// The config as JSON (PyYAML).
fn parsed() -> Json {
    let script = "import json, sys, yaml\nprint(json.dumps(yaml.safe_load(open(sys.argv[1]))))";
    let out = Command::new(paths::python()).args(["-c", script]).arg(config()).output().expect("run python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn alertmanager_config_passes_amtool_check_config() {
    let (ok, out) = check_config(&config());
    assert!(ok, "amtool check-config failed:\n{out}");
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn alertmanager_broken_copies_fail_amtool_check_config() {
    let text = std::fs::read_to_string(config()).unwrap();
    let broken = [
        // A route to a receiver that does not exist.
        ("unknown-receiver", text.replacen("receiver: platform-team", "receiver: platform-teem", 1)),
        // A misspelt key (Alertmanager rejects unknown fields).
        ("unknown-field", text.replacen("group_wait: 30s", "group_wiat: 30s", 1)),
        // A matcher that does not parse.
        ("bad-matcher", text.replacen("['severity=\"critical\"']", "['severity=~\"(critical\"']", 1)),
    ];
    for (tag, copy) in broken {
        assert_ne!(copy, text, "{tag}: the edit changed nothing");
        let dir = TempDir::new(&format!("alertmanager-{tag}"));
        let path = dir.0.join("alertmanager.yml");
        std::fs::write(&path, copy).unwrap();
        let (ok, out) = check_config(&path);
        assert!(!ok, "the {tag} copy passed amtool check-config:\n{out}");
    }
}

#[test]
fn alertmanager_routes_alerts_by_severity_and_component() {
    let cases: [(&[&str], &[&str]); 10] = [
        (&["severity=critical", "component=edge"], &["pager", "service-team"]),
        (&["severity=warning", "component=edge"], &["service-team"]),
        (&["severity=critical", "component=chat2sql"], &["pager", "service-team"]),
        (&["severity=warning", "component=chat2sql"], &["service-team"]),
        (&["severity=warning", "component=telemetry"], &["platform-team"]),
        (&["severity=critical", "component=telemetry"], &["pager", "platform-team"]),
        (&["severity=warning", "component=security"], &["security-team"]),
        (&["severity=critical", "component=security"], &["pager", "security-team"]),
        (&["severity=critical", "component=unknown"], &["pager"]),
        (&["severity=info", "component=unknown"], &["default"]),
    ];
    for (labels, expected) in cases {
        assert_eq!(routes(labels), expected, "labels {labels:?}");
    }
    // The shipped alerts, with the labels their rules set.
    let alerts: [(&[&str], &[&str]); 6] = [
        (
            &["alertname=MeshlensHighErrorRatio", "severity=critical", "component=edge", "route=/api/v1/query"],
            &["pager", "service-team"],
        ),
        (&["alertname=MeshlensHighRequestLatency", "severity=warning", "component=edge"], &["service-team"]),
        (&["alertname=MeshlensTelemetryExportFailing", "severity=warning", "component=telemetry"], &["platform-team"]),
        (&["alertname=HighSQLQueryLatency", "severity=warning", "component=chat2sql"], &["service-team"]),
        (
            &[
                "alertname=MeshlensSecurityEvent",
                "severity=warning",
                "component=security",
                "instance=10.0.0.1:9901",
                "event_type=access_failure_burst",
            ],
            &["security-team"],
        ),
        (
            &["alertname=MeshlensAccessFailureRatio", "severity=warning", "component=security", "kind=unauthorized"],
            &["security-team"],
        ),
    ];
    for (labels, expected) in alerts {
        assert_eq!(routes(labels), expected, "labels {labels:?}");
    }
}

/// The security receiver gets the security alerts and nothing else: no other component's alert
/// reaches it, and the security route sits before the team routes so that a security alert is
/// never taken by them. A copy without the route sends security warnings to `default`.
#[test]
fn alertmanager_security_alerts_have_their_own_receiver() {
    for component in ["edge", "chat2sql", "telemetry", "unknown"] {
        for severity in ["warning", "critical"] {
            let labels = [format!("severity={severity}"), format!("component={component}")];
            let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
            assert!(!routes(&labels).contains(&"security-team".to_owned()), "{labels:?}");
        }
    }
    let config = parsed();
    let receivers: Vec<&str> =
        config["route"]["routes"].as_array().unwrap().iter().filter_map(|r| r["receiver"].as_str()).collect();
    let security = receivers.iter().position(|r| *r == "security-team").expect("a security route");
    assert_eq!(config["route"]["routes"][security]["matchers"], serde_json::json!(["component=\"security\""]));
    assert!(security < receivers.iter().position(|r| *r == "service-team").unwrap());

    let text = std::fs::read_to_string(self::config()).unwrap();
    let start = text.find("    - matchers: ['component=\"security\"']").unwrap();
    let end = start + text[start..].find("\n    # The service team").unwrap();
    let dir = TempDir::new("alertmanager-no-security");
    let path = dir.0.join("alertmanager.yml");
    std::fs::write(&path, format!("{}{}", &text[..start], &text[end + 1..])).unwrap();
    let flag = format!("--config.file={}", path.display());
    let (ok, out, err) = amtool(&["config", "routes", "test", &flag, "severity=warning", "component=security"]);
    assert!(ok, "{out}{err}");
    assert_eq!(out.trim(), "default", "without the route, security warnings fall through");
}

#[test]
fn alertmanager_criticals_inhibit_warnings_of_the_same_alert_and_route() {
    let config = parsed();
    let rules = config["inhibit_rules"].as_array().unwrap();
    let generic = rules
        .iter()
        .find(|r| r["source_matchers"] == serde_json::json!(["severity=\"critical\""]))
        .expect("an inhibit rule from every critical");
    assert_eq!(generic["target_matchers"], serde_json::json!(["severity=\"warning\""]));
    let equal: Vec<&str> = generic["equal"].as_array().unwrap().iter().filter_map(Json::as_str).collect();
    assert!(equal.contains(&"alertname") && equal.contains(&"route"), "{equal:?}");
}

#[test]
fn alertmanager_webhooks_are_placeholders_without_secrets() {
    let config = parsed();
    let mut urls = Vec::new();
    for receiver in config["receivers"].as_array().unwrap() {
        for hook in receiver["webhook_configs"].as_array().into_iter().flatten() {
            urls.push(hook["url"].as_str().unwrap().to_owned());
            assert!(hook.get("http_config").is_none(), "no credentials inline: {hook}");
        }
    }
    assert!(!urls.is_empty());
    for url in urls {
        assert!(url.contains(".example.invalid/"), "webhook URL {url} is not a documented placeholder");
    }
}
