use super::*;
use crate::config::Config;

fn engine(json: &str) -> MetricsEngine {
    MetricsEngine::new(Config::from_json(json.as_bytes()).unwrap().metrics.unwrap())
}

fn facts<'a>(route: Option<&'a str>, status: u16, millis: u64, dims: &'a [String]) -> RequestFacts<'a> {
    RequestFacts {
        method: "GET",
        route,
        status,
        duration_nanos: millis * 1_000_000,
        request_bytes: 0,
        response_bytes: 1500,
        dimensions: dims,
        exemplar: None,
        grpc: None,
    }
}

/// Drains into `name -> delta`, defining ids as 1, 2, 3...
fn drain(e: &mut MetricsEngine) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut next = 0;
    e.drain(|name, id, delta| {
        out.push((name.to_owned(), delta));
        Some(id.unwrap_or_else(|| {
            next += 1;
            next
        }))
    });
    out.sort();
    out
}

fn value(all: &[(String, u64)], name: &str) -> u64 {
    all.iter().find(|(n, _)| n == name).map_or(0, |(_, v)| *v)
}

#[test]
fn a_request_counts_once_and_lands_in_cumulative_buckets() {
    let mut e = engine(r#"{"routes": ["/api/v1/query"], "metrics": {"duration_buckets": [0.025, 0.25, 0.5]}}"#);
    e.record(&facts(Some("/api/v1/query"), 200, 20, &[]));
    e.record(&facts(Some("/api/v1/query"), 200, 300, &[]));
    let all = drain(&mut e);
    let labels = ";reporter=proxy;method=GET;route=/api/v1/query;status_code=200;status_class=2xx;grpc_status=none";
    assert_eq!(value(&all, &format!("meshlens_http_requests_total{labels}")), 2);
    let bucket = |le: &str| value(&all, &format!("meshlens_http_request_duration_seconds_bucket{labels};le={le}"));
    assert_eq!((bucket("0.025"), bucket("0.25"), bucket("0.5"), bucket("+Inf")), (1, 1, 2, 2));
    assert_eq!(value(&all, &format!("meshlens_http_request_duration_seconds_count{labels}")), 2);
    assert_eq!(
        value(&all, &format!("meshlens_http_request_duration_seconds_sum{labels}")),
        0,
        "0.32 s: no whole second yet"
    );
    assert_eq!(value(&all, &format!("meshlens_http_response_size_bytes_sum{labels}")), 3000);
    assert!(drain(&mut e).is_empty(), "nothing pending after a drain");
}

#[test]
fn sums_carry_remainders_across_drains() {
    let mut e = engine(
        r#"{"metrics": {"standard": false, "custom": [{"name": "d_ms", "kind": "duration", "unit": "ms", "buckets": [10]}]}}"#,
    );
    let mut total = 0;
    for _ in 0..4 {
        // 1.5 ms each: the sum reaches 6 ms over four drains, never more or less.
        let f = RequestFacts { duration_nanos: 1_500_000, ..facts(None, 200, 0, &[]) };
        e.record(&f);
        total += value(&drain(&mut e), "d_ms_sum");
    }
    assert_eq!(total, 6);
}

#[test]
fn unrouted_paths_and_odd_methods_share_one_series() {
    let mut e = engine(r#"{"metrics": {"labels": ["method", "route"]}}"#);
    for method in ["GET", "BREW", "PROPFIND"] {
        e.record(&RequestFacts { method, ..facts(None, 404, 1, &[]) });
    }
    assert_eq!(e.series_count("meshlens_http_requests_total"), 2, "GET/other and other/other");
    let all = drain(&mut e);
    assert_eq!(value(&all, "meshlens_http_requests_total;method=other;route=other"), 2);
}

#[test]
fn the_series_cap_sends_new_label_sets_to_overflow_and_counts_them() {
    let mut e = engine(
        r#"{"metrics": {"max_series": 3, "labels": ["tenant"],
            "dimensions": [{"name": "tenant", "from": {"request_header": "x-tenant"}}]}}"#,
    );
    for i in 0..10 {
        let dims = vec![format!("t{i}")];
        e.record(&facts(None, 200, 1, &dims));
    }
    assert_eq!(e.series_count("meshlens_http_requests_total"), 3, "two real label sets and the overflow one");
    let all = drain(&mut e);
    assert_eq!(value(&all, "meshlens_http_requests_total;tenant=overflow"), 8);
    assert_eq!(value(&all, "meshlens_metrics_series_overflow_total;metric=meshlens_http_requests_total"), 8);
}

#[test]
fn families_sharing_labels_keep_their_own_series_and_caps() {
    // The standard families share one label-set lookup; a custom family with the same labels but
    // a route filter must still count only its routes, and each family overflows on its own.
    let mut e = engine(
        r#"{"routes": ["/a", "/b"], "metrics": {"max_series": 3, "labels": ["route"],
            "custom": [{"name": "a_total", "kind": "requests", "labels": ["route"], "routes": ["/a"]}]}}"#,
    );
    for route in ["/a", "/b", "/a", "/b"] {
        e.record(&facts(Some(route), 200, 1, &[]));
    }
    e.record(&facts(None, 200, 1, &[]));
    let all = drain(&mut e);
    assert_eq!(value(&all, "meshlens_http_requests_total;route=/a"), 2);
    assert_eq!(value(&all, "meshlens_http_requests_total;route=/b"), 2);
    assert_eq!(value(&all, "meshlens_http_requests_total;route=overflow"), 1, "a third set: past the cap of 3");
    assert_eq!(value(&all, "meshlens_http_request_duration_seconds_count;route=overflow"), 1);
    assert_eq!(value(&all, "a_total;route=/a"), 2);
    assert_eq!(value(&all, "a_total;route=/b"), 0, "outside the family's routes");
    assert_eq!(e.series_count("a_total"), 1);
    assert_eq!(e.series_count("meshlens_http_requests_total"), 3);
    assert_eq!(value(&all, "meshlens_metrics_series_overflow_total;metric=meshlens_http_requests_total"), 1);
    assert_eq!(value(&all, "meshlens_metrics_series_overflow_total;metric=a_total"), 0);
}

