//! The `meshlens` command line: reads the inputs, builds a host, replays the traffic with
//! [`host_harness::traffic`], and prints the report. Failures end with a message on standard
//! error and an exit status: 2 for usage and input errors, 1 when the module fails.

mod args;
mod cost;
mod progress;
mod prometheus;
mod report;
mod summary;
mod text;
mod time;

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use host_harness::metrics::{self, PrometheusConfig};
use host_harness::{CompileOptions, Error, Host, HttpResponse, Module, Responder, traffic};

use args::{Command, Format, RunArgs, Topic};
use report::Report;

/// After the last exchange the clock runs this much longer, so the module flushes its batches
/// (edge-telemetry exports at least every second; its export calls time out after 5 s).
const FLUSH: Duration = Duration::from_secs(10);

/// Why a run failed, which decides the exit status.
#[derive(Debug)]
enum Failure {
    /// A command line that cannot run (2, with the usage).
    Usage(args::UsageError),
    /// An input that cannot be read or is malformed, or output that cannot be written (2).
    Input(String),
    /// The module cannot be compiled, rejects its configuration, or traps (1).
    Module(String),
}

/// Runs the command line `args` (without the program name).
pub fn main(args: Vec<OsString>) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(e)) => {
            let (usage, more) = match e.topic {
                Topic::Main => ("meshlens run --wasm FILE --traffic FILE [OPTIONS]", "meshlens --help"),
                Topic::Run => ("meshlens run --wasm FILE --traffic FILE [OPTIONS]", "meshlens run --help"),
            };
            eprintln!("meshlens: error: {}\n\nUsage: {usage}\nRun '{more}' for more information.", e.message);
            ExitCode::from(2)
        }
        Err(Failure::Input(message)) => {
            eprintln!("meshlens: error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Module(message)) => {
            eprintln!("meshlens: error: {message}");
            ExitCode::from(1)
        }
    }
}

fn run(args: Vec<OsString>) -> Result<(), Failure> {
    match args::parse(args).map_err(Failure::Usage)? {
        Command::Help(Topic::Main) => write_stdout(args::MAIN_HELP.as_bytes()),
        Command::Help(Topic::Run) => write_stdout(args::RUN_HELP.as_bytes()),
        Command::Version => write_stdout(
            format!("meshlens {} (proxy-wasm ABI 0.2.0 and 0.2.1)\n", env!("CARGO_PKG_VERSION")).as_bytes(),
        ),
        Command::Run(run) => replay(&run),
    }
}

