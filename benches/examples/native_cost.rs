//! The core's work per request, natively, for `cargo xtask cost --native`, which runs this under
//! valgrind (callgrind) twice and divides the difference of the instruction counts by the
//! difference of the request counts: start-up and configuration drop out, and the count is the
//! same from run to run (what timing on a shared machine is not).
//!
//! Usage: `native_cost CONFIG_FILE REQUESTS`. Each request is what `cargo xtask bench-envoy`'s
//! load sends, as Envoy hands it to the native build: `GET /api/v1/query` with the headers Envoy
//! adds (`x-forwarded-proto`, `x-request-id`), answered `200 ok` by a `direct_response`, the
//! client address and protocol readable. The callbacks come in the order Envoy makes them; a
//! full batch wakes the exporter, every 512 requests the tick runs, and every export is
//! answered 200.
//!
//! The host, [`Lean`], does what the native build's host does at the least cost: it lends the
//! header maps (the native host lends Envoy's bytes), hands out attributes and `:status` as new
//! strings (as the callbacks' copies are), and keeps nothing the pipeline writes, logs or sends.
//! What is counted is the core's own work.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::borrow::Cow;
use std::cell::Cell;

use meshlens_benches::request::{REQUEST, RESPONSE};
use telemetry_core::pipeline::Pipeline;
use telemetry_core::pipeline::host::{
    Calls, Clock, HeaderPairs, Headers, HostError, LocalReply, LogLevel, LogSink, MetricKind, MetricSink, Properties,
    Property, ProxyLogLevel, Random, SharedData, Vm,
};

/// Requests between two ticks.
const TICK_EVERY: u64 = 512;

/// A host at the least cost the native build's can have (see the crate docs).
struct Lean {
    now: Cell<u64>,
    request: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    response: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    /// Headers the pipeline wrote on the current response (`x-trace-id` must be one of them).
    response_writes: Cell<u32>,
    /// Export calls made and not answered yet, and the next token.
    calls: Cell<u32>,
    next_token: Cell<u32>,
    woken: Cell<bool>,
}

fn lent(pairs: &[(&'static str, &'static str)]) -> Vec<(Cow<'static, str>, Cow<'static, str>)> {
    pairs.iter().map(|(k, v)| (Cow::Borrowed(*k), Cow::Borrowed(*v))).collect()
}

impl Clock for Lean {
    fn now_unix_nanos(&self) -> u64 {
        self.now.get()
    }
}

impl Random for Lean {
    fn random_seed(&self) -> Result<[u8; 32], HostError> {
        Ok([7; 32])
    }
}

impl Headers for Lean {
    fn request_headers<R>(&self, read: impl FnOnce(&HeaderPairs<'_>) -> R) -> R {
        read(&self.request)
    }
    fn set_request_header(&self, _name: &str, _value: &str) {}
    fn remove_request_header(&self, _name: &str) {}
    fn response_header(&self, name: &str) -> Option<String> {
        self.response.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.to_string())
    }
    fn response_headers<R>(&self, read: impl FnOnce(&HeaderPairs<'_>) -> R) -> R {
        read(&self.response)
    }
    fn set_response_header(&self, name: &str, _value: &str) {
        if name == "x-trace-id" {
            self.response_writes.set(self.response_writes.get() + 1);
        }
    }
    fn response_trailer(&self, _name: &str) -> Option<String> {
        None
    }
}

impl Properties for Lean {
    fn property(&self, property: &Property) -> Option<Vec<u8>> {
        // The native host finds the attribute id by the property's index and copies the value.
        match property.path() {
            [a, b] if a == "source" && b == "address" => Some(b"127.0.0.1:40000".to_vec()),
            [a, b] if a == "request" && b == "protocol" => Some(b"HTTP/1.1".to_vec()),
            _ => None,
        }
    }
}

impl LogSink for Lean {
    fn log(&self, _level: LogLevel, _message: &str) {}
    fn log_level(&self) -> Result<ProxyLogLevel, HostError> {
        Ok(ProxyLogLevel::Info)
    }
}

impl MetricSink for Lean {
    fn define_metric(&self, _kind: MetricKind, _name: &str) -> Result<u32, HostError> {
        Ok(1)
    }
    fn increment_metric(&self, _id: u32, _delta: i64) {}
    fn record_metric(&self, _id: u32, _value: u64) {}
}

impl Calls for Lean {
    fn set_tick_period_ms(&self, _ms: u32) -> Result<(), HostError> {
        Ok(())
    }
    fn http_call(&self, _: &str, _: &[(&str, &str)], _body: &[u8], _: u32) -> Result<u32, HostError> {
        self.calls.set(self.calls.get() + 1);
        self.next_token.set(self.next_token.get() + 1);
        Ok(self.next_token.get())
    }
    fn wake_root(&self) -> Result<(), HostError> {
        self.woken.set(true);
        Ok(())
    }
}

impl Vm for Lean {
    fn memory_bytes(&self) -> u64 {
        0
    }
    fn env_var(&self, _name: &str) -> Option<String> {
        None
    }
}

impl SharedData for Lean {
    fn shared_data(&self, _key: &str) -> Option<(Vec<u8>, u32)> {
        None
    }
    fn set_shared_data(&self, _key: &str, _value: &[u8], _cas: Option<u32>) -> Result<bool, HostError> {
        Ok(true)
    }
}

impl LocalReply for Lean {
    fn send_reply(&self, _status: u16, _headers: &[(&str, &str)], _body: &[u8]) -> Result<(), HostError> {
        Ok(())
    }
}

impl Lean {
    /// Answers every call made since the last answer, 200, oldest first.
    fn answer(&self, pipeline: &mut Pipeline) -> u32 {
        let (made, last) = (self.calls.replace(0), self.next_token.get());
        for token in last + 1 - made..=last {
            pipeline.on_export_answer(self, token, Some(200));
        }
        made
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, config, requests] = args.as_slice() else {
        panic!("usage: native_cost CONFIG_FILE REQUESTS");
    };
    let config = std::fs::read(config).unwrap_or_else(|e| panic!("{config}: {e}"));
    let requests: u64 = requests.parse().expect("REQUESTS is a whole number");
    let host = Lean {
        now: Cell::new(1_767_225_600_000_000_000),
        request: lent(&REQUEST),
        response: lent(&RESPONSE),
        response_writes: Cell::new(0),
        calls: Cell::new(0),
        next_token: Cell::new(0),
        woken: Cell::new(false),
    };
    let mut pipeline = Pipeline::configure(&config, &host).expect("the plugin configuration is valid");
    let mut exports = 0;
    for n in 1..=requests {
        let mut exchange = pipeline.new_exchange();
        pipeline.on_request_headers(&mut exchange, &host);
        host.now.set(host.now.get() + 150_000);
        pipeline.on_response_headers(&mut exchange, &host);
        exchange.on_response_body(2);
        pipeline.on_log(&mut exchange, &host);
        if host.woken.replace(false) {
            pipeline.on_wake(&host);
        }
        if n % TICK_EVERY == 0 {
            host.now.set(host.now.get() + 1_000_000_000);
            pipeline.on_tick(&host);
        }
        exports += host.answer(&mut pipeline);
    }
    assert_eq!(u64::from(host.response_writes.get()), requests, "every response got `x-trace-id`");
    assert!(exports > 0 || requests < TICK_EVERY, "the spans of {requests} requests were never exported");
    println!("{requests} requests, {exports} exports");
}
