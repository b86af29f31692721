//! Real Prometheus, real Envoy: Prometheus (the Debian package) scrapes the admin endpoint of an
//! Envoy 1.40 running the release module with `envoy-config/edge-gateway.yaml` and evaluates the
//! shipped `meshlens.rules.yml`; the application upstream answers with controlled latencies. The
//! assertions go through the Prometheus HTTP API, as a user's dashboards and alerts would.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use meshlens_tests::envoy::{Envoy, Render};
use meshlens_tests::http::{Client, Reply, Server};
use meshlens_tests::otlp::Receiver;
use meshlens_tests::paths;
use meshlens_tests::prometheus::{Prometheus, check_metrics};

const QUERY: &str = "/api/v1/query";
const USERS: &str = "/users/{id}";
/// The route templates of edge-gateway.yaml's plugin configuration.
const TEMPLATES: [&str; 3] = [QUERY, "/health", USERS];
const FAST_MS: u64 = 20;
const SLOW_MS: u64 = 300;
/// Bound on waiting for the module's flush (on its tick, about 1 s) plus a scrape (every 1 s)
/// and a rule evaluation (every 1 s).
const SETTLE: Duration = Duration::from_secs(30);

/// The application: on /api/v1/query every 5th request (the 5th, 10th, ...) takes `slow_ms`,
/// the others `fast_ms`; everything else answers at once.
struct App {
    server: Server,
    fast_ms: Arc<AtomicU64>,
    slow_ms: Arc<AtomicU64>,
}

struct Rig {
    app: App,
    _collector: Receiver,
    envoy: Envoy,
    prometheus: Prometheus,
}

fn app() -> App {
    let (fast_ms, slow_ms) = (Arc::new(AtomicU64::new(FAST_MS)), Arc::new(AtomicU64::new(SLOW_MS)));
    let queries = Arc::new(AtomicUsize::new(0));
    let (fast, slow) = (fast_ms.clone(), slow_ms.clone());
    let server = Server::start(move |request| {
        let path = request.start.split_once(' ').map_or("", |(_, path)| path);
        if path == QUERY || path.starts_with("/api/v1/query?") {
            let n = queries.fetch_add(1, Ordering::SeqCst);
            let ms = if n % 5 == 4 { slow.load(Ordering::SeqCst) } else { fast.load(Ordering::SeqCst) };
            std::thread::sleep(Duration::from_millis(ms));
        }
        Reply::text(200, "ok")
    });
    App { server, fast_ms, slow_ms }
}

fn rig() -> Rig {
    let app = app();
    let collector = Receiver::start();
    let render = Render { app_port: app.server.port(), collector_port: collector.server.port(), plugin_config: None };
    let envoy = Envoy::start("edge-gateway.yaml", &render, 2);
    let rules = paths::repo_root().join("envoy-config/prometheus/meshlens.rules.yml");
    let prometheus = Prometheus::start(&envoy, &[&rules]);
    prometheus.wait_scraped();
    Rig { app, _collector: collector, envoy, prometheus }
}

/// Sends GETs for `paths` over `connections` keep-alive connections in parallel; returns each
/// path with its response status.
fn send(listener: SocketAddr, paths: &[String], connections: usize) -> Vec<(String, u16)> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..connections)
            .map(|c| {
                scope.spawn(move || {
                    let mut client = Client::connect(listener).expect("connect to envoy");
                    paths
                        .iter()
                        .skip(c)
                        .step_by(connections)
                        .map(|p| {
                            let r = client.get(p, &[]).unwrap_or_else(|e| panic!("GET {p}: {e}"));
                            (p.clone(), r.status())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("client thread")).collect()
    })
}

/// A small xorshift generator for path segments nobody configured (seeded by the clock).
fn random_segments(n: usize) -> Vec<String> {
    let mut x = SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("{x:016x}")
        })
        .collect()
}

/// `expr` as a map from the value of `label` to the sample value.
fn by_label(prometheus: &Prometheus, expr: &str, label: &str) -> BTreeMap<String, f64> {
    prometheus.query(expr).into_iter().map(|(labels, v)| (labels.get(label).cloned().unwrap_or_default(), v)).collect()
}

