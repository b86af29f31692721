//! ABI section "HTTP fields": header and trailer maps, with Envoy's rules for names, multiple
//! values, and which map each callback may see (`getMap`/`getConstMap` in envoy
//! `source/extensions/common/wasm/context.cc`).

use host_harness::Status;

use crate::guest::{self, logged, one};

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

fn pairs(hex: &str) -> Vec<(String, String)> {
    host_harness::pairs::decode_text(&unhex(hex)).unwrap()
}

const BAD: Status = Status::BadArgument;

const EDITS: &str = r#"
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (call $log_i32 (str "num_headers") (local.get $n))
    (call $log_i32 (str "pairs_status") (call $proxy_get_header_map_pairs (i32.const 0) (i32.const 16) (i32.const 20)))
    (call $log_hex (str "pairs") (call $ret_ptr) (call $ret_size))
    (call $log_i32 (str "get_mixed_case") (call $get_header (i32.const 0) (str "X-Custom")))
    (call $log_ret (str "x-custom"))
    (drop (call $get_header (i32.const 0) (str "accept")))
    (call $log_ret (str "accept"))
    (call $log_i32 (str "get_missing") (call $get_header (i32.const 0) (str "x-missing")))
    (call $log_i32 (str "add") (call $proxy_add_header_map_value (i32.const 0) (str "X-Added") (str "one")))
    (call $log_i32 (str "replace_multi") (call $proxy_replace_header_map_value (i32.const 0) (str "Accept") (str "only")))
    (call $log_i32 (str "replace_absent") (call $proxy_replace_header_map_value (i32.const 0) (str "x-new") (str "new")))
    (call $log_i32 (str "remove") (call $proxy_remove_header_map_value (i32.const 0) (str "X-Remove-Me")))
    (call $log_i32 (str "remove_absent") (call $proxy_remove_header_map_value (i32.const 0) (str "x-never")))
    (call $log_i32 (str "size_status") (call $proxy_get_header_map_size (i32.const 0) (i32.const 24)))
    (call $log_i32 (str "size") (call $ret_u32))
    (call $log_i32 (str "unknown_map") (call $get_header (i32.const 8) (str "x")))
    (call $log_i32 (str "call_response_map") (call $get_header (i32.const 6) (str ":status")))
    (i32.const 0))
"#;

#[test]
fn header_maps_read_and_change_with_envoys_rules() {
    let mut host = guest::host(EDITS);
    let s = host.new_stream();
    let request = [
        (":method", "GET"),
        (":path", "/a"),
        ("X-Custom", "c"),
        ("accept", "text/html"),
        ("accept", "application/json"),
        ("x-remove-me", "gone"),
    ];
    host.request_headers(s, &request, true).unwrap();

    assert_eq!(one(&host, "num_headers"), "6");
    assert_eq!(one(&host, "pairs_status"), "0");
    let expected: Vec<(String, String)> =
        request.iter().map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned())).collect();
    assert_eq!(pairs(&one(&host, "pairs")), expected, "names arrive lowercased, in order");
    assert_eq!(one(&host, "get_mixed_case"), "0", "lookups ignore case");
    assert_eq!(one(&host, "x-custom"), "c");
    assert_eq!(one(&host, "accept"), "text/html", "a multi-valued header reads as its first value");
    assert_eq!(one(&host, "get_missing"), Status::NotFound.raw().to_string());
    for edit in ["add", "replace_multi", "replace_absent", "remove", "remove_absent"] {
        assert_eq!(one(&host, edit), "0", "{edit}");
    }
    assert_eq!(one(&host, "unknown_map"), BAD.raw().to_string());
    assert_eq!(one(&host, "call_response_map"), BAD.raw().to_string(), "no call response is being delivered");

    let sent = host.stream(s).unwrap().upstream_request_headers().to_vec();
    let sent: Vec<(&str, &str)> = sent.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        sent,
        [
            (":method", "GET"),
            (":path", "/a"),
            ("x-custom", "c"),
            ("x-added", "one"),
            ("accept", "only"),
            ("x-new", "new"),
        ],
        "added names are lowercased; replace removes every entry and adds one at the end (Envoy's setCopy)"
    );
    let bytes: usize = sent.iter().map(|(k, v)| k.len() + v.len()).sum();
    assert_eq!(one(&host, "size_status"), "0");
    assert_eq!(one(&host, "size"), bytes.to_string(), "the size is Envoy's byteSize: names plus values");
}

#[test]
fn set_pairs_replaces_the_whole_map_with_lowercased_names() {
    let mut host = guest::host(
        r#"
  (func (export "proxy_on_response_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (call $log_i32 (str "set")
      (call $proxy_set_header_map_pairs (i32.const 2) (pairs ":status" "201" "X-Server" "wasm" "x-server" "again")))
    (i32.const 0))
"#,
    );
    let s = host.new_stream();
    host.request_headers(s, &[(":path", "/")], true).unwrap();
    host.response_headers(s, &[(":status", "200"), ("server", "envoy")], true).unwrap();
    assert_eq!(one(&host, "set"), "0");
    assert_eq!(
        host.stream(s).unwrap().downstream_response_headers(),
        [
            (":status".to_owned(), "201".to_owned()),
            ("x-server".to_owned(), "wasm".to_owned()),
            ("x-server".to_owned(), "again".to_owned())
        ]
    );
}

