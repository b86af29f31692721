//! The WASI preview1 functions proxy-wasm modules import, answered as proxy-wasm-cpp-host does
//! (`src/exports.cc`), but deterministic: `fd_write` into the log, `random_get` from a seeded
//! generator, `clock_time_get` from the virtual clock, `environ_*` from the builder.

use std::time::Duration;

use host_harness::{DEFAULT_START_UNIX_NANOS, Host, LogLevel};

use crate::guest::{self, logged, one};

/// `$write (fd ptr len) -> errno`, with the iovec at 112 and the written count at 24.
const WRITE: &str = r#"
  (func $write (param $fd i32) (param $ptr i32) (param $len i32) (result i32)
    (i32.store (i32.const 112) (local.get $ptr))
    (i32.store (i32.const 116) (local.get $len))
    (call $fd_write (local.get $fd) (i32.const 112) (i32.const 1) (i32.const 24)))
"#;

#[test]
fn stdout_and_stderr_become_log_lines() {
    let host = guest::host(&format!(
        r#"{WRITE}
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (call $log_i32 (str "stdout") (call $write (i32.const 1) (str "to stdout\n")))
    (call $log_i32 (str "written") (call $ret_u32))
    (call $log_i32 (str "stderr") (call $write (i32.const 2) (str "to stderr\n")))
    (call $log_i32 (str "other_fd") (call $write (i32.const 3) (str "x\n")))
    (i32.const 1))
"#
    ));
    assert_eq!(one(&host, "stdout"), "0");
    assert_eq!(one(&host, "written"), "10");
    assert_eq!(one(&host, "stderr"), "0");
    assert_eq!(one(&host, "other_fd"), "8", "EBADF, as cpp-host answers");
    let line = |text: &str| host.logs().iter().find(|l| l.message == text).map(|l| (l.level, l.context_id));
    let root = host.root_contexts()[0];
    assert_eq!(line("to stdout"), Some((LogLevel::Info, root)));
    assert_eq!(line("to stderr"), Some((LogLevel::Error, root)));
}

#[test]
fn each_fd_write_is_one_log_entry_like_envoy() {
    // cpp-host `writevImpl` logs every write at once, dropping one trailing newline.
    let host = guest::host(&format!(
        r#"{WRITE}
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (drop (call $write (i32.const 1) (str "no newline")))
    (drop (call $write (i32.const 1) (str "two\nlines\n")))
    (i32.const 1))
"#
    ));
    let messages: Vec<&str> = host.logs().iter().map(|l| l.message.as_str()).collect();
    assert_eq!(messages, ["no newline", "two\nlines"]);
}

const RANDOM: &str = r#"
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (call $log_i32 (str "random_get") (call $random_get (i32.const 200) (i32.const 16)))
    (call $log_hex (str "random") (i32.const 200) (i32.const 16))
    (drop (call $random_get (i32.const 200) (i32.const 16)))
    (call $log_hex (str "random") (i32.const 200) (i32.const 16))
    (call $log_i32 (str "too_much") (call $random_get (i32.const 200) (i32.const 65537)))
    (i32.const 1))
"#;

#[test]
fn random_bytes_are_deterministic_per_seed() {
    let module = guest::module(RANDOM);
    let run = |seed: u64| {
        let host = Host::builder(&module).seed(seed).build().unwrap();
        assert_eq!(one(&host, "random_get"), "0");
        assert_eq!(one(&host, "too_much"), "28", "EINVAL above cpp-host's 64 KiB");
        logged(&host, "random")
    };
    let first = run(7);
    assert_eq!(first.len(), 2);
    assert_ne!(first[0], first[1], "the stream moves on");
    assert_ne!(first[0], "0".repeat(32));
    assert_eq!(run(7), first, "the same seed gives the same bytes");
    assert_ne!(run(8), first);
}

#[test]
fn clock_time_get_reads_the_virtual_clock() {
    let mut host = guest::host(
        r#"
  (func $clock (param $label i32) (param $len i32) (param $id i32)
    (local $errno i32)
    (local.set $errno (call $clock_time_get (local.get $id) (i64.const 1) (i32.const 32)))
    (if (i32.eqz (local.get $errno))
      (then (call $log_i64 (local.get $label) (local.get $len) (call $ret_u64)))
      (else (call $log_i32 (local.get $label) (local.get $len) (i32.sub (i32.const 0) (local.get $errno))))))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (call $clock (str "realtime") (i32.const 0))
    (call $clock (str "monotonic") (i32.const 1))
    (call $clock (str "cpu_time") (i32.const 2))
    (i32.const 0))
"#,
    );
    let sample = |host: &mut Host| {
        let s = host.new_stream();
        host.request_headers(s, &[(":path", "/")], true).unwrap();
    };
    sample(&mut host);
    host.advance(Duration::from_millis(250)).unwrap();
    sample(&mut host);
    let numbers = |label: &str| -> Vec<i64> { logged(&host, label).iter().map(|v| v.parse().unwrap()).collect() };
    let realtime = numbers("realtime");
    assert_eq!(realtime, [DEFAULT_START_UNIX_NANOS as i64, DEFAULT_START_UNIX_NANOS as i64 + 250_000_000]);
    let monotonic = numbers("monotonic");
    assert_eq!(monotonic[1] - monotonic[0], 250_000_000);
    assert_eq!(numbers("cpu_time"), [-58, -58], "ENOTSUP, as cpp-host answers for the CPU clocks");
}

#[test]
fn the_environment_comes_from_the_builder() {
    let module = guest::module(
        r#"
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (call $log_i32 (str "sizes") (call $environ_sizes_get (i32.const 24) (i32.const 28)))
    (call $log_i32 (str "count") (i32.load (i32.const 24)))
    (call $log_i32 (str "bytes") (i32.load (i32.const 28)))
    (call $log_i32 (str "get") (call $environ_get (i32.const 40) (i32.const 300)))
    (call $log_str (str "first") (i32.load (i32.const 40)) (i32.sub (i32.load (i32.const 28)) (i32.const 1)))
    (i32.const 1))
"#,
    );
    let host = Host::builder(&module).env("REGION", "eu").build().unwrap();
    assert_eq!(one(&host, "sizes"), "0");
    assert_eq!(one(&host, "count"), "1");
    assert_eq!(one(&host, "bytes"), "10", "REGION=eu and its NUL");
    assert_eq!(one(&host, "get"), "0");
    assert_eq!(one(&host, "first"), "REGION=eu");
}
