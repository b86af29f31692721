//! One redaction policy for every output: log fields, span attributes and metric label values.
//!
//! A [`Policy`] is configured once and every value the module emits goes through it:
//! - [`Policy::header`] for a request or response header. Denied headers keep their shape:
//!   `Authorization: Bearer abc` becomes `Bearer [REDACTED]` (a known scheme is kept), cookies keep
//!   their names (`a=[REDACTED]; b=[REDACTED]`), `set-cookie` keeps its name and attributes, and any
//!   other denied header becomes `[REDACTED]`. With an allow list, a header that is not allowed does
//!   not appear at all.
//! - [`Policy::query`] for a query string: the values of listed parameters are replaced, names are
//!   kept (matched percent-decoded and case-insensitively).
//! - [`Policy::text`] for everything else (paths, user agents, log fields, label values): value
//!   patterns are replaced wherever they occur inside the text.
//!
//! Value patterns are hand-written scanners, each one linear in the length of the text, and none of
//! them allocates when nothing matches (the result is then [`Cow::Borrowed`]):
//! - bearer tokens: `Bearer` (any case) and a separator (spaces, tabs, `+` or `%20`), then a token;
//!   the scheme and separator are kept, the token is replaced;
//! - JWTs: three or more base64url segments separated by dots, the first starting `eyJ` and at least
//!   10 characters long, the second at least 2 (the signature may be empty, as in unsecured JWTs);
//! - card numbers: 13 to 19 digits passing the Luhn check, starting in an issuer's range, as one
//!   run or in groups joined by one space or one dash, and not part of a longer token (see
//!   `redact/card.rs`): UUIDs, hex ids, timestamps and order numbers are not cards;
//! - email addresses: `local@domain.tld` (also `local%40domain.tld`), ASCII only, with at least two
//!   domain labels and a last label that starts with two letters;
//! - always on, whatever [`Patterns`] says: AWS access key ids, Google Cloud API keys, GitHub,
//!   Slack and Stripe live tokens, and PEM private key blocks (see `redact/keys.rs`).
//!
//! In request and trace id headers (`x-request-id`, `traceparent`, `x-b3-*`, ...) a value made of
//! dash-separated hex groups is an id and is kept whole by [`Policy::header`].
//!
//! Matches are merged when they overlap or touch and each merged range is replaced by [`REDACTED`]
//! once; [`Counts`] counts replacements by [`Kind`] (the kind of the match that starts first).
//!
//! # Custom patterns: regex-lite, measured
//!
//! The issue asked for configurable regexes, or a cheaper matcher if a regex engine is too big for
//! the module. Measured with rustc 1.95 for `wasm32-wasip1`, release profile as the module's
//! (`opt-level = "s"`, LTO, one codegen unit, `panic = "abort"`, stripped), calling `Regex::new` and
//! `replace_all` on run-time input; scratch cdylibs, and `edge_telemetry.wasm` at commit `348f1fa`
//! compiling a regex from its plugin configuration in `on_configure`:
//!
//! | build | `.wasm` bytes | added |
//! |---|---:|---:|
//! | empty cdylib | 114 | |
//! | cdylib using `str::replace` and `format!` | 40,635 | +40,521 |
//! | cdylib + `regex` 1.13.2 (`default-features = false, features = ["std"]`) | 320,974 | +320,860 |
//! | cdylib + `regex-lite` 0.1.9 | 104,721 | +104,607 |
//! | `edge_telemetry.wasm` (before this module) | 449,562 | |
//! | `edge_telemetry.wasm` + `regex` | 746,260 | +296,698 (+66%) |
//! | `edge_telemetry.wasm` + `regex-lite` | 518,880 | +69,318 (+15%) |
//!
//! Against an empty cdylib regex-lite costs 102 KiB, but 40 KiB of that is the standard library's
//! string and formatting code, which the module links anyway: in the real module it adds 68 KiB,
//! under the 100 KB budget, where `regex` would add 290 KiB. So [`CustomPattern::Regex`]
//! uses regex-lite (same syntax as `regex`, no Unicode classes, `O(pattern × text)` search, slower
//! than `regex` since it has no literal optimisations). Patterns are limited in length and compiled
//! size, and a pattern that matches the empty string is refused. For the common case of
//! a vendor key format (`sk_live_...`, `ghp_...`, `xoxb-...`) the cheaper
//! [`CustomPattern::Prefix`] matcher is a plain linear scan and should be preferred.

