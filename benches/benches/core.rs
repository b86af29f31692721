//! The hot paths of `telemetry-core`, natively: what one request costs in each area before the
//! Wasm and hostcall overhead that `harness` measures on top.
//!
//! Inputs are an edge gateway's request: `GET /api/v1/query?q=...` with a `traceparent`, a
//! browser user agent and a handful of other headers, against a dozen route templates. Each
//! area is one criterion group; the whole run stays under two minutes on a 2-core machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use telemetry_core::access_log::build::{self as log_build, RequestLog};
use telemetry_core::access_log::{LogRecord, line};
use telemetry_core::config::{Config, TracingConfig};
use telemetry_core::ids::{IdGenerator, SpanId, TraceId};
use telemetry_core::metrics::{MetricsEngine, RequestFacts};
use telemetry_core::otlp;
use telemetry_core::pipeline::Pipeline;
use telemetry_core::pipeline::fake::{FakeHost, Reply};
use telemetry_core::propagation::{self, traceparent};
use telemetry_core::redact::{Counts, Policy};
use telemetry_core::route::RouteTable;
use telemetry_core::sampler::{Ratio, RouteRule, Sampler};
use telemetry_core::span::Span;
use telemetry_core::tracer::{self, Completion};

/// A dozen routes, the query endpoint first (an edge gateway lists its hot route first).
const ROUTES: [&str; 12] = [
    "/api/v1/query",
    "/api/v1/sql/execute",
    "/api/v1/schemas/{schema}",
    "/api/v1/schemas/{schema}/tables/{table}",
    "/users/{id}",
    "/users/{id}/orders",
    "/users/{id}/orders/{order}",
    "/orders/{id}",
    "/login",
    "/logout",
    "/health",
    "/static/*",
];

/// The edge gateway's plugin configuration (`envoy-config/edge-gateway.yaml`) with every section
/// on and the routes above.
fn config() -> Config {
    let routes = ROUTES.map(|r| format!("\"{r}\"")).join(",");
    let json = format!(
        r#"{{
            "service": {{"name": "edge-gateway", "version": "0.1.0"}},
            "routes": [{routes}],
            "tracing": {{
                "sampling": {{"ratio": 1.0}},
                "exporter": {{"cluster": "otel_collector", "authority": "otel-collector:4318"}}
            }},
            "metrics": {{"reporter": "gateway"}},
            "access_log": {{"sinks": ["proxy_log", "otlp"]}}
        }}"#
    );
    Config::from_json(json.as_bytes()).unwrap()
}

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const USER_AGENT: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const PATH: &str = "/api/v1/query?q=top+10+customers+by+revenue+in+2026&limit=10";

/// The request headers as the glue reads them (`proxy_get_header_map_pairs`, lowercase names).
fn headers(traceparent: bool) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = [
        (":authority", "api.example.com"),
        (":path", PATH),
        (":method", "GET"),
        (":scheme", "https"),
        ("user-agent", USER_AGENT),
        ("accept", "application/json"),
        ("accept-encoding", "gzip, deflate, br"),
        ("accept-language", "en-US,en;q=0.9"),
        ("x-forwarded-for", "203.0.113.7"),
        ("x-forwarded-proto", "https"),
        ("x-request-id", "6f1c2d9e-8a4b-4c3e-9f0a-1b2c3d4e5f60"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    if traceparent {
        h.push(("traceparent".to_owned(), TRACEPARENT.to_owned()));
    }
    h
}

fn tracing(cfg: &Config) -> &TracingConfig {
    cfg.tracing.as_ref().unwrap()
}

fn completion(status: u16) -> Completion {
    Completion {
        end_unix_nanos: 1_767_225_600_045_000_000,
        status,
        request_body_bytes: Some(0),
        response_body_bytes: Some(2_345),
        client_address: Some("203.0.113.7:51234".to_owned()),
        forwarded_for: None,
        protocol: Some("HTTP/2".to_owned()),
        ..Completion::default()
    }
}

const START: u64 = 1_767_225_600_000_000_000;

fn trace_context(c: &mut Criterion) {
    let cfg = config();
    let tracing = tracing(&cfg);
    let with = headers(true);
    let without = headers(false);
    let (trace_id, span_id, flags) = traceparent::parse(TRACEPARENT).unwrap();
    let mut g = c.benchmark_group("trace_context");
    g.bench_function("traceparent_parse", |b| b.iter(|| traceparent::parse(black_box(TRACEPARENT))));
    g.bench_function("traceparent_format", |b| {
        b.iter(|| traceparent::format(black_box(trace_id), black_box(span_id), black_box(flags)))
    });
    // The configured order is tracecontext, b3, b3multi: every format is read.
    g.bench_function("extract_traceparent_12_headers", |b| {
        b.iter(|| propagation::extract(black_box(with.as_slice()), &tracing.extract))
    });
    g.bench_function("extract_absent_11_headers", |b| {
        b.iter(|| propagation::extract(black_box(without.as_slice()), &tracing.extract))
    });
    let extracted = propagation::extract(with.as_slice(), &tracing.extract).context.unwrap();
    g.bench_function("inject_tracecontext", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(4);
            propagation::inject(black_box(&extracted), &tracing.inject, &mut out);
            out
        })
    });
    g.bench_function("request_attributes", |b| b.iter(|| tracer::request_attributes(black_box(&with), &cfg.routes)));
    g.finish();
}

