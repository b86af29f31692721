//! ABI section "Shared queues": register, resolve, enqueue, dequeue across hosts that share one
//! [`Shared`], and `proxy_on_queue_ready` on the plugin that registered the queue
//! (proxy-wasm-cpp-host `SharedQueue`, `src/shared_queue.cc`).

use std::sync::Arc;

use host_harness::{Host, Shared, Status};

use crate::guest::{self, logged, one};

/// Registers `jobs`; on every notification drains the queue, logging each item.
const CONSUMER: &str = r#"
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (call $log_i32 (str "register") (call $proxy_register_shared_queue (str "jobs") (i32.const 24)))
    (call $log_i32 (str "queue_id") (call $ret_u32))
    (call $log_i32 (str "dequeue_empty") (call $proxy_dequeue_shared_queue (call $ret_u32) (i32.const 16) (i32.const 20)))
    (i32.const 1))
  (func (export "proxy_on_queue_ready") (param $root i32) (param $queue i32)
    (local $status i32)
    (call $log_i32 (str "ready_root") (local.get $root))
    (call $log_i32 (str "ready_queue") (local.get $queue))
    (block $drained
      (loop $items
        (local.set $status (call $proxy_dequeue_shared_queue (local.get $queue) (i32.const 16) (i32.const 20)))
        (br_if $drained (local.get $status))
        (call $log_ret (str "item"))
        (br $items)))
    (call $log_i32 (str "drained_with") (local.get $status)))
"#;

/// Resolves the consumer's queue and enqueues two jobs.
const PRODUCER: &str = r#"
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (local $id i32)
    (call $log_i32 (str "resolve_missing")
      (call $proxy_resolve_shared_queue (str "vm") (str "nope") (i32.const 24)))
    (call $log_i32 (str "resolve") (call $proxy_resolve_shared_queue (str "vm") (str "jobs") (i32.const 24)))
    (local.set $id (call $ret_u32))
    (call $log_i32 (str "resolved_id") (local.get $id))
    (call $log_i32 (str "enqueue") (call $proxy_enqueue_shared_queue (local.get $id) (str "job-1")))
    (call $log_i32 (str "enqueue") (call $proxy_enqueue_shared_queue (local.get $id) (str "job-2")))
    (call $log_i32 (str "enqueue_unknown") (call $proxy_enqueue_shared_queue (i32.const 999) (str "x")))
    (i32.const 1))
"#;

fn pair() -> (Host, Host) {
    let shared = Arc::new(Shared::new());
    let consumer = Host::builder(&guest::module(CONSUMER)).shared(shared.clone()).vm_id("vm").build().unwrap();
    let producer = Host::builder(&guest::module(PRODUCER)).shared(shared).vm_id("vm").build().unwrap();
    (consumer, producer)
}

#[test]
fn another_worker_resolves_and_fills_a_queue_and_its_owner_drains_it() {
    let (mut consumer, producer) = pair();
    assert_eq!(one(&consumer, "register"), "0");
    assert_eq!(one(&consumer, "dequeue_empty"), Status::Empty.raw().to_string());
    let id = one(&consumer, "queue_id");

    assert_eq!(one(&producer, "resolve_missing"), Status::NotFound.raw().to_string());
    assert_eq!(one(&producer, "resolve"), "0");
    assert_eq!(one(&producer, "resolved_id"), id, "the same queue");
    assert_eq!(logged(&producer, "enqueue"), ["0", "0"]);
    assert_eq!(one(&producer, "enqueue_unknown"), Status::NotFound.raw().to_string());

    consumer.deliver_queue_ready().unwrap();
    let root = consumer.root_contexts()[0].to_string();
    assert!(logged(&consumer, "ready_root").iter().all(|r| *r == root), "the registering root is notified");
    assert!(logged(&consumer, "ready_queue").iter().all(|q| *q == id));
    assert_eq!(logged(&consumer, "item"), ["job-1", "job-2"], "first in, first out");
    assert_eq!(logged(&consumer, "drained_with").last().unwrap(), &Status::Empty.raw().to_string());
}

#[test]
fn each_enqueue_notifies_the_owner_once() {
    // cpp-host `SharedQueue::enqueue` posts one `onQueueReady` per item.
    let (mut consumer, _producer) = pair();
    consumer.deliver_queue_ready().unwrap();
    assert_eq!(logged(&consumer, "ready_queue").len(), 2);
}
