//! Unit tests: every rule, through the public API only.

use std::borrow::Cow;

use super::*;

const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

/// `text` with the default policy: `expected` is the output, `kinds` what was counted.
fn check(input: &str, expected: &str, kinds: &[Kind]) {
    check_with(&Policy::default_policy(), input, expected, kinds);
}

fn check_with(policy: &Policy, input: &str, expected: &str, kinds: &[Kind]) {
    let mut counts = Counts::default();
    let out = policy.text(input, &mut counts);
    assert_eq!(out, expected, "text({input:?})");
    assert_eq!(counts, counted(kinds), "text({input:?})");
    assert_eq!(matches!(out, Cow::Borrowed(_)), input == expected, "text({input:?}) borrowed iff unchanged");
}

fn check_header(policy: &Policy, name: &str, value: &str, expected: Option<&str>, kinds: &[Kind]) {
    let mut counts = Counts::default();
    let out = policy.header(name, value, &mut counts);
    assert_eq!(out.as_deref(), expected, "header({name:?}, {value:?})");
    assert_eq!(counts, counted(kinds), "header({name:?}, {value:?})");
}

fn check_query(input: &str, expected: &str, kinds: &[Kind]) {
    let mut counts = Counts::default();
    let out = Policy::default_policy().query(input, &mut counts);
    assert_eq!(out, expected, "query({input:?})");
    assert_eq!(counts, counted(kinds), "query({input:?})");
}

fn counted(kinds: &[Kind]) -> Counts {
    let mut counts = Counts::default();
    kinds.iter().for_each(|k| counts.add(*k));
    counts
}

fn policy(headers: HeaderRule, custom: Vec<CustomPattern>) -> Policy {
    let params = DEFAULT_QUERY_PARAMS.iter().map(|s| (*s).to_owned()).collect();
    Policy::new(headers, params, Patterns::ALL, custom).unwrap()
}

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn kinds_have_distinct_labels_in_all() {
    let labels: Vec<&str> = Kind::ALL.iter().map(|k| k.label()).collect();
    let expected = [
        "header",
        "cookie",
        "query_param",
        "bearer",
        "jwt",
        "card_number",
        "email",
        "custom",
        "path_param",
        "userinfo",
        "not_an_address",
        "aws_key_id",
        "gcp_api_key",
        "github_token",
        "slack_token",
        "stripe_key",
        "private_key",
    ];
    assert_eq!(labels, expected);
}

#[test]
fn counts_add_get_iter_total() {
    let mut counts = Counts::default();
    counts.add(Kind::Jwt);
    counts.add(Kind::Jwt);
    counts.add(Kind::Email);
    assert_eq!(counts.get(Kind::Jwt), 2);
    assert_eq!(counts.get(Kind::Header), 0);
    assert_eq!(counts.total(), 3);
    let all: Vec<(Kind, u64)> = counts.iter().collect();
    assert_eq!(all.len(), Kind::ALL.len());
    assert_eq!(all.iter().filter(|(_, n)| *n > 0).count(), 2);
    assert!(all.contains(&(Kind::Email, 1)));
}

#[test]
fn default_policy_is_the_default_and_equals_itself_compiled() {
    let compiled =
        Policy::new(HeaderRule::Deny(names(DEFAULT_DENY_HEADERS)), names(DEFAULT_QUERY_PARAMS), Patterns::ALL, vec![])
            .unwrap();
    assert_eq!(compiled, Policy::default_policy());
    assert_eq!(Policy::default(), Policy::default_policy());
    for required in ["authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token"] {
        assert!(DEFAULT_DENY_HEADERS.contains(&required), "{required}");
    }
    for required in ["x-csrf-token", "x-amz-security-token"] {
        assert!(DEFAULT_DENY_HEADERS.contains(&required), "{required}");
    }
    for required in ["token", "access_token", "refresh_token", "id_token", "password", "passwd", "pwd", "secret"] {
        assert!(DEFAULT_QUERY_PARAMS.contains(&required), "{required}");
    }
    for required in ["client_secret", "api_key", "apikey", "key", "signature", "sig", "code", "session"] {
        assert!(DEFAULT_QUERY_PARAMS.contains(&required), "{required}");
    }
}

