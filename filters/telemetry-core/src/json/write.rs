//! The JSON writing primitives the OTLP encoder and the access-log line need, appending to a `String`.
//!
//! Hand-written so the output is byte-stable (no map ordering, no formatter options) and costs no
//! intermediate allocation. Grammar: RFC 8259 (JSON), sections 6 (numbers) and 7 (strings).

use std::fmt::Write as _;

/// Appends `s` as a JSON string literal, quotes included.
///
/// RFC 8259 section 7: `"` and `\` are escaped, and so is every control character below U+0020.
/// The five with a short form (`\b \f \n \r \t`) use it; the others are written `\u00XX` with
/// lowercase hex. Everything else, non-ASCII UTF-8 included, is copied unchanged: JSON text is
/// UTF-8 (section 8.1), so escaping it would only make the payload bigger.
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    push_escaped(out, s);
    out.push('"');
}

/// Appends `s` escaped as the inside of a JSON string literal (no quotes); see [`push_str`].
pub(crate) fn push_escaped(out: &mut String, s: &str) {
    // Fast path: most values (ids, routes, header values) need no escaping at all.
    if !any_needs_escape(s.as_bytes()) {
        out.push_str(s);
        return;
    }
    let mut safe_from = 0;
    for (i, byte) in s.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // `i` is the index of an ASCII byte, so both slice ends fall on char boundaries.
        out.push_str(s.get(safe_from..i).unwrap_or_default());
        if escape.is_empty() {
            out.push_str("\\u00");
            push_hex_digit(out, byte >> 4);
            push_hex_digit(out, byte & 0x0f);
        } else {
            out.push_str(escape);
        }
        safe_from = i + 1;
    }
    out.push_str(s.get(safe_from..).unwrap_or_default());
}

/// Whether a byte must be escaped in a JSON string (RFC 8259 section 7).
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// Whether any byte of `bytes` must be escaped, eight bytes per step ("SWAR": the classic
/// has-zero-byte and has-less-than tricks on a `u64`, exact as yes/no answers). Every request's
/// log line and span go through here, so this is worth not doing byte by byte.
fn any_needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS != 0;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        // An array conversion compiles to one 8-byte load (`copy_from_slice` stays a call).
        let w = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or_default());
        // A byte below 0x20; a byte equal to `"`; a byte equal to `\`.
        if w.wrapping_sub(ONES * 0x20) & !w & HIGHS != 0
            || has_zero(w ^ (ONES * u64::from(b'"')))
            || has_zero(w ^ (ONES * u64::from(b'\\')))
        {
            return true;
        }
    }
    chunks.remainder().iter().any(|b| needs_escape(*b))
}

