//! Hostile HTTP exchanges, shaped like what reaches a filter in Envoy: every trace format and its
//! corruptions, baggage, secrets where clients put them, header names and values of every
//! character Envoy lets through, sizes up to Envoy's limits, odd methods and paths, bodies,
//! response shapes and timing.
//!
//! Envoy's codecs refuse NUL, CR and LF in header values and more than 60 KiB of request headers
//! (`max_request_headers_kb`) or 100 headers (`max_headers_count`) before any filter runs, so
//! exchanges stay inside those limits: anything beyond them never reaches the module.

use crate::rng::Rng;

/// The request headers of all exchanges stay under Envoy's default `max_request_headers_kb`.
pub const MAX_HEADER_BYTES: usize = 60 * 1024;
/// Envoy's default `max_headers_count`.
pub const MAX_HEADERS: usize = 100;

/// One exchange as the harness replays it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// Virtual milliseconds before the request arrives.
    pub gap_ms: u64,
    pub request: Vec<(String, String)>,
    /// Request body chunk sizes.
    pub request_body: Vec<usize>,
    /// `None`: the client goes away before any response (a downstream reset).
    pub response: Option<Response>,
}

/// The upstream's response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub latency_ms: u64,
    pub headers: Vec<(String, String)>,
    /// Response body chunk sizes.
    pub body: Vec<usize>,
}

const METHODS: &[&str] = &[
    "GET", "GET", "GET", "POST", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE", "PURGE",
    "get", "M-SEARCH", "PROPFIND", "X", "GET/", "GËT",
];

const ROUTES: &[&str] = &["/api/v1/query", "/users/", "/static/", "/", "/health", "//", "/..", "/%2e%2e/", "/a;b=c"];

/// Secrets real clients send, where they send them.
const SECRETS: &[&str] = &[
    "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl",
    "alice@example.com",
    "4111 1111 1111 1111",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_0123456789abcdefghijABCDEFGHIJ012345",
    "sk_live_0123456789abcdefABCDEF01",
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBg-----END PRIVATE KEY-----",
];

/// Characters Envoy lets through in a header value, by kind (no NUL, CR or LF).
fn value_char(r: &mut Rng) -> char {
    match r.below(20) {
        0 => char::from_u32(r.range(1, 8) as u32).unwrap_or('x'),
        1 => *r.pick(&['\t', '\u{b}', '\u{c}', '\u{1f}', '\u{7f}', ' ']),
        2 => *r.pick(&['é', '漢', '😀', '\u{fffd}', '\u{200b}', '\u{feff}', 'ß']),
        3 => *r.pick(&['"', '\\', ',', ';', '=', '%', '{', '}', '<', '>']),
        _ => char::from(r.range(0x21, 0x7e) as u8),
    }
}

fn value(r: &mut Rng, max: u64) -> String {
    let n = r.size(max);
    (0..n).map(|_| value_char(r)).collect()
}

/// A header name of token characters (Envoy lowercases names).
fn name(r: &mut Rng) -> String {
    const TOKEN: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~";
    let n = r.range(1, 40) as usize;
    (0..n).map(|_| char::from(*r.pick(TOKEN))).collect()
}

fn ids(r: &mut Rng) -> (String, String) {
    let trace = if r.one_in(30) { "0".repeat(32) } else { r.hex(32) };
    let span = if r.one_in(30) { "0".repeat(16) } else { r.hex(16) };
    (trace, span)
}

/// A `traceparent`: valid, or one of its corruptions.
fn traceparent(r: &mut Rng) -> String {
    let (trace, span) = ids(r);
    let flags = format!("{:02x}", r.below(256));
    let valid = format!("00-{trace}-{span}-{flags}");
    match r.below(12) {
        0..=4 => valid,
        5 => valid.to_ascii_uppercase(),
        6 => format!("ff-{trace}-{span}-01"),
        7 => format!("{:02x}-{trace}-{span}-01-{}", r.range(1, 0xfe), value(r, 64)),
        8 => valid.chars().take(r.below(55) as usize).collect(),
        9 => format!(" {valid} "),
        10 => {
            let mut bytes: Vec<char> = valid.chars().collect();
            let i = r.below(bytes.len() as u64) as usize;
            if let Some(c) = bytes.get_mut(i) {
                *c = value_char(r);
            }
            bytes.into_iter().collect()
        }
        _ => value(r, 200),
    }
}