#[test]
fn authorization_keeps_a_known_scheme() {
    let p = Policy::default_policy();
    let h = [Kind::Header];
    check_header(&p, "authorization", "Bearer abc", Some("Bearer [REDACTED]"), &h);
    check_header(&p, "Authorization", "Basic dXNlcjpwYXNz", Some("Basic [REDACTED]"), &h);
    check_header(&p, "proxy-authorization", "bearer   abc def", Some("bearer   [REDACTED]"), &h);
    check_header(&p, "authorization", "Digest username=\"bob\", response=\"x\"", Some("Digest [REDACTED]"), &h);
    check_header(&p, "authorization", "AWS4-HMAC-SHA256 Credential=AKIA/x", Some("AWS4-HMAC-SHA256 [REDACTED]"), &h);
    // An unknown first word may be the secret itself.
    check_header(&p, "authorization", "s3cr3t more", Some("[REDACTED]"), &h);
    check_header(&p, "authorization", "s3cr3t", Some("[REDACTED]"), &h);
    // Nothing to hide.
    check_header(&p, "authorization", "Bearer", Some("Bearer"), &[]);
    check_header(&p, "authorization", "", Some(""), &[]);
}

#[test]
fn cookies_keep_their_names() {
    let p = Policy::default_policy();
    let c = Kind::Cookie;
    check_header(&p, "cookie", "a=1; b=2", Some("a=[REDACTED]; b=[REDACTED]"), &[c, c]);
    check_header(&p, "Cookie", "a=1;b=x=y", Some("a=[REDACTED];b=[REDACTED]"), &[c, c]);
    check_header(
        &p,
        "cookie",
        "session=\"quoted\"; empty=; bare",
        Some("session=[REDACTED]; empty=; [REDACTED]"),
        &[c, c],
    );
    check_header(&p, "cookie", "", Some(""), &[]);
}

#[test]
fn set_cookie_keeps_name_and_attributes() {
    let p = Policy::default_policy();
    let out = "id=[REDACTED]; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=Lax";
    check_header(
        &p,
        "set-cookie",
        "id=abc123; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=Lax",
        Some(out),
        &[Kind::Cookie],
    );
    check_header(&p, "set-cookie", "id=abc", Some("id=[REDACTED]"), &[Kind::Cookie]);
    check_header(&p, "set-cookie", "opaque; Path=/", Some("[REDACTED]; Path=/"), &[Kind::Cookie]);
}

#[test]
fn other_denied_headers_are_replaced_whole() {
    let p = Policy::default_policy();
    check_header(&p, "x-api-key", "k-123", Some("[REDACTED]"), &[Kind::Header]);
    check_header(&p, "X-Amz-Security-Token", "FwoGZXIvYXdzE", Some("[REDACTED]"), &[Kind::Header]);
    check_header(&p, "x-api-key", "", Some(""), &[]);
}

#[test]
fn other_headers_go_through_the_value_patterns() {
    let p = Policy::default_policy();
    check_header(&p, "user-agent", "curl/8.5.0", Some("curl/8.5.0"), &[]);
    check_header(&p, "x-forwarded-for", "bob@example.com", Some("[REDACTED]"), &[Kind::Email]);
    check_header(&p, "x-upstream-auth", "Bearer abc", Some("Bearer [REDACTED]"), &[Kind::Bearer]);
}

#[test]
fn an_allow_list_hides_other_headers_and_still_shapes_credentials() {
    let p = policy(HeaderRule::Allow(names(&["User-Agent", "authorization", "cookie"])), vec![]);
    check_header(&p, "x-api-key", "k-123", None, &[]);
    check_header(&p, "content-type", "text/plain", None, &[]);
    check_header(&p, "user-agent", "bot (mailto:ops@example.com)", Some("bot (mailto:[REDACTED])"), &[Kind::Email]);
    check_header(&p, "authorization", "Bearer abc", Some("Bearer [REDACTED]"), &[Kind::Header]);
    check_header(&p, "cookie", "a=1", Some("a=[REDACTED]"), &[Kind::Cookie]);
}

