//! What Envoy shares between the VMs of its worker threads: shared data (with CAS), shared
//! queues, and the stats store. Several [`crate::Host`]s built with the same [`Shared`] behave
//! like several workers of one Envoy.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::abi::Status;
use crate::metrics::Registry;

/// State shared by every host built with it. Create one per simulated Envoy.
#[derive(Debug, Default)]
pub struct Shared {
    /// Per VM id, as cpp-host keeps it (`getGlobalSharedData().get(vm_id, key)`).
    data: Mutex<BTreeMap<DataKey, (Vec<u8>, u32)>>,
    queues: Mutex<Vec<Queue>>,
    metrics: Mutex<Registry>,
}

/// A shared-data key within its VM id.
type DataKey = (String, Vec<u8>);

#[derive(Debug)]
struct Queue {
    vm_id: String,
    name: String,
    items: VecDeque<Vec<u8>>,
    /// The host (by its unique number) and root context that registered it.
    owner: (u64, u32),
    /// Items enqueued since the owner was last notified: one `on_queue_ready` each (cpp-host
    /// `SharedQueue::enqueue` posts one notification per item).
    ready: u32,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// An empty shared state.
    pub fn new() -> Self {
        Self::default()
    }

    /// `proxy_get_shared_data` of a VM: value and CAS, NOT_FOUND when absent.
    pub fn get(&self, vm_id: &str, key: &[u8]) -> Result<(Vec<u8>, u32), Status> {
        lock(&self.data).get(&(vm_id.to_owned(), key.to_vec())).cloned().ok_or(Status::NotFound)
    }

    /// `proxy_set_shared_data` of a VM: CAS 0 always writes; another CAS must match the
    /// current one when the key exists (cpp-host `SharedData::set` checks nothing otherwise).
    pub fn set(&self, vm_id: &str, key: &[u8], value: &[u8], cas: u32) -> Result<(), Status> {
        let mut data = lock(&self.data);
        let key = (vm_id.to_owned(), key.to_vec());
        let current = data.get(&key).map(|(_, c)| *c);
        if let Some(current) = current
            && cas != 0
            && cas != current
        {
            return Err(Status::CasMismatch);
        }
        let next = current.unwrap_or(0).wrapping_add(1).max(1);
        data.insert(key, (value.to_vec(), next));
        Ok(())
    }

    /// `proxy_register_shared_queue`: the queue id (registering again returns the same id).
    pub(crate) fn register_queue(&self, vm_id: &str, name: &str, owner: (u64, u32)) -> u32 {
        let mut queues = lock(&self.queues);
        if let Some(i) = queues.iter().position(|q| q.vm_id == vm_id && q.name == name) {
            if let Some(q) = queues.get_mut(i) {
                q.owner = owner;
            }
            return queue_id(i);
        }
        queues.push(Queue { vm_id: vm_id.to_owned(), name: name.to_owned(), items: VecDeque::new(), owner, ready: 0 });
        queue_id(queues.len() - 1)
    }

    /// `proxy_resolve_shared_queue`: NOT_FOUND when no VM registered it.
    pub fn resolve_queue(&self, vm_id: &str, name: &str) -> Result<u32, Status> {
        let queues = lock(&self.queues);
        queues.iter().position(|q| q.vm_id == vm_id && q.name == name).map(queue_id).ok_or(Status::NotFound)
    }

    /// `proxy_enqueue_shared_queue`.
    pub fn enqueue(&self, id: u32, value: &[u8]) -> Result<(), Status> {
        let mut queues = lock(&self.queues);
        let q = queues.get_mut(queue_index(id)).ok_or(Status::NotFound)?;
        q.items.push_back(value.to_vec());
        q.ready = q.ready.saturating_add(1);
        Ok(())
    }

    /// `proxy_dequeue_shared_queue`: EMPTY when there is nothing.
    pub fn dequeue(&self, id: u32) -> Result<Vec<u8>, Status> {
        let mut queues = lock(&self.queues);
        let q = queues.get_mut(queue_index(id)).ok_or(Status::NotFound)?;
        q.items.pop_front().ok_or(Status::Empty)
    }

    /// Queues owned by `host` with new items: (root context, queue id). Clears the flags.
    pub(crate) fn take_ready(&self, host: u64) -> Vec<(u32, u32)> {
        let mut queues = lock(&self.queues);
        let mut out = Vec::new();
        for (i, q) in queues.iter_mut().enumerate() {
            if q.owner.0 == host {
                for _ in 0..std::mem::take(&mut q.ready) {
                    out.push((q.owner.1, queue_id(i)));
                }
            }
        }
        out
    }

    /// The metrics registry (Envoy's stats are shared by all workers).
    pub fn metrics(&self) -> MutexGuard<'_, Registry> {
        lock(&self.metrics)
    }
}

fn queue_id(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX - 1) + 1
}

fn queue_index(id: u32) -> usize {
    (id as usize).wrapping_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_rules() {
        let s = Shared::new();
        assert_eq!(s.get("vm", b"k"), Err(Status::NotFound));
        s.set("vm", b"k", b"v1", 0).unwrap();
        let (v, cas) = s.get("vm", b"k").unwrap();
        assert_eq!(v, b"v1");
        assert_eq!(s.set("vm", b"k", b"v2", cas + 7), Err(Status::CasMismatch));
        s.set("vm", b"k", b"v2", cas).unwrap();
        assert_eq!(s.set("vm", b"k", b"v3", cas), Err(Status::CasMismatch), "the CAS moved on");
        assert_eq!(s.get("other", b"k"), Err(Status::NotFound), "each VM id has its own store");
    }

    #[test]
    fn queues_across_hosts() {
        let s = Shared::new();
        let id = s.register_queue("vm", "q", (1, 5));
        assert_eq!(s.resolve_queue("vm", "q"), Ok(id));
        assert_eq!(s.resolve_queue("vm", "other"), Err(Status::NotFound));
        assert_eq!(s.dequeue(id), Err(Status::Empty));
        s.enqueue(id, b"a").unwrap();
        assert_eq!(s.take_ready(2), vec![]);
        assert_eq!(s.take_ready(1), vec![(5, id)]);
        assert_eq!(s.dequeue(id), Ok(b"a".to_vec()));
        assert_eq!(s.enqueue(99, b"x"), Err(Status::NotFound));
    }
}
