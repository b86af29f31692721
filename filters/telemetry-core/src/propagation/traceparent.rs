//! The W3C `traceparent` request header, and the `traceresponse` response header that shares its
//! shape.
//!
//! W3C Trace Context Level 1, 3.2 "Traceparent Header": the value is
//! `version "-" trace-id "-" parent-id "-" trace-flags`, every field lowercase hex (`HEXDIGLC`).
//! Trace Context Level 2, "Traceresponse Header", uses the same ABNF for version `00`
//! (`trace-id "-" child-id "-" trace-flags`), so [`format_into`] writes both.
//!
//! Parsing is strict about the format and says nothing about why a value was rejected: the spec's
//! answer to every invalid `traceparent` is the same (ignore it, restart the trace, drop its
//! `tracestate`), so the caller only needs to know that it was invalid.

use super::TraceFlags;
use crate::ids::{SpanId, TraceId, decode_hex_lower, hex_fields};

/// The request header name (3.2.1 "Header Name": sent lowercase).
pub const HEADER: &str = "traceparent";

/// The Level 2 response header name ("Traceresponse Header": sent lowercase).
pub const RESPONSE_HEADER: &str = "traceresponse";

/// The length of a version `00` value, and the minimum length of any later version
/// (3.2.4 "Versioning of traceparent").
pub const V00_LEN: usize = 55;

/// Parses a `traceparent` value into its trace-id, parent-id and trace-flags.
///
/// `None` means the header is invalid and must be ignored (3.2.2.3, 3.2.2.4: "vendors MUST ignore
/// the `traceparent`"). The rules:
///
/// - Leading and trailing optional whitespace (space, tab) is not part of an HTTP field value
///   (RFC 9110 5.5), so it is trimmed first.
/// - `version` is two lowercase hex digits followed by `-`; `ff` is forbidden (3.2.2.1).
/// - Version `00` is exactly 55 characters: no trailing data of any kind.
/// - A higher version is parsed with the version `00` layout (3.2.4 "Versioning of
///   traceparent"): at least 55 characters, and when longer the 56th must be `-` (the flags
///   are "either at the end of the string or followed by a dash"). Fields after the flags are
///   not looked at. Only the flags this version defines are kept, `sampled` and Level 2's
///   `random-trace-id` ([`TraceFlags::KNOWN`]), since a later version may give the other bits
///   meanings this version does not know (4.3 step 2.2: "only parse the `trace-flags` values
///   supported by this version").
/// - `trace-id` is 32 and `parent-id` 16 lowercase hex digits, neither all zeros; uppercase hex
///   is invalid (`HEXDIGLC`).
///
/// For version `00` all eight flag bits are returned as received; the caller zeroes the ones it
/// does not know before sending (3.2.2.5.2 "Other Flags").
pub fn parse(value: &str) -> Option<(TraceId, SpanId, TraceFlags)> {
    let value = value.trim_matches([' ', '\t']);
    let bytes = value.as_bytes();
    let version = hex_byte(bytes.get(0..2)?)?;
    match version {
        0xff => return None,
        0x00 if bytes.len() != V00_LEN => return None,
        _ if bytes.len() < V00_LEN => return None,
        _ if bytes.len() > V00_LEN && bytes.get(V00_LEN) != Some(&b'-') => return None,
        _ => {}
    }
    if [2, 35, 52].iter().any(|&at| bytes.get(at) != Some(&b'-')) {
        return None;
    }
    let trace_id = TraceId::from_hex(value.get(3..35)?)?;
    let span_id = SpanId::from_hex(value.get(36..52)?)?;
    let flags = hex_byte(bytes.get(53..55)?)?;
    let flags = if version == 0x00 { flags } else { flags & TraceFlags::KNOWN };
    Some((trace_id, span_id, TraceFlags(flags)))
}

/// Formats a version `00` `traceparent` value: `00-{trace-id}-{parent-id}-{trace-flags}`.
///
/// The version is always `00`, the highest this implementation knows (3.2.4: vendors "MUST use
/// these fields to construct the new `traceparent` field according to the highest version of the
/// specification known to the implementation"). `flags` are written as given.
pub fn format(trace_id: TraceId, span_id: SpanId, flags: TraceFlags) -> String {
    let mut out = String::with_capacity(V00_LEN);
    format_into(&mut out, trace_id, span_id, flags);
    out
}