#[test]
fn a_custom_deny_list_replaces_the_defaults() {
    let p = policy(HeaderRule::Deny(names(&["X-Tenant-Secret"])), vec![]);
    check_header(&p, "x-tenant-secret", "t", Some("[REDACTED]"), &[Kind::Header]);
    // Not denied any more: only the value patterns apply.
    check_header(&p, "x-api-key", "k-123", Some("k-123"), &[]);
    check_header(&p, "authorization", "Bearer abc", Some("Bearer [REDACTED]"), &[Kind::Bearer]);
}

#[test]
fn query_parameters_by_name() {
    let q = Kind::QueryParam;
    check_query("token=abc&page=2", "token=[REDACTED]&page=2", &[q]);
    check_query("page=2&TOKEN=abc", "page=2&TOKEN=[REDACTED]", &[q]);
    check_query("%74oken=abc", "%74oken=[REDACTED]", &[q]);
    check_query("user%5Bpassword%5D=x&user[name]=bob", "user%5Bpassword%5D=[REDACTED]&user[name]=bob", &[q]);
    check_query("a=1;password=hunter2", "a=1;password=[REDACTED]", &[q]);
    check_query(
        "api_key=1&key=2&sig=3&X-Amz-Signature=4",
        "api_key=[REDACTED]&key=[REDACTED]&sig=[REDACTED]&X-Amz-Signature=[REDACTED]",
        &[q, q, q, q],
    );
    check_query("token=&token&tokens=abc", "token=&token&tokens=abc", &[]);
    check_query("", "", &[]);
}

#[test]
fn query_values_go_through_the_value_patterns_decoded() {
    check_query("q=hello%20world&n=4", "q=hello%20world&n=4", &[]);
    check_query("to=bob@example.com&n=1", "to=[REDACTED]&n=1", &[Kind::Email]);
    check_query("to=bob%40example.com", "to=[REDACTED]", &[Kind::Email]);
    check_query("card=4111%201111%201111%201111", "card=[REDACTED]", &[Kind::CardNumber]);
    check_query("card=4111+1111+1111+1111&x=1", "card=[REDACTED]&x=1", &[Kind::CardNumber]);
    // Found only once decoded (`+` is a space): the whole value goes.
    check_query("h=Bearer+abc", "h=[REDACTED]", &[Kind::Bearer]);
    check_query(&format!("{JWT}=1"), "[REDACTED]=1", &[Kind::Jwt]);
    check_query("bob@example.com", "[REDACTED]", &[Kind::Email]);
}

#[test]
fn bearer_tokens() {
    let b = [Kind::Bearer];
    check("auth=Bearer abc.def-ghi", "auth=Bearer [REDACTED]", &b);
    check("BEARER xyz, next", "BEARER [REDACTED], next", &b);
    check("h=Bearer%20abc", "h=Bearer%20[REDACTED]", &b);
    check("h=Bearer+abc&x", "h=Bearer+[REDACTED]&x", &b);
    check("Bearer Bearer tok", "Bearer [REDACTED] [REDACTED]", &[Kind::Bearer, Kind::Bearer]);
    check("token_type=bearer&expires_in=3600", "token_type=bearer&expires_in=3600", &[]);
    check("bearer", "bearer", &[]);
    check("Bearer ", "Bearer ", &[]);
}

