//! The Envoy side: a bootstrap per module, its upstreams (app, `httpbin`, `grpcbin`), the
//! exchanges through the listener, and the module's lines in Envoy's log.

use std::collections::VecDeque;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meshlens_tests::envoy::bootstrap::{Bootstrap, Cluster, HttpFilter, Listener, Wasm};
use meshlens_tests::envoy::{Envoy, TempDir, free_port};
use meshlens_tests::http::{self, Message, Reply, Server};
use meshlens_tests::paths;
use meshlens_tests_process::{Process, Ready};

use super::{Callout, Case, Observed, comparable_headers, comparable_logs, wasm_path};

/// Envoy's bootstrap for one case: the module as an HTTP filter (after the Lua filter when
/// `lua`), the app, `httpbin` and `grpcbin` clusters; or, for a service, no Wasm HTTP filter and
/// the module as a Wasm service.
fn envoy_config(case: &Case, wasm: &str, ports: &Ports, service: bool) -> String {
    let plugin = Wasm {
        name: Some(case.name.to_owned()),
        root_id: Some(case.root_id.to_owned()),
        configuration: Some(case.config.to_owned()),
        ..Wasm::new(wasm)
    };
    let mut filters: Vec<HttpFilter> = case.lua.then(|| HttpFilter::lua(LUA)).into_iter().collect();
    let mut services = Vec::new();
    if service {
        services.push(plugin);
    } else {
        filters.push(HttpFilter::Wasm(plugin));
    }
    Bootstrap {
        admin: ports.admin,
        listener: Some(Listener::to_app(ports.listener, filters)),
        clusters: vec![
            Cluster::http1("app", ports.app),
            Cluster::http1("httpbin", ports.httpbin),
            Cluster::http2("grpcbin", ports.grpcbin),
        ],
        services,
        ..Bootstrap::default()
    }
    .yaml()
}

/// The Lua filter of the cases that read dynamic metadata: `x-custom-metadata`, upper-cased, as
/// `envoy.filters.http.lua`'s `uppercased-custom-metadata`.
const LUA: &str = r#"function envoy_on_request(request_handle)
  local value = request_handle:headers():get("x-custom-metadata")
  if value then
    request_handle:streamInfo():dynamicMetadata():set("envoy.filters.http.lua", "uppercased-custom-metadata", string.upper(value))
  end
end
"#;

struct Ports {
    listener: u16,
    admin: u16,
    app: u16,
    httpbin: u16,
    grpcbin: u16,
}

/// The upstreams of one case's Envoy: the app (answers by path), `httpbin` (the scripted bytes
/// in order) and `grpcbin` (the scripted statuses in order).
pub(super) struct Upstreams {
    app: Server,
    httpbin: Server,
    /// `grpcbin_upstream.py` and its port, when the case scripts gRPC statuses.
    _grpcbin: Option<Process>,
    grpcbin_port: u16,
    _dir: TempDir,
}

impl Upstreams {
    fn start(case: &Case) -> Self {
        let answers: Vec<(String, u16, String)> =
            case.exchanges.iter().map(|e| (e.path.to_owned(), e.upstream.0, e.upstream.1.clone())).collect();
        let app = Server::start(move |m: &Message| {
            let path = m.start.split_once(' ').map_or("", |(_, p)| p);
            let (_, status, body) = answers.iter().find(|(p, _, _)| p == path).cloned().unwrap_or_default();
            Reply::text(status, &body)
        });
        // `None`: the late answer.
        let bytes: VecDeque<Option<u8>> = case
            .exchanges
            .iter()
            .filter_map(|e| match e.callout {
                Callout::HttpBin(b) => Some(Some(b)),
                Callout::HttpBinLate => Some(None),
                _ => None,
            })
            .collect();
        let bytes = Arc::new(Mutex::new(bytes));
        let httpbin = Server::start(move |m: &Message| {
            assert_eq!(m.start, "GET /bytes/1", "httpbin got an unexpected call");
            let byte = bytes.lock().unwrap().pop_front().expect("a scripted httpbin answer for every call");
            let byte = byte.unwrap_or_else(|| {
                std::thread::sleep(Duration::from_millis(1500));
                0x42
            });
            Reply {
                status: 200,
                headers: vec![("content-type".into(), "application/octet-stream".into())],
                body: vec![byte],
            }
        });
        let statuses: Vec<String> = case
            .exchanges
            .iter()
            .filter_map(|e| match e.callout {
                Callout::GrpcBin(s) => Some(s.to_string()),
                Callout::GrpcBinLate => Some(String::from("-1")),
                _ => None,
            })
            .collect();
        let dir = TempDir::new("third-party");
        let grpcbin = (!statuses.is_empty()).then(|| {
            let port = free_port();
            let mut cmd = Command::new(paths::receivers_python());
            cmd.arg(paths::repo_root().join("tests/tools/grpcbin_upstream.py"))
                .arg(port.to_string())
                .arg(statuses.join(","));
            let process = Process::start(
                "grpcbin_upstream.py",
                cmd,
                &dir.0.join("grpcbin.out"),
                &[Ready::Line("listening on")],
                Duration::from_secs(30),
            )
            .unwrap();
            (process, port)
        });
        let (grpcbin, grpcbin_port) = match grpcbin {
            Some((p, port)) => (Some(p), port),
            None => (None, free_port()),
        };
        Self { app, httpbin, _grpcbin: grpcbin, grpcbin_port, _dir: dir }
    }
}

