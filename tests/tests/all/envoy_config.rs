//! Every Envoy config shipped in `envoy-config/` passes `envoy --mode validate` with the built
//! module (which runs the module's `on_configure`), and a bad plugin config is refused with one
//! clear line naming the field.

use meshlens_tests::envoy::{self, TempDir, replace_plugin_config};
use meshlens_tests::paths;

fn bootstraps() -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![paths::repo_root().join("envoy-config")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml")
                && std::fs::read_to_string(&path).unwrap().contains("static_resources:")
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The config with the shipped module paths replaced by the modules `meshlens-tests-guests` built.
fn with_module(text: &str) -> String {
    text.replace(
        "target/wasm32-wasip1/release/edge_telemetry.wasm",
        &paths::edge_telemetry_wasm().display().to_string(),
    )
    .replace("target/wasm32-wasip1/release/minimal_header.wasm", &paths::minimal_header_wasm().display().to_string())
}

#[test]
fn every_shipped_envoy_config_validates() {
    let configs = bootstraps();
    assert!(!configs.is_empty(), "no Envoy bootstrap found in envoy-config/");
    let dir = TempDir::new("validate");
    for config in configs {
        let text = std::fs::read_to_string(&config).unwrap();
        let rendered = dir.0.join(config.file_name().unwrap());
        // The benchmark configs write their access log under `target/bench/`, which the load
        // runner creates; validation writes it into the scratch directory instead.
        let scratch = format!("{}/", dir.0.display());
        std::fs::write(&rendered, with_module(&text).replace("target/bench/", &scratch)).unwrap();
        // A native build is found through Envoy's module search path, which the native helper sets
        // to the built module's directory.
        let native = text.contains("dynamic_modules");
        let (ok, out) = if native { meshlens_tests::native::validate(&rendered) } else { envoy::validate(&rendered) };
        assert!(ok, "{} failed envoy --mode validate:\n{out}", config.display());
        // Configs that load meshlens must have run its on_configure (the benchmark's baselines
        // load no module, or the minimal one).
        if text.contains("edge_telemetry.wasm") {
            assert!(out.contains("meshlens: configured"), "module did not configure in {}:\n{out}", config.display());
        }
    }
}

#[test]
fn an_invalid_plugin_config_is_rejected_naming_the_field() {
    let dir = TempDir::new("badconfig");
    let text = std::fs::read_to_string(paths::repo_root().join("envoy-config/edge-gateway.yaml")).unwrap();
    for (plugin, expected) in [
        (
            r#"{"tracing": {"sampling": {"ratio": 2}}}"#,
            "invalid plugin configuration: tracing.sampling.ratio: must be a number from 0 to 1, got 2",
        ),
        (r#"{"tracing": {"exportr": {}}}"#, "invalid plugin configuration: tracing.exportr: unknown field `exportr`"),
    ] {
        let path = dir.0.join("bad.yaml");
        std::fs::write(&path, with_module(&replace_plugin_config(&text, plugin))).unwrap();
        let (ok, out) = envoy::validate(&path);
        assert!(!ok, "envoy accepted {plugin}");
        assert!(out.contains(expected), "expected `{expected}` in:\n{out}");
    }
}

/// The documented way to run each bootstrap keeps meshlens's access lines visible whatever `-l`
/// is: its run line, in the file and in `envoy-config/README.md`, raises the Wasm logger to the
/// level the tests start Envoy with.
#[test]
fn the_documented_run_lines_raise_the_wasm_logger_to_info() {
    let flag = format!("--component-log-level {}", envoy::LOG_INFO[3]);
    let readme = std::fs::read_to_string(paths::repo_root().join("envoy-config/README.md")).unwrap();
    for name in ["edge-gateway.yaml", "sidecar.yaml"] {
        let text = std::fs::read_to_string(paths::repo_root().join("envoy-config").join(name)).unwrap();
        let command = format!(".venv/bin/envoy -c envoy-config/{name}");
        let documented: Vec<&str> =
            text.lines().chain(readme.lines()).filter(|l| l.contains(&command)).map(str::trim).collect();
        assert!(documented.len() >= 2, "{name}: run lines in the file and the README: {documented:?}");
        for line in documented {
            assert!(line.contains(&flag), "{name}: `{line}` lacks {flag}");
        }
    }
}
