//! The native floor probe (`benches/native-probe`) in a real Envoy 1.40, in the bootstrap
//! `cargo xtask bench-envoy --floor` runs it in (`envoy-config/bench/native-probe.yaml.tmpl`):
//! Envoy loads it by name and it answers in every mode, and in `essential` and `mimic` its work
//! shows.
//!
//! Needs Envoy and the built probe: compiled only with the `e2e` feature, which
//! `cargo xtask test` turns on after building the probe (it exports `MESHLENS_NATIVE_PROBE`).
#![cfg(feature = "e2e")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use meshlens_benches::envoy::{Envoy, Start, free_port, get};

const TEMPLATE: &str = "envoy-config/bench/native-probe.yaml.tmpl";
const LIBRARY: &str = "libmeshlens_native_probe.so";

/// What one Envoy running the probe in a mode answered, and what it logged.
struct Outcome {
    reply: String,
    log: String,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The built probe (`$MESHLENS_NATIVE_PROBE`, else `target/native/libmeshlens_native_probe.so`).
fn library() -> PathBuf {
    let path = std::env::var_os("MESHLENS_NATIVE_PROBE")
        .map_or_else(|| root().join("target/native").join(LIBRARY), PathBuf::from);
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build -p native-probe --profile native` (`cargo xtask test` does)",
        path.display()
    );
    assert_eq!(path.file_name().and_then(|n| n.to_str()), Some(LIBRARY), "Envoy loads the probe by this name");
    path
}

/// Starts Envoy with the template in `mode`, sends one request, and waits (at most 20 s) until
/// the log holds `expected_in_log`.
fn run(mode: &str, expected_in_log: &str) -> Outcome {
    let root = root();
    let library = library();
    let envoy_bin = std::env::var_os("MESHLENS_ENVOY").map_or_else(|| root.join(".venv/bin/envoy"), PathBuf::from);
    let work = root.join("target/tmp").join(format!("native-probe-{mode}-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let yaml = std::fs::read_to_string(root.join(TEMPLATE)).unwrap().replace("NATIVE_PROBE_MODE", mode);
    let envoy = Envoy::start(&Start {
        yaml: &yaml,
        label: mode,
        log: mode,
        root: &root,
        work: &work,
        envoy_bin: &envoy_bin,
        collector: free_port().unwrap(),
        modules: library.parent(),
        callgrind: None,
    })
    .unwrap();
    let reply = get(envoy.listener, "/api/v1/query").unwrap().to_ascii_lowercase();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut log = std::fs::read_to_string(&envoy.log).unwrap_or_default();
    while !log.contains(expected_in_log) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        log = std::fs::read_to_string(&envoy.log).unwrap_or_default();
    }
    drop(envoy);
    let _ = std::fs::remove_dir_all(&work);
    Outcome { reply, log }
}

#[test]
fn the_probe_loads_by_name_and_answers_in_every_mode() {
    let matched = "Dynamic module ABI version v0.2.0 matched.";
    let line = "x".repeat(420);

    let essential = run("essential", &line);
    assert!(essential.reply.starts_with("http/1.1 200"), "{}", essential.reply);
    assert!(essential.reply.contains("\r\nx-trace-id: 4bf92f3577b34da6a3ce929d0e0e4736\r\n"), "{}", essential.reply);
    assert!(essential.log.contains(matched), "{}", essential.log);
    assert!(essential.log.contains(&format!("[dynamic_modules] [:] {line}\n")), "{}", essential.log);
    assert!(!essential.reply.contains("traceresponse"), "{}", essential.reply);

    // `mimic` writes what meshlens writes: `traceresponse` too.
    let mimic = run("mimic", &line);
    assert!(mimic.reply.starts_with("http/1.1 200"), "{}", mimic.reply);
    assert!(mimic.reply.contains("\r\nx-trace-id: 4bf92f3577b34da6a3ce929d0e0e4736\r\n"), "{}", mimic.reply);
    assert!(
        mimic.reply.contains("\r\ntraceresponse: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"),
        "{}",
        mimic.reply
    );
    assert!(mimic.log.contains(&format!("[dynamic_modules] [:] {line}\n")), "{}", mimic.log);

    let none = run("none", matched);
    assert!(none.reply.starts_with("http/1.1 200"), "{}", none.reply);
    assert!(!none.reply.contains("x-trace-id"), "{}", none.reply);
    assert!(none.log.contains(matched), "{}", none.log);
    assert!(!none.log.contains(&line), "`none` makes no callback, so writes no line");
}