/// `meshlens run`.
fn replay(args: &RunArgs) -> Result<(), Failure> {
    // Every input is checked before the module is compiled, so mistakes show at once.
    let traffic_name = if args.traffic == Path::new("-") { String::from("<stdin>") } else { show(&args.traffic) };
    let text = read_text(&args.traffic, &traffic_name, "traffic file")?;
    let exchanges = traffic::parse(&text).map_err(|e| {
        let column = e.column.map(|c| format!(":{c}")).unwrap_or_default();
        Failure::Input(format!("{traffic_name}:{}{column}: {}", e.line, e.message))
    })?;
    let config = match &args.config {
        Some(path) => {
            let bytes = read(path, "configuration file")?;
            check_json(path, &bytes)?;
            bytes
        }
        None => Vec::new(),
    };
    let prometheus_config = match &args.envoy_config {
        Some(path) => {
            let text = String::from_utf8_lossy(&read(path, "Envoy configuration")?).into_owned();
            let stats_tags = metrics::stats_tags_from_envoy_yaml(&text)
                .map_err(|e| Failure::Input(format!("{}: {e}", show(path))))?;
            PrometheusConfig { stats_tags, ..PrometheusConfig::default() }
        }
        None => PrometheusConfig::default(),
    };
    let wasm = read(&args.wasm, "module")?;
    // The cost report meters guest instructions and traces hostcalls; other reports run unmetered.
    let costed = args.format == Format::Cost;
    let module = Module::with_options(&wasm, CompileOptions { fuel: costed, ..CompileOptions::default() })
        .map_err(|e| Failure::Module(format!("{}: {e}", show(&args.wasm))))?;

    let mut builder = Host::builder(&module)
        .trace_hostcalls(costed)
        .root_id(&args.root_id)
        .plugin_config(config)
        .seed(args.seed)
        .start_time_unix_nanos(args.start_unix_nanos)
        .log_level(args.log_level);
    for cluster in &args.collector_clusters {
        builder = builder.respond(cluster, Responder::Respond(HttpResponse { status: 200, ..Default::default() }));
    }
    let mut host = builder.build().map_err(|e| start_failure(e, args))?;

    let snapshot =
        |host: &Host| cost::Snapshot { fuel: host.guest_fuel().unwrap_or(0), hostcalls: host.hostcalls().len() };
    let before = snapshot(&host);
    let base = host.now_unix_nanos();
    let mut progress = progress::Progress::new(exchanges.len());
    let outcomes = traffic::replay(&mut host, &exchanges, |done| progress.update(done));
    progress.finish();
    let outcomes = outcomes.map_err(|e| {
        Failure::Module(format!("{traffic_name}:{}: while replaying this exchange: {}", e.line, e.error))
    })?;
    host.advance(FLUSH).map_err(|e| Failure::Module(format!("after the last exchange: {e}")))?;

    let report = Report::new(&host, &exchanges, &outcomes, base, &prometheus_config, args.log_level);
    let rendered = match args.format {
        Format::Cost => {
            cost::render(&show(&args.wasm), wasm.len(), exchanges.len(), &before, &snapshot(&host), host.hostcalls())
        }
        Format::Text => text::render(&report),
        Format::Summary => summary::render(&report),
        Format::Json => {
            let mut json = serde_json::to_string_pretty(&report)
                .map_err(|e| Failure::Input(format!("cannot serialize the report: {e}")))?;
            json.push('\n');
            json
        }
    };
    match &args.out {
        Some(path) => std::fs::write(path, rendered)
            .map_err(|e| Failure::Input(format!("cannot write the report to {}: {}", show(path), io_reason(&e)))),
        None => write_stdout(rendered.as_bytes()),
    }
}

/// The module refused to start: a configuration it rejected, or a trap in start-up.
fn start_failure(error: Error, args: &RunArgs) -> Failure {
    match error {
        Error::Rejected { callback, logs } => {
            let config = args.config.as_deref().map_or_else(|| String::from("an empty configuration"), show);
            let mut message = if callback == "proxy_on_configure" {
                format!("the module rejected {config} ({callback} returned false)")
            } else {
                format!("the module refused to start ({callback} returned false)")
            };
            if logs.is_empty() {
                message.push_str("; it logged no warning or error");
            } else {
                message.push_str("; it logged:");
                for line in logs {
                    message.push_str("\n  ");
                    message.push_str(&line);
                }
            }
            Failure::Module(message)
        }
        other => Failure::Module(format!("{}: {other}", show(&args.wasm))),
    }
}

/// A configuration that is not JSON is the user's mistake, reported with its position; one the
/// module refuses is reported by the module.
fn check_json(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    if bytes.trim_ascii().is_empty() {
        return Ok(());
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map(|_| ()).map_err(|e| {
        let text = e.to_string();
        let message = text.rsplit_once(" at line ").map_or(text.as_str(), |(m, _)| m);
        Failure::Input(format!("{}:{}:{}: not valid JSON: {message}", show(path), e.line(), e.column()))
    })
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::Input(format!("cannot read the {what} {}: {}", show(path), io_reason(&e))))
}

fn read_text(path: &Path, name: &str, what: &str) -> Result<String, Failure> {
    let bytes = if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::Input(format!("cannot read the {what} from standard input: {}", io_reason(&e))))?;
        bytes
    } else {
        read(path, what)?
    };
    String::from_utf8(bytes).map_err(|e| {
        let line =
            e.as_bytes().get(..e.utf8_error().valid_up_to()).map_or(0, |b| b.iter().filter(|c| **c == b'\n').count())
                + 1;
        Failure::Input(format!("{name}:{line}: the {what} is not valid UTF-8"))
    })
}

/// An I/O error without Rust's " (os error 2)".
fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    text.split_once(" (os error").map_or(text.clone(), |(reason, _)| reason.to_owned())
}

fn show(path: &Path) -> String {
    path.display().to_string()
}

/// Writes to standard output; a closed pipe (`meshlens run ... | head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::Input(format!("cannot write to standard output: {}", io_reason(&e))))
        }
        _ => Ok(()),
    }
}
