//! `cargo xtask`: what cargo alone cannot do for meshlens.
//!
//! - `cargo xtask demo`: build the module and replay the built-in Chat2SQL sample traffic through
//!   it in the harness (offline, no Envoy), printing a summary per route, and write the same replay
//!   as an HTML report to `target/meshlens-report.html`.
//! - `cargo xtask demo-envoy`: the same module in a real Envoy on 127.0.0.1, with sample requests.
//! - `cargo xtask test`: install what the tests need, check formatting and clippy, build the
//!   module, the native Envoy module (`--profile native`, passed to the tests as
//!   `MESHLENS_NATIVE`), the native floor probe (`MESHLENS_NATIVE_PROBE`) and the playground, run
//!   every test (plain `cargo test` is the fast tier; this adds the `e2e` features).
//! - `cargo xtask build`: build `edge_telemetry.wasm` (release) and print its size.
//! - `cargo xtask cost`: count guest instructions and hostcalls per request (`meshlens run --format
//!   cost`) in the configuration and traffic of `benches/RESULTS.md`'s instruction tables; with
//!   `--shapes`, for a 60 KB user agent of each adversarial shape against plain letters; with
//!   `--native`, the core's own instructions per request natively, under valgrind's callgrind.
//! - `cargo xtask bench-envoy`: issue #7's Envoy load comparison (bare Envoy, a minimal Wasm
//!   filter, meshlens at 100% and 1% sampling, Envoy's native telemetry), or with `--hostcalls`
//!   the cost of each proxy-wasm hostcall in Envoy, or with `--floor` meshlens against the
//!   hostcalls it cannot avoid, or with `--count` the instructions Envoy executes per request in
//!   each floor configuration (valgrind's callgrind); see `benches/RESULTS.md`.
//! - `cargo xtask chaos`: real Envoy with the module under load while a loopback collector fails
//!   in each way (refused, hang, 503, 413, slow, reset, garbage); a table row per mode.
//! - `cargo xtask soak`: real Envoy under steady load for N seconds, memory sampled every 10 s;
//!   fails past a documented growth bound.
//! - `cargo xtask fuzz`: hostile HTTP exchanges generated from a seed through the release module
//!   in the harness, with invariants checked on every exchange (`tests/fuzz`).
//! - `cargo xtask package`: build the module and write it as an OCI image layout that Istio's
//!   Wasm image fetcher accepts (`target/oci/meshlens-edge-telemetry/`), printing the digests.
//! - `cargo xtask playground`: build the browser playground (`meshlens-playground` for
//!   `wasm32-unknown-unknown`, wasm-bindgen, the page) into `target/playground/` and serve it on
//!   127.0.0.1 (`playground.rs`).
//!
//! Installs only into the project (`.venv/`), through rustup, or Debian packages through apt
//! when running as root; says exactly what is missing when it cannot install it.