#[test]
fn jwts() {
    let j = [Kind::Jwt];
    check(&format!("/callback/{JWT}/done"), "/callback/[REDACTED]/done", &j);
    check(&format!("id_token {JWT}."), "id_token [REDACTED].", &j);
    // Unsecured (empty signature) and JWE (five segments).
    check("x eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0. y", "x [REDACTED] y", &j);
    check(
        "eyJhbGciOiJSU0EtT0FFUCJ9.OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZ.48V1_ALb6US04U3b.5eym8TW_c8SuK.XFBoMYUZodetZdvTiFvSkQ",
        "[REDACTED]",
        &j,
    );
    // Too short, or too few segments.
    check("eyJhbGci.eyJz.sig", "eyJhbGci.eyJz.sig", &[]);
    check("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0", &[]);
    check("file eyJhbGciOiJub25lIn0.x.y", "file eyJhbGciOiJub25lIn0.x.y", &[]);
}

#[test]
fn jwt_after_bearer_is_one_replacement() {
    check(&format!("Bearer {JWT}"), "Bearer [REDACTED]", &[Kind::Bearer]);
}

#[test]
fn card_numbers_pass_luhn() {
    let c = [Kind::CardNumber];
    check("card 4111 1111 1111 1111 ok", "card [REDACTED] ok", &c);
    check("card=4111-1111-1111-1111", "card=[REDACTED]", &c);
    check("/pay/4111111111111111/confirm", "/pay/[REDACTED]/confirm", &c);
    check("amex 3782 822463 10005", "amex [REDACTED]", &c);
    check("6011111111111117", "[REDACTED]", &c);
    check("qty 2 4111 1111 1111 1111", "qty 2 [REDACTED]", &c);
    check("4242424242424242 and 5555555555554444", "[REDACTED] and [REDACTED]", &[Kind::CardNumber, Kind::CardNumber]);
}

#[test]
fn ordinary_numbers_are_not_card_numbers() {
    // Fails Luhn.
    check("4111111111111112", "4111111111111112", &[]);
    check("ts=1700000000001 id=1234567890123", "ts=1700000000001 id=1234567890123", &[]);
    // Too short, too long, separated by more than one character.
    check("order 411111111111", "order 411111111111", &[]);
    check("1234567890123456789012345", "1234567890123456789012345", &[]);
    check("41111111111111110000", "41111111111111110000", &[]);
    check("4111  1111  1111  1111", "4111  1111  1111  1111", &[]);
    check("2024-01-15 10:30:00", "2024-01-15 10:30:00", &[]);
}

#[test]
fn email_addresses() {
    let e = [Kind::Email];
    check("user bob.smith+tag@example.co.uk logged in", "user [REDACTED] logged in", &e);
    check("email=a@b.io", "email=[REDACTED]", &e);
    check("/users/bob%40example.com/orders", "/users/[REDACTED]/orders", &e);
    check("mail bob@example.com.", "mail [REDACTED].", &e);
    check("<bob@mail-1.example.org>", "<[REDACTED]>", &e);
    check("admin@localhost", "admin@localhost", &[]);
    check("x@10.0.0.1", "x@10.0.0.1", &[]);
    check("@example.com and foo@ and a@b.c", "@example.com and foo@ and a@b.c", &[]);
    check("100%40 done", "100%40 done", &[]);
}

#[test]
fn patterns_can_be_turned_off() {
    let off = Policy::new(HeaderRule::Deny(vec![]), vec![], Patterns::NONE, vec![]).unwrap();
    for input in [JWT, "Bearer abc", "4111111111111111", "bob@example.com"] {
        check_with(&off, input, input, &[]);
    }
    let only_emails = Patterns { emails: true, ..Patterns::NONE };
    let p = Policy::new(HeaderRule::Deny(vec![]), vec![], only_emails, vec![]).unwrap();
    check_with(&p, "Bearer abc bob@example.com", "Bearer abc [REDACTED]", &[Kind::Email]);
}

#[test]
fn custom_regex() {
    let p = policy(HeaderRule::Deny(vec![]), vec![CustomPattern::Regex(r"sk_live_[A-Za-z0-9]{8,}".to_owned())]);
    check_with(&p, "key sk_live_abcdEFGH1234 done", "key [REDACTED] done", &[Kind::Custom]);
    check_with(&p, "key sk_live_abc done", "key sk_live_abc done", &[]);
}