fn sampling(c: &mut Criterion) {
    let routes = RouteTable::new(ROUTES).unwrap();
    let mut rules = vec![None; ROUTES.len()];
    rules[0] = Some(RouteRule::Always);
    rules[4] = Some(RouteRule::Ratio(Ratio::new(0.5).unwrap()));
    rules[10] = Some(RouteRule::Never);
    let sampler = Sampler::new(Ratio::new(0.1).unwrap(), rules);
    let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    let users = routes.find("/users/42");
    let unrouted = routes.find("/favicon.ico");
    let mut g = c.benchmark_group("sampling");
    g.bench_function("new_trace_route_ratio", |b| {
        b.iter(|| sampler.should_sample(black_box(trace_id), black_box(None), black_box(users)))
    });
    g.bench_function("new_trace_default_ratio", |b| {
        b.iter(|| sampler.should_sample(black_box(trace_id), black_box(None), black_box(unrouted)))
    });
    g.bench_function("parent_sampled", |b| {
        b.iter(|| sampler.should_sample(black_box(trace_id), black_box(Some(true)), black_box(users)))
    });
    g.finish();
}

fn routes(c: &mut Criterion) {
    let routes = RouteTable::new(ROUTES).unwrap();
    assert_eq!(routes.find("/api/v1/query"), routes.id_of("/api/v1/query"));
    assert_eq!(routes.find("/static/js/app.3f9a.js"), routes.id_of("/static/*"));
    assert_eq!(routes.find("/users/42/orders/7"), routes.id_of("/users/{id}/orders/{order}"));
    assert_eq!(routes.find("/api/v2/unknown/thing"), None);
    let mut g = c.benchmark_group("route_match_12_routes");
    for (name, path) in [
        ("first_exact", "/api/v1/query"),
        ("seventh_template", "/users/42/orders/7"),
        ("last_prefix", "/static/js/app.3f9a.js"),
        ("miss", "/api/v2/unknown/thing"),
    ] {
        g.bench_function(name, |b| b.iter(|| routes.find(black_box(path))));
    }
    g.finish();
}

/// Requests spread like a gateway's traffic: mostly the query route, some others, a few errors.
fn facts_mix() -> Vec<(&'static str, Option<&'static str>, u16, u64)> {
    let mut out = Vec::new();
    for i in 0..100u64 {
        let (method, route, status) = match i % 10 {
            0..=4 => ("GET", Some("/api/v1/query"), 200),
            5 => ("POST", Some("/api/v1/sql/execute"), 200),
            6 => ("GET", Some("/users/{id}"), if i % 20 == 6 { 404 } else { 200 }),
            7 => ("GET", Some("/static/*"), 304),
            8 => ("POST", Some("/login"), if i % 30 == 8 { 401 } else { 200 }),
            _ => ("GET", None, if i % 50 == 9 { 503 } else { 404 }),
        };
        out.push((method, route, status, 3_000_000 + i * 1_700_000));
    }
    out
}

