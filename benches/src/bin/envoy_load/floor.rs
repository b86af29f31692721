//! `envoy_load --floor`: how close meshlens is to what its hostcalls alone cost, and whether
//! issue #7's "at most 2x what the minimal module adds" can be met at all in this Envoy; and the
//! same for the native build against issue #19's "at most half what Envoy's native telemetry
//! adds".
//!
//! Per round, alternating like the load comparison: bare Envoy (1), the minimal module (2), the
//! hostcall probe doing nothing, the probe making only the hostcalls any filter delivering this
//! telemetry needs (`essential`), the probe making exactly meshlens's hostcalls (`mimic`), and
//! meshlens at 100% and 1% sampling (3, 4), native telemetry (5), and the native side: the
//! dynamic-module probe (`benches/native-probe`) doing nothing, the same probe making only the
//! essential callbacks, and exactly meshlens's native callbacks (`mimic`), and meshlens's native
//! build (6). Added CPU is against bare Envoy in the
//! same round, then the median over rounds.

use std::path::PathBuf;

use crate::hostcalls::probe_target;
use crate::{Bench, CASES, ENVOY_CPU, LOAD_CPU, Run, Target, median, median_of, print_disturbance};

/// The native probe's bootstrap, and the placeholder for its mode.
const NATIVE_TEMPLATE: &str = "envoy-config/bench/native-probe.yaml.tmpl";
const NATIVE_MODE_PLACEHOLDER: &str = "NATIVE_PROBE_MODE";
/// The native probe's library, which Envoy finds in `ENVOY_DYNAMIC_MODULES_SEARCH_PATH`.
const NATIVE_LIBRARY: &str = "libmeshlens_native_probe.so";

/// The rows the summary compares, by label.
pub(crate) const ESSENTIAL: &str = "probe `essential`: the 7 hostcalls any such filter needs";
pub(crate) const NATIVE_ESSENTIAL: &str = "native probe `essential`: the same work, 6 callbacks and 2 clock reads";
pub(crate) const NATIVE_MIMIC: &str = "native probe `mimic`: meshlens native's 12 callbacks, no module work";
pub(crate) const WASM_MIMIC: &str = "probe `mimic`: meshlens's 10 hostcalls of an unsampled request";
pub(crate) const MESHLENS_WASM: &str = "(3) meshlens, 100% sampling";
pub(crate) const NATIVE_TELEMETRY: &str = "(5) native OTel + JSON log";
pub(crate) const MESHLENS_NATIVE: &str = "(6) meshlens native, 100% sampling";

/// What runs in each round, in order: `(label, case id or probe configuration)`.
pub(crate) const ROWS: [(&str, Row); 12] = [
    ("(1) bare Envoy", Row::Case(1)),
    ("(2) minimal Wasm (1 header)", Row::Case(2)),
    ("probe `none`: callbacks, no hostcall", Row::Probe("none", None)),
    (ESSENTIAL, Row::Probe("essential", Some("x-trace-id"))),
    (WASM_MIMIC, Row::Probe("mimic", Some("x-trace-id"))),
    (MESHLENS_WASM, Row::Case(3)),
    ("(4) meshlens, 1% sampling", Row::Case(4)),
    (NATIVE_TELEMETRY, Row::Case(5)),
    ("native probe `none`: hooks, no callback", Row::NativeProbe("none", None)),
    (NATIVE_ESSENTIAL, Row::NativeProbe("essential", Some("x-trace-id"))),
    (NATIVE_MIMIC, Row::NativeProbe("mimic", Some("traceresponse"))),
    (MESHLENS_NATIVE, Row::Case(6)),
];

/// One row: a load-comparison case, the Wasm hostcall probe or the native probe in a mode, with
/// the header its reply must carry.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Row {
    Case(u8),
    Probe(&'static str, Option<&'static str>),
    NativeProbe(&'static str, Option<&'static str>),
}

/// Runs the rows in rounds and prints a line per run, then the table.
pub(crate) fn run(bench: &Bench) -> Result<(), String> {
    let options = &bench.options;
    let targets = targets(bench)?;
    println!(
        "floor: {} rounds x {} configurations, {} s per run after {} s warm-up, wrk -t1 -c{}, Envoy --concurrency 1 on CPU {ENVOY_CPU}, load on CPU {LOAD_CPU}",
        options.rounds,
        ROWS.len(),
        options.duration_s,
        options.warmup_s,
        options.connections
    );
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); ROWS.len()];
    for round in 1..=options.rounds {
        for (((label, _), target), results) in ROWS.iter().zip(&targets).zip(runs.iter_mut()) {
            let run = bench.measure(target)?;
            println!(
                "round {round} {label}: {:.0} req/s, {:.2} µs CPU/req, p99 {:.3} ms, RSS {:.1} MB, errors {}, other load {:.0}%",
                run.rps, run.cpu_ms_per_1k, run.p99_ms, run.rss_mb, run.errors, run.other_load_pct
            );
            results.push(run);
        }
    }
    print_table(&runs);
    Ok(())
}

