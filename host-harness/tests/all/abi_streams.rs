//! ABI section "Streams" and local responses: `proxy_continue_stream`, `proxy_close_stream`,
//! `proxy_send_local_response` (deferred "after VM call" actions in Envoy).

use std::time::Duration;

use host_harness::{Action, Status};

use crate::guest::{self, one};

/// Pauses every request; the next tick resumes it through the effective context.
fn resume_on_tick() -> String {
    guest::on_tick_with_stream(
        100,
        1,
        r#"
    (call $log_i32 (str "effective") (call $proxy_set_effective_context (global.get $stream)))
    (call $log_i32 (str "before_continue") (call $get_header (i32.const 0) (str ":path")))
    (call $log_i32 (str "continue") (call $proxy_continue_stream (i32.const 0)))
    (call $log_i32 (str "after_continue") (call $get_header (i32.const 0) (str ":path")))"#,
    )
}

#[test]
fn continue_stream_resumes_a_paused_request_after_the_callback() {
    let mut host = guest::host(&resume_on_tick());
    let s = host.new_stream();
    assert_eq!(host.request_headers(s, &[(":path", "/wait")], true).unwrap(), Action::Pause);
    assert!(host.stream(s).unwrap().request_paused());
    host.advance(Duration::from_millis(50)).unwrap();
    assert!(host.stream(s).unwrap().request_paused(), "nothing resumes it before the tick");

    host.advance(Duration::from_millis(50)).unwrap();
    assert_eq!(one(&host, "effective"), "0");
    assert_eq!(one(&host, "before_continue"), "0", "a paused request keeps its headers");
    assert_eq!(one(&host, "continue"), "0");
    assert_eq!(
        one(&host, "after_continue"),
        Status::BadArgument.raw().to_string(),
        "Envoy drops the request maps as soon as the module continues"
    );
    assert!(!host.stream(s).unwrap().request_paused());
    host.response_headers(s, &[(":status", "204")], true).unwrap();
    assert_eq!(host.stream(s).unwrap().status(), Some(204));
}

#[test]
fn continue_stream_answers_per_stream_type() {
    let mut host = guest::host(
        r#"
  (func (export "proxy_on_response_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (call $log_i32 (str "response") (call $proxy_continue_stream (i32.const 1)))
    (call $log_i32 (str "downstream") (call $proxy_continue_stream (i32.const 2)))
    (call $log_i32 (str "upstream") (call $proxy_continue_stream (i32.const 3)))
    (call $log_i32 (str "unknown") (call $proxy_continue_stream (i32.const 9)))
    (i32.const 0))
"#,
    );
    let s = host.new_stream();
    host.request_headers(s, &[(":path", "/")], true).unwrap();
    host.response_headers(s, &[(":status", "200")], true).unwrap();
    assert_eq!(one(&host, "response"), "0");
    assert_eq!(one(&host, "downstream"), "0");
    assert_eq!(one(&host, "upstream"), Status::Unimplemented.raw().to_string());
    assert_eq!(one(&host, "unknown"), Status::BadArgument.raw().to_string());
}

#[test]
fn close_stream_resets_the_stream() {
    let mut host = guest::host(
        r#"
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (call $log_i32 (str "unknown") (call $proxy_close_stream (i32.const 9)))
    (call $log_i32 (str "close") (call $proxy_close_stream (i32.const 0)))
    (i32.const 1))
"#,
    );
    let s = host.new_stream();
    host.request_headers(s, &[(":path", "/")], true).unwrap();
    assert_eq!(one(&host, "unknown"), Status::BadArgument.raw().to_string());
    assert_eq!(one(&host, "close"), "0");
    assert!(host.stream(s).unwrap().was_reset());
}

