//! Extracting the incoming trace context from request headers and injecting the outgoing one.
//!
//! Formats: W3C Trace Context (`traceparent`, `tracestate`) and B3 (single `b3` header and multi
//! `x-b3-*` headers). Which formats are read, in which order, and which are written is
//! configuration; the first format whose headers are present and valid wins.
//!
//! The codecs live in [`traceparent`], [`tracestate`] and [`b3`]; [`extract`] and [`inject`] are
//! the two entry points the filter calls.
//!
//! Trace Context level: the module follows Trace Context Level 2 (W3C Candidate Recommendation
//! Draft, <https://www.w3.org/TR/trace-context-2/>) where it differs from Level 1, and Level 1
//! everywhere else. Level 2 changes three things here:
//!
//! - the `random-trace-id` flag (section "Random Trace ID Flag"), bit 1 of `trace-flags`: read,
//!   kept when the caller's trace is continued, set on trace ids this module generates, and sent
//!   (see [`inject`] and `tracer::start_request`);
//! - the `tracestate` key grammar (section "Key"), see [`tracestate`];
//! - duplicate `tracestate` keys no longer invalidate the header: the first of them is kept, see
//!   [`tracestate`].
//!
//! There is no strict Level 1 mode, on purpose. Level 2 only widens what is accepted and gives a
//! meaning to a flag bit that Level 1 reserves; a Level 1 participant downstream reads a `-03`
//! as sampled (it masks bit 0, Level 1 "trace-flags") and zeroes the bit it does not know when it
//! sends on ("Other Flags"), and it applies its own key grammar to the `tracestate` it receives.
//! So a Level 2 sender breaks no Level 1 receiver, and a Level 1 mode would only make this hop
//! drop context (a caller's `random` bit, a `tracestate` with a digit-first key) that the hops
//! after it can use.

pub mod b3;
pub mod traceparent;
pub mod tracestate;

use crate::ids::{SpanId, TraceId};
use tracestate::TraceState;

/// A propagation format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// W3C Trace Context: `traceparent` + `tracestate`.
    TraceContext,
    /// B3 single header: `b3`.
    B3Single,
    /// B3 multiple headers: `x-b3-traceid`, `x-b3-spanid`, `x-b3-parentspanid`, `x-b3-sampled`, `x-b3-flags`.
    B3Multi,
}

/// W3C trace flags (Trace Context 3.2.2.5 "trace-flags"): bit 0 is `sampled` (Level 1), bit 1 is
/// `random-trace-id` (Level 2, "Random Trace ID Flag"); the other six bits are reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TraceFlags(pub u8);

/// A span context received from, or sent to, another hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanContext {
    pub trace_id: TraceId,
    /// The sender's span id: the parent of the span this proxy creates.
    pub span_id: SpanId,
    pub flags: TraceFlags,
    /// `tracestate` (W3C only; `None` when absent, invalid, or the context came from B3).
    pub trace_state: Option<TraceState>,
    /// B3 debug flag (`b3: ...-d` or `x-b3-flags: 1`); implies sampled.
    pub debug: bool,
}

/// What extraction found in the request headers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Extracted {
    /// The first valid context, in configured format order.
    pub context: Option<SpanContext>,
    /// The format it came from.
    pub format: Option<Format>,
    /// A sampling decision sent without ids (`b3: 0`, `b3: 1`, `b3: d`, or `x-b3-sampled`
    /// alone); `None` when there was none.
    pub sampling_only: Option<bool>,
    /// True when some configured format's headers were present but invalid (counted by the
    /// module as invalid incoming trace headers).
    pub invalid: bool,
    /// True when the context came with a valid `traceparent` whose `tracestate` was invalid and
    /// was dropped; the context itself is kept (W3C 3.3: "failure to parse `tracestate` MUST NOT
    /// affect the parsing of `traceparent`").
    pub tracestate_invalid: bool,
    /// True when the context came from B3 without a sampling state (B3 "Defer"): the sender left
    /// the decision to this hop, and `context.flags` has `sampled` cleared only because it has to
    /// say something. The sampler should decide as for a new trace.
    pub sampling_deferred: bool,
}

