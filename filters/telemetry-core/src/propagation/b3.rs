//! B3 propagation (openzipkin `b3-propagation` README): the single `b3` header and the multiple
//! `x-b3-*` headers.
//!
//! Decisions where the README leaves room:
//!
//! - Hex must be lowercase. The README says "lower-hex" for every identifier, and Brave, the
//!   reference implementation, rejects uppercase; accepting it would also make one id have two
//!   spellings, unlike the W3C ids this proxy turns them into.
//! - A 64-bit trace id (16 hex characters) is left-padded with zeros to 128 bits, and an id whose
//!   high half is zero is sent back as 16 characters, as Brave and Envoy do, so a 64-bit trace
//!   stays 64-bit downstream.
//! - All-zero trace, span and parent span ids are invalid (the W3C rule; B3 has no valid use for
//!   them).
//! - `x-b3-sampled` accepts `1` and `0`, and the legacy `true` and `false` in any case ("a lenient
//!   implementation may accept them"). Any other value makes the headers invalid.
//! - `x-b3-flags: 1` is debug; any other `x-b3-flags` value is ignored, as Brave does, since no
//!   other flag was ever defined ("Why is Debug encoded as `X-B3-Flags: 1`?").
//! - A present but malformed `x-b3-parentspanid` makes the headers invalid, as in Envoy.
//! - Leading and trailing optional whitespace is trimmed from every value (RFC 9110 5.5).

use super::{HeaderLookup, SpanContext};
use crate::ids::{SpanId, TraceId, decode_hex_lower};

/// The single header ("Single Header").
pub const SINGLE_HEADER: &str = "b3";
/// "Multiple Headers": the trace id, 16 or 32 lower-hex characters.
pub const TRACE_ID_HEADER: &str = "x-b3-traceid";
/// "Multiple Headers": the span id, 16 lower-hex characters.
pub const SPAN_ID_HEADER: &str = "x-b3-spanid";
/// "Multiple Headers": the parent span id, absent on a root span.
pub const PARENT_SPAN_ID_HEADER: &str = "x-b3-parentspanid";
/// "Multiple Headers": `1` accept, `0` deny, absent defer.
pub const SAMPLED_HEADER: &str = "x-b3-sampled";
/// "Multiple Headers": `1` is debug.
pub const FLAGS_HEADER: &str = "x-b3-flags";

/// A B3 sampling state other than Defer, which is the absence of one ("Sampling State").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    /// Don't record (`0`).
    Deny,
    /// Record (`1`).
    Accept,
    /// Force recording (`d`, or `x-b3-flags: 1`); implies Accept.
    Debug,
}

/// Trace identifiers read from B3 headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct B3Context {
    /// 128 bits; a 64-bit id is left-padded with zeros.
    pub trace_id: TraceId,
    /// The sender's span id.
    pub span_id: SpanId,
    /// The sender's parent, when it sent one.
    pub parent_span_id: Option<SpanId>,
    /// `None` is Defer: the sender left the decision to the receiver.
    pub sampling: Option<Sampling>,
}

/// What one B3 encoding carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// Trace and span ids, with an optional sampling state.
    Context(B3Context),
    /// A sampling state without ids (`b3: 0`, `b3: 1`, `b3: d`, or `x-b3-sampled` / `x-b3-flags`
    /// alone).
    SamplingOnly(Sampling),
    /// Headers were present but malformed.
    Invalid,
}

/// The result of [`parse_single`].
pub type B3Single = Parsed;

/// Parses a `b3` value: `{TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]]`, or a sampling
/// state alone ("Single Header").
pub fn parse_single(value: &str) -> B3Single {
    let value = trim_ows(value);
    if let Some(sampling) = sampling_state(value) {
        return Parsed::SamplingOnly(sampling);
    }
    single_context(value).map_or(Parsed::Invalid, Parsed::Context)
}

