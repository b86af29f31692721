//! The export queue (spans, or log records): bounded, batched, with every item accounted for.
//!
//! Finished items wait in a bounded queue. A batch leaves when it is full or when the flush timer
//! fires, and only while fewer than `max_in_flight` export calls are outstanding. Every item ends
//! in exactly one of three counters: exported (the collector answered 2xx), dropped (the queue was
//! full when it arrived), failed (the call could not be made, timed out, or got a non-2xx answer).
//! Nothing here blocks: a slow or dead collector only ever costs items, never request latency.
//!
//! How the waiting items are held is the queue's [`Store`]: [`Kept`] keeps them as they are and
//! encodes a batch when it leaves (the OTLP metrics exporter's whole batches);
//! [`crate::otlp::Encoded`] encodes each item as it arrives (spans, log records), so that a batch
//! is its items' bytes with the envelope around them.

use std::collections::VecDeque;

use crate::span::Resource;

/// Writes a batch of items as an OTLP/HTTP request body, in the configured encoding.
pub type Encode<T> = fn(&mut Vec<u8>, &Resource, &[T]);

/// Where a queue's items wait until they leave in a batch.
pub trait Store {
    /// What is pushed.
    type Item;
    /// Items waiting.
    fn len(&self) -> usize;
    /// Whether none wait.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Adds an item at the back.
    fn push(&mut self, item: Self::Item);
    /// Appends the request body of the first `n` items (`0 < n <= len`) to `body`.
    fn encode(&mut self, n: usize, resource: &Resource, body: &mut Vec<u8>);
    /// Removes the first `n` items.
    fn drain(&mut self, n: usize);
}

/// A store that keeps the items themselves, and encodes a batch with `encode` when it leaves.
#[derive(Debug)]
pub struct Kept<T> {
    items: VecDeque<T>,
    encode: Encode<T>,
}

impl<T> Kept<T> {
    /// An empty store for a queue of at most `max_queue` items.
    pub fn new(encode: Encode<T>, max_queue: usize) -> Self {
        Self { items: VecDeque::with_capacity(max_queue.clamp(1, 4096)), encode }
    }
}

impl<T> Store for Kept<T> {
    type Item = T;

    fn len(&self) -> usize {
        self.items.len()
    }

    fn push(&mut self, item: T) {
        self.items.push_back(item);
    }

    /// The batch is encoded where it waits: collecting it first would copy every item into a
    /// new block as large as the batch, a block the allocator has to find for every export.
    fn encode(&mut self, n: usize, resource: &Resource, body: &mut Vec<u8>) {
        (self.encode)(body, resource, self.items.make_contiguous().get(..n).unwrap_or_default());
    }

    fn drain(&mut self, n: usize) {
        self.items.drain(..n.min(self.items.len()));
    }
}

/// The queue and the outstanding calls of one exporter (one per signal and proxy worker).
#[derive(Debug)]
pub struct ExportQueue<S> {
    store: S,
    in_flight: Vec<(u32, usize)>,
    max_queue: usize,
    max_batch: usize,
    max_in_flight: usize,
    stats: ExportStats,
}

/// Running totals of what happened to spans. Monotonic; the pipeline reports deltas as counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportStats {
    pub exported: u64,
    pub dropped: u64,
    pub failed: u64,
    /// Export calls that failed (each may carry many spans).
    pub failed_calls: u64,
}

/// How an export call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The collector answered with this HTTP status.
    Status(u16),
    /// No answer: connection failure, reset or timeout (proxy-wasm reports zero headers).
    NoResponse,
}

impl<S: Store> ExportQueue<S> {
    /// An empty queue keeping its items in `store`. Limits are validated by the config; zero
    /// limits behave as one.
    pub fn new(store: S, max_queue: usize, max_batch: usize, max_in_flight: usize) -> Self {
        Self {
            store,
            in_flight: Vec::with_capacity(max_in_flight.max(1)),
            max_queue: max_queue.max(1),
            max_batch: max_batch.max(1),
            max_in_flight: max_in_flight.max(1),
            stats: ExportStats::default(),
        }
    }

    /// Enqueues a finished item, or counts it dropped when the queue is full.
    /// Returns true when a full batch is waiting (the caller should try [`Self::take_batch`]).
    pub fn push(&mut self, item: S::Item) -> bool {
        if self.store.len() >= self.max_queue {
            self.stats.dropped += 1;
        } else {
            self.store.push(item);
        }
        self.store.len() >= self.max_batch
    }

    /// Writes the next batch as a request body into `body` (cleared first) and removes it from
    /// the queue, if items are queued and a call slot is free; the batch's length. `full_only`
    /// takes a batch only when it is full (used on the request path; the timer flushes partial
    /// batches).
    pub fn take_batch(&mut self, full_only: bool, resource: &Resource, body: &mut Vec<u8>) -> Option<usize> {
        if self.in_flight.len() >= self.max_in_flight || self.store.is_empty() {
            return None;
        }
        if full_only && self.store.len() < self.max_batch {
            return None;
        }
        let n = self.store.len().min(self.max_batch);
        body.clear();
        self.store.encode(n, resource, body);
        self.store.drain(n);
        Some(n)
    }

    /// Records that a batch of `spans` spans went out as call `token`.
    pub fn sent(&mut self, token: u32, spans: usize) {
        self.in_flight.push((token, spans));
    }