/// Continues the request headers, then probes the request map from later phases.
const PHASES: &str = r#"
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (i32.const 0))
  (func (export "proxy_on_response_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (call $log_i32 (str "resp_get_request") (call $get_header (i32.const 0) (str ":path")))
    (call $log_i32 (str "resp_pairs_request")
      (call $proxy_get_header_map_pairs (i32.const 0) (i32.const 16) (i32.const 20)))
    (call $log_i32 (str "resp_pairs_request_size") (call $ret_size))
    (call $log_i32 (str "resp_add_request") (call $proxy_add_header_map_value (i32.const 0) (str "x") (str "y")))
    (call $log_i32 (str "resp_get_response") (call $get_header (i32.const 2) (str ":status")))
    (call $log_ret (str "resp_status"))
    (i32.const 0))
  (func (export "proxy_on_log") (param $ctx i32)
    (call $log_i32 (str "log_get_request") (call $get_header (i32.const 0) (str ":path")))
    (call $log_ret (str "log_path"))
    (call $log_i32 (str "log_get_response") (call $get_header (i32.const 2) (str ":status")))
    (call $log_ret (str "log_status"))
    (call $log_i32 (str "log_request_trailers") (call $get_header (i32.const 1) (str "x")))
    (call $log_i32 (str "log_response_trailers") (call $get_header (i32.const 3) (str "x")))
    (call $log_i32 (str "log_add_response")
      (call $proxy_add_header_map_value (i32.const 2) (str "x") (str "y"))))
"#;

#[test]
fn request_headers_are_gone_after_continue_and_back_for_the_access_log() {
    let mut host = guest::host(PHASES);
    let s = host.new_stream();
    host.request_headers(s, &[(":method", "GET"), (":path", "/p"), (":authority", "a")], true).unwrap();
    host.response_headers(s, &[(":status", "200")], true).unwrap();

    assert_eq!(one(&host, "resp_get_request"), BAD.raw().to_string(), "Envoy dropped the request map on Continue");
    assert_eq!(one(&host, "resp_pairs_request"), "0", "pairs of a missing map are an empty list");
    assert_eq!(one(&host, "resp_pairs_request_size"), "0", "cpp-host returns an empty map as size 0");
    assert_eq!(one(&host, "resp_add_request"), BAD.raw().to_string());
    assert_eq!(one(&host, "resp_get_response"), "0");
    assert_eq!(one(&host, "resp_status"), "200");

    host.complete(s).unwrap();
    assert_eq!(one(&host, "log_get_request"), "0", "on_log sees the logged request headers");
    assert_eq!(one(&host, "log_path"), "/p");
    assert_eq!(one(&host, "log_get_response"), "0");
    assert_eq!(one(&host, "log_status"), "200");
    let not_found = Status::NotFound.raw().to_string();
    assert_eq!(one(&host, "log_request_trailers"), not_found, "missing maps are NOT_FOUND in the access log");
    assert_eq!(one(&host, "log_response_trailers"), not_found);
    assert_eq!(one(&host, "log_add_response"), BAD.raw().to_string(), "the access log is read-only");
}

#[test]
fn a_paused_request_keeps_its_headers_readable() {
    let mut host = guest::host(&guest::on_tick_with_stream(
        10,
        1,
        r#"
    (drop (call $proxy_set_effective_context (global.get $stream)))
    (call $log_i32 (str "tick_get") (call $get_header (i32.const 0) (str ":path")))
    (call $log_ret (str "tick_path"))
    (call $log_i32 (str "tick_add") (call $proxy_add_header_map_value (i32.const 0) (str "x-late") (str "1")))
    (drop (call $proxy_continue_stream (i32.const 0)))"#,
    ));
    let s = host.new_stream();
    host.request_headers(s, &[(":path", "/held")], true).unwrap();
    host.advance(std::time::Duration::from_millis(10)).unwrap();
    assert_eq!(one(&host, "tick_get"), "0");
    assert_eq!(one(&host, "tick_path"), "/held");
    assert_eq!(one(&host, "tick_add"), "0", "a paused request can still be changed");
    let stream = host.stream(s).unwrap();
    assert!(!stream.request_paused());
    assert_eq!(stream.upstream_request_header("x-late"), Some("1"));
}

#[test]
fn trailers_can_be_added_from_the_last_body_callback() {
    let mut host = guest::host(
        r#"
  (func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (call $log_i32 (str "request_trailer")
      (call $proxy_add_header_map_value (i32.const 1) (str "X-Checksum") (str "abc")))
    (i32.const 0))
  (func (export "proxy_on_response_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (call $log_i32 (str "response_trailer")
      (call $proxy_add_header_map_value (i32.const 3) (str "grpc-status") (str "0")))
    (i32.const 0))
"#,
    );
    let s = host.new_stream();
    host.request_headers(s, &[(":method", "POST"), (":path", "/")], false).unwrap();
    host.request_body(s, b"not the end", false).unwrap();
    host.request_body(s, b"the end", true).unwrap();
    assert_eq!(logged(&host, "request_trailer"), [BAD.raw().to_string(), "0".to_owned()], "only at end of stream");
    host.response_headers(s, &[(":status", "200")], false).unwrap();
    host.response_body(s, b"done", true).unwrap();
    assert_eq!(one(&host, "response_trailer"), "0");

    let stream = host.stream(s).unwrap();
    assert_eq!(stream.upstream_request_trailers(), Some(&[("x-checksum".to_owned(), "abc".to_owned())][..]));
    assert_eq!(stream.downstream_response_trailers(), Some(&[("grpc-status".to_owned(), "0".to_owned())][..]));
}