/// Read-only access to a request's headers by lowercase name.
///
/// Envoy hands header names to Wasm lowercased; implementations may assume `name` is lowercase.
pub trait HeaderLookup {
    /// The first value of header `name`, if present.
    fn get(&self, name: &str) -> Option<&str>;

    /// Every value of header `name`, in order (W3C 3.3.1.1: multiple `tracestate` headers are
    /// combined as if joined by commas).
    fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a;

    /// Every name/value pair, in order (for readers that want several headers in one pass).
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)>;
}

/// Reads the incoming trace context from `headers`, trying the formats in `order`.
///
/// - The first format whose headers are present and valid gives `context` and `format`; formats
///   listed twice are read once.
/// - Every listed format is still read, so `invalid` is true when any of them had headers
///   present but invalid, even when another gave a context.
/// - W3C: an invalid `traceparent` makes its `tracestate` be ignored unread (3.3: "If the vendor
///   failed to parse `traceparent`, it MUST NOT attempt to parse `tracestate`"), and so does a
///   request with more than one `traceparent` field (the W3C test suite's
///   `test_traceparent_duplicated`: restart the trace). A `tracestate` without a `traceparent`
///   is discarded (4.2 step 3) and is not counted as invalid, since the format is absent. An
///   invalid `tracestate` beside a valid `traceparent` sets `tracestate_invalid` and leaves
///   `trace_state` empty; it does not set `invalid`.
/// - B3: a sampling state without ids goes to `sampling_only` (from the first format that had
///   one, whether or not another format gave a context); ids without a sampling state set
///   `sampling_deferred`. Debug sets both `debug` and the `sampled` flag.
pub fn extract(headers: &(impl HeaderLookup + ?Sized), order: &[Format]) -> Extracted {
    let mut out = Extracted::default();
    for (i, &format) in order.iter().enumerate() {
        if order.get(..i).is_some_and(|earlier| earlier.contains(&format)) {
            continue;
        }
        let found = match format {
            Format::TraceContext => trace_context(headers),
            Format::B3Single => {
                headers.get(b3::SINGLE_HEADER).map_or(Found::Absent, |v| Found::from(b3::parse_single(v)))
            }
            Format::B3Multi => b3::parse_multi(headers).map_or(Found::Absent, Found::from),
        };
        match found {
            Found::Absent => {}
            Found::Invalid => out.invalid = true,
            Found::SamplingOnly(sampled) => {
                out.sampling_only.get_or_insert(sampled);
            }
            Found::Context { context, deferred, tracestate_invalid } => {
                if out.context.is_none() {
                    out.context = Some(context);
                    out.format = Some(format);
                    out.sampling_deferred = deferred;
                    out.tracestate_invalid = tracestate_invalid;
                }
            }
        }
    }
    out
}

