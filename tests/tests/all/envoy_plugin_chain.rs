//! Two Wasm filters sharing one VM in one Envoy 1.40 filter chain, and the harness with the same
//! two plugins (`HostBuilder::add_plugin`, `meshlens run --plugin`) on the same exchanges: the
//! SDK probe logs every callback with the maps it was handed, and both logs must be the same
//! line for line, context ids included:
//! - the second filter's request callbacks run once the first continued after its callout, and
//!   see the first's headers; the shared value is the last configured plugin's;
//! - the response goes through the second filter first, body pieces through both in turn;
//! - a local reply from the first filter never reaches the second, which still logs;
//! - one VM, one counter: both filters count every request.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use host_harness::{Host, HttpResponse, Module, Responder, traffic};
use meshlens_tests::envoy::bootstrap::{Bootstrap, Cluster, HttpFilter, Listener, Wasm};
use meshlens_tests::envoy::{Envoy, free_port};
use meshlens_tests::http::{Reply, Server};

/// The exchanges, as raw requests and as the traffic file the harness replays.
const REQUESTS: [&[u8]; 2] = [
    b"GET /x HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n",
    b"GET /deny HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n",
];

const TRAFFIC: &str = r#"{"meshlens_traffic": 2}
{"path": "/x", "authority": "a.example", "response": {"headers": {"content-length": "11", "x-up": "1"}, "body": "upstream /x"}}
{"path": "/deny", "authority": "a.example"}
"#;

/// Envoy with the probe as two filters, `first` then `second`, sharing VM `shared`; the app and
/// the probe's callout cluster both on `app`.
fn bootstrap(listener: u16, admin: u16, app: u16) -> String {
    let probe = |name: &str| {
        HttpFilter::Wasm(Wasm {
            vm_id: Some(String::from("shared")),
            configuration: Some(format!("cfg-{name}")),
            ..Wasm::named(meshlens_tests_guests::SDK_PROBE_WASIP1, name)
        })
    };
    Bootstrap {
        admin,
        listener: Some(Listener::to_app(listener, vec![probe("first"), probe("second")])),
        clusters: vec![Cluster::http1("app", app), Cluster::http1("probe_upstream", app)],
        ..Bootstrap::default()
    }
    .yaml()
}

/// The app and the probe's callout target: `upstream <path>` with `x-up: 1`, after the
/// `content-length` the server writes first.
fn upstream() -> Server {
    Server::start(|request| {
        let path = request.start.split(' ').nth(1).unwrap_or("/");
        Reply { status: 200, headers: vec![("x-up".into(), "1".into())], body: format!("upstream {path}").into_bytes() }
    })
}

fn send(listener: SocketAddr, raw: &[u8]) -> String {
    let mut conn = TcpStream::connect(listener).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    conn.write_all(raw).unwrap();
    let mut out = Vec::new();
    let _ = conn.read_to_end(&mut out);
    let _ = conn.shutdown(Shutdown::Both);
    String::from_utf8_lossy(&out).into_owned()
}

/// The probe's lines about streams (`<context> ...`, `stream <context> logged ...`), with what
/// differs by run replaced by its shape: the request id, the upstream's service time.
fn stream_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.find("probe: ").map(|i| &l[i + 7..]))
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()) || l.starts_with("stream "))
        .map(|l| {
            if let Some((head, _)) = l.split_once("> x-request-id: ") {
                return format!("{head}> x-request-id: <uuid>");
            }
            if let Some((head, _)) = l.split_once("< x-envoy-upstream-service-time: ") {
                return format!("{head}< x-envoy-upstream-service-time: <ms>");
            }
            l.to_owned()
        })
        .collect()
}

#[test]
fn two_plugins_on_one_stream_run_as_in_envoy() {
    let app = upstream();
    let (listener, admin) = (free_port(), free_port());
    let envoy = Envoy::start_text(&bootstrap(listener, admin, app.port()), listener, admin, 1);
    let responses: Vec<String> = REQUESTS.iter().map(|raw| send(envoy.listener, raw)).collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    let in_envoy = loop {
        let lines = stream_lines(&envoy.log());
        if lines.iter().filter(|l| l.starts_with("stream ")).count() == 4 || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let [x, deny] = &responses[..] else { unreachable!() };
    assert!(x.contains("\r\nx-probe-root-id: first\r\n") && x.contains("\r\nx-probe-requests: 2\r\n"), "{x}");
    assert!(deny.starts_with("HTTP/1.1 403") && deny.contains("\r\nx-probe-requests: 3\r\n"), "{deny}");

    let module = Module::from_file(meshlens_tests_guests::SDK_PROBE_WASIP1).unwrap();
    let answer = HttpResponse { status: 200, body: b"upstream /check".to_vec(), ..Default::default() };
    let mut host = Host::builder(&module)
        .root_id("first")
        .plugin_config("cfg-first")
        .add_plugin("second", "cfg-second")
        .respond("probe_upstream", Responder::Respond(answer))
        .envoy_defaults(true)
        .build()
        .unwrap();
    let exchanges = traffic::parse(TRAFFIC).unwrap();
    let outcomes = traffic::replay(&mut host, &exchanges, |_| {}).unwrap();
    let in_harness = stream_lines(&host.logs().iter().map(|l| l.message.as_str()).collect::<Vec<_>>().join("\n"));
    assert!(in_envoy.len() > 40, "every callback of both exchanges: {in_envoy:#?}");
    assert_eq!(in_harness, in_envoy, "{}", envoy.log());
    let header = |i: usize, name: &str| outcomes[i].stream.downstream_response_header(name).map(str::to_owned);
    assert_eq!(
        (header(0, "x-probe-root-id"), header(0, "x-probe-requests"), header(1, "x-probe-requests")),
        (Some("first".into()), Some("2".into()), Some("3".into()))
    );
}
