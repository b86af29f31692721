//! The shipped Istio resources (`envoy-config/istio/`) are what Istio accepts and what the module
//! accepts: every `WasmPlugin` and `Telemetry` document passes the independent CRD validator
//! against Istio's real CRDs (broken copies fail it), every `WasmPlugin`'s `pluginConfig`,
//! converted to JSON as Istio does, is accepted by the module's own `on_configure` in the harness
//! (a typo fails), and the bootstrap override carries exactly the gateway's `stats_tags`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use host_harness::{Host, Module};
use meshlens_tests::envoy::TempDir;
use meshlens_tests::paths;
use serde_json::{Value as Json, json};

const ISTIO_DIR: &str = "envoy-config/istio";

/// The WasmPlugin files: one combined, one per capability, and a sidecar's two tracing sides.
const WASM_PLUGINS: [&str; 6] = [
    "wasmplugin.yaml",
    "wasmplugin-tracing.yaml",
    "wasmplugin-metrics.yaml",
    "wasmplugin-logs.yaml",
    "wasmplugin-sidecar-inbound.yaml",
    "wasmplugin-sidecar-outbound.yaml",
];

/// What the shipped WasmPlugins carry in `spec.sha256`: a placeholder their comment tells the user
/// to replace with the digest `cargo xtask package` prints (a committed digest would be stale after
/// the next build of the module).
const PLACEHOLDER_SHA256: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn istio_file(name: &str) -> PathBuf {
    paths::repo_root().join(ISTIO_DIR).join(name)
}

fn crd(name: &str) -> PathBuf {
    paths::shared_dir().join("reference/istio").join(name)
}

