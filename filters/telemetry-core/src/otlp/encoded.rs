//! The span and log exporters' store: each item is encoded as it arrives, and a batch is its
//! items' bytes with the request's envelope written around them.
//!
//! A span or log record as an object holds a dozen heap blocks (name or message, attribute
//! list, attribute values, trace state). Kept as objects until the export tick, 512 of them
//! would be read back from memory that has long left the cache, then freed at once (in the
//! native build on another thread than the one that allocated them); encoded when the request
//! ends, the item is read while it is still in the cache, freed at once, and waits as a few
//! hundred contiguous bytes. The bytes of a batch are exactly what the encoders of [`super`] and
//! [`proto`] write for the same items.

use std::collections::VecDeque;
use std::marker::PhantomData;

use super::{LOGS, Names, SPANS, envelope, proto, push_span, with_text};
use crate::access_log::LogRecord;
use crate::config::Encoding;
use crate::export::Store;
use crate::span::{Resource, Span};

/// What a signal's item is encoded as, in each encoding.
pub trait Item {
    /// The member names of the signal's JSON request.
    const NAMES: &'static Names;
    /// Appends the item as an entry of its scope message's repeated field (key, length, body).
    fn push_proto(&self, out: &mut Vec<u8>);
    /// Appends the item's JSON object.
    fn push_json(&self, out: &mut String);
}

impl Item for Span {
    const NAMES: &'static Names = &SPANS;

    fn push_proto(&self, out: &mut Vec<u8>) {
        proto::push_span_entry(out, self);
    }

    fn push_json(&self, out: &mut String) {
        push_span(out, self);
    }
}

impl Item for LogRecord {
    const NAMES: &'static Names = &LOGS;

    fn push_proto(&self, out: &mut Vec<u8>) {
        proto::push_record_entry(out, self);
    }

    fn push_json(&self, out: &mut String) {
        super::logs::push_record(out, self);
    }
}

/// Finished items, encoded, waiting for their batch (see the module docs).
#[derive(Debug)]
pub struct Encoded<T> {
    entries: Entries,
    /// Where each waiting item's bytes end in `entries`.
    ends: VecDeque<usize>,
    item: PhantomData<fn(T)>,
}

/// The encoded items, one after another.
#[derive(Debug)]
enum Entries {
    /// Entries of the scope message's repeated field, as they sit in the request.
    Protobuf(Vec<u8>),
    /// Objects, each preceded by a comma: a batch is its text without the first comma.
    Json(String),
}

impl<T> Encoded<T> {
    /// An empty store writing `encoding`.
    pub fn new(encoding: Encoding) -> Self {
        let entries = match encoding {
            Encoding::Protobuf => Entries::Protobuf(Vec::new()),
            Encoding::Json => Entries::Json(String::new()),
        };
        Self { entries, ends: VecDeque::new(), item: PhantomData }
    }

    /// Where the first `n` waiting items' bytes end; `None` for none.
    fn end_of(&self, n: usize) -> Option<usize> {
        n.checked_sub(1).and_then(|last| self.ends.get(last)).copied()
    }
}

impl<T: Item> Store for Encoded<T> {
    type Item = T;

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn push(&mut self, item: T) {
        let end = match &mut self.entries {
            Entries::Protobuf(bytes) => {
                item.push_proto(bytes);
                bytes.len()
            }
            Entries::Json(text) => {
                text.push(',');
                item.push_json(text);
                text.len()
            }
        };
        self.ends.push_back(end);
    }

    fn encode(&mut self, n: usize, resource: &Resource, body: &mut Vec<u8>) {
        let Some(end) = self.end_of(n) else { return };
        match &self.entries {
            Entries::Protobuf(bytes) => {
                let entries = bytes.get(..end).unwrap_or_default();
                proto::envelope(body, resource, end, |out| out.extend_from_slice(entries));
            }
            Entries::Json(text) => {
                let items = text.get(1..end).unwrap_or_default();
                with_text(body, |out| envelope(out, T::NAMES, resource, n, |out| out.push_str(items)));
            }
        }
    }

