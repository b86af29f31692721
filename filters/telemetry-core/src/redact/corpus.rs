//! Data tables: a false-positive corpus that must pass through untouched, planted secrets that must
//! be caught, and the vendor key shapes (issue 13).

use std::borrow::Cow;

use super::*;

/// Values that are not secrets: none may be changed by [`Policy::text`].
const INNOCENT: &[&str] = &[
    // UUIDs: v1, v3, v4, v5, v7, nil, upper case, without dashes, all digits.
    "c232ab00-9414-11ec-b3c8-9f6bdeced846",
    "C232AB00-9414-11EC-B3C8-9F6BDECED846",
    "c232ab00941411ecb3c89f6bdeced846",
    "6fa459ea-ee8a-3ca4-894e-db77e160355e",
    "8b1f3c2a-9c61-4d7e-a0b5-123456789abc",
    "8B1F3C2A-9C61-4D7E-A0B5-123456789ABC",
    "8b1f3c2a9c614d7ea0b5123456789abc",
    "f47ac10b-58cc-4372-a567-0e02b2c3d479",
    "550e8400-e29b-41d4-a716-446655440000",
    "886313e1-3b8a-5372-9b90-0c9aee199e5d",
    "017f22e2-79b0-7cc3-98c4-dc0c0c07398f",
    "01890A5D-AC96-774B-BCCE-B302099A8057",
    "01890a5dac96774bbcceb302099a8057",
    "00000000-0000-0000-0000-000000000000",
    "12345678-1234-4123-8123-123456789012",
    "41111111-1111-4111-8111-111111111111",
    "request 8b1f3c2a-9c61-4d7e-a0b5-123456789abc failed",
    // W3C trace context and trace/span ids (32 and 16 hex).
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00-41111111111111114111111111111111-4111111111111111-01",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
    "4bf92f3577b34da6a3ce929d0e0e4736",
    "00f067aa0ba902b7",
    "a3ce929d0e0e4736",
    "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90",
    "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
    // ISO 8601 timestamps and Unix times in s, ms, us, ns.
    "2026-12-07T00:35:59Z",
    "2026-12-07T00:35:59.123456789+01:00",
    "20261207T003559Z",
    "2024-01-15 10:30:00",
    "1765067759",
    "1765067759123",
    "1765067759123456",
    "1765067759123456789",
    "ts=1765067759123 id=1234567890123",
    // IPv4 and IPv6 addresses.
    "192.168.10.254",
    "10.0.0.1:8080",
    "203.0.113.7, 198.51.100.23",
    "2001:db8:85a3::8a2e:370:7334",
    "[2001:db8::1]:443",
    "::ffff:192.0.2.128",
    "fe80::1%eth0",
    // Semantic versions.
    "1.2.3",
    "v2.14.0",
    "10.20.30-rc.1+build.4111111111111111",
    "4111111111111111.0.1",
    // 13-19 digit numbers failing Luhn.
    "4111111111111112",
    "order 5555555555554445",
    "Order #4111111111111112 shipped",
    "build 20261207.1",
    "4242424242424241",
    "1234567890123",
    "9876543210987654321",
    "3782822463100051",
    // 13-19 digit numbers passing Luhn without an issuer prefix.
    "0123456789015",
    "10000000000012343",
    "700000000000000005",
    "8123456789012345673",
    "91234567890123453",
    "7777777777778",
    // Card-like digits inside longer tokens.
    "a4111111111111111",
    "4111111111111111b",
    "order_4111111111111111",
    "sku-4111-1111-1111-1111",
    "4111-1111-1111-1111-abcd",
    "41111111111111110000",
    "4111  1111  1111  1111",
    "4111 1111-1111 1111",
    // Vendor-looking strings that are not keys.
    "AKIAIOSFODNN7EXAMPL",
    "AKIAIOSFODNN7EXAMPLEX",
    "xAKIAIOSFODNN7EXAMPLE",
    "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "sk_live_short",
    "ghp_short",
    "-----BEGIN CERTIFICATE-----MIIB-----END CERTIFICATE-----",
    // User agents.
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/s3#1.58.2",
    "okhttp/4.12.0",
    "curl/8.5.0",
    "grpc-java-netty/1.62.2",
];

