//! ABI section "HTTP calls": `proxy_http_call` validated as Envoy does (`Context::httpCall`), and
//! answers delivered through `proxy_on_http_call_response` with map 6/7 and buffer 4 readable.
//!
//! In Envoy the call belongs to the plugin's root context: cpp-host's `http_call` runs
//! `WASM_CONTEXT(raw_context)->root_context()->httpCall(...)`, so the answer arrives with the root
//! context id, and SDKs look up the caller by token and call `proxy_set_effective_context`
//! (proxy-wasm-go-sdk names the parameter `pluginContextID`).

use std::time::Duration;

use host_harness::{CallState, Host, HttpResponse, Responder, Status};

use crate::guest::{self, logged, one};

/// Dispatches to `backend` from the request headers (after trying invalid calls) and pauses;
/// the answer is logged, then the request resumes. `TIMEOUT` is replaced by the test.
const CALLER: &str = r#"
  (global $stream (mut i32) (i32.const 0))
  (func $dispatch (param $up i32) (param $upl i32) (param $h i32) (param $hl i32) (param $timeout i32) (result i32)
    (call $proxy_http_call (local.get $up) (local.get $upl) (local.get $h) (local.get $hl)
      (str "ping") (pairs "x-trailer" "t") (local.get $timeout) (i32.const 24)))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (global.set $stream (local.get $ctx))
    (call $log_i32 (str "unknown_cluster")
      (call $dispatch (str "nowhere") (pairs ":method" "GET" ":path" "/" ":authority" "a") (i32.const 1000)))
    (call $log_i32 (str "no_authority")
      (call $dispatch (str "backend") (pairs ":method" "GET" ":path" "/") (i32.const 1000)))
    (call $log_i32 (str "no_path")
      (call $dispatch (str "backend") (pairs ":method" "GET" ":authority" "a") (i32.const 1000)))
    (call $log_i32 (str "negative_timeout")
      (call $dispatch (str "backend") (pairs ":method" "GET" ":path" "/" ":authority" "a") (i32.const -1)))
    (call $log_i32 (str "dispatch")
      (call $dispatch (str "backend")
        (pairs ":method" "POST" ":path" "/check" ":authority" "auth.internal" "X-Caller" "wasm")
        (i32.const TIMEOUT)))
    (call $log_i32 (str "token") (call $ret_u32))
    (i32.const 1))
  (func (export "proxy_on_http_call_response")
      (param $ctx i32) (param $token i32) (param $headers i32) (param $body i32) (param $trailers i32)
    (call $log_i32 (str "cb_context") (local.get $ctx))
    (call $log_i32 (str "cb_token") (local.get $token))
    (call $log_i32 (str "cb_headers") (local.get $headers))
    (call $log_i32 (str "cb_body_size") (local.get $body))
    (call $log_i32 (str "cb_trailers") (local.get $trailers))
    (call $log_i32 (str "get_status_header") (call $get_header (i32.const 6) (str ":status")))
    (call $log_ret (str "status"))
    (drop (call $get_header (i32.const 6) (str "x-answer")))
    (call $log_ret (str "answer"))
    (drop (call $get_header (i32.const 7) (str "grpc-status")))
    (call $log_ret (str "trailer"))
    (call $log_i32 (str "get_body") (call $get_buffer (i32.const 4) (i32.const 0) (local.get $body)))
    (call $log_ret (str "body"))
    (drop (call $proxy_get_header_map_pairs (i32.const 6) (i32.const 16) (i32.const 20)))
    (call $log_i32 (str "pairs_size") (call $ret_size))
    (drop (call $proxy_get_status (i32.const 24) (i32.const 16) (i32.const 20)))
    (call $log_i32 (str "get_status_code") (call $ret_u32))
    (call $log_ret (str "get_status_message"))
    (call $log_i32 (str "effective") (call $proxy_set_effective_context (global.get $stream)))
    (call $log_i32 (str "resume") (call $proxy_continue_stream (i32.const 0))))
  (func (export "proxy_on_response_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (call $log_i32 (str "later_call_map") (call $get_header (i32.const 6) (str ":status")))
    (i32.const 0))
"#;

fn caller(timeout_ms: u32) -> String {
    CALLER.replace("TIMEOUT", &timeout_ms.to_string())
}

fn pong() -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![("x-answer".to_owned(), "42".to_owned())],
        body: b"pong".to_vec(),
        trailers: vec![("grpc-status".to_owned(), "0".to_owned())],
    }
}

