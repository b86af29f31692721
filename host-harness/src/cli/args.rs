//! The command line, parsed by hand: subcommands, `--flag VALUE` and `--flag=VALUE`, help and
//! version, and errors that suggest the flag the user probably meant.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use host_harness::suggest::closest;
use host_harness::{DEFAULT_START_UNIX_NANOS, LogLevel};

use super::time;

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help(Topic),
    Version,
    Run(Box<RunArgs>),
}

/// Which help text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Main,
    Run,
}

/// `meshlens run`'s options, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunArgs {
    pub wasm: PathBuf,
    /// The plugin configuration file, passed to the module byte for byte (Envoy's
    /// `configuration`: never parsed by the host).
    pub config: Option<PathBuf>,
    /// The plugin configuration given on the command line (`--config-raw`).
    pub config_raw: Option<String>,
    /// The VM configuration file (`vm_config.configuration`, `proxy_on_vm_start`), byte for byte.
    pub vm_config: Option<PathBuf>,
    /// `-` is standard input.
    pub traffic: PathBuf,
    pub format: Format,
    pub out: Option<PathBuf>,
    pub root_id: String,
    pub collector_clusters: Vec<String>,
    /// The callout script (`--callouts`).
    pub callouts: Option<PathBuf>,
    /// Envoy's `failure_policy` once the module traps.
    pub failure_policy: host_harness::FailurePolicy,
    /// Root-only services (`--service ROOT_ID[=CONFIG_FILE]`), in order.
    pub services: Vec<(String, Option<PathBuf>)>,
    /// HTTP plugins after the first (`--plugin ROOT_ID[=CONFIG_FILE]`), in filter order.
    pub plugins: Vec<(String, Option<PathBuf>)>,
    /// Whether the HTTP plugin runs: not with services only (no --root-id, --config, --config-raw).
    pub http_plugin: bool,
    /// Workers (VMs), Envoy's `--concurrency`.
    pub workers: usize,
    /// An Envoy bootstrap whose `stats_config.stats_tags` label the metrics.
    pub envoy_config: Option<PathBuf>,
    pub seed: u64,
    pub start_unix_nanos: u64,
    /// The proxy's log level: what `proxy_get_log_level` reports; lines below it are not written.
    pub log_level: LogLevel,
    /// How long one callback may run (wall-clock) before the run fails; `None`: no limit.
    pub callback_time_limit: Option<Duration>,
    /// Add what Envoy adds to each exchange (`HostBuilder::envoy_defaults`).
    pub envoy_defaults: bool,
    /// How many bytes of each body the JSON reports show.
    pub body_limit: usize,
}

/// The report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Summary,
    Cost,
    /// One JSON record per line, written as the replay produces it.
    Jsonl,
    /// One self-contained HTML page: waterfall, histograms, status mix, access lines, metrics.
    Html,
}

/// A command line that cannot run: the message, and which usage to show with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    pub message: String,
    pub topic: Topic,
}

pub const MAIN_HELP: &str = "\
meshlens: run proxy-wasm filters offline, on recorded traffic, on a virtual clock

Usage:
  meshlens run --wasm FILE --traffic FILE [OPTIONS]
  meshlens help [COMMAND]
  meshlens --help | --version

Commands:
  run     Replay recorded HTTP exchanges through a proxy-wasm module and report
          what it emitted: headers, local replies, spans, metrics, logs, callouts
  help    Print this help, or a command's

Options:
  -h, --help       Print help
  -V, --version    Print the version

Run 'meshlens run --help' for the options of run and the traffic format.
";

pub const RUN_HELP: &str = "\
Replay recorded HTTP exchanges through a proxy-wasm module and report what it emitted:
the headers it added or removed upstream and downstream, its local replies, the spans it
exported (OTLP/HTTP JSON), its metrics (Prometheus text), its log lines and its callouts.
Time is virtual and randomness seeded: the same inputs give byte-identical output.