/// Denies every request with a local reply, and reports what its own response callback sees.
const DENY: &str = r#"
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (call $log_i32 (str "send")
      (call $proxy_send_local_response (i32.const 403) (str "access denied") (str "denied\n")
        (pairs "X-Reason" "policy" "Cache-Control" "no-store") (i32.const -1)))
    (i32.const 1))
  (func (export "proxy_on_response_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (drop (call $get_header (i32.const 2) (str ":status")))
    (call $log_ret (str "own_reply_status"))
    (drop (call $get_header (i32.const 2) (str "x-reason")))
    (call $log_ret (str "own_reply_reason"))
    (i32.const 0))
  (func (export "proxy_on_response_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (drop (call $get_buffer (i32.const 1) (i32.const 0) (local.get $size)))
    (call $log_ret (str "own_reply_body"))
    (i32.const 0))
"#;

#[test]
fn a_local_response_is_recorded_sent_downstream_and_seen_by_the_module() {
    let mut host = guest::host(DENY);
    let s = host.new_stream();
    host.request_headers(s, &[(":method", "GET"), (":path", "/admin")], true).unwrap();
    assert_eq!(one(&host, "send"), "0");

    let stream = host.stream(s).unwrap();
    let reply = stream.local_reply().unwrap();
    assert_eq!(reply.status, 403);
    assert_eq!(reply.details, "access_denied", "Envoy replaces spaces in details");
    assert_eq!(reply.body, b"denied\n");
    assert_eq!(
        reply.headers,
        [("x-reason".to_owned(), "policy".to_owned()), ("cache-control".to_owned(), "no-store".to_owned())],
        "header names are lowercased"
    );
    assert_eq!(reply.grpc_status, None, "-1 means no grpc-status");
    assert_eq!(stream.status(), Some(403));
    assert_eq!(stream.downstream_response_header("x-reason"), Some("policy"));
    assert_eq!(stream.downstream_response_body(), b"denied\n");

    assert_eq!(one(&host, "own_reply_status"), "403", "the reply goes through the module's encoder callbacks");
    assert_eq!(one(&host, "own_reply_reason"), "policy");
    assert_eq!(one(&host, "own_reply_body"), "denied\n");
}

#[test]
fn a_local_response_keeps_a_real_grpc_status() {
    let mut host = guest::host(
        r#"
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (drop (call $proxy_send_local_response (i32.const 200) (str "") (str "") (pairs) (i32.const 14)))
    (i32.const 1))
"#,
    );
    let s = host.new_stream();
    host.request_headers(s, &[(":path", "/pkg.Svc/Call"), ("content-type", "application/grpc")], true).unwrap();
    let reply = host.stream(s).unwrap().local_reply().unwrap().clone();
    assert_eq!((reply.status, reply.grpc_status), (200, Some(14)));
}

#[test]
fn a_body_the_module_buffered_goes_upstream_when_it_continues() {
    let body = r#"
  (global $stream (mut i32) (i32.const 0))
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (drop (call $proxy_set_tick_period_milliseconds (i32.const 100)))
    (i32.const 1))
  (func (export "proxy_on_request_body") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (global.set $stream (local.get $ctx))
    (i32.const 1))
  (func (export "proxy_on_tick") (param $root i32)
    (if (i32.eqz (global.get $stream)) (then (return)))
    (drop (call $proxy_set_effective_context (global.get $stream)))
    (drop (call $proxy_continue_stream (i32.const 0)))
    (global.set $stream (i32.const 0)))
"#;
    let mut host = guest::host(body);
    let s = host.new_stream();
    host.request_headers(s, &[(":method", "POST"), (":path", "/")], false).unwrap();
    assert_eq!(host.request_body(s, b"hello ", false).unwrap(), Action::Pause);
    assert_eq!(host.request_body(s, b"world", true).unwrap(), Action::Pause);
    assert_eq!(host.stream(s).unwrap().upstream_request_body(), b"", "held while the module buffers");
    host.advance(Duration::from_millis(100)).unwrap();
    let stream = host.stream(s).unwrap();
    assert!(!stream.request_paused());
    assert_eq!(stream.upstream_request_body(), b"hello world", "the whole buffer goes on with the stream");
}
