//! Vendor secrets with a fixed prefix, and PEM private key blocks: one pass over the text that
//! dispatches on the first byte of each prefix (`A`, `g`, `x`, `s`, `r`, `-`), so the cost does
//! not grow with the number of shapes.
//!
//! A key must start a token (it does not follow a letter, digit or `_`) and, where its format has a
//! fixed length, end one: `AKIA` followed by 17 upper-case characters is not an AWS key id.

use super::Kind;
use super::scan::{at, run_end};
use super::splice::Hit;

/// Longest label between `-----BEGIN ` and `-----` (`ENCRYPTED PRIVATE KEY`, `OPENSSH PRIVATE KEY`).
const PEM_MAX_LABEL: usize = 48;

/// The length of a token's body after its prefix.
#[derive(Debug, Clone, Copy)]
enum Body {
    /// Exactly this many bytes of the class, and no more.
    Exactly(usize),
    /// At least this many bytes of the class; the whole run is the key.
    AtLeast(usize),
}

/// A prefixed key format.
struct Shape {
    prefix: &'static [u8],
    body: Body,
    class: fn(u8) -> bool,
    kind: Kind,
}

/// The prefixed formats, by first byte of the prefix.
const SHAPES: &[Shape] = &[
    // AWS access key ids: `AKIA` (long-term) or `ASIA` (temporary, STS) and 16 upper-case letters or
    // digits (IAM User Guide, "Understanding unique ID prefixes").
    Shape { prefix: b"AKIA", body: Body::Exactly(16), class: is_upper_alnum, kind: Kind::AwsKeyId },
    Shape { prefix: b"ASIA", body: Body::Exactly(16), class: is_upper_alnum, kind: Kind::AwsKeyId },
    // Google Cloud API keys: `AIza` and 35 characters of `[0-9A-Za-z_-]` (39 in all).
    Shape { prefix: b"AIza", body: Body::Exactly(35), class: is_base64url, kind: Kind::GcpApiKey },
    // GitHub tokens ("Behind GitHub's new authentication token formats", 2021): `ghp_` personal,
    // `gho_` OAuth, `ghu_` user-to-server, `ghs_` server-to-server, `ghr_` refresh, each with 36
    // alphanumerics; fine-grained personal tokens `github_pat_` and 82 of `[0-9A-Za-z_]`.
    Shape { prefix: b"ghp_", body: Body::Exactly(36), class: is_alnum, kind: Kind::GithubToken },
    Shape { prefix: b"gho_", body: Body::Exactly(36), class: is_alnum, kind: Kind::GithubToken },
    Shape { prefix: b"ghu_", body: Body::Exactly(36), class: is_alnum, kind: Kind::GithubToken },
    Shape { prefix: b"ghs_", body: Body::Exactly(36), class: is_alnum, kind: Kind::GithubToken },
    Shape { prefix: b"ghr_", body: Body::Exactly(36), class: is_alnum, kind: Kind::GithubToken },
    Shape { prefix: b"github_pat_", body: Body::Exactly(82), class: is_word, kind: Kind::GithubToken },
    // Slack tokens: `xoxb-` bot, `xoxp-` user, `xoxa-` app, `xoxr-` refresh, `xoxs-` session, then
    // dash-separated groups of alphanumerics (Slack API docs, "Token types").
    Shape { prefix: b"xoxa-", body: Body::AtLeast(10), class: is_alnum_dash, kind: Kind::SlackToken },
    Shape { prefix: b"xoxb-", body: Body::AtLeast(10), class: is_alnum_dash, kind: Kind::SlackToken },
    Shape { prefix: b"xoxp-", body: Body::AtLeast(10), class: is_alnum_dash, kind: Kind::SlackToken },
    Shape { prefix: b"xoxr-", body: Body::AtLeast(10), class: is_alnum_dash, kind: Kind::SlackToken },
    Shape { prefix: b"xoxs-", body: Body::AtLeast(10), class: is_alnum_dash, kind: Kind::SlackToken },
    // Stripe live secret keys `sk_live_` and restricted keys `rk_live_`, 24 or more alphanumerics
    // (Stripe docs, "API keys"; test keys `sk_test_` are not secrets).
    Shape { prefix: b"sk_live_", body: Body::AtLeast(24), class: is_alnum, kind: Kind::StripeKey },
    Shape { prefix: b"rk_live_", body: Body::AtLeast(24), class: is_alnum, kind: Kind::StripeKey },
];

