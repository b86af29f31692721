use super::*;
use proptest::prelude::*;

#[test]
fn content_types_name_grpc_and_grpc_web_only() {
    let cases = [
        ("application/grpc", Some(Protocol::Grpc)),
        ("application/grpc+proto", Some(Protocol::Grpc)),
        ("application/grpc+json", Some(Protocol::Grpc)),
        ("Application/GRPC; charset=utf-8", Some(Protocol::Grpc)),
        ("application/grpc-web", Some(Protocol::GrpcWeb)),
        ("application/grpc-web+proto", Some(Protocol::GrpcWeb)),
        ("application/grpc-web-text", Some(Protocol::GrpcWeb)),
        ("application/grpc-web-text+proto", Some(Protocol::GrpcWeb)),
        ("application/grpcx", None),
        ("application/grpc-webby", None),
        ("application/grp", None),
        ("application/json", None),
        ("text/grpc", None),
        ("", None),
    ];
    for (content_type, expected) in cases {
        assert_eq!(protocol(content_type), expected, "{content_type:?}");
    }
}

#[test]
fn service_and_method_come_from_a_well_formed_path_only() {
    assert_eq!(method("/grpc.test.EchoService/Echo"), Some(("grpc.test.EchoService", "Echo")));
    assert_eq!(method("/MyServiceWithNoPackage/theMethod"), Some(("MyServiceWithNoPackage", "theMethod")));
    assert_eq!(method("/pkg.v1.Svc_2/Get_Thing"), Some(("pkg.v1.Svc_2", "Get_Thing")));
    for bad in [
        "/",
        "",
        "/Svc",
        "/Svc/",
        "//Method",
        "/pkg.Svc/Method/extra",
        "/pkg.Svc/Method?x=1",
        "pkg.Svc/Method",
        "/pkg..Svc/Method",
        "/.pkg.Svc/Method",
        "/pkg.Svc./Method",
        "/pkg.Svc/Me.thod",
        "/pkg%2ESvc/Method",
        "/users/alice@example.com",
    ] {
        assert_eq!(method(bad), None, "{bad:?}");
    }
    let long = format!("/{}/M", "s".repeat(257));
    assert_eq!(method(&long), None, "a name past 256 bytes is not taken");
    let longest = format!("/{}/M", "s".repeat(256));
    assert!(method(&longest).is_some());
}

#[test]
fn status_values_are_the_seventeen_codes_in_decimal() {
    assert_eq!(Code::parse("0"), Some(Code::OK));
    assert_eq!(Code::parse("13").map(Code::name), Some("INTERNAL"));
    assert_eq!(Code::parse("16").map(Code::name), Some("UNAUTHENTICATED"));
    assert_eq!(Code::parse("12").map(Code::number), Some(12));
    for bad in ["", "17", "99", "-1", "+1", " 1", "1 ", "013", "0x1", "one", "255"] {
        assert_eq!(Code::parse(bad), None, "{bad:?}");
    }
    for n in 0..=16u8 {
        let code = Code::parse(&n.to_string()).unwrap();
        assert_eq!(code.decimal(), n.to_string());
        assert_eq!(code.number(), n);
    }
}

#[test]
fn server_spans_fail_on_the_servers_codes_client_spans_on_every_non_ok_code() {
    let server_errors = ["UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"];
    for n in 0..=16u8 {
        let code = Code::parse(&n.to_string()).unwrap();
        let server = error_type(Some(code), SpanKind::Server);
        let client = error_type(Some(code), SpanKind::Client);
        assert_eq!(server.is_some(), server_errors.contains(&code.name()), "SERVER {}", code.name());
        assert_eq!(client.is_some(), n != 0, "CLIENT {}", code.name());
        if let Some(t) = client {
            assert_eq!(t, code.name(), "error.type is the code's name");
        }
    }
    assert_eq!(error_type(None, SpanKind::Server), Some("_OTHER"), "no status: the caller fails the call");
    assert_eq!(error_type(None, SpanKind::Client), Some("_OTHER"));
}

#[test]
fn calls_fail_by_their_status_and_a_missing_one_only_for_grpc() {
    let call =
        |protocol, status: Option<u8>| Call { protocol, status: status.map(|n| Code::parse(&n.to_string()).unwrap()) };
    assert!(!call(Protocol::Grpc, Some(0)).failed());
    assert!(call(Protocol::Grpc, Some(5)).failed(), "NOT_FOUND fails the call");
    assert!(!call(Protocol::Grpc, Some(5)).server_failed(), "but it is the caller's error");
    assert!(call(Protocol::Grpc, Some(13)).server_failed());
    assert!(call(Protocol::Grpc, None).failed() && call(Protocol::Grpc, None).server_failed());
    assert!(!call(Protocol::GrpcWeb, None).failed(), "gRPC-Web trailers are in the body: not seen");
    assert!(call(Protocol::GrpcWeb, Some(14)).server_failed());
    assert_eq!(call(Protocol::Grpc, Some(13)).label(), "13");
    assert_eq!(call(Protocol::Grpc, None).label(), LABEL_MISSING);
}

#[test]
fn messages_are_percent_decoded_and_bounded() {
    assert_eq!(message("bad%20thing%3A%20%E2%82%AC"), "bad thing: €");
    assert_eq!(message("100%"), "100%", "a lone % stays");
    assert_eq!(message("%zz"), "%zz");
    assert_eq!(message("%FF"), "\u{fffd}", "invalid UTF-8 is replaced");
    let long = message(&"é".repeat(400));
    assert!(long.len() <= MAX_MESSAGE_LEN && long.chars().all(|c| c == 'é'), "cut on a character boundary");
    let encoded = message(&"%41".repeat(1000));
    assert_eq!(encoded.len(), MAX_MESSAGE_LEN);
}

proptest! {
    #[test]
    fn method_names_are_substrings_of_bounded_charset(path in "/[a-zA-Z0-9_./%@?-]{0,40}/?[a-zA-Z0-9_./%-]{0,20}") {
        if let Some((service, method_name)) = method(&path) {
            prop_assert_eq!(format!("/{service}/{method_name}"), path.clone());
            prop_assert!(service.bytes().chain(method_name.bytes()).all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.'));
        }
    }

    #[test]
    fn messages_never_exceed_the_bound(raw in ".{0,2000}") {
        prop_assert!(message(&raw).len() <= MAX_MESSAGE_LEN);
    }
}