/// Ids in request and trace id headers, kept by [`Policy::header`].
const IDS: &[(&str, &str)] = &[
    ("x-request-id", "8b1f3c2a-9c61-4d7e-a0b5-123456789abc"),
    ("X-Request-Id", "41111111-1111-4111-8111-111111111111"),
    ("x-request-id", "4111111111111111"),
    ("x-request-id", "c232ab00941411ecb3c89f6bdeced846"),
    ("x-b3-traceid", "4bf92f3577b34da6a3ce929d0e0e4736"),
    ("x-b3-traceid", "4111111111111111"),
    ("x-b3-spanid", "4111111111111111"),
    ("x-b3-spanid", "00f067aa0ba902b7"),
    ("x-b3-parentspanid", "5555555555554444"),
    ("traceparent", "00-41111111111111114111111111111111-4111111111111111-01"),
    ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    ("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90"),
];

const JWT: &str =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
const PEM: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB\n-----END RSA PRIVATE KEY-----";

/// Planted secrets: `text(input)` is `expected`, counting `kinds`.
const PLANTED: &[(&str, &str, &[Kind])] = &[
    // Test card numbers of each issuer, as cards are written.
    ("card 4111 1111 1111 1111 ok", "card [REDACTED] ok", &[Kind::CardNumber]),
    ("5555-5555-5555-4444", "[REDACTED]", &[Kind::CardNumber]),
    ("amex=378282246310005;", "amex=[REDACTED];", &[Kind::CardNumber]),
    ("amex 3782 822463 10005", "amex [REDACTED]", &[Kind::CardNumber]),
    ("/pay/4012888888881881/confirm", "/pay/[REDACTED]/confirm", &[Kind::CardNumber]),
    ("discover 6011111111111117", "discover [REDACTED]", &[Kind::CardNumber]),
    ("jcb 3530111333300000", "jcb [REDACTED]", &[Kind::CardNumber]),
    ("diners 30569309025904", "diners [REDACTED]", &[Kind::CardNumber]),
    ("unionpay 6200000000000005", "unionpay [REDACTED]", &[Kind::CardNumber]),
    ("mc2 2223 0031 2200 3222", "mc2 [REDACTED]", &[Kind::CardNumber]),
    ("maestro 6759649826438453", "maestro [REDACTED]", &[Kind::CardNumber]),
    ("visa13 4222222222222.", "visa13 [REDACTED].", &[Kind::CardNumber]),
    ("qty 2 4111 1111 1111 1111", "qty 2 [REDACTED]", &[Kind::CardNumber]),
    ("5 4111-1111-1111-1111", "5 [REDACTED]", &[Kind::CardNumber]),
    ("(4111111111111111)", "([REDACTED])", &[Kind::CardNumber]),
    // JWTs, bearer tokens, emails.
    (
        "id_token eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "id_token [REDACTED]",
        &[Kind::Jwt],
    ),
    ("Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0", "Bearer [REDACTED]", &[Kind::Bearer]),
    ("from jane.doe@example.com", "from [REDACTED]", &[Kind::Email]),
    // Vendor keys.
    ("key AKIAIOSFODNN7EXAMPLE used", "key [REDACTED] used", &[Kind::AwsKeyId]),
    ("ASIAY34FZKBOKMUTVV7A", "[REDACTED]", &[Kind::AwsKeyId]),
    ("k=AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI&x", "k=[REDACTED]&x", &[Kind::GcpApiKey]),
    ("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", "[REDACTED]", &[Kind::GithubToken]),
    ("token gho_16C7e42F292c6912E7710c838347Ae178B4a,", "token [REDACTED],", &[Kind::GithubToken]),
    ("ghs_16C7e42F292c6912E7710c838347Ae178B4a", "[REDACTED]", &[Kind::GithubToken]),
    (
        "github_pat_11AABBCCDD0123456789ab_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456",
        "[REDACTED]",
        &[Kind::GithubToken],
    ),
    ("slack xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy", "slack [REDACTED]", &[Kind::SlackToken]),
    ("xoxp-1234567890-abcdef", "[REDACTED]", &[Kind::SlackToken]),
    ("stripe: sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe: [REDACTED]", &[Kind::StripeKey]),
    ("rk_live_51H8xYzAbCdEfGhIjKlMnOpQr", "[REDACTED]", &[Kind::StripeKey]),
    // PEM private key blocks, masked whole; URL-encoded; without an end line, to the end.
    ("a -----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- b", "a [REDACTED] b", &[Kind::PrivateKey]),
    ("-----BEGIN%20PRIVATE%20KEY-----MIIEvQ-----END%20PRIVATE%20KEY-----", "[REDACTED]", &[Kind::PrivateKey]),
    ("k=-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXk", "k=[REDACTED]", &[Kind::PrivateKey]),
];