/// The Envoy configuration of each row of [`ROWS`].
pub(crate) fn targets(bench: &Bench) -> Result<Vec<Target>, String> {
    ROWS.iter()
        .map(|(_, row)| match row {
            Row::Case(id) => CASES.iter().find(|c| c.id == *id).ok_or("no such case")?.target(&bench.root),
            Row::Probe(configuration, header) => probe_target(bench, configuration, "floor", *header),
            Row::NativeProbe(mode, header) => native_probe_target(bench, mode, *header),
        })
        .collect()
}

/// The native probe in `mode`, in `NATIVE_TEMPLATE`; its Envoy log is
/// `target/bench/envoy-floor-native.log`, and `probe_header` must be on the reply.
fn native_probe_target(bench: &Bench, mode: &str, probe_header: Option<&'static str>) -> Result<Target, String> {
    let template_path = bench.root.join(NATIVE_TEMPLATE);
    let template = std::fs::read_to_string(&template_path).map_err(|e| format!("{}: {e}", template_path.display()))?;
    if !template.contains(NATIVE_MODE_PLACEHOLDER) {
        return Err(format!("{}: no `{NATIVE_MODE_PLACEHOLDER}` to substitute", template_path.display()));
    }
    let search = std::env::var_os("ENVOY_DYNAMIC_MODULES_SEARCH_PATH").map(PathBuf::from).unwrap_or_default();
    if !search.join(NATIVE_LIBRARY).is_file() {
        return Err(format!(
            "{NATIVE_LIBRARY} not found in ENVOY_DYNAMIC_MODULES_SEARCH_PATH ({}); build it with `cargo build -p native-probe --profile native` (`cargo xtask bench-envoy` does, and sets the path to target/native)",
            search.display()
        ));
    }
    Ok(Target {
        label: format!("native probe `{mode}`"),
        log: String::from("floor-native"),
        yaml: template.replace(NATIVE_MODE_PLACEHOLDER, mode),
        probe_header,
    })
}

/// Per row: median CPU per request, median added over bare Envoy (paired per round), that as a
/// multiple of what the minimal module adds, req/s.
fn print_table(runs: &[Vec<Run>]) {
    let bare = runs.first().map(Vec::as_slice).unwrap_or_default();
    let added = |results: &[Run]| {
        let mut per_round: Vec<f64> =
            results.iter().zip(bare).map(|(r, b)| r.cpu_ms_per_1k - b.cpu_ms_per_1k).collect();
        median(&mut per_round)
    };
    let floor = runs.get(1).map_or(f64::NAN, |r| added(r));
    println!("\nmedians of {} rounds:\n", bare.len());
    println!("| configuration | Envoy CPU µs / req | added over (1) | added / what (2) adds | req/s | errors |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut added_by_row = Vec::new();
    for ((label, _), results) in ROWS.iter().zip(runs) {
        let a = added(results);
        added_by_row.push(a);
        println!(
            "| {label} | {:.2} | {a:+.2} | {:.2}x | {:.0} | {} |",
            median_of(results, |r| r.cpu_ms_per_1k),
            a / floor,
            median_of(results, |r| r.rps),
            results.iter().map(|r| r.errors).sum::<u64>()
        );
    }
    let added_by =
        |label: &str| ROWS.iter().zip(&added_by_row).find(|((l, _), _)| *l == label).map_or(f64::NAN, |(_, a)| *a);
    let essential = added_by(ESSENTIAL);
    println!(
        "\nissue #7's target lets (3) add at most {:.2} µs/req (2x what (2) adds); the essential hostcalls alone add {essential:.2} ({:.2}x).",
        2.0 * floor,
        essential / floor
    );
    let (native, native_essential, otel) =
        (added_by(MESHLENS_NATIVE), added_by(NATIVE_ESSENTIAL), added_by(NATIVE_TELEMETRY));
    println!(
        "(6) adds {native:.2} µs/req: {:.2}x what the native probe's essential callbacks add ({native_essential:.2}), {:.2}x what (5) adds ({otel:.2}).",
        native / native_essential,
        native / otel
    );
    let native_mimic = added_by(NATIVE_MIMIC);
    println!(
        "issue #19's target lets (6) add at most {:.2} µs/req (half what (5) adds); the essential callbacks alone add {:.2}x that, meshlens's callbacks alone ({native_mimic:.2}) {:.2}x, leaving the module's own work {:.2} µs/req where it takes {:.2}.",
        otel / 2.0,
        native_essential / (otel / 2.0),
        native_mimic / (otel / 2.0),
        otel / 2.0 - native_mimic,
        native - native_mimic
    );
    println!("total requests measured: {}", runs.iter().flatten().map(|r| r.requests).sum::<u64>());
    print_disturbance(runs.iter().flatten());
}