    /// Records that a batch of `spans` spans could not be sent at all (the host refused the call).
    pub fn send_failed(&mut self, spans: usize) {
        self.stats.failed += spans as u64;
        self.stats.failed_calls += 1;
    }

    /// Records the end of call `token`. Unknown tokens are ignored (not ours).
    /// Returns whether the token was one of ours.
    pub fn completed(&mut self, token: u32, outcome: Outcome) -> bool {
        let Some(i) = self.in_flight.iter().position(|(t, _)| *t == token) else { return false };
        let (_, spans) = self.in_flight.swap_remove(i);
        match outcome {
            Outcome::Status(s) if (200..300).contains(&s) => self.stats.exported += spans as u64,
            Outcome::Status(_) | Outcome::NoResponse => {
                self.stats.failed += spans as u64;
                self.stats.failed_calls += 1;
            }
        }
        true
    }

    /// The running totals.
    pub fn stats(&self) -> ExportStats {
        self.stats
    }

    /// Items waiting to be sent.
    pub fn queued(&self) -> usize {
        self.store.len()
    }

    /// Calls outstanding.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

impl ExportStats {
    /// What changed since `earlier`, for reporting counter increments.
    pub fn since(self, earlier: Self) -> Self {
        Self {
            exported: self.exported.saturating_sub(earlier.exported),
            dropped: self.dropped.saturating_sub(earlier.dropped),
            failed: self.failed.saturating_sub(earlier.failed),
            failed_calls: self.failed_calls.saturating_sub(earlier.failed_calls),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A batch of numbered items encodes as their numbers, one byte each.
    fn numbers(body: &mut Vec<u8>, _: &Resource, items: &[u8]) {
        body.extend_from_slice(items);
    }

    fn queue(max_queue: usize, max_batch: usize, max_in_flight: usize) -> ExportQueue<Kept<u8>> {
        ExportQueue::new(Kept::new(numbers, max_queue), max_queue, max_batch, max_in_flight)
    }

    /// The next batch's body, when one may leave.
    fn take(q: &mut ExportQueue<Kept<u8>>, full_only: bool) -> Option<Vec<u8>> {
        let mut body = b"stale".to_vec();
        let n = q.take_batch(full_only, &Resource::default(), &mut body)?;
        assert_eq!(body.len(), n, "the body is the batch alone");
        Some(body)
    }

    #[test]
    fn full_batches_leave_on_the_request_path_partial_ones_on_the_timer() {
        let mut q = queue(10, 3, 1);
        assert!(!q.push(1));
        assert_eq!(take(&mut q, true), None);
        assert!(!q.push(2));
        assert!(q.push(3));
        assert_eq!(take(&mut q, true), Some(vec![1, 2, 3]));
        q.push(4);
        assert_eq!(take(&mut q, false), Some(vec![4]));
    }

    #[test]
    fn in_flight_limit_holds_batches_back() {
        let mut q = queue(10, 1, 1);
        q.push(1);
        q.push(2);
        assert_eq!(take(&mut q, false), Some(vec![1]));
        q.sent(7, 1);
        assert_eq!(take(&mut q, false), None, "one call outstanding");
        assert!(q.completed(7, Outcome::Status(200)));
        assert!(!q.completed(7, Outcome::Status(200)), "a token completes once");
        assert_eq!(take(&mut q, false), Some(vec![2]));
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let mut q = queue(2, 2, 1);
        for i in 0..5 {
            q.push(i);
        }
        assert_eq!(q.queued(), 2);
        assert_eq!(q.stats().dropped, 3);
        assert_eq!(take(&mut q, false), Some(vec![0, 1]), "the first items stay, later ones drop");
    }

    #[test]
    fn non_2xx_and_no_response_count_as_failed() {
        let mut q = queue(10, 2, 4);
        for token in 1..=3 {
            q.push(1);
            q.push(2);
            let b = take(&mut q, true).unwrap();
            q.sent(token, b.len());
        }
        q.completed(1, Outcome::Status(503));
        q.completed(2, Outcome::NoResponse);
        q.completed(3, Outcome::Status(204));
        assert_eq!(q.stats(), ExportStats { exported: 2, dropped: 0, failed: 4, failed_calls: 2 });
    }

    proptest! {
        /// Every item pushed ends up in exactly one place: queued, in flight, exported, dropped or
        /// failed; and the batches carry the queued items in the order they came.
        #[test]
        fn every_item_is_accounted_for(ops in proptest::collection::vec(0u8..5, 0..250)) {
            let mut q = queue(8, 3, 2);
            let (mut pushed, mut token, mut outstanding) = (0u64, 0u32, Vec::new());
            let mut sent = Vec::new();
            for op in ops {
                match op {
                    0 | 1 => { pushed += 1; q.push(pushed as u8); }
                    2 => if let Some(b) = take(&mut q, op == 2) {
                        token += 1;
                        q.sent(token, b.len());
                        outstanding.push(token);
                        sent.extend(b);
                    },
                    3 => if let Some(t) = outstanding.pop() { q.completed(t, Outcome::Status(200)); },
                    _ => if let Some(t) = outstanding.pop() { q.completed(t, Outcome::NoResponse); },
                }
            }
            let in_flight: usize = q.in_flight.iter().map(|(_, n)| n).sum();
            let s = q.stats();
            prop_assert_eq!(pushed, s.exported + s.dropped + s.failed + q.queued() as u64 + in_flight as u64);
            prop_assert!(sent.windows(2).all(|w| w[0] < w[1]), "batches keep arrival order: {:?}", sent);
        }
    }
}
