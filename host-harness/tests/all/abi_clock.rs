//! ABI sections "Clocks" and "Timers": `proxy_get_current_time_nanoseconds`,
//! `proxy_set_tick_period_milliseconds`, ticks on the virtual clock.

use std::time::Duration;

use host_harness::{DEFAULT_START_UNIX_NANOS, Host, TICKS_ON_SCHEDULE};

use crate::guest::{self, logged, one};

const NOW: &str = r#"
  (func $now (result i64)
    (drop (call $proxy_get_current_time_nanoseconds (i32.const 32)))
    (call $ret_u64))
"#;

#[test]
fn the_clock_is_virtual_and_starts_where_the_builder_says() {
    let body = format!(
        r#"{NOW}
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (call $log_i64 (str "start") (call $now))
    (i32.const 1))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (call $log_i64 (str "request") (call $now))
    (i32.const 0))
"#
    );
    let module = guest::module(&body);
    let mut host = Host::builder(&module).build().unwrap();
    assert_eq!(one(&host, "start"), DEFAULT_START_UNIX_NANOS.to_string());
    host.advance(Duration::from_millis(1500)).unwrap();
    let s = host.new_stream();
    host.request_headers(s, &[(":path", "/")], true).unwrap();
    assert_eq!(one(&host, "request"), (DEFAULT_START_UNIX_NANOS + 1_500_000_000).to_string());

    let host = Host::builder(&module).start_time_unix_nanos(42_000_000_000).build().unwrap();
    assert_eq!(one(&host, "start"), "42000000000");
    assert_eq!(host.now_unix_nanos(), 42_000_000_000);
}

/// Asks for a tick every 100 ms; each tick logs the time; the third tick turns the timer off.
const TICKS: &str = r#"
  (global $ticks (mut i32) (i32.const 0))
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (call $log_i32 (str "set_tick_period") (call $proxy_set_tick_period_milliseconds (i32.const 100)))
    (i32.const 1))
  (func (export "proxy_on_tick") (param $root i32)
    (global.set $ticks (i32.add (global.get $ticks) (i32.const 1)))
    (call $log_i32 (str "tick_root") (local.get $root))
    (drop (call $proxy_get_current_time_nanoseconds (i32.const 32)))
    (call $log_i64 (str "tick_at") (call $ret_u64))
    (if (i32.eq (global.get $ticks) (i32.const 3))
      (then (drop (call $proxy_set_tick_period_milliseconds (i32.const 0))))))
"#;

#[test]
fn ticks_fire_on_the_virtual_clock_until_the_period_is_zero() {
    let mut host = guest::host(TICKS);
    let root = host.root_contexts()[0];
    assert_eq!(one(&host, "set_tick_period"), "0");
    assert_eq!(host.tick_period_ms(root), Some(100));

    host.advance(Duration::from_millis(99)).unwrap();
    assert!(logged(&host, "tick_at").is_empty(), "no tick before the first period");
    host.advance(Duration::from_millis(251)).unwrap();
    let at = |ms: u64| (DEFAULT_START_UNIX_NANOS + ms * 1_000_000).to_string();
    assert_eq!(logged(&host, "tick_at"), [at(100), at(200), at(300)]);
    assert_eq!(logged(&host, "tick_root"), [root.to_string(), root.to_string(), root.to_string()]);

    assert_eq!(host.tick_period_ms(root), None, "period 0 disables the timer");
    host.advance(Duration::from_secs(10)).unwrap();
    assert_eq!(logged(&host, "tick_at").len(), 3);
}

#[test]
fn a_stream_sets_the_tick_period_of_its_plugin() {
    let mut host = guest::host(
        r#"
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (call $log_i32 (str "set_tick_period") (call $proxy_set_tick_period_milliseconds (i32.const 50)))
    (i32.const 0))
  (func (export "proxy_on_tick") (param $root i32)
    (call $log_i32 (str "tick_root") (local.get $root)))
"#,
    );
    let root = host.root_contexts()[0];
    let s = host.new_stream();
    host.request_headers(s, &[(":path", "/")], true).unwrap();
    assert_eq!(one(&host, "set_tick_period"), "0");
    assert_eq!(host.tick_period_ms(root), Some(50));
    host.advance(Duration::from_millis(120)).unwrap();
    assert_eq!(logged(&host, "tick_root"), [root.to_string(), root.to_string()]);
}

