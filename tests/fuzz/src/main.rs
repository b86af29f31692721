//! `meshlens-fuzz --exchanges N --seed S [--start I] [--module FILE]`: hostile exchanges through the
//! module in the harness, invariants checked on every one; exits 1 on any violation, naming the
//! exchange so that `--seed S --start I --exchanges 1` runs it again.

use std::path::PathBuf;
use std::process::ExitCode;

use host_harness::Module;
use meshlens_fuzz::run::{self, Options};

const USAGE: &str = "usage: meshlens-fuzz [--exchanges N] [--seed S] [--start I] [--per-host N] [--module FILE]

Runs N hostile HTTP exchanges (default 10000) generated from seed S (default 1) through the meshlens
module in the harness and checks every one: no trap, no panic, valid JSON lines, valid OTLP, well-formed
headers, bounded memory. --start I begins at exchange I (to replay one: --start I --exchanges 1).
--per-host N exchanges per VM (default 5000). --module defaults to the module the tests build.";

fn main() -> ExitCode {
    match main_inner() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("meshlens-fuzz: {message}");
            ExitCode::from(2)
        }
    }
}

fn main_inner() -> Result<bool, String> {
    let mut options = Options { exchanges: 10_000, seed: 1, start: 0, per_host: 5_000 };
    let mut module = PathBuf::from(meshlens_tests_guests::EDGE_TELEMETRY);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            return Ok(true);
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value\n\n{USAGE}"))?;
        let number = || value.parse::<u64>().map_err(|_| format!("{flag} takes a number, not {value:?}\n\n{USAGE}"));
        match flag.as_str() {
            "--exchanges" => options.exchanges = number()?,
            "--seed" => options.seed = number()?,
            "--start" => options.start = number()?,
            "--per-host" => options.per_host = number()?.max(1),
            "--module" => module = PathBuf::from(&value),
            _ => return Err(format!("unknown option {flag}\n\n{USAGE}")),
        }
    }
    let compiled = Module::from_file(&module).map_err(|e| format!("{}: {e}", module.display()))?;
    println!(
        "fuzzing {} with {} exchanges from seed {} (starting at {})",
        module.display(),
        options.exchanges,
        options.seed,
        options.start
    );
    let outcome = run::run(&compiled, options, |o| {
        eprintln!("  {} exchanges, {} violations, {:.1} s", o.exchanges, o.violations.len(), o.elapsed.as_secs_f64());
    })
    .map_err(|e| format!("the harness failed: {e}"))?;
    println!(
        "{} exchanges in {:.1} s ({:.0}/s): {} export calls, {} log lines, module memory at most {:.1} MiB, {} violations",
        outcome.exchanges,
        outcome.elapsed.as_secs_f64(),
        outcome.exchanges as f64 / outcome.elapsed.as_secs_f64().max(1e-9),
        outcome.export_calls,
        outcome.log_lines,
        outcome.max_memory_bytes as f64 / (1 << 20) as f64,
        outcome.violations.len()
    );
    for v in &outcome.violations {
        println!("exchange {} (--seed {} --start {} --exchanges 1): {}", v.index, options.seed, v.index, v.what);
    }
    Ok(outcome.violations.is_empty())
}
