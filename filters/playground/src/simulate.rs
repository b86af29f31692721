//! One exchange through the pipeline on the recording host, and what it emitted.

// Indexing a `serde_json::Value` by key yields `Null` for anything missing; it cannot panic
// (as in `host-harness/src/spans.rs`, whose reading of the exports this repeats).
#![allow(clippy::indexing_slicing)]

use serde_json::Value;
use telemetry_core::pipeline::fake::{FakeHost, Reply};
use telemetry_core::pipeline::host::{LogLevel, MetricKind};
use telemetry_core::pipeline::{ConfigureError, Pipeline};
use telemetry_core::redact::Kind;

use crate::input::{Input, MAX_BODY_BYTES, Property};
use crate::output::{ConfigurationError, DecisionRecord, LogLine, MetricChange, Output, Redaction};

/// How long the clock moves on after the exchange before the root's tick: the largest
/// `tracing.exporter.flush_interval_ms` a configuration may have, so every exporter sends.
const EXPORT_AFTER_NANOS: u64 = 600_000 * 1_000_000;

/// Runs `input`'s exchange (see [`crate::simulate`]).
pub(crate) fn run(input: &Input) -> Output {
    for body in [input.request.body_bytes, input.response.body_bytes] {
        if body > MAX_BODY_BYTES {
            return Output {
                input_error: Some(format!("a body of {body} bytes: at most {MAX_BODY_BYTES} are simulated")),
                ..Output::default()
            };
        }
    }
    let mut host = FakeHost::new(input.start_unix_nanos(), input.seed_bytes());
    host.env = input.env.clone();
    let config = input.config.as_deref().unwrap_or(crate::DEFAULT_CONFIG);
    let mut pipeline = match Pipeline::configure(config.as_bytes(), &host) {
        Ok(pipeline) => pipeline,
        Err(ConfigureError { line, invalid }) => {
            // The module logs the refusal at error level (`edge-telemetry` `root.rs`).
            host.logs.borrow_mut().push((LogLevel::Error, line.clone()));
            return Output {
                config_error: Some(ConfigurationError::new(line, invalid)),
                logs: log_lines(&host),
                ..Output::default()
            };
        }
    };
    for (path, value) in &input.properties {
        match value {
            Property::Text(s) => host.set_property(path, s),
            Property::Int(n) => host.set_property_u64(path, n.cast_unsigned()),
        }
    }
    let metrics_before = host.metrics.borrow().clone();
    let redactions_before = pipeline.redactions().clone();

    let request = input.request_headers();
    let (status, extra) = input.response_headers();
    let mut response = vec![(":status", status.as_str())];
    response.extend(extra);
    let request_body = vec![0u8; input.request.body_bytes as usize];
    let response_body = vec![0u8; input.response.body_bytes as usize];
    if let Some(trailers) = &input.response.trailers {
        let trailers: Vec<(&str, &str)> = trailers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        host.end_with_trailers(&trailers);
    }
    let reply = Reply {
        headers: &response,
        body: &response_body,
        from_upstream: input.response.from_upstream,
        latency_nanos: input.response.latency_ms.saturating_mul(1_000_000),
    };
    let sent = host.exchange(&mut pipeline, &request, &request_body, &reply);
    host.tick(&mut pipeline, EXPORT_AFTER_NANOS);
    host.answer_calls(&mut pipeline, input.collector_status);

    let decision = match (&sent.decision, &sent.context) {
        (Some(d), Some(c)) => Some(DecisionRecord::new(d, c.trace_id.to_hex(), c.span_id.to_hex())),
        _ => None,
    };
    let (spans, resource) = exported_spans(&host);
    let redactions = Kind::ALL
        .into_iter()
        .map(|k| (k, pipeline.redactions().get(k).saturating_sub(redactions_before.get(k))))
        .filter(|(_, n)| *n > 0)
        .map(|(k, count)| Redaction { kind: k.label(), count })
        .collect();
    Output {
        input_error: None,
        config_error: None,
        decision,
        upstream_request_headers: sent.upstream,
        downstream_response_headers: sent.downstream,
        spans,
        resource,
        access_log: host.logs.borrow().iter().filter(|(_, l)| l.starts_with('{')).map(|(_, l)| l.clone()).collect(),
        metrics: metric_changes(&metrics_before, &host.metrics.borrow()),
        redactions,
        logs: log_lines(&host),
    }
}

/// The spans of every trace export call, each an OTLP JSON span object as `otlp-decode` reads the
/// payload by its `content-type` (what `host_harness::spans::export_payload` does), and the
/// resource of the first.
fn exported_spans(host: &FakeHost) -> (Vec<Value>, Option<Value>) {
    let mut spans = Vec::new();
    let mut resource = None;
    for call in host.calls.borrow().iter() {
        let header = |name: &str| call.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
        let Some(otlp_decode::Signal::Traces) = header(":path").and_then(|p| otlp_decode::Signal::of_path(p)) else {
            continue;
        };
        let content_type = header("content-type").map_or("", String::as_str);
        let Ok(payload) = otlp_decode::payload(otlp_decode::Signal::Traces, content_type, &call.body) else {
            continue;
        };
        for rs in payload["resourceSpans"].as_array().into_iter().flatten() {
            if resource.is_none() {
                resource = Some(rs["resource"].clone());
            }
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                spans.extend(ss["spans"].as_array().into_iter().flatten().cloned());
            }
        }
    }
    (spans, resource)
}

/// The series defined since `before`, and those whose value changed.
fn metric_changes(before: &[(String, MetricKind, i64)], after: &[(String, MetricKind, i64)]) -> Vec<MetricChange> {
    after
        .iter()
        .filter_map(|(name, kind, value)| {
            let old = before.iter().find(|(n, _, _)| n == name).map(|(_, _, v)| *v);
            let delta = value.saturating_sub(old.unwrap_or(0));
            (old.is_none() || delta != 0).then(|| MetricChange {
                name: name.clone(),
                kind: match kind {
                    MetricKind::Counter => "counter",
                    MetricKind::Gauge => "gauge",
                },
                value: *value,
                delta,
            })
        })
        .collect()
}

fn log_lines(host: &FakeHost) -> Vec<LogLine> {
    host.logs
        .borrow()
        .iter()
        .map(|(level, message)| LogLine {
            level: match level {
                LogLevel::Debug => "debug",
                LogLevel::Info => "info",
                LogLevel::Warn => "warn",
                LogLevel::Error => "error",
            },
            message: message.clone(),
        })
        .collect()
}