#[test]
fn custom_regex_with_a_secret_group_keeps_the_rest() {
    let p = policy(
        HeaderRule::Deny(vec![]),
        vec![CustomPattern::Regex(r"(ssn|tax_id): (?<secret>\d{3}-\d{2}-\d{4})".to_owned())],
    );
    check_with(
        &p,
        "ssn: 123-45-6789, tax_id: 987-65-4321",
        "ssn: [REDACTED], tax_id: [REDACTED]",
        &[Kind::Custom, Kind::Custom],
    );
}

#[test]
fn realistic_custom_regexes_redact_what_they_describe_and_nothing_else() {
    let cases = [
        (
            r"(?i)(api[_-]?key|secret|passw(or)?d)\s*[=:]\s*(?<secret>[A-Za-z0-9_\-]{16,64})",
            "API_KEY = abcdefghijklmnop1234; user=bob",
            "API_KEY = [REDACTED]; user=bob",
        ),
        (r"AKIA[0-9A-Z]{16}", "key AKIAIOSFODNN7EXAMPLE used", "key [REDACTED] used"),
        (r"\b\d{3}-\d{2}-\d{4}\b", "ssn 123-45-6789.", "ssn [REDACTED]."),
        (r"xox[abprs]-[0-9A-Za-z-]{10,72}", "token xoxb-1234567890-abcdef end", "token [REDACTED] end"),
        (
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
            "a -----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY----- b",
            "a [REDACTED] b",
        ),
    ];
    for (pattern, input, expected) in cases {
        let p = Policy::new(
            HeaderRule::Deny(vec![]),
            vec![],
            Patterns::NONE,
            vec![CustomPattern::Regex(pattern.to_owned())],
        )
        .unwrap();
        check_with(&p, input, expected, &[Kind::Custom]);
        check_with(&p, "no secret here: user=bob, id 12-345", "no secret here: user=bob, id 12-345", &[]);
    }
}

#[test]
fn custom_prefix() {
    let pattern = CustomPattern::Prefix { prefix: "sk_live_".to_owned(), min_len: 20 };
    let p = policy(
        HeaderRule::Deny(vec![]),
        vec![pattern, CustomPattern::Prefix { prefix: "ghp_".to_owned(), min_len: 0 }],
    );
    check_with(&p, "key=sk_live_abcdefghijklmnop&x=1", "key=[REDACTED]&x=1", &[Kind::Custom]);
    check_with(&p, "short sk_live_abc, bare sk_live_", "short sk_live_abc, bare sk_live_", &[]);
    check_with(&p, "ghp_x ghp_ (ghp_y)", "[REDACTED] ghp_ ([REDACTED])", &[Kind::Custom, Kind::Custom]);
}

#[test]
fn bad_configurations_are_refused() {
    let refused = |headers: HeaderRule, params: &[&str], custom: Vec<CustomPattern>| {
        Policy::new(headers, names(params), Patterns::ALL, custom).unwrap_err()
    };
    assert!(refused(HeaderRule::Deny(names(&[""])), &[], vec![]).contains("header name"));
    assert!(refused(HeaderRule::Allow(names(&["x api key"])), &[], vec![]).contains("header name"));
    assert!(refused(HeaderRule::Deny(vec![]), &[" "], vec![]).contains("query parameter"));
    let regex = |s: &str| vec![CustomPattern::Regex(s.to_owned())];
    let err = refused(HeaderRule::Deny(vec![]), &[], [regex("ok"), regex("(unclosed")].concat());
    assert!(err.starts_with("custom pattern 1: invalid regex"), "{err}");
    assert!(refused(HeaderRule::Deny(vec![]), &[], regex("a*")).contains("matches the empty string"));
    assert!(refused(HeaderRule::Deny(vec![]), &[], regex(&"a".repeat(1025))).contains("longer than"));
    assert!(refused(HeaderRule::Deny(vec![]), &[], regex(r"(?:\w{1000}){100}")).contains("invalid regex"));
    let prefix = vec![CustomPattern::Prefix { prefix: String::new(), min_len: 1 }];
    assert!(refused(HeaderRule::Deny(vec![]), &[], prefix).contains("prefix"));
}