/// Starts the case's upstreams and an Envoy (one worker) in front of them.
pub(super) fn start_envoy(case: &Case, service: bool) -> (Envoy, Upstreams) {
    let upstreams = Upstreams::start(case);
    let ports = Ports {
        listener: free_port(),
        admin: free_port(),
        app: upstreams.app.port(),
        httpbin: upstreams.httpbin.port(),
        grpcbin: upstreams.grpcbin_port,
    };
    let wasm = wasm_path(case).display().to_string();
    let text = envoy_config(case, &wasm, &ports, service);
    let flags = ["--log-level", "info", "--component-log-level", "wasm:trace"];
    let envoy = Envoy::start_logging(&text, ports.listener, ports.admin, 1, &flags);
    (envoy, upstreams)
}

/// The message of every `wasm log` line in Envoy's log text: Envoy's prefix and the
/// `wasm log [<plugin>] <root_id>: ` framing stripped; a message of several lines continues on
/// the lines without a prefix after it.
pub(super) fn wasm_log_messages(text: &str) -> Vec<String> {
    let mut messages: Vec<String> = Vec::new();
    let mut continuing = false;
    for line in text.lines() {
        if !line.starts_with('[') {
            if continuing && let Some(last) = messages.last_mut() {
                last.push('\n');
                last.push_str(line);
            }
            continue;
        }
        let message = line.split_once("] wasm log ").and_then(|(_, rest)| rest.split_once(": ")).map(|(_, m)| m);
        continuing = message.is_some();
        messages.extend(message.map(str::to_owned));
    }
    messages
}

/// Runs every exchange of `case` through Envoy. Returns what the module logged while Envoy started it (in each of its VMs), and each exchange.
pub(super) fn envoy_side(case: &Case) -> (Vec<String>, Vec<Observed>) {
    let (envoy, _upstreams) = start_envoy(case, false);
    let mut seen = 0;
    let startup = wait_for_new_lines(&envoy, &mut seen);
    let mut observed = Vec::new();
    for e in &case.exchanges {
        let response = if e.body.is_empty() {
            http::get(envoy.listener, e.path, e.headers)
        } else {
            http::post(envoy.listener, e.path, e.headers, e.body)
        }
        .unwrap_or_else(|err| Message { start: format!("no response: {err}"), ..Message::default() });
        let logs = wait_for_new_lines(&envoy, &mut seen);
        observed.push(Observed {
            status: response.start.clone(),
            headers: comparable_headers(&response.headers),
            body: String::from_utf8_lossy(&response.body).into_owned(),
            logs: comparable_logs(logs),
        });
    }
    (startup, observed)
}

/// The module's log lines after the first `seen`, once Envoy's log has not grown for three
/// reads 150 ms apart (it flushes every 100 ms; `on_log` runs after the response; a loaded
/// machine delays both).
fn wait_for_new_lines(envoy: &Envoy, seen: &mut usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let (mut last, mut unchanged) = (usize::MAX, 0);
    loop {
        std::thread::sleep(Duration::from_millis(150));
        let all = wasm_log_messages(&envoy.log());
        unchanged = if all.len() == last { unchanged + 1 } else { 0 };
        if unchanged == 2 || Instant::now() > deadline {
            let new = all[*seen..].to_vec();
            *seen = all.len();
            return new;
        }
        last = all.len();
    }
}
