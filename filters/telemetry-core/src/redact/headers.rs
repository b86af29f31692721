//! Denied headers keep their shape: the authorization scheme, cookie names, `set-cookie` attributes.

use super::splice::Hit;
use super::{Kind, Policy};

/// Authorization schemes kept in front of `[REDACTED]`: the IANA HTTP Authentication Scheme
/// Registry and a few common unregistered ones. An unknown first word may be a secret itself, so
/// it is not kept.
const SCHEMES: &[&str] = &[
    "Basic",
    "Bearer",
    "Concealed",
    "Digest",
    "DPoP",
    "GNAP",
    "HOBA",
    "Mutual",
    "Negotiate",
    "NTLM",
    "OAuth",
    "PrivateToken",
    "SCRAM-SHA-1",
    "SCRAM-SHA-256",
    "vapid",
    "AWS4-HMAC-SHA256",
    "ApiKey",
    "Token",
];

/// The hits that redact the denied header `name` (any case).
pub(super) fn denied(policy: &Policy, name: &str, value: &str, hits: &mut Vec<Hit>) {
    if name.eq_ignore_ascii_case("authorization") || name.eq_ignore_ascii_case("proxy-authorization") {
        authorization(value, hits);
    } else if name.eq_ignore_ascii_case("cookie") {
        cookies(policy, value, hits);
    } else if name.eq_ignore_ascii_case("set-cookie") {
        set_cookie(policy, value, hits);
    } else if !value.is_empty() {
        hits.push(Hit::new(0, value.len(), Kind::Header));
    }
}

/// `Scheme credentials`: the credentials are a hit; the scheme is kept if it is a known one.
fn authorization(value: &str, hits: &mut Vec<Hit>) {
    let trimmed = value.trim_start();
    let (scheme, after) = trimmed.split_once([' ', '\t']).unwrap_or((trimmed, ""));
    let credentials = after.trim_start();
    if SCHEMES.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
        if !credentials.is_empty() {
            hits.push(Hit::new(value.len() - credentials.len(), value.len(), Kind::Header));
        }
    } else if !trimmed.is_empty() {
        hits.push(Hit::new(0, value.len(), Kind::Header));
    }
}

/// `a=1; b=2`: every non-empty value (or a bare `value` without a name) is a hit; names go through
/// the value patterns.
fn cookies(policy: &Policy, value: &str, hits: &mut Vec<Hit>) {
    let mut start = 0;
    for piece in value.split(';') {
        cookie(policy, piece, start, hits);
        start += piece.len() + 1;
    }
}

/// `id=abc; Path=/; HttpOnly`: the first value is a hit; the attributes go through the value
/// patterns.
fn set_cookie(policy: &Policy, value: &str, hits: &mut Vec<Hit>) {
    let first_len = value.find(';').unwrap_or(value.len());
    cookie(policy, value.get(..first_len).unwrap_or(value), 0, hits);
    if let Some(attributes) = value.get(first_len..) {
        policy.find(attributes, first_len, hits);
    }
}

/// One `name=value` pair at offset `base`.
fn cookie(policy: &Policy, pair: &str, base: usize, hits: &mut Vec<Hit>) {
    let lead = pair.len() - pair.trim_start().len();
    let pair = pair.trim();
    if pair.is_empty() {
        return;
    }
    let start = base + lead;
    match pair.split_once('=') {
        Some((name, cookie_value)) => {
            policy.find(name, start, hits);
            if !cookie_value.is_empty() {
                hits.push(Hit::new(start + name.len() + 1, start + pair.len(), Kind::Cookie));
            }
        }
        None => hits.push(Hit::new(start, start + pair.len(), Kind::Cookie)),
    }
}

/// Headers that carry request and trace ids (lowercase).
const ID_HEADERS: &[&str] =
    &["x-request-id", "x-correlation-id", "traceparent", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "b3"];
/// The longest id kept whole (a `traceparent` is 55 bytes, a `b3` header at most 68).
const ID_MAX_LEN: usize = 128;

/// Whether `value` of header `name` is a well-formed id: in a request or trace id header, groups of
/// hex digits separated by single dashes (a UUID, a hex id, `traceparent`, `b3`), at most
/// [`ID_MAX_LEN`] bytes. Such a value is kept whole: its digits are an id, never a card number.
pub(super) fn is_id(name: &str, value: &str) -> bool {
    ID_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) && is_id_value(value)
}

/// Groups of hex digits separated by single dashes, at most [`ID_MAX_LEN`] bytes: one pass, no
/// empty group (no dash first, last, or after a dash).
pub(super) fn is_id_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > ID_MAX_LEN {
        return false;
    }
    let mut after_dash = true;
    for &b in bytes {
        if b == b'-' {
            if after_dash {
                return false;
            }
            after_dash = true;
        } else if b.is_ascii_hexdigit() {
            after_dash = false;
        } else {
            return false;
        }
    }
    !after_dash
}
