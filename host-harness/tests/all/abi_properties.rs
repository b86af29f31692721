//! ABI section "Properties": `proxy_get_property` for the plugin's own properties and for a
//! property the scenario sets on the builder. (The Envoy attribute model has its own tests.)

use host_harness::properties::Value;
use host_harness::{Host, Status};

use crate::guest::{self, one};

const PROPERTIES: &str = r#"
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (call $log_i32 (str "root_id_status") (call $get_property (str "plugin_root_id")))
    (call $log_ret (str "plugin_root_id"))
    (call $log_i32 (str "name_status") (call $get_property (str "plugin_name")))
    (call $log_ret (str "plugin_name"))
    (i32.const 1))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (call $log_i32 (str "cluster_status") (call $get_property (str "xds\00cluster_name")))
    (call $log_ret (str "cluster_name"))
    (call $log_i32 (str "stream_root_id_status") (call $get_property (str "plugin_root_id")))
    (call $log_ret (str "stream_root_id"))
    (call $log_i32 (str "missing") (call $get_property (str "no\00such\00property")))
    (i32.const 0))
"#;

#[test]
fn plugin_and_scenario_properties_are_readable() {
    let mut host = Host::builder(&guest::module(PROPERTIES))
        .root_id("probe")
        .property(&["xds", "cluster_name"], Value::String("backend".to_owned()))
        .build()
        .unwrap();
    assert_eq!(one(&host, "root_id_status"), "0");
    assert_eq!(one(&host, "plugin_root_id"), "probe");
    assert_eq!(one(&host, "name_status"), "0");
    assert_eq!(one(&host, "plugin_name"), "probe");

    let s = host.new_stream();
    host.request_headers(s, &[(":path", "/")], true).unwrap();
    assert_eq!(one(&host, "cluster_status"), "0");
    assert_eq!(one(&host, "cluster_name"), "backend");
    assert_eq!(one(&host, "stream_root_id_status"), "0");
    assert_eq!(one(&host, "stream_root_id"), "probe", "a stream sees its plugin's root id");
    assert_eq!(one(&host, "missing"), Status::NotFound.raw().to_string());
}
