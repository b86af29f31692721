//! A running VM: one instance of a module with its plugins, like one Envoy worker thread.
//!
//! Build it with [`Host::builder`], drive streams, move the virtual clock, answer callouts, then
//! inspect what the module did.
//!
//! ```no_run
//! use host_harness::{Host, Module, Responder, HttpResponse};
//!
//! let module = Module::from_file("target/wasm32-wasip1/release/edge_telemetry.wasm")?;
//! let mut host = Host::builder(&module)
//!     .plugin_config(br#"{"routes": ["/users/{id}"]}"#)
//!     .respond("otel_collector", Responder::Respond(HttpResponse { status: 200, ..Default::default() }))
//!     .build()?;
//! let s = host.new_stream();
//! host.request_headers(s, &[(":method", "GET"), (":path", "/users/7"), (":authority", "api")], true)?;
//! host.advance(std::time::Duration::from_millis(20))?;
//! host.response_headers(s, &[(":status", "200")], true)?;
//! host.complete(s)?;
//! host.advance(std::time::Duration::from_secs(2))?;
//! let trace_id = host.stream(s).and_then(|s| s.downstream_response_header("x-trace-id")).map(str::to_owned);
//! assert_eq!(host.spans()[0].trace_id, trace_id.unwrap_or_default());
//! # Ok::<(), host_harness::Error>(())
//! ```

mod builder;
mod calls;
mod chain;
pub mod envoy;
mod http;
mod time;

use std::sync::{Arc, MutexGuard};

use wasmtime::{Instance, Store};

pub use builder::HostBuilder;
pub use chain::ExchangeState;

pub use time::TICKS_ON_SCHEDULE;

use crate::callouts::{GrpcCall, HttpCall};
use crate::error::Error;
use crate::metrics::{PrometheusConfig, Registry};
use crate::module::Module;
use crate::shared::Shared;
use crate::spans::{self, SpanRecord};
use crate::state::{HostState, LogRecord};
use crate::stream::{Stream, StreamId};

/// How many HTTP calls [`Host::take_finished_http_calls`] leaves behind a pending one.
pub const KEPT_BEHIND_PENDING: usize = 1024;

/// One VM running a module: its plugins (root contexts), streams, clock and observations.
pub struct Host {
    store: Store<HostState>,
    /// One instance per worker (Envoy runs a VM per worker thread), sharing this store's
    /// shared data and queues.
    instances: Vec<Instance>,
    /// The worker of each root context.
    root_worker: std::collections::BTreeMap<u32, usize>,
    /// The worker being started (context 0 calls: `_initialize`, `_start`).
    starting: usize,
    /// Each worker's HTTP plugin roots, in filter order, and the next worker to get a stream
    /// (round-robin).
    http_roots: Vec<Vec<u32>>,
    next_worker: usize,
    module: Module,
    fuel_per_call: Option<u64>,
    /// Wall-clock limit per callback, in epoch ticks of [`crate::module::EPOCH_TICK`].
    epoch_ticks_per_call: Option<u64>,
    /// How many times `proxy_on_tick` was called.
    ticks_delivered: u64,
    /// Fuel the guest burnt before the store's fuel was last set, and what it was set to.
    fuel_used: u64,
    fuel_set: u64,
    next_context_id: u32,
    /// Root context ids, in plugin order.
    roots: Vec<u32>,
    /// Root contexts of services (root only: no stream is created on them).
    services: Vec<u32>,
    /// Which workers' VMs trapped.
    failed: Vec<bool>,
    /// What happens to requests once the VM failed; `None`: every later call is an error.
    failure_policy: Option<FailurePolicy>,
    /// Traps met under a failure policy, in order.
    traps: Vec<TrapRecord>,
    /// Whether [`Host::shutdown`] ran.
    shut_down: bool,
    /// A driving step is running: chains are forwarded when it ends.
    driving: bool,
    /// Chained filter contexts that may have something to hand on.
    chain_dirty: Vec<u32>,
}

/// Envoy's `failure_policy` for a plugin whose VM failed (trapped): the request that trapped
/// is answered 503 under both; later requests are answered 503 (`FailClosed`, Envoy's default)
/// or pass without the filter (`FailOpen`). Measured in Envoy 1.40
/// (`tests/tests/all/envoy_failure_policy.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePolicy {
    FailClosed,
    FailOpen,
}

