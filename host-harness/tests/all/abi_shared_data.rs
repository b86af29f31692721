//! ABI section "Shared key-value store": `proxy_get_shared_data`, `proxy_set_shared_data` with
//! compare-and-swap, across hosts that share one [`Shared`] (Envoy's workers). The store is
//! proxy-wasm-cpp-host's `SharedData` (`src/shared_data.cc`): one map per VM id, CAS checked only
//! for keys that exist.

use std::sync::Arc;

use host_harness::{Host, Shared, Status};

use crate::guest::{self, one};

/// `$set` and `$get` on key `k`; `$get` logs `<label>=<value>` and `<label>_cas=<cas>`.
const KV: &str = r#"
  (func $set (param $v i32) (param $vl i32) (param $cas i32) (result i32)
    (call $proxy_set_shared_data (str "k") (local.get $v) (local.get $vl) (local.get $cas)))
  (func $get (param $label i32) (param $len i32) (result i32)
    (local $status i32)
    (i32.store (i32.const 24) (i32.const 0))
    (local.set $status (call $proxy_get_shared_data (str "k") (i32.const 16) (i32.const 20) (i32.const 24)))
    (if (i32.eqz (local.get $status)) (then (call $log_ret (local.get $label) (local.get $len))))
    (call $ret_u32))
"#;

/// First worker: writes `v1` at start; on a request, tries to overwrite with the CAS it saw.
const WORKER_A: &str = r#"
  (global $cas (mut i32) (i32.const 0))
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (call $log_i32 (str "a_set") (call $set (str "v1") (i32.const 0)))
    (global.set $cas (call $get (str "a_get")))
    (i32.const 1))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (call $log_i32 (str "a_set_stale") (call $set (str "v3") (global.get $cas)))
    (drop (call $get (str "a_get_later")))
    (i32.const 0))
"#;

/// Second worker: reads what the first wrote, swaps in `v2`, then retries with the same CAS.
const WORKER_B: &str = r#"
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (local $cas i32)
    (local.set $cas (call $get (str "b_get")))
    (call $log_i32 (str "b_set") (call $set (str "v2") (local.get $cas)))
    (call $log_i32 (str "b_set_again") (call $set (str "v2b") (local.get $cas)))
    (i32.const 1))
"#;

fn worker(body: &str, shared: &Arc<Shared>, vm_id: &str) -> Host {
    Host::builder(&guest::module(&format!("{KV}{body}"))).shared(shared.clone()).vm_id(vm_id).build().unwrap()
}

#[test]
fn compare_and_swap_works_across_workers() {
    let shared = Arc::new(Shared::new());
    let mut a = worker(WORKER_A, &shared, "vm");
    assert_eq!(one(&a, "a_set"), "0");
    assert_eq!(one(&a, "a_get"), "v1");

    let b = worker(WORKER_B, &shared, "vm");
    assert_eq!(one(&b, "b_get"), "v1", "the other worker sees the value");
    assert_eq!(one(&b, "b_set"), "0", "the CAS it read is current");
    let mismatch = Status::CasMismatch.raw().to_string();
    assert_eq!(one(&b, "b_set_again"), mismatch, "every write moves the CAS on");

    let s = a.new_stream();
    a.request_headers(s, &[(":path", "/")], true).unwrap();
    assert_eq!(one(&a, "a_set_stale"), mismatch);
    assert_eq!(one(&a, "a_get_later"), "v2");
    assert_eq!(shared.get("vm", b"k").map(|(v, _)| v), Ok(b"v2".to_vec()));
}

#[test]
fn a_missing_key_is_not_found() {
    let host = guest::host(&format!(
        r#"{KV}
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (call $log_i32 (str "get_missing") (call $proxy_get_shared_data (str "absent") (i32.const 16) (i32.const 20) (i32.const 24)))
    (i32.const 1))
"#
    ));
    assert_eq!(one(&host, "get_missing"), Status::NotFound.raw().to_string());
}

#[test]
fn a_cas_on_a_missing_key_still_writes() {
    // cpp-host `SharedData::set` checks the CAS only when the key exists.
    let host = guest::host(&format!(
        r#"{KV}
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (call $log_i32 (str "set_with_cas") (call $set (str "fresh") (i32.const 7)))
    (drop (call $get (str "value")))
    (i32.const 1))
"#
    ));
    assert_eq!(one(&host, "set_with_cas"), "0");
    assert_eq!(one(&host, "value"), "fresh");
}

#[test]
fn each_vm_id_has_its_own_store() {
    // cpp-host keys shared data by `wasm_->vm_id()`.
    let shared = Arc::new(Shared::new());
    let a = worker(WORKER_A, &shared, "vm-a");
    assert_eq!(one(&a, "a_set"), "0");
    let reader = r#"
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (local $status i32)
    (local.set $status (call $proxy_get_shared_data (str "k") (i32.const 16) (i32.const 20) (i32.const 24)))
    (call $log_i32 (str "status") (local.get $status))
    (if (i32.eqz (local.get $status)) (then (call $log_ret (str "value"))))
    (i32.const 1))
"#;
    let same_vm = worker(reader, &shared, "vm-a");
    assert_eq!(one(&same_vm, "value"), "v1");
    let other_vm = worker(reader, &shared, "vm-b");
    assert_eq!(one(&other_vm, "status"), Status::NotFound.raw().to_string(), "another VM id sees nothing");
}