fn metrics(c: &mut Criterion) {
    let cfg = config();
    let metrics = cfg.metrics.clone().unwrap();
    let mut g = c.benchmark_group("metrics");
    let mut engine = MetricsEngine::new(metrics.clone());
    let facts = RequestFacts {
        method: "GET",
        route: Some("/api/v1/query"),
        status: 200,
        duration_nanos: 45_000_000,
        request_bytes: 0,
        response_bytes: 2_345,
        dimensions: &[],
        exemplar: None,
        grpc: None,
    };
    // Steady state: the series exists; this is the label key, the lookup and the bucket update
    // of every standard family.
    engine.record(&facts);
    g.bench_function("record_default_labels", |b| b.iter(|| engine.record(black_box(&facts))));

    // One tick's drain after 100 requests over the mix's series, every series already defined
    // (ids known), as on every tick after the first. Only the drain is timed.
    let mix = facts_mix();
    let record_mix = |engine: &mut MetricsEngine| {
        for (method, route, status, duration) in &mix {
            engine.record(&RequestFacts {
                method,
                route: *route,
                status: *status,
                duration_nanos: *duration,
                request_bytes: 0,
                response_bytes: 1_200,
                dimensions: &[],
                exemplar: None,
                grpc: None,
            });
        }
    };
    let mut engine = MetricsEngine::new(metrics.clone());
    let mut next_id = 0u32;
    record_mix(&mut engine);
    let mut slots = 0usize;
    engine.drain(|_, id, _| {
        slots += 1;
        id.or_else(|| {
            next_id += 1;
            Some(next_id)
        })
    });
    g.bench_function("drain_after_100_requests", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                record_mix(&mut engine);
                let start = Instant::now();
                engine.drain(|name, id, delta| {
                    black_box((name, delta));
                    id
                });
                total += start.elapsed();
            }
            total
        })
    });
    eprintln!(
        "metrics: {slots} slots defined after the first drain over {} series of requests_total",
        engine.series_count("meshlens_http_requests_total")
    );
    g.finish();
}

/// Finished spans of the mix, as the exporter queues them.
fn finished_spans(cfg: &Config, n: usize) -> Vec<Span> {
    let tracing = tracing(cfg);
    let mut ids = IdGenerator::from_seed([7; 32]);
    let policy = &cfg.redaction;
    let mut counts = Counts::default();
    let paths = ["/api/v1/query?q=1", "/users/42", "/static/app.js", "/api/v1/sql/execute", "/nowhere"];
    let statuses = [200u16, 200, 304, 200, 404, 500];
    (0..n)
        .map(|i| {
            let mut h = headers(i % 3 != 0);
            h[1].1 = paths[i % paths.len()].to_owned();
            let attributes = tracer::request_attributes(&h, &cfg.routes);
            let started = tracer::start_request(tracing, &attributes, &mut ids, &h, START + i as u64 * 1_000);
            tracer::finish(
                tracing,
                &cfg.routes,
                started.span,
                &attributes,
                &completion(statuses[i % statuses.len()]),
                policy,
                &mut counts,
            )
            .unwrap()
        })
        .collect()
}

