//! Header values with structure: URLs inside them and W3C `baggage` members.
//!
//! - Every URL in a header value (`referer`, `origin`, `location`, `content-location`, `link`,
//!   `x-original-url`, or any other header: found by its `scheme://`) gets the rules a request gets:
//!   userinfo replaced (RFC 3986 section 3.2.1), the query's listed parameters replaced (the query
//!   rules of [`super::query`]). The URL ends at whitespace, `"`, `'`, `<`, `>` or `#`.
//! - W3C Baggage (<https://www.w3.org/TR/baggage/>, section 3.3.1: `key=value;properties`, members
//!   separated by `,`): a member whose key has a listed query-parameter name as one of its parts
//!   (`user.password`, `session_id`, `auth-token`) has its value replaced.

use super::splice::Hit;
use super::{Kind, Policy, query};

/// The hits of URLs in `value`.
pub(super) fn urls(policy: &Policy, value: &str, hits: &mut Vec<Hit>) {
    let mut from = 0;
    while let Some(found) = value.get(from..).and_then(|rest| rest.find("://")) {
        let scheme_end = from + found;
        let authority_start = scheme_end + 3;
        let rest = value.get(authority_start..).unwrap_or("");
        let url_len = rest.find(|c: char| c.is_ascii_whitespace() || "\"'<>#".contains(c)).unwrap_or(rest.len());
        let url = rest.get(..url_len).unwrap_or("");
        let authority_len = url.find(['/', '?']).unwrap_or(url.len());
        let authority = url.get(..authority_len).unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            hits.push(Hit::new(authority_start, authority_start + userinfo.len(), Kind::Userinfo));
        }
        if let Some(q) = url.find('?') {
            let query_start = authority_start + q + 1;
            let mut found = Vec::new();
            query::find(policy, url.get(q + 1..).unwrap_or(""), &mut found);
            hits.extend(found.into_iter().map(|h| Hit::new(h.start + query_start, h.end + query_start, h.kind)));
        }
        from = authority_start + url_len.max(1);
    }
}

/// The hits of sensitive members in a `baggage` value.
pub(super) fn baggage(policy: &Policy, value: &str, hits: &mut Vec<Hit>) {
    let mut base = 0;
    for member in value.split(',') {
        let pair = member.split(';').next().unwrap_or("");
        if let Some((key, raw)) = pair.split_once('=') {
            let sensitive = key
                .trim()
                .split(['.', '_', '-'])
                .any(|part| !part.is_empty() && policy.query_params.iter().any(|l| l.eq_ignore_ascii_case(part)));
            let leading = raw.len() - raw.trim_start().len();
            let val = raw.trim();
            if sensitive && !val.is_empty() {
                let start = base + key.len() + 1 + leading;
                hits.push(Hit::new(start, start + val.len(), Kind::QueryParam));
            }
        }
        base += member.len() + 1;
    }
}

/// Headers whose value is a list of client addresses (`x-forwarded-for` and friends).
const ADDRESS_HEADERS: [&str; 6] =
    ["x-forwarded-for", "x-real-ip", "x-client-ip", "true-client-ip", "cf-connecting-ip", "x-original-forwarded-for"];

/// Whether `name` is a header whose value lists client addresses ([`ADDRESS_HEADERS`], or RFC
/// 7239 `forwarded`).
pub(super) fn is_address_header(name: &str) -> bool {
    name.eq_ignore_ascii_case("forwarded") || ADDRESS_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// The hits in an address header: every entry that is not an address is replaced, since a
/// client can put anything there (an opaque token, a session id) and the header is logged as an
/// address. Kept: IPv4 and IPv6 addresses with or without a port (`[v6]:port`), `unknown`, and
/// RFC 7239 obfuscated identifiers (`_hidden`). In `forwarded` (`for=...;proto=...;by=...`),
/// the `for` and `by` values are checked; the other parameters are kept.
pub(super) fn addresses(name: &str, value: &str, hits: &mut Vec<Hit>) {
    let forwarded = name.eq_ignore_ascii_case("forwarded");
    let mut base = 0;
    for element in value.split(',') {
        if forwarded {
            let mut at = base;
            for pair in element.split(';') {
                if let Some((key, raw)) = pair.split_once('=') {
                    let key = key.trim();
                    if key.eq_ignore_ascii_case("for") || key.eq_ignore_ascii_case("by") {
                        check(raw.trim_matches('"'), at + key_offset(pair, raw), raw, hits);
                    }
                }
                at += pair.len() + 1;
            }
        } else {
            check(element.trim(), base, element, hits);
        }
        base += element.len() + 1;
    }
}

/// The offset of `raw` (the part after `=`) inside `pair`.
fn key_offset(pair: &str, raw: &str) -> usize {
    pair.len() - raw.len()
}

/// A hit over `raw` (at `at`) unless `entry` is an address.
fn check(entry: &str, at: usize, raw: &str, hits: &mut Vec<Hit>) {
    if entry.is_empty() || is_address(entry) {
        return;
    }
    let leading = raw.len() - raw.trim_start().len();
    let start = at + leading;
    hits.push(Hit::new(start, start + raw.trim().len(), Kind::NotAnAddress));
}

/// `192.0.2.1`, `192.0.2.1:443`, `2001:db8::1`, `[2001:db8::1]:443`, `unknown`, `_hidden`.
fn is_address(entry: &str) -> bool {
    use std::net::{IpAddr, SocketAddr};
    if entry.eq_ignore_ascii_case("unknown") {
        return true;
    }
    if let Some(rest) = entry.strip_prefix('_') {
        return !rest.is_empty()
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            && rest.len() <= 32;
    }
    entry.parse::<IpAddr>().is_ok() || entry.parse::<SocketAddr>().is_ok() || {
        let v6 = entry.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
        v6.is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok())
    }
}
