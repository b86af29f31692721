//! Turning a list of matches into the redacted text.

use std::borrow::Cow;

use super::{Counts, Kind, REDACTED};

/// A byte range of the input to replace. Ranges always start and end on character boundaries
/// (scanners match ASCII only; regex matches are `str` ranges).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Hit {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
}

impl Hit {
    pub fn new(start: usize, end: usize, kind: Kind) -> Self {
        Self { start, end, kind }
    }
}

/// Replaces every hit in `value` by [`REDACTED`]. Overlapping or touching hits are merged into one
/// replacement, counted once under the kind of the hit that starts first (on a tie, the one found
/// first). No hit: `value`, borrowed.
pub(super) fn apply<'a>(value: &'a str, mut hits: Vec<Hit>, counts: &mut Counts) -> Cow<'a, str> {
    hits.retain(|h| h.start < h.end);
    if hits.is_empty() {
        return Cow::Borrowed(value);
    }
    hits.sort_by_key(|h| h.start);
    let mut out = String::with_capacity(value.len());
    let mut copied = 0;
    let mut hits = hits.into_iter().peekable();
    while let Some(first) = hits.next() {
        let mut end = first.end;
        while let Some(next) = hits.next_if(|next| next.start <= end) {
            end = end.max(next.end);
        }
        let Some(kept) = value.get(copied..first.start) else {
            return fail_closed(first.kind, counts);
        };
        out.push_str(kept);
        out.push_str(REDACTED);
        counts.add(first.kind);
        copied = end;
    }
    match value.get(copied.min(value.len())..) {
        Some(rest) => out.push_str(rest),
        None => return fail_closed(Kind::Custom, counts),
    }
    Cow::Owned(out)
}

/// A range that does not fall on character boundaries would be a bug in a scanner: redact
/// everything rather than leak or panic.
fn fail_closed<'a>(kind: Kind, counts: &mut Counts) -> Cow<'a, str> {
    counts.add(kind);
    Cow::Borrowed(REDACTED)
}