/// Whether `three` bytes are the first three of a prefix or of PEM's `-----`: text without any of
/// them cannot hold a key and is not scanned.
pub(super) fn starts_key(three: &[u8]) -> bool {
    matches!(
        three,
        b"AKI"
            | b"ASI"
            | b"AIz"
            | b"ghp"
            | b"gho"
            | b"ghu"
            | b"ghs"
            | b"ghr"
            | b"git"
            | b"xox"
            | b"sk_"
            | b"rk_"
            | b"---"
    )
}

/// Every vendor key and PEM private key block in `s`.
pub(super) fn find(s: &[u8], hits: &mut Vec<Hit>) {
    let mut i = 0;
    while let Some(offset) = s.get(i..).and_then(|t| t.iter().position(|&b| is_first_byte(b))) {
        i += offset;
        let b = at(s, i);
        let end = match b {
            b'-' => pem(s, i),
            // The second byte of a prefix rules out most letters before the table is read.
            b'A' | b'g' | b'x' | b's' | b'r'
                if matches!(
                    (b, at(s, i + 1)),
                    (b'A', b'K' | b'S' | b'I') | (b'g', b'h' | b'i') | (b'x', b'o') | (b's' | b'r', b'k')
                ) && (i == 0 || !is_word(at(s, i - 1))) =>
            {
                prefixed(s, i, hits)
            }
            _ => None,
        };
        match end {
            Some(end) if b == b'-' => {
                hits.push(Hit::new(i, end, Kind::PrivateKey));
                i = end;
            }
            Some(end) => i = end,
            None => i += 1,
        }
    }
}

/// The key starting at `i`, pushed; returns its end.
fn prefixed(s: &[u8], i: usize, hits: &mut Vec<Hit>) -> Option<usize> {
    let tail = s.get(i..)?;
    let shape = SHAPES.iter().find(|shape| tail.starts_with(shape.prefix))?;
    let body = i + shape.prefix.len();
    let end = run_end(s, body, shape.class);
    let ok = match shape.body {
        Body::Exactly(n) => end - body == n,
        Body::AtLeast(n) => end - body >= n,
    };
    // A longer token of the same class, or one that goes on with other word bytes, is not the key.
    if !ok || is_word(at(s, end)) {
        return None;
    }
    hits.push(Hit::new(i, end, shape.kind));
    Some(end)
}

/// A PEM private key block starting at `i` (`-----BEGIN RSA PRIVATE KEY-----` ... `-----END RSA
/// PRIVATE KEY-----`, RFC 7468): its end. Without an end line the rest of the text is the block.
/// Certificates and public keys are not secrets and are kept.
fn pem(s: &[u8], i: usize) -> Option<usize> {
    let after_begin = label_end(s, i, b"-----BEGIN")?;
    let mut from = after_begin;
    while let Some(p) = find_from(s, from, b"-----END") {
        if let Some(end) = label_end(s, p, b"-----END") {
            return Some(end);
        }
        from = p + 1;
    }
    Some(s.len())
}

/// After `marker` at `i`: a label naming a private key (`RSA PRIVATE KEY`) and `-----`; the end of
/// that `-----`. The label may be separated by spaces, `+` or `%20` (a URL-encoded header).
fn label_end(s: &[u8], i: usize, marker: &[u8]) -> Option<usize> {
    if !s.get(i..)?.starts_with(marker) {
        return None;
    }
    let label_start = i + marker.len();
    let window = s.get(label_start..s.len().min(label_start + PEM_MAX_LABEL + 5))?;
    let close = window.windows(5).position(|w| w == b"-----")?;
    let label = window.get(..close)?;
    let private = label.windows(7).any(|w| w == b"PRIVATE") && label.ends_with(b"KEY");
    private.then_some(label_start + close + 5)
}

/// The first `needle` in `s` at or after `from`.
fn find_from(s: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let tail = s.get(from..)?;
    tail.windows(needle.len()).position(|w| w == needle).map(|p| from + p)
}

fn is_upper_alnum(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn is_alnum_dash(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The first bytes of the prefixes and of `-----BEGIN`.
fn is_first_byte(b: u8) -> bool {
    matches!(b, b'A' | b'g' | b'x' | b's' | b'r' | b'-')
}
