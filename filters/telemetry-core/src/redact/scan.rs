//! The value-pattern scanners: bearer tokens, JWTs, email addresses and prefixed tokens (card
//! numbers are in `card.rs`, vendor keys in `keys.rs`). Each works on bytes, matches ASCII only (so every range falls on character boundaries),
//! runs in time linear in the input and allocates only to push a hit.

use super::Kind;
use super::splice::Hit;

/// Shortest first JWT segment (`eyJhIjoxfQ` is `{"a":1}`).
const JWT_MIN_HEADER: usize = 10;
/// Shortest second JWT segment (`e30` is `{}`).
const JWT_MIN_PAYLOAD: usize = 2;
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

/// `local@domain.tld` or `local%40domain.tld`: the whole address is a hit.
pub(super) fn emails(s: &[u8], hits: &mut Vec<Hit>) {
    // Where the current run of local-part bytes started, tracked going forward so that no `@`
    // re-reads the bytes before it (`a%40a%40a%40...` and `@@@...` stay one pass).
    let mut local = 0;
    for (p, &b) in s.iter().enumerate() {
        let at_len = match b {
            b'@' => 1,
            b'%' if at(s, p + 1) == b'4' && at(s, p + 2) == b'0' => 3,
            _ => {
                if !is_email_local(b) {
                    local = p + 1;
                }
                continue;
            }
        };
        let mut start = local.max(p.saturating_sub(EMAIL_MAX_LOCAL));
        if b == b'@' {
            local = p + 1;
        }
        while start < p && at(s, start) == b'.' {
            start += 1;
        }
        if start == p {
            continue;
        }
        // A domain has a first label and a dot: most `@`s fail this cheap test.
        let mut label_end = p + at_len;
        while is_domain_label(at(s, label_end)) {
            label_end += 1;
        }
        if label_end == p + at_len || at(s, label_end) != b'.' {
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
        let label_end = run_end(s, label, is_domain_label).min(limit);
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

fn is_domain_label(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
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
pub(super) fn at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

/// The end of the run of `class` bytes starting at `i`.
pub(super) fn run_end(s: &[u8], i: usize, class: impl Fn(u8) -> bool) -> usize {
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
