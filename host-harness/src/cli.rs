//! The `meshlens` command line: reads the inputs, builds a host, replays the traffic with
//! [`host_harness::traffic`], and prints the report. Failures end with a message on standard
//! error and an exit status: 2 for usage and input errors, 1 when the module fails.

mod args;
mod cost;
mod html;
mod progress;
mod prometheus;
mod report;
mod summary;
mod text;
mod time;

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use host_harness::metrics::{self, PrometheusConfig};
use host_harness::{CompileOptions, Error, Host, HttpResponse, Module, Script, traffic};

use args::{Command, Format, RunArgs, Topic};
use report::Collector;

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
    /// Standard output was closed while the report was written (0: `| head` is fine).
    Closed,
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
        Err(Failure::Closed) => ExitCode::SUCCESS,
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

/// `meshlens run`: the report is written even when the module trapped (the run goes on under the
/// failure policy, as Envoy's does); the run then fails naming the first trap.
fn replay(args: &RunArgs) -> Result<(), Failure> {
    let mut trap = None;
    replay_report(args, &mut trap)?;
    match trap {
        Some(message) => Err(Failure::Module(message)),
        None => Ok(()),
    }
}

fn replay_report(args: &RunArgs, trap: &mut Option<String>) -> Result<(), Failure> {
    // Every input is checked before the module is compiled, so mistakes show at once. The
    // traffic is read twice when it is a file: once to check it (and count it), once to replay
    // it, an exchange at a time; standard input is checked as it is replayed.
    let stdin = args.traffic == Path::new("-");
    let traffic_name = if stdin { String::from("<stdin>") } else { show(&args.traffic) };
    let traffic_error = |e: traffic::TrafficError| {
        let column = e.column.map(|c| format!(":{c}")).unwrap_or_default();
        Failure::Input(format!("{traffic_name}:{}{column}: {}", e.line, e.message))
    };
    let total = if stdin {
        None
    } else {
        let mut n = 0;
        for exchange in traffic::Reader::new(open(&args.traffic, "traffic file")?) {
            exchange.map_err(traffic_error)?;
            n += 1;
        }
        Some(n)
    };
    // Envoy hands the configuration to the module as it is: no check, no parsing.
    let config = match (&args.config, &args.config_raw) {
        (Some(path), _) => read(path, "configuration file")?,
        (None, Some(text)) => text.clone().into_bytes(),
        (None, None) => Vec::new(),
    };
    let mut script = match &args.callouts {
        Some(path) => {
            let bytes = text_input(path, read(path, "callout script")?, "JSON")?;
            Script::parse(&String::from_utf8_lossy(&bytes)).map_err(|e| {
                let place = if e.line > 0 { format!(":{}:{}", e.line, e.column) } else { String::new() };
                Failure::Input(format!("{}{place}: {}", show(path), e.message))
            })?
        }
        None => Script::default(),
    };
    for cluster in &args.collector_clusters {
        script.push(Script::always(cluster, HttpResponse { status: 200, ..Default::default() }));
    }
    let vm_config = match &args.vm_config {
        Some(path) => read(path, "VM configuration file")?,
        None => Vec::new(),
    };
    let prometheus_config = match &args.envoy_config {
        Some(path) => {
            let bytes = text_input(path, read(path, "Envoy configuration")?, "YAML/JSON")?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let stats_tags = metrics::stats_tags_from_envoy_yaml(&text)
                .map_err(|e| Failure::Input(format!("{}: {e}", show(path))))?;
            PrometheusConfig { stats_tags, ..PrometheusConfig::default() }
        }
        None => PrometheusConfig::default(),
    };
    let wasm = host_harness::wasm_binary(&args.wasm, read(&args.wasm, "module")?)
        .map_err(|e| Failure::Module(format!("{}: {e}", show(&args.wasm))))?;
    // The cost report meters guest instructions and traces hostcalls; other reports run unmetered.
    let costed = args.format == Format::Cost;
    let options =
        CompileOptions { fuel: costed, deadline: args.callback_time_limit.is_some(), ..CompileOptions::default() };
    let module = Module::with_options(&wasm, options).map_err(|e| match e {
        // Not a module at all: the wrong file, an input error.
        Error::Compile(m) if m.starts_with("not a Wasm module") => Failure::Input(format!("{}: {m}", show(&args.wasm))),
        e => Failure::Module(format!("{}: {e}", show(&args.wasm))),
    })?;

    let mut builder = Host::builder(&module)
        .trace_hostcalls(costed)
        .vm_config(vm_config)
        .failure_policy(args.failure_policy)
        .workers(args.workers)
        .seed(args.seed)
        .start_time_unix_nanos(args.start_unix_nanos)
        .log_level(args.log_level)
        .envoy_defaults(args.envoy_defaults);
    if let Some(limit) = args.callback_time_limit {
        builder = builder.time_per_call(limit);
    }
    builder = builder.callouts(script);
    if args.http_plugin || !args.plugins.is_empty() {
        builder = builder.root_id(&args.root_id).plugin_config(config);
    }
    for (root_id, file) in &args.plugins {
        let configuration = match file {
            Some(path) => read(path, "plugin configuration file")?,
            None => Vec::new(),
        };
        builder = builder.add_plugin(root_id, configuration);
    }
    for (root_id, file) in &args.services {
        let configuration = match file {
            Some(path) => read(path, "service configuration file")?,
            None => Vec::new(),
        };
        builder = builder.add_service(root_id, configuration);
    }
    let mut host = builder.build().map_err(|e| start_failure(e, args))?;

    let snapshot = |host: &Host| cost::Snapshot { fuel: host.guest_fuel().unwrap_or(0) };
    let before = snapshot(&host);
    // Start-up's hostcalls are not the exchanges' cost.
    host.take_hostcalls();
    // JSON Lines go out as they are produced; the other formats are written at the end.
    let live: Option<Box<dyn Write>> = match (args.format, &args.out) {
        (Format::Jsonl, Some(path)) => {
            Some(Box::new(std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| {
                Failure::Input(format!("cannot write the report to {}: {}", show(path), io_reason(&e)))
            })?)))
        }
        (Format::Jsonl, None) => Some(Box::new(std::io::BufWriter::new(std::io::stdout().lock()))),
        _ => None,
    };
    let mut collector = Collector::new(args.format, &host, args.log_level, live);
    collector.body_limit = args.body_limit;
    let mut progress = progress::Progress::new(total.unwrap_or(0));
    let exchanges: Box<dyn Iterator<Item = Result<traffic::Exchange, traffic::TrafficError>>> = if stdin {
        Box::new(traffic::Reader::new(std::io::stdin().lock()))
    } else {
        Box::new(traffic::Reader::new(open(&args.traffic, "traffic file")?))
    };
    let exchanges = exchanges.enumerate().map(|(seq, r)| {
        r.map(|exchange| report::Numbered { seq, exchange }).map_err(|e| Stop::Failure(traffic_error(e)))
    });
    let replayed = traffic::replay_stream(&mut host, exchanges, |host, line_of, ended| {
        if ended.is_some() {
            progress.update(collector.summary.exchanges + 1);
        }
        collector
            .step(host, line_of, ended.as_ref().map(|(x, o)| (x.seq, &x.exchange, o)), false)
            .map_err(|e| output_failure(e, args).into())
    });
    progress.finish();
    let replayed = replayed.map_err(|stop| match stop {
        Stop::Failure(f) => f,
        Stop::Closed => Failure::Closed,
        Stop::Replay(e) => {
            Failure::Module(format!("{traffic_name}:{}: while replaying this exchange: {}", e.line, explain(&e.error)))
        }
    })?;
    host.advance(FLUSH).map_err(|e| Failure::Module(format!("after the last exchange: {}", explain(&e))))?;
    // Envoy tears the plugin down: `proxy_on_done` on every root context.
    host.shutdown().map_err(|e| Failure::Module(format!("at shutdown: {}", explain(&e))))?;
    collector.step(&mut host, &|_| None, None, true).map_err(|e| output_failure(e, args))?;
    collector.finish(&host);
    *trap = collector.summary.traps.first().map(|t| {
        let place = t.line.map(|l| format!("{traffic_name}:{l}: while replaying this exchange: ")).unwrap_or_default();
        let policy = match args.failure_policy {
            host_harness::FailurePolicy::FailClosed => "fail-closed: later requests were answered 503",
            host_harness::FailurePolicy::FailOpen => "fail-open: later requests passed without the filter",
        };
        let hint = if t.error.contains("per callback") {
            "\n(--callback-time-limit changes the limit; 0 removes it)"
        } else {
            ""
        };
        format!(
            "{place}{}\n(the run went on under --failure-policy {policy}; the report names the trap){hint}",
            t.error
        )
    });
    if collector.summary.unmatched_callouts > 0 {
        eprintln!(
            "meshlens: warning: {} callout(s) matched no --callouts rule and failed as calls to a cluster with no \
             healthy endpoint do (HTTP: proxy_http_call fails with INTERNAL_FAILURE; gRPC: UNAVAILABLE, 14)",
            collector.summary.unmatched_callouts
        );
    }

    let metrics = Collector::metrics(&host, &prometheus_config);
    let grpc = Collector::grpc(&host);
    let inputs = html::Inputs {
        wasm: show(&args.wasm),
        config: args.config.as_deref().map(show),
        traffic: traffic_name.clone(),
        envoy_config: args.envoy_config.as_deref().map(show),
        seed: args.seed,
        ticks: host.ticks_delivered(),
    };
    if collector.out.is_some() {
        let summary = std::mem::take(&mut collector.summary);
        let mut records = || -> std::io::Result<()> {
            for g in &grpc {
                collector.write_record("grpc_call", g)?;
            }
            collector.write_record("metrics", &metrics)?;
            collector.write_record("summary", &summary)?;
            collector.out.as_mut().map_or(Ok(()), |out| out.flush())
        };
        return records().map_err(|e| output_failure(e, args)).or_else(|f| match f {
            Failure::Closed => Ok(()),
            f => Err(f),
        });
    }
    let write = |out: &mut dyn Write| -> std::io::Result<()> {
        match args.format {
            Format::Cost => out.write_all(
                cost::render(&show(&args.wasm), wasm.len(), replayed, &before, &snapshot(&host), &collector.hostcalls)
                    .as_bytes(),
            ),
            Format::Text => text::write(out, &mut collector, &metrics, &grpc),
            Format::Summary => summary::write(out, &mut collector, &metrics),
            Format::Json => report::write_json(out, &mut collector, &metrics, &grpc),
            Format::Html => html::write(out, &collector, &metrics, &inputs),
            Format::Jsonl => Ok(()),
        }
    };
    let mut write = write;
    match &args.out {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| Failure::Input(format!("cannot write the report to {}: {}", show(path), io_reason(&e))))?;
            let mut out = std::io::BufWriter::new(file);
            write(&mut out)
                .and_then(|()| out.flush())
                .map_err(|e| Failure::Input(format!("cannot write the report to {}: {}", show(path), io_reason(&e))))
        }
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match write(&mut out).and_then(|()| out.flush()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    Err(Failure::Input(format!("cannot write to standard output: {}", io_reason(&e))))
                }
                _ => Ok(()),
            }
        }
    }
}