/// A `tracestate`: members with valid and invalid keys and values, duplicates, empty members,
/// optional whitespace, sometimes far past 512 characters and 32 members.
fn tracestate(r: &mut Rng) -> String {
    let members = r.size(64);
    let mut parts = Vec::with_capacity(members);
    for _ in 0..members {
        let key = match r.below(8) {
            0 => format!("{}@{}", r.hex(4), r.pick(&["vendor", "a", "x-y"])),
            1 => {
                let n = r.range(1, 300) as usize;
                r.hex(n)
            }
            2 => String::from("dup"),
            3 => name(r).to_ascii_uppercase(),
            4 => String::new(),
            _ => format!("k{}", r.below(100)),
        };
        let val = match r.below(4) {
            0 => value(r, 300),
            _ => {
                let n = r.range(1, 16) as usize;
                r.hex(n)
            }
        };
        let ows = if r.one_in(4) { " \t" } else { "" };
        parts.push(format!("{ows}{key}={val}{ows}"));
    }
    parts.join(if r.one_in(5) { ",," } else { "," })
}

fn b3_single(r: &mut Rng) -> String {
    let (trace, span) = ids(r);
    let trace = if r.one_in(3) { trace.get(16..).unwrap_or_default().to_owned() } else { trace };
    match r.below(7) {
        0 => String::from(*r.pick(&["0", "1", "d"])),
        1 => format!("{trace}-{span}"),
        2 => format!("{trace}-{span}-{}", r.pick(&["0", "1", "d", "true", "x"])),
        3 => format!("{trace}-{span}-1-{}", r.hex(16)),
        4 => format!("{trace}-{span}-1-{}-extra", r.hex(16)),
        5 => value(r, 100),
        _ => format!("{}-{span}", trace.to_ascii_uppercase()),
    }
}

fn b3_multi(r: &mut Rng, out: &mut Vec<(String, String)>) {
    let (trace, span) = ids(r);
    if !r.one_in(5) {
        out.push((String::from("x-b3-traceid"), if r.one_in(4) { value(r, 40) } else { trace }));
    }
    if !r.one_in(5) {
        out.push((String::from("x-b3-spanid"), if r.one_in(4) { value(r, 20) } else { span }));
    }
    if r.one_in(2) {
        out.push((String::from("x-b3-sampled"), String::from(*r.pick(&["0", "1", "true", "false", "2", ""]))));
    }
    if r.one_in(4) {
        out.push((String::from("x-b3-flags"), String::from(*r.pick(&["1", "0", "x"]))));
    }
    if r.one_in(4) {
        out.push((String::from("x-b3-parentspanid"), r.hex(16)));
    }
}