/// A trap the host met under a [`FailurePolicy`]: the error, and the context it happened in.
#[derive(Debug, Clone)]
pub struct TrapRecord {
    pub error: String,
    /// The callback that trapped.
    pub callback: String,
    /// The context (a stream id, or a root context) it ran for.
    pub context_id: u32,
    /// When, on the virtual wall clock (Unix nanoseconds).
    pub at_unix_nanos: u64,
}

impl Host {
    /// Starts building a host for `module`.
    pub fn builder(module: &Module) -> HostBuilder {
        HostBuilder::new(module)
    }

    /// The module this host runs.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// A stream through every HTTP plugin (services excepted) in the order they were added, as
    /// Envoy's filter chain runs several Wasm filters sharing one VM, on the workers in turn.
    /// Each plugin's filter gets its own context, in filter order; the id returned is the
    /// first's, and every driving call takes it (see [`Host::exchange`] for the stream as seen
    /// from outside). With services only, the stream has no filter: it passes as if the module
    /// were not there.
    pub fn new_stream(&mut self) -> StreamId {
        let roots = match self.http_roots.len() {
            0 => Vec::new(),
            n => self.http_roots.get(self.next_worker % n).cloned().unwrap_or_default(),
        };
        self.next_worker = self.next_worker.wrapping_add(1);
        let [first, rest @ ..] = roots.as_slice() else { return self.new_stream_for(0) };
        let head = self.new_stream_for(*first);
        if rest.is_empty() {
            return head;
        }
        let mut members = vec![head.0];
        members.extend(rest.iter().map(|root| self.new_stream_for(*root).0));
        let chain: std::sync::Arc<[u32]> = members.into();
        for member in chain.iter() {
            if let Some(stream) = self.store.data_mut().streams.get_mut(member) {
                stream.chain = Some(chain.clone());
            }
        }
        head
    }

    /// A stream on the plugin with root context `root` (see [`Host::root_contexts`]).
    pub fn new_stream_for(&mut self, root: u32) -> StreamId {
        let id = self.next_context_id;
        self.next_context_id += 1;
        let state = self.store.data_mut();
        let stream = Stream::new(root, state.clock.realtime, state.properties.clone());
        state.streams.insert(id, stream);
        StreamId(id)
    }

    /// The root context ids of the plugins, in the order they were added.
    pub fn root_contexts(&self) -> &[u32] {
        &self.roots
    }

    /// A stream's state and what it sent upstream and downstream.
    pub fn stream(&self, id: StreamId) -> Option<&Stream> {
        self.store.data().streams.get(&id.0)
    }

    /// Every log line the module wrote, in order, whatever the log level (Envoy writes only those
    /// at or above [`HostBuilder::log_level`]).
    pub fn logs(&self) -> &[LogRecord] {
        &self.store.data().logs
    }

    /// Takes the log lines written so far out of the host ([`Host::logs`] is then empty), so a
    /// long run does not accumulate them.
    pub fn take_logs(&mut self) -> Vec<LogRecord> {
        std::mem::take(&mut self.store.data_mut().logs)
    }

    /// Takes the HTTP calls that are over (answered, failed, timed out) and made before any
    /// call still pending out of the host, in order, so calls taken step by step keep the order
    /// they were made in. Should more than [`KEPT_BEHIND_PENDING`] finished calls wait behind a
    /// pending one, they are taken too (out of order), so memory stays bounded.
    /// [`Host::http_calls`] and [`Host::spans`] then show only what is left.
    pub fn take_finished_http_calls(&mut self) -> Vec<HttpCall> {
        let calls = &mut self.store.data_mut().callouts.http;
        let finished = |c: &HttpCall| c.state != crate::callouts::CallState::Pending;
        let prefix = calls.iter().take_while(|c| finished(c)).count();
        if calls.len() - prefix > KEPT_BEHIND_PENDING {
            let (done, pending) = std::mem::take(calls).into_iter().partition(finished);
            *calls = pending;
            return done;
        }
        calls.drain(..prefix).collect()
    }

    /// Takes every HTTP call out of the host, pending or not, in order.
    pub fn take_all_http_calls(&mut self) -> Vec<HttpCall> {
        std::mem::take(&mut self.store.data_mut().callouts.http)
    }