/// Appends a version `00` value to `out`; the same text as [`format()`], without an allocation
/// of its own.
///
/// Also the value of the Level 2 `traceresponse` header, where `span_id` is the callee's
/// `child-id`.
pub fn format_into(out: &mut String, trace_id: TraceId, span_id: SpanId, flags: TraceFlags) {
    let mut text = [0u8; V00_LEN];
    format_bytes(&mut text, trace_id, span_id, flags);
    // Hex digits and dashes only: valid UTF-8.
    out.push_str(std::str::from_utf8(&text).unwrap_or_default());
}

/// [`format_into`] into a stack buffer: `00-` trace-id `-` parent-id `-` flags.
pub fn format_bytes(text: &mut [u8; V00_LEN], trace_id: TraceId, span_id: SpanId, flags: TraceFlags) {
    *text = *b"00-################################-################-##";
    hex_fields(text, &[(3, &trace_id.to_bytes()), (36, &span_id.to_bytes()), (53, &[flags.0])]);
}

/// Two lowercase hex digits as a byte.
fn hex_byte(pair: &[u8]) -> Option<u8> {
    let mut byte = [0u8; 1];
    decode_hex_lower(pair, &mut byte)?;
    let [value] = byte;
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    /// The only place that calls `parse`: `expected` is `(trace-id, parent-id, flags)` in hex.
    fn check(input: &str, expected: Option<(&str, &str, u8)>) {
        let got = parse(input).map(|(t, s, f)| (t.to_hex(), s.to_hex(), f.0));
        let want = expected.map(|(t, s, f)| (t.to_owned(), s.to_owned(), f));
        assert_eq!(got, want, "input {input:?}");
    }

    #[test]
    fn spec_examples_are_valid() {
        // 3.2.3 "Examples of HTTP traceparent Headers".
        check("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", Some((TRACE, SPAN, 0x01)));
        check("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", Some((TRACE, SPAN, 0x00)));
        // 3.1 "Relationship Between the Headers".
        check(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            Some(("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", 0x01)),
        );
    }

    #[test]
    fn version_00_keeps_every_flag_bit() {
        check("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09", Some((TRACE, SPAN, 0x09)));
        check("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff", Some((TRACE, SPAN, 0xff)));
    }

    #[test]
    fn version_must_be_two_lowercase_hex_digits_and_not_ff() {
        let rest = "-12345678901234567890123456789012-1234567890123456-01";
        for version in ["ff", ".0", "0.", "000", "0000", "0", "", "0A", "FF", "Cc", "g0"] {
            check(&format!("{version}{rest}"), None);
        }
    }

    #[test]
    fn version_00_must_be_exactly_55_characters() {
        // The test suite's test_traceparent_version_0x00: no trailing data, not even a dash.
        check("00-12345678901234567890123456789012-1234567890123456-01.", None);
        check("00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like", None);
        check("00-12345678901234567890123456789012-1234567890123456-01-", None);
        check("00-12345678901234567890123456789012-1234567890123456-0", None);
    }

    #[test]
    fn future_versions_parse_with_the_00_layout() {
        let ids = ("12345678901234567890123456789012", "1234567890123456");
        check("cc-12345678901234567890123456789012-1234567890123456-01", Some((ids.0, ids.1, 1)));
        check(
            "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
            Some((ids.0, ids.1, 1)),
        );
        check("01-12345678901234567890123456789012-1234567890123456-00-", Some((ids.0, ids.1, 0)));
        check("fe-12345678901234567890123456789012-1234567890123456-01-x", Some((ids.0, ids.1, 1)));
        // Extra characters that do not start with a dash.
        check("cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like", None);
        check("cc-12345678901234567890123456789012-1234567890123456-011", None);
        // Shorter than 55 characters.
        check("cc-12345678901234567890123456789012-1234567890123456-1", None);
        // Still lowercase hex, still non-zero ids.
        check("cc-00000000000000000000000000000000-1234567890123456-01-x", None);
        check("cc-12345678901234567890123456789012-123456789012345A-01-x", None);
    }

    #[test]
    fn future_versions_keep_only_the_sampled_and_random_flags() {
        check(
            "cc-12345678901234567890123456789012-1234567890123456-ff",
            Some(("12345678901234567890123456789012", "1234567890123456", 0x03)),
        );
        check(
            "cc-12345678901234567890123456789012-1234567890123456-02-x",
            Some(("12345678901234567890123456789012", "1234567890123456", 0x02)),
        );
        check(
            "cc-12345678901234567890123456789012-1234567890123456-fc-x",
            Some(("12345678901234567890123456789012", "1234567890123456", 0x00)),
        );
    }

    #[test]
    fn level_2_random_flag_is_read() {
        // Trace Context Level 2, "Random Trace ID Flag": `02` and `03` both say random, `01` and
        // `03` both say sampled.
        check("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02", Some((TRACE, SPAN, 0x02)));
        check("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03", Some((TRACE, SPAN, 0x03)));
        let (_, _, flags) = parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03").unwrap();
        assert!(flags.sampled() && flags.random());
        let (_, _, flags) = parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert!(flags.sampled() && !flags.random());
    }

    #[test]
    fn all_zero_ids_are_invalid() {
        check("00-00000000000000000000000000000000-1234567890123456-01", None);
        check("00-12345678901234567890123456789012-0000000000000000-01", None);
    }

    #[test]
    fn uppercase_hex_is_invalid() {
        check("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", None);
        check("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01", None);
        check("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A", None);
        check("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0a", Some((TRACE, SPAN, 0x0a)));
    }

    #[test]
    fn illegal_characters_in_fields_are_invalid() {
        check("00-.2345678901234567890123456789012-1234567890123456-01", None);
        check("00-1234567890123456789012345678901.-1234567890123456-01", None);
        check("00-12345678901234567890123456789012-.234567890123456-01", None);
        check("00-12345678901234567890123456789012-123456789012345.-01", None);
        check("00-12345678901234567890123456789012-1234567890123456-.0", None);
        check("00-12345678901234567890123456789012-1234567890123456-0.", None);
        check("00-12345678901234567890123456789012-1234567890123456-0g", None);
        check("00-1234567890123456789012345678901\u{e9}-1234567890123456-01", None);
    }

    #[test]
    fn wrong_field_lengths_are_invalid() {
        check("00-123456789012345678901234567890123-1234567890123456-01", None);
        check("00-1234567890123456789012345678901-1234567890123456-01", None);
        check("00-12345678901234567890123456789012-12345678901234567-01", None);
        check("00-12345678901234567890123456789012-123456789012345-01", None);
        check("00-12345678901234567890123456789012-1234567890123456-001", None);
        check("00-12345678901234567890123456789012-1234567890123456-1", None);
        check("", None);
        check("00", None);
        check("00-", None);
    }

    #[test]
    fn separators_must_be_dashes_at_their_offsets() {
        check("00_12345678901234567890123456789012-1234567890123456-01", None);
        check("00-12345678901234567890123456789012_1234567890123456-01", None);
        check("00-12345678901234567890123456789012-1234567890123456_01", None);
        check("00 12345678901234567890123456789012 1234567890123456 01", None);
        // Shifted dash: 31 + 17 characters, total still 55.
        check("00-1234567890123456789012345678901-21234567890123456-01", None);
    }

    #[test]
    fn surrounding_ows_is_trimmed_but_inner_whitespace_is_not() {
        let ids = ("12345678901234567890123456789012", "1234567890123456", 1);
        let v = "00-12345678901234567890123456789012-1234567890123456-01";
        for input in [format!(" {v}"), format!("\t{v}"), format!("{v} "), format!("{v}\t"), format!("\t {v} \t")] {
            check(&input, Some(ids));
        }
        check("00- 12345678901234567890123456789012-1234567890123456-01", None);
        check("00-12345678901234567890123456789012-1234567890123456-01\n", None);
    }

    #[test]
    fn format_writes_version_00() {
        let trace = TraceId::from_hex(TRACE).unwrap();
        let span = SpanId::from_hex(SPAN).unwrap();
        assert_eq!(format(trace, span, TraceFlags(1)), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let mut out = String::from("traceresponse: ");
        format_into(&mut out, trace, span, TraceFlags(0));
        assert_eq!(out, "traceresponse: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(t in any::<[u8; 16]>(), s in any::<[u8; 8]>(), f in any::<u8>()) {
            if let (Some(trace), Some(span)) = (TraceId::new(t), SpanId::new(s)) {
                let text = format(trace, span, TraceFlags(f));
                prop_assert_eq!(text.len(), V00_LEN);
                prop_assert_eq!(parse(&text), Some((trace, span, TraceFlags(f))));
            }
        }

        #[test]
        fn parse_never_panics(input in ".{0,80}") {
            let _ = parse(&input);
        }

        #[test]
        fn parse_never_panics_near_the_valid_shape(
            input in "[0-9a-fA-F-]{2}-[0-9a-f.-]{30,34}-[0-9a-f-]{15,17}-[0-9a-f-]{1,4}[ \\t.-]{0,3}"
        ) {
            if let Some((trace, span, _)) = parse(&input) {
                prop_assert!(input.contains(&trace.to_hex()));
                prop_assert!(input.contains(&span.to_hex()));
            }
        }
    }
}