/// The one value of `expr`, if it has exactly one sample.
fn single(prometheus: &Prometheus, expr: &str) -> Option<f64> {
    match prometheus.query(expr).as_slice() {
        [(_, v)] => Some(*v),
        _ => None,
    }
}

/// Waits until Prometheus holds the duration histogram of `route` (its buckets exist, so the
/// requests after this point are seen by `rate`: Prometheus cannot see an increase in a
/// series' first sample).
fn wait_series(prometheus: &Prometheus, route: &str) {
    let expr = format!("count(meshlens_http_request_duration_seconds_bucket{{route=\"{route}\"}})");
    prometheus.wait_for(
        &format!("the duration histogram of {route}"),
        SETTLE,
        |p| single(p, &expr).filter(|n| *n > 0.0),
        |p| format!("{:?}", by_label(p, "count by (route) (meshlens_http_requests_total)", "route")),
    );
}

#[test]
fn p95_counts_and_route_labels_through_a_real_prometheus() {
    let r = rig();
    let p = &r.prometheus;

    // Warm-up, so that every series exists in Prometheus before the bulk of the traffic.
    let warmup: Vec<String> =
        (0..10).map(|_| QUERY.to_owned()).chain((0..5).map(|i| format!("/users/{}", 1000 + i))).collect();
    assert!(send(r.envoy.listener, &warmup, 1).iter().all(|(_, s)| *s == 200));
    wait_series(p, QUERY);
    wait_series(p, USERS);

    // 200 queries in all (every 5th slow), 50 distinct users, 20 paths no template matches: half
    // answered by Envoy's "no route" 404, half routed to the app but under an unknown API version.
    let mut paths: Vec<String> = (0..190).map(|_| QUERY.to_owned()).collect();
    paths.extend((5..50).map(|i| format!("/users/{}", 1000 + i)));
    let segments = random_segments(20);
    let unrouted: Vec<String> = segments
        .iter()
        .enumerate()
        .map(|(i, s)| if i % 2 == 0 { format!("/nope/{s}") } else { format!("/api/v2/{s}?page={i}") })
        .collect();
    paths.extend(unrouted);
    for (path, status) in send(r.envoy.listener, &paths, 4) {
        let expected = if path.starts_with("/nope/") { 404 } else { 200 };
        assert_eq!(status, expected, "GET {path}");
    }
    assert_eq!(r.app.server.requests().iter().filter(|m| m.start == format!("GET {QUERY}")).count(), 200);

    // Per-route counts are exact once the module has flushed and Prometheus has scraped.
    let expected: BTreeMap<String, f64> =
        [(QUERY.to_owned(), 200.0), (USERS.to_owned(), 50.0), ("other".to_owned(), 20.0)].into();
    let counts = "sum by (route) (meshlens_http_requests_total)";
    let histogram_count = format!("sum(meshlens_http_request_duration_seconds_count{{route=\"{QUERY}\"}})");
    p.wait_for(
        "exact per-route request counts",
        SETTLE,
        |p| (by_label(p, counts, "route") == expected && single(p, &histogram_count) == Some(200.0)).then_some(()),
        |p| format!("{:?}, histogram count {:?}", by_label(p, counts, "route"), p.query(&histogram_count)),
    );

    // Prometheus knows the families by their types, as the module's endpoint declares them, and
    // promtool finds nothing to say about what the module serves.
    for histogram in [
        "meshlens_http_request_duration_seconds",
        "meshlens_http_request_size_bytes",
        "meshlens_http_response_size_bytes",
    ] {
        assert_eq!(p.metadata_types(histogram), ["histogram"], "{histogram}");
    }
    assert_eq!(p.metadata_types("meshlens_http_requests_total"), ["counter"]);
    let served = r.envoy.module_metrics();
    assert_eq!(check_metrics(&served), Vec::<String>::new(), "promtool check metrics on:\n{served}");
    let les: Vec<f64> = served
        .lines()
        .filter(|l| {
            l.starts_with("meshlens_http_request_duration_seconds_bucket{") && l.contains(&format!("route=\"{QUERY}\""))
        })
        .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next()?.parse().ok())
        .collect();
    assert!(les.len() > 2 && les.windows(2).all(|w| w[0] < w[1]), "buckets in increasing order: {les:?}");

    // The buckets themselves are exact: 160 fast queries (20 ms plus proxy overhead, far below
    // 250 ms) and 40 slow ones (300 ms plus overhead, below 500 ms).
    let buckets =
        by_label(p, &format!("sum by (le) (meshlens_http_request_duration_seconds_bucket{{route=\"{QUERY}\"}})"), "le");
    assert_eq!(buckets.get("0.25"), Some(&160.0), "buckets {buckets:?}");
    assert_eq!(buckets.get("0.5"), Some(&200.0), "buckets {buckets:?}");
    assert_eq!(buckets.get("+Inf"), Some(&200.0), "buckets {buckets:?}");

    // The true p95 is a slow request: 40 of 200 (20%) take about 300 ms, so the 95th percentile
    // lies in the (0.25, 0.5] bucket. histogram_quantile interpolates linearly inside the bucket
    // that holds the quantile, so its error is bounded by that bucket's width: any value in
    // (0.25, 0.5] is consistent with the injected latencies (it estimates about 0.44 s here:
    // 0.25 + (0.95 - 0.8) / 0.2 * 0.25), and nothing tighter can be promised by these buckets.
    let p95 = format!(
        "histogram_quantile(0.95, sum by (le) (rate(meshlens_http_request_duration_seconds_bucket{{route=\"{QUERY}\"}}[1m])))"
    );
    let value = single(p, &p95).unwrap_or_else(|| panic!("no result for {p95}: {:?}", p.query(&p95)));
    assert!(value > 0.25 && value <= 0.5, "p95 {value} s is outside the (0.25, 0.5] bucket of the true p95");
    // The shipped recording rule agrees (evaluated every second over the same window) and the
    // latency alert stays quiet: 0.44 s is under its 1 s threshold.
    let recorded = format!("route:meshlens_http_request_duration_seconds:p95_1m{{route=\"{QUERY}\"}}");
    let rule_value = p.wait_for(
        "the p95 recording rule over the final counts",
        SETTLE,
        |p| single(p, &recorded).filter(|v| *v > 0.25 && *v <= 0.5),
        |p| format!("{:?}", p.query(&recorded)),
    );
    assert!((rule_value - value).abs() < 0.1, "recorded p95 {rule_value}, queried {value}");
    assert!(p.alerts().iter().all(|a| a.labels["alertname"] != "MeshlensHighRequestLatency"), "{:?}", p.alerts());

    // No raw path became a label value: the routes are the templates that were hit and `other`,
    // and no label of any meshlens series holds a path that is not a configured template.
    let routes: BTreeSet<String> =
        by_label(p, "count by (route) (meshlens_http_requests_total)", "route").into_keys().collect();
    assert_eq!(routes, [QUERY, USERS, "other"].into_iter().map(str::to_owned).collect::<BTreeSet<_>>());
    let all = p.query("{__name__=~\"meshlens_.+\"}");
    assert!(all.len() > 30, "meshlens series: {}", all.len());
    for (labels, _) in &all {
        for (name, value) in labels {
            assert!(
                !value.starts_with('/') || TEMPLATES.contains(&value.as_str()),
                "label {name}=\"{value}\" is a raw path, in {labels:?}"
            );
            assert!(
                !segments.iter().any(|s| value.contains(s.as_str())),
                "label {name}=\"{value}\" holds part of an unrouted path"
            );
        }
    }
}

