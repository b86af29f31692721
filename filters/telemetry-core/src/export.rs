//! The export queue (spans, or log records): bounded, batched, with every item accounted for.
//!
//! Finished spans wait in a bounded queue. A batch leaves when it is full or when the flush timer
//! fires, and only while fewer than `max_in_flight` export calls are outstanding. Every span ends
//! in exactly one of three counters: exported (the collector answered 2xx), dropped (the queue was
//! full when it arrived), failed (the call could not be made, timed out, or got a non-2xx answer).
//! Nothing here blocks: a slow or dead collector only ever costs spans, never request latency.

use std::collections::VecDeque;

use crate::span::Span;

/// The queue and the outstanding calls of one exporter (one per signal and proxy worker).
#[derive(Debug)]
pub struct ExportQueue<T = Span> {
    queue: VecDeque<T>,
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

impl<T> ExportQueue<T> {
    /// An empty queue. Limits are validated by the config; zero limits behave as one.
    pub fn new(max_queue: usize, max_batch: usize, max_in_flight: usize) -> Self {
        Self {
            queue: VecDeque::with_capacity(max_queue.clamp(1, 4096)),
            in_flight: Vec::with_capacity(max_in_flight.max(1)),
            max_queue: max_queue.max(1),
            max_batch: max_batch.max(1),
            max_in_flight: max_in_flight.max(1),
            stats: ExportStats::default(),
        }
    }

    /// Enqueues a finished item, or counts it dropped when the queue is full.
    /// Returns true when a full batch is waiting (the caller should try [`Self::take_batch`]).
    pub fn push(&mut self, item: T) -> bool {
        if self.queue.len() >= self.max_queue {
            self.stats.dropped += 1;
        } else {
            self.queue.push_back(item);
        }
        self.queue.len() >= self.max_batch
    }

    /// Hands the next batch to `encode` and removes it from the queue, if spans are queued and a
    /// call slot is free; the batch's length. `full_only` takes a batch only when it is full
    /// (used on the request path; the timer flushes partial batches). The batch is encoded where
    /// it waits: collecting it first would copy every span into a new block as large as the
    /// batch (150 KB for 512 spans), a block the system allocator has to find (and, past its
    /// mmap threshold, map and unmap) for every export.
    pub fn take_batch(&mut self, full_only: bool, encode: impl FnOnce(&[T])) -> Option<usize> {
        if self.in_flight.len() >= self.max_in_flight || self.queue.is_empty() {
            return None;
        }
        if full_only && self.queue.len() < self.max_batch {
            return None;
        }
        let n = self.queue.len().min(self.max_batch);
        encode(self.queue.make_contiguous().get(..n).unwrap_or_default());
        self.queue.drain(..n);
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

    /// Spans waiting to be sent.
    pub fn queued(&self) -> usize {
        self.queue.len()
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
    use crate::ids::IdGenerator;
    use crate::span::{SpanKind, Status};
    use proptest::prelude::*;

    fn span(ids: &mut IdGenerator) -> Span {
        Span {
            trace_id: ids.trace_id(),
            span_id: ids.span_id(),
            parent_span_id: None,
            local_parent: false,
            trace_state: None,
            flags: 1,
            name: "GET".into(),
            kind: SpanKind::Server,
            start_unix_nanos: 1,
            end_unix_nanos: 2,
            attributes: vec![],
            status: Status::default(),
            links: vec![],
        }
    }

    #[test]
    fn full_batches_leave_on_the_request_path_partial_ones_on_the_timer() {
        let mut ids = IdGenerator::from_seed([1; 32]);
        let mut q = ExportQueue::new(10, 3, 1);
        assert!(!q.push(span(&mut ids)));
        assert_eq!(q.take_batch(true, |_| ()), None);
        assert!(!q.push(span(&mut ids)));
        assert!(q.push(span(&mut ids)));
        assert_eq!(q.take_batch(true, |b| assert_eq!(b.len(), 3)), Some(3));
        q.push(span(&mut ids));
        assert_eq!(q.take_batch(false, |b| assert_eq!(b.len(), 1)), Some(1));
    }

    #[test]
    fn in_flight_limit_holds_batches_back() {
        let mut ids = IdGenerator::from_seed([2; 32]);
        let mut q = ExportQueue::new(10, 1, 1);
        q.push(span(&mut ids));
        q.push(span(&mut ids));
        let batch = q.take_batch(false, |_| ()).unwrap();
        q.sent(7, batch);
        assert_eq!(q.take_batch(false, |_| ()), None, "one call outstanding");
        assert!(q.completed(7, Outcome::Status(200)));
        assert!(!q.completed(7, Outcome::Status(200)), "a token completes once");
        assert_eq!(q.take_batch(false, |b| assert_eq!(b.len(), 1)), Some(1));
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let mut ids = IdGenerator::from_seed([3; 32]);
        let mut q = ExportQueue::new(2, 2, 1);
        for _ in 0..5 {
            q.push(span(&mut ids));
        }
        assert_eq!(q.queued(), 2);
        assert_eq!(q.stats().dropped, 3);
    }

    #[test]
    fn non_2xx_and_no_response_count_as_failed() {
        let mut ids = IdGenerator::from_seed([4; 32]);
        let mut q = ExportQueue::new(10, 2, 4);
        for token in 1..=3 {
            q.push(span(&mut ids));
            q.push(span(&mut ids));
            let b = q.take_batch(true, |_| ()).unwrap();
            q.sent(token, b);
        }
        q.completed(1, Outcome::Status(503));
        q.completed(2, Outcome::NoResponse);
        q.completed(3, Outcome::Status(204));
        assert_eq!(q.stats(), ExportStats { exported: 2, dropped: 0, failed: 4, failed_calls: 2 });
    }

    proptest! {
        /// Every span pushed ends up in exactly one place: queued, in flight, exported, dropped or failed.
        #[test]
        fn every_span_is_accounted_for(ops in proptest::collection::vec(0u8..5, 0..300)) {
            let mut ids = IdGenerator::from_seed([5; 32]);
            let mut q = ExportQueue::new(8, 3, 2);
            let (mut pushed, mut token, mut outstanding) = (0u64, 0u32, Vec::new());
            for op in ops {
                match op {
                    0 | 1 => { pushed += 1; q.push(span(&mut ids)); }
                    2 => if let Some(b) = q.take_batch(op == 2, |_| ()) { token += 1; q.sent(token, b); outstanding.push(token); },
                    3 => if let Some(t) = outstanding.pop() { q.completed(t, Outcome::Status(200)); },
                    _ => if let Some(t) = outstanding.pop() { q.completed(t, Outcome::NoResponse); },
                }
            }
            let in_flight: usize = q.in_flight.iter().map(|(_, n)| n).sum();
            let s = q.stats();
            prop_assert_eq!(pushed, s.exported + s.dropped + s.failed + q.queued() as u64 + in_flight as u64);
        }
    }
}