use std::borrow::Cow;

mod card;
#[cfg(test)]
mod corpus;
mod custom;
mod headers;
mod keys;
mod path;
#[cfg(test)]
mod proptests;
mod query;
mod scan;
mod splice;
mod structured;
#[cfg(test)]
mod tests;

/// What a redaction replaced, for the `meshlens_redactions_total{kind}` counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The value of a denied header (`authorization`, `x-api-key`, ...).
    Header,
    /// A cookie value in `cookie` or `set-cookie`.
    Cookie,
    /// The value of a listed query parameter.
    QueryParam,
    /// The token after `Bearer `.
    Bearer,
    /// A JSON Web Token.
    Jwt,
    /// A payment card number.
    CardNumber,
    /// An email address.
    Email,
    /// A configured [`CustomPattern`].
    Custom,
    /// The value of a listed parameter in a path segment (`;jsessionid=...`).
    PathParam,
    /// Credentials in an authority (`user:password@host`).
    Userinfo,
    /// Something other than an address in a header of client addresses (`x-forwarded-for`).
    NotAnAddress,
    /// An AWS access key id (`AKIA`/`ASIA` and 16 upper-case letters or digits).
    AwsKeyId,
    /// A Google Cloud API key (`AIza` and 35 of `[0-9A-Za-z_-]`).
    GcpApiKey,
    /// A GitHub token (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` and 36 alphanumerics; `github_pat_`
    /// and 82 of `[0-9A-Za-z_]`).
    GithubToken,
    /// A Slack token (`xoxa-`, `xoxb-`, `xoxp-`, `xoxr-`, `xoxs-` and at least 10 more).
    SlackToken,
    /// A Stripe live secret or restricted key (`sk_live_`, `rk_live_` and 24 or more alphanumerics).
    StripeKey,
    /// A PEM private key block (`-----BEGIN ... PRIVATE KEY-----` to its `-----END` line).
    PrivateKey,
}

/// Per-kind counts of redactions made (the module reports deltas as counters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    by_kind: [u64; Kind::ALL.len()],
}

/// What replaces every redacted value.
pub const REDACTED: &str = "[REDACTED]";

/// Headers denied by [`Policy::default_policy`]; with an allow list, these are still redacted when
/// allowed.
pub const DEFAULT_DENY_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "x-auth-token",
    "x-access-token",
    "x-refresh-token",
    "x-session-token",
    "x-csrf-token",
    "x-xsrf-token",
    "x-amz-security-token",
    "x-goog-api-key",
    "x-vault-token",
];

/// Query parameters whose values [`Policy::default_policy`] redacts.
pub const DEFAULT_QUERY_PARAMS: &[&str] = &[
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "jwt",
    "auth",
    "password",
    "passwd",
    "pwd",
    "secret",
    "client_secret",
    "api_key",
    "apikey",
    "key",
    "private_token",
    "signature",
    "sig",
    "code",
    "session",
    "session_id",
    "sessionid",
    "jsessionid",
    "phpsessid",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "x-goog-signature",
    "x-goog-credential",
];

/// The compiled policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    headers: HeaderRule,
    query_params: Vec<String>,
    patterns: Patterns,
    custom: Vec<custom::Matcher>,
}

/// Which headers may appear, and which are redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderRule {
    /// Every header may appear; these (lowercase names) have their values redacted.
    Deny(Vec<String>),
    /// Only these headers (lowercase names) may appear. Those among [`DEFAULT_DENY_HEADERS`] still
    /// have their values redacted.
    Allow(Vec<String>),
}