#[test]
fn the_latency_alert_goes_pending_when_the_route_slows_down() {
    let r = rig();
    let p = &r.prometheus;
    let queries = |n: usize| (0..n).map(|_| QUERY.to_owned()).collect::<Vec<_>>();

    // Normal traffic: p95 about 0.44 s, under the 1 s threshold, no alert.
    assert!(send(r.envoy.listener, &queries(10), 1).iter().all(|(_, s)| *s == 200));
    wait_series(p, QUERY);
    assert!(send(r.envoy.listener, &queries(20), 2).iter().all(|(_, s)| *s == 200));
    let recorded = format!("route:meshlens_http_request_duration_seconds:p95_1m{{route=\"{QUERY}\"}}");
    let before = p.wait_for(
        "the p95 recording rule over normal traffic",
        SETTLE,
        |p| single(p, &recorded).filter(|v| *v > 0.25 && *v <= 0.5),
        |p| format!("{:?}", p.query(&recorded)),
    );
    let latency_alerts = |p: &Prometheus| {
        p.alerts().into_iter().filter(|a| a.labels["alertname"] == "MeshlensHighRequestLatency").collect::<Vec<_>>()
    };
    assert!(latency_alerts(p).is_empty(), "alert before the slowdown (p95 {before} s): {:?}", latency_alerts(p));

    // Slow the route further: every query now takes 1.2 s, so p95 lands in (1, 2.5].
    r.app.fast_ms.store(1200, Ordering::SeqCst);
    r.app.slow_ms.store(1200, Ordering::SeqCst);
    assert!(send(r.envoy.listener, &queries(24), 4).iter().all(|(_, s)| *s == 200));
    let alert = p.wait_for(
        "MeshlensHighRequestLatency pending or firing",
        SETTLE,
        |p| latency_alerts(p).into_iter().find(|a| matches!(a.state.as_str(), "pending" | "firing")),
        |p| format!("p95 {:?}, alerts {:?}", p.query(&recorded), p.alerts()),
    );
    assert_eq!(alert.labels["route"], QUERY);
    assert_eq!(alert.labels["severity"], "warning");
    assert_eq!(alert.labels["component"], "edge");
    assert!(alert.value > 1.0 && alert.value <= 2.5, "alert value {}", alert.value);
    assert!(alert.annotations["summary"].starts_with(&format!("p95 latency of {QUERY} is ")), "{alert:?}");
}