#[test]
fn the_false_positive_corpus_passes_untouched() {
    let policy = Policy::default_policy();
    assert!(INNOCENT.len() >= 80, "{}", INNOCENT.len());
    for value in INNOCENT {
        let mut counts = Counts::default();
        let out = policy.text(value, &mut counts);
        assert!(matches!(out, Cow::Borrowed(v) if v == *value), "text({value:?}) = {out:?}");
        assert_eq!(counts, Counts::default(), "text({value:?})");
        let out = policy.header("x-custom", value, &mut counts);
        assert!(matches!(out, Some(Cow::Borrowed(v)) if v == *value), "header({value:?}) = {out:?}");
    }
}

#[test]
fn ids_in_id_headers_are_kept() {
    let policy = Policy::default_policy();
    for (name, value) in IDS {
        let mut counts = Counts::default();
        let out = policy.header(name, value, &mut counts);
        assert!(matches!(out, Some(Cow::Borrowed(v)) if v == *value), "header({name}, {value:?}) = {out:?}");
        assert_eq!(counts, Counts::default());
    }
    // Anything else in an id header is free text: a card in a sentence is still caught.
    let mut counts = Counts::default();
    let out = policy.header("x-request-id", "card 4111 1111 1111 1111", &mut counts);
    assert_eq!(out.as_deref(), Some("card [REDACTED]"));
}

#[test]
fn request_ids_in_the_log_are_kept_as_their_header_keeps_them() {
    let policy = Policy::default_policy();
    for (_, value) in IDS.iter().filter(|(name, _)| *name == "x-request-id") {
        let mut counts = Counts::default();
        let out = policy.request_id(value, &mut counts);
        assert!(matches!(out, Cow::Borrowed(v) if v == *value), "request_id({value:?}) = {out:?}");
        assert_eq!(counts, Counts::default());
    }
    let mut counts = Counts::default();
    assert_eq!(policy.request_id("card 4111 1111 1111 1111", &mut counts), "card [REDACTED]");
    assert_eq!(policy.request_id("Bearer abcdef0123456789", &mut counts), "Bearer [REDACTED]");
}

#[test]
fn planted_secrets_are_caught() {
    let policy = Policy::default_policy();
    for (input, expected, kinds) in PLANTED {
        let mut counts = Counts::default();
        let out = policy.text(input, &mut counts);
        assert_eq!(out, *expected, "text({input:?})");
        let mut want = Counts::default();
        kinds.iter().for_each(|k| want.add(*k));
        assert_eq!(counts, want, "text({input:?})");
        // Also as the value of any header that is not an id header.
        let out = policy.header("x-debug", input, &mut Counts::default());
        assert_eq!(out.as_deref(), Some(*expected), "header({input:?})");
    }
    let mut counts = Counts::default();
    assert_eq!(policy.text(&format!("{PEM} {JWT}"), &mut counts), "[REDACTED] [REDACTED]");
    assert_eq!((counts.get(Kind::PrivateKey), counts.get(Kind::Jwt)), (1, 1));
}

#[test]
fn vendor_keys_are_on_whatever_the_switches() {
    let off = Policy::new(HeaderRule::Deny(vec![]), vec![], Patterns::NONE, vec![]).unwrap();
    let mut counts = Counts::default();
    assert_eq!(off.text("AKIAIOSFODNN7EXAMPLE", &mut counts), "[REDACTED]");
    assert_eq!(off.text(PEM, &mut counts), "[REDACTED]");
    assert_eq!(counts.total(), 2);
}

#[test]
fn adversarial_60k_values_are_handled() {
    // Shapes of the `redaction_60k` benchmark: each is scanned once (the benchmark measures it).
    let policy = Policy::default_policy();
    for unit in
        ["8395102746", "7 ", "8395 1027 ", "@", "a@", "a=b&", "==&&", "%40%20%41", "-----BEGIN ", "AKIA", "xoxb-"]
    {
        let value = unit.repeat(60 * 1024 / unit.len());
        let _ = policy.text(&value, &mut Counts::default());
        let _ = policy.query(&value, &mut Counts::default());
    }
}