#[test]
fn names_are_lowercased_and_deduplicated() {
    let a = Policy::new(HeaderRule::Deny(names(&["X-Key", "x-key"])), names(&["Tok", "tok"]), Patterns::ALL, vec![]);
    let b = Policy::new(HeaderRule::Deny(names(&["x-key"])), names(&["tok"]), Patterns::ALL, vec![]);
    assert_eq!(a, b);
}

#[test]
fn a_clean_path_is_borrowed_and_allocates_nothing() {
    let path = "/api/v1/users/42/orders/2024-01-15/items?page=3&sort=desc&x=";
    assert_eq!(path.len(), 60);
    let mut counts = Counts::default();
    assert!(matches!(Policy::default_policy().text(path, &mut counts), Cow::Borrowed(p) if p == path));
    assert_eq!(counts, Counts::default());
    // `text` allocates only to record a match: the match buffer stays unallocated.
    let p = policy(HeaderRule::Deny(vec![]), vec![CustomPattern::Prefix { prefix: "sk_".to_owned(), min_len: 10 }]);
    let mut hits = Vec::new();
    p.find(path, 0, &mut hits);
    assert_eq!(hits.capacity(), 0);
    assert!(matches!(p.query("page=3&sort=desc&x=1", &mut counts), Cow::Borrowed(_)));
}

#[test]
fn adversarial_inputs_take_linear_time() {
    // Inputs that make a naive scanner restart at every position. Each scanner is linear, so this
    // takes milliseconds; a quadratic one would make it take minutes (the test reads no clock: the
    // crate bans it).
    let p = policy(HeaderRule::Deny(vec![]), vec![CustomPattern::Prefix { prefix: "sk_".to_owned(), min_len: 4 }]);
    let cases = [
        ("Bearer+".repeat(40_000), false),
        ("eyJ".repeat(100_000), true),
        ("eyJaaaaaaaaaa.".repeat(20_000), false),
        ("a%40".repeat(50_000), true),
        ("a@a".repeat(60_000), true),
        // Thirteen zeros pass Luhn, but a card has an issuer prefix and a first group of four.
        ("0 ".repeat(100_000), true),
        ("1 ".repeat(100_000), true),
        ("sk_".repeat(100_000), false),
    ];
    for (input, unchanged) in &cases {
        let mut counts = Counts::default();
        let out = p.text(input, &mut counts);
        assert_eq!(out == input.as_str(), *unchanged, "{}...", &input[..20]);
        let _ = p.query(input, &mut counts);
    }
}

#[test]
fn path_parameters_with_listed_names_are_masked_and_others_kept() {
    let policy = Policy::default();
    let mut counts = Counts::default();
    assert_eq!(policy.path("/api/v1/query;jsessionid=SECRET", &mut counts), "/api/v1/query;jsessionid=[REDACTED]");
    assert_eq!(
        policy.path("/a;PHPSESSID=abc/b;token=t1;v=2", &mut counts),
        "/a;PHPSESSID=[REDACTED]/b;token=[REDACTED];v=2"
    );
    assert_eq!(counts.get(Kind::PathParam), 3);
    // Matrix parameters with innocent names, and paths without parameters, are kept as they are.
    for innocent in ["/cars;color=red;year=2012", "/users/42", "/a;b", "/;=;", "/files/report;v=1.pdf"] {
        assert!(matches!(policy.path(innocent, &mut counts), Cow::Borrowed(p) if p == innocent), "{innocent}");
    }
    // Value patterns still apply inside paths and parameters.
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_value_here";
    assert!(!policy.path(&format!("/a;x={jwt}/b"), &mut counts).contains("eyJzdWIi"));
    assert_eq!(counts.get(Kind::PathParam), 3);
}

