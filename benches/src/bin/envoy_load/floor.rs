//! `envoy_load --floor`: how close meshlens is to what its hostcalls alone cost, and whether
//! issue #7's "at most 2x what the minimal module adds" can be met at all in this Envoy.
//!
//! Per round, alternating like the load comparison: bare Envoy (1), the minimal module (2), the
//! hostcall probe doing nothing, the probe making only the hostcalls any filter delivering this
//! telemetry needs (`essential`), the probe making exactly meshlens's hostcalls (`mimic`), and
//! meshlens at 100% and 1% sampling (3, 4) and native telemetry (5). Added CPU is against bare
//! Envoy in the same round, then the median over rounds.

use crate::hostcalls::probe_target;
use crate::{Bench, CASES, ENVOY_CPU, LOAD_CPU, Run, Target, median, median_of, print_disturbance};

/// What runs in each round, in order: `(label, case id or probe configuration)`.
const ROWS: [(&str, Row); 8] = [
    ("(1) bare Envoy", Row::Case(1)),
    ("(2) minimal Wasm (1 header)", Row::Case(2)),
    ("probe `none`: callbacks, no hostcall", Row::Probe("none", None)),
    ("probe `essential`: the 7 hostcalls any such filter needs", Row::Probe("essential", Some("x-trace-id"))),
    ("probe `mimic`: meshlens's 10 hostcalls of an unsampled request", Row::Probe("mimic", Some("x-trace-id"))),
    ("(3) meshlens, 100% sampling", Row::Case(3)),
    ("(4) meshlens, 1% sampling", Row::Case(4)),
    ("(5) native OTel + JSON log", Row::Case(5)),
];

#[derive(Debug, Clone, Copy)]
enum Row {
    Case(u8),
    Probe(&'static str, Option<&'static str>),
}

/// Runs the rows in rounds and prints a line per run, then the table.
pub(crate) fn run(bench: &Bench) -> Result<(), String> {
    let options = &bench.options;
    let targets: Vec<Target> = ROWS
        .iter()
        .map(|(_, row)| match row {
            Row::Case(id) => CASES.iter().find(|c| c.id == *id).ok_or("no such case")?.target(&bench.root),
            Row::Probe(configuration, header) => probe_target(bench, configuration, "floor", *header),
        })
        .collect::<Result<_, _>>()?;
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
    let essential = added_by_row.get(3).copied().unwrap_or(f64::NAN);
    println!(
        "\nissue #7's target lets (3) add at most {:.2} µs/req (2x what (2) adds); the essential hostcalls alone add {essential:.2} ({:.2}x).",
        2.0 * floor,
        essential / floor
    );
    println!("total requests measured: {}", runs.iter().flatten().map(|r| r.requests).sum::<u64>());
    print_disturbance(runs.iter().flatten());
}
