//! Property tests: a planted secret never survives, any input is safe, clean text is untouched.

use std::borrow::Cow;

use proptest::prelude::*;

use super::*;

/// Random text around a secret: any characters, multi-byte ones included.
fn around() -> impl Strategy<Value = String> {
    ".{0,40}"
}

/// A secret-looking token: long enough that random text never contains it by chance.
fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9._~+/=-]{15,40}"
}

fn bearer() -> impl Strategy<Value = (String, String)> {
    ("[Bb][Ee][Aa][Rr][Ee][Rr]", prop_oneof![Just(" "), Just("  "), Just("\t"), Just("%20"), Just("+")], token())
        .prop_map(|(scheme, sep, token)| (format!("{scheme}{sep}{token}"), token))
}

/// A JWT and its segments.
fn jwt() -> impl Strategy<Value = (String, Vec<String>)> {
    ("eyJ[A-Za-z0-9_-]{7,40}", "[A-Za-z0-9_-]{2,80}", "[A-Za-z0-9_-]{0,60}")
        .prop_map(|(h, p, s)| (format!("{h}.{p}.{s}"), vec![h, p, s]))
}

/// A card number with an issuer prefix, passing Luhn, grouped by four with spaces or dashes or not at
/// all, and its digits.
fn card() -> impl Strategy<Value = (String, String)> {
    let issuer = "4[0-9]{3}|5[0-8][0-9]{2}|2[3-6][0-9]{2}|3[46-9][0-9]{2}|30[0-5][0-9]|35[3-8][0-9]|6[0-9]{3}";
    ((issuer, "[0-9]{8,14}"), prop_oneof![Just(""), Just(" "), Just("-")]).prop_map(|((prefix, rest), sep)| {
        let body = format!("{prefix}{rest}");
        let digits = (0..10).map(|d| format!("{body}{d}")).find(|n| luhn_ok(n)).unwrap();
        let groups: Vec<String> = digits.as_bytes().chunks(4).map(|c| String::from_utf8(c.to_vec()).unwrap()).collect();
        (groups.join(sep), digits)
    })
}

fn luhn_ok(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .map(|b| u32::from(b - b'0'))
        .enumerate()
        .map(|(i, d)| if i % 2 == 1 { (d * 2) / 10 + (d * 2) % 10 } else { d })
        .sum();
    sum.is_multiple_of(10)
}

/// An email address and its local part.
fn email() -> impl Strategy<Value = (String, String)> {
    (
        "[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,29}",
        "[a-z0-9][a-z0-9-]{0,10}(\\.[a-z0-9-]{1,10}){0,2}",
        "[a-z]{2,6}",
        any::<bool>(),
    )
        .prop_map(|(local, domain, tld, encoded)| {
            let at = if encoded { "%40" } else { "@" };
            (format!("{local}{at}{domain}.{tld}"), local)
        })
}

/// A character that ends a token: not a letter, digit or `_`, nor a `-` or `.` that would join a
/// card to the text around it (a card inside a longer token is not a card).
fn delimiter() -> impl Strategy<Value = char> {
    any::<char>().prop_filter("a delimiter", |c| !c.is_ascii_alphanumeric() && !matches!(c, '_' | '-' | '.'))
}

fn policy_with_custom() -> Policy {
    let custom = vec![
        CustomPattern::Regex("tok_[0-9a-f]{16}".to_owned()),
        CustomPattern::Prefix { prefix: "sk_live_".to_owned(), min_len: 16 },
    ];
    let params = DEFAULT_QUERY_PARAMS.iter().map(|s| (*s).to_owned()).collect();
    let headers = DEFAULT_DENY_HEADERS.iter().map(|s| (*s).to_owned()).collect();
    Policy::new(HeaderRule::Deny(headers), params, Patterns::ALL, custom).unwrap()
}

fn text(input: &str) -> String {
    policy_with_custom().text(input, &mut Counts::default()).into_owned()
}