/// Why a replay stopped: the module or the host ([`traffic::ReplayError`]), or anything else.
enum Stop {
    Replay(traffic::ReplayError),
    Failure(Failure),
    /// Standard output was closed.
    Closed,
}

impl From<traffic::ReplayError> for Stop {
    fn from(e: traffic::ReplayError) -> Self {
        Self::Replay(e)
    }
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Closed => Self::Closed,
            f => Self::Failure(f),
        }
    }
}

/// A harness error, with what the user can do about a callback that ran too long.
fn explain(e: &Error) -> String {
    match e {
        Error::Trap { message, .. } if message.contains("per callback") => {
            format!("{e}\n(--callback-time-limit changes the limit; 0 removes it)")
        }
        _ => e.to_string(),
    }
}

/// The report could not be written: to a temporary file (the sections waiting for the counts
/// at the head of the report), or, for JSON Lines, to the output. A closed standard output
/// (`meshlens run ... | head`) is not an error: the run just stops.
fn output_failure(e: std::io::Error, args: &RunArgs) -> Failure {
    match (args.format, &args.out) {
        (Format::Jsonl, None) if e.kind() == std::io::ErrorKind::BrokenPipe => Failure::Closed,
        (Format::Jsonl, None) => Failure::Input(format!("cannot write to standard output: {}", io_reason(&e))),
        (Format::Jsonl, Some(path)) => {
            Failure::Input(format!("cannot write the report to {}: {}", show(path), io_reason(&e)))
        }
        _ => Failure::Input(format!("cannot keep the report in a temporary file: {}", io_reason(&e))),
    }
}