/// Which value patterns [`Policy::text`] looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patterns {
    pub bearer: bool,
    pub jwt: bool,
    pub card_numbers: bool,
    pub emails: bool,
}

/// A configured custom pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomPattern {
    /// A regular expression in regex-lite syntax (the `regex` crate's syntax without Unicode
    /// classes). Every match is replaced; if the pattern has a group named `secret`, only that
    /// group is (`api[_-]key: (?<secret>\w+)` keeps `api_key: `). At most
    /// [`CustomPattern::MAX_REGEX_LEN`] bytes, and it must not match the empty string.
    Regex(String),
    /// A token starting with `prefix` (case-sensitive) and running up to the next delimiter (a
    /// character other than ASCII letters, digits and `-._~+/=%`), at least `min_len` bytes long
    /// in all and with at least one byte after the prefix. `{"prefix": "sk_live_", "min_len": 20}`.
    Prefix { prefix: String, min_len: usize },
}

impl Kind {
    /// Every kind, in the order of [`Counts::iter`].
    pub const ALL: [Kind; 17] = [
        Kind::Header,
        Kind::Cookie,
        Kind::QueryParam,
        Kind::Bearer,
        Kind::Jwt,
        Kind::CardNumber,
        Kind::Email,
        Kind::Custom,
        Kind::PathParam,
        Kind::Userinfo,
        Kind::NotAnAddress,
        Kind::AwsKeyId,
        Kind::GcpApiKey,
        Kind::GithubToken,
        Kind::SlackToken,
        Kind::StripeKey,
        Kind::PrivateKey,
    ];

    /// The `kind` label value.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Header => "header",
            Kind::Cookie => "cookie",
            Kind::QueryParam => "query_param",
            Kind::Bearer => "bearer",
            Kind::Jwt => "jwt",
            Kind::CardNumber => "card_number",
            Kind::Email => "email",
            Kind::Custom => "custom",
            Kind::PathParam => "path_param",
            Kind::Userinfo => "userinfo",
            Kind::NotAnAddress => "not_an_address",
            Kind::AwsKeyId => "aws_key_id",
            Kind::GcpApiKey => "gcp_api_key",
            Kind::GithubToken => "github_token",
            Kind::SlackToken => "slack_token",
            Kind::StripeKey => "stripe_key",
            Kind::PrivateKey => "private_key",
        }
    }
}

impl Counts {
    /// Counts one redaction of kind `k`.
    pub fn add(&mut self, k: Kind) {
        if let Some(count) = self.by_kind.get_mut(k as usize) {
            *count = count.saturating_add(1);
        }
    }

    /// The number of redactions of kind `k`.
    pub fn get(&self, k: Kind) -> u64 {
        self.by_kind.get(k as usize).copied().unwrap_or(0)
    }

    /// Every kind with its count (zero included), in the order of [`Kind::ALL`].
    pub fn iter(&self) -> impl Iterator<Item = (Kind, u64)> {
        Kind::ALL.into_iter().map(|k| (k, self.get(k)))
    }

    /// The number of redactions of all kinds.
    pub fn total(&self) -> u64 {
        self.by_kind.iter().fold(0u64, |sum, c| sum.saturating_add(*c))
    }
}

impl Patterns {
    /// Every value pattern on.
    pub const ALL: Patterns = Patterns { bearer: true, jwt: true, card_numbers: true, emails: true };
    /// No value pattern.
    pub const NONE: Patterns = Patterns { bearer: false, jwt: false, card_numbers: false, emails: false };
}

impl CustomPattern {
    /// The longest accepted [`CustomPattern::Regex`], in bytes.
    pub const MAX_REGEX_LEN: usize = 1024;
}

impl Default for Policy {
    fn default() -> Self {
        Self::default_policy()
    }
}