/// The Chat2SQL profile in the shipped edge gateway: `chat2sql_query_duration_seconds` keeps its
/// name, unit and 0.1..30 s buckets, Prometheus types it `histogram`, and the profile's p95
/// recording rule reads it.
#[test]
fn the_chat2sql_histogram_is_a_histogram_in_prometheus() {
    let app = app();
    let collector = Receiver::start();
    let profile = paths::repo_root().join("envoy-config/profiles/chat2sql/plugin-config.json");
    let plugin_config = Some(std::fs::read_to_string(profile).unwrap());
    let render = Render { app_port: app.server.port(), collector_port: collector.server.port(), plugin_config };
    let envoy = Envoy::start("edge-gateway.yaml", &render, 2);
    let rules = paths::repo_root().join("envoy-config/profiles/chat2sql/chat2sql.rules.yml");
    let p = Prometheus::start(&envoy, &[&rules]);
    p.wait_scraped();
    // Every 5th query takes 300 ms, the others 20 ms.
    let paths: Vec<String> = (0..50).map(|_| QUERY.to_owned()).collect();
    assert!(send(envoy.listener, &paths, 2).iter().all(|(_, s)| *s == 200));
    let count = "sum(chat2sql_query_duration_seconds_count)";
    p.wait_for(
        "50 queries counted",
        SETTLE,
        |p| (single(p, count) == Some(50.0)).then_some(()),
        |p| format!("{:?}", p.query(count)),
    );
    assert_eq!(p.metadata_types("chat2sql_query_duration_seconds"), ["histogram"]);
    assert_eq!(p.metadata_types("chat2sql_query_total"), ["counter"]);
    let served = envoy.module_metrics();
    assert_eq!(check_metrics(&served), Vec::<String>::new(), "promtool check metrics on:\n{served}");
    let les: BTreeSet<String> =
        by_label(&p, "count by (le) (chat2sql_query_duration_seconds_bucket)", "le").into_keys().collect();
    let expected: BTreeSet<String> =
        ["0.1", "0.5", "1", "2", "5", "10", "30", "+Inf"].into_iter().map(str::to_owned).collect();
    assert_eq!(les, expected);
    // 50 queries of 20 ms or 300 ms: the sum keeps its fractions of a second.
    let sum = single(&p, "sum(chat2sql_query_duration_seconds_sum)").unwrap();
    assert!(sum > 40.0 * 0.02 + 10.0 * 0.3 && sum < 5.0, "sum {sum} s");
    let p95 = "query_type:chat2sql_query_duration_seconds:p95_1m";
    let value =
        p.wait_for("the profile's p95 recording rule", SETTLE, |p| single(p, p95), |p| format!("{:?}", p.query(p95)));
    assert!(value > 0.1 && value <= 0.5, "p95 {value} s: 10 of 50 queries take 300 ms, in (0.1, 0.5]");
}