fn host(timeout_ms: u32, responder: Responder) -> Host {
    Host::builder(&guest::module(&caller(timeout_ms)))
        .clusters(["backend"])
        .respond("backend", responder)
        .build()
        .unwrap()
}

const REQUEST: [(&str, &str); 3] = [(":method", "GET"), (":path", "/"), (":authority", "front")];

#[test]
fn invalid_calls_are_bad_arguments_and_valid_ones_are_recorded() {
    let mut host = host(5000, Responder::Manual);
    let s = host.new_stream();
    host.request_headers(s, &REQUEST, true).unwrap();
    let bad = Status::BadArgument.raw().to_string();
    assert_eq!(one(&host, "unknown_cluster"), bad, "a cluster the host does not know");
    assert_eq!(one(&host, "no_authority"), bad);
    assert_eq!(one(&host, "no_path"), bad);
    assert_eq!(one(&host, "negative_timeout"), bad);
    assert_eq!(one(&host, "dispatch"), "0");

    let calls = host.http_calls();
    assert_eq!(calls.len(), 1, "rejected calls are not recorded");
    let call = &calls[0];
    assert_eq!(one(&host, "token"), call.token.to_string());
    assert_ne!(call.token, 0);
    assert_eq!(call.upstream, "backend");
    assert!(call.headers.contains(&(":authority".to_owned(), "auth.internal".to_owned())));
    assert!(call.headers.contains(&("x-caller".to_owned(), "wasm".to_owned())), "names are lowercased");
    assert_eq!(call.body, b"ping");
    assert_eq!(call.trailers, [("x-trailer".to_owned(), "t".to_owned())]);
    assert_eq!(call.timeout_ms, 5000);
    assert_eq!(call.state, CallState::Pending);
    assert!(host.stream(s).unwrap().request_paused());
}

#[test]
fn the_answer_is_readable_through_map_6_and_buffer_4_during_the_callback() {
    let mut host = host(5000, Responder::Respond(pong()));
    let s = host.new_stream();
    host.request_headers(s, &REQUEST, true).unwrap();

    assert_eq!(one(&host, "cb_token"), host.http_calls()[0].token.to_string());
    assert_eq!(one(&host, "cb_headers"), "2", ":status and x-answer");
    assert_eq!(one(&host, "cb_body_size"), "4");
    assert_eq!(one(&host, "cb_trailers"), "1");
    assert_eq!(one(&host, "get_status_header"), "0");
    assert_eq!(one(&host, "status"), "200");
    assert_eq!(one(&host, "answer"), "42");
    assert_eq!(one(&host, "trailer"), "0");
    assert_eq!(one(&host, "get_body"), "0");
    assert_eq!(one(&host, "body"), "pong");
    assert_eq!(one(&host, "effective"), "0");
    assert_eq!(one(&host, "resume"), "0");
    assert_eq!(host.http_calls()[0].state, CallState::Answered(200));

    host.response_headers(s, &[(":status", "200")], true).unwrap();
    assert_eq!(one(&host, "later_call_map"), Status::BadArgument.raw().to_string(), "only during the callback");
}

#[test]
fn the_answer_arrives_on_the_plugins_root_context() {
    let mut host = host(5000, Responder::Respond(pong()));
    let root = host.root_contexts()[0];
    let s = host.new_stream();
    host.request_headers(s, &REQUEST, true).unwrap();
    assert_eq!(one(&host, "cb_context"), root.to_string(), "cpp-host dispatches the call on the root context");
}

#[test]
fn a_failed_call_has_no_headers_no_body_and_no_maps() {
    let mut host = host(5000, Responder::Fail);
    let s = host.new_stream();
    host.request_headers(s, &REQUEST, true).unwrap();
    assert_eq!(one(&host, "cb_headers"), "0");
    assert_eq!(one(&host, "cb_body_size"), "0");
    assert_eq!(one(&host, "cb_trailers"), "0");
    assert_eq!(one(&host, "get_status_header"), Status::BadArgument.raw().to_string());
    assert_eq!(one(&host, "get_body"), Status::NotFound.raw().to_string());
    assert_eq!(one(&host, "pairs_size"), "0");
    assert_eq!(host.http_calls()[0].state, CallState::Failed);
    assert_eq!(one(&host, "resume"), "0");
}

