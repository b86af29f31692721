//! Everything the host knows, kept in the wasmtime `Store` (never in globals, so hosts are
//! independent and tests run in parallel).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::abi::LogLevel;
use crate::callouts::Callouts;
use crate::clock::Clock;
use crate::properties::Properties;
use crate::shared::Shared;
use crate::stream::Stream;

/// The `Store` data of one VM.
pub(crate) struct HostState {
    /// The guest allocator export (`proxy_on_memory_allocate` or `malloc`).
    pub allocator: &'static str,
    pub clock: Clock,
    pub rng: Rng,
    /// Envoy's own additions (`HostBuilder::envoy_defaults`), and the random source of the
    /// request ids it makes (its own, so the module's random values stay what they were).
    pub envoy_defaults: Option<Rng>,
    pub log_level: LogLevel,
    pub logs: Vec<LogRecord>,
    pub vm_config: Vec<u8>,
    pub plugins: BTreeMap<u32, Plugin>,
    pub streams: BTreeMap<u32, Stream>,
    /// Streams with deferred actions (continue, local reply) to apply after the callback.
    pub pending_actions: Vec<u32>,
    /// The context the running callback belongs to (0 when none runs).
    pub current: u32,
    /// What the running callback may touch.
    pub phase: Phase,
    /// The plugin being configured (its configuration buffer is readable).
    pub configuring: Option<u32>,
    pub callouts: Callouts,
    pub shared: Arc<Shared>,
    pub properties: Properties,
    /// Upstream clusters the host knows; `None` accepts any name.
    pub clusters: Option<Vec<String>>,
    /// Last gRPC status for `proxy_get_status`.
    pub status: (u32, Vec<u8>),
    /// Arguments of the foreign function being called into the guest.
    pub foreign_args: Vec<u8>,
    pub environment: Vec<(String, String)>,
    /// Host functions the module may call with `proxy_call_foreign_function`.
    pub foreign: Vec<(String, ForeignFunction)>,
    /// Distinguishes hosts sharing one [`Shared`] (queue owners).
    pub host_id: u64,
    pub limits: wasmtime::StoreLimits,
    /// Every hostcall made, when tracing is on.
    pub trace: Option<Vec<String>>,
}

/// A host function callable by name from the guest: arguments in, results out.
pub type ForeignFunction = Arc<dyn Fn(&[u8]) -> Result<Vec<u8>, crate::abi::Status> + Send + Sync>;

/// One plugin (root context) of the VM.
#[derive(Debug, Clone)]
pub(crate) struct Plugin {
    pub name: String,
    pub root_id: String,
    pub vm_id: String,
    pub configuration: Vec<u8>,
    pub tick_period_ms: u32,
    pub next_tick_nanos: Option<u64>,
    /// `proxy_on_done` returned false; the plugin will call `proxy_done`.
    pub done_pending: bool,
}

/// A log line the guest wrote (with `proxy_log`, or to stdout/stderr through WASI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub level: LogLevel,
    /// The context the line was logged from (0 outside callbacks).
    pub context_id: u32,
    pub message: String,
}

/// Which kind of code is running, for Envoy's restrictions on hostcalls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No guest code runs.
    Idle,
    /// `_initialize` / `_start`: cpp-host allows only logging, clocks, random and WASI basics.
    Start,
    /// The guest allocator runs: cpp-host allows only logging.
    Allocate,
    /// A regular callback.
    Callback,
}

/// A deterministic random source (splitmix64) for `random_get`.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            let bytes = z.to_le_bytes();
            chunk.copy_from_slice(bytes.get(..chunk.len()).unwrap_or(&bytes));
        }
    }
}

impl HostState {
    /// Appends a log line attributed to the current context.
    pub fn log(&mut self, level: LogLevel, message: String) {
        self.logs.push(LogRecord { level, context_id: self.current, message });
    }

    /// The plugin that owns context `id` (the root itself, or the root of a stream).
    pub fn plugin_of(&self, id: u32) -> Option<(u32, &Plugin)> {
        if let Some(p) = self.plugins.get(&id) {
            return Some((id, p));
        }
        let root = self.streams.get(&id)?.root_id;
        self.plugins.get(&root).map(|p| (root, p))
    }

    /// Records a hostcall when tracing is on.
    pub fn traced(&mut self, call: impl FnOnce() -> String) {
        if let Some(trace) = &mut self.trace {
            trace.push(call());
        }
    }
}
