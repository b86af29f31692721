//! ABI section "Foreign function interface": `proxy_call_foreign_function` into host functions the
//! scenario registers, and `proxy_on_foreign_function` from the host into the module.

use host_harness::{Host, Status};

use crate::guest::{self, one};

const CALLER: &str = r#"
  (func $call (param $name i32) (param $len i32) (param $args i32) (param $args_len i32) (result i32)
    (i32.store (i32.const 16) (i32.const 0))
    (i32.store (i32.const 20) (i32.const 0))
    (call $proxy_call_foreign_function (local.get $name) (local.get $len) (local.get $args) (local.get $args_len)
      (i32.const 16) (i32.const 20)))
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (call $log_i32 (str "reverse") (call $call (str "reverse") (str "abc")))
    (call $log_ret (str "reversed"))
    (call $log_i32 (str "failing") (call $call (str "failing") (str "x")))
    (call $log_i32 (str "unknown") (call $call (str "no_such_function") (str "")))
    (i32.const 1))
  (func (export "proxy_on_foreign_function") (param $root i32) (param $function i32) (param $size i32)
    (call $log_i32 (str "function_id") (local.get $function))
    (call $log_i32 (str "args_size") (local.get $size))
    (drop (call $get_buffer (i32.const 8) (i32.const 0) (local.get $size)))
    (call $log_ret (str "args")))
"#;

fn host() -> Host {
    Host::builder(&guest::module(CALLER))
        .foreign_function("reverse", |args| Ok(args.iter().rev().copied().collect()))
        .foreign_function("failing", |_| Err(Status::SerializationFailure))
        .build()
        .unwrap()
}

#[test]
fn the_module_calls_host_functions_by_name() {
    let host = host();
    assert_eq!(one(&host, "reverse"), "0");
    assert_eq!(one(&host, "reversed"), "cba");
    assert_eq!(one(&host, "failing"), Status::SerializationFailure.raw().to_string(), "the function's status");
    assert_eq!(one(&host, "unknown"), Status::NotFound.raw().to_string());
}

#[test]
fn the_host_calls_the_module_with_arguments_in_buffer_8() {
    let mut host = host();
    let root = host.root_contexts()[0];
    host.call_foreign_function(root, 7, b"payload").unwrap();
    assert_eq!(one(&host, "function_id"), "7");
    assert_eq!(one(&host, "args_size"), "7");
    assert_eq!(one(&host, "args"), "payload");
}