Usage: meshlens run --wasm FILE --traffic FILE [OPTIONS]

Inputs:
      --wasm FILE               The proxy-wasm module (.wasm, ABI 0.2.0 or 0.2.1)
      --traffic FILE            Recorded exchanges, JSON Lines ('-' reads standard input)
      --config FILE             Plugin configuration given to the module byte for byte,
                                as Envoy passes its `configuration` (JSON, plain text or
                                anything else: the host never parses it)
                                [default: an empty configuration]
      --config-raw STRING       The plugin configuration as an argument instead of a file
      --vm-config FILE          VM configuration (`vm_config.configuration`), byte for
                                byte, given to proxy_on_vm_start [default: empty]
Output:
      --format text|json|jsonl|summary|cost|html
                                Report format: everything as text, everything as JSON,
                                the same as JSON Lines written as the replay goes (one
                                record per exchange, log line, HTTP call and span as each
                                completes; gRPC calls, metrics and the summary last), a
                                short summary per route, what the module costs per
                                exchange (guest Wasm instructions and hostcalls by name,
                                counted, not timed), or one self-contained HTML page
                                (span waterfall per trace, latency histograms and status
                                codes per route, searchable access lines, metric series,
                                self-telemetry; the first 200 traces and 2,000 access
                                lines; no external assets) [default: text]
      --out FILE                Write the report to FILE instead of standard output