/// Runs `validate_crd.py <crd> <file>`: (exit 0, stdout and stderr).
fn validate(crd: &Path, file: &Path) -> (bool, String) {
    let script = paths::shared_dir().join("tools/validate_crd.py");
    let out = Command::new(paths::python()).arg(script).arg(crd).arg(file).output().expect("run validate_crd.py");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Every YAML document of `file` as JSON (PyYAML, then `json.dumps`, as Istio turns
/// `pluginConfig` into the JSON string the module receives).
fn documents(file: &Path) -> Vec<Json> {
    let script = "import json, sys, yaml\nprint(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))";
    let out = Command::new(paths::python()).args(["-c", script]).arg(file).output().expect("run python");
    assert!(
        out.status.success(),
        "{} does not parse as YAML: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Json>>(&out.stdout).unwrap()
}

fn module() -> Module {
    static MODULE: OnceLock<Module> = OnceLock::new();
    MODULE.get_or_init(|| Module::from_file(paths::edge_telemetry_wasm()).unwrap()).clone()
}

/// Configures the module with `config` like Envoy does; `Err` when `on_configure` refuses it.
fn configure(config: &Json) -> Result<(), String> {
    configure_with_env(config, &json!(null))
}

/// Configures the module with a WasmPlugin's `pluginConfig` and the VM environment its
/// `vmConfig.env` declares: `INLINE` variables with their value, `HOST` ones (the proxy
/// container's environment) with a test value of 32 bytes.
fn configure_with_env(config: &Json, vm_env: &Json) -> Result<(), String> {
    let mut builder = Host::builder(&module()).root_id("meshlens").vm_id("meshlens").plugin_config(config.to_string());
    for var in vm_env.as_array().into_iter().flatten() {
        let name = var["name"].as_str().unwrap();
        let value = match var["valueFrom"].as_str() {
            Some("HOST") => "a-host-env-value-of-32-bytes-000",
            _ => var["value"].as_str().unwrap_or_default(),
        };
        builder = builder.env(name, value);
    }
    let host = builder.build();
    match host {
        Ok(host) => {
            let refused: Vec<_> =
                host.logs().iter().filter(|l| l.message.contains("invalid plugin configuration")).collect();
            assert!(refused.is_empty(), "configured, but logged a refusal: {refused:?}");
            Ok(())
        }
        Err(err) => Err(err.to_string()),
    }
}

/// Writes `text` to `name` in a fresh temp dir and returns the dir (kept alive) and the path.
fn write_temp(tag: &str, name: &str, text: &str) -> (TempDir, PathBuf) {
    let dir = TempDir::new(tag);
    let path = dir.0.join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "expected `{from}` exactly once");
    text.replacen(from, to, 1)
}

#[test]
fn istio_wasmplugins_pass_the_crd_schema() {
    for name in WASM_PLUGINS {
        let file = istio_file(name);
        let (ok, out) = validate(&crd("wasmplugin-crd.yaml"), &file);
        assert!(ok, "{name} fails the WasmPlugin CRD:\n{out}");
        let docs = documents(&file);
        let plugins = docs.iter().filter(|d| d["kind"] == "WasmPlugin").count();
        assert_eq!(plugins, 1, "{name} holds one WasmPlugin");
        assert_eq!(out.lines().filter(|l| l.starts_with("OK ")).count(), plugins, "{out}");
    }
}

#[test]
fn istio_wasmplugins_are_fail_open_stats_phase_and_pinned() {
    for name in WASM_PLUGINS {
        let docs = documents(&istio_file(name));
        let spec = &docs.iter().find(|d| d["kind"] == "WasmPlugin").unwrap()["spec"];
        assert_eq!(spec["failStrategy"], "FAIL_OPEN", "{name}");
        assert_eq!(spec["phase"], "STATS", "{name}");
        assert_eq!(spec["pluginName"], "meshlens", "{name}");
        assert!(spec["priority"].is_i64(), "{name}: priority");
        assert!(spec["imagePullPolicy"].is_string(), "{name}: imagePullPolicy");
        assert!(spec["url"].as_str().unwrap().starts_with("oci://"), "{name}: url");
        assert_eq!(spec["sha256"], PLACEHOLDER_SHA256, "{name}: the documented placeholder");
        let targets = ["selector", "targetRef", "targetRefs"].iter().filter(|k| !spec[**k].is_null()).count();
        assert_eq!(targets, 1, "{name}: exactly one of selector, targetRef, targetRefs");
    }
}

/// The manifest digest `cargo xtask package` computed and printed (hex, no `sha256:`), read from
/// the OCI layout it wrote (`cargo xtask test` runs it before the tests).
fn packaged_digest() -> String {
    let index = paths::repo_root().join("target/oci/meshlens-edge-telemetry/index.json");
    let text = std::fs::read(&index)
        .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask package`; cargo xtask test runs it)", index.display()));
    let index: Json = serde_json::from_slice(&text).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap();
    digest.strip_prefix("sha256:").unwrap_or_else(|| panic!("not a sha256 digest: {digest}")).to_owned()
}

#[test]
fn istio_wasmplugins_pinned_as_documented_carry_the_packaged_digest() {
    let digest = packaged_digest();
    assert!(
        digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "`cargo xtask package` digest is not 64 lowercase hex digits: {digest}"
    );
    assert_ne!(digest, PLACEHOLDER_SHA256, "the packaged digest is the placeholder");
    for name in WASM_PLUGINS {
        // What the file's comment says to do: replace the zeros with the digest package prints.
        let text = std::fs::read_to_string(istio_file(name)).unwrap();
        assert!(text.contains("cargo xtask package"), "{name}: the comment says where the digest comes from");
        let pinned = replace_once(&text, PLACEHOLDER_SHA256, &digest);
        let (_dir, path) = write_temp("istio-pinned", name, &pinned);
        let (ok, out) = validate(&crd("wasmplugin-crd.yaml"), &path);
        assert!(ok, "{name} pinned to {digest} fails the WasmPlugin CRD:\n{out}");
        let docs = documents(&path);
        let spec = &docs.iter().find(|d| d["kind"] == "WasmPlugin").unwrap()["spec"];
        assert_eq!(spec["sha256"], digest.as_str(), "{name}");
    }
}

#[test]
fn istio_telemetry_passes_the_crd_schema() {
    let file = istio_file("telemetry.yaml");
    let (ok, out) = validate(&crd("telemetry-crd.yaml"), &file);
    assert!(ok, "telemetry.yaml fails the Telemetry CRD:\n{out}");
    let docs = documents(&file);
    assert!(docs.iter().all(|d| d["kind"] == "Telemetry"));
    assert_eq!(out.lines().filter(|l| l.starts_with("OK ")).count(), docs.len(), "{out}");
    let edge = &docs[0]["spec"]["tracing"][0];
    assert_eq!(edge["disableSpanReporting"], true, "meshlens's span is the only one at the edge");
    assert_eq!(edge["randomSamplingPercentage"], 0);
}

#[test]
fn istio_broken_copies_fail_the_crd_schema() {
    let plugin = std::fs::read_to_string(istio_file("wasmplugin.yaml")).unwrap();
    let broken = [
        ("bogus-phase", replace_once(&plugin, "phase: STATS", "phase: BOGUS")),
        ("unknown-field", replace_once(&plugin, "  phase: STATS", "  phase: STATS\n  failurePolicy: FAIL_OPEN")),
        ("bad-sha", replace_once(&plugin, "\"0000000000000000", "\"sha256:0000000000000000")),
    ];
    for (tag, text) in broken {
        let (_dir, path) = write_temp(&format!("istio-{tag}"), "wasmplugin.yaml", &text);
        let (ok, out) = validate(&crd("wasmplugin-crd.yaml"), &path);
        assert!(!ok, "the {tag} copy passed:\n{out}");
        assert!(out.contains("INVALID"), "{tag}: {out}");
    }
    let telemetry = std::fs::read_to_string(istio_file("telemetry.yaml")).unwrap();
    let text = replace_once(&telemetry, "disableSpanReporting: true", "disableSpanReporting: true\n      sampling: 0");
    let (_dir, path) = write_temp("istio-telemetry-unknown", "telemetry.yaml", &text);
    let (ok, out) = validate(&crd("telemetry-crd.yaml"), &path);
    assert!(!ok, "the Telemetry copy with an unknown field passed:\n{out}");
}

#[test]
fn istio_plugin_configs_are_accepted_by_the_module() {
    for name in WASM_PLUGINS {
        let docs = documents(&istio_file(name));
        let spec = &docs.iter().find(|d| d["kind"] == "WasmPlugin").unwrap()["spec"];
        let config = &spec["pluginConfig"];
        assert!(config.is_object(), "{name}: pluginConfig");
        if let Err(err) = configure_with_env(config, &spec["vmConfig"]["env"]) {
            panic!("the module refuses the pluginConfig of {name}: {err}\n{config:#}");
        }
    }
}

#[test]
fn istio_plugin_configs_enable_the_intended_capabilities() {
    let section = |name: &str| {
        let docs = documents(&istio_file(name));
        let config = docs.iter().find(|d| d["kind"] == "WasmPlugin").unwrap()["spec"]["pluginConfig"].clone();
        let on = |key: &str| config[key]["enabled"] != json!(false);
        (on("tracing"), on("metrics"), on("access_log"))
    };
    assert_eq!(section("wasmplugin.yaml"), (true, true, true));
    assert_eq!(section("wasmplugin-tracing.yaml"), (true, false, false));
    assert_eq!(section("wasmplugin-metrics.yaml"), (false, true, false));
    assert_eq!(section("wasmplugin-logs.yaml"), (false, false, true));
    assert_eq!(section("wasmplugin-sidecar-inbound.yaml"), (true, false, false));
    assert_eq!(section("wasmplugin-sidecar-outbound.yaml"), (true, false, false));
}

/// Which spans each tracing plugin records, and on which side Istio loads it: Istio's
/// WorkloadMode (`match[].mode`) classes a gateway's listeners as CLIENT, a sidecar's inbound
/// ones as SERVER and its outbound ones as CLIENT (pilot's `workloadModeForListenerClass`); a
/// selector without a mode matches every listener.
#[test]
fn istio_tracing_plugins_match_the_side_their_client_span_mode_is_for() {
    let expected = [
        ("wasmplugin.yaml", None, "child"),
        ("wasmplugin-tracing.yaml", None, "child"),
        ("wasmplugin-sidecar-inbound.yaml", Some("SERVER"), "off"),
        ("wasmplugin-sidecar-outbound.yaml", Some("CLIENT"), "only"),
    ];
    for (name, mode, client_span) in expected {
        let docs = documents(&istio_file(name));
        let spec = &docs.iter().find(|d| d["kind"] == "WasmPlugin").unwrap()["spec"];
        let modes: Vec<&str> =
            spec["match"].as_array().into_iter().flatten().filter_map(|m| m["mode"].as_str()).collect();
        assert_eq!(modes.first().copied(), mode, "{name}: match mode");
        assert_eq!(modes.len(), usize::from(mode.is_some()), "{name}");
        // `child` is the default: a plugin that does not say so records both spans.
        let configured = spec["pluginConfig"]["tracing"]["client_span"].as_str().unwrap_or("child");
        assert_eq!(configured, client_span, "{name}: tracing.client_span");
    }
}

#[test]
fn istio_plugin_config_typos_are_refused_by_the_module() {
    let docs = documents(&istio_file("wasmplugin.yaml"));
    let config = docs[0]["spec"]["pluginConfig"].clone();
    let mut typo = config.clone();
    let tracing = typo["tracing"].as_object_mut().unwrap();
    let exporter = tracing.remove("exporter").unwrap();
    tracing.insert("exportr".to_owned(), exporter);
    assert!(configure(&typo).is_err(), "a misspelt field was accepted");
    let mut bad_value = config;
    bad_value["tracing"]["sampling"]["ratio"] = json!(2);
    assert!(configure(&bad_value).is_err(), "a sampling ratio of 2 was accepted");
    // The tracing example's custom span attributes: accepted as shipped, refused with a key
    // meshlens sets itself or an Envoy attribute off the allow list.
    let docs = documents(&istio_file("wasmplugin-tracing.yaml"));
    let config = docs[0]["spec"]["pluginConfig"].clone();
    assert!(!config["tracing"]["attributes"].as_array().unwrap().is_empty());
    let mut reserved = config.clone();
    reserved["tracing"]["attributes"][0]["key"] = json!("client.address");
    assert!(configure(&reserved).unwrap_err().contains("tracing.attributes[0].key"));
    let mut unlisted = config;
    unlisted["tracing"]["attributes"][1]["from"] = json!({"property": ["request", "headers", "authorization"]});
    assert!(configure(&unlisted).unwrap_err().contains("tracing.attributes[1].from.property"));
}

#[test]
fn istio_bootstrap_override_carries_the_gateway_stats_tags() {
    let docs = documents(&istio_file("sidecar-stats-tags.yaml"));
    assert_eq!(docs[0]["kind"], "ConfigMap");
    let bootstrap: Json = serde_json::from_str(docs[0]["data"]["custom_bootstrap.json"].as_str().unwrap()).unwrap();
    let gateway = documents(&paths::repo_root().join("envoy-config/edge-gateway.yaml"));
    assert_eq!(bootstrap["stats_config"]["stats_tags"], gateway[0]["stats_config"]["stats_tags"]);
    assert_eq!(bootstrap.as_object().unwrap().len(), 1, "the override adds stats tags only");
}

#[test]
fn istio_podmonitor_scrapes_envoy_prometheus_endpoint() {
    let docs = documents(&istio_file("podmonitor.yaml"));
    assert_eq!(docs[0]["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(docs[0]["kind"], "PodMonitor");
    let endpoint = &docs[0]["spec"]["podMetricsEndpoints"][0];
    assert_eq!(endpoint["path"], "/stats/prometheus");
    assert_eq!(endpoint["port"], "http-envoy-prom");
    // The request metrics: scraped where the plugins that serve them run, at their path.
    for (monitor, plugin) in [(&docs[1], "wasmplugin-metrics.yaml"), (&docs[2], "wasmplugin.yaml")] {
        let spec = &documents(&istio_file(plugin))[0]["spec"];
        let endpoint = &monitor["spec"]["podMetricsEndpoints"][0];
        assert_eq!(endpoint["path"], spec["pluginConfig"]["metrics"]["endpoint"]["path"], "{plugin}");
        assert_eq!(monitor["spec"]["selector"]["matchLabels"], spec["selector"]["matchLabels"], "{plugin}");
        if let Some(port) = spec["match"][0]["ports"][0]["number"].as_u64() {
            assert_eq!(endpoint["targetPort"].as_u64(), Some(port), "{plugin}: the port the plugin runs on");
        }
    }
}

#[test]
fn the_logs_plugin_keys_query_hash_from_the_proxy_environment() {
    let docs = documents(&istio_file("wasmplugin-logs.yaml"));
    let spec = &docs.iter().find(|d| d["kind"] == "WasmPlugin").unwrap()["spec"];
    assert_eq!(spec["vmConfig"]["env"], json!([{"name": "MESHLENS_QUERY_HASH_KEY", "valueFrom": "HOST"}]));
    assert_eq!(spec["pluginConfig"]["access_log"]["query_hash"], json!({"key_env": "MESHLENS_QUERY_HASH_KEY"}));
    // A proxy without the variable refuses the plugin, naming the field.
    let err = configure(&spec["pluginConfig"]).unwrap_err();
    assert!(err.contains("access_log.query_hash.key_env"), "{err}");
}

/// The pod annotation that sets the proxy's `wasm` logger level, per plugin that writes access
/// lines to the proxy log: the patch of the pods the plugin selects.
const LOG_LEVEL_PATCHES: [(&str, &str); 2] =
    [("wasmplugin.yaml", "gateway-log-level.yaml"), ("wasmplugin-logs.yaml", "sidecar-log-level.yaml")];
const COMPONENT_LOG_LEVEL: &str = "sidecar.istio.io/componentLogLevel";

/// Whether the module, configured with a WasmPlugin's spec in a proxy logging at `level`, warns
/// that its access lines are invisible.
fn warns_of_invisible_lines(spec: &Json, level: host_harness::LogLevel) -> bool {
    let mut builder = Host::builder(&module())
        .root_id("meshlens")
        .vm_id("meshlens")
        .plugin_config(spec["pluginConfig"].to_string())
        .log_level(level);
    for var in spec["vmConfig"]["env"].as_array().into_iter().flatten() {
        builder = builder.env(var["name"].as_str().unwrap(), "a-host-env-value-of-32-bytes-000");
    }
    let host = builder.build().unwrap();
    host.logs().iter().any(|l| l.message.contains("--component-log-level"))
}

/// The `wasm:LEVEL` value of a component-log-level annotation, as the harness's level.
fn wasm_level(annotation: &str) -> host_harness::LogLevel {
    let level = annotation.split(',').find_map(|c| c.strip_prefix("wasm:")).expect("a wasm component level");
    match level {
        "trace" => host_harness::LogLevel::Trace,
        "debug" => host_harness::LogLevel::Debug,
        "info" => host_harness::LogLevel::Info,
        "warning" => host_harness::LogLevel::Warn,
        "error" => host_harness::LogLevel::Error,
        other => panic!("not an Envoy log level: {other}"),
    }
}

/// The shipped pod-template patches are what makes the access lines visible: on the pods of
/// each plugin that writes them, at Istio's default proxy level (`warning`) the module warns
/// that Envoy drops its lines, and at the `wasm` level the patch sets it does not. The patch
/// touches the pod template's annotations only (on the Deployment's own metadata the annotation
/// would do nothing). Real Envoy with the same value is `envoy_log_level`'s test.
#[test]
fn istio_log_level_patches_make_the_access_lines_visible() {
    for (plugin, patch) in LOG_LEVEL_PATCHES {
        let docs = documents(&istio_file(patch));
        assert_eq!(docs.len(), 1, "{patch}: one patch");
        let annotation = docs[0]["spec"]["template"]["metadata"]["annotations"][COMPONENT_LOG_LEVEL]
            .as_str()
            .unwrap_or_else(|| panic!("{patch}: no {COMPONENT_LOG_LEVEL} on the pod template"));
        let only = json!({"spec": {"template": {"metadata": {"annotations": {COMPONENT_LOG_LEVEL: annotation}}}}});
        assert_eq!(docs[0], only, "{patch} changes nothing else");
        let plugin_docs = documents(&istio_file(plugin));
        let spec = &plugin_docs.iter().find(|d| d["kind"] == "WasmPlugin").unwrap()["spec"];
        assert!(
            warns_of_invisible_lines(spec, host_harness::LogLevel::Warn),
            "{plugin}: at Istio's default level the module warns"
        );
        assert!(!warns_of_invisible_lines(spec, wasm_level(annotation)), "{plugin} with {patch}: {annotation}");
    }
}

/// A minimal `app=chat2sql` Deployment with `patch` merged in as `kubectl patch` merges maps,
/// validated by `kubernetes-validate` against Kubernetes 1.37's own JSON schema, strictly
/// (unknown fields fail): `(valid, output)`.
fn patched_deployment_is_valid(patch: &Path) -> (bool, String) {
    let script = r#"
import sys, yaml, kubernetes_validate
base = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "chat2sql"},
        "spec": {"selector": {"matchLabels": {"app": "chat2sql"}},
                 "template": {"metadata": {"labels": {"app": "chat2sql"}},
                              "spec": {"containers": [{"name": "app", "image": "chat2sql:1"}]}}}}
def merge(into, patch):
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value
merge(base, yaml.safe_load(open(sys.argv[1])))
try:
    kubernetes_validate.validate(base, "1.37.0", strict=True)
except kubernetes_validate.ValidationError as e:
    sys.exit("invalid: %s at %s" % (e.message, "/".join(str(p) for p in e.path)))
print("valid:", base["spec"]["template"]["metadata"]["annotations"])
"#;
    let out = Command::new(paths::python()).args(["-c", script]).arg(patch).output().expect("run python");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Each log-level patch, merged into a Deployment, passes Kubernetes' own schema; the same
/// annotation one level off (on `spec.template` itself, where it would do nothing) fails it.
#[test]
fn istio_log_level_patches_pass_the_kubernetes_deployment_schema() {
    for (_, patch) in LOG_LEVEL_PATCHES {
        let (ok, out) = patched_deployment_is_valid(&istio_file(patch));
        assert!(ok, "{patch}: {out}");
        assert!(out.contains(COMPONENT_LOG_LEVEL), "{patch}: {out}");
    }
    let text = std::fs::read_to_string(istio_file("sidecar-log-level.yaml")).unwrap();
    let misplaced = replace_once(&text, "    metadata:\n      annotations:", "    annotations:\n      x:");
    let (_dir, path) = write_temp("k8s-misplaced", "patch.yaml", &misplaced);
    let (ok, out) = patched_deployment_is_valid(&path);
    assert!(!ok, "a misplaced annotation passed: {out}");
    assert!(out.contains("annotations"), "{out}");
}

/// The shipped Istio value of the `wasm` component level, for the real-Envoy test.
pub fn shipped_component_log_level() -> String {
    let docs = documents(&istio_file("sidecar-log-level.yaml"));
    docs[0]["spec"]["template"]["metadata"]["annotations"][COMPONENT_LOG_LEVEL].as_str().unwrap().to_owned()
}
