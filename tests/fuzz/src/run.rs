//! Driving generated exchanges through the module in the harness, checking every one.
//!
//! A fresh host (one Envoy worker's VM) serves each block of [`Options::per_host`] exchanges,
//! alternating the configurations of [`CONFIGS`]: the module is compiled once, and a run of any
//! length keeps bounded memory in this process (each host's logs and calls are dropped with it).

use std::time::{Duration, Instant};

use host_harness::{Action, Error, Host, HttpResponse, Module, Responder};

use crate::check;
use crate::exchanges::{self, Exchange};

/// Configurations the module runs under, every section on: W3C and B3 in and out, every
/// access-log field and both sinks, dimensions from headers, a custom histogram, security events,
/// custom redaction; one trusts the caller's context, one restarts it.
pub const CONFIGS: [&str; 2] = [
    r#"{
  "service": {"name": "fuzz"},
  "routes": ["/api/v1/query", "/users/{id}", "/static/*"],
  "tracing": {"extract": ["tracecontext", "b3", "b3multi"], "inject": ["tracecontext", "b3", "b3multi"],
    "exporter": {"max_batch_spans": 64}},
  "metrics": {"dimensions": [{"name": "tenant", "from": {"request_header": "x-tenant"}}],
    "custom": [{"name": "fuzz_duration_seconds", "kind": "duration", "unit": "ms", "buckets": [1, 10, 100],
      "labels": ["method", "tenant"]}]},
  "access_log": {"sinks": ["proxy_log", "otlp"], "fields": ["method", "route", "path", "status", "upstream_cluster",
      "upstream_host", "client_address", "user_agent", "request_id", "query_hash"],
    "extra": [{"name": "auth", "from": {"request_header": "authorization"}},
      {"name": "loc", "from": {"response_header": "location"}}]},
  "redaction": {"custom": [{"regex": "TICKET-[0-9]{6}"}]},
  "security": {"threshold": 3}
}"#,
    r#"{
  "routes": ["/api/v1/query"],
  "tracing": {"edge_policy": "restart", "sampling": {"ratio": 0.5}, "exporter": {"encoding": "json", "max_batch_spans": 16}},
  "metrics": {},
  "access_log": {"sinks": ["proxy_log"], "sampling": {"successes": 0.5, "errors": 1.0}}
}"#,
];

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub exchanges: u64,
    pub seed: u64,
    /// The first exchange's index (to replay part of a run).
    pub start: u64,
    /// Exchanges per host before a fresh one takes over.
    pub per_host: u64,
}

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The exchange's index: `--seed S --start I --exchanges 1` generates it again.
    pub index: u64,
    pub what: String,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub exchanges: u64,
    pub violations: Vec<Violation>,
    pub export_calls: u64,
    pub log_lines: u64,
    /// The most linear memory any host's module held.
    pub max_memory_bytes: usize,
    pub elapsed: Duration,
}

/// The most violations a run keeps (it goes on counting exchanges).
const KEEP: usize = 50;

/// Runs `options.exchanges` exchanges; `progress` hears after each host's block.
pub fn run(module: &Module, options: Options, mut progress: impl FnMut(&Outcome)) -> Result<Outcome, Error> {
    let started = Instant::now();
    let mut outcome = Outcome::default();
    let end = options.start.saturating_add(options.exchanges);
    let mut index = options.start;
    let mut block = 0usize;
    while index < end {
        let config = CONFIGS.get(block % CONFIGS.len()).copied().unwrap_or_default();
        block += 1;
        let mut host = Host::builder(module)
            .root_id("meshlens")
            .plugin_config(config)
            .seed(options.seed ^ index)
            .respond("otel_collector", Responder::Respond(HttpResponse { status: 200, ..Default::default() }))
            .build()?;
        let block_end = end.min(index.saturating_add(options.per_host.max(1)));
        let (mut logs_seen, mut calls_seen) = (0, 0);
        while index < block_end {
            let exchange = exchanges::exchange(options.seed, index);
            let mut found = Vec::new();
            if let Err(e) = one(&mut host, &exchange, &mut found) {
                found.push(format!("the harness reported: {e}"));
            }
            check::logs(host.logs().get(logs_seen..).unwrap_or_default(), &mut found);
            check::calls(host.http_calls().get(calls_seen..).unwrap_or_default(), &mut found);
            outcome.log_lines += (host.logs().len() - logs_seen) as u64;
            outcome.export_calls += (host.http_calls().len() - calls_seen) as u64;
            (logs_seen, calls_seen) = (host.logs().len(), host.http_calls().len());
            let memory = host.memory_bytes();
            outcome.max_memory_bytes = outcome.max_memory_bytes.max(memory);
            if memory > check::MEMORY_BOUND {
                found.push(format!("the module holds {memory} bytes of linear memory"));
            }
            let failed = host.has_failed();
            for what in found {
                if outcome.violations.len() < KEEP {
                    outcome.violations.push(Violation { index, what });
                }
            }
            outcome.exchanges += 1;
            index += 1;
            if failed {
                // A trapped VM serves nothing more: the next block gets a fresh one.
                break;
            }
        }
        // The last partial batches leave, and are checked too.
        if !host.has_failed() {
            let before = host.http_calls().len();
            let mut found = Vec::new();
            if let Err(e) = host.advance(Duration::from_secs(2)) {
                found.push(format!("the harness reported at the final flush: {e}"));
            }
            check::calls(host.http_calls().get(before..).unwrap_or_default(), &mut found);
            check::logs(host.logs().get(logs_seen..).unwrap_or_default(), &mut found);
            outcome.export_calls += (host.http_calls().len() - before) as u64;
            for what in found {
                if outcome.violations.len() < KEEP {
                    outcome.violations.push(Violation { index: index.saturating_sub(1), what });
                }
            }
        }
        outcome.elapsed = started.elapsed();
        progress(&outcome);
    }
    outcome.elapsed = started.elapsed();
    Ok(outcome)
}

/// One exchange through the host, in Envoy's callback order; the stream's headers are checked
/// before it is forgotten.
fn one(host: &mut Host, e: &Exchange, found: &mut Vec<String>) -> Result<(), Error> {
    host.advance(Duration::from_millis(e.gap_ms))?;
    let s = host.new_stream();
    let request: Vec<(&str, &str)> = e.request.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let body_follows = !e.request_body.is_empty();
    let action = host.request_headers(s, &request, !body_follows)?;
    if action == Action::Continue {
        for (i, size) in e.request_body.iter().enumerate() {
            host.request_body(s, &vec![b'x'; *size], i + 1 == e.request_body.len())?;
        }
        if let Some(response) = &e.response {
            host.advance(Duration::from_millis(response.latency_ms))?;
            let headers: Vec<(&str, &str)> = response.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            host.response_headers(s, &headers, response.body.is_empty())?;
            for (i, size) in response.body.iter().enumerate() {
                host.response_body(s, &vec![b'y'; *size], i + 1 == response.body.len())?;
            }
        }
    }
    host.complete(s)?;
    if let Some(stream) = host.stream(s) {
        check::stream(stream, found);
    }
    host.remove_stream(s);
    Ok(())
}
