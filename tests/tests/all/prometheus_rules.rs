//! The shipped Prometheus files pass the real `promtool`: the scrape config and every rules file
//! check, every rules unit test passes, and broken copies fail (so the checks can fail). The
//! Kubernetes PrometheusRule carries exactly the groups of the plain rules file.

use std::path::{Path, PathBuf};
use std::process::Command;

use meshlens_tests::envoy::TempDir;
use meshlens_tests::paths;
use meshlens_tests::prometheus::promtool;

const RULES: &str = "envoy-config/prometheus/meshlens.rules.yml";
const RULES_TEST: &str = "envoy-config/prometheus/meshlens.rules.test.yml";

/// Every file under `envoy-config/` whose name ends with `suffix`, sorted.
fn shipped(suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![paths::repo_root().join("envoy-config")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.file_name().is_some_and(|n| n.to_string_lossy().ends_with(suffix)) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Runs `promtool <command...> <file>` in the file's directory (rule_files paths are relative).
fn promtool_on(command: &[&str], file: &Path) -> (bool, String) {
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let args: Vec<&str> = command.iter().copied().chain([name.as_str()]).collect();
    promtool(&args, file.parent().unwrap())
}

/// Copies the shipped rules and their tests into a temp dir, edits them, runs the tests.
fn test_edited(tag: &str, edit_rules: impl Fn(&str) -> String, edit_tests: impl Fn(&str) -> String) -> (bool, String) {
    let dir = TempDir::new(tag);
    let root = paths::repo_root();
    let rules = std::fs::read_to_string(root.join(RULES)).unwrap();
    let tests = std::fs::read_to_string(root.join(RULES_TEST)).unwrap();
    let (edited_rules, edited_tests) = (edit_rules(&rules), edit_tests(&tests));
    assert!(edited_rules != rules || edited_tests != tests, "the edit changed nothing");
    std::fs::write(dir.0.join("meshlens.rules.yml"), edited_rules).unwrap();
    std::fs::write(dir.0.join("meshlens.rules.test.yml"), edited_tests).unwrap();
    promtool_on(&["test", "rules"], &dir.0.join("meshlens.rules.test.yml"))
}

/// Replaces exactly one occurrence of `from` in `text`.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "expected `{from}` exactly once");
    text.replacen(from, to, 1)
}

#[test]
fn the_scrape_config_passes_promtool_check_config() {
    let config = paths::repo_root().join("envoy-config/prometheus/prometheus.yml");
    let (ok, out) = promtool_on(&["check", "config"], &config);
    assert!(ok, "promtool check config {}:\n{out}", config.display());
    // It loads the shipped rules and scrapes, in one job, both endpoints of edge-gateway.yaml:
    // the module's metrics listener and Envoy's admin.
    assert!(out.contains("1 rule files found"), "{out}");
    let text = std::fs::read_to_string(&config).unwrap();
    let gateway = std::fs::read_to_string(paths::repo_root().join("envoy-config/edge-gateway.yaml")).unwrap();
    for (port, path) in [(9464, "/meshlens/metrics"), (9901, "/stats/prometheus")] {
        let target = format!("- targets: [\"127.0.0.1:{port}\"]\n        labels: {{__metrics_path__: {path}}}");
        assert!(text.contains(&target), "scrape target {port} {path}");
        assert!(
            gateway.contains(&format!("address: 127.0.0.1, port_value: {port} }}")),
            "edge-gateway.yaml port {port}"
        );
    }
    assert!(gateway.contains("\"path\": \"/meshlens/metrics\""), "the endpoint path of edge-gateway.yaml");
}

#[test]
fn every_rules_file_passes_promtool_check_rules_and_has_tests() {
    let files: Vec<PathBuf> =
        shipped(".rules.yml").into_iter().filter(|p| !p.to_string_lossy().ends_with(".test.yml")).collect();
    let names: Vec<String> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert!(
        names.contains(&"meshlens.rules.yml".into()) && names.contains(&"chat2sql.rules.yml".into()),
        "rules files found: {names:?}"
    );
    for file in files {
        let (ok, out) = promtool_on(&["check", "rules"], &file);
        assert!(ok, "promtool check rules {}:\n{out}", file.display());
        let tests =
            file.with_file_name(file.file_name().unwrap().to_string_lossy().replace(".rules.yml", ".rules.test.yml"));
        assert!(tests.exists(), "{} has no unit tests ({} missing)", file.display(), tests.display());
    }
}

#[test]
fn every_rules_test_file_passes_promtool_test_rules() {
    let files = shipped(".rules.test.yml");
    assert!(files.len() >= 2, "rules test files found: {files:?}");
    for file in files {
        let (ok, out) = promtool_on(&["test", "rules"], &file);
        assert!(ok, "promtool test rules {}:\n{out}", file.display());
        assert!(out.contains("SUCCESS"), "{out}");
    }
}

#[test]
fn a_bad_promql_expression_fails_promtool_check_rules() {
    let dir = TempDir::new("badrules");
    let text = std::fs::read_to_string(paths::repo_root().join(RULES)).unwrap();
    // An unbalanced parenthesis in the request-rate recording rule.
    let broken = replace_once(
        &text,
        "expr: sum by (job, reporter, route) (rate(meshlens_http_requests_total[1m]))",
        "expr: sum by (job, reporter, route) (rate(meshlens_http_requests_total[1m])",
    );
    let file = dir.0.join("meshlens.rules.yml");
    std::fs::write(&file, broken).unwrap();
    let (ok, out) = promtool_on(&["check", "rules"], &file);
    assert!(!ok, "promtool accepted a broken expression:\n{out}");
    assert!(out.contains("parse error"), "{out}");
}

#[test]
fn a_test_expecting_an_alert_that_does_not_fire_fails() {
    // In "latency just under 1s does not fire", expect the alert at 9m anyway.
    let (ok, out) = test_edited("wrongtest", str::to_owned, |tests| {
        let start = tests.find("- name: latency just under 1s does not fire").unwrap();
        let end = start + tests[start..].find("\n  - name:").unwrap();
        let section = &tests[start..end];
        let last = section.rfind("exp_alerts: []").unwrap();
        let expected = "exp_alerts:\n          - exp_labels:\n              severity: warning\n              \
                            component: edge\n              job: meshlens-gateway\n              \
                            reporter: gateway\n              route: /api/v1/query";
        format!("{}{}{}{}", &tests[..start], &section[..last], expected, &tests[start + last + 14..])
    });
    assert!(!ok, "promtool passed a test expecting an alert that should not fire:\n{out}");
    assert!(out.contains("alertname: MeshlensHighRequestLatency"), "{out}");
}

#[test]
fn a_rule_that_stops_firing_fails_its_test() {
    // With the latency threshold raised to 2 s, the 1.75 s p95 of the firing test stays silent.
    let (ok, out) = test_edited(
        "wrongrule",
        |rules| {
            replace_once(
                rules,
                "expr: route:meshlens_http_request_duration_seconds:p95_1m > 1\n",
                "expr: route:meshlens_http_request_duration_seconds:p95_1m > 2\n",
            )
        },
        str::to_owned,
    );
    assert!(!ok, "promtool passed although the alert no longer fires:\n{out}");
    assert!(out.contains("alertname: MeshlensHighRequestLatency"), "{out}");
}

#[test]
fn the_prometheusrule_has_exactly_the_groups_of_the_plain_rules_file() {
    let root = paths::repo_root();
    let script = "import sys, json, yaml\n\
                  plain = yaml.safe_load(open(sys.argv[1]))\n\
                  crd = yaml.safe_load(open(sys.argv[2]))\n\
                  assert crd['apiVersion'] == 'monitoring.coreos.com/v1', crd['apiVersion']\n\
                  assert crd['kind'] == 'PrometheusRule', crd['kind']\n\
                  assert crd['metadata']['name'], 'metadata.name'\n\
                  if plain['groups'] != crd['spec']['groups']:\n\
                  \x20   print('plain:', json.dumps(plain['groups'], indent=1))\n\
                  \x20   print('PrometheusRule:', json.dumps(crd['spec']['groups'], indent=1))\n\
                  \x20   sys.exit('spec.groups differs from the groups of the plain rules file')\n\
                  print(len(plain['groups']), 'groups identical')\n";
    let out = Command::new(paths::python())
        .args(["-c", script])
        .arg(root.join(RULES))
        .arg(root.join("envoy-config/kubernetes/prometheusrule.yaml"))
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("2 groups identical"), "{text}");
}