#[test]
fn dimensions_allow_lists_missing_values_and_route_maps() {
    let config = Config::from_json(
        br#"{"routes": ["/api/v1/query", "/api/v1/sql/execute"], "metrics": {"dimensions": [
            {"name": "query_type", "from": {"route": {"/api/v1/query": "nl2sql", "/api/v1/sql/execute": "sql"}}},
            {"name": "plan", "from": {"request_header": "X-Plan"}, "allow": ["free", "pro"], "missing": "none"}]}}"#,
    )
    .unwrap();
    let m = config.metrics.unwrap();
    let (route, plan) = (&m.dimensions[0], &m.dimensions[1]);
    assert_eq!(plan.source, DimensionSource::RequestHeader("x-plan".into()));
    assert_eq!(route.route_value(Some("/api/v1/sql/execute")).as_deref(), Some("sql"));
    assert_eq!(route.route_value(None).as_deref(), Some("other"));
    assert_eq!(plan.value(Some("pro")), "pro");
    assert_eq!(plan.value(Some("enterprise-trial")), "other");
    assert_eq!(plan.value(None), "none");
}

#[test]
fn the_chat2sql_profile_is_one_config() {
    let mut e = engine(
        r#"{"routes": ["/api/v1/query", "/api/v1/sql/execute", "/health"],
            "metrics": {"standard": false,
              "dimensions": [{"name": "query_type", "from": {"route": {"/api/v1/query": "nl2sql", "/api/v1/sql/execute": "sql"}}}],
              "custom": [
                {"name": "chat2sql_query_duration_seconds", "kind": "duration", "unit": "s", "buckets": [0.1, 0.5, 1, 2, 5, 10, 30],
                 "labels": ["query_type", {"name": "status", "from": "outcome"}], "routes": ["/api/v1/query", "/api/v1/sql/execute"]},
                {"name": "chat2sql_query_total", "kind": "requests",
                 "labels": ["query_type", {"name": "status", "from": "outcome"}], "routes": ["/api/v1/query", "/api/v1/sql/execute"]}]}}"#,
    );
    let nl = vec![String::from("nl2sql")];
    e.record(&facts(Some("/api/v1/query"), 200, 12_000, &nl));
    e.record(&facts(Some("/api/v1/query"), 500, 300, &nl));
    e.record(&facts(Some("/health"), 200, 1, &[String::from("other")]));
    let all = drain(&mut e);
    assert_eq!(value(&all, "chat2sql_query_total;query_type=nl2sql;status=success"), 1);
    assert_eq!(value(&all, "chat2sql_query_total;query_type=nl2sql;status=error"), 1);
    assert_eq!(value(&all, "chat2sql_query_duration_seconds_bucket;query_type=nl2sql;status=success;le=10"), 0);
    assert_eq!(value(&all, "chat2sql_query_duration_seconds_bucket;query_type=nl2sql;status=success;le=30"), 1);
    assert_eq!(value(&all, "chat2sql_query_duration_seconds_sum;query_type=nl2sql;status=success"), 12);
    assert!(all.iter().all(|(n, _)| !n.contains("other")), "/health is not a query route: {all:?}");
}

#[test]
fn ids_are_remembered_per_stat_name() {
    let mut e = engine(r#"{"metrics": {"labels": ["method"]}}"#);
    e.record(&facts(None, 200, 1, &[]));
    let mut defined = 0;
    let mut emit = |_: &str, id: Option<u32>, _: u64| {
        if id.is_none() {
            defined += 1;
        }
        Some(id.unwrap_or(7))
    };
    e.drain(&mut emit);
    e.record(&facts(None, 200, 1, &[]));
    e.drain(&mut emit);
    assert_eq!(defined, 1 + 1 + 13 + 9 + 9, "each stat name is defined once, however often it is drained");
}

#[test]
fn config_errors_name_the_field() {
    let error = |json: &str| Config::from_json(json.as_bytes()).unwrap_err().to_string();
    assert_eq!(
        error(r#"{"metrics": {"duration_buckets": [1, 0.5]}}"#),
        "metrics.duration_buckets: bounds must be strictly increasing"
    );
    assert_eq!(error(r#"{"metrics": {"max_series": 1}}"#), "metrics.max_series: must be from 2 to 100000, got 1");
    assert_eq!(
        error(r#"{"metrics": {"labels": ["method", "tenant"]}}"#),
        "metrics.labels[1]: `tenant` is not a label; known: reporter, method, route, status_code, status_class, outcome, grpc_status"
    );
    assert_eq!(
        error(r#"{"metrics": {"custom": [{"name": "x-y", "kind": "requests"}]}}"#),
        "metrics.custom[0].name: `x-y` is not a valid Prometheus metric name"
    );
    assert_eq!(
        error(r#"{"metrics": {"custom": [{"name": "x", "kind": "requests", "routes": ["/nope"]}]}}"#),
        "metrics.custom[0].routes[0]: `/nope` is not one of `routes`"
    );
    assert_eq!(
        error(r#"{"metrics": {"dimensions": [{"name": "route", "from": {"request_header": "x"}}]}}"#),
        "metrics.dimensions[0].name: `route` is already a label"
    );
    assert!(
        error(r#"{"metrics": {"custom": [{"name": "x", "kind": "gauge"}]}}"#)
            .starts_with("metrics.custom[0].kind: unknown variant `gauge`")
    );
}
