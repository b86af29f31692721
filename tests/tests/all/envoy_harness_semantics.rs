//! What Envoy 1.40 itself does around a Wasm filter on HTTP/1.1 (issue #18), measured with the
//! SDK probe (`tests/guests/sdk-probe`, which logs every header, body and trailer callback with
//! its map and sizes), and the harness with `envoy_defaults` replaying the same exchanges: the
//! probe must see the same callbacks, maps and sizes in both. The facts pinned here are the ones
//! `host_harness::envoy` documents:
//!
//! - request pseudo-headers in the order `:authority`, `:path`, `:method`, `:scheme`; `connection`,
//!   `keep-alive` and `proxy-connection` gone (`te: trailers` kept); `x-forwarded-proto` and `x-request-id` (a UUID v4, replacing a client's) present before
//!   the filter runs (with `edge-gateway.yaml`'s `use_remote_address: true`);
//! - `x-envoy-upstream-service-time` last in upstream response headers;
//! - a body (content-length or chunked, request or response) as one data call per piece that
//!   arrives on its own, then an empty call with `end_of_stream`;
//! - a reply to HEAD: headers with `end_of_stream`, `content-length` kept, no body callback;
//! - a local reply to a POST whose body was not read: the module's headers, then `content-length`
//!   and `content-type`, the body in one call; downstream it carries `connection: close`.
//!
//! Left out of the comparison, because they depend on the listener's trust settings and the
//! client's network, not on the filter: `x-forwarded-for` and `x-envoy-external-address` (Envoy
//! adds them; the harness does not), and the header count of the request callback they change.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use host_harness::{Host, Module, traffic};
use meshlens_tests::envoy::bootstrap::{Bootstrap, Cluster, HttpFilter, Listener, Wasm};
use meshlens_tests::envoy::{Envoy, free_port};
use meshlens_tests::paths;
use serde_json::json;

/// One exchange: the raw request the client sends, and the same exchange as a traffic line.
struct Case {
    raw: &'static [u8],
    /// Send the first this many bytes, wait 300 ms, then the rest (a body in two pieces).
    split: Option<usize>,
    traffic: &'static str,
}

const CASES: [Case; 8] = [
    Case {
        raw: b"GET /cl HTTP/1.1\r\nHost: a.example\r\nX-B: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nConnection: close\r\n\r\n",
        split: None,
        traffic: r#"{"path": "/cl", "authority": "a.example", "headers": {"x-b": "1", "keep-alive": "timeout=5", "proxy-connection": "keep-alive", "te": "trailers", "connection": "close"}, "response": {"headers": {"content-type": "text/plain", "content-length": "18"}, "body": "hello secret world"}}"#,
    },
    Case {
        raw: b"GET /chunked HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n",
        split: None,
        traffic: r#"{"path": "/chunked", "authority": "a.example", "headers": {"connection": "close"}, "response": {"headers": {"content-type": "text/plain", "transfer-encoding": "chunked"}, "body": "hello secret world"}}"#,
    },
    Case {
        raw: b"POST /post HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        split: None,
        traffic: r#"{"method": "POST", "path": "/post", "authority": "a.example", "headers": {"content-length": "5", "connection": "close"}, "body": "hello", "response": {"headers": {"content-type": "text/plain", "content-length": "18"}, "body": "hello secret world"}}"#,
    },
    Case {
        raw: b"HEAD /head HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n",
        split: None,
        traffic: r#"{"method": "HEAD", "path": "/head", "authority": "a.example", "headers": {"connection": "close"}, "response": {"headers": {"content-type": "text/plain", "content-length": "11"}, "body": "not sent..."}}"#,
    },
    Case {
        raw: b"GET /cl HTTP/1.1\r\nHost: a.example\r\nX-Request-Id: client-1\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n",
        split: None,
        traffic: r#"{"path": "/cl", "authority": "a.example", "headers": {"x-request-id": "client-1", "x-forwarded-proto": "https", "connection": "close"}, "response": {"headers": {"content-type": "text/plain", "content-length": "18"}, "body": "hello secret world"}}"#,
    },
    // No `connection: close` from the client: the one downstream comes from Envoy.
    Case {
        raw: b"POST /deny HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5\r\n\r\nhello",
        split: None,
        traffic: r#"{"method": "POST", "path": "/deny", "authority": "a.example", "headers": {"content-length": "5"}, "body": "hello"}"#,
    },
    // The upstream writes its chunks 300 ms apart: one body call each.
    Case {
        raw: b"GET /slow HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n",
        split: None,
        traffic: r#"{"path": "/slow", "authority": "a.example", "headers": {"connection": "close"}, "response": {"headers": {"content-type": "text/plain", "transfer-encoding": "chunked"}, "chunks": ["hello ", "secret world"]}}"#,
    },
    // The client sends its body in two pieces 300 ms apart.
    Case {
        raw: b"POST /post HTTP/1.1\r\nHost: a.example\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhelloworld",
        split: Some(84),
        traffic: r#"{"method": "POST", "path": "/post", "authority": "a.example", "headers": {"content-length": "10", "connection": "close"}, "chunks": ["hello", "world"], "response": {"headers": {"content-type": "text/plain", "content-length": "18"}, "body": "hello secret world"}}"#,
    },
];

