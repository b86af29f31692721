//! Traps and limits: a trapped VM refuses further calls as a failed Envoy VM does; hostcalls from
//! inside the guest allocator are refused (cpp-host `security_test.cc` MallocWithHostcall); fuel
//! bounds each callback's CPU, a time limit its wall-clock time; the memory limit bounds growth.

use std::time::Duration;

use host_harness::{CompileOptions, Error, Host, LogLevel};

use crate::guest::{self, Parts, one};

const PANICS: &str = r#"
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (drop (call $proxy_log (i32.const 5) (str "panicked at src/lib.rs:7:9: boom")))
    unreachable)
"#;

#[test]
fn a_trap_fails_the_vm_and_names_the_callback_and_the_panic() {
    let mut host = guest::host(PANICS);
    let s = host.new_stream();
    let error = host.request_headers(s, &[(":path", "/")], true).unwrap_err();
    let Error::Trap { callback, message, panic, .. } = &error else { panic!("not a trap: {error:?}") };
    assert_eq!(callback, "proxy_on_request_headers");
    assert!(message.contains("unreachable"), "{message}");
    assert_eq!(panic.as_deref(), Some("panicked at src/lib.rs:7:9: boom"));
    assert!(host.has_failed());

    let next = host.new_stream();
    assert_eq!(host.request_headers(next, &[(":path", "/")], true), Err(Error::VmFailed));
    assert_eq!(host.complete(next), Err(Error::VmFailed));
}

#[test]
fn a_hostcall_from_the_allocator_traps() {
    let parts = Parts { allocator_prologue: "(drop (call $proxy_get_log_level (i32.const 24)))", ..Parts::default() };
    let text = guest::wat_with(
        parts,
        r#"
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (drop (call $get_buffer (i32.const 6) (i32.const 0) (local.get $size)))
    (i32.const 1))
"#,
    );
    let module = guest::compile(&text, CompileOptions::default()).unwrap();
    let error = Host::builder(&module).vm_config("configuration").build().unwrap_err();
    let Error::Trap { callback, message, .. } = &error else { panic!("not a trap: {error:?}") };
    assert_eq!(callback, "proxy_on_vm_start", "the callback whose hostcall needed the allocator");
    assert!(message.contains("proxy_get_log_level"), "the trap names the refused hostcall: {message}");
}

#[test]
fn logging_from_the_allocator_is_allowed() {
    let parts =
        Parts { allocator_prologue: "(drop (call $proxy_log (i32.const 1) (str \"allocating\")))", ..Parts::default() };
    let text = guest::wat_with(
        parts,
        r#"
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (drop (call $get_buffer (i32.const 6) (i32.const 0) (local.get $size)))
    (call $log_ret (str "config"))
    (i32.const 1))
"#,
    );
    let module = guest::compile(&text, CompileOptions::default()).unwrap();
    let host = Host::builder(&module).vm_config("configuration").build().unwrap();
    assert_eq!(one(&host, "config"), "configuration");
    assert!(host.logs().iter().any(|l| l.level == LogLevel::Debug && l.message == "allocating"));
}

/// Loops forever when the request has exactly one header; otherwise does a little work.
const SPINS: &str = r#"
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (local $i i32)
    (if (i32.eq (local.get $n) (i32.const 1)) (then (loop $forever (br $forever))))
    (loop $work
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $work (i32.lt_u (local.get $i) (i32.const 10000))))
    (call $log (str "done"))
    (i32.const 0))
"#;

#[test]
fn fuel_stops_an_infinite_loop_and_refills_for_every_callback() {
    let module = guest::compile(&guest::wat(SPINS), CompileOptions { fuel: true, ..Default::default() }).unwrap();
    let mut host = Host::builder(&module).fuel_per_call(1_000_000).build().unwrap();
    for _ in 0..20 {
        let s = host.new_stream();
        host.request_headers(s, &[(":path", "/"), (":method", "GET")], true).unwrap();
    }
    assert_eq!(host.logs().iter().filter(|l| l.message == "done").count(), 20, "each call gets fresh fuel");

    let s = host.new_stream();
    let error = host.request_headers(s, &[(":path", "/")], true).unwrap_err();
    let Error::Trap { callback, message, .. } = &error else { panic!("not a trap: {error:?}") };
    assert_eq!(callback, "proxy_on_request_headers");
    assert!(message.contains("fuel"), "{message}");
    assert!(host.has_failed());
}

/// A runaway guest fails the call that loops, naming the callback, instead of hanging the run.
#[test]
fn a_time_limit_stops_an_endless_loop_and_names_the_callback() {
    let module = guest::compile(&guest::wat(SPINS), CompileOptions { deadline: true, ..Default::default() }).unwrap();
    let mut host = Host::builder(&module).time_per_call(Duration::from_millis(50)).build().unwrap();
    let s = host.new_stream();
    host.request_headers(s, &[(":path", "/"), (":method", "GET")], true).unwrap();
    assert_eq!(host.logs().iter().filter(|l| l.message == "done").count(), 1, "work within the limit runs");

    let s = host.new_stream();
    let error = host.request_headers(s, &[(":path", "/")], true).unwrap_err();
    let Error::Trap { callback, message, .. } = &error else { panic!("not a trap: {error:?}") };
    assert_eq!(callback, "proxy_on_request_headers");
    assert_eq!(message, "ran longer than the limit of 50 ms per callback (an endless loop?)");
    assert!(host.has_failed());
}

#[test]
fn a_time_limit_needs_a_module_compiled_for_it() {
    let error = Host::builder(&guest::module(SPINS)).time_per_call(Duration::from_secs(1)).build().unwrap_err();
    assert!(matches!(error, Error::Usage(_)), "{error:?}");
}

#[test]
fn fuel_needs_a_module_compiled_for_it() {
    let error = Host::builder(&guest::module(SPINS)).fuel_per_call(1000).build().unwrap_err();
    assert!(matches!(error, Error::Usage(_)), "{error:?}");
}

#[test]
fn the_memory_limit_bounds_growth() {
    let module = guest::module(
        r#"
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (call $log_i32 (str "grow_10") (memory.grow (i32.const 10)))
    (call $log_i32 (str "grow_1") (memory.grow (i32.const 1)))
    (i32.const 0))
"#,
    );
    let mut host = Host::builder(&module).memory_limit(3 * 65536).build().unwrap();
    let s = host.new_stream();
    host.request_headers(s, &[(":path", "/")], true).unwrap();
    assert_eq!(one(&host, "grow_10"), "-1", "growing past the limit fails");
    assert_eq!(one(&host, "grow_1"), "2", "growing within it works (the old size in pages)");
    assert_eq!(host.memory_bytes(), 3 * 65536);

    let error = Host::builder(&module).memory_limit(65536).build().unwrap_err();
    assert!(matches!(error, Error::Compile(_)), "a module needing more than the limit cannot start: {error:?}");
}
