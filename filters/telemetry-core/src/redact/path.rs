//! Paths and authorities: the secrets clients put in them besides the query.
//!
//! - Path parameters (RFC 3986 section 3.3: a segment may carry `;name=value` parameters, as Java
//!   servlet containers do with `;jsessionid=...`): the value of a parameter whose name is a listed
//!   query parameter is replaced (`;jsessionid=[REDACTED]`), as it would be in the query; other
//!   names and values go through the value patterns.
//! - Userinfo (RFC 3986 section 3.2.1, `user:password@host`, deprecated in `http` URIs by RFC 9110
//!   section 4.2.4): dropped from the authority, since no output needs it.

use super::splice::Hit;
use super::{Kind, Policy};

/// The hits in `path` (without its query): listed path-parameter values, and value patterns
/// anywhere else.
pub(super) fn find(policy: &Policy, path: &str, hits: &mut Vec<Hit>) {
    let mut base = 0;
    for segment in path.split('/') {
        let mut parts = segment.split(';');
        if let Some(head) = parts.next() {
            policy.find(head, base, hits);
            let mut at = base + head.len() + 1;
            for param in parts {
                match param.split_once('=') {
                    Some((name, value)) if !value.is_empty() && is_listed(&policy.query_params, name) => {
                        let value_start = at + name.len() + 1;
                        hits.push(Hit::new(value_start, value_start + value.len(), Kind::PathParam));
                    }
                    _ => policy.find(param, at, hits),
                }
                at += param.len() + 1;
            }
        }
        base += segment.len() + 1;
    }
}

/// The host of an authority without its userinfo (`admin:secret@example.com:8080` gives
/// `example.com:8080`), and whether there was one.
pub(super) fn without_userinfo(authority: &str) -> (&str, bool) {
    match authority.rsplit_once('@') {
        Some((_, host)) => (host, true),
        None => (authority, false),
    }
}

fn is_listed(listed: &[String], name: &str) -> bool {
    listed.iter().any(|l| l.eq_ignore_ascii_case(name.trim()))
}