/// Reads the `x-b3-*` headers; `None` when none of them is present.
///
/// The first value of each header wins ("When extracting state headers, the first value wins").
/// The trace and span ids must come together; without both, a sampling state alone is
/// [`Parsed::SamplingOnly`] and anything else is [`Parsed::Invalid`].
pub fn parse_multi(headers: &(impl HeaderLookup + ?Sized)) -> Option<Parsed> {
    let get = |name| headers.get(name).map(trim_ows);
    let trace_id = get(TRACE_ID_HEADER);
    let span_id = get(SPAN_ID_HEADER);
    let parent = get(PARENT_SPAN_ID_HEADER);
    let sampled = get(SAMPLED_HEADER);
    let flags = get(FLAGS_HEADER);
    if [trace_id, span_id, parent, sampled, flags].iter().all(Option::is_none) {
        return None;
    }
    let Some(sampling) = multi_sampling(sampled, flags) else {
        return Some(Parsed::Invalid);
    };
    let parsed = match (trace_id, span_id) {
        (Some(trace_id), Some(span_id)) => {
            multi_context(trace_id, span_id, parent, sampling).map_or(Parsed::Invalid, Parsed::Context)
        }
        (None, None) => match (parent, sampling) {
            (None, Some(sampling)) => Parsed::SamplingOnly(sampling),
            _ => Parsed::Invalid,
        },
        _ => Parsed::Invalid,
    };
    Some(parsed)
}

/// The `b3` value for `ctx`: `{TraceId}-{SpanId}-{SamplingState}`.
///
/// The sampling state is always sent (`d` for debug, else `1` or `0` from the sampled flag):
/// this proxy has decided by the time it injects. The ParentSpanId field is left out: `ctx`
/// holds the proxy's own span id but not its parent, and the field is optional.
pub fn inject_single(ctx: &SpanContext) -> String {
    let mut out = String::with_capacity(32 + 1 + 16 + 2);
    push_trace_id(&mut out, ctx.trace_id);
    out.push('-');
    ctx.span_id.write_hex(&mut out);
    out.push('-');
    out.push(match state_of(ctx) {
        Sampling::Deny => '0',
        Sampling::Accept => '1',
        Sampling::Debug => 'd',
    });
    out
}

