//! ABI section "gRPC calls": `proxy_grpc_call`, `proxy_grpc_stream`, `proxy_grpc_send`,
//! `proxy_grpc_cancel`, `proxy_grpc_close` recorded for the scenario, and answers delivered through
//! `proxy_on_grpc_receive` / `proxy_on_grpc_close`.

use host_harness::{Host, Status};

use crate::guest::{self, one};

const GRPC: &str = r#"
  (global $call (mut i32) (i32.const 0))
  (global $stream (mut i32) (i32.const 0))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (call $log_i32 (str "unknown_cluster")
      (call $proxy_grpc_call (str "nowhere") (str "pkg.Svc") (str "Check") (pairs) (str "req") (i32.const 250)
        (i32.const 24)))
    (call $log_i32 (str "call")
      (call $proxy_grpc_call (str "grpc_backend") (str "pkg.Svc") (str "Check") (pairs "x-md" "v") (str "req")
        (i32.const 250) (i32.const 24)))
    (global.set $call (call $ret_u32))
    (call $log_i32 (str "call_token") (global.get $call))
    (call $log_i32 (str "stream")
      (call $proxy_grpc_stream (str "grpc_backend") (str "pkg.Svc") (str "Watch") (pairs) (i32.const 24)))
    (global.set $stream (call $ret_u32))
    (call $log_i32 (str "stream_token") (global.get $stream))
    (call $log_i32 (str "send") (call $proxy_grpc_send (global.get $stream) (str "m1") (i32.const 0)))
    (call $log_i32 (str "send_on_call") (call $proxy_grpc_send (global.get $call) (str "x") (i32.const 0)))
    (call $log_i32 (str "send_unknown") (call $proxy_grpc_send (i32.const 100) (str "x") (i32.const 0)))
    (call $log_i32 (str "close_stream") (call $proxy_grpc_close (global.get $stream)))
    (call $log_i32 (str "cancel_unknown") (call $proxy_grpc_cancel (i32.const 99)))
    (i32.const 0))
  (func (export "proxy_on_grpc_receive") (param $ctx i32) (param $token i32) (param $size i32)
    (call $log_i32 (str "receive_token") (local.get $token))
    (drop (call $get_buffer (i32.const 5) (i32.const 0) (local.get $size)))
    (call $log_ret (str "message")))
  (func (export "proxy_on_grpc_close") (param $ctx i32) (param $token i32) (param $status i32)
    (call $log_i32 (str "close_status") (local.get $status))
    (drop (call $proxy_get_status (i32.const 24) (i32.const 16) (i32.const 20)))
    (call $log_i32 (str "get_status") (call $ret_u32)))
"#;

#[test]
fn grpc_calls_and_streams_are_recorded_with_envoys_tokens_and_statuses() {
    let mut host = Host::builder(&guest::module(GRPC)).clusters(["grpc_backend"]).build().unwrap();
    let s = host.new_stream();
    host.request_headers(s, &[(":path", "/")], true).unwrap();

    assert_eq!(one(&host, "unknown_cluster"), Status::ParseFailure.raw().to_string(), "Envoy's answer");
    assert_eq!(one(&host, "call"), "0");
    assert_eq!(one(&host, "stream"), "0");
    let call_token: u32 = one(&host, "call_token").parse().unwrap();
    let stream_token: u32 = one(&host, "stream_token").parse().unwrap();
    assert_eq!(call_token % 2, 1, "call tokens are odd");
    assert_eq!(stream_token % 2, 0, "stream tokens are even");
    assert_eq!(one(&host, "send"), "0");
    assert_eq!(one(&host, "send_on_call"), Status::BadArgument.raw().to_string());
    assert_eq!(one(&host, "send_unknown"), Status::NotFound.raw().to_string());
    assert_eq!(one(&host, "close_stream"), "0");
    assert_eq!(one(&host, "cancel_unknown"), Status::NotFound.raw().to_string());

    let calls = host.grpc_calls();
    assert_eq!(calls.len(), 2);
    let call = calls.iter().find(|c| c.token == call_token).unwrap();
    assert_eq!(call.upstream, b"grpc_backend");
    assert_eq!((call.service.as_str(), call.method.as_str()), ("pkg.Svc", "Check"));
    assert_eq!(call.initial_metadata, [("x-md".to_owned(), "v".to_owned())]);
    assert_eq!(call.messages, [b"req".to_vec()]);
    assert_eq!(call.timeout_ms, Some(250));
    assert!(!call.streaming);
    let stream = calls.iter().find(|c| c.token == stream_token).unwrap();
    assert_eq!(stream.method, "Watch");
    assert!(stream.streaming);
    assert_eq!(stream.messages, [b"m1".to_vec()]);
    assert!(stream.closed);
    assert!(!stream.cancelled);
}

#[test]
fn a_grpc_answer_is_delivered_with_its_message_and_status() {
    let mut host = Host::builder(&guest::module(GRPC)).build().unwrap();
    let s = host.new_stream();
    host.request_headers(s, &[(":path", "/")], true).unwrap();
    let token: u32 = one(&host, "call_token").parse().unwrap();
    host.grpc_respond(token, Some(b"resp"), 0).unwrap();
    assert_eq!(one(&host, "receive_token"), token.to_string());
    assert_eq!(one(&host, "message"), "resp");
    assert_eq!(one(&host, "close_status"), "0");
    assert_eq!(one(&host, "get_status"), "0");
    assert!(host.grpc_calls().iter().find(|c| c.token == token).unwrap().closed);
}