/// An input that must be text: binary data is refused, saying what was expected; a UTF-8 byte
/// order mark is dropped.
fn text_input(path: &Path, bytes: Vec<u8>, expected: &str) -> Result<Vec<u8>, Failure> {
    if std::str::from_utf8(&bytes).is_err() || bytes.contains(&0) {
        return Err(Failure::Input(format!("{}: expected {expected} text, got binary data", show(path))));
    }
    Ok(match bytes.strip_prefix("\u{feff}".as_bytes()) {
        Some(rest) => rest.to_vec(),
        None => bytes,
    })
}

/// The module refused to start: a configuration it rejected, or a trap in start-up.
fn start_failure(error: Error, args: &RunArgs) -> Failure {
    match error {
        Error::Rejected { callback, logs } => {
            let config = match (&args.config, &args.config_raw) {
                (Some(path), _) => show(path),
                (None, Some(_)) => String::from("the --config-raw configuration"),
                (None, None) => String::from("an empty configuration"),
            };
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

fn open(path: &Path, what: &str) -> Result<std::io::BufReader<std::fs::File>, Failure> {
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::Input(format!("cannot read the {what} {}: {}", show(path), io_reason(&e))))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(Failure::Input(format!("cannot read the {what} {}: Is a directory", show(path))));
    }
    Ok(std::io::BufReader::with_capacity(1 << 16, file))
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::Input(format!("cannot read the {what} {}: {}", show(path), io_reason(&e))))
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