impl Policy {
    /// Sensible defaults: deny [`DEFAULT_DENY_HEADERS`], redact [`DEFAULT_QUERY_PARAMS`], all value
    /// patterns on, no custom pattern.
    pub fn default_policy() -> Self {
        Self {
            headers: HeaderRule::Deny(DEFAULT_DENY_HEADERS.iter().map(|s| (*s).to_owned()).collect()),
            query_params: DEFAULT_QUERY_PARAMS.iter().map(|s| (*s).to_owned()).collect(),
            patterns: Patterns::ALL,
            custom: Vec::new(),
        }
    }

    /// Validates and compiles a policy. Header and parameter names are lowercased and deduplicated;
    /// an empty name, a header name that is not an HTTP token, or a bad custom pattern is an error
    /// naming it (`custom pattern 2: ...`).
    pub fn new(
        headers: HeaderRule,
        query_params: Vec<String>,
        patterns: Patterns,
        custom: Vec<CustomPattern>,
    ) -> Result<Self, String> {
        let headers = match headers {
            HeaderRule::Deny(names) => HeaderRule::Deny(header_names(names)?),
            HeaderRule::Allow(names) => HeaderRule::Allow(header_names(names)?),
        };
        let query_params = query::param_names(query_params)?;
        let custom = custom
            .iter()
            .enumerate()
            .map(|(i, p)| custom::Matcher::compile(p).map_err(|e| format!("custom pattern {i}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { headers, query_params, patterns, custom })
    }

    /// A header value as it may appear in any output. `None`: the header must not appear at all
    /// (allow-list mode, not allowed). Denied headers keep their shape (see the module docs);
    /// other headers go through [`Policy::text`].
    pub fn header<'a>(&self, name: &str, value: &'a str, counts: &mut Counts) -> Option<Cow<'a, str>> {
        let shaped = match &self.headers {
            HeaderRule::Deny(denied) => contains_ignore_case(denied, name),
            HeaderRule::Allow(allowed) => {
                if !contains_ignore_case(allowed, name) {
                    return None;
                }
                DEFAULT_DENY_HEADERS.iter().any(|d| d.eq_ignore_ascii_case(name))
            }
        };
        if !shaped {
            if headers::is_id(name, value) {
                return Some(Cow::Borrowed(value));
            }
            return Some(self.header_value(name, value, counts));
        }
        let mut hits = Vec::new();
        headers::denied(self, name, value, &mut hits);
        Some(splice::apply(value, hits, counts))
    }

    /// A query string (without `?`): the values of listed parameters are replaced
    /// (`token=[REDACTED]`), names kept; other names and values go through [`Policy::text`]
    /// (a percent-encoded value in which a pattern appears once decoded is replaced whole).
    pub fn query<'a>(&self, query: &'a str, counts: &mut Counts) -> Cow<'a, str> {
        let mut hits = Vec::new();
        query::find(self, query, &mut hits);
        splice::apply(query, hits, counts)
    }

    /// The value of a header that is not denied: the URLs in it and `baggage` members get the
    /// request's rules (userinfo, listed query parameters), entries of address headers that are
    /// not addresses are replaced (see [`structured`]), then everything goes through the value
    /// patterns. Borrowed when nothing matches.
    fn header_value<'a>(&self, name: &str, value: &'a str, counts: &mut Counts) -> Cow<'a, str> {
        let baggage = name.eq_ignore_ascii_case("baggage");
        let addresses = structured::is_address_header(name);
        if !baggage && !addresses && !value.contains("://") {
            return self.text(value, counts);
        }
        // Value patterns first: a replacement that both find is counted under the pattern's kind.
        let mut hits = Vec::new();
        self.find(value, 0, &mut hits);
        if baggage {
            structured::baggage(self, value, &mut hits);
        }
        if addresses {
            structured::addresses(name, value, &mut hits);
        }
        structured::urls(self, value, &mut hits);
        splice::apply(value, hits, counts)
    }

    /// A path without its query: listed path-parameter values replaced (`;jsessionid=[REDACTED]`),
    /// everything else through the value patterns, as [`Policy::text`]. Borrowed when nothing
    /// matches.
    pub fn path<'a>(&self, path: &'a str, counts: &mut Counts) -> Cow<'a, str> {
        if !path.contains(';') {
            return self.text(path, counts);
        }
        let mut hits = Vec::new();
        path::find(self, path, &mut hits);
        splice::apply(path, hits, counts)
    }

    /// An authority (`host:port`) without userinfo: `user:password@` is dropped and counted.
    pub fn authority<'a>(&self, authority: &'a str, counts: &mut Counts) -> &'a str {
        let (host, had_userinfo) = path::without_userinfo(authority);
        if had_userinfo {
            counts.add(Kind::Userinfo);
        }
        host
    }

    /// A request id (`x-request-id`) as a log field: kept whole when it is an id (hex groups
    /// separated by dashes, as [`Policy::header`] keeps it in that header), else [`Policy::text`].
    /// Envoy's UUIDs, every request's, then cost no scan.
    pub fn request_id<'a>(&self, value: &'a str, counts: &mut Counts) -> Cow<'a, str> {
        if headers::is_id_value(value) {
            return Cow::Borrowed(value);
        }
        self.text(value, counts)
    }

    /// Free text (paths, user agents, header values, log fields, metric label values): value
    /// patterns replaced where they occur inside the text. Borrowed, without allocating, when
    /// nothing matches.
    pub fn text<'a>(&self, value: &'a str, counts: &mut Counts) -> Cow<'a, str> {
        let mut hits = Vec::new();
        self.find(value, 0, &mut hits);
        splice::apply(value, hits, counts)
    }

    /// Appends the value-pattern matches in `value` to `hits`, shifted by `base`.
    fn find(&self, value: &str, base: usize, hits: &mut Vec<splice::Hit>) {
        let from = hits.len();
        let bytes = value.as_bytes();
        // One pass finds which scanners could match at all (each needs a byte the text must
        // contain), so clean text, nearly every value, is read once instead of once per scanner.
        let mut digits = 0usize;
        // (`%` for a percent-encoded `@`, `%40`.)
        // The key scan runs only if the first three bytes of a vendor key prefix or PEM's `-----`
        // occur (looked up at their third byte, so text without those bytes pays nothing).
        let (mut b, mut j, mut at, mut key) = (false, false, false, false);
        for (i, &byte) in bytes.iter().enumerate() {
            match byte {
                b'0'..=b'9' => digits += 1,
                b'b' | b'B' => b = true,
                b'J' => j = true,
                b'@' | b'%' => at = true,
                b'I' | b'z' | b'p' | b'o' | b'u' | b's' | b'r' | b't' | b'x' | b'_' | b'-' if !key => {
                    key = i.checked_sub(2).and_then(|k| bytes.get(k..=i)).is_some_and(keys::starts_key);
                }
                _ => {}
            }
        }
        if self.patterns.bearer && b {
            scan::bearer(bytes, hits);
        }
        if self.patterns.jwt && j {
            scan::jwt(bytes, hits);
        }
        if self.patterns.card_numbers && digits >= card::CARD_MIN_DIGITS {
            card::card_numbers(bytes, hits);
        }
        if self.patterns.emails && at {
            scan::emails(bytes, hits);
        }
        for matcher in &self.custom {
            matcher.find(value, hits);
        }
        // Vendor keys and private keys are never innocent: always on. After the custom patterns, so
        // that a configured pattern for the same key keeps its `custom` count.
        if key {
            keys::find(bytes, hits);
        }
        if base != 0 {
            for hit in hits.iter_mut().skip(from) {
                hit.start = hit.start.saturating_add(base);
                hit.end = hit.end.saturating_add(base);
            }
        }
    }
}

fn contains_ignore_case(names: &[String], name: &str) -> bool {
    names.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// Lowercased, deduplicated header names; each must be a non-empty HTTP token (RFC 9110 5.6.2).
fn header_names(names: Vec<String>) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        let is_tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if name.is_empty() || !name.chars().all(is_tchar) {
            return Err(format!("header name {name:?}: must be a non-empty HTTP header name"));
        }
        let name = name.to_ascii_lowercase();
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}