/// Appends `n` in decimal, without quotes.
pub(crate) fn push_u64(out: &mut String, mut n: u64) {
    // u64::MAX has 20 decimal digits.
    let mut digits = [0u8; 20];
    let mut len = 0;
    for slot in digits.iter_mut().rev() {
        // The remainder is below 10, so the cast cannot truncate.
        *slot = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // One append for the whole number; the digits are ASCII, so the slice is valid UTF-8.
    let digits = digits.get(digits.len() - len..).unwrap_or_default();
    out.push_str(std::str::from_utf8(digits).unwrap_or_default());
}

/// Appends `n` in decimal, without quotes.
pub(crate) fn push_i64(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    push_u64(out, n.unsigned_abs());
}

/// Appends `n` in decimal inside quotes: the proto3 JSON form of a 64-bit integer.
///
/// Protobuf's JSON mapping writes int64, uint64 and fixed64 as strings because JSON readers
/// commonly parse numbers as IEEE doubles, which hold only 53 bits exactly.
pub(crate) fn push_u64_string(out: &mut String, n: u64) {
    out.push('"');
    push_u64(out, n);
    out.push('"');
}

/// Appends a double as a JSON number, or for NaN and the infinities the strings `"NaN"`,
/// `"Infinity"` and `"-Infinity"`.
///
/// RFC 8259 section 6 has no NaN or infinity; the proto3 JSON mapping defines exactly these
/// three strings for a `double` field, and protobuf JSON parsers accept them, so the value keeps
/// its type instead of being dropped or turned into an attribute of another kind.
///
/// Finite values use Rust's shortest round-trip form (`250.0`, `0.1`, `1e300`, `-0.0`), which
/// is always a valid JSON number.
pub(crate) fn push_f64(out: &mut String, n: f64) {
    if n.is_nan() {
        out.push_str("\"NaN\"");
    } else if n == f64::INFINITY {
        out.push_str("\"Infinity\"");
    } else if n == f64::NEG_INFINITY {
        out.push_str("\"-Infinity\"");
    } else {
        // Writing to a `String` cannot fail.
        let _ = write!(out, "{n:?}");
    }
}

fn push_hex_digit(out: &mut String, nibble: u8) {
    out.push(char::from(b"0123456789abcdef".get(usize::from(nibble)).copied().unwrap_or(b'0')));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_word_at_a_time_check_agrees_with_the_byte_check(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(any_needs_escape(&bytes), bytes.iter().any(|b| needs_escape(*b)));
        }

        /// Printable ASCII, where the only bytes to escape are `"` and `\\`.
        #[test]
        fn quotes_and_backslashes_are_found_anywhere(text in "[ -~]{0,40}") {
            let bytes = text.as_bytes();
            prop_assert_eq!(any_needs_escape(bytes), bytes.iter().any(|b| needs_escape(*b)));
        }
    }

    fn string(s: &str) -> String {
        let mut out = String::new();
        push_str(&mut out, s);
        out
    }

    fn double(n: f64) -> String {
        let mut out = String::new();
        push_f64(&mut out, n);
        out
    }

    #[test]
    fn strings_escape_quotes_backslashes_and_control_characters() {
        assert_eq!(string(""), r#""""#);
        assert_eq!(string("plain"), r#""plain""#);
        assert_eq!(string(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(string(r"C:\path"), r#""C:\\path""#);
        assert_eq!(string("a\nb\rc\td"), r#""a\nb\rc\td""#);
        assert_eq!(string("\u{8}\u{c}"), r#""\b\f""#);
        assert_eq!(string("\u{0}\u{1}\u{1f}"), r#""\u0000\u0001\u001f""#);
        assert_eq!(string("/"), r#""/""#);
        assert_eq!(string("\u{7f}"), "\"\u{7f}\"");
    }

    #[test]
    fn non_ascii_is_kept_as_utf8() {
        assert_eq!(string("café 🦀 \u{2028}"), "\"café 🦀 \u{2028}\"");
        assert_eq!(string("🦀\n🦀"), "\"🦀\\n🦀\"");
    }

    #[test]
    fn integers_are_decimal() {
        let cases: [(i64, &str); 6] = [
            (0, "0"),
            (7, "7"),
            (-1, "-1"),
            (1_700_000_000_000_000_000, "1700000000000000000"),
            (i64::MAX, "9223372036854775807"),
            (i64::MIN, "-9223372036854775808"),
        ];
        for (n, expected) in cases {
            let mut out = String::new();
            push_i64(&mut out, n);
            assert_eq!(out, expected);
        }
        let mut out = String::new();
        push_u64_string(&mut out, u64::MAX);
        assert_eq!(out, r#""18446744073709551615""#);
    }

    #[test]
    fn doubles_are_json_numbers_or_the_proto3_special_strings() {
        assert_eq!(double(250.0), "250.0");
        assert_eq!(double(0.1), "0.1");
        assert_eq!(double(-0.0), "-0.0");
        assert_eq!(double(1e300), "1e300");
        assert_eq!(double(1.5e-7), "1.5e-7");
        assert_eq!(double(f64::NAN), r#""NaN""#);
        assert_eq!(double(f64::INFINITY), r#""Infinity""#);
        assert_eq!(double(f64::NEG_INFINITY), r#""-Infinity""#);
    }

    proptest! {
        #[test]
        fn any_string_round_trips_through_serde_json(s in any::<String>()) {
            let decoded: String = serde_json::from_str(&string(&s)).unwrap();
            prop_assert_eq!(decoded, s);
        }

        #[test]
        fn any_integer_round_trips(n in any::<i64>()) {
            let mut out = String::new();
            push_i64(&mut out, n);
            prop_assert_eq!(out, n.to_string());
        }

        #[test]
        fn any_finite_double_is_a_json_number_that_round_trips(
            n in any::<f64>().prop_filter("finite", |n| n.is_finite())
        ) {
            let text = double(n);
            let decoded: serde_json::Value = serde_json::from_str(&text).unwrap();
            prop_assert!(decoded.is_f64(), "{text} is not a JSON float");
            // serde_json's default float parser is not exact in the last bit; std's is.
            prop_assert_eq!(text.parse::<f64>().unwrap().to_bits(), n.to_bits());
        }
    }
}