Host:
      --root-id ID              The plugin's root id [default: empty, as Envoy's]
      --collector-cluster NAME  A cluster whose HTTP calls are answered 200 at once, after
                                the --callouts rules; repeat it for several
                                [default: otel_collector]
      --callouts FILE           Scripted callout answers (JSON): rules by cluster, :path
                                prefix or gRPC service/method, each with answers used in
                                order (HTTP status, headers, body, delay_ms; reset; timeout;
                                gRPC grpc_status, grpc_message, message, metadata), see
                                below. A call no rule answers fails as one to a cluster
                                with no healthy endpoint does in Envoy (proxy_http_call
                                returns INTERNAL_FAILURE; gRPC: UNAVAILABLE, 14), with a
                                warning
      --failure-policy fail-closed|fail-open
                                Once the module traps its VM is dead, as in Envoy: the
                                request that trapped is answered 503, later requests 503
                                (fail-closed) or passed without the filter (fail-open);
                                the run goes on, the report names the trap, and the exit
                                status is 1 [default: fail-closed, Envoy's]
      --workers N               Workers, as Envoy's --concurrency: N VMs of the module,
                                each with its own root contexts (on_configure per worker),
                                sharing the VM id's shared data and queues; exchanges go
                                to the workers in turn [default: 1]
      --plugin ROOT_ID[=FILE]   Another HTTP plugin of the module in the same VM, configured
                                with FILE (bytes as they are): its filter follows the
                                first plugin's (--root-id, --config) on every exchange, as
                                in an Envoy filter chain; repeat it for several, in order
      --service ROOT_ID[=FILE]  A root-only service in the same VM (Envoy's WasmService),
                                configured with FILE: its ticks and callouts run, no
                                stream reaches it; repeat it for several. With services
                                and no --root-id, --config or --config-raw, the module runs
                                as services only and exchanges pass without a filter
      --envoy-config FILE       An Envoy bootstrap whose stats_config.stats_tags turn stat
                                names into Prometheus labels, as in that Envoy (e.g.
                                envoy-config/edge-gateway.yaml) [default: no tags]
      --seed N                  Seed of the module's random source, decimal or 0x-hex
                                [default: 0x5eed]
      --start-time TIME         Where the virtual clock starts: RFC 3339 or Unix
                                nanoseconds [default: 2026-01-01T00:00:00Z]
      --callback-time-limit DURATION
                                How long one callback of the module may run (wall-clock)
                                before the run fails naming it, so a guest that loops
                                forever cannot hang the run: 10s, 250ms, 0 for no limit
                                [default: 10s]
      --log-level LEVEL         The proxy's log level, as Envoy's -l (or its
                                --component-log-level wasm:LEVEL) sets it: trace, debug,
                                info, warning, error or critical. proxy_get_log_level
                                reports it, and lines below it are not written, so not
                                reported (Istio's proxies run at warning) [default: info]
      --envoy-defaults          Add what Envoy 1.40 adds (measured): x-forwarded-proto and a
                                seeded x-request-id before the module sees the request, its
                                HTTP/1 pseudo-header order, x-envoy-upstream-service-time on
                                upstream responses; bodies arrive as data then an empty
                                end-of-stream call
      --body-limit BYTES        How much of each body the json and jsonl reports show (as
                                text, or base64 when not UTF-8; longer bodies are cut and
                                marked \"truncated\": <length>) [default: 4096]
  -h, --help                    Print this help

Traffic: one exchange per line, a JSON object; blank lines and lines starting with
'#' or '//' are ignored; unknown fields are errors.
  method    request method [default: GET]
  path      :path with the query (required)
  authority [default: localhost]      scheme  [default: http]
  headers   {\"name\": \"value\"} or [[\"name\", \"value\"], ...]
  body      request body: a string, or an object/array sent as compact JSON
  response  {\"status\": 200, \"headers\": {...}, \"body\": ..., \"latency_ms\": 0}
            (every member optional; the values shown are the defaults; latency_ms
            at most 3600000, 1 hour)
  at_ms     arrival, in ms since the replay started, at most 604800000 (7 days)
            [default: when the previous exchange's response came]; lines are in time
            order, overlaps run together
  client    the downstream peer, ip:port [default: 127.0.0.1:40000]
  note      a comment, ignored
Version 2 (first line {\"meshlens_traffic\": 2}) adds, per exchange and in response:
  chunks    the body as a list of pieces (strings or JSON), one body callback each,
            end of stream on the last; instead of body
  trailers  as headers
  properties (request side only) {\"metadata\": {\"<namespace>\": {\"key\": value}},
            \"filter_state\": {\"key\": \"bytes\"}, \"attributes\": {\"dotted.path\": value}}
Example:
  {\"method\": \"POST\", \"path\": \"/api/v1/query\", \"headers\": {\"traceparent\": \"00-4bf9...-01\"},
   \"body\": {\"question\": \"top customers\"}, \"response\": {\"status\": 200, \"latency_ms\": 120}}

Callouts: {\"rules\": [RULE, ...]}; unknown fields are errors.
  RULE      {\"cluster\": NAME, \"path_prefix\": \"/bytes\" | \"grpc_service\": S, \"grpc_method\": M,
             \"answers\": [ANSWER, ...], \"then\": \"repeat_last\" (default) | \"cycle\"}
  ANSWER    HTTP {\"status\": 200, \"headers\": {...}, \"body\": TEXT | \"body_base64\": B64, \"delay_ms\": 0}
            {\"reset\": true, \"delay_ms\": 0}   the module sees a failed call (no headers)
            {\"timeout\": true}               never answered: the call's own timeout fires
            gRPC {\"grpc_status\": 0, \"grpc_message\": TEXT, \"message\": TEXT | \"message_base64\": B64,
                  \"initial_metadata\": {...}, \"trailing_metadata\": {...}, \"delay_ms\": 0}
  A gRPC call that reaches its timeout closes with UNAVAILABLE (14), message 'upstream
  request timeout{response_timeout}', as in Envoy 1.40.

Each exchange runs on its own stream: request headers and body at at_ms, response headers
and body latency_ms later, then the end of the stream. A local reply from the module
replaces the upstream response; a request the module still holds when its response is due
ends without one. After the last exchange the clock runs 10 s more, so the module can flush
what it batches (spans). Idle stretches are skipped: after 100 ticks in a row with nothing
else due, a root gets one tick at the end of the stretch (Envoy's timer does not queue
missed ticks either). Reports are gathered as exchanges end, in bounded memory.

Exit status: 0 success; 1 the module failed (it could not be compiled, rejected its
configuration, trapped, or ran past --callback-time-limit); 2 usage or input error (bad
flag, unreadable or malformed file, or a file that is not what its flag expects).
";

/// One flag of `run`: its name, and whether it may be given more than once.
struct Flag {
    name: &'static str,
    repeatable: bool,
}

/// Flags of `run` that take no value.
const RUN_SWITCHES: [&str; 1] = ["--envoy-defaults"];

const RUN_FLAGS: [Flag; 20] = [
    Flag { name: "--workers", repeatable: false },
    Flag { name: "--failure-policy", repeatable: false },
    Flag { name: "--service", repeatable: true },
    Flag { name: "--plugin", repeatable: true },
    Flag { name: "--callouts", repeatable: false },
    Flag { name: "--wasm", repeatable: false },
    Flag { name: "--traffic", repeatable: false },
    Flag { name: "--config", repeatable: false },
    Flag { name: "--config-raw", repeatable: false },
    Flag { name: "--vm-config", repeatable: false },
    Flag { name: "--format", repeatable: false },
    Flag { name: "--out", repeatable: false },
    Flag { name: "--root-id", repeatable: false },
    Flag { name: "--collector-cluster", repeatable: true },
    Flag { name: "--seed", repeatable: false },
    Flag { name: "--envoy-config", repeatable: false },
    Flag { name: "--start-time", repeatable: false },
    Flag { name: "--log-level", repeatable: false },
    Flag { name: "--callback-time-limit", repeatable: false },
    Flag { name: "--body-limit", repeatable: false },
];

/// Parses the arguments after the program name.
pub fn parse(args: Vec<OsString>) -> Result<Command, UsageError> {
    let args = args
        .into_iter()
        .map(|a| a.into_string().map_err(|a| usage(Topic::Main, format!("argument {a:?} is not valid UTF-8"))))
        .collect::<Result<Vec<String>, UsageError>>()?;
    let mut rest = args.into_iter();
    let Some(first) = rest.next() else {
        return Err(usage(Topic::Main, String::from("no command given")));
    };
    match first.as_str() {
        "-h" | "--help" => Ok(Command::Help(Topic::Main)),
        "-V" | "--version" => Ok(Command::Version),
        "help" => match rest.next().as_deref() {
            None => Ok(Command::Help(Topic::Main)),
            Some("run") => Ok(Command::Help(Topic::Run)),
            Some(other) => Err(usage(Topic::Main, unknown_command(other))),
        },
        "run" => run(rest.collect()),
        other if other.starts_with('-') => {
            let hint = if RUN_FLAGS.iter().any(|f| f.name == other.split('=').next().unwrap_or(other)) {
                format!("; it is an option of run: meshlens run {other} ...")
            } else {
                String::new()
            };
            Err(usage(Topic::Main, format!("unknown option {other} (a command comes first){hint}")))
        }
        other => Err(usage(Topic::Main, unknown_command(other))),
    }
}

fn unknown_command(name: &str) -> String {
    match closest(name, &["run", "help"]) {
        Some(near) => format!("unknown command '{name}'; did you mean '{near}'?"),
        None => format!("unknown command '{name}'; the commands are run and help"),
    }
}

/// `run`'s flags.
fn run(args: Vec<String>) -> Result<Command, UsageError> {
    let mut values: Vec<(&'static str, String)> = Vec::new();
    let mut switches: Vec<String> = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(Command::Help(Topic::Run));
        }
        if !arg.starts_with('-') || arg == "-" {
            return Err(usage(Topic::Run, format!("unexpected argument '{arg}' (every input is given with a flag)")));
        }
        if RUN_SWITCHES.contains(&arg.as_str()) {
            if switches.contains(&arg) {
                return Err(usage(Topic::Run, format!("{arg} is given twice")));
            }
            switches.push(arg);
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        let Some(flag) = RUN_FLAGS.iter().find(|f| f.name == name) else {
            let names: Vec<&str> = RUN_FLAGS.iter().map(|f| f.name).chain(RUN_SWITCHES).chain(["--help"]).collect();
            let message = match closest(&name, &names) {
                Some(near) => format!("unknown flag {name}; did you mean {near}?"),
                None => format!("unknown flag {name}"),
            };
            return Err(usage(Topic::Run, message));
        };
        let value = match inline {
            Some(value) => value,
            None => match args.next() {
                Some(value)
                    if !RUN_FLAGS.iter().any(|f| f.name == value.split('=').next().unwrap_or(&value))
                        && !RUN_SWITCHES.contains(&value.as_str()) =>
                {
                    value
                }
                _ => return Err(usage(Topic::Run, format!("{name} needs a value ({})", metavar(flag.name)))),
            },
        };
        if !flag.repeatable && values.iter().any(|(n, _)| *n == flag.name) {
            return Err(usage(Topic::Run, format!("{name} is given twice")));
        }
        values.push((flag.name, value));
    }
    let one = |name: &str| values.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
    let required = |name: &str| one(name).ok_or_else(|| usage(Topic::Run, format!("missing {name} {}", metavar(name))));
    let nonempty = |name: &str, value: String| {
        if value.is_empty() { Err(usage(Topic::Run, format!("{name}: empty value"))) } else { Ok(value) }
    };
    let wasm = PathBuf::from(nonempty("--wasm", required("--wasm")?)?);
    let traffic = PathBuf::from(nonempty("--traffic", required("--traffic")?)?);
    let config = one("--config").map(|v| nonempty("--config", v)).transpose()?.map(PathBuf::from);
    let config_raw = one("--config-raw");
    if config.is_some() && config_raw.is_some() {
        return Err(usage(Topic::Run, String::from("--config and --config-raw are given together; give one")));
    }
    let vm_config = one("--vm-config").map(|v| nonempty("--vm-config", v)).transpose()?.map(PathBuf::from);
    let out = one("--out").map(|v| nonempty("--out", v)).transpose()?.map(PathBuf::from);
    let format = match one("--format").as_deref() {
        None | Some("text") => Format::Text,
        Some("json") => Format::Json,
        Some("summary") => Format::Summary,
        Some("cost") => Format::Cost,
        Some("jsonl") => Format::Jsonl,
        Some("html") => Format::Html,
        Some(other) => {
            return Err(usage(
                Topic::Run,
                format!("--format: expected text, json, jsonl, summary, cost or html, got '{other}'"),
            ));
        }
    };
    let http_plugin = values.iter().all(|(n, _)| *n != "--service")
        || one("--root-id").is_some()
        || config.is_some()
        || config_raw.is_some();
    let root_id = one("--root-id").unwrap_or_default();
    let roots = |flag: &str| {
        values
            .iter()
            .filter(|(n, _)| *n == flag)
            .map(|(_, v)| match v.split_once('=') {
                Some((root, file)) => {
                    nonempty(flag, file.to_owned()).map(|f| (root.to_owned(), Some(PathBuf::from(f))))
                }
                None => Ok((v.clone(), None)),
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let services = roots("--service")?;
    let plugins = roots("--plugin")?;
    let workers = match one("--workers") {
        None => 1,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=64).contains(n))
            .ok_or_else(|| usage(Topic::Run, format!("--workers: expected a number from 1 to 64, got '{text}'")))?,
    };
    let failure_policy = match one("--failure-policy").as_deref() {
        None | Some("fail-closed") => host_harness::FailurePolicy::FailClosed,
        Some("fail-open") => host_harness::FailurePolicy::FailOpen,
        Some(other) => {
            return Err(usage(
                Topic::Run,
                format!("--failure-policy: expected fail-closed or fail-open, got '{other}'"),
            ));
        }
    };
    let mut collector_clusters: Vec<String> =
        values.iter().filter(|(n, _)| *n == "--collector-cluster").map(|(_, v)| v.clone()).collect();
    for cluster in &collector_clusters {
        nonempty("--collector-cluster", cluster.clone())?;
    }
    if collector_clusters.is_empty() {
        collector_clusters.push(String::from("otel_collector"));
    }
    let callouts = one("--callouts").map(|v| nonempty("--callouts", v)).transpose()?.map(PathBuf::from);
    let envoy_config = one("--envoy-config").map(|v| nonempty("--envoy-config", v)).transpose()?.map(PathBuf::from);
    let seed = match one("--seed") {
        None => 0x5eed,
        Some(text) => parse_u64(&text)
            .ok_or_else(|| usage(Topic::Run, format!("--seed: expected a number (decimal or 0x-hex), got '{text}'")))?,
    };
    let start_unix_nanos = match one("--start-time") {
        None => DEFAULT_START_UNIX_NANOS,
        Some(text) => time::parse(&text).map_err(|e| usage(Topic::Run, format!("--start-time: {e}")))?,
    };
    let log_level = match one("--log-level").as_deref() {
        None | Some("info") => LogLevel::Info,
        Some("trace") => LogLevel::Trace,
        Some("debug") => LogLevel::Debug,
        Some("warning" | "warn") => LogLevel::Warn,
        Some("error") => LogLevel::Error,
        Some("critical") => LogLevel::Critical,
        Some(other) => {
            return Err(usage(
                Topic::Run,
                format!("--log-level: expected trace, debug, info, warning, error or critical, got '{other}'"),
            ));
        }
    };
    let callback_time_limit = match one("--callback-time-limit") {
        None => Some(DEFAULT_CALLBACK_TIME_LIMIT),
        Some(text) => duration(&text).ok_or_else(|| {
            usage(
                Topic::Run,
                format!("--callback-time-limit: expected a duration (10s, 250ms; 0 for no limit), got '{text}'"),
            )
        })?,
    };
    let body_limit = match one("--body-limit") {
        None => crate::cli::report::DEFAULT_BODY_LIMIT,
        Some(text) => text.parse::<usize>().map_err(|_| {
            usage(Topic::Run, format!("--body-limit: expected a number of bytes (0 or more), got '{text}'"))
        })?,
    };
    let envoy_defaults = switches.iter().any(|s| s == "--envoy-defaults");
    let latest = u64::MAX - REPLAY_NANOS_MAX;
    if start_unix_nanos > latest {
        return Err(usage(
            Topic::Run,
            format!(
                "--start-time: {start_unix_nanos} is too late: the virtual clock must be able to run the longest \
                 replay (7 days and 1 hour, plus the final 10 s) before 2554-07-21T23:34:33Z, so the latest start \
                 is {latest}"
            ),
        ));
    }
    Ok(Command::Run(Box::new(RunArgs {
        wasm,
        config,
        config_raw,
        vm_config,
        traffic,
        format,
        out,
        root_id,
        collector_clusters,
        callouts,
        failure_policy,
        services,
        plugins,
        http_plugin,
        workers,
        envoy_config,
        seed,
        start_unix_nanos,
        log_level,
        callback_time_limit,
        envoy_defaults,
        body_limit,
    })))
}

/// How long one callback may run before the run fails, unless `--callback-time-limit` says
/// otherwise: far more than any callback needs, far less than a user waits.
pub const DEFAULT_CALLBACK_TIME_LIMIT: Duration = Duration::from_secs(10);

/// The most virtual time a replay can take: the latest `at_ms`, the longest latency, the flush.
const REPLAY_NANOS_MAX: u64 =
    (host_harness::traffic::MAX_AT_MS + host_harness::traffic::MAX_LATENCY_MS) * 1_000_000 + 10_000_000_000;

/// `10s`, `1.5s`, `250ms`, `10` (seconds); `0` is none.
fn duration(text: &str) -> Option<Option<Duration>> {
    let (number, scale) = match text.strip_suffix("ms") {
        Some(n) => (n, 1e-3),
        None => (text.strip_suffix('s').unwrap_or(text), 1.0),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let seconds = number.parse::<f64>().ok()? * scale;
    if seconds == 0.0 {
        return Some(None);
    }
    Duration::try_from_secs_f64(seconds).ok().filter(|d| !d.is_zero()).map(Some)
}

fn usage(topic: Topic, message: String) -> UsageError {
    UsageError { message, topic }
}

fn metavar(flag: &str) -> &'static str {
    match flag {
        "--format" => "text|json|jsonl|summary|cost|html",
        "--root-id" => "ID",
        "--collector-cluster" => "NAME",
        "--seed" => "N",
        "--start-time" => "TIME",
        "--log-level" => "LEVEL",
        "--callback-time-limit" => "DURATION",
        "--body-limit" => "BYTES",
        "--config-raw" => "STRING",
        "--callouts" => "FILE",
        "--failure-policy" => "fail-closed|fail-open",
        "--workers" => "N",
        "--service" | "--plugin" => "ROOT_ID[=FILE]",
        _ => "FILE",
    }
}

fn parse_u64(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &str) -> Result<Command, UsageError> {
        parse(args.split_whitespace().map(OsString::from).collect())
    }

    fn error(args: &str) -> String {
        parse_str(args).unwrap_err().message
    }

    #[test]
    fn defaults_and_both_flag_spellings() {
        let Ok(Command::Run(run)) =
            parse_str("run --wasm m.wasm --traffic=t.jsonl --collector-cluster a --collector-cluster=b --seed 0x10")
        else {
            panic!("not a run")
        };
        assert_eq!(run.wasm, PathBuf::from("m.wasm"));
        assert_eq!(run.traffic, PathBuf::from("t.jsonl"));
        assert_eq!((run.format, run.root_id.as_str(), run.seed), (Format::Text, "", 16));
        assert_eq!(run.collector_clusters, ["a", "b"]);
        assert_eq!(run.start_unix_nanos, DEFAULT_START_UNIX_NANOS);
        assert_eq!(run.log_level, LogLevel::Info);
        let Ok(Command::Run(run)) = parse_str("run --wasm m --traffic - --format json --start-time 5") else {
            panic!("not a run")
        };
        assert_eq!((run.format, run.start_unix_nanos, run.collector_clusters.len()), (Format::Json, 5, 1));
        for (text, level) in [("warning", LogLevel::Warn), ("warn", LogLevel::Warn), ("trace", LogLevel::Trace)] {
            let Ok(Command::Run(run)) = parse_str(&format!("run --wasm m --traffic t --log-level {text}")) else {
                panic!("not a run")
            };
            assert_eq!(run.log_level, level, "{text}");
        }
        assert_eq!(parse_str("--version"), Ok(Command::Version));
        assert_eq!(parse_str("help run"), Ok(Command::Help(Topic::Run)));
        assert_eq!(parse_str("run --wasm x --help"), Ok(Command::Help(Topic::Run)));
    }

    #[test]
    fn mistakes_are_explained() {
        assert_eq!(error("run --wasm m --traffic t --formt json"), "unknown flag --formt; did you mean --format?");
        assert_eq!(error("run --wasm m --traffic t --zzz"), "unknown flag --zzz");
        assert_eq!(error("run --traffic t"), "missing --wasm FILE");
        assert_eq!(error("run --wasm m --traffic"), "--traffic needs a value (FILE)");
        assert_eq!(error("run --wasm --traffic t"), "--wasm needs a value (FILE)");
        assert_eq!(error("run --wasm m --wasm n --traffic t"), "--wasm is given twice");
        assert_eq!(
            error("run --wasm m --traffic t --format yaml"),
            "--format: expected text, json, jsonl, summary, cost or html, got 'yaml'"
        );
        let Ok(Command::Run(run)) = parse_str("run --wasm m --traffic t --format html --out r.html") else {
            panic!("not a run")
        };
        assert_eq!((run.format, run.out), (Format::Html, Some(PathBuf::from("r.html"))));
        assert_eq!(
            error("run --wasm m --traffic t extra"),
            "unexpected argument 'extra' (every input is given with a flag)"
        );
        assert_eq!(error("rnu"), "unknown command 'rnu'; did you mean 'run'?");
        assert_eq!(error(""), "no command given");
        assert!(error("--wasm m").contains("it is an option of run"));
        assert!(error("run --wasm m --traffic t --seed x").starts_with("--seed: expected a number"));
        assert_eq!(
            error("run --wasm m --traffic t --log-level loud"),
            "--log-level: expected trace, debug, info, warning, error or critical, got 'loud'"
        );
        assert_eq!(
            error("run --wasm m --traffic t --log-levl info"),
            "unknown flag --log-levl; did you mean --log-level?"
        );
        assert!(error("run --wasm m --traffic t --start-time yesterday").starts_with("--start-time: "));
        assert_eq!(
            error("run --wasm m --traffic t --config c --config-raw x"),
            "--config and --config-raw are given together; give one"
        );
        assert_eq!(
            error("run --wasm m --traffic t --failure-policy reload"),
            "--failure-policy: expected fail-closed or fail-open, got 'reload'"
        );
        assert_eq!(error("run --wasm m --traffic t --workers 0"), "--workers: expected a number from 1 to 64, got '0'");
    }

    #[test]
    fn lifecycle_flags() {
        let Ok(Command::Run(run)) = parse_str(
            "run --wasm m --traffic t --workers 3 --failure-policy fail-open --service a --service b=b.txt \
             --vm-config v --callouts c.json",
        ) else {
            panic!("not a run")
        };
        assert_eq!((run.workers, run.failure_policy), (3, host_harness::FailurePolicy::FailOpen));
        assert_eq!(run.services, [(String::from("a"), None), (String::from("b"), Some(PathBuf::from("b.txt")))]);
        assert_eq!(
            (run.http_plugin, run.vm_config, run.callouts),
            (false, Some(PathBuf::from("v")), Some(PathBuf::from("c.json")))
        );
        let Ok(Command::Run(run)) = parse_str("run --wasm m --traffic t --service a --root-id x") else {
            panic!("not a run")
        };
        assert!(run.http_plugin);
        let Ok(Command::Run(run)) = parse_str("run --wasm m --traffic t") else { panic!("not a run") };
        assert_eq!(
            (run.workers, run.failure_policy, run.http_plugin),
            (1, host_harness::FailurePolicy::FailClosed, true)
        );
    }

    #[test]
    fn envoy_defaults_is_a_switch_and_the_body_limit_a_size() {
        let Ok(Command::Run(run)) = parse_str("run --wasm m --traffic t") else { panic!("not a run") };
        assert_eq!((run.envoy_defaults, run.body_limit), (false, 4096));
        let Ok(Command::Run(run)) = parse_str("run --envoy-defaults --wasm m --traffic t --body-limit 0") else {
            panic!("not a run")
        };
        assert_eq!((run.envoy_defaults, run.body_limit), (true, 0));
        assert_eq!(error("run --wasm m --traffic --envoy-defaults"), "--traffic needs a value (FILE)");
        assert_eq!(
            error("run --wasm m --traffic t --envoy-defaults --envoy-defaults"),
            "--envoy-defaults is given twice"
        );
        assert_eq!(
            error("run --wasm m --traffic t --envoy-default"),
            "unknown flag --envoy-default; did you mean --envoy-defaults?"
        );
        assert_eq!(
            error("run --wasm m --traffic t --body-limit 4k"),
            "--body-limit: expected a number of bytes (0 or more), got '4k'"
        );
    }
}