/// Appends the outgoing trace headers for `ctx` in each of `formats` (each format once).
///
/// `ctx.span_id` is the span id to send: the proxy's own span, which becomes the receiver's
/// parent. Per format:
///
/// - W3C: `traceparent` version `00` with the `sampled` flag and the `random-trace-id` flag of
///   `ctx.flags` (Level 2 "Random Trace ID Flag"); every other bit is zero ("Other Flags":
///   vendors "MUST set those to zero"), and `tracestate` when `ctx.trace_state` has members,
///   cut to [`tracestate::PROPAGATION_LIMIT`] characters by whole members (3.3.1.5). This
///   always changes `parent-id`, so re-serializing `tracestate` is an allowed mutation (3.4).
/// - B3 single: `b3: {trace}-{span}-{state}`; B3 multi: `x-b3-traceid`, `x-b3-spanid`, and
///   `x-b3-sampled` or, for debug, `x-b3-flags: 1`. No parent span id: `ctx` does not know the
///   proxy span's parent (see [`b3::inject_multi`]).
///
/// `ctx.debug` implies sampled in every format.
pub fn inject(ctx: &SpanContext, formats: &[Format], out: &mut Vec<(&'static str, String)>) {
    for (i, &format) in formats.iter().enumerate() {
        if formats.get(..i).is_some_and(|earlier| earlier.contains(&format)) {
            continue;
        }
        match format {
            Format::TraceContext => {
                let flags = ctx.flags.known().with_sampled(ctx.flags.sampled() || ctx.debug);
                out.push((traceparent::HEADER, traceparent::format(ctx.trace_id, ctx.span_id, flags)));
                let state = ctx.trace_state.as_ref().map(|ts| ts.truncated(tracestate::PROPAGATION_LIMIT));
                if let Some(state) = state.filter(|ts| !ts.is_empty()) {
                    out.push((tracestate::HEADER, state.header_value()));
                }
            }
            Format::B3Single => out.push((b3::SINGLE_HEADER, b3::inject_single(ctx))),
            Format::B3Multi => b3::inject_multi(ctx, out),
        }
    }
}

/// What one format found in the headers.
enum Found {
    Absent,
    Invalid,
    SamplingOnly(bool),
    Context { context: SpanContext, deferred: bool, tracestate_invalid: bool },
}

impl TraceFlags {
    /// The `sampled` bit (Level 1 "Sampled flag").
    pub const SAMPLED: u8 = 0x01;

    /// The `random-trace-id` bit (Level 2 "Random Trace ID Flag"): at least the right-most 7
    /// bytes of the trace id were chosen (pseudo-)randomly, uniformly over `[0, 2^56 - 1]`.
    pub const RANDOM: u8 = 0x02;

    /// Every bit this implementation knows; the others are sent as zero ("Other Flags").
    pub const KNOWN: u8 = Self::SAMPLED | Self::RANDOM;

    /// Whether the `sampled` bit is set.
    pub fn sampled(self) -> bool {
        self.0 & Self::SAMPLED != 0
    }

    /// Whether the `random-trace-id` bit is set.
    pub fn random(self) -> bool {
        self.0 & Self::RANDOM != 0
    }

    /// These flags with the `sampled` bit set or cleared.
    pub fn with_sampled(self, sampled: bool) -> Self {
        if sampled { Self(self.0 | Self::SAMPLED) } else { Self(self.0 & !Self::SAMPLED) }
    }

    /// These flags with the `random-trace-id` bit set or cleared.
    pub fn with_random(self, random: bool) -> Self {
        if random { Self(self.0 | Self::RANDOM) } else { Self(self.0 & !Self::RANDOM) }
    }

    /// These flags with every bit this implementation does not know cleared.
    pub fn known(self) -> Self {
        Self(self.0 & Self::KNOWN)
    }
}

impl From<b3::Parsed> for Found {
    fn from(parsed: b3::Parsed) -> Self {
        match parsed {
            b3::Parsed::Invalid => Found::Invalid,
            b3::Parsed::SamplingOnly(sampling) => Found::SamplingOnly(sampling != b3::Sampling::Deny),
            b3::Parsed::Context(c) => Found::Context {
                context: SpanContext {
                    trace_id: c.trace_id,
                    span_id: c.span_id,
                    flags: TraceFlags::default()
                        .with_sampled(matches!(c.sampling, Some(b3::Sampling::Accept | b3::Sampling::Debug))),
                    trace_state: None,
                    debug: c.sampling == Some(b3::Sampling::Debug),
                },
                deferred: c.sampling.is_none(),
                tracestate_invalid: false,
            },
        }
    }
}

/// Any list of name/value pairs: owned (`String`), borrowed (`&str`) or decoded from the host's
/// serialized map without copying (`Cow<str>`).
impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for [(K, V)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name)).map(|(_, v)| v.as_ref())
    }

    fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.iter().filter(move |(k, _)| k.as_ref().eq_ignore_ascii_case(name)).map(|(_, v)| v.as_ref())
    }

    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for Vec<(K, V)> {
    fn get(&self, name: &str) -> Option<&str> {
        HeaderLookup::get(self.as_slice(), name)
    }

    fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        HeaderLookup::get_all(self.as_slice(), name)
    }

    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        HeaderLookup::pairs(self.as_slice())
    }
}

