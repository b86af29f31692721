//! ABI section "Contexts": `proxy_set_effective_context`, `proxy_done`, and which hostcalls a
//! module may make while it starts.

use std::time::Duration;

use host_harness::{LogLevel, Status};

use crate::guest::{self, one};

/// Pauses requests; the next tick answers the paused stream from the root context.
fn answer_on_tick() -> String {
    guest::on_tick_with_stream(
        10,
        1,
        r#"
    (call $log_i32 (str "unknown") (call $proxy_set_effective_context (i32.const 4242)))
    (call $log_i32 (str "effective") (call $proxy_set_effective_context (global.get $stream)))
    (drop (call $proxy_send_local_response (i32.const 429) (str "") (str "slow down") (pairs) (i32.const -1)))"#,
    )
}

#[test]
fn the_effective_context_directs_later_hostcalls() {
    let mut host = guest::host(&answer_on_tick());
    let s = host.new_stream();
    host.request_headers(s, &[(":path", "/")], true).unwrap();
    host.advance(Duration::from_millis(10)).unwrap();
    assert_eq!(one(&host, "unknown"), Status::BadArgument.raw().to_string(), "an unknown context id");
    assert_eq!(one(&host, "effective"), "0");
    let stream = host.stream(s).unwrap();
    assert_eq!(stream.local_reply().map(|r| r.status), Some(429), "the reply went to the stream");
    assert_eq!(stream.downstream_response_body(), b"slow down");
}

#[test]
fn a_finished_stream_is_no_longer_a_context() {
    // cpp-host forgets a context when Envoy destroys it after `proxy_on_delete`;
    // `proxy_set_effective_context` then answers BAD_ARGUMENT (`getContext` returns null).
    let mut host = guest::host(&guest::on_tick_with_stream(
        10,
        0,
        r#"
    (call $log_i32 (str "effective") (call $proxy_set_effective_context (global.get $stream)))"#,
    ));
    let s = host.new_stream();
    host.request_headers(s, &[(":path", "/")], true).unwrap();
    host.response_headers(s, &[(":status", "200")], true).unwrap();
    host.complete(s).unwrap();
    host.advance(Duration::from_millis(10)).unwrap();
    assert_eq!(one(&host, "effective"), Status::BadArgument.raw().to_string());
}

#[test]
fn proxy_done_is_not_found_when_nothing_waits_for_it() {
    let host = guest::host(
        r#"
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (call $log_i32 (str "done") (call $proxy_done))
    (i32.const 1))
"#,
    );
    assert_eq!(one(&host, "done"), Status::NotFound.raw().to_string());
}

#[test]
fn only_basic_hostcalls_work_while_the_module_starts() {
    let host = guest::host(
        r#"
  (global $during_start (mut i32) (i32.const -1))
  (func (export "_initialize")
    (global.set $during_start (call $proxy_set_tick_period_milliseconds (i32.const 10))))
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (call $log_i32 (str "tick_period_at_start") (global.get $during_start))
    (i32.const 1))
"#,
    );
    assert_eq!(one(&host, "tick_period_at_start"), Status::InternalFailure.raw().to_string());
    assert!(host.logs().iter().any(|l| l.level == LogLevel::Warn && l.message.contains("during module start")));
    assert_eq!(host.tick_period_ms(host.root_contexts()[0]), None);
}
