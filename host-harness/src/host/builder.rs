//! Configuring a host before it starts.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Store, StoreLimitsBuilder};

use super::Host;
use crate::abi::{LogLevel, Status};
use crate::callouts::{Callouts, Responder, Script};
use crate::clock::{Clock, DEFAULT_START_UNIX_NANOS};
use crate::error::Error;
use crate::module::Module;
use crate::properties::{Properties, Value};
use crate::shared::Shared;
use crate::state::{ForeignFunction, HostState, Phase, Plugin, Rng};

/// Builds a [`Host`]: plugins and their configuration, clock, randomness, upstreams, properties,
/// limits. Every setting has a deterministic default.
pub struct HostBuilder {
    module: Module,
    plugins: Vec<(String, Vec<u8>)>,
    vm_config: Vec<u8>,
    vm_id: String,
    start_unix_nanos: u64,
    seed: u64,
    clusters: Option<Vec<String>>,
    responders: Vec<(String, Responder)>,
    script: Option<Script>,
    properties: Properties,
    shared: Option<Arc<Shared>>,
    foreign: Vec<(String, ForeignFunction)>,
    fuel_per_call: Option<u64>,
    time_per_call: Option<Duration>,
    memory_limit: Option<usize>,
    log_level: LogLevel,
    trace: bool,
    environment: Vec<(String, String)>,
    envoy_defaults: bool,
    failure_policy: Option<super::FailurePolicy>,
    services: Vec<(String, Vec<u8>)>,
    workers: usize,
}

/// Mixed into the seed for the request ids of [`HostBuilder::envoy_defaults`].
const REQUEST_ID_SEED: u64 = 0x7265_7175_6573_7469;