    fn drain(&mut self, n: usize) {
        let n = n.min(self.ends.len());
        let Some(end) = self.end_of(n) else { return };
        match &mut self.entries {
            Entries::Protobuf(bytes) => drop(bytes.drain(..end)),
            Entries::Json(text) => drop(text.drain(..end)),
        }
        self.ends.drain(..n);
        for e in &mut self.ends {
            *e -= end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access_log::{FieldValue, Severity};
    use crate::ids::IdGenerator;
    use crate::otlp::tests::span;
    use crate::span::{KeyValue, SpanKind, Status, StatusCode};
    use proptest::prelude::*;

    fn resource() -> Resource {
        Resource { attributes: vec![KeyValue::string("service.name", "chat2sql")] }
    }

    /// A span unlike its neighbours: its own ids, name, attributes and status.
    fn varied_span(ids: &mut IdGenerator, i: usize) -> Span {
        Span {
            trace_id: ids.trace_id(),
            span_id: ids.span_id(),
            parent_span_id: i.is_multiple_of(3).then(|| ids.span_id()),
            trace_state: (i % 4 == 1).then(|| format!("vendor=v{i}")),
            name: format!("GET /api/v{i}"),
            kind: if i.is_multiple_of(2) { SpanKind::Server } else { SpanKind::Client },
            start_unix_nanos: 1_700_000_000_000_000_000 + i as u64,
            end_unix_nanos: 1_700_000_000_250_000_000 + i as u64,
            attributes: (0..i % 7).map(|k| KeyValue::int(format!("k{k}"), (i * k) as i64)).collect(),
            status: Status { code: StatusCode::Error, message: "x".repeat(i * 40) },
            ..span()
        }
    }

    /// A log record unlike its neighbours: with or without ids, its own message and fields.
    fn varied_record(ids: &mut IdGenerator, i: usize) -> LogRecord {
        LogRecord {
            time_unix_nanos: 1_700_000_000_000_000_000 + i as u64,
            severity: if i.is_multiple_of(2) { Severity::Info } else { Severity::Error },
            message: format!("GET /api/v{i} {}", "é".repeat(i * 20)),
            trace_id: (!i.is_multiple_of(3)).then(|| ids.trace_id()),
            span_id: (!i.is_multiple_of(3)).then(|| ids.span_id()),
            trace_flags: (i % 2) as u8,
            fields: (0..i % 5).map(|k| (format!("f{k}").into(), FieldValue::Int((i * k) as i64))).collect(),
        }
    }

    /// Pushes and takes batches as `plan` says (pushes, then a batch of at most that many), and
    /// checks every batch's bytes against `expected` for the same items from objects.
    fn check<T: Item + Clone>(
        plan: &[(usize, usize)],
        encoding: Encoding,
        mut make: impl FnMut(usize) -> T,
        expected: impl Fn(&Resource, &[T]) -> Vec<u8>,
    ) -> Result<(), TestCaseError> {
        let resource = resource();
        let mut store = Encoded::<T>::new(encoding);
        let mut waiting: VecDeque<T> = VecDeque::new();
        let mut i = 0;
        for &(pushes, take) in plan {
            for _ in 0..pushes {
                i += 1;
                // The fifth item is over 16 KiB: its length prefix is wider than the usual two.
                let item = make(if i == 5 { 420 } else { i });
                waiting.push_back(item.clone());
                store.push(item);
            }
            prop_assert_eq!(store.len(), waiting.len());
            let n = take.min(waiting.len());
            if n == 0 {
                continue;
            }
            let items: Vec<T> = waiting.drain(..n).collect();
            let mut body = Vec::new();
            store.encode(n, &resource, &mut body);
            store.drain(n);
            prop_assert_eq!(body, expected(&resource, &items));
        }
        Ok(())
    }

    proptest! {
        /// Whatever the pushes and batch sizes, every batch's bytes are what the encoders write
        /// for the same spans from objects, in both encodings.
        #[test]
        fn span_batches_are_the_encoders_bytes(plan in proptest::collection::vec((0usize..6, 1usize..5), 1..12), json: bool) {
            let mut ids = IdGenerator::from_seed([9; 32]);
            let make = |i| varied_span(&mut ids, i);
            if json {
                check(&plan, Encoding::Json, make, |r, s| crate::otlp::encode_traces(r, s).into_bytes())?;
            } else {
                check(&plan, Encoding::Protobuf, make, proto::encode_traces)?;
            }
        }

        /// The same for log records.
        #[test]
        fn log_batches_are_the_encoders_bytes(plan in proptest::collection::vec((0usize..6, 1usize..5), 1..12), json: bool) {
            let mut ids = IdGenerator::from_seed([10; 32]);
            let make = |i| varied_record(&mut ids, i);
            if json {
                check(&plan, Encoding::Json, make, |r, s| crate::otlp::encode_logs(r, s).into_bytes())?;
            } else {
                check(&plan, Encoding::Protobuf, make, proto::encode_logs)?;
            }
        }
    }

    #[test]
    fn an_empty_store_writes_nothing() {
        let mut store = Encoded::<Span>::new(Encoding::Protobuf);
        let mut body = Vec::new();
        store.encode(0, &resource(), &mut body);
        store.drain(3);
        assert!(body.is_empty());
        assert!(store.is_empty());
    }
}