/// Appends the `x-b3-*` headers for `ctx`: trace id, span id, and `x-b3-sampled` or, for
/// debug, `x-b3-flags: 1` alone ("Debug implies an accept decision, so don't also send the
/// `X-B3-Sampled` header").
///
/// `x-b3-parentspanid` is not written: `ctx` holds the proxy's own span id but not its parent,
/// and the README lets a child span omit it ("may be present").
pub fn inject_multi(ctx: &SpanContext, out: &mut Vec<(&'static str, String)>) {
    let mut trace_id = String::with_capacity(32);
    push_trace_id(&mut trace_id, ctx.trace_id);
    out.push((TRACE_ID_HEADER, trace_id));
    out.push((SPAN_ID_HEADER, ctx.span_id.to_hex()));
    match state_of(ctx) {
        Sampling::Debug => out.push((FLAGS_HEADER, "1".to_owned())),
        Sampling::Accept => out.push((SAMPLED_HEADER, "1".to_owned())),
        Sampling::Deny => out.push((SAMPLED_HEADER, "0".to_owned())),
    }
}

/// A single-header sampling state: `0`, `1` or `d`.
fn sampling_state(value: &str) -> Option<Sampling> {
    match value {
        "0" => Some(Sampling::Deny),
        "1" => Some(Sampling::Accept),
        "d" => Some(Sampling::Debug),
        _ => None,
    }
}

/// The ids (and optional state and parent) of a `b3` value; `None` when malformed.
fn single_context(value: &str) -> Option<B3Context> {
    let mut fields = value.split('-');
    let trace_id = trace_id(fields.next()?)?;
    let span_id = SpanId::from_hex(fields.next()?)?;
    let sampling = match fields.next() {
        Some(state) => Some(sampling_state(state)?),
        None => None,
    };
    let parent_span_id = match fields.next() {
        Some(parent) => Some(SpanId::from_hex(parent)?),
        None => None,
    };
    if fields.next().is_some() {
        return None;
    }
    Some(B3Context { trace_id, span_id, parent_span_id, sampling })
}

/// The sampling state of the multiple headers; `None` when `x-b3-sampled` is malformed,
/// `Some(None)` for Defer.
fn multi_sampling(sampled: Option<&str>, flags: Option<&str>) -> Option<Option<Sampling>> {
    let sampled = match sampled {
        None => None,
        Some("1") => Some(Sampling::Accept),
        Some("0") => Some(Sampling::Deny),
        Some(s) if s.eq_ignore_ascii_case("true") => Some(Sampling::Accept),
        Some(s) if s.eq_ignore_ascii_case("false") => Some(Sampling::Deny),
        Some(_) => return None,
    };
    Some(if flags == Some("1") { Some(Sampling::Debug) } else { sampled })
}

/// The context of the multiple headers; `None` when an id is malformed.
fn multi_context(trace: &str, span: &str, parent: Option<&str>, sampling: Option<Sampling>) -> Option<B3Context> {
    let parent_span_id = match parent {
        Some(parent) => Some(SpanId::from_hex(parent)?),
        None => None,
    };
    Some(B3Context { trace_id: trace_id(trace)?, span_id: SpanId::from_hex(span)?, parent_span_id, sampling })
}

/// A 128-bit (32 characters) or 64-bit (16 characters, left-padded) lower-hex trace id.
fn trace_id(hex: &str) -> Option<TraceId> {
    match hex.len() {
        32 => TraceId::from_hex(hex),
        16 => {
            let mut bytes = [0u8; 16];
            decode_hex_lower(hex.as_bytes(), bytes.get_mut(8..)?)?;
            TraceId::new(bytes)
        }
        _ => None,
    }
}

/// Writes a trace id as 16 characters when its high half is zero, else 32.
fn push_trace_id(out: &mut String, trace_id: TraceId) {
    let hex = trace_id.to_hex();
    let short = hex.strip_prefix("0000000000000000").unwrap_or(&hex);
    out.push_str(short);
}

/// The sampling state `ctx` sends: debug implies accept.
fn state_of(ctx: &SpanContext) -> Sampling {
    if ctx.debug {
        Sampling::Debug
    } else if ctx.flags.sampled() {
        Sampling::Accept
    } else {
        Sampling::Deny
    }
}

fn trim_ows(value: &str) -> &str {
    value.trim_matches([' ', '\t'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::propagation::TraceFlags;
    use proptest::prelude::*;

    const T128: &str = "80f198ee56343ba864fe8b2a57d3eff7";
    const T64: &str = "463ac35c9f6413ad";
    const SPAN: &str = "e457b5a2e4d86bd1";
    const PARENT: &str = "05e3ac9a4f6e3b90";

    fn ctx(trace: &str, span: &str, parent: Option<&str>, sampling: Option<Sampling>) -> Parsed {
        let trace_id = if trace.len() == 16 { format!("0000000000000000{trace}") } else { trace.to_owned() };
        Parsed::Context(B3Context {
            trace_id: TraceId::from_hex(&trace_id).unwrap(),
            span_id: SpanId::from_hex(span).unwrap(),
            parent_span_id: parent.map(|p| SpanId::from_hex(p).unwrap()),
            sampling,
        })
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect()
    }

    fn multi(pairs: &[(&str, &str)]) -> Option<Parsed> {
        parse_multi(headers(pairs).as_slice())
    }

    fn span_context(trace: &str, sampled: bool, debug: bool) -> SpanContext {
        SpanContext {
            trace_id: TraceId::from_hex(trace).unwrap(),
            span_id: SpanId::from_hex(SPAN).unwrap(),
            flags: TraceFlags::default().with_sampled(sampled),
            trace_state: None,
            debug,
        }
    }

    #[test]
    fn single_readme_examples() {
        let full = format!("{T128}-{PARENT}-1-{SPAN}");
        assert_eq!(parse_single(&full), ctx(T128, PARENT, Some(SPAN), Some(Sampling::Accept)));
        assert_eq!(parse_single(&format!("{T128}-{PARENT}-1")), ctx(T128, PARENT, None, Some(Sampling::Accept)));
        assert_eq!(parse_single(&format!("{T128}-{PARENT}-d")), ctx(T128, PARENT, None, Some(Sampling::Debug)));
        assert_eq!(parse_single(&format!("{T128}-{PARENT}")), ctx(T128, PARENT, None, None));
        assert_eq!(parse_single("0"), Parsed::SamplingOnly(Sampling::Deny));
        assert_eq!(parse_single("1"), Parsed::SamplingOnly(Sampling::Accept));
        assert_eq!(parse_single("d"), Parsed::SamplingOnly(Sampling::Debug));
        assert_eq!(parse_single(" d\t"), Parsed::SamplingOnly(Sampling::Debug));
    }

    #[test]
    fn single_64_bit_trace_ids_are_left_padded() {
        let parsed = parse_single(&format!("{T64}-{SPAN}-0"));
        assert_eq!(parsed, ctx(T64, SPAN, None, Some(Sampling::Deny)));
        let Parsed::Context(c) = parsed else { unreachable!() };
        assert_eq!(c.trace_id.to_hex(), format!("0000000000000000{T64}"));
    }

    #[test]
    fn single_malformed_values_are_invalid() {
        for value in [
            "",
            "2",
            "D",
            "true",
            "0-",
            T128,
            &format!("{T128}-"),
            &format!("{T128}-{SPAN}-"),
            &format!("{T128}-{SPAN}-x"),
            &format!("{T128}-{SPAN}-D"),
            &format!("{T128}-{SPAN}-true"),
            &format!("{T128}-{SPAN}-1-"),
            &format!("{T128}-{SPAN}-1-{PARENT}-extra"),
            &format!("{T128}-{SPAN}-1-0000000000000000"),
            &format!("{T128}-{SPAN}-{PARENT}"),
            &format!("{}-{SPAN}", T128.to_uppercase()),
            &format!("{T128}-{}", SPAN.to_uppercase()),
            &format!("{}-{SPAN}", &T128[..31]),
            &format!("{}-{SPAN}", &T128[..24]),
            &format!("{T128}-{}", &SPAN[..15]),
            &format!("00000000000000000000000000000000-{SPAN}"),
            &format!("0000000000000000-{SPAN}"),
            &format!("{T128}-0000000000000000-1"),
            &format!("{T128}_{SPAN}"),
        ] {
            assert_eq!(parse_single(value), Parsed::Invalid, "{value:?}");
        }
    }

    #[test]
    fn multi_readme_example() {
        let h = [("x-b3-traceid", T128), ("x-b3-parentspanid", PARENT), ("x-b3-spanid", SPAN), ("x-b3-sampled", "1")];
        assert_eq!(multi(&h), Some(ctx(T128, SPAN, Some(PARENT), Some(Sampling::Accept))));
    }

    #[test]
    fn multi_ids_and_sampling_states() {
        assert_eq!(multi(&[("x-b3-traceid", T64), ("x-b3-spanid", SPAN)]), Some(ctx(T64, SPAN, None, None)));
        let with = |sampled: &str| multi(&[("x-b3-traceid", T64), ("x-b3-spanid", SPAN), ("x-b3-sampled", sampled)]);
        assert_eq!(with("0"), Some(ctx(T64, SPAN, None, Some(Sampling::Deny))));
        assert_eq!(with("1"), Some(ctx(T64, SPAN, None, Some(Sampling::Accept))));
        assert_eq!(with("true"), Some(ctx(T64, SPAN, None, Some(Sampling::Accept))));
        assert_eq!(with("True"), Some(ctx(T64, SPAN, None, Some(Sampling::Accept))));
        assert_eq!(with("false"), Some(ctx(T64, SPAN, None, Some(Sampling::Deny))));
        assert_eq!(with(" 1 "), Some(ctx(T64, SPAN, None, Some(Sampling::Accept))));
        for bad in ["d", "2", "yes", ""] {
            assert_eq!(with(bad), Some(Parsed::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn multi_debug_flag() {
        let h = [("x-b3-traceid", T128), ("x-b3-spanid", SPAN), ("x-b3-flags", "1")];
        assert_eq!(multi(&h), Some(ctx(T128, SPAN, None, Some(Sampling::Debug))));
        // Debug overrides a deny: it implies accept.
        let h = [("x-b3-traceid", T128), ("x-b3-spanid", SPAN), ("x-b3-sampled", "0"), ("x-b3-flags", "1")];
        assert_eq!(multi(&h), Some(ctx(T128, SPAN, None, Some(Sampling::Debug))));
        // Other flag values are ignored.
        let h = [("x-b3-traceid", T128), ("x-b3-spanid", SPAN), ("x-b3-sampled", "1"), ("x-b3-flags", "0")];
        assert_eq!(multi(&h), Some(ctx(T128, SPAN, None, Some(Sampling::Accept))));
    }

    #[test]
    fn multi_sampling_only() {
        assert_eq!(multi(&[("x-b3-sampled", "0")]), Some(Parsed::SamplingOnly(Sampling::Deny)));
        assert_eq!(multi(&[("x-b3-sampled", "1")]), Some(Parsed::SamplingOnly(Sampling::Accept)));
        assert_eq!(multi(&[("x-b3-flags", "1")]), Some(Parsed::SamplingOnly(Sampling::Debug)));
        assert_eq!(multi(&[("x-b3-flags", "0")]), Some(Parsed::Invalid));
        assert_eq!(multi(&[("x-b3-parentspanid", PARENT), ("x-b3-sampled", "1")]), Some(Parsed::Invalid));
    }

    #[test]
    fn multi_absent_and_malformed() {
        assert_eq!(multi(&[]), None);
        assert_eq!(multi(&[("b3", "1"), ("x-b3", "1")]), None);
        for h in [
            vec![("x-b3-traceid", T128)],
            vec![("x-b3-spanid", SPAN)],
            vec![("x-b3-traceid", T128), ("x-b3-sampled", "1")],
            vec![("x-b3-traceid", &T128[..30]), ("x-b3-spanid", SPAN)],
            vec![("x-b3-traceid", "00000000000000000000000000000000"), ("x-b3-spanid", SPAN)],
            vec![("x-b3-traceid", "0000000000000000"), ("x-b3-spanid", SPAN)],
            vec![("x-b3-traceid", T128), ("x-b3-spanid", "0000000000000000")],
            vec![("x-b3-traceid", "463AC35C9F6413AD"), ("x-b3-spanid", SPAN)],
            vec![("x-b3-traceid", T128), ("x-b3-spanid", SPAN), ("x-b3-parentspanid", "x")],
            vec![("x-b3-traceid", T128), ("x-b3-spanid", SPAN), ("x-b3-sampled", "maybe")],
        ] {
            assert_eq!(multi(&h), Some(Parsed::Invalid), "{h:?}");
        }
    }

    #[test]
    fn multi_first_value_wins() {
        let h = [("x-b3-traceid", T128), ("x-b3-spanid", SPAN), ("x-b3-sampled", "0"), ("x-b3-sampled", "1")];
        assert_eq!(multi(&h), Some(ctx(T128, SPAN, None, Some(Sampling::Deny))));
    }

    #[test]
    fn inject_single_writes_the_state() {
        let full = "463ac35c9f6413ad48485a3953bb6124";
        assert_eq!(inject_single(&span_context(full, true, false)), format!("{full}-{SPAN}-1"));
        assert_eq!(inject_single(&span_context(full, false, false)), format!("{full}-{SPAN}-0"));
        assert_eq!(inject_single(&span_context(full, false, true)), format!("{full}-{SPAN}-d"));
        let short = format!("0000000000000000{T64}");
        assert_eq!(inject_single(&span_context(&short, true, false)), format!("{T64}-{SPAN}-1"));
    }

    #[test]
    fn inject_multi_writes_sampled_or_debug() {
        let mut out = Vec::new();
        inject_multi(&span_context(T128, true, false), &mut out);
        assert_eq!(
            out,
            [("x-b3-traceid", T128.to_owned()), ("x-b3-spanid", SPAN.to_owned()), ("x-b3-sampled", "1".to_owned()),]
        );
        let mut out = Vec::new();
        inject_multi(&span_context(&format!("0000000000000000{T64}"), false, true), &mut out);
        assert_eq!(
            out,
            [("x-b3-traceid", T64.to_owned()), ("x-b3-spanid", SPAN.to_owned()), ("x-b3-flags", "1".to_owned()),]
        );
    }

    proptest! {
        #[test]
        fn inject_then_parse_round_trips(t in any::<[u8; 16]>(), sampled: bool, debug: bool) {
            if let Some(trace_id) = TraceId::new(t) {
                let c = SpanContext { trace_id, ..span_context(T128, sampled, debug) };
                let want = Some(if debug { Sampling::Debug } else if sampled { Sampling::Accept } else { Sampling::Deny });
                let Parsed::Context(single) = parse_single(&inject_single(&c)) else { panic!("single") };
                prop_assert_eq!((single.trace_id, single.span_id, single.sampling), (c.trace_id, c.span_id, want));
                let mut out = Vec::new();
                inject_multi(&c, &mut out);
                let h: Vec<(String, String)> = out.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                let Some(Parsed::Context(m)) = parse_multi(h.as_slice()) else { panic!("multi") };
                prop_assert_eq!((m.trace_id, m.span_id, m.sampling), (c.trace_id, c.span_id, want));
            }
        }

        #[test]
        fn parse_single_never_panics(value in ".{0,80}") {
            let _ = parse_single(&value);
        }

        #[test]
        fn parse_single_never_panics_near_the_shape(value in "[0-9a-fA-F]{14,33}(-[0-9a-f]{15,17}(-[01dD]{0,2}(-[0-9a-f]{0,17})?)?)?") {
            let _ = parse_single(&value);
        }

        #[test]
        fn parse_multi_never_panics(values in proptest::collection::vec(".{0,40}", 5)) {
            let names = [TRACE_ID_HEADER, SPAN_ID_HEADER, PARENT_SPAN_ID_HEADER, SAMPLED_HEADER, FLAGS_HEADER];
            let h: Vec<(String, String)> = names.iter().zip(&values).map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
            let _ = parse_multi(h.as_slice());
        }
    }
}
