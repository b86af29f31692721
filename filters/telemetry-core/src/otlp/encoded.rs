//! The span exporter's store: each finished span is encoded as it arrives, and a batch is its
//! spans' bytes with the request's envelope written around them.
//!
//! A span object holds a dozen heap blocks (name, attribute list, attribute values, trace
//! state). Kept until the export tick, 512 of them are read back from memory that has long left
//! the cache, then freed at once; encoded at stream end, the same span is read while it is still
//! in the cache, freed at once, and waits as about 450 contiguous bytes (protobuf). The bytes of
//! a batch are exactly what [`proto::encode_traces_into`] or [`super::encode_traces_into`] write
//! for the same spans.

use std::collections::VecDeque;

use super::{proto, push_span, traces_envelope, with_text};
use crate::config::Encoding;
use crate::export::Store;
use crate::span::{Resource, Span};

/// Finished spans, encoded, waiting for their batch (see the module docs).
#[derive(Debug)]
pub struct EncodedSpans {
    entries: Entries,
    /// Where each waiting span's bytes end in `entries`.
    ends: VecDeque<usize>,
}

/// The encoded spans, one after another.
#[derive(Debug)]
enum Entries {
    /// Entries of `ScopeSpans.spans` (key, length, `Span`), as they sit in the request.
    Protobuf(Vec<u8>),
    /// Span objects, each preceded by a comma: a batch is its text without the first comma.
    Json(String),
}

impl EncodedSpans {
    /// An empty store writing `encoding`.
    pub fn new(encoding: Encoding) -> Self {
        let entries = match encoding {
            Encoding::Protobuf => Entries::Protobuf(Vec::new()),
            Encoding::Json => Entries::Json(String::new()),
        };
        Self { entries, ends: VecDeque::new() }
    }
}

impl Store for EncodedSpans {
    type Item = Span;

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn push(&mut self, span: Span) {
        let end = match &mut self.entries {
            Entries::Protobuf(bytes) => {
                proto::push_span_entry(bytes, &span);
                bytes.len()
            }
            Entries::Json(text) => {
                text.push(',');
                push_span(text, &span);
                text.len()
            }
        };
        self.ends.push_back(end);
    }

    fn encode(&mut self, n: usize, resource: &Resource, body: &mut Vec<u8>) {
        let Some(&end) = n.checked_sub(1).and_then(|last| self.ends.get(last)) else { return };
        match &self.entries {
            Entries::Protobuf(bytes) => {
                let entries = bytes.get(..end).unwrap_or_default();
                proto::traces_envelope(body, resource, end, |out| out.extend_from_slice(entries));
            }
            Entries::Json(text) => {
                let spans = text.get(1..end).unwrap_or_default();
                with_text(body, |out| traces_envelope(out, resource, |out| out.push_str(spans)));
            }
        }
    }

    fn drain(&mut self, n: usize) {
        let n = n.min(self.ends.len());
        let Some(&end) = n.checked_sub(1).and_then(|last| self.ends.get(last)) else { return };
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
    use crate::ids::IdGenerator;
    use crate::otlp::tests::span;
    use crate::span::{KeyValue, SpanKind, Status, StatusCode};
    use proptest::prelude::*;

    fn resource() -> Resource {
        Resource { attributes: vec![KeyValue::string("service.name", "chat2sql")] }
    }

    /// A span unlike its neighbours: its own ids, name, attributes and status.
    fn varied(ids: &mut IdGenerator, i: usize) -> Span {
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

    /// The body of the first `n` waiting spans, as the exporter takes it.
    fn batch(store: &mut EncodedSpans, n: usize, resource: &Resource) -> Vec<u8> {
        let mut body = Vec::new();
        store.encode(n, resource, &mut body);
        store.drain(n);
        body
    }

    proptest! {
        /// Whatever the pushes and batch sizes, every batch's bytes are what the encoders write
        /// for the same spans from objects, in both encodings; a span over 16 KiB (a wider length
        /// prefix) included.
        #[test]
        fn batches_are_the_encoders_bytes(sizes in proptest::collection::vec((0usize..6, 1usize..5), 1..12), json: bool) {
            let resource = resource();
            let mut ids = IdGenerator::from_seed([9; 32]);
            let encoding = if json { Encoding::Json } else { Encoding::Protobuf };
            let mut store = EncodedSpans::new(encoding);
            let mut waiting: VecDeque<Span> = VecDeque::new();
            let mut i = 0;
            for (pushes, take) in sizes {
                for _ in 0..pushes {
                    i += 1;
                    let span = varied(&mut ids, if i == 5 { 420 } else { i });
                    waiting.push_back(span.clone());
                    store.push(span);
                }
                prop_assert_eq!(store.len(), waiting.len());
                let n = take.min(waiting.len());
                if n == 0 {
                    continue;
                }
                let spans: Vec<Span> = waiting.drain(..n).collect();
                let expected = if json {
                    crate::otlp::encode_traces(&resource, &spans).into_bytes()
                } else {
                    proto::encode_traces(&resource, &spans)
                };
                prop_assert_eq!(batch(&mut store, n, &resource), expected);
            }
        }
    }

    #[test]
    fn an_empty_store_writes_nothing() {
        let mut store = EncodedSpans::new(Encoding::Protobuf);
        let mut body = Vec::new();
        store.encode(0, &resource(), &mut body);
        store.drain(3);
        assert!(body.is_empty());
        assert!(store.is_empty());
    }
}