fn baggage(r: &mut Rng) -> String {
    let members = r.size(200);
    (0..members)
        .map(|i| match r.below(5) {
            0 => format!("user={}", r.pick(SECRETS)),
            1 => format!("k{i}={};prop={}", value(r, 40), value(r, 10)),
            2 => value(r, 80),
            _ => format!("k{i}=v{i}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn address(r: &mut Rng) -> String {
    match r.below(6) {
        0 => format!("{}.{}.{}.{}", r.below(256), r.below(256), r.below(256), r.below(256)),
        1 => format!("[2001:db8::{:x}]:{}", r.below(65536), r.below(65536)),
        2 => format!("2001:db8::{:x}", r.below(65536)),
        3 => String::from(*r.pick(&["unknown", "_hidden", "", "999.1.1.1", "::ffff:10.0.0.1"])),
        4 => format!("{}.{}.0.1:{}", r.below(256), r.below(256), r.below(70000)),
        _ => value(r, 40),
    }
}

fn path(r: &mut Rng) -> String {
    let mut p = String::from(*r.pick(ROUTES));
    match r.below(6) {
        0 => p.push_str(&r.below(1_000_000).to_string()),
        1 => {
            let secret: &&str = r.pick(SECRETS);
            p.push_str(secret);
        }
        2 => p.push_str(&value(r, 4096).replace([' ', '#', '?'], "")),
        _ => {}
    }
    if r.one_in(2) {
        let params = r.size(20);
        let query: Vec<String> = (0..params)
            .map(|i| match r.below(4) {
                0 => format!("token={}", r.pick(SECRETS)),
                1 => format!("q{i}={}", value(r, 100)),
                2 => String::from("&&=="),
                _ => format!("page={i}"),
            })
            .collect();
        p.push('?');
        p.push_str(&query.join("&"));
    }
    if r.one_in(20) {
        p.push('#');
        p.push_str(&value(r, 20));
    }
    p.replace([' ', '\t'], "%20")
}

fn request(r: &mut Rng) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = Vec::new();
    let push = |h: &mut Vec<(String, String)>, k: &str, v: String| h.push((k.to_owned(), v));
    if !r.one_in(50) {
        push(&mut h, ":method", String::from(*r.pick(METHODS)));
    }
    if !r.one_in(50) {
        push(&mut h, ":path", path(r));
    }
    if !r.one_in(10) {
        push(&mut h, ":scheme", String::from(*r.pick(&["http", "https", "HTTP", "ftp"])));
    }
    if !r.one_in(20) {
        let authority = match r.below(5) {
            0 => format!("user:{}@api.example.com", r.pick(SECRETS)),
            1 => format!("[::1]:{}", r.below(70000)),
            2 => value(r, 300),
            _ => format!("api.example.com:{}", r.pick(&["8443", "80", "", "x"])),
        };
        push(&mut h, ":authority", authority);
    }
    if r.one_in(2) {
        push(&mut h, "traceparent", traceparent(r));
        if r.one_in(10) {
            push(&mut h, "traceparent", traceparent(r));
        }
    }
    if r.one_in(3) {
        push(&mut h, "tracestate", tracestate(r));
    }
    if r.one_in(5) {
        push(&mut h, "b3", b3_single(r));
    }
    if r.one_in(5) {
        b3_multi(r, &mut h);
    }
    if r.one_in(4) {
        push(&mut h, "baggage", baggage(r));
    }
    if r.one_in(3) {
        let n = r.range(1, 50);
        let list: Vec<String> = (0..n).map(|_| address(r)).collect();
        push(&mut h, "x-forwarded-for", list.join(", "));
    }
    if r.one_in(2) {
        let ua = match r.below(4) {
            0 => format!("curl/8.5 {}", r.pick(SECRETS)),
            1 => value(r, 16 * 1024),
            _ => String::from("Mozilla/5.0 (X11; Linux x86_64)"),
        };
        push(&mut h, "user-agent", ua);
    }
    if r.one_in(4) {
        push(&mut h, "authorization", String::from(*r.pick(SECRETS)));
    }
    if r.one_in(5) {
        push(&mut h, "cookie", format!("session={}; theme=dark", r.pick(SECRETS)));
    }
    if r.one_in(3) {
        let id = if r.one_in(3) { value(r, 200) } else { format!("{}-{}", r.hex(8), r.hex(12)) };
        push(&mut h, "x-request-id", id);
    }
    if r.one_in(8) {
        push(
            &mut h,
            "content-type",
            String::from(*r.pick(&["application/grpc", "application/grpc+proto", "text/plain"])),
        );
    }
    for _ in 0..r.size(90) {
        let n = name(r);
        let v = if r.one_in(6) { String::from(*r.pick(SECRETS)) } else { value(r, 8 * 1024) };
        push(&mut h, &n, v);
    }
    fit(h)
}

/// Drops headers from the end until the request fits Envoy's limits.
fn fit(mut h: Vec<(String, String)>) -> Vec<(String, String)> {
    h.truncate(MAX_HEADERS);
    let mut total = 0;
    h.retain(|(k, v)| {
        total += k.len() + v.len();
        total <= MAX_HEADER_BYTES
    });
    h
}

fn response(r: &mut Rng) -> Response {
    let status = match r.below(6) {
        0 => r.range(100, 599),
        1 => *r.pick(&[401, 403, 429, 431, 413, 499]),
        2 => *r.pick(&[500, 502, 503, 504]),
        _ => 200,
    };
    let mut headers = vec![(String::from(":status"), status.to_string())];
    if r.one_in(6) {
        headers.push((String::from("content-type"), String::from("application/grpc")));
        headers.push((String::from("grpc-status"), String::from(*r.pick(&["0", "2", "13", "14", "99", "x", ""]))));
        headers.push((String::from("grpc-message"), value(r, 200)));
    }
    if r.one_in(5) {
        headers.push((String::from("location"), format!("https://u:{}@example.com/?token=x", r.pick(SECRETS))));
    }
    if r.one_in(5) {
        headers.push((String::from("set-cookie"), format!("sid={}", r.pick(SECRETS))));
    }
    if r.one_in(8) {
        headers.push((String::from("x-trace-id"), value(r, 64)));
    }
    for _ in 0..r.size(20) {
        headers.push((name(r), value(r, 1024)));
    }
    let latency_ms = match r.below(10) {
        0 => r.range(1_000, 60_000),
        _ => r.below(200),
    };
    Response { latency_ms, headers, body: chunks(r) }
}

fn chunks(r: &mut Rng) -> Vec<usize> {
    (0..r.size(4)).map(|_| r.size(64 * 1024)).collect()
}

/// Exchange `index` of the run seeded with `seed`.
pub fn exchange(seed: u64, index: u64) -> Exchange {
    let mut r = Rng::for_exchange(seed, index);
    let gap_ms = if r.one_in(10) { r.range(100, 3_000) } else { r.below(5) };
    let request = request(&mut r);
    let request_body = chunks(&mut r);
    let response = if r.one_in(25) { None } else { Some(response(&mut r)) };
    Exchange { gap_ms, request, request_body, response }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exchange_is_the_same_from_the_same_seed_and_index() {
        assert_eq!(exchange(7, 123), exchange(7, 123));
        assert_ne!(exchange(7, 123), exchange(7, 124));
        assert_ne!(exchange(7, 123), exchange(8, 123));
    }

    #[test]
    fn exchanges_stay_inside_envoys_limits_and_carry_no_nul_cr_or_lf() {
        for i in 0..2_000 {
            let e = exchange(1, i);
            assert!(e.request.len() <= MAX_HEADERS);
            assert!(e.request.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() <= MAX_HEADER_BYTES);
            for (k, v) in e.request.iter().chain(e.response.iter().flat_map(|r| &r.headers)) {
                assert!(!k.is_empty() && k.bytes().all(|b| !b.is_ascii_uppercase()), "{k:?}");
                assert!(!v.contains(['\0', '\r', '\n']), "{k}: {v:?}");
            }
        }
    }

    #[test]
    fn the_hostile_shapes_all_occur() {
        let all: Vec<Exchange> = (0..3_000).map(|i| exchange(3, i)).collect();
        let has = |name: &str| all.iter().filter(|e| e.request.iter().any(|(k, _)| k == name)).count();
        for header in ["traceparent", "tracestate", "b3", "x-b3-traceid", "baggage", "x-forwarded-for", "authorization"]
        {
            assert!(has(header) > 100, "{header}: {}", has(header));
        }
        assert!(all.iter().any(|e| e.response.is_none()), "downstream resets");
        assert!(all.iter().any(|e| !e.request.iter().any(|(k, _)| k == ":method")), "no :method");
        let big = all.iter().map(|e| e.request.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()).max();
        assert!(big > Some(30_000), "large header blocks: {big:?}");
    }
}