/// `filters` then `wasm` as the HTTP filters, on a listener that uses the remote address (as
/// `edge-gateway.yaml` does), and the app.
fn bootstrap(listener: u16, admin: u16, app: u16, filters: Vec<HttpFilter>, wasm: Wasm) -> String {
    let filters = filters.into_iter().chain([HttpFilter::Wasm(wasm)]).collect();
    let listener = Listener { use_remote_address: true, ..Listener::to_app(listener, filters) };
    Bootstrap { admin, listener: Some(listener), clusters: vec![Cluster::http1("app", app)], ..Bootstrap::default() }
        .yaml()
}

/// The SDK probe, plugin name `probe`.
fn probe() -> Wasm {
    Wasm { name: Some(String::from("probe")), ..Wasm::new(meshlens_tests_guests::SDK_PROBE_WASIP1) }
}

/// A `set_metadata` filter setting these namespaces' dynamic metadata.
fn set_metadata(namespaces: serde_json::Value) -> HttpFilter {
    HttpFilter::Other {
        name: String::from("envoy.filters.http.set_metadata"),
        typed_config: json!({
            "@type": "type.googleapis.com/envoy.extensions.filters.http.set_metadata.v3.Config",
            "metadata": namespaces,
        }),
    }
}

/// The upstream: answers by path, bodies with `content-length` or chunked, HEAD without a body;
/// one connection at a time, keep-alive, until the listener is dropped.
fn upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || serve(conn));
        }
    });
    port
}