/// The W3C format: `traceparent` (exactly one field), then its `tracestate`.
fn trace_context(headers: &(impl HeaderLookup + ?Sized)) -> Found {
    let mut fields = headers.get_all(traceparent::HEADER);
    let Some(value) = fields.next() else {
        return Found::Absent;
    };
    if fields.next().is_some() {
        return Found::Invalid;
    }
    let Some((trace_id, span_id, flags)) = traceparent::parse(value) else {
        return Found::Invalid;
    };
    let (trace_state, tracestate_invalid) = match TraceState::parse(headers.get_all(tracestate::HEADER)) {
        Ok(state) => (state, false),
        Err(_) => (None, true),
    };
    Found::Context {
        context: SpanContext { trace_id, span_id, flags, trace_state, debug: false },
        deferred: false,
        tracestate_invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";
    const B3_TRACE: &str = "80f198ee56343ba864fe8b2a57d3eff7";
    const B3_SPAN: &str = "e457b5a2e4d86bd1";
    const ALL: &[Format] = &[Format::TraceContext, Format::B3Single, Format::B3Multi];

    /// The only place that calls `extract`.
    fn check(pairs: &[(&str, &str)], order: &[Format]) -> Extracted {
        let headers: Vec<(String, String)> = pairs.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect();
        extract(headers.as_slice(), order)
    }

    fn ids(e: &Extracted) -> Option<(String, String, u8, bool)> {
        e.context.as_ref().map(|c| (c.trace_id.to_hex(), c.span_id.to_hex(), c.flags.0, c.debug))
    }

    fn w3c() -> Option<(String, String, u8, bool)> {
        Some((TRACE.to_owned(), SPAN.to_owned(), 1, false))
    }

    fn b3() -> Option<(String, String, u8, bool)> {
        Some((B3_TRACE.to_owned(), B3_SPAN.to_owned(), 1, false))
    }

    fn ctx(flags: u8, debug: bool, trace_state: Option<&str>) -> SpanContext {
        SpanContext {
            trace_id: TraceId::from_hex(TRACE).unwrap(),
            span_id: SpanId::from_hex(SPAN).unwrap(),
            flags: TraceFlags(flags),
            trace_state: trace_state.map(|ts| TraceState::parse([ts]).unwrap().unwrap()),
            debug,
        }
    }

    fn injected(c: &SpanContext, formats: &[Format]) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        inject(c, formats, &mut out);
        out
    }

    #[test]
    fn nothing_present() {
        assert_eq!(check(&[], ALL), Extracted::default());
        assert_eq!(check(&[("traceparent", TP)], &[]), Extracted::default());
    }

    #[test]
    fn traceparent_with_tracestate() {
        let e = check(
            &[("traceparent", TP), ("tracestate", "rojo=00f067aa0ba902b7"), ("tracestate", " congo=t61rcWkgMzE")],
            ALL,
        );
        assert_eq!(ids(&e), w3c());
        assert_eq!(e.format, Some(Format::TraceContext));
        let ts = e.context.and_then(|c| c.trace_state).unwrap();
        assert_eq!(ts.header_value(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
        assert!(!e.invalid && !e.tracestate_invalid && !e.sampling_deferred);
    }

    #[test]
    fn header_names_match_in_any_case() {
        let e = check(&[("TraceParent", TP), ("TRACESTATE", "foo=1")], ALL);
        assert_eq!(ids(&e), w3c());
        assert_eq!(e.context.and_then(|c| c.trace_state).map(|ts| ts.header_value()).as_deref(), Some("foo=1"));
    }

    #[test]
    fn first_valid_format_in_order_wins() {
        let h = [("traceparent", TP), ("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")];
        let e = check(&h, &[Format::TraceContext, Format::B3Single]);
        assert_eq!((ids(&e), e.format), (w3c(), Some(Format::TraceContext)));
        let e = check(&h, &[Format::B3Single, Format::TraceContext]);
        assert_eq!((ids(&e), e.format), (b3(), Some(Format::B3Single)));
        // A format that is not configured is not read.
        let e = check(&h, &[Format::B3Multi]);
        assert_eq!(e, Extracted::default());
    }

    #[test]
    fn invalid_format_falls_through_and_is_flagged() {
        let h = [
            ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"),
            ("x-b3-traceid", B3_TRACE),
            ("x-b3-spanid", B3_SPAN),
            ("x-b3-sampled", "1"),
        ];
        let e = check(&h, ALL);
        assert_eq!((ids(&e), e.format, e.invalid), (b3(), Some(Format::B3Multi), true));
    }

    #[test]
    fn invalid_later_format_is_flagged_even_after_a_context() {
        let e = check(&[("traceparent", TP), ("b3", "garbage")], ALL);
        assert_eq!((ids(&e), e.invalid), (w3c(), true));
    }

    #[test]
    fn invalid_traceparent_ignores_its_tracestate() {
        let e = check(
            &[("traceparent", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), ("tracestate", "foo=1")],
            ALL,
        );
        assert_eq!((e.context, e.invalid, e.tracestate_invalid), (None, true, false));
    }

    #[test]
    fn two_traceparent_fields_are_invalid() {
        let e = check(&[("traceparent", TP), ("traceparent", TP)], ALL);
        assert_eq!((e.context, e.invalid), (None, true));
    }

    #[test]
    fn invalid_tracestate_keeps_the_context() {
        for bad in ["FOO=1", "foo=bar=baz", "foo", "@foo=1"] {
            let e = check(&[("traceparent", TP), ("tracestate", bad)], ALL);
            assert_eq!(ids(&e), w3c(), "{bad:?}");
            assert_eq!(e.context.and_then(|c| c.trace_state), None);
            assert!(e.tracestate_invalid && !e.invalid, "{bad:?}");
        }
        let e = check(&[("traceparent", TP), ("tracestate", " , ")], ALL);
        assert_eq!((e.context.and_then(|c| c.trace_state), e.tracestate_invalid), (None, false));
    }

    #[test]
    fn level_2_tracestate_keys_and_duplicates_keep_the_tracestate() {
        // Level 1 discarded both of these headers whole.
        let e = check(&[("traceparent", TP), ("tracestate", "1vendor@x@y=a,congo=b"), ("tracestate", "congo=c")], ALL);
        let ts = e.context.and_then(|c| c.trace_state).unwrap();
        assert_eq!(ts.header_value(), "1vendor@x@y=a,congo=b");
        assert!(!e.tracestate_invalid);
    }

    #[test]
    fn tracestate_without_traceparent_is_discarded() {
        assert_eq!(check(&[("tracestate", "foo=1")], ALL), Extracted::default());
    }

    #[test]
    fn b3_debug_implies_sampled() {
        let e = check(&[("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-d")], ALL);
        assert_eq!(ids(&e), Some((B3_TRACE.to_owned(), B3_SPAN.to_owned(), 1, true)));
        let e = check(&[("x-b3-traceid", B3_TRACE), ("x-b3-spanid", B3_SPAN), ("x-b3-flags", "1")], ALL);
        assert_eq!(ids(&e), Some((B3_TRACE.to_owned(), B3_SPAN.to_owned(), 1, true)));
    }

    #[test]
    fn b3_deny_and_defer() {
        let e = check(&[("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0")], ALL);
        assert_eq!((ids(&e), e.sampling_deferred), (Some((B3_TRACE.to_owned(), B3_SPAN.to_owned(), 0, false)), false));
        let e = check(&[("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1")], ALL);
        assert_eq!((ids(&e), e.sampling_deferred), (Some((B3_TRACE.to_owned(), B3_SPAN.to_owned(), 0, false)), true));
        assert_eq!(e.context.and_then(|c| c.trace_state), None);
    }

    #[test]
    fn b3_sampling_only() {
        for (h, want) in [
            (("b3", "0"), false),
            (("b3", "1"), true),
            (("b3", "d"), true),
            (("x-b3-sampled", "0"), false),
            (("x-b3-sampled", "true"), true),
            (("x-b3-flags", "1"), true),
        ] {
            let e = check(&[h], ALL);
            assert_eq!((e.context.is_none(), e.sampling_only, e.invalid), (true, Some(want), false), "{h:?}");
        }
        // The first format with a sampling decision keeps it; a context elsewhere is still taken.
        let e = check(&[("b3", "0"), ("x-b3-sampled", "1"), ("traceparent", TP)], ALL);
        assert_eq!((ids(&e), e.sampling_only), (w3c(), Some(false)));
    }

    #[test]
    fn inject_trace_context() {
        let c = ctx(0x01, false, Some("congo=t61rcWkgMzE, rojo=00f067aa0ba902b7"));
        assert_eq!(
            injected(&c, &[Format::TraceContext]),
            [("traceparent", TP.to_owned()), ("tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7".to_owned()),]
        );
        assert_eq!(
            injected(&ctx(0x00, false, None), &[Format::TraceContext]),
            [("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00".to_owned())]
        );
    }

    #[test]
    fn inject_zeroes_unknown_flags_and_debug_sets_sampled() {
        let tp = |flags: &str| format!("00-{TRACE}-{SPAN}-{flags}");
        assert_eq!(injected(&ctx(0xfc, false, None), &[Format::TraceContext])[0].1, tp("00"));
        assert_eq!(injected(&ctx(0xfd, false, None), &[Format::TraceContext])[0].1, TP);
        assert_eq!(injected(&ctx(0x00, true, None), &[Format::TraceContext])[0].1, TP);
    }

    #[test]
    fn inject_sends_the_random_flag() {
        // Level 2 "Random Trace ID Flag": the bit is sent, with or without `sampled`.
        let tp = |flags: &str| format!("00-{TRACE}-{SPAN}-{flags}");
        assert_eq!(injected(&ctx(0x02, false, None), &[Format::TraceContext])[0].1, tp("02"));
        assert_eq!(injected(&ctx(0x03, false, None), &[Format::TraceContext])[0].1, tp("03"));
        assert_eq!(injected(&ctx(0xfe, false, None), &[Format::TraceContext])[0].1, tp("02"));
        assert_eq!(injected(&ctx(0xff, false, None), &[Format::TraceContext])[0].1, tp("03"));
        assert_eq!(injected(&ctx(0x02, true, None), &[Format::TraceContext])[0].1, tp("03"));
        // B3 has no such flag: only the sampling state is sent.
        assert_eq!(injected(&ctx(0x02, false, None), &[Format::B3Single])[0].1, format!("{TRACE}-{SPAN}-0"));
        assert_eq!(injected(&ctx(0x03, false, None), &[Format::B3Single])[0].1, format!("{TRACE}-{SPAN}-1"));
    }

    #[test]
    fn extracted_random_flag_is_injected_unchanged() {
        for flags in ["00", "01", "02", "03"] {
            let tp = format!("00-{TRACE}-{SPAN}-{flags}");
            let c = check(&[("traceparent", tp.as_str())], ALL).context.unwrap();
            assert_eq!(injected(&c, &[Format::TraceContext])[0].1, tp);
        }
    }

    #[test]
    fn inject_truncates_tracestate_to_512() {
        let members: Vec<String> = (0..32).map(|i| format!("k{i:02}={}", "v".repeat(20))).collect();
        let out = injected(&ctx(1, false, Some(&members.join(","))), &[Format::TraceContext]);
        assert_eq!(out[1].0, "tracestate");
        assert!(out[1].1.len() <= 512);
        assert_eq!(out[1].1, members[..20].join(","));
    }

    #[test]
    fn inject_skips_a_tracestate_that_truncates_to_nothing() {
        // The longest member allowed (256-character key and value) alone exceeds 512.
        let ts = format!("{}={}", "k".repeat(256), "v".repeat(256));
        assert_eq!(TraceState::parse([ts.as_str()]).unwrap().unwrap().truncated(512).len(), 0);
        let out = injected(&ctx(1, false, Some(&ts)), &[Format::TraceContext]);
        assert_eq!(out, [("traceparent", TP.to_owned())]);
    }

    #[test]
    fn inject_every_format_once_in_order() {
        let formats = [Format::B3Multi, Format::TraceContext, Format::B3Single, Format::TraceContext];
        let out = injected(&ctx(1, false, None), &formats);
        let names: Vec<&str> = out.iter().map(|(k, _)| *k).collect();
        assert_eq!(names, ["x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "traceparent", "b3"]);
        assert_eq!(out[4].1, format!("{TRACE}-{SPAN}-1"));
        let mut out = vec![("x-existing", String::new())];
        inject(&ctx(0, false, None), &[], &mut out);
        assert_eq!(out.len(), 1);
    }

    fn format() -> impl Strategy<Value = Format> {
        prop_oneof![Just(Format::TraceContext), Just(Format::B3Single), Just(Format::B3Multi)]
    }

    proptest! {
        #[test]
        fn inject_then_extract_round_trips(
            t in any::<[u8; 16]>(), s in any::<[u8; 8]>(), sampled: bool, random: bool, debug: bool, f in format()
        ) {
            if let (Some(trace_id), Some(span_id)) = (TraceId::new(t), SpanId::new(s)) {
                let trace_state = TraceState::parse(["a=1,b@c= 2"]).unwrap();
                let flags = TraceFlags::default().with_sampled(sampled).with_random(random);
                let sent = SpanContext { trace_id, span_id, flags, trace_state, debug };
                let mut out = Vec::new();
                inject(&sent, &[f], &mut out);
                let headers: Vec<(String, String)> = out.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                let e = extract(headers.as_slice(), ALL);
                prop_assert_eq!(e.format, Some(f));
                prop_assert!(!e.invalid && !e.tracestate_invalid && !e.sampling_deferred);
                let got = e.context.unwrap();
                prop_assert_eq!((got.trace_id, got.span_id, got.flags.sampled()), (trace_id, span_id, sampled || debug));
                if f == Format::TraceContext {
                    prop_assert_eq!(got.flags.random(), random);
                    prop_assert_eq!(got.trace_state, sent.trace_state);
                } else {
                    prop_assert!(!got.flags.random(), "B3 carries no random flag");
                    prop_assert_eq!(got.debug, debug);
                }
            }
        }

        #[test]
        fn extract_never_panics(
            pairs in proptest::collection::vec((
                prop_oneof![
                    Just("traceparent".to_owned()), Just("tracestate".to_owned()), Just("b3".to_owned()),
                    Just("x-b3-traceid".to_owned()), Just("x-b3-spanid".to_owned()), Just("x-b3-sampled".to_owned()),
                    Just("x-b3-flags".to_owned()), Just("x-b3-parentspanid".to_owned()),
                ],
                ".{0,70}",
            ), 0..8),
            order in proptest::collection::vec(format(), 0..4),
        ) {
            let e = extract(pairs.as_slice(), &order);
            prop_assert_eq!(e.context.is_some(), e.format.is_some());
        }
    }
}
