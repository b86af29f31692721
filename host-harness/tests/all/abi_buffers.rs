//! ABI section "Buffers": `proxy_get_buffer_bytes`, `proxy_set_buffer_bytes`,
//! `proxy_get_buffer_status`, with Envoy's rules for body edits (`Buffer::copyFrom` in envoy
//! `source/extensions/common/wasm/context.cc`).

use host_harness::{Host, Status};

use crate::guest::{self, one};

const CONFIGS: &str = r#"
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (call $log_i32 (str "vm_size") (local.get $size))
    (call $log_i32 (str "vm_get") (call $get_buffer (i32.const 6) (i32.const 0) (local.get $size)))
    (call $log_ret (str "vm_config"))
    (i32.const 1))
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (call $log_i32 (str "plugin_size") (local.get $size))
    (call $log_i32 (str "plugin_get") (call $get_buffer (i32.const 7) (i32.const 0) (local.get $size)))
    (call $log_ret (str "plugin_config"))
    (drop (call $get_buffer (i32.const 7) (i32.const 2) (i32.const 3)))
    (call $log_ret (str "plugin_slice"))
    (drop (call $get_buffer (i32.const 7) (i32.const 0) (i32.const 1000)))
    (call $log_ret (str "plugin_overread"))
    (i32.const 1))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (call $log_i32 (str "plugin_later") (call $get_buffer (i32.const 7) (i32.const 0) (i32.const 10)))
    (call $log_i32 (str "vm_later") (call $get_buffer (i32.const 6) (i32.const 0) (i32.const 100)))
    (call $log_ret (str "vm_config_later"))
    (call $log_i32 (str "vm_status") (call $proxy_get_buffer_status (i32.const 6) (i32.const 24) (i32.const 28)))
    (call $log_i32 (str "vm_status_size") (call $ret_u32))
    (call $log_i32 (str "set_vm") (call $proxy_set_buffer_bytes (i32.const 6) (i32.const 0) (i32.const 0) (str "x")))
    (call $log_i32 (str "unknown_type") (call $get_buffer (i32.const 9) (i32.const 0) (i32.const 1)))
    (i32.const 0))
"#;

#[test]
fn vm_and_plugin_configuration_are_readable_where_envoy_offers_them() {
    let mut host =
        Host::builder(&guest::module(CONFIGS)).vm_config("vm-cfg").plugin_config("plugin-cfg").build().unwrap();
    assert_eq!(one(&host, "vm_size"), "6");
    assert_eq!(one(&host, "vm_get"), "0");
    assert_eq!(one(&host, "vm_config"), "vm-cfg");
    assert_eq!(one(&host, "plugin_size"), "10");
    assert_eq!(one(&host, "plugin_get"), "0");
    assert_eq!(one(&host, "plugin_config"), "plugin-cfg");
    assert_eq!(one(&host, "plugin_slice"), "ugi");
    assert_eq!(one(&host, "plugin_overread"), "plugin-cfg", "reads stop at the end of the buffer");

    let s = host.new_stream();
    host.request_headers(s, &[(":path", "/")], true).unwrap();
    assert_eq!(one(&host, "plugin_later"), Status::NotFound.raw().to_string(), "only during on_configure");
    assert_eq!(one(&host, "vm_later"), "0", "the VM configuration stays readable");
    assert_eq!(one(&host, "vm_config_later"), "vm-cfg");
    assert_eq!(one(&host, "vm_status"), "0");
    assert_eq!(one(&host, "vm_status_size"), "6");
    assert_eq!(one(&host, "set_vm"), Status::BadArgument.raw().to_string(), "configuration is read-only");
    assert_eq!(one(&host, "unknown_type"), Status::BadArgument.raw().to_string());
}

/// Buffers the request body; at the end edits it with every rule Envoy knows.
const BODY_EDITS: &str = r#"
  (func $set_body (param $start i32) (param $size i32) (param $ptr i32) (param $len i32) (result i32)
    (call $proxy_set_buffer_bytes (i32.const 0) (local.get $start) (local.get $size) (local.get $ptr) (local.get $len)))
  (func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (if (i32.eqz (local.get $eos)) (then (return (i32.const 1))))
    (call $log_i32 (str "body_size") (local.get $size))
    (call $log_i32 (str "get") (call $get_buffer (i32.const 0) (i32.const 0) (local.get $size)))
    (call $log_ret (str "body"))
    (call $log_i32 (str "prepend") (call $set_body (i32.const 0) (i32.const 0) (str "[")))
    (call $log_i32 (str "append") (call $set_body (i32.const 1000) (i32.const 0) (str "]")))
    (call $log_i32 (str "middle") (call $set_body (i32.const 2) (i32.const 1) (str "?")))
    (call $log_i32 (str "partial_from_start") (call $set_body (i32.const 0) (i32.const 3) (str "?")))
    (drop (call $proxy_get_buffer_status (i32.const 0) (i32.const 24) (i32.const 28)))
    (call $log_i32 (str "status_size") (call $ret_u32))
    (i32.const 0))
  (func (export "proxy_on_response_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (call $log_i32 (str "replace")
      (call $proxy_set_buffer_bytes (i32.const 1) (i32.const 0) (local.get $size) (str "replaced")))
    (i32.const 0))
"#;

#[test]
fn body_edits_follow_envoys_prepend_replace_append_rules() {
    let mut host = guest::host(BODY_EDITS);
    let s = host.new_stream();
    host.request_headers(s, &[(":method", "POST"), (":path", "/")], false).unwrap();
    host.request_body(s, b"hello ", false).unwrap();
    assert!(host.stream(s).unwrap().upstream_request_body().is_empty(), "buffered while the module pauses");
    host.request_body(s, b"world", true).unwrap();

    assert_eq!(one(&host, "body_size"), "11", "the size is what Envoy buffered so far");
    assert_eq!(one(&host, "get"), "0");
    assert_eq!(one(&host, "body"), "hello world");
    assert_eq!(one(&host, "prepend"), "0", "start 0, size 0 prepends");
    assert_eq!(one(&host, "append"), "0", "a start at or past the end appends");
    let bad = Status::BadArgument.raw().to_string();
    assert_eq!(one(&host, "middle"), bad, "no edits in the middle");
    assert_eq!(one(&host, "partial_from_start"), bad, "start 0 must replace everything or nothing");
    assert_eq!(one(&host, "status_size"), "13");
    assert_eq!(host.stream(s).unwrap().upstream_request_body(), b"[hello world]");

    host.response_headers(s, &[(":status", "200")], false).unwrap();
    host.response_body(s, b"original", true).unwrap();
    assert_eq!(one(&host, "replace"), "0", "start 0 with a size covering the buffer replaces it");
    assert_eq!(host.stream(s).unwrap().downstream_response_body(), b"replaced");
}

#[test]
fn a_body_outside_its_callback_reads_as_empty_like_envoy() {
    // Envoy's `getBuffer(HttpRequestBody)` is never null (`buffer_.set(request_body_buffer_)`), so
    // outside the body callback cpp-host's `proxy_get_buffer_bytes` answers OK with nothing, and
    // `proxy_get_buffer_status` OK with size 0.
    let mut host = guest::host(
        r#"
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (call $log_i32 (str "get") (call $get_buffer (i32.const 0) (i32.const 0) (i32.const 100)))
    (call $log_i32 (str "size") (call $ret_size))
    (i32.const 0))
"#,
    );
    let s = host.new_stream();
    host.request_headers(s, &[(":path", "/")], false).unwrap();
    assert_eq!(one(&host, "get"), "0");
    assert_eq!(one(&host, "size"), "0");
}
