use super::*;
use crate::config::Config;
use crate::metrics::RequestFacts;

fn engine(json: &str) -> MetricsEngine {
    MetricsEngine::new(Config::from_json(json.as_bytes()).unwrap().metrics.unwrap())
}

fn record(e: &mut MetricsEngine, route: &str, status: u16, millis: u64) {
    e.record(&RequestFacts {
        method: "GET",
        route: Some(route),
        status,
        duration_nanos: millis * 1_000_000,
        request_bytes: 0,
        response_bytes: 10,
        dimensions: &[],
        exemplar: None,
        grpc: None,
    });
}

fn rendered(snapshots: &[String]) -> (String, usize) {
    let mut merged = Merged::default();
    for s in snapshots {
        merged.add(s);
    }
    let mut out = String::new();
    merged.render(&mut out);
    (out, merged.rejected)
}

fn snap(e: &MetricsEngine) -> String {
    let mut out = String::new();
    snapshot(e, &mut out);
    out
}

const CHAT2SQL: &str = r#"{"routes": ["/api/v1/query"], "metrics": {"standard": false, "custom": [
    {"name": "chat2sql_query_duration_seconds", "kind": "duration", "routes": ["/api/v1/query"],
     "labels": ["route", "status_class"], "buckets": [0.1, 0.5, 1, 2, 5, 10, 30]}]}}"#;

#[test]
fn a_histogram_renders_typed_with_ordered_buckets_and_an_exact_sum() {
    let mut e = engine(CHAT2SQL);
    for _ in 0..6 {
        record(&mut e, "/api/v1/query", 200, 150);
    }
    record(&mut e, "/api/v1/query", 200, 12_000);
    let (text, rejected) = rendered(&[snap(&e)]);
    assert_eq!(rejected, 0);
    let l = r#"route="/api/v1/query",status_class="2xx""#;
    let expected = format!(
        "# HELP chat2sql_query_duration_seconds HTTP request duration at the proxy, from the request headers to the end of the stream, in seconds.\n\
         # TYPE chat2sql_query_duration_seconds histogram\n\
         chat2sql_query_duration_seconds_bucket{{{l},le=\"0.1\"}} 0\n\
         chat2sql_query_duration_seconds_bucket{{{l},le=\"0.5\"}} 6\n\
         chat2sql_query_duration_seconds_bucket{{{l},le=\"1\"}} 6\n\
         chat2sql_query_duration_seconds_bucket{{{l},le=\"2\"}} 6\n\
         chat2sql_query_duration_seconds_bucket{{{l},le=\"5\"}} 6\n\
         chat2sql_query_duration_seconds_bucket{{{l},le=\"10\"}} 6\n\
         chat2sql_query_duration_seconds_bucket{{{l},le=\"30\"}} 7\n\
         chat2sql_query_duration_seconds_bucket{{{l},le=\"+Inf\"}} 7\n\
         chat2sql_query_duration_seconds_sum{{{l}}} 12.9\n\
         chat2sql_query_duration_seconds_count{{{l}}} 7\n"
    );
    assert_eq!(text, expected, "six 0.15 s queries and one of 12 s sum to 12.9 s, not 12");
}

#[test]
fn workers_add_up_series_by_series() {
    let json = r#"{"routes": ["/a", "/b"], "metrics": {"duration_buckets": [0.1, 1]}}"#;
    let (mut one, mut two) = (engine(json), engine(json));
    record(&mut one, "/a", 200, 50);
    record(&mut two, "/a", 200, 500);
    record(&mut two, "/b", 503, 5);
    let (text, rejected) = rendered(&[snap(&one), snap(&two)]);
    assert_eq!(rejected, 0);
    let a = r#"reporter="proxy",method="GET",route="/a",status_code="200",status_class="2xx",grpc_status="none""#;
    let b = r#"reporter="proxy",method="GET",route="/b",status_code="503",status_class="5xx",grpc_status="none""#;
    assert!(text.contains(&format!("meshlens_http_requests_total{{{a}}} 2\n")), "{text}");
    assert!(text.contains(&format!("meshlens_http_requests_total{{{b}}} 1\n")), "{text}");
    assert!(text.contains(&format!("meshlens_http_request_duration_seconds_bucket{{{a},le=\"0.1\"}} 1\n")));
    assert!(text.contains(&format!("meshlens_http_request_duration_seconds_sum{{{a}}} 0.55\n")));
    assert_eq!(text.matches("# TYPE meshlens_http_requests_total counter\n").count(), 1, "one TYPE line per family");
    assert_eq!(text.matches("# TYPE meshlens_http_request_duration_seconds histogram\n").count(), 1);
    assert_eq!(text.matches("# TYPE meshlens_http_response_size_bytes histogram\n").count(), 1);
}

#[test]
fn a_worker_on_other_buckets_is_left_out_not_mixed_in() {
    let (mut old, mut new) = (
        engine(r#"{"routes": ["/a"], "metrics": {"duration_buckets": [0.1, 1]}}"#),
        engine(r#"{"routes": ["/a"], "metrics": {"duration_buckets": [0.2, 2]}}"#),
    );
    record(&mut old, "/a", 200, 50);
    record(&mut new, "/a", 200, 50);
    let (text, rejected) = rendered(&[snap(&new), snap(&old)]);
    assert!(rejected >= 1);
    assert!(text.contains("le=\"0.2\"") && !text.contains("le=\"0.1\""), "{text}");
    assert!(text.contains("meshlens_http_requests_total{"), "families that agree still add up");
}

#[test]
fn label_values_are_escaped_and_garbage_is_rejected() {
    let mut out = String::new();
    escape(r#"a"b\c"#, &mut out);
    assert_eq!(out, r#"a\"b\\c"#);
    let (text, rejected) =
        rendered(&[String::from("not a snapshot"), format!("{HEADER}\nS\tx\t1\t0\nF\t1bad\tcounter\th\t\t\n")]);
    assert_eq!((text.as_str(), rejected), ("", 3));
}

#[test]
fn sums_are_exact_decimals() {
    let mut out = String::new();
    for n in [0u128, 150_000_000, 3_000_000_000, 1_000_000_001] {
        push_billionths(n, &mut out);
        out.push(' ');
    }
    assert_eq!(out, "0 0.15 3 1.000000001 ");
}
