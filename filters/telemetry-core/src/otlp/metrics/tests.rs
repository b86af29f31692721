use serde_json::Value;

use super::*;
use crate::config::Config;
use crate::metrics::{Exemplar, RequestFacts};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn engine() -> MetricsEngine {
    let json = r#"{"routes": ["/q"], "metrics": {"duration_buckets": [0.1, 0.5, 1]}}"#;
    let mut config = Config::from_json(json.as_bytes()).unwrap().metrics.unwrap();
    config.exemplars = true;
    MetricsEngine::new(config)
}

fn record(e: &mut MetricsEngine, millis: u64, span: Option<u8>) {
    e.record(&RequestFacts {
        method: "GET",
        route: Some("/q"),
        status: 200,
        duration_nanos: millis * 1_000_000,
        request_bytes: 0,
        response_bytes: 10,
        dimensions: &[],
        exemplar: span.map(|n| Exemplar {
            trace_id: TraceId::from_hex(TRACE).unwrap(),
            span_id: SpanId::from_hex(&format!("00000000000000{n:02x}")).unwrap(),
            time_unix_nanos: 1_000 + u64::from(n),
        }),
        grpc: None,
    });
}

fn encoded(batch: &MetricsBatch) -> Value {
    let mut out = String::new();
    let resource = Resource { attributes: vec![KeyValue::string("service.name", "gw")] };
    encode_metrics_into(&mut out, &resource, std::slice::from_ref(batch));
    serde_json::from_str(&out).unwrap()
}

fn metric<'a>(v: &'a Value, name: &str) -> &'a Value {
    let metrics = v["resourceMetrics"][0]["scopeMetrics"][0]["metrics"].as_array().unwrap();
    metrics.iter().find(|m| m["name"] == name).unwrap()
}

#[test]
fn histograms_are_cumulative_with_per_bucket_counts_and_exact_bounds() {
    let mut e = engine();
    for (millis, span) in [(50, Some(1)), (60, Some(2)), (300, None), (2_000, Some(3))] {
        record(&mut e, millis, span);
    }
    let v = encoded(&MetricsBatch::take(&mut e, "00000000000000aa", 100, 5_000));
    let resource = &v["resourceMetrics"][0]["resource"]["attributes"];
    assert_eq!(
        resource[1],
        serde_json::json!({"key": "service.instance.id", "value": {"stringValue": "00000000000000aa"}})
    );
    let h = &metric(&v, "meshlens_http_request_duration_seconds");
    assert_eq!((h["unit"].as_str(), h["histogram"]["aggregationTemporality"].as_u64()), (Some("s"), Some(2)));
    let p = &h["histogram"]["dataPoints"][0];
    assert_eq!(p["bucketCounts"], serde_json::json!(["2", "1", "0", "1"]), "per bucket, +Inf last");
    assert_eq!(p["explicitBounds"], serde_json::json!([0.1, 0.5, 1.0]));
    assert_eq!((p["count"].as_str(), p["sum"].as_f64()), (Some("4"), Some(2.41)));
    assert_eq!((p["startTimeUnixNano"].as_str(), p["timeUnixNano"].as_str()), (Some("100"), Some("5000")));
    // One exemplar per bucket: the first sampled request in it; none for the unsampled one.
    let exemplars = p["exemplars"].as_array().unwrap();
    let spans: Vec<&str> = exemplars.iter().map(|x| x["spanId"].as_str().unwrap()).collect();
    assert_eq!(spans, ["0000000000000001", "0000000000000003"]);
    assert_eq!((exemplars[0]["traceId"].as_str(), exemplars[0]["asDouble"].as_f64()), (Some(TRACE), Some(0.05)));
    let requests = &metric(&v, "meshlens_http_requests_total")["sum"];
    assert_eq!(
        (requests["isMonotonic"].as_bool(), requests["dataPoints"][0]["asInt"].as_str()),
        (Some(true), Some("4"))
    );
    let route = &requests["dataPoints"][0]["attributes"][2];
    assert_eq!(route, &serde_json::json!({"key": "route", "value": {"stringValue": "/q"}}));
}

#[test]
fn exemplars_are_handed_over_once_and_counts_stay_cumulative() {
    let mut e = engine();
    record(&mut e, 50, Some(1));
    let first = encoded(&MetricsBatch::take(&mut e, "a", 0, 1));
    record(&mut e, 70, Some(2));
    let second = encoded(&MetricsBatch::take(&mut e, "a", 0, 2));
    let point = |v: &Value| metric(v, "meshlens_http_request_duration_seconds")["histogram"]["dataPoints"][0].clone();
    assert_eq!(point(&first)["exemplars"][0]["spanId"], "0000000000000001");
    assert_eq!(point(&second)["exemplars"][0]["spanId"], "0000000000000002", "a new interval, a new exemplar");
    assert_eq!(point(&second)["count"], "2", "cumulative");
    let third = encoded(&MetricsBatch::take(&mut e, "a", 0, 3));
    assert!(point(&third).get("exemplars").is_none(), "nothing new in the bucket: no exemplar");
}

#[test]
fn a_configured_instance_id_is_kept_and_told_apart_per_worker() {
    let resource = Resource { attributes: vec![KeyValue::string("service.instance.id", "gw-1")] };
    let attributes = instance_resource(&resource, "00ff");
    assert_eq!(attributes, [KeyValue::string("service.instance.id", "gw-1/00ff")]);
}

#[test]
fn the_protobuf_encoding_reads_back_as_the_json_encoding() {
    let mut e = engine();
    for (millis, span) in [(50, Some(1)), (300, None), (2_000, Some(3))] {
        record(&mut e, millis, span);
    }
    let batch = MetricsBatch::take(&mut e, "00000000000000aa", 100, 5_000);
    let resource = Resource { attributes: vec![KeyValue::string("service.name", "gw")] };
    let mut bytes = Vec::new();
    crate::otlp::proto::encode_metrics_into(&mut bytes, &resource, std::slice::from_ref(&batch));
    let decoded = otlp_decode::decode(otlp_decode::Signal::Metrics, &bytes).unwrap();
    assert_eq!(decoded, encoded(&batch), "protobuf and JSON encodings differ");
    let mut empty = Vec::new();
    crate::otlp::proto::encode_metrics_into(&mut empty, &resource, &[]);
    assert!(empty.is_empty(), "no batch, no envelope");
}