    /// Takes the hostcall trace recorded so far out of the host (tracing stays on).
    pub fn take_hostcalls(&mut self) -> Vec<String> {
        self.store.data_mut().trace.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Every HTTP call the module made, in order.
    pub fn http_calls(&self) -> &[HttpCall] {
        &self.store.data().callouts.http
    }

    /// Every gRPC call and stream the module opened.
    pub fn grpc_calls(&self) -> &[GrpcCall] {
        &self.store.data().callouts.grpc
    }

    /// Wasm instructions the guest has executed so far (wasmtime fuel: about one unit per
    /// instruction), for a module compiled with `CompileOptions { fuel: true, .. }`; `None`
    /// otherwise. Deterministic, so it measures guest work where timings are too noisy.
    pub fn guest_fuel(&self) -> Option<u64> {
        let left = self.store.get_fuel().ok()?;
        Some(self.fuel_used + self.fuel_set.saturating_sub(left))
    }

    /// Hostcalls made so far, when the builder turned tracing on.
    pub fn hostcalls(&self) -> &[String] {
        self.store.data().trace.as_deref().unwrap_or_default()
    }

    /// The metrics registry (shared with other hosts built with the same [`Shared`]).
    pub fn metrics(&self) -> MutexGuard<'_, Registry> {
        self.store.data().shared.metrics()
    }

    /// The module's metrics as Envoy's `/stats/prometheus` prints them.
    pub fn prometheus(&self, config: &PrometheusConfig) -> String {
        self.metrics().render_prometheus(config)
    }

    /// The shared state (data, queues, metrics) of this host.
    pub fn shared(&self) -> Arc<Shared> {
        self.store.data().shared.clone()
    }

    /// Every span in the OTLP/HTTP JSON trace exports the module sent (`POST .../v1/traces`).
    pub fn spans(&self) -> Vec<SpanRecord> {
        self.http_calls().iter().filter(|c| spans::is_trace_export(c)).flat_map(spans::decode_call).collect()
    }

    /// The tick period the plugin with root context `root` asked for, in milliseconds.
    pub fn tick_period_ms(&self, root: u32) -> Option<u32> {
        self.store.data().plugins.get(&root).map(|p| p.tick_period_ms).filter(|p| *p > 0)
    }

    /// Whether the host adds what Envoy adds to each exchange ([`HostBuilder::envoy_defaults`]).
    pub fn envoy_defaults(&self) -> bool {
        self.store.data().envoy_defaults.is_some()
    }

    /// The virtual wall clock, in nanoseconds since the Unix epoch.
    pub fn now_unix_nanos(&self) -> u64 {
        self.store.data().clock.realtime
    }

    /// The virtual monotonic clock (what `HttpCall::dispatched_at_nanos` is measured on).
    pub fn now_monotonic_nanos(&self) -> u64 {
        self.store.data().clock.monotonic
    }

    /// Whether a VM trapped (it then refuses further calls, as a failed Envoy VM does).
    pub fn has_failed(&self) -> bool {
        self.failed.iter().any(|f| *f)
    }

    /// How many workers (VMs) run ([`HostBuilder::workers`]).
    pub fn workers(&self) -> usize {
        self.instances.len()
    }

    /// The worker (0-based) a context runs on.
    pub fn worker_of(&self, context: u32) -> usize {
        let root = self.store.data().streams.get(&context).map_or(context, |s| s.root_id);
        self.root_worker.get(&root).copied().unwrap_or(self.starting)
    }

    /// Whether the VM of the worker `context` runs on trapped.
    fn failed_at(&self, context: u32) -> bool {
        self.failed.get(self.worker_of(context)).copied().unwrap_or(false)
    }

    /// Takes the traps met so far under a failure policy ([`HostBuilder::failure_policy`]).
    pub fn take_traps(&mut self) -> Vec<TrapRecord> {
        std::mem::take(&mut self.traps)
    }

    /// The root contexts of services ([`HostBuilder::add_service`]).
    pub fn service_contexts(&self) -> &[u32] {
        &self.services
    }

    /// Shuts the VMs down as Envoy does when a plugin goes away: `proxy_on_done` on every root
    /// context, then `proxy_on_delete`. Once only; a failed VM gets no call.
    pub fn shutdown(&mut self) -> Result<(), Error> {
        if std::mem::replace(&mut self.shut_down, true) {
            return Ok(());
        }
        for root in self.roots.clone() {
            if !self.failed_at(root) {
                self.callback_root_done(root)?;
            }
        }
        Ok(())
    }

    /// Bytes of linear memory the module uses now.
    pub fn memory_bytes(&mut self) -> usize {
        let Some(instance) = self.instances.first().copied() else { return 0 };
        match instance.get_memory(&mut self.store, "memory") {
            Some(m) => m.data_size(&self.store),
            None => 0,
        }
    }
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("module", &self.module)
            .field("roots", &self.roots)
            .field("failed", &self.failed)
            .field("workers", &self.instances.len())
            .finish()
    }
}