// The guests' cargo commands, shared with `tests/guests/build.rs`: `build` runs the same command
// in the same target directory, so neither compiles the module again after the other.
// The build script uses the rest of it (the test guests, the target check).
#[allow(dead_code)]
#[path = "../../tests/guests/cargo_build.rs"]
mod cargo_build;
mod cost;
mod package;
mod playground;
mod screenshots;
mod setup;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  demo        build the module and replay the built-in Chat2SQL sample traffic through it
              in the offline harness; print spans and latency per route, trace ids, logs;
              write the HTML report (waterfall, histograms, access lines) to
              target/meshlens-report.html
  demo-envoy  the same module in a real Envoy on 127.0.0.1 (installs Envoy into .venv),
              with sample requests; print the headers, spans and counters it produced
  test        install what is missing (wasm targets, Envoy 1.40 and the validators'
              Python packages into .venv, Prometheus, Alertmanager, skopeo,
              docker-registry, chromium and chromium-driver from Debian when root),
              check formatting and clippy (-D warnings), build and package the module,
              build the native Envoy module (target/native/libedge_telemetry_native.so),
              the native floor probe (target/native/libmeshlens_native_probe.so) and the
              playground, run all tests: the fast tier (plain `cargo test`) and the
              end-to-end and browser tests (features meshlens-tests/e2e and
              meshlens-benches/e2e)
  bench-envoy build the modules (release, and the native one with --profile native), then
              load each of the six Envoy configs in envoy-config/bench/ with wrk, 3 alternating rounds of 10 s; print medians.
              Arguments go to the load binary: --rounds N, --duration S, --warmup S,
              --connections N, --cases 1,3 (run only these cases; default all six),
              --hostcalls (instead, the hostcall cost table: the hostcall-probe module
              repeating each proxy-wasm hostcall N times per request, against the same
              module making none; 5 s runs after 1 s warm-up unless --duration/--warmup),
              --calls N (calls per request with --hostcalls; default 20),
              --probes histogram,time (with --hostcalls: only these probes, by the first
              word of their configuration, and the `none` baseline; default all),
              --floor (instead, bare, minimal, the probe making no calls, only the 7
              hostcalls any such filter needs, or meshlens's 10, then cases 3, 4, 5,
              then the native probe (target/native/libmeshlens_native_probe.so) with
              no callback and with only the essential ones, then case 6: how far
              meshlens and its native build are from their floors; 5 s runs unless
              --duration),
              --count (instead, the instructions Envoy executes per request in each
              --floor configuration under valgrind's callgrind; within 1 % between runs)
  chaos       build the module (release), then run real Envoy (one worker, envoy-config/bench/
              3-meshlens-100.yaml, 100% sampling) under wrk load while the loopback OTLP
              collector fails in each mode: refused (nothing listening), hang (never
              answers), 503, 413, slow (2 s per answer), reset (closes mid-request), garbage
              (non-HTTP bytes), each in a fresh Envoy after a healthy run; print per mode
              client failures, p99 against that healthy run, spans exported/dropped/failed,
              Envoy RSS and module memory at start and end, the time until spans are
              exported again after healing, and the CPU other processes took meanwhile.
              Fails on any client failure or a mode that does not recover.
              --modes refused,hang (only these), --duration S (load per mode, default 10),
              --connections N (default 10), --recovery S (deadline, default 20),
              --slow-ms MS (default 2000)
  soak        build the module (release), then run real Envoy as for chaos under steady
              wrk load with a healthy collector for --seconds N (default 600), sampling
              Envoy's RSS and meshlens_wasm_memory_bytes every 10 s; print the series and
              start/end/max; fails when, after the first 10 s, RSS grows more than 16 MB or
              the module's memory more than 1 MB, or on any client failure.
              --connections N (default 10)
  build       build target/wasm32-wasip1/release/edge_telemetry.wasm and print its size
  cost        build the module, then count what it costs per request (guest Wasm
              instructions, hostcalls by name) with `meshlens run --format cost`, in the
              configuration and traffic of benches/RESULTS.md's instruction tables (case
              3: every section on, 10,000 requests); --wasm FILE counts another module
              (an older build, to compare); --shapes (instead, a 60 KB user agent of
              each adversarial shape against plain letters; fails above 2x); --native
              (instead, the core's instructions per request natively, the native build's
              own work, counted under valgrind's callgrind; needs valgrind)
  fuzz        build the module (release), then drive hostile HTTP exchanges through it in the
              harness and check every one: no trap, no panic, valid JSON lines, valid OTLP,
              well-formed headers, bounded memory. --exchanges N (default 10000), --seed S
              (default 1), --start I (replay from exchange I; a violation names the flags that
              replay its exchange). The long run: --exchanges 1000000
  package     build the module and write it as an OCI image (Istio's Wasm image, compat
              variant) to target/oci/meshlens-edge-telemetry/, without a Docker engine;
              print the digest and the lines for WasmPlugin.spec
  playground  build the browser playground: meshlens-playground (telemetry-core on its
              recording host) for wasm32-unknown-unknown (profile `browser`), wasm-bindgen
              0.2.130 --target web (installed into target/tools unless $MESHLENS_WASM_BINDGEN
              names one) into target/playground/pkg/, the page from filters/playground/www/;
              then serve target/playground/ on 127.0.0.1 and print its URL.
              --port N (default 8088; 0: any free port), --build-only (build, do not serve)
  screenshots build the playground, run the browser tests (headless Debian chromium, installed
              when root) and copy their screenshots of the playground and of the HTML report
              to docs/screenshots/, the pictures the README shows
  setup       only install what is missing
  help        print this text
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(),
        Some("demo-envoy") => demo_envoy(),
        Some("test") => test(args.get(1..).unwrap_or_default()),
        Some("bench-envoy") => bench_envoy(args.get(1..).unwrap_or_default()),
        Some("chaos") => load_binary("chaos", args.get(1..).unwrap_or_default()),
        Some("soak") => load_binary("soak", args.get(1..).unwrap_or_default()),
        Some("build") => build_wasm().map(|_| ()),
        Some("cost") => cost(args.get(1..).unwrap_or_default()),
        Some("fuzz") => fuzz(args.get(1..).unwrap_or_default()),
        Some("package") => build_wasm().and_then(|wasm| package::package(&root(), &wasm)).map(|_| ()),
        Some("playground") => {
            setup::wasm_target().and_then(|()| playground::main(&root(), args.get(1..).unwrap_or_default()))
        }
        Some("screenshots") => setup::wasm_target().and_then(|()| screenshots::screenshots(&root())),
        Some("setup") => setup::all(&root()).map(|_| ()),
        Some("help" | "-h" | "--help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The repository root (the parent of `xtask/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Builds the release module (and the benchmark's minimal module) with the command the tests'
/// build script uses, into `target/guests/`, and copies both to where they ship
/// (`target/wasm32-wasip1/release/`, the path the Envoy configs load); returns the module's path.
fn build_wasm() -> Result<PathBuf, String> {
    let root = root();
    setup::wasm_target()?;
    run(&mut cargo_build::command(&root, cargo_build::SHIPPED))?;
    let built = cargo_build::target_dir(&root);
    let shipped = root.join("target").join(cargo_build::WASIP1).join("release");
    std::fs::create_dir_all(&shipped).map_err(|e| format!("{}: {e}", shipped.display()))?;
    for package in cargo_build::SHIPPED.packages {
        let from = cargo_build::wasm(&built, cargo_build::WASIP1, package);
        let to = cargo_build::wasm(&root.join("target"), cargo_build::WASIP1, package);
        copy_if_changed(&from, &to)?;
    }
    let wasm = cargo_build::wasm(&root.join("target"), cargo_build::WASIP1, "edge-telemetry");
    let size = std::fs::metadata(&wasm).map_err(|e| format!("{}: {e}", wasm.display()))?.len();
    println!("built {} ({:.1} KB)", wasm.display(), size as f64 / 1024.0);
    Ok(wasm)
}

/// Builds the native Envoy module (`filters/edge-telemetry-native`, Linux) with the `native`
/// profile (release, panics unwind to the hooks' `catch_unwind`); returns the path of
/// `libedge_telemetry_native.so`, the name Envoy loads it by.
fn build_native() -> Result<PathBuf, String> {
    let root = root();
    run(Command::new(cargo()).current_dir(&root).args([
        "build",
        "-p",
        "edge-telemetry-native",
        "--profile",
        "native",
    ]))?;
    let so = root.join("target").join("native").join("libedge_telemetry_native.so");
    let size = std::fs::metadata(&so).map_err(|e| format!("{}: {e}", so.display()))?.len();
    println!("built {} ({:.1} KB)", so.display(), size as f64 / 1024.0);
    Ok(so)
}

/// Builds the native floor probe (`benches/native-probe`) with the `native` profile, next to
/// the native module; returns the path of `libmeshlens_native_probe.so`.
fn build_native_probe() -> Result<PathBuf, String> {
    let root = root();
    run(Command::new(cargo()).current_dir(&root).args(["build", "-p", "native-probe", "--profile", "native"]))?;
    let so = root.join("target").join("native").join("libmeshlens_native_probe.so");
    if !so.is_file() {
        return Err(format!("{} was not built", so.display()));
    }
    Ok(so)
}

/// Copies `from` to `to` unless `to` already has the same bytes (so its time stays).
fn copy_if_changed(from: &Path, to: &Path) -> Result<(), String> {
    let bytes = std::fs::read(from).map_err(|e| format!("{}: {e}", from.display()))?;
    if std::fs::read(to).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    std::fs::write(to, bytes).map_err(|e| format!("{}: {e}", to.display()))
}

/// The full tier: formatting and clippy first (native, then the wasm crates for their target),
/// then every test with the `e2e` feature, which adds the tests that run Envoy, Prometheus,
/// Alertmanager, skopeo, a registry and the Python validators.
fn test(extra: &[String]) -> Result<(), String> {
    let root = root();
    setup::wasm_target()?;
    checks(&root)?;
    let tools = setup::all(&root)?;
    let wasm = build_wasm()?;
    package::package(&root, &wasm)?;
    let native = build_native()?;
    let native_probe = build_native_probe()?;
    let playground = playground::build(&root)?;
    run(Command::new(cargo())
        .current_dir(&root)
        .args(["test", "--workspace", "--features", "meshlens-tests/e2e,meshlens-benches/e2e"])
        .args(extra)
        .env("MESHLENS_PLAYGROUND", &playground)
        .env("MESHLENS_NATIVE", &native)
        .env("MESHLENS_NATIVE_PROBE", &native_probe)
        .env("MESHLENS_ENVOY", &tools.envoy)
        .env("MESHLENS_PYTHON", &tools.python)
        .env("MESHLENS_SHARED", &tools.shared)
        .env("MESHLENS_PROMETHEUS", &tools.prometheus)
        .env("MESHLENS_PROMTOOL", &tools.promtool)
        .env("MESHLENS_SKOPEO", &tools.skopeo)
        .env("MESHLENS_REGISTRY", &tools.registry)
        .env("MESHLENS_CHROMIUM", &tools.chromium)
        .env("MESHLENS_CHROMEDRIVER", &tools.chromedriver)
        .env("MESHLENS_PHOENIX", &tools.receivers.phoenix)
        .env("MESHLENS_ROTEL", &tools.receivers.rotel)
        .env("MESHLENS_RECEIVERS_PYTHON", &tools.receivers.python))?;
    println!("all tests passed");
    Ok(())
}

/// `cargo fmt --check` and `cargo clippy -D warnings` (all targets and features, native; the
/// crates that ship as or into wasm guests also for `wasm32-wasip1`, the playground for
/// `wasm32-unknown-unknown`), and the harness's documentation with `-D warnings`.
fn checks(root: &Path) -> Result<(), String> {
    let fmt = Command::new(cargo()).current_dir(root).args(["fmt", "--all", "--check"]).status();
    if !fmt.is_ok_and(|s| s.success()) {
        return Err(String::from("`cargo fmt --all --check` found unformatted code (above): run `cargo fmt --all`"));
    }
    let native = ["clippy", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"];
    let guests: &[&str] = &[
        "clippy",
        "--target",
        "wasm32-wasip1",
        "-p",
        "telemetry-core",
        "-p",
        "edge-telemetry",
        "-p",
        "minimal-header",
        "-p",
        "hostcall-probe",
        "-p",
        "sdk-probe",
        "-p",
        "trap-probe",
        "-p",
        "proxy-wasm-abi",
        "--",
        "-D",
        "warnings",
    ];
    // The browser playground, for the target it ships for.
    let browser = ["clippy", "--target", "wasm32-unknown-unknown", "-p", "meshlens-playground", "--", "-D", "warnings"];
    for args in [&native[..], guests, &browser[..]] {
        let ok = Command::new(cargo()).current_dir(root).args(args).status().is_ok_and(|s| s.success());
        if !ok {
            return Err(format!("`cargo {}` found problems (above); fix them before the tests run", args.join(" ")));
        }
    }
    // The harness is a library filter authors depend on: its documentation builds without a
    // warning (broken links included).
    let doc = ["doc", "-p", "host-harness", "--no-deps"];
    let ok = Command::new(cargo()).current_dir(root).args(doc).env("RUSTDOCFLAGS", "-D warnings").status();
    if !ok.is_ok_and(|s| s.success()) {
        return Err(String::from(
            "`RUSTDOCFLAGS=\"-D warnings\" cargo doc -p host-harness --no-deps` found problems (above)",
        ));
    }
    Ok(())
}

/// The offline demo: `meshlens run` on the sample traffic, summary format printed, then the same
/// replay as the HTML report, written to `target/meshlens-report.html`.
fn demo() -> Result<(), String> {
    let root = root();
    let wasm = build_wasm()?;
    let data = root.join("host-harness/testdata");
    println!("replaying host-harness/testdata/chat2sql.jsonl through edge_telemetry.wasm in the harness\n");
    let meshlens = |format: &str| {
        let mut command = Command::new(cargo());
        command
            .current_dir(&root)
            .args(["run", "--quiet", "-p", "host-harness", "--bin", "meshlens", "--", "run", "--format", format])
            .arg("--wasm")
            .arg(&wasm)
            .arg("--config")
            .arg(data.join("chat2sql.config.json"))
            .arg("--traffic")
            .arg(data.join("chat2sql.jsonl"))
            .arg("--envoy-config")
            .arg(root.join("envoy-config/edge-gateway.yaml"));
        command
    };
    run(&mut meshlens("summary"))?;
    let report = root.join("target").join("meshlens-report.html");
    run(meshlens("html").arg("--out").arg(&report))?;
    println!("\nHTML report: {}", report.display());
    Ok(())
}

fn demo_envoy() -> Result<(), String> {
    let root = root();
    let tools = setup::envoy(&root)?;
    let wasm = build_wasm()?;
    run(Command::new(cargo())
        .current_dir(&root)
        .args(["run", "--quiet", "-p", "meshlens-tests", "--bin", "demo"])
        .env("MESHLENS_WASM", &wasm)
        .env("MESHLENS_ENVOY", &tools.envoy)
        .env("MESHLENS_PYTHON", &tools.python)
        .env("MESHLENS_SHARED", &tools.shared))
}

/// Issue #7's load comparison: builds `edge_telemetry.wasm`, `minimal_header.wasm` and
/// `hostcall_probe.wasm` (for `--hostcalls` and `--floor`) in release, and the native module
/// and native probe (`--floor`) into `target/native/`, then runs
/// `benches/src/bin/envoy_load.rs` (release) with Envoy from `.venv`.
fn bench_envoy(extra: &[String]) -> Result<(), String> {
    let root = root();
    let tools = setup::envoy(&root)?;
    // edge-telemetry and minimal-header come from `build_wasm`; the probe is the bench's own.
    build_wasm()?;
    run(Command::new(cargo()).current_dir(&root).args([
        "build",
        "--release",
        "--target",
        "wasm32-wasip1",
        "-p",
        "hostcall-probe",
    ]))?;
    // Case 6's module and the native probe (`--floor`); Envoy finds both by name in
    // ENVOY_DYNAMIC_MODULES_SEARCH_PATH.
    let native = build_native()?;
    build_native_probe()?;
    load_tools()?;
    run(Command::new(cargo())
        .current_dir(&root)
        .args(["run", "--release", "--quiet", "-p", "meshlens-benches", "--bin", "envoy_load", "--"])
        .args(extra)
        .env("MESHLENS_ENVOY", &tools.envoy)
        .env("ENVOY_DYNAMIC_MODULES_SEARCH_PATH", native.parent().unwrap_or(&root)))
}

/// wrk, taskset and getconf, which the load binaries run.
fn load_tools() -> Result<(), String> {
    for tool in ["wrk", "taskset", "getconf"] {
        let found = Command::new(tool).arg("--version").output().is_ok();
        if !found {
            return Err(format!("`{tool}` not found; install it (Debian: apt-get install -y wrk util-linux libc-bin)"));
        }
    }
    Ok(())
}

/// `cargo xtask chaos` and `cargo xtask soak`: builds the module (release), then runs the
/// benches' binary of that name (release) with Envoy from `.venv`.
fn load_binary(bin: &str, extra: &[String]) -> Result<(), String> {
    let root = root();
    let tools = setup::envoy(&root)?;
    build_wasm()?;
    load_tools()?;
    run(Command::new(cargo())
        .current_dir(&root)
        .args(["run", "--release", "--quiet", "-p", "meshlens-benches", "--bin", bin, "--"])
        .args(extra)
        .env("MESHLENS_ENVOY", &tools.envoy))
}

/// `cargo xtask fuzz [--exchanges N] [--seed S] [--start I]`: the release module through
/// `meshlens-fuzz`.
fn fuzz(args: &[String]) -> Result<(), String> {
    let wasm = build_wasm()?;
    run(Command::new(cargo())
        .current_dir(root())
        .args(["run", "--release", "--quiet", "-p", "meshlens-fuzz", "--"])
        .args(args)
        .arg("--module")
        .arg(&wasm))
}

/// `cargo xtask cost [--shapes] [--wasm FILE] | --native`.
fn cost(args: &[String]) -> Result<(), String> {
    if let [flag] = args
        && flag == "--native"
    {
        return cost::native(&root());
    }
    let (shapes, rest) = match args {
        [flag, rest @ ..] if flag == "--shapes" => (true, rest),
        _ => (false, args),
    };
    let wasm = match rest {
        [] => build_wasm()?,
        [flag, file] if flag == "--wasm" => PathBuf::from(file),
        _ => return Err(format!("usage: cargo xtask cost [--shapes] [--wasm FILE] | --native\n\n{USAGE}")),
    };
    if shapes { cost::shapes(&root(), &wasm) } else { cost::cost(&root(), &wasm) }
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| String::from("cargo"))
}

/// Runs a command, inheriting stdio; an error names the command and its exit status.
fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    let status = cmd.status().map_err(|e| format!("cannot run {shown}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{shown} failed ({status})")) }
}
