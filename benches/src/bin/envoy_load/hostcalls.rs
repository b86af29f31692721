//! `envoy_load --hostcalls`: what one proxy-wasm hostcall costs in this Envoy. Every target is
//! `envoy-config/bench/hostcall-probe.yaml.tmpl` (case 2's shape) with the `benches/hostcall-probe`
//! module configured to repeat one hostcall N times per request (`--calls`, default 20); the
//! `none` probe (the same module making no calls) is the baseline, and bare Envoy (case 1) runs
//! too, for what the module itself adds. Rounds alternate like the load comparison; per round,
//! one call costs `(cpu(N) - cpu(none)) / N`, and the table shows the median over rounds.

use crate::{Bench, CASES, ENVOY_CPU, LOAD_CPU, Run, Target, median, median_of, print_disturbance};

/// Prepended to wrk's script in this mode: wrk sends only `Host` by default, and the
/// `request_header user-agent` probe should find a value, as it would in real traffic.
pub(crate) const WRK_HEADERS: &str = "wrk.headers[\"User-Agent\"] = \"wrk/4.1.0 (meshlens bench)\"\n";

const TEMPLATE: &str = "envoy-config/bench/hostcall-probe.yaml.tmpl";
const MODULE: &str = "target/wasm32-wasip1/release/hostcall_probe.wasm";
/// The placeholders `TEMPLATE` must hold.
const MODULE_PLACEHOLDER: &str = "HOSTCALL_PROBE_WASM";
const CONFIGURATION_PLACEHOLDER: &str = "HOSTCALL_PROBE_CONFIGURATION";

/// One probe: the module's `<op> [argument]` (the count is appended), the hostcall it repeats,
/// and the callback it repeats it in.
#[derive(Debug, Clone, Copy)]
struct Probe {
    op: &'static str,
    hostcall: &'static str,
    callback: &'static str,
}

/// The baseline first; then every probe, in the order each round runs them.
const PROBES: [Probe; 15] = [
    Probe { op: "none", hostcall: "none (the module, no calls)", callback: "" },
    Probe { op: "time", hostcall: "proxy_get_current_time_nanoseconds", callback: "on_log" },
    Probe { op: "property source.address", hostcall: "proxy_get_property", callback: "on_log" },
    Probe { op: "property response.code", hostcall: "proxy_get_property", callback: "on_log" },
    Probe { op: "property request.size", hostcall: "proxy_get_property", callback: "on_log" },
    Probe { op: "property response.size", hostcall: "proxy_get_property", callback: "on_log" },
    Probe { op: "property request.protocol", hostcall: "proxy_get_property", callback: "on_log" },
    Probe { op: "property upstream.address", hostcall: "proxy_get_property (absent)", callback: "on_log" },
    Probe { op: "property xds.cluster_name", hostcall: "proxy_get_property (absent)", callback: "on_log" },
    Probe { op: "request_pairs", hostcall: "proxy_get_header_map_pairs", callback: "on_http_request_headers" },
    Probe {
        op: "request_header user-agent",
        hostcall: "proxy_get_header_map_value",
        callback: "on_http_request_headers",
    },
    Probe {
        op: "request_header x-absent",
        hostcall: "proxy_get_header_map_value (absent)",
        callback: "on_http_request_headers",
    },
    Probe {
        op: "set_response_header",
        hostcall: "proxy_replace_header_map_value",
        callback: "on_http_response_headers",
    },
    Probe { op: "log", hostcall: "proxy_log (200 B, info)", callback: "on_log" },
    Probe {
        op: "histogram meshlens_probe_duration_seconds 1",
        hostcall: "proxy_record_metric (histogram)",
        callback: "on_log",
    },
];

/// The probes `--probes` selects by the first word of their op (`histogram,time`), in table
/// order; `none`, the baseline, always runs. No names: every probe.
fn selected(names: &[String]) -> Result<Vec<Probe>, String> {
    let first_word = |probe: &Probe| probe.op.split_whitespace().next().unwrap_or_default();
    for name in names {
        if !PROBES.iter().any(|p| first_word(p) == name) {
            let mut known: Vec<&str> = PROBES.iter().map(first_word).collect();
            known.dedup();
            return Err(format!("--probes: there is no probe `{name}` (the probes are {})", known.join(", ")));
        }
    }
    Ok(PROBES
        .iter()
        .filter(|p| names.is_empty() || p.op == "none" || names.iter().any(|n| n == first_word(p)))
        .copied()
        .collect())
}

/// Runs the hostcall table: per round bare Envoy, then every selected probe; prints a line per
/// run and the Markdown table.
pub(crate) fn run(bench: &Bench) -> Result<(), String> {
    let options = &bench.options;
    let probes = selected(&options.probes)?;
    let bare = CASES.first().ok_or("no cases")?.target(&bench.root)?;
    let targets: Vec<Target> = probes
        .iter()
        .map(|probe| {
            // The only probe whose work shows in the reply.
            let header = (probe.op == "set_response_header").then_some("x-probe");
            probe_target(bench, &configuration(probe, options.calls), "hostcall", header)
        })
        .collect::<Result<_, _>>()?;
    println!(
        "hostcall costs: {} rounds x (bare Envoy + {} probes at {} calls per request), {} s per run after {} s warm-up, wrk -t1 -c{}, Envoy --concurrency 1 on CPU {ENVOY_CPU}, load on CPU {LOAD_CPU}",
        options.rounds,
        probes.len(),
        options.calls,
        options.duration_s,
        options.warmup_s,
        options.connections
    );
    let mut bare_runs = Vec::new();
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); probes.len()];
    for round in 1..=options.rounds {
        let run = bench.measure(&bare)?;
        println!("round {round} bare Envoy: {}", summary(&run));
        bare_runs.push(run);
        for ((probe, target), results) in probes.iter().zip(&targets).zip(runs.iter_mut()) {
            let run = bench.measure(target)?;
            println!("round {round} {}: {}", configuration(probe, options.calls), summary(&run));
            results.push(run);
        }
    }
    print_table(options.calls, &probes, &bare_runs, &runs);
    Ok(())
}