fn span(c: &mut Criterion) {
    let cfg = config();
    let tracing = tracing(&cfg);
    let h = headers(true);
    let mut ids = IdGenerator::from_seed([7; 32]);
    let done = completion(200);
    let mut counts = Counts::default();
    let attributes = tracer::request_attributes(&h, &cfg.routes);
    let mut g = c.benchmark_group("span");
    // `tracer::start` = `request_attributes` + `start_request`, what the glue runs per request.
    g.bench_function("start", |b| b.iter(|| tracer::start(tracing, &cfg.routes, &mut ids, black_box(&h), START)));
    g.bench_function("start_request", |b| {
        b.iter(|| tracer::start_request(tracing, black_box(&attributes), &mut ids, black_box(&h), START))
    });
    g.bench_function("finish", |b| {
        b.iter_batched(
            || tracer::start_request(tracing, &attributes, &mut ids, &h, START).span,
            |span| {
                tracer::finish(tracing, &cfg.routes, span, &attributes, black_box(&done), &cfg.redaction, &mut counts)
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("start_response_headers_finish", |b| {
        b.iter(|| {
            let attributes = tracer::request_attributes(black_box(&h), &cfg.routes);
            let started = tracer::start_request(tracing, &attributes, &mut ids, &h, START);
            tracer::response_headers(tracing, &started.span, |name, value| {
                black_box((name, value));
            });
            tracer::finish(
                tracing,
                &cfg.routes,
                started.span,
                &attributes,
                black_box(&done),
                &cfg.redaction,
                &mut counts,
            )
        })
    });
    g.finish();

    let spans = finished_spans(&cfg, 512);
    let body = otlp::encode_traces(&cfg.resource, &spans);
    eprintln!("otlp: a batch of 512 spans encodes to {} bytes ({} per span)", body.len(), body.len() / 512);
    let mut g = c.benchmark_group("otlp");
    g.throughput(Throughput::Elements(512));
    let mut out = String::with_capacity(body.len());
    g.bench_function("encode_traces_into_512_spans", |b| {
        b.iter(|| {
            out.clear();
            otlp::encode_traces_into(&mut out, &cfg.resource, black_box(&spans));
        })
    });
    let records = log_records(&cfg, 512);
    let logs = otlp::encode_logs(&cfg.resource, &records);
    eprintln!("otlp: a batch of 512 log records encodes to {} bytes ({} per record)", logs.len(), logs.len() / 512);
    let mut out = String::with_capacity(logs.len());
    g.bench_function("encode_logs_into_512_records", |b| {
        b.iter(|| {
            out.clear();
            otlp::encode_logs_into(&mut out, &cfg.resource, black_box(&records));
        })
    });
    // The default encoding (issue #14): the same batches as binary protobuf.
    let proto_body = otlp::proto::encode_traces(&cfg.resource, &spans);
    eprintln!("otlp: as protobuf, {} bytes ({} per span)", proto_body.len(), proto_body.len() / 512);
    let mut bytes = Vec::with_capacity(proto_body.len());
    g.bench_function("proto_encode_traces_into_512_spans", |b| {
        b.iter(|| {
            bytes.clear();
            otlp::proto::encode_traces_into(&mut bytes, &cfg.resource, black_box(&spans));
        })
    });
    let proto_logs = otlp::proto::encode_logs(&cfg.resource, &records);
    eprintln!("otlp: as protobuf, {} bytes ({} per record)", proto_logs.len(), proto_logs.len() / 512);
    let mut bytes = Vec::with_capacity(proto_logs.len());
    g.bench_function("proto_encode_logs_into_512_records", |b| {
        b.iter(|| {
            bytes.clear();
            otlp::proto::encode_logs_into(&mut bytes, &cfg.resource, black_box(&records));
        })
    });
    g.finish();
}

fn request_log<'a>(cfg: &'a Config, trace: Option<(TraceId, SpanId, u8)>, path: &'a str) -> RequestLog<'a> {
    RequestLog {
        end_unix_nanos: START + 45_000_000,
        trace,
        service: cfg.service_name(),
        method: "GET",
        route: Some("/api/v1/query"),
        path,
        status: 200,
        duration_nanos: 45_000_000,
        request_bytes: 0,
        response_bytes: 2_345,
        upstream_cluster: Some("app"),
        upstream_host: Some("10.0.3.17:8080"),
        client_address: Some("203.0.113.7:51234"),
        user_agent: Some(USER_AGENT),
        request_id: Some("6f1c2d9e-8a4b-4c3e-9f0a-1b2c3d4e5f60"),
        extra: &[],
        clean: None,
        grpc: None,
    }
}

fn log_records(cfg: &Config, n: usize) -> Vec<LogRecord> {
    let log_cfg = cfg.access_log.as_ref().unwrap();
    let mut ids = IdGenerator::from_seed([9; 32]);
    let mut counts = Counts::default();
    (0..n)
        .map(|_| {
            let trace = Some((ids.trace_id(), ids.span_id(), 1));
            log_build::build(log_cfg, &cfg.redaction, &mut counts, &request_log(cfg, trace, PATH))
        })
        .collect()
}

fn access_log(c: &mut Criterion) {
    let cfg = config();
    let log_cfg = cfg.access_log.as_ref().unwrap();
    let (trace_id, span_id, flags) = traceparent::parse(TRACEPARENT).unwrap();
    let trace = Some((trace_id, span_id, flags.0));
    let req = request_log(&cfg, trace, PATH);
    let mut counts = Counts::default();
    let mut g = c.benchmark_group("access_log");
    g.bench_function("sampled", |b| {
        b.iter(|| {
            log_build::sampled(
                log_cfg,
                cfg.routes.find("/api/v1/query"),
                log_build::severity(200, None),
                black_box(Some(trace_id)),
                0,
            )
        })
    });
    g.bench_function("build_all_fields_with_query", |b| {
        b.iter(|| log_build::build(log_cfg, &cfg.redaction, &mut counts, black_box(&req)))
    });
    g.bench_function("query_hash_sha256", |b| {
        b.iter(|| {
            telemetry_core::access_log::sha256::short_hex(black_box(b"q=top+10+customers+by+revenue+in+2026&limit=10"))
        })
    });
    let key = telemetry_core::access_log::sha256::HmacKey::new(b"a-query-hash-key-of-32-bytes-000");
    g.bench_function("query_hash_hmac_sha256", |b| {
        b.iter(|| {
            telemetry_core::access_log::sha256::hmac_short_hex(
                &key,
                black_box(b"q=top+10+customers+by+revenue+in+2026&limit=10"),
            )
        })
    });
    let hash = &log_cfg.query_hash;
    g.bench_function("query_hash_unkeyed_redacted", |b| {
        b.iter(|| {
            log_build::query_hash(hash, &cfg.redaction, black_box("q=top+10+customers+by+revenue+in+2026&limit=10"))
        })
    });
    let record = log_build::build(log_cfg, &cfg.redaction, &mut counts, &req);
    let mut line_buf = String::with_capacity(1024);
    line::encode(&record, &mut line_buf);
    eprintln!("access_log: the JSON line is {} bytes: {line_buf}", line_buf.len());
    g.bench_function("encode_json_line_from_record", |b| {
        b.iter(|| {
            line_buf.clear();
            line::encode(black_box(&record), &mut line_buf);
        })
    });
    // What the glue writes to `proxy_log`: the line straight from the request, redaction and
    // query hash included (the OTLP sink still builds the record).
    let mut stamp = line::Stamp::default();
    g.bench_function("encode_request_line", |b| {
        b.iter(|| {
            line_buf.clear();
            line::encode_request(log_cfg, &cfg.redaction, &mut counts, black_box(&req), &mut stamp, &mut line_buf);
        })
    });
    g.finish();
}

fn redaction(c: &mut Criterion) {
    let policy = Policy::default_policy();
    let mut counts = Counts::default();
    let cases = [
        ("text_clean_80", "/api/v1/query/results/2026-11-26/region-eu-west-1/customers/page-0003/summary.json"),
        // What Envoy generates as `x-request-id`, in every access line: 32 hex digits.
        ("text_clean_request_id", "5d2f8e0c-7b1a-4c3e-9f6d-2a8b4c6e1f3d"),
        ("text_bearer", "client sent Authorization Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0 in the path"),
        (
            "text_jwt",
            "/cb/eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        ),
        ("text_email", "/users/lookup/jane.doe@example.com/profile?ref=newsletter-2026-11"),
        ("text_card_number", "/payments/confirm/4111 1111 1111 1111/receipt/2026-11-26/eu"),
    ];
    let mut g = c.benchmark_group("redaction");
    for (name, text) in cases {
        // Each case must do what its name says.
        let out = policy.text(text, &mut Counts::default());
        assert_eq!(matches!(out, std::borrow::Cow::Borrowed(_)), name.starts_with("text_clean"), "{name}: {out}");
        g.bench_function(name, |b| b.iter(|| policy.text(black_box(text), &mut counts)));
    }
    let headers = [
        (
            "header_authorization_bearer_jwt",
            "authorization",
            "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        ),
        ("header_cookie_3", "cookie", "session=abc123def456; theme=dark; _ga=GA1.2.1234567890.1700000000"),
        ("header_not_denied_user_agent", "user-agent", USER_AGENT),
    ];
    for (name, header, value) in headers {
        g.bench_function(name, |b| b.iter(|| policy.header(black_box(header), black_box(value), &mut counts)));
    }
    g.bench_function("query_with_token", |b| {
        b.iter(|| policy.query(black_box("q=top+10+customers&limit=10&access_token=9f8e7d6c5b4a3928"), &mut counts))
    });
    g.finish();
}

/// 60 KB header values of adversarial shapes next to 60 KB of plain letters: every scanner is
/// single pass, so each shape must cost at most 2x the letters (issue 13; numbers in RESULTS.md,
/// guest instructions from `cargo xtask cost --shapes`).
fn redaction_60k(c: &mut Criterion) {
    use meshlens_benches::shapes::{LEN, SHAPES, fill};
    let policy = Policy::default_policy();
    let mut counts = Counts::default();
    let cases = SHAPES.map(|(name, unit)| (name, fill(unit, LEN)));
    let mut g = c.benchmark_group("redaction_60k");
    g.throughput(Throughput::Bytes(LEN as u64));
    for (name, value) in &cases {
        g.bench_function(*name, |b| b.iter(|| policy.header(black_box("x-custom"), black_box(value), &mut counts)));
    }
    g.finish();
}

/// The plugin configuration of `cargo xtask bench-envoy`'s cases (3) and (6), read from case
/// (3)'s bootstrap as `cargo xtask cost` reads it, so that the two cannot drift apart.
fn bench_envoy_config() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../envoy-config/bench/3-meshlens-100.yaml");
    meshlens_benches::plugin_config::plugin_configuration(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// One whole request through the pipeline, as `bench-envoy`'s load sends it (`GET /api/v1/query`
/// answered by Envoy's `direct_response`, the headers Envoy adds, the attributes a native host
/// reads), with case (3)'s configuration: span at 100 %, access line, metrics, security. Every
/// 512 requests the exporter's tick runs and its call is answered. The host is the core's
/// `FakeHost`, which copies every header into its own strings (the native host lends Envoy's):
/// what it adds is in the number, the same before and after a change to the core.
fn pipeline(c: &mut Criterion) {
    const BATCH: u32 = 512;
    let config = bench_envoy_config();
    let host = FakeHost::new(1_767_225_600_000_000_000, [7; 32]);
    host.set_property("source.address", "127.0.0.1:40000");
    host.set_property("request.protocol", "HTTP/1.1");
    let mut pipeline = Pipeline::configure(config.as_bytes(), &host).unwrap();
    let (request, response) = (meshlens_benches::request::REQUEST, meshlens_benches::request::RESPONSE);
    let reply = Reply { headers: &response, body: b"ok", from_upstream: false, latency_nanos: 150_000 };
    let first = host.exchange(&mut pipeline, &request, b"", &reply);
    assert!(first.downstream.iter().any(|(name, _)| name == "x-trace-id"), "{:?}", first.downstream);
    let (mut served, mut exports) = (0u32, 0usize);
    let mut g = c.benchmark_group("pipeline");
    g.bench_function("request_direct_response_bench_envoy_config", |b| {
        b.iter(|| {
            let sent = host.exchange(&mut pipeline, black_box(&request), b"", &reply);
            served += 1;
            if served.is_multiple_of(BATCH) {
                host.tick(&mut pipeline, 1_000_000_000);
                host.answer_calls(&mut pipeline, Some(200));
                exports += host.calls.borrow().len();
                host.calls.borrow_mut().clear();
                host.answered.set(0);
                host.logs.borrow_mut().clear();
                host.property_reads.borrow_mut().clear();
            }
            sent
        });
    });
    g.finish();
    assert!(exports > 0, "the spans of {served} requests were never exported");
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = trace_context, sampling, routes, metrics, span, access_log, redaction, redaction_60k, pipeline
}
criterion_main!(benches);
