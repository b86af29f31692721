//! The value-pattern scanners: bearer tokens, JWTs, card numbers, email addresses and prefixed
//! tokens. Each works on bytes, matches ASCII only (so every range falls on character boundaries),
//! runs in time linear in the input and allocates only to push a hit.

use super::Kind;
use super::splice::Hit;

/// Shortest first JWT segment (`eyJhIjoxfQ` is `{"a":1}`).
const JWT_MIN_HEADER: usize = 10;
/// Shortest second JWT segment (`e30` is `{}`).
const JWT_MIN_PAYLOAD: usize = 2;
/// Card numbers have 13 to 19 digits (ISO/IEC 7812).
pub(super) const CARD_MIN_DIGITS: usize = 13;
const CARD_MAX_DIGITS: usize = 19;
/// Longest local part (RFC 5321 4.5.3.1.1) and domain (4.5.3.1.2) of an email address.
const EMAIL_MAX_LOCAL: usize = 64;
const EMAIL_MAX_DOMAIN: usize = 255;

/// `Bearer` (any case), a separator (spaces, tabs, `+`, `%20`), then a token: the token is a hit.
pub(super) fn bearer(s: &[u8], hits: &mut Vec<Hit>) {
    // A token that starts inside the previous token ends where it ends: remembering that end keeps
    // `Bearer+Bearer+Bearer+...` linear.
    let mut token_end = 0;
    let mut from = 0;
    while let Some(p) = find_ignore_case(s, from, b"bearer") {
        from = p + 1;
        let token_start = skip_separator(s, p + b"bearer".len());
        if token_start == p + b"bearer".len() || !is_token_byte(at(s, token_start)) {
            continue;
        }
        if token_start >= token_end {
            token_end = run_end(s, token_start, is_token_byte);
        }
        hits.push(Hit::new(token_start, token_end, Kind::Bearer));
    }
}

/// Three or more base64url segments separated by dots, the first starting `eyJ` (`{"`).
pub(super) fn jwt(s: &[u8], hits: &mut Vec<Hit>) {
    let mut from = 0;
    while let Some(p) = find(s, from, b"eyJ") {
        // A later `eyJ` in the same first segment can only give a shorter match, and one inside a
        // match only a part of it: skipping them keeps the scan linear.
        let header_end = run_end(s, p, is_base64url);
        from = header_end.max(p + 1);
        if header_end - p < JWT_MIN_HEADER || at(s, header_end) != b'.' {
            continue;
        }
        let payload_end = run_end(s, header_end + 1, is_base64url);
        if payload_end - (header_end + 1) < JWT_MIN_PAYLOAD || at(s, payload_end) != b'.' {
            continue;
        }
        // The signature may be empty (unsecured JWT); JWE compact serialisation has five segments.
        let mut end = run_end(s, payload_end + 1, is_base64url);
        while at(s, end) == b'.' && is_base64url(at(s, end + 1)) {
            end = run_end(s, end + 1, is_base64url);
        }
        hits.push(Hit::new(p, end, Kind::Jwt));
        from = end;
    }
}

/// 13 to 19 digits passing the Luhn check, possibly in groups separated by one space or dash.
///
/// Digit runs separated by exactly one separator form a chain; every span of whole runs in a
/// chain with 13 to 19 digits is a candidate, so `qty 2 4111 1111 1111 1111` still finds the card.
/// A candidate spans at most 19 runs, so only the last 19 runs are kept (no allocation).
pub(super) fn card_numbers(s: &[u8], hits: &mut Vec<Hit>) {
    let mut runs = [(0usize, 0usize); CARD_MAX_DIGITS];
    let mut kept = 0;
    let mut i = 0;
    while i < s.len() {
        if !at(s, i).is_ascii_digit() {
            i += 1;
            continue;
        }
        let end = run_end(s, i, |b| b.is_ascii_digit());
        if end - i > CARD_MAX_DIGITS {
            kept = 0;
        } else {
            if kept == runs.len() {
                runs.copy_within(1.., 0);
                kept -= 1;
            }
            if let Some(slot) = runs.get_mut(kept) {
                *slot = (i, end);
                kept += 1;
            }
            card_candidates_ending_last(s, runs.get(..kept).unwrap_or(&[]), hits);
        }
        let chained = matches!(at(s, end), b' ' | b'-') && at(s, end + 1).is_ascii_digit();
        if !chained {
            kept = 0;
        }
        i = end;
    }
}

/// Every candidate made of the last runs of `runs` (a chain, oldest first) that passes Luhn. The
/// Luhn sum runs from the rightmost digit, which all these candidates share: one backward pass
/// checks them all.
fn card_candidates_ending_last(s: &[u8], runs: &[(usize, usize)], hits: &mut Vec<Hit>) {
    let Some(&(_, end)) = runs.last() else { return };
    let mut digits = 0;
    let mut sum = 0u32;
    for &(start, run_end) in runs.iter().rev() {
        for &b in s.get(start..run_end).unwrap_or(&[]).iter().rev() {
            let d = u32::from(b.saturating_sub(b'0'));
            sum += if digits % 2 == 1 { luhn_double(d) } else { d };
            digits += 1;
        }
        if digits > CARD_MAX_DIGITS {
            break;
        }
        if digits >= CARD_MIN_DIGITS && sum.is_multiple_of(10) {
            hits.push(Hit::new(start, end, Kind::CardNumber));
        }
    }
}