#[test]
fn a_request_resumed_by_an_immediate_answer_stays_resumed() {
    // In Envoy the answer always comes after `decodeHeaders` returned StopIteration, so the
    // module's `continue_stream` in `on_http_call_response` resumes the request. A responder
    // answering right after the dispatching callback must not leave the request paused.
    for responder in [Responder::Respond(pong()), Responder::Fail] {
        let mut host = host(5000, responder);
        let s = host.new_stream();
        host.request_headers(s, &REQUEST, true).unwrap();
        assert_eq!(one(&host, "resume"), "0");
        assert!(!host.stream(s).unwrap().request_paused(), "the module resumed the request");
    }
}

#[test]
fn a_failed_call_reports_a_broken_connection_through_get_status() {
    // Envoy `Context::onHttpCallFailure`: status_code_ = BrokenConnection (11), message "reset".
    let mut host = host(5000, Responder::Fail);
    let s = host.new_stream();
    host.request_headers(s, &REQUEST, true).unwrap();
    assert_eq!(one(&host, "get_status_code"), "11");
    assert_eq!(one(&host, "get_status_message"), "reset");
}

#[test]
fn a_call_times_out_on_the_virtual_clock() {
    let mut host = host(500, Responder::Manual);
    let s = host.new_stream();
    host.request_headers(s, &REQUEST, true).unwrap();
    host.advance(Duration::from_millis(499)).unwrap();
    assert!(logged(&host, "cb_token").is_empty());
    assert_eq!(host.http_calls()[0].state, CallState::Pending);
    host.advance(Duration::from_millis(1)).unwrap();
    assert_eq!(logged(&host, "cb_token").len(), 1);
    assert_eq!(host.http_calls()[0].state, CallState::TimedOut);
    assert!(!host.stream(s).unwrap().request_paused());
}

#[test]
fn a_timed_out_call_is_answered_with_envoys_504() {
    // Envoy's async client runs the router filter, whose timeout sends a local reply: 504 with
    // the body "upstream request timeout", delivered through `onSuccess`.
    let mut host = host(500, Responder::Manual);
    let s = host.new_stream();
    host.request_headers(s, &REQUEST, true).unwrap();
    host.advance(Duration::from_millis(500)).unwrap();
    assert_ne!(one(&host, "cb_headers"), "0");
    assert_eq!(one(&host, "status"), "504");
    assert_eq!(one(&host, "body"), "upstream request timeout");
}

#[test]
fn a_zero_timeout_never_expires() {
    let mut host = host(0, Responder::Manual);
    let s = host.new_stream();
    host.request_headers(s, &REQUEST, true).unwrap();
    host.advance(Duration::from_secs(3600)).unwrap();
    assert!(logged(&host, "cb_token").is_empty());
    assert_eq!(host.http_calls()[0].state, CallState::Pending);
    let token = host.http_calls()[0].token;
    host.respond(token, pong()).unwrap();
    assert_eq!(one(&host, "body"), "pong");
}

#[test]
fn a_call_outlives_the_stream_that_made_it() {
    // The call belongs to the root context, which Envoy does not destroy with the stream; the
    // answer still arrives (proxy-wasm-go-sdk: "proxy_on_http_call_response is called AFTER
    // ProxyOnDelete is called for the context id").
    let mut host = host(5000, Responder::Manual);
    let root = host.root_contexts()[0];
    let s = host.new_stream();
    host.request_headers(s, &REQUEST, true).unwrap();
    host.complete(s).unwrap();
    let token = host.http_calls()[0].token;
    host.respond(token, pong()).unwrap();
    assert_eq!(one(&host, "cb_context"), root.to_string());
    assert_eq!(one(&host, "body"), "pong");
    assert_eq!(host.http_calls()[0].state, CallState::Answered(200));
}
