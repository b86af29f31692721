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