fn serve(mut conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") else {
            let mut buf = [0u8; 4096];
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&pending[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while pending.len() < end + 4 + length {
            let mut buf = [0u8; 4096];
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
        }
        pending.drain(..end + 4 + length);
        if head.starts_with("get /slow") {
            let pieces: [&[u8]; 3] = [
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n6\r\nhello \r\n",
                b"c\r\nsecret world\r\n",
                b"0\r\n\r\n",
            ];
            for piece in pieces {
                if conn.write_all(piece).and_then(|()| conn.flush()).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
            continue;
        }
        let reply: &[u8] = if head.starts_with("head ") {
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 11\r\n\r\n"
        } else if head.starts_with("get /chunked") {
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n6\r\nhello \r\nc\r\nsecret world\r\n0\r\n\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 18\r\n\r\nhello secret world"
        };
        if conn.write_all(reply).is_err() {
            return;
        }
    }
}

/// Sends one raw request (the first `split` bytes, then after 300 ms the rest) and reads the
/// response until Envoy closes the connection.
fn send(listener: SocketAddr, raw: &[u8], split: Option<usize>) -> String {
    let mut conn = TcpStream::connect(listener).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (first, rest) = raw.split_at(split.unwrap_or(raw.len()));
    conn.write_all(first).unwrap();
    if !rest.is_empty() {
        std::thread::sleep(Duration::from_millis(300));
        conn.write_all(rest).unwrap();
    }
    let mut out = Vec::new();
    let _ = conn.read_to_end(&mut out);
    let _ = conn.shutdown(Shutdown::Both);
    String::from_utf8_lossy(&out).into_owned()
}

/// The probe's lines per stream, in the order the streams first logged, context ids dropped.
fn by_stream(lines: impl Iterator<Item = (u32, String)>) -> Vec<Vec<String>> {
    let mut streams: Vec<(u32, Vec<String>)> = Vec::new();
    for (id, line) in lines {
        match streams.iter_mut().find(|(s, _)| *s == id) {
            Some((_, lines)) => lines.push(line),
            None => streams.push((id, vec![line])),
        }
    }
    streams.into_iter().map(|(_, lines)| lines).collect()
}

/// `probe: <id> <rest>` lines of a log text, as (id, rest).
fn probe_lines(log: &str) -> Vec<(u32, String)> {
    log.lines()
        .filter_map(|l| {
            // Envoy's lines read `wasm log probe: probe: 2 ...`; the harness's `probe: 2 ...`.
            l.match_indices("probe: ")
                .map(|(i, _)| &l[i + 7..])
                .find(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .filter_map(|rest| rest.split_once(' '))
        .filter_map(|(id, rest)| Some((id.parse().ok()?, rest.to_owned())))
        .collect()
}

/// What both must agree on: the request header count and the address headers left out, the
/// request id and the service time replaced by their shapes.
fn normalize(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| !l.starts_with("> x-forwarded-for: ") && !l.starts_with("> x-envoy-external-address: "))
        .map(|l| {
            if let Some(id) = l.strip_prefix("> x-request-id: ") {
                let v4 = id.len() == 36 && id.get(14..15) == Some("4") && id.chars().filter(|c| *c == '-').count() == 4;
                return format!("> x-request-id: {}", if v4 { "<uuid v4>" } else { id });
            }
            if l.starts_with("< x-envoy-upstream-service-time: ") {
                return String::from("< x-envoy-upstream-service-time: <ms>");
            }
            if let Some(rest) = l.strip_prefix("request headers ") {
                return format!("request headers {}", rest.split_once(' ').map_or(rest, |(_, eos)| eos));
            }
            l.clone()
        })
        .collect()
}

#[test]
fn envoy_and_the_harness_with_envoy_defaults_make_the_same_callbacks() {
    let app = upstream();
    let (listener, admin) = (free_port(), free_port());
    let envoy = Envoy::start_text(&bootstrap(listener, admin, app, Vec::new(), probe()), listener, admin, 1);
    let responses: Vec<String> = CASES.iter().map(|c| send(envoy.listener, c.raw, c.split)).collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    let envoy_streams = loop {
        let streams = by_stream(probe_lines(&envoy.log()).into_iter());
        let ended =
            streams.iter().filter(|s| s.iter().any(|l| l.starts_with("response") && l.ends_with("eos=true"))).count();
        if ended == CASES.len() || Instant::now() > deadline {
            break streams;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(envoy_streams.len(), CASES.len(), "{envoy_streams:#?}\n{}", envoy.log());
    let has = |stream: &[String], line: &str| stream.iter().any(|l| l == line);

    // The facts, from Envoy itself.
    let [cl, chunked, post, head, client_id, deny, slow, split] = &envoy_streams[..] else { unreachable!() };
    let request_names: Vec<&str> =
        cl.iter().filter_map(|l| l.strip_prefix("> ")).filter_map(|l| l.split(": ").next()).collect();
    assert_eq!(
        request_names,
        [
            ":authority",
            ":path",
            ":method",
            ":scheme",
            "x-b",
            "te",
            "x-forwarded-for",
            "x-forwarded-proto",
            "x-envoy-external-address",
            "x-request-id"
        ],
        "Envoy's HTTP/1 order, its additions after the client's headers, hop-by-hop headers gone but `te`"
    );
    assert!(has(cl, "> x-forwarded-proto: http"));
    assert!(
        cl.iter().rfind(|l| l.starts_with("< ")).is_some_and(|l| l.starts_with("< x-envoy-upstream-service-time: ")),
        "{cl:?}"
    );
    for stream in [cl, chunked, post] {
        let bodies: Vec<&str> = stream.iter().map(String::as_str).filter(|l| l.contains(" body ")).collect();
        let expected: &[&str] = if stream == post {
            &[
                "request body 5 eos=false",
                "request body 0 eos=true",
                "response body 18 eos=false",
                "response body 0 eos=true",
            ]
        } else {
            &["response body 18 eos=false", "response body 0 eos=true"]
        };
        assert_eq!(bodies, expected, "data, then an empty end of stream");
    }
    assert!(has(head, "response headers 4 eos=true") && has(head, "< content-length: 11"), "{head:?}");
    assert!(!head.iter().any(|l| l.contains(" body ")), "no body callback for HEAD: {head:?}");
    assert!(
        has(client_id, "> x-forwarded-proto: http") && !has(client_id, "> x-request-id: client-1"),
        "{client_id:?}"
    );
    assert_eq!(
        deny.iter().filter(|l| l.starts_with("response") || l.starts_with("< ")).collect::<Vec<_>>(),
        [
            "response headers 4 eos=false",
            "< :status: 403",
            "< x-probe: denied",
            "< content-length: 6",
            "< content-type: text/plain",
            "response body 6 eos=true"
        ],
    );
    let bodies = |stream: &[String]| stream.iter().filter(|l| l.contains(" body ")).cloned().collect::<Vec<_>>();
    assert_eq!(
        bodies(slow),
        ["response body 6 eos=false", "response body 12 eos=false", "response body 0 eos=true"],
        "a piece at a time, then the end of the stream"
    );
    assert_eq!(bodies(split)[..3], ["request body 5 eos=false", "request body 5 eos=false", "request body 0 eos=true"]);
    let deny_response = responses[5].to_ascii_lowercase();
    assert!(deny_response.contains("\r\nconnection: close\r\n"), "{deny_response}");
    assert!(!deny.iter().any(|l| l.contains("connection")), "the filter never sees it");
    assert!(responses[3].ends_with("\r\n\r\n") && responses[3].contains("content-length: 11"), "{}", responses[3]);

    // The harness, the same exchanges, Envoy's defaults on.
    let text = std::iter::once("{\"meshlens_traffic\": 2}")
        .chain(CASES.iter().map(|c| c.traffic))
        .collect::<Vec<_>>()
        .join("\n");
    let module = Module::from_file(meshlens_tests_guests::SDK_PROBE_WASIP1).unwrap();
    let mut host = Host::builder(&module).clusters(Vec::<String>::new()).envoy_defaults(true).build().unwrap();
    let exchanges = traffic::parse(&text).unwrap();
    let outcomes = traffic::replay(&mut host, &exchanges, |_| {}).unwrap();
    let harness_streams = by_stream(
        probe_lines(&host.logs().iter().map(|l| l.message.clone()).collect::<Vec<_>>().join("\n")).into_iter(),
    );
    assert_eq!(harness_streams.len(), CASES.len());
    for (i, (envoy_lines, harness_lines)) in envoy_streams.iter().zip(&harness_streams).enumerate() {
        assert_eq!(normalize(harness_lines), normalize(envoy_lines), "exchange {i}: {}", CASES[i].traffic);
    }
    let deny_stream = &outcomes[5].stream;
    assert_eq!(deny_stream.downstream_response_header("connection"), Some("close"));
    assert_eq!(outcomes[3].stream.downstream_response_body(), b"", "HEAD");
}

/// Dynamic metadata an earlier filter set (`set_metadata`, as the SDK example's Lua filter would)
/// read by the SDK's `envoy_filter_metadata` example, which answers with it: in Envoy, and in the
/// harness from a traffic file's `properties.metadata`, the same reply.
#[test]
fn dynamic_metadata_reads_the_same_in_envoy_and_from_a_traffic_file() {
    let module = paths::shared_dir().join("third-party/rust-sdk-examples/envoy_filter_metadata.wasm");
    assert!(module.is_file(), "{} is missing (set MESHLENS_SHARED)", module.display());
    let app = upstream();
    let (listener, admin) = (free_port(), free_port());
    let metadata = set_metadata(json!([{
        "metadata_namespace": "envoy.filters.http.lua",
        "value": { "uppercased-custom-metadata": "HELLO" },
    }]));
    let config = bootstrap(listener, admin, app, vec![metadata], Wasm { module: module.clone(), ..probe() });
    let envoy = Envoy::start_text(&config, listener, admin, 1);
    let response = send(envoy.listener, b"GET /a HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n", None);
    let lower = response.to_ascii_lowercase();
    assert!(lower.starts_with("http/1.1 200") && lower.contains("\r\nuppercased-metadata: hello\r\n"), "{response}");
    let envoy_body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();

    let text = "{\"meshlens_traffic\": 2}\n{\"path\": \"/a\", \"properties\": {\"metadata\": {\"envoy.filters.http.lua\": \
                {\"uppercased-custom-metadata\": \"HELLO\"}}}}\n";
    let module = Module::from_file(&module).unwrap();
    let mut host = Host::builder(&module).envoy_defaults(true).build().unwrap();
    let outcomes = traffic::replay(&mut host, &traffic::parse(text).unwrap(), |_| {}).unwrap();
    let stream = &outcomes[0].stream;
    assert_eq!(stream.downstream_response_header("uppercased-metadata"), Some("HELLO"));
    assert_eq!(String::from_utf8_lossy(stream.downstream_response_body()), envoy_body);
}

/// Dynamic metadata and filter state set by filters before the Wasm filter (`set_metadata`,
/// `set_filter_state`), read by the SDK probe in Envoy, and from a traffic file's `properties` in
/// the harness: the same bytes or status per path.
#[test]
fn properties_from_a_traffic_file_encode_as_envoys() {
    const PATHS: &str = "metadata.filter_metadata.[probe.ns].s, metadata.filter_metadata.[probe.ns].n, \
                         metadata.filter_metadata.[probe.ns].b, metadata.filter_metadata.[probe.ns].missing, \
                         metadata.filter_metadata.[probe.one], filter_state.[my.key]";
    let app = upstream();
    let (listener, admin) = (free_port(), free_port());
    let metadata = set_metadata(json!([
        { "metadata_namespace": "probe.ns", "value": { "s": "x", "n": 3, "b": true } },
        { "metadata_namespace": "probe.one", "value": { "k": "v" } },
    ]));
    let filter_state = HttpFilter::Other {
        name: String::from("envoy.filters.http.set_filter_state"),
        typed_config: json!({
            "@type": "type.googleapis.com/envoy.extensions.filters.http.set_filter_state.v3.Config",
            "on_request_headers": [{
                "object_key": "my.key",
                "factory_key": "envoy.string",
                "format_string": { "text_format_source": { "inline_string": "raw" } },
            }],
        }),
    };
    let wasm = Wasm { configuration: Some(format!("properties: {PATHS}")), ..probe() };
    let config = bootstrap(listener, admin, app, vec![metadata, filter_state], wasm);
    let envoy = Envoy::start_text(&config, listener, admin, 1);
    send(envoy.listener, b"GET /cl HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n", None);
    let deadline = Instant::now() + Duration::from_secs(20);
    let property_lines = |lines: Vec<(u32, String)>| -> Vec<String> {
        lines.into_iter().map(|(_, l)| l).filter(|l| l.starts_with("property ")).collect()
    };
    let in_envoy = loop {
        let lines = property_lines(probe_lines(&envoy.log()));
        if lines.len() == 6 || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(100));
    };

    let text = "{\"meshlens_traffic\": 2}\n{\"path\": \"/cl\", \"properties\": {\"metadata\": {\"probe.ns\": {\"s\": \"x\", \
                \"n\": 3, \"b\": true}, \"probe.one\": {\"k\": \"v\"}}, \"filter_state\": {\"my.key\": \"raw\"}}}\n";
    let module = Module::from_file(meshlens_tests_guests::SDK_PROBE_WASIP1).unwrap();
    let mut host = Host::builder(&module)
        .plugin_config(format!("properties: {PATHS}"))
        .clusters(Vec::<String>::new())
        .envoy_defaults(true)
        .build()
        .unwrap();
    traffic::replay(&mut host, &traffic::parse(text).unwrap(), |_| {}).unwrap();
    let in_harness =
        property_lines(probe_lines(&host.logs().iter().map(|l| l.message.clone()).collect::<Vec<_>>().join("\n")));
    assert_eq!(in_harness, in_envoy);
}