/// A doubled digit of the Luhn check: the sum of the digits of `2 × d`.
fn luhn_double(d: u32) -> u32 {
    if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
}

/// `local@domain.tld` or `local%40domain.tld`: the whole address is a hit.
pub(super) fn emails(s: &[u8], hits: &mut Vec<Hit>) {
    for p in 0..s.len() {
        let at_len = match at(s, p) {
            b'@' => 1,
            b'%' if at(s, p + 1) == b'4' && at(s, p + 2) == b'0' => 3,
            _ => continue,
        };
        // The local part is read backwards and bounded, so `a%40a%40a%40...` stays linear.
        let mut start = p;
        while start > 0 && p - start < EMAIL_MAX_LOCAL && is_email_local(at(s, start - 1)) {
            start -= 1;
        }
        while start < p && at(s, start) == b'.' {
            start += 1;
        }
        if start == p {
            continue;
        }
        if let Some(end) = email_domain_end(s, p + at_len) {
            hits.push(Hit::new(start, end, Kind::Email));
        }
    }
}

/// The end of the longest domain at `start`: at least two labels of letters, digits and `-`, the
/// last starting with two letters (`example.com`, `mail.example.co.uk`; not `localhost`, not
/// `10.0.0.1`). Trailing labels that cannot end a domain are left out (`example.com.1`).
fn email_domain_end(s: &[u8], start: usize) -> Option<usize> {
    let limit = start.saturating_add(EMAIL_MAX_DOMAIN).min(s.len());
    let mut label = start;
    let mut labels = 0;
    let mut end = None;
    loop {
        let label_end = run_end(s, label, |b| b.is_ascii_alphanumeric() || b == b'-').min(limit);
        if label_end == label {
            return end;
        }
        labels += 1;
        if labels >= 2 && at(s, label).is_ascii_alphabetic() && at(s, label + 1).is_ascii_alphabetic() {
            end = Some(label_end);
        }
        if at(s, label_end) != b'.' || label_end >= limit {
            return end;
        }
        label = label_end + 1;
    }
}

/// `prefix` followed by at least one token byte, `min_len` bytes or more in all.
pub(super) fn prefixed(s: &[u8], prefix: &[u8], min_len: usize, kind: Kind, hits: &mut Vec<Hit>) {
    let mut token_end = 0;
    let mut from = 0;
    while let Some(p) = find(s, from, prefix) {
        from = p + 1;
        let tail = p + prefix.len();
        if tail >= token_end {
            token_end = run_end(s, tail, is_token_byte);
        }
        if token_end > tail && token_end - p >= min_len {
            hits.push(Hit::new(p, token_end, kind));
        }
    }
}

/// Bytes of a bearer or prefixed token: RFC 6750 `b64token` and `%` (a percent-encoded token).
pub(super) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=' | b'%')
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// The conservative subset of RFC 5322 `atext` for local parts (no `=`, so `email=a@b.c` keeps
/// `email=`); `%` lets `a%40b.c` and encoded local parts match.
fn is_email_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

/// Spaces, tabs, `+` and `%20` after `Bearer`.
fn skip_separator(s: &[u8], mut i: usize) -> usize {
    loop {
        match at(s, i) {
            b' ' | b'\t' | b'+' => i += 1,
            b'%' if at(s, i + 1) == b'2' && at(s, i + 2) == b'0' => i += 3,
            _ => return i,
        }
    }
}

/// The byte at `i`, or 0 past the end (0 is in no pattern's alphabet).
fn at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

/// The end of the run of `class` bytes starting at `i`.
fn run_end(s: &[u8], i: usize, class: impl Fn(u8) -> bool) -> usize {
    let tail = s.get(i..).unwrap_or(&[]);
    i + tail.iter().position(|&b| !class(b)).unwrap_or(tail.len())
}

/// The first occurrence of `needle` in `s` at or after `from`.
fn find(s: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let tail = s.get(from..)?;
    let mut i = 0;
    while let Some(offset) = tail.get(i..)?.iter().position(|&b| b == first) {
        let p = i + offset;
        if tail.get(p..)?.starts_with(needle) {
            return Some(from + p);
        }
        i = p + 1;
    }
    None
}

/// [`find`] ignoring ASCII case; `needle` is lowercase.
fn find_ignore_case(s: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let tail = s.get(from..)?;
    let mut i = 0;
    while let Some(offset) = tail.get(i..)?.iter().position(|&b| b.to_ascii_lowercase() == first) {
        let p = i + offset;
        if tail.get(p..p + needle.len()).is_some_and(|w| w.eq_ignore_ascii_case(needle)) {
            return Some(from + p);
        }
        i = p + 1;
    }
    None
}