#[test]
fn userinfo_is_dropped_from_an_authority() {
    let policy = Policy::default();
    let mut counts = Counts::default();
    assert_eq!(policy.authority("admin:PASSWORD@example.com:8443", &mut counts), "example.com:8443");
    assert_eq!(policy.authority("a@b@example", &mut counts), "example");
    assert_eq!(policy.authority("example.com", &mut counts), "example.com");
    assert_eq!(policy.authority("[::1]:80", &mut counts), "[::1]:80");
    assert_eq!(counts.get(Kind::Userinfo), 2);
}

#[test]
fn urls_in_header_values_get_the_request_rules() {
    let policy = Policy::default();
    let mut counts = Counts::default();
    let header =
        |name: &str, value: &str, counts: &mut Counts| policy.header(name, value, counts).unwrap().into_owned();
    assert_eq!(
        header("referer", "https://x.example/cb?code=abc123&state=ok&access_token=t0k", &mut counts),
        "https://x.example/cb?code=[REDACTED]&state=ok&access_token=[REDACTED]"
    );
    assert_eq!(header("location", "https://admin:hunter2@internal.example:8443/a?b=1", &mut counts), {
        // The email scanner also matches `hunter2@internal.example`: one merged replacement.
        "https://[REDACTED]:8443/a?b=1"
    });
    assert_eq!(header("location", "https://svc:s3cr3t@10.0.0.7/a", &mut counts), "https://[REDACTED]@10.0.0.7/a");
    assert_eq!(
        header("link", r#"<https://api.example/items?page=2&token=abc>; rel="next""#, &mut counts),
        r#"<https://api.example/items?page=2&token=[REDACTED]>; rel="next""#
    );
    assert_eq!(counts.get(Kind::QueryParam), 3);
    assert_eq!(counts.get(Kind::Userinfo), 2);
    for innocent in ["https://example.com/path?page=2", "http://[::1]:8080/", "text/html", "gzip, br", "://"] {
        assert_eq!(header("referer", innocent, &mut counts), innocent);
    }
}

#[test]
fn sensitive_baggage_members_are_masked_and_others_kept() {
    let policy = Policy::default();
    let mut counts = Counts::default();
    let masked =
        policy.header("baggage", "userId=alice, user.password=hunter2;prop=1,session_id = s1 ,tier=gold", &mut counts);
    assert_eq!(masked.unwrap(), "userId=alice, user.password=[REDACTED];prop=1,session_id = [REDACTED] ,tier=gold");
    assert_eq!(counts.get(Kind::QueryParam), 2);
    let innocent = "userId=alice,region=eu-west-1,sampled=true";
    assert_eq!(policy.header("baggage", innocent, &mut counts).unwrap(), innocent);
}

#[test]
fn address_headers_keep_addresses_and_replace_anything_else() {
    let policy = Policy::default();
    let mut counts = Counts::default();
    let xff = "203.0.113.7, 2001:db8::1, [2001:db8::2]:443, 10.0.0.1:8080, unknown, _gw1";
    assert_eq!(policy.header("x-forwarded-for", xff, &mut counts).unwrap(), xff);
    assert_eq!(
        policy.header("X-Forwarded-For", "203.0.113.7, sess-8f3kq0zLr2, 10.0.0.1", &mut counts).unwrap(),
        "203.0.113.7, [REDACTED], 10.0.0.1"
    );
    assert_eq!(policy.header("x-real-ip", "tok_AbC123xyz", &mut counts).unwrap(), "[REDACTED]");
    assert_eq!(
        policy
            .header("forwarded", r#"for=192.0.2.60;proto=http;by="[2001:db8::7]", for=secret-token"#, &mut counts)
            .unwrap(),
        r#"for=192.0.2.60;proto=http;by="[2001:db8::7]", for=[REDACTED]"#
    );
    assert_eq!(counts.get(Kind::NotAnAddress), 3);
}
