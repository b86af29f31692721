//! The harness side: the same module, configuration, exchanges and answers through the library.

use std::time::Duration;

use host_harness::properties::Value;
use host_harness::{FailurePolicy, GrpcReply, Host, HttpResponse, Responder};

use super::{
    Callout, Case, Exchange, LOG_LEVEL, LUA_METADATA, Observed, comparable_headers, comparable_logs,
    third_party_module, wire_request,
};

/// Runs every exchange of `case` through the harness, on one VM (one Envoy worker). Returns what the module logged while the host started it, and each exchange.
pub(super) fn harness_side(case: &Case) -> (Vec<String>, Vec<Observed>) {
    let module = third_party_module(case);
    let mut host = Host::builder(&module)
        .root_id(case.root_id)
        .vm_id("")
        .plugin_config(case.config.as_bytes().to_vec())
        // Envoy's default `failure_policy`, which the Envoy side runs with.
        .failure_policy(FailurePolicy::FailClosed)
        .clusters(["app", "httpbin", "grpcbin"])
        .respond("httpbin", Responder::Manual)
        .log_level(LOG_LEVEL)
        .build()
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let startup = host.take_logs().into_iter().filter(|l| l.level >= LOG_LEVEL).map(|l| l.message).collect();
    (startup, case.exchanges.iter().map(|e| harness_exchange(&mut host, case, e)).collect())
}

fn harness_exchange(host: &mut Host, case: &Case, e: &Exchange) -> Observed {
    let (method, wire) = wire_request(e);
    // Envoy's HTTP/1.1 codec hands filters `:authority` (from `host`), `:path`, `:method` and
    // `:scheme` first, then the other headers in wire order.
    let authority = wire[0].1.clone();
    let mut headers: Vec<(&str, &str)> =
        vec![(":authority", &authority), (":path", e.path), (":method", &method), (":scheme", "http")];
    headers.extend(wire[1..].iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let s = host.new_stream();
    if case.lua
        && let Some((_, v)) = e.headers.iter().find(|(k, _)| *k == "x-custom-metadata")
    {
        host.set_stream_property(s, &LUA_METADATA, Value::String(v.to_uppercase())).unwrap();
    }
    let run = |host: &mut Host| -> Result<(), host_harness::Error> {
        let (http_before, grpc_before) = (host.http_calls().len(), host.grpc_calls().len());
        host.request_headers(s, &headers, e.body.is_empty())?;
        let http_calls: Vec<u32> = host.http_calls()[http_before..].iter().map(|c| c.token).collect();
        let grpc_calls: Vec<u32> = host.grpc_calls()[grpc_before..].iter().map(|c| c.token).collect();
        for token in http_calls {
            let byte = match e.callout {
                Callout::HttpBin(byte) => byte,
                // No answer within the call's timeout: the virtual clock runs past it.
                Callout::HttpBinLate => {
                    host.advance(Duration::from_millis(1500))?;
                    continue;
                }
                _ => panic!("{}: an unscripted HTTP call", e.name),
            };
            let headers = vec![
                ("content-length".to_owned(), "1".to_owned()),
                ("content-type".to_owned(), "application/octet-stream".to_owned()),
            ];
            host.respond(token, HttpResponse { status: 200, headers, body: vec![byte], ..Default::default() })?;
        }
        for token in grpc_calls {
            let status = match e.callout {
                Callout::GrpcBin(status) => status,
                Callout::GrpcBinLate => {
                    host.advance(Duration::from_millis(1500))?;
                    continue;
                }
                _ => panic!("{}: an unscripted gRPC call", e.name),
            };
            // As grpcbin_upstream.py answers: an empty message for OK, else the status with its text;
            // the harness delivers them as Envoy does a unary call's (the message alone, or the close).
            let message = (status == 0).then(Vec::new);
            let status_message = if status == 0 { String::new() } else { format!("scripted status {status}") };
            host.grpc_answer(token, GrpcReply { message, status, status_message, ..GrpcReply::default() })?;
        }
        let answered = |host: &Host| host.stream(s).is_some_and(|st| st.local_reply().is_some());
        // A request the module still holds (a callout never answered) goes no further.
        let paused = |host: &Host| host.stream(s).is_some_and(|st| st.request_paused());
        if !e.body.is_empty() && !answered(host) && !paused(host) {
            host.request_body(s, e.body, true)?;
        }
        if !answered(host) && !paused(host) {
            let (status, body) = (e.upstream.0.to_string(), e.upstream.1.as_str());
            let length = body.len().to_string();
            let response =
                [(":status", status.as_str()), ("content-length", length.as_str()), ("content-type", "text/plain")];
            host.response_headers(s, &response, body.is_empty())?;
            if !body.is_empty() {
                host.response_body(s, body.as_bytes(), true)?;
            }
        }
        host.complete(s)
    };
    let outcome = run(host);
    let logs = host.take_logs().into_iter().filter(|l| l.level >= LOG_LEVEL).map(|l| l.message).collect();
    let logs = comparable_logs(logs);
    if let Err(err) = outcome {
        return Observed { status: format!("harness error: {err}"), headers: Vec::new(), body: String::new(), logs };
    }
    let stream = host.stream(s).unwrap();
    Observed {
        status: stream.status().map_or_else(|| String::from("no response"), |c| c.to_string()),
        headers: comparable_headers(stream.downstream_response_headers()),
        body: String::from_utf8_lossy(stream.downstream_response_body()).into_owned(),
        logs,
    }
}
