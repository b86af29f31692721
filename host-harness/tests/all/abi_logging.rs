//! ABI section "Logging": `proxy_log`, `proxy_get_log_level`.

use host_harness::{Host, LogLevel, Status};

use crate::guest::{self, one};

/// Logs one line per level from `on_vm_start`, and the level the host reports.
const LEVELS: &str = r#"
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (drop (call $proxy_log (i32.const 0) (str "at trace")))
    (drop (call $proxy_log (i32.const 1) (str "at debug")))
    (drop (call $proxy_log (i32.const 3) (str "at warn")))
    (drop (call $proxy_log (i32.const 4) (str "at error")))
    (drop (call $proxy_log (i32.const 5) (str "at critical")))
    (call $log_i32 (str "get_log_level") (call $proxy_get_log_level (i32.const 24)))
    (call $log_i32 (str "level") (call $ret_u32))
    (i32.const 1))
"#;

#[test]
fn every_level_is_recorded_with_its_context() {
    let host = guest::host(LEVELS);
    let root = host.root_contexts()[0];
    let lines: Vec<(LogLevel, u32, &str)> =
        host.logs().iter().take(5).map(|l| (l.level, l.context_id, l.message.as_str())).collect();
    assert_eq!(
        lines,
        [
            (LogLevel::Trace, root, "at trace"),
            (LogLevel::Debug, root, "at debug"),
            (LogLevel::Warn, root, "at warn"),
            (LogLevel::Error, root, "at error"),
            (LogLevel::Critical, root, "at critical"),
        ]
    );
}

#[test]
fn get_log_level_reports_the_configured_level() {
    let host = guest::host(LEVELS);
    assert_eq!(one(&host, "get_log_level"), "0");
    assert_eq!(one(&host, "level"), (LogLevel::Info as u32).to_string(), "the default is info");

    let host = Host::builder(&guest::module(LEVELS)).log_level(LogLevel::Debug).build().unwrap();
    assert_eq!(one(&host, "level"), (LogLevel::Debug as u32).to_string());
}

#[test]
fn a_stream_logs_under_its_own_context_id() {
    let mut host = guest::host(
        r#"
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (call $log (str "from the stream"))
    (i32.const 0))
"#,
    );
    let s = host.new_stream();
    host.request_headers(s, &[(":path", "/")], true).unwrap();
    let line = host.logs().iter().find(|l| l.message == "from the stream").unwrap();
    assert_eq!(line.context_id, s.0);
    assert_eq!(line.level, LogLevel::Info);
}

#[test]
fn logging_is_allowed_while_the_module_starts() {
    let host = guest::host(
        r#"
  (func (export "_initialize")
    (drop (call $proxy_log (i32.const 2) (str "initializing")))
    (drop (call $proxy_get_log_level (i32.const 24))))
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (call $log_i32 (str "level_seen_at_start") (call $ret_u32))
    (i32.const 1))
"#,
    );
    let line = host.logs().iter().find(|l| l.message == "initializing").unwrap();
    assert_eq!(line.context_id, 0, "no context exists yet");
    assert_eq!(one(&host, "level_seen_at_start"), "2", "proxy_get_log_level works during start-up");
}

#[test]
fn a_message_outside_memory_is_an_invalid_memory_access() {
    let host = guest::host(
        r#"
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (call $log_i32 (str "status")
      (call $proxy_log (i32.const 2) (i32.const 0x7fffff00) (i32.const 16)))
    (i32.const 1))
"#,
    );
    assert_eq!(one(&host, "status"), Status::InvalidMemoryAccess.raw().to_string());
}