fn digits_of(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// A piece of `secret` (8 bytes, or all of a shorter one of at least 4) that survives in `out`,
/// outside the `[REDACTED]` markers. The text around secrets is random Unicode, so a piece found in
/// `out` was not redacted.
fn survivor(out: &str, secret: &str) -> Option<String> {
    let out = out.replace(REDACTED, "\n");
    let bytes = secret.as_bytes();
    if bytes.len() < 4 {
        return None;
    }
    bytes
        .windows(bytes.len().min(8))
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .find(|w| out.contains(w.as_str()))
}

/// Randomly upper-cases ASCII letters, percent-encoding some bytes of a name.
fn disguise(name: &str, mask: &[u8]) -> String {
    let mut out = String::new();
    for (b, m) in name.bytes().zip(mask.iter().cycle()) {
        match m % 4 {
            0 => out.push(char::from(b).to_ascii_uppercase()),
            1 => out.push_str(&format!("%{b:02X}")),
            _ => out.push(char::from(b)),
        }
    }
    out
}

proptest! {
    #[test]
    fn a_planted_bearer_token_never_survives(pre in around(), post in around(), (secret, token) in bearer()) {
        let out = text(&format!("{pre}{secret}{post}"));
        prop_assert_eq!(survivor(&out, &token), None, "{:?}", out);
    }

    #[test]
    fn a_planted_jwt_never_survives(pre in around(), post in around(), (secret, segments) in jwt()) {
        let out = text(&format!("{pre}{secret}{post}"));
        prop_assert_eq!(survivor(&out, &secret), None, "{:?}", out);
        for segment in segments.iter().filter(|s| s.len() >= 8) {
            prop_assert!(!out.contains(segment.as_str()), "{segment:?} in {out:?}");
        }
    }

    #[test]
    fn a_planted_card_number_never_survives(
        pre in around(), post in around(), left in delimiter(), right in delimiter(), (secret, digits) in card()
    ) {
        let out = text(&format!("{pre}{left}{secret}{right}{post}"));
        prop_assert!(!digits_of(&out).contains(&digits), "{out:?}");
        prop_assert_eq!(survivor(&out, &secret), None, "{:?}", out);
    }

    #[test]
    fn a_planted_email_never_survives(pre in around(), post in around(), (secret, local) in email()) {
        let out = text(&format!("{pre}{secret}{post}"));
        prop_assert_eq!(survivor(&out, &secret), None, "{:?}", out);
        prop_assert_eq!(survivor(&out, &local), None, "{:?}", out);
    }

    #[test]
    fn a_planted_custom_secret_never_survives(
        pre in around(), post in around(), hex in "[0-9a-f]{16}", key in "[A-Za-z0-9]{8,30}"
    ) {
        let regex_secret = format!("tok_{hex}");
        let prefix_secret = format!("sk_live_{key}");
        let out = text(&format!("{pre}{regex_secret}{post}{prefix_secret}{pre}"));
        prop_assert_eq!(survivor(&out, &regex_secret), None, "{:?}", out);
        prop_assert_eq!(survivor(&out, &prefix_secret), None, "{:?}", out);
    }

    #[test]
    fn a_planted_secret_in_a_query_value_never_survives(
        pre in around(),
        post in around(),
        sep in prop_oneof![Just('&'), Just(';')],
        name in proptest::sample::select(DEFAULT_QUERY_PARAMS),
        mask in proptest::collection::vec(any::<u8>(), 1..8),
        value in "[A-Za-z0-9._~-]{16,40}",
    ) {
        let query = format!("{pre}{sep}{}={value}{sep}{post}", disguise(name, &mask));
        let out = policy_with_custom().query(&query, &mut Counts::default());
        prop_assert_eq!(survivor(&out, &value), None, "{:?}", out);
    }

    #[test]
    fn a_pattern_in_a_query_value_never_survives(
        pre in around(), post in around(), (email, _) in email(), (card, digits) in card(), (_, token) in bearer()
    ) {
        let query = format!("{pre}&to={email}&card={}&h=Bearer+{token}&{post}", card.replace(' ', "+"));
        let out = policy_with_custom().query(&query, &mut Counts::default());
        prop_assert_eq!(survivor(&out, &email), None, "{:?}", out);
        prop_assert!(!digits_of(&out).contains(&digits), "{out:?}");
        prop_assert_eq!(survivor(&out, &token), None, "{:?}", out);
    }

    #[test]
    fn a_denied_header_value_never_survives(
        name in proptest::sample::select(DEFAULT_DENY_HEADERS),
        upper in any::<bool>(),
        scheme in "Bearer|Basic|Digest|[A-Za-z]{1,10}",
        pre in around(),
        post in around(),
        secret in token(),
    ) {
        let value = match name {
            "authorization" | "proxy-authorization" => format!("{scheme} {secret}"),
            "cookie" => format!("{pre}; c={secret}; {post}"),
            "set-cookie" => format!("c={secret}; {post}"),
            _ => format!("{pre}{secret}{post}"),
        };
        let name = if upper { name.to_ascii_uppercase() } else { name.to_owned() };
        let out = Policy::default_policy().header(&name, &value, &mut Counts::default()).unwrap();
        prop_assert_eq!(survivor(&out, &secret), None, "{:?}", out);
    }

    #[test]
    fn arbitrary_input_is_safe(input in "\\PC{0,200}|.{0,200}", name in "[a-zA-Z-]{0,20}") {
        check_arbitrary(&input, &name);
    }

    #[test]
    fn arbitrary_near_miss_input_is_safe(
        input in "([Bb]earer|eyJ|%40|%20|@|\\.|[0-9]{1,5}| |-|\\+|=|&|;|[a-z]{1,3}|sk_live_|tok_|é){0,60}",
        name in proptest::sample::select(DEFAULT_DENY_HEADERS),
    ) {
        check_arbitrary(&input, name);
    }

    #[test]
    fn arbitrary_baggage_and_url_headers_are_safe(
        input in "([a-z0-9]{1,8}|=|;|,|%[0-9A-Fa-f]{0,2}| |\\t|https?://|@|:|/|\\?|&|token|user|\\PC){0,80}",
        name in proptest::sample::select(&["baggage", "referer", "location", "origin"][..]),
    ) {
        // The structured scanners (W3C Baggage members, URLs inside values) on hostile shapes.
        check_arbitrary(&input, name);
    }

    #[test]
    fn text_without_a_pattern_is_borrowed_and_unchanged(
        words in proptest::collection::vec(("[ac-zAC-IK-Z]{1,10}|[0-9]{1,12}|[é日ü]{1,3}", "[/._:?&=,]"), 0..12)
    ) {
        // No `b` (no "bearer"), no `J` (no "eyJ"), no `@` or `%`, digit runs of at most 12 never
        // chained by a space or dash.
        let input: String = words.iter().map(|(w, sep)| format!("{w}{sep}")).collect();
        let mut counts = Counts::default();
        let policy = policy_with_custom();
        prop_assert!(matches!(policy.text(&input, &mut counts), Cow::Borrowed(s) if s == input));
        prop_assert!(matches!(policy.header("user-agent", &input, &mut counts), Some(Cow::Borrowed(s)) if s == input));
        prop_assert_eq!(counts, Counts::default());
    }
}

/// No panic; an unchanged output is borrowed and counts nothing, a changed one counts something.
fn check_arbitrary(input: &str, name: &str) {
    let policy = policy_with_custom();
    let mut counts = Counts::default();
    let out = policy.text(input, &mut counts);
    assert_eq!(out == input, counts.total() == 0, "{input:?} -> {out:?}");
    assert_eq!(matches!(out, Cow::Borrowed(_)), counts.total() == 0);
    let _ = policy.query(input, &mut counts);
    let _ = policy.header(name, input, &mut counts);
    let allow = Policy::new(HeaderRule::Allow(vec!["x-a".to_owned()]), vec![], Patterns::ALL, vec![]).unwrap();
    let _ = allow.header(name, input, &mut counts);
}

proptest! {
    /// The one-pass id check agrees with its definition: dash-separated groups of hex digits.
    #[test]
    fn an_id_is_dash_separated_hex_groups(value in "[-0-9a-fA-Fg ]{0,40}|[0-9a-f]{1,8}(-[0-9a-f]{1,8}){0,5}") {
        let defined = !value.is_empty()
            && value.len() <= 128
            && value.split('-').all(|group| !group.is_empty() && group.bytes().all(|b| b.is_ascii_hexdigit()));
        prop_assert_eq!(headers::is_id_value(&value), defined, "{:?}", value);
    }
}