#[test]
fn each_plugin_has_its_own_timer() {
    let body = r#"
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (drop (call $get_buffer (i32.const 7) (i32.const 0) (local.get $size)))
    ;; The plugin configuration is the period in milliseconds, as one ASCII digit times 100.
    (drop (call $proxy_set_tick_period_milliseconds
      (i32.mul (i32.sub (i32.load8_u (call $ret_ptr)) (i32.const 48)) (i32.const 100))))
    (i32.const 1))
  (func (export "proxy_on_tick") (param $root i32)
    (call $log_i32 (str "tick_root") (local.get $root)))
"#;
    let mut host = Host::builder(&guest::module(body)).plugin_config("1").add_plugin("second", "3").build().unwrap();
    let roots = host.root_contexts().to_vec();
    assert_eq!(host.tick_period_ms(roots[0]), Some(100));
    assert_eq!(host.tick_period_ms(roots[1]), Some(300));
    host.advance(Duration::from_millis(600)).unwrap();
    let ticks = logged(&host, "tick_root");
    let count = |root: u32| ticks.iter().filter(|t| **t == root.to_string()).count();
    assert_eq!((count(roots[0]), count(roots[1])), (6, 2));
}

/// Asks for a tick every 100 ms and never stops; each tick logs the time.
const TICKS_FOREVER: &str = r#"
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (drop (call $proxy_set_tick_period_milliseconds (i32.const 100)))
    (i32.const 1))
  (func (export "proxy_on_tick") (param $root i32)
    (drop (call $proxy_get_current_time_nanoseconds (i32.const 32)))
    (call $log_i64 (str "tick_at") (call $ret_u64)))
"#;

/// An idle hour is 36,000 periods of 100 ms: the first ticks fire on schedule, the rest of the
/// stretch gives one tick, at the last time one was due, and the timer re-arms from there (as
/// Envoy's, which is re-armed after each tick and never queues missed ones).
#[test]
fn an_idle_stretch_is_skipped_not_ticked_through() {
    let mut host = guest::host(TICKS_FOREVER);
    host.advance(Duration::from_secs(3600)).unwrap();
    let ticks = logged(&host, "tick_at");
    let on_schedule = TICKS_ON_SCHEDULE as usize;
    assert_eq!(ticks.len(), on_schedule + 1);
    assert_eq!(host.ticks_delivered(), on_schedule as u64 + 1);
    let at = |ms: u64| (DEFAULT_START_UNIX_NANOS + ms * 1_000_000).to_string();
    assert_eq!(ticks[on_schedule - 1], at(100 * on_schedule as u64), "on schedule");
    assert_eq!(ticks[on_schedule], at(3_600_000), "the last tick that was due");
    host.advance(Duration::from_millis(250)).unwrap();
    assert_eq!(logged(&host, "tick_at")[on_schedule + 1..], [at(3_600_100), at(3_600_200)]);
    assert_eq!(host.now_unix_nanos(), DEFAULT_START_UNIX_NANOS + 3_600_250_000_000);
}

/// Epoch milliseconds taken for a delay: 56 years of 100 ms ticks, still a bounded number.
#[test]
fn an_advance_of_decades_delivers_a_bounded_number_of_ticks() {
    let mut host = guest::host(TICKS_FOREVER);
    host.advance(Duration::from_millis(1_767_225_600_000)).unwrap();
    assert_eq!(host.ticks_delivered(), u64::from(TICKS_ON_SCHEDULE) + 1);
}

#[test]
fn the_clock_refuses_to_pass_its_largest_time() {
    let module = guest::module(TICKS_FOREVER);
    let mut host = Host::builder(&module).start_time_unix_nanos(u64::MAX - 1_000).build().unwrap();
    let error = host.advance(Duration::from_secs(1)).unwrap_err();
    assert!(error.to_string().contains("largest time it holds"), "{error}");
    assert_eq!(host.now_unix_nanos(), u64::MAX - 1_000, "nothing moved");
    assert!(logged(&host, "tick_at").is_empty());
    host.advance(Duration::from_nanos(1_000)).unwrap();
    assert_eq!(host.now_unix_nanos(), u64::MAX, "up to the largest time is fine");
}
