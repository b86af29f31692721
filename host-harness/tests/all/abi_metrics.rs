//! ABI section "Metrics": define, increment, record, get, on the registry shared by every host
//! built with the same [`Shared`] (Envoy's stats store), with Envoy's rules
//! (`Context::incrementMetric` and friends in envoy `source/extensions/common/wasm/context.cc`).

use std::sync::Arc;

use host_harness::metrics::MetricValue;
use host_harness::{Host, Shared, Status};

use crate::guest::{self, one};

const METRICS: &str = r#"
  (func $define (param $kind i32) (param $name i32) (param $len i32) (result i32)
    (drop (call $proxy_define_metric (local.get $kind) (local.get $name) (local.get $len) (i32.const 24)))
    (call $ret_u32))
  (func $get (param $label i32) (param $len i32) (param $id i32) (result i32)
    (local $status i32)
    (local.set $status (call $proxy_get_metric (local.get $id) (i32.const 32)))
    (if (i32.eqz (local.get $status)) (then (call $log_i64 (local.get $label) (local.get $len) (call $ret_u64))))
    (local.get $status))
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (local $counter i32) (local $gauge i32) (local $histogram i32)
    (call $log_i32 (str "define_counter") (call $proxy_define_metric (i32.const 0) (str "requests_total") (i32.const 24)))
    (local.set $counter (call $ret_u32))
    (call $log_i32 (str "increment_counter") (call $proxy_increment_metric (local.get $counter) (i64.const 5)))
    (call $log_i32 (str "decrement_counter") (call $proxy_increment_metric (local.get $counter) (i64.const -1)))
    (call $log_i32 (str "increment_counter_by_0") (call $proxy_increment_metric (local.get $counter) (i64.const 0)))
    (call $log_i32 (str "record_counter") (call $proxy_record_metric (local.get $counter) (i64.const 2)))
    (call $log_i32 (str "get_counter") (call $get (str "counter") (local.get $counter)))

    (local.set $gauge (call $define (i32.const 1) (str "in_flight")))
    (call $log_i32 (str "record_gauge") (call $proxy_record_metric (local.get $gauge) (i64.const 10)))
    (call $log_i32 (str "decrement_gauge") (call $proxy_increment_metric (local.get $gauge) (i64.const -3)))
    (call $log_i32 (str "get_gauge") (call $get (str "gauge") (local.get $gauge)))

    (local.set $histogram (call $define (i32.const 2) (str "latency_ms")))
    (call $log_i32 (str "record_histogram") (call $proxy_record_metric (local.get $histogram) (i64.const 42)))
    (call $log_i32 (str "increment_histogram") (call $proxy_increment_metric (local.get $histogram) (i64.const 1)))
    (call $log_i32 (str "get_histogram") (call $get (str "histogram") (local.get $histogram)))

    (call $log_i32 (str "define_unknown_kind") (call $proxy_define_metric (i32.const 3) (str "x") (i32.const 24)))
    (i32.const 1))
"#;

/// Another worker counting the same counter once.
const SECOND_WORKER: &str = r#"
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (local $counter i32)
    (drop (call $proxy_define_metric (i32.const 0) (str "requests_total") (i32.const 24)))
    (local.set $counter (call $ret_u32))
    (drop (call $proxy_increment_metric (local.get $counter) (i64.const 1)))
    (drop (call $proxy_get_metric (local.get $counter) (i32.const 32)))
    (call $log_i64 (str "counter") (call $ret_u64))
    (i32.const 1))
"#;

#[test]
fn counters_gauges_and_histograms_answer_like_envoy() {
    let host = guest::host(METRICS);
    let ok = "0".to_owned();
    let bad = Status::BadArgument.raw().to_string();
    assert_eq!(one(&host, "define_counter"), ok);
    assert_eq!(one(&host, "increment_counter"), ok);
    assert_eq!(one(&host, "decrement_counter"), bad, "a counter only goes up");
    assert_eq!(one(&host, "increment_counter_by_0"), bad);
    assert_eq!(one(&host, "record_counter"), ok, "record adds to a counter");
    assert_eq!(one(&host, "get_counter"), ok);
    assert_eq!(one(&host, "counter"), "7");

    assert_eq!(one(&host, "record_gauge"), ok, "record sets a gauge");
    assert_eq!(one(&host, "decrement_gauge"), ok);
    assert_eq!(one(&host, "get_gauge"), ok);
    assert_eq!(one(&host, "gauge"), "7");

    assert_eq!(one(&host, "record_histogram"), ok);
    assert_eq!(one(&host, "increment_histogram"), bad);
    assert_eq!(one(&host, "get_histogram"), bad, "a histogram has no single value");
    assert_eq!(one(&host, "define_unknown_kind"), bad);

    let metrics = host.metrics();
    assert_eq!(metrics.value("requests_total"), Some(MetricValue::Counter(7)));
    assert_eq!(metrics.value("in_flight"), Some(MetricValue::Gauge(7)));
    assert!(matches!(metrics.value("latency_ms"), Some(MetricValue::Histogram(_))));
}

#[test]
fn workers_sharing_a_registry_count_into_the_same_metric() {
    let shared = Arc::new(Shared::new());
    let first = Host::builder(&guest::module(METRICS)).shared(shared.clone()).build().unwrap();
    let second = Host::builder(&guest::module(SECOND_WORKER)).shared(shared.clone()).build().unwrap();
    assert_eq!(one(&second, "counter"), "8", "7 from the first worker, 1 from the second");
    assert_eq!(first.metrics().value("requests_total"), Some(MetricValue::Counter(8)));
    assert_eq!(shared.metrics().value("requests_total"), Some(MetricValue::Counter(8)));
}