static NEXT_HOST_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl HostBuilder {
    pub(super) fn new(module: &Module) -> Self {
        Self {
            module: module.clone(),
            plugins: Vec::new(),
            vm_config: Vec::new(),
            vm_id: String::new(),
            start_unix_nanos: DEFAULT_START_UNIX_NANOS,
            seed: 0x5eed,
            clusters: None,
            responders: Vec::new(),
            script: None,
            properties: Properties::envoy_defaults(),
            shared: None,
            foreign: Vec::new(),
            fuel_per_call: None,
            time_per_call: None,
            memory_limit: None,
            log_level: LogLevel::Info,
            trace: false,
            environment: Vec::new(),
            envoy_defaults: false,
            failure_policy: None,
            services: Vec::new(),
            workers: 1,
        }
    }

    /// The configuration of the first plugin (root id `""` unless [`Self::root_id`] names it).
    pub fn plugin_config(mut self, configuration: impl Into<Vec<u8>>) -> Self {
        let configuration = configuration.into();
        match self.plugins.first_mut() {
            Some(first) => first.1 = configuration,
            None => self.plugins.push((String::new(), configuration)),
        }
        self
    }

    /// The root id of the first plugin (Envoy `root_id`).
    pub fn root_id(mut self, root_id: &str) -> Self {
        match self.plugins.first_mut() {
            Some(first) => first.0 = root_id.to_owned(),
            None => self.plugins.push((root_id.to_owned(), Vec::new())),
        }
        self
    }

    /// Another plugin in the same VM (Envoy: several filter configs sharing one `vm_id`). Its
    /// filter follows the earlier plugins' on every stream, as in an Envoy filter chain
    /// ([`Host::new_stream`](super::Host::new_stream)).
    pub fn add_plugin(mut self, root_id: &str, configuration: impl Into<Vec<u8>>) -> Self {
        if self.plugins.is_empty() {
            self.plugins.push((String::new(), Vec::new()));
        }
        self.plugins.push((root_id.to_owned(), configuration.into()));
        self
    }

    /// A singleton service in the same VM (Envoy's `WasmService`): a root context configured
    /// like a plugin, with ticks and callouts, on which no stream is ever created.
    pub fn add_service(mut self, root_id: &str, configuration: impl Into<Vec<u8>>) -> Self {
        self.services.push((root_id.to_owned(), configuration.into()));
        self
    }

    /// How many workers run the module (default 1): like Envoy's `--concurrency`, each is its
    /// own VM (instance) with its own root contexts, configured on its own (`on_configure` per
    /// worker), sharing the VM id's shared data and queues. [`Host::new_stream`] spreads streams
    /// over the workers in turn.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// What happens once the VM traps ([`super::FailurePolicy`]); without one (the default)
    /// a trap is an error and the VM refuses every later call.
    pub fn failure_policy(mut self, policy: super::FailurePolicy) -> Self {
        self.failure_policy = Some(policy);
        self
    }

    /// The VM configuration (`vm_config.configuration`).
    pub fn vm_config(mut self, configuration: impl Into<Vec<u8>>) -> Self {
        self.vm_config = configuration.into();
        self
    }

    /// The VM id (`vm_config.vm_id`; `plugin_vm_id` property, shared-queue namespace).
    pub fn vm_id(mut self, vm_id: &str) -> Self {
        self.vm_id = vm_id.to_owned();
        self
    }

    /// Where the virtual clock starts (default 2026-01-01T00:00:00Z).
    pub fn start_time_unix_nanos(mut self, nanos: u64) -> Self {
        self.start_unix_nanos = nanos;
        self
    }

    /// Seed of the random source behind `random_get`.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Envoy's own additions to each exchange, as measured on Envoy 1.40 (see
    /// [`crate::host::envoy`]): request headers in Envoy's HTTP/1 order with `x-forwarded-proto`
    /// and `x-request-id` (a UUID v4 from a random source seeded by [`Self::seed`], not the one
    /// the module reads) before the module sees them, and `x-envoy-upstream-service-time` on
    /// upstream responses. The traffic replay then also delivers a body as Envoy's HTTP/1 codec
    /// does: the data, then an empty call with `end_of_stream`. Off by default: the headers are
    /// exactly what the caller passes.
    pub fn envoy_defaults(mut self, on: bool) -> Self {
        self.envoy_defaults = on;
        self
    }

    /// The upstream clusters that exist; calls to others are BAD_ARGUMENT, as in Envoy.
    /// Without this, every name exists.
    pub fn clusters<S: AsRef<str>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.clusters = Some(names.into_iter().map(|s| s.as_ref().to_owned()).collect());
        self
    }

    /// How calls to `upstream` are answered unless the scenario answers them itself.
    pub fn respond(mut self, upstream: &str, responder: Responder) -> Self {
        self.responders.retain(|(u, _)| u != upstream);
        self.responders.push((upstream.to_owned(), responder));
        self
    }

    /// Answers callouts from a script ([`Script`]): the first rule matching a call gives its
    /// next answer. With a script, a call no rule (and no [`Self::respond`]) answers gets the
    /// default: HTTP 503 `no healthy upstream`, gRPC UNAVAILABLE (14); without one it stays
    /// pending for the scenario. Rules come before [`Self::respond`]ers.
    pub fn callouts(mut self, script: Script) -> Self {
        self.script = Some(script);
        self
    }

    /// Sets an Envoy property for every stream (e.g. `["source", "address"]`).
    pub fn property(mut self, path: &[&str], value: Value) -> Self {
        self.properties.set(path, value);
        self
    }

    /// Shares data, queues and metrics with other hosts (Envoy workers).
    pub fn shared(mut self, shared: Arc<Shared>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// A function the module can call with `proxy_call_foreign_function`.
    pub fn foreign_function(
        mut self,
        name: &str,
        function: impl Fn(&[u8]) -> Result<Vec<u8>, Status> + Send + Sync + 'static,
    ) -> Self {
        self.foreign.push((name.to_owned(), Arc::new(function)));
        self
    }

    /// Bounds each callback's CPU to `fuel` units; the module must be compiled with
    /// `CompileOptions { fuel: true, .. }`. Running out is a trap.
    pub fn fuel_per_call(mut self, fuel: u64) -> Self {
        self.fuel_per_call = Some(fuel);
        self
    }

    /// Bounds each callback's wall-clock time to about `limit` (to the next
    /// [`EPOCH_TICK`](crate::module::EPOCH_TICK)); the module must be compiled with
    /// `CompileOptions { deadline: true, .. }`. Running out is a trap, reported as
    /// [`Error::Trap`] naming the callback. A guest that loops forever then fails instead of
    /// hanging the run. Unlike [`Self::fuel_per_call`] it costs next to nothing, but it is not
    /// deterministic: keep it well above what any callback needs.
    pub fn time_per_call(mut self, limit: Duration) -> Self {
        self.time_per_call = Some(limit);
        self
    }

    /// Bounds the module's linear memory; growing past it fails the guest's allocation.
    pub fn memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// The proxy's log level, which `proxy_get_log_level` reports (default info, Envoy's `-l`
    /// default; Istio's proxies run at warning). [`Host::logs`] keeps lines below it too.
    pub fn log_level(mut self, level: LogLevel) -> Self {
        self.log_level = level;
        self
    }

    /// Records every hostcall name, for [`Host::hostcalls`].
    pub fn trace_hostcalls(mut self, on: bool) -> Self {
        self.trace = on;
        self
    }

    /// An environment variable the module sees through WASI `environ_get`.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.environment.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Instantiates the module, runs its start function, and starts and configures every plugin
    /// like Envoy: `proxy_on_context_create(root, 0)`, `proxy_on_vm_start`, `proxy_on_configure`.
    pub fn build(self) -> Result<Host, Error> {
        if self.fuel_per_call.is_some() && !self.module.fuel() {
            return Err(Error::Usage(String::from(
                "fuel_per_call needs a module compiled with CompileOptions { fuel: true, .. }",
            )));
        }
        if self.time_per_call.is_some() && !self.module.deadline() {
            return Err(Error::Usage(String::from(
                "time_per_call needs a module compiled with CompileOptions { deadline: true, .. }",
            )));
        }
        let mut limits = StoreLimitsBuilder::new();
        if let Some(bytes) = self.memory_limit {
            limits = limits.memory_size(bytes);
        }
        let plugins = if self.plugins.is_empty() && self.services.is_empty() {
            vec![(String::new(), Vec::new())]
        } else {
            self.plugins
        };
        let plugins: Vec<(String, Vec<u8>, bool)> = self
            .services
            .into_iter()
            .map(|(r, c)| (r, c, true))
            .chain(plugins.into_iter().map(|(r, c)| (r, c, false)))
            .collect();
        let state = HostState {
            allocator: self.module.allocator(),
            clock: Clock::starting_at(self.start_unix_nanos),
            rng: Rng::new(self.seed),
            envoy_defaults: self.envoy_defaults.then(|| Rng::new(self.seed ^ REQUEST_ID_SEED)),
            log_level: self.log_level,
            logs: Vec::new(),
            vm_config: self.vm_config,
            plugins: Default::default(),
            streams: Default::default(),
            pending_actions: Vec::new(),
            current: 0,
            phase: Phase::Idle,
            configuring: None,
            callouts: Callouts { script: self.script, ..Callouts::new(self.responders) },
            shared: self.shared.unwrap_or_default(),
            properties: self.properties,
            clusters: self.clusters,
            status: (0, Vec::new()),
            foreign_args: Vec::new(),
            environment: self.environment,
            foreign: self.foreign,
            host_id: NEXT_HOST_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            limits: limits.build(),
            trace: self.trace.then(Vec::new),
        };
        let mut store = Store::new(self.module.engine(), state);
        store.limiter(|s| &mut s.limits);
        if self.module.fuel() {
            store.set_fuel(self.fuel_per_call.unwrap_or(u64::MAX)).map_err(|e| Error::Usage(e.to_string()))?;
        }
        if self.module.deadline() {
            // Epoch interruption is compiled in: without a deadline every call would trap at once.
            store.set_epoch_deadline(crate::module::NO_EPOCH_DEADLINE);
            store.epoch_deadline_trap();
        }
        let mut instances = Vec::with_capacity(self.workers);
        for _ in 0..self.workers {
            instances.push(
                self.module
                    .instance_pre()
                    .instantiate(&mut store)
                    .map_err(|e| Error::Compile(format!("cannot instantiate the module: {e:#}")))?,
            );
        }
        let workers = instances.len();
        let mut host = Host {
            store,
            instances,
            root_worker: Default::default(),
            starting: 0,
            http_roots: Vec::new(),
            next_worker: 0,
            module: self.module,
            fuel_per_call: self.fuel_per_call,
            epoch_ticks_per_call: self.time_per_call.map(crate::module::epoch_ticks),
            ticks_delivered: 0,
            fuel_used: 0,
            fuel_set: self.fuel_per_call.unwrap_or(u64::MAX),
            next_context_id: 1,
            roots: Vec::new(),
            services: Vec::new(),
            failed: vec![false; workers],
            failure_policy: self.failure_policy,
            traps: Vec::new(),
            shut_down: false,
            driving: false,
            chain_dirty: Vec::new(),
        };
        for worker in 0..workers {
            host.starting = worker;
            host.start()?;
            let mut http_roots = Vec::new();
            for (root_id, configuration, service) in plugins.iter().cloned() {
                let id = host.next_context_id;
                host.next_context_id += 1;
                let plugin = Plugin {
                    name: root_id.clone(),
                    root_id,
                    vm_id: self.vm_id.clone(),
                    configuration,
                    tick_period_ms: 0,
                    next_tick_nanos: None,
                    done_pending: false,
                };
                host.store.data_mut().plugins.insert(id, plugin);
                host.roots.push(id);
                host.root_worker.insert(id, worker);
                if service {
                    host.services.push(id);
                } else {
                    http_roots.push(id);
                }
                host.start_plugin(id)?;
            }
            host.http_roots.push(http_roots);
        }
        Ok(host)
    }
}

impl std::fmt::Debug for HostBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostBuilder").field("module", &self.module).field("plugins", &self.plugins.len()).finish()
    }
}
