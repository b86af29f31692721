//! Other authors' modules (the proxy-wasm Rust SDK's examples, `../shared/third-party/`), run
//! through the `meshlens` CLI the way Envoy 1.40 runs them: plain-text configuration, scripted
//! callouts, gRPC local replies, upstream timing after a pause, failure policy, services.
//! The product never needs these files; only these tests read them.

use std::path::PathBuf;

use serde_json::Value;

use crate::cli::{meshlens, scratch, stderr};
use crate::support::repo_root;

/// A module of `../shared/third-party/rust-sdk-examples/`.
fn example(name: &str) -> String {
    let path: PathBuf = repo_root().parent().unwrap().join("shared/third-party/rust-sdk-examples").join(name);
    assert!(path.exists(), "missing {}", path.display());
    path.display().to_string()
}

/// Runs `meshlens run --wasm <example> --traffic <traffic> --format json` plus `extra`, with the
/// test's files written to a scratch directory (`files`: name, content); returns the report.
fn run(test: &str, module: &str, traffic: &str, files: &[(&str, &str)], extra: &[&str]) -> Value {
    let dir = scratch(test);
    std::fs::write(dir.join("traffic.jsonl"), traffic).unwrap();
    for (name, content) in files {
        std::fs::write(dir.join(name), content).unwrap();
    }
    let mut args: Vec<String> = vec![
        "run".into(),
        "--wasm".into(),
        example(module),
        "--traffic".into(),
        dir.join("traffic.jsonl").display().to_string(),
        "--format".into(),
        "json".into(),
    ];
    args.extend(extra.iter().map(|a| a.replace("$DIR", &dir.display().to_string())));
    let out = meshlens(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A header's value among `[name, value]` pairs.
fn header<'a>(pairs: &'a Value, name: &str) -> Option<&'a str> {
    pairs.as_array()?.iter().find(|p| p[0] == name).and_then(|p| p[1].as_str())
}

#[test]
fn a_plain_text_configuration_reaches_the_module_as_it_is() {
    // Envoy passes `configuration` byte for byte; http_config adds it as `custom-header`.
    let traffic = "{\"path\": \"/\"}\n";
    let report = run(
        "config_file",
        "http_config.wasm",
        traffic,
        &[("config.txt", "hello there")],
        &["--config", "$DIR/config.txt"],
    );
    let added = &report["exchanges"][0]["downstream"]["added"];
    assert_eq!(header(added, "custom-header"), Some("hello there"), "{added}");
    let report = run("config_raw", "http_config.wasm", traffic, &[], &["--config-raw", "\"quoted\""]);
    let added = &report["exchanges"][0]["downstream"]["added"];
    assert_eq!(header(added, "custom-header"), Some("\"quoted\""), "{added}");
}