/// The probe module configured with `configuration`, in `TEMPLATE`; its Envoy log is
/// `target/bench/envoy-<log>.log`, and `probe_header` must be on the reply when it runs.
pub(crate) fn probe_target(
    bench: &Bench,
    configuration: &str,
    log: &str,
    probe_header: Option<&'static str>,
) -> Result<Target, String> {
    let template_path = bench.root.join(TEMPLATE);
    let template = std::fs::read_to_string(&template_path).map_err(|e| format!("{}: {e}", template_path.display()))?;
    for placeholder in [MODULE_PLACEHOLDER, CONFIGURATION_PLACEHOLDER] {
        if !template.contains(placeholder) {
            return Err(format!("{}: no `{placeholder}` to substitute", template_path.display()));
        }
    }
    let module = bench.root.join(MODULE);
    if !module.is_file() {
        return Err(format!(
            "{} not found; build it with `cargo build --release --target wasm32-wasip1 -p hostcall-probe` (`cargo xtask bench-envoy` does)",
            module.display()
        ));
    }
    Ok(Target {
        label: format!("hostcall probe `{configuration}`"),
        log: log.to_owned(),
        yaml: template
            .replace(MODULE_PLACEHOLDER, &module.display().to_string())
            .replace(CONFIGURATION_PLACEHOLDER, configuration),
        probe_header,
    })
}

/// The module's configuration for a probe: `none`, or `<op> [argument] <calls>`.
fn configuration(probe: &Probe, calls: u32) -> String {
    if probe.op == "none" { String::from("none") } else { format!("{} {calls}", probe.op) }
}

fn summary(run: &Run) -> String {
    format!(
        "{:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, {:.2} µs CPU/req, RSS {:.1} MB, errors {}, other load {:.0}%",
        run.rps, run.p50_ms, run.p99_ms, run.cpu_ms_per_1k, run.rss_mb, run.errors, run.other_load_pct
    )
}

/// The Markdown table: per probe, the median CPU per request at N calls, the median per-call
/// cost (each round against that round's `none`) with its range, req/s; then the notes.
/// `runs` holds one entry per probe in `probes`, `none` first.
fn print_table(calls: u32, probes: &[Probe], bare: &[Run], runs: &[Vec<Run>]) {
    let none = runs.first().map(Vec::as_slice).unwrap_or_default();
    let cpu = |r: &Run| r.cpu_ms_per_1k;
    let (bare_cpu, none_cpu) = (median_of(bare, cpu), median_of(none, cpu));
    println!("\nmedians of {} rounds; N = {calls} calls per request:\n", none.len());
    println!(
        "| probe | hostcall | in | Envoy CPU µs / req | µs / call: (cpu(N) - cpu(none)) / N | µs / call, min-max over rounds | req/s | errors |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|");
    println!(
        "| bare Envoy (case 1, no module) | - | - | {bare_cpu:.2} | - | - | {:.0} | {} |",
        median_of(bare, |r| r.rps),
        bare.iter().map(|r| r.errors).sum::<u64>()
    );
    for (probe, results) in probes.iter().zip(runs) {
        let errors: u64 = results.iter().map(|r| r.errors).sum();
        let rps = median_of(results, |r| r.rps);
        let at_n = median_of(results, cpu);
        if probe.op == "none" {
            println!("| `none` | {} | - | {at_n:.2} | - | - | {rps:.0} | {errors} |", probe.hostcall);
            continue;
        }
        // Paired per round: drift between rounds cancels, drift within a round does not.
        let mut per_call: Vec<f64> =
            results.iter().zip(none).map(|(r, n)| (r.cpu_ms_per_1k - n.cpu_ms_per_1k) / f64::from(calls)).collect();
        let (low, high) = per_call.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(*v), h.max(*v)));
        println!(
            "| `{} {calls}` | `{}` | `{}` | {at_n:.2} | {:.3} | {low:.2} .. {high:.2} | {rps:.0} | {errors} |",
            probe.op,
            probe.hostcall,
            probe.callback,
            median(&mut per_call),
        );
    }
    println!("\nthe module with no calls adds {:.2} µs/req over bare Envoy (medians).", none_cpu - bare_cpu);
    println!(
        "notes: properties are read in on_log, where response.* and the sizes have their final values; \
         upstream.address and xds.cluster_name are absent (the route is a direct_response: no upstream host, no cluster), \
         so those rows are the cost of a miss. wrk sends `User-Agent` (set by the runner's script); `x-absent` is never sent. \
         `log` writes a 200-byte line at info through Envoy's logger to its --log-path file (target/bench/envoy-hostcall.log). \
         `set_response_header` replaces `x-probe` on the direct_response reply. \
         `histogram` records the value 1 into one Envoy histogram (proxy_define_metric type 2 at configure time; \
         no histogram_bucket_settings: Envoy's default buckets, which only shape what a flush reports)."
    );
    println!("total requests measured: {}", runs.iter().flatten().chain(bare).map(|r| r.requests).sum::<u64>());
    print_disturbance(runs.iter().flatten().chain(bare));
}
