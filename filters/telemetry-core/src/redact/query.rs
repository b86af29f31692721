//! Query strings: listed parameters by name, everything else through the value patterns.

use std::borrow::Cow;

use super::splice::Hit;
use super::{Kind, Policy};

/// Lowercased, deduplicated, non-empty parameter names.
pub(super) fn param_names(names: Vec<String>) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        if name.trim().is_empty() {
            return Err(format!("query parameter name {name:?}: must not be empty"));
        }
        let name = name.to_ascii_lowercase();
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

/// The hits in `query` (pairs separated by `&` or `;`): the non-empty value of a listed parameter
/// is one hit; other names and values are searched for value patterns.
pub(super) fn find(policy: &Policy, query: &str, hits: &mut Vec<Hit>) {
    let mut base = 0;
    for pair in query.split(['&', ';']) {
        match pair.split_once('=') {
            Some((name, value)) => {
                let value_start = base + name.len() + 1;
                if is_listed(&policy.query_params, name) {
                    if !value.is_empty() {
                        hits.push(Hit::new(value_start, value_start + value.len(), Kind::QueryParam));
                    }
                } else {
                    encoded(policy, name, base, hits);
                    encoded(policy, value, value_start, hits);
                }
            }
            None => encoded(policy, pair, base, hits),
        }
        base += pair.len() + 1;
    }
}

/// Whether the parameter `raw_name` is listed: compared percent-decoded and ignoring ASCII case,
/// whole or by any bracketed part (`user[password]`, `token[]`).
fn is_listed(listed: &[String], raw_name: &str) -> bool {
    if listed.is_empty() {
        return false;
    }
    let name = decode(raw_name);
    name.split(['[', ']'])
        .map(|part| part.trim_matches(|c: char| c.is_ascii_whitespace()))
        .any(|part| !part.is_empty() && listed.iter().any(|l| l.eq_ignore_ascii_case(part)))
}

/// One percent-encoded name or value at offset `base`, searched decoded (`+` is a space): a pattern
/// in a component that has escapes or `+` (`4111+1111+1111+1111`, `a%40b.com`) makes the whole
/// component one hit, since a decoded range has no exact raw counterpart. A component with nothing
/// to decode is searched as it is, and only the matches are replaced.
fn encoded(policy: &Policy, raw: &str, base: usize, hits: &mut Vec<Hit>) {
    let Cow::Owned(decoded) = decode(raw) else {
        policy.find(raw, base, hits);
        return;
    };
    let mut found = Vec::new();
    policy.find(&decoded, 0, &mut found);
    match found.iter().min_by_key(|h| h.start) {
        Some(first) => hits.push(Hit::new(base, base + raw.len(), first.kind)),
        None => policy.find(raw, base, hits),
    }
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte; a bad escape is
/// kept as it is and invalid UTF-8 becomes U+FFFD. Borrowed when there is nothing to decode.
fn decode(raw: &str) -> Cow<'_, str> {
    if !raw.contains(['%', '+']) {
        return Cow::Borrowed(raw);
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = match (b, bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => Some(hi << 4 | lo),
            _ => None,
        };
        match (b, escaped) {
            (_, Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (_, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}
