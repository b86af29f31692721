//! One Envoy filter config: a pipeline per worker thread, the metrics, the shared data, and the
//! main-thread work (ticks, export calls and their answers).
//!
//! Threading (`abi.h`): `config_new`, the config's scheduled hook and its callout answers run on
//! the main thread; each stream's hooks run on the worker that owns the stream. Each worker's
//! pipeline sits behind its own mutex: its worker takes it for the stream hooks, the main thread
//! for ticks and export answers, so the lock is almost never contended. Exports leave from the
//! main thread (config-level callouts), as the Wasm module's leave from each worker's root
//! context.

use std::collections::HashMap;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use telemetry_core::config::Config;
use telemetry_core::pipeline::Pipeline;

use crate::abi;
use crate::attributes::{self, Attribute};
use crate::host::NativeHost;
use crate::metrics::Registry;
use crate::shared::SharedData;
use crate::ticker::Ticker;

/// The scheduled event that ticks every worker's pipeline.
pub const EVENT_TICK: u64 = 0;
/// The scheduled event that hands queued export answers to their pipelines.
pub const EVENT_ANSWERS: u64 = 1;
/// Scheduled events from this value up wake one worker's pipeline (`EVENT_WAKE + worker`).
pub const EVENT_WAKE: u64 = 1 << 32;

/// The name of the counter of panics caught at the FFI boundary.
pub const PANICS: &str = "meshlens_native_panics_total";

/// One filter config.
#[derive(Debug)]
pub struct Plugin {
    pub envoy: abi::Config,
    workers: Vec<Mutex<Pipeline>>,
    /// The ABI attribute of each of the plan's properties, by `Property::index`.
    pub attributes: Vec<Option<Attribute>>,
    pub metrics: Registry,
    pub shared: Arc<SharedData>,
    pub tick_ms: Arc<AtomicU32>,
    pub scheduler: Option<Arc<abi::Scheduler>>,
    /// Which worker started each export call still in flight, by callout id.
    pub callouts: Mutex<HashMap<u64, usize>>,
    /// Export answers not yet handed to their pipeline: (callout id, `:status`).
    answers: Mutex<Vec<(u64, Option<u16>)>>,
    panics: Option<u32>,
    ticker: Mutex<Option<Ticker>>,
}

/// A configuration the pipeline refused: its one-line error.
#[derive(Debug)]
pub struct Refused(pub String);

/// Locks `m`. A panic caught while it was held (see `ffi.rs`) leaves it usable: the pipeline goes
/// on with the state it had when the panic was caught (a Wasm VM that traps is lost instead).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Plugin {
    /// Configures one pipeline per worker from the plugin configuration `bytes` (main thread,
    /// during `config_new`, while Envoy accepts metric definitions).
    pub fn configure(envoy: abi::Config, name: &str, bytes: &[u8]) -> Result<Arc<Self>, Refused> {
        let workers = usize::try_from(abi::concurrency()).unwrap_or(1).max(1);
        let mut plugin = Self {
            envoy,
            workers: Vec::new(),
            attributes: Vec::new(),
            metrics: Registry::default(),
            shared: crate::shared::store(name),
            tick_ms: Arc::new(AtomicU32::new(0)),
            scheduler: envoy.scheduler().map(Arc::new),
            callouts: Mutex::new(HashMap::new()),
            answers: Mutex::new(Vec::new()),
            panics: None,
            ticker: Mutex::new(None),
        };
        plugin.metrics.define_known_families(envoy);
        // The request families, from the configuration the pipelines parse next (a configuration
        // that does not parse is refused by them below, with the error line).
        let env = |name: &str| std::env::var(name).ok();
        if let Ok(Some(metrics)) = Config::from_json_with_env(bytes, &env).map(|c| c.metrics) {
            plugin.metrics.define_request_families(envoy, &metrics);
        }
        plugin.panics = plugin.metrics.define(envoy, telemetry_core::pipeline::host::MetricKind::Counter, PANICS).ok();
        for worker in 0..workers {
            let host = NativeHost::main(&plugin, worker);
            let pipeline = Pipeline::configure(bytes, &host).map_err(|e| Refused(e.line))?;
            if plugin.attributes.is_empty() {
                plugin.attributes = pipeline.plan().properties().iter().map(|p| attributes::lookup(p.path())).collect();
            }
            plugin.workers.push(Mutex::new(pipeline));
        }
        plugin.metrics.freeze();
        let plugin = Arc::new(plugin);
        if let Some(scheduler) = &plugin.scheduler {
            *lock(&plugin.ticker) = Some(Ticker::start(Arc::clone(scheduler), Arc::clone(&plugin.tick_ms)));
        }
        Ok(plugin)
    }

    /// The worker slot for Envoy's worker index.
    pub fn worker_of(&self, index: u32) -> usize {
        usize::try_from(index).unwrap_or(0) % self.workers.len().max(1)
    }

    /// Runs `f` with a worker's pipeline, locked.
    pub fn with_pipeline<R>(&self, worker: usize, f: impl FnOnce(&mut Pipeline) -> R) -> Option<R> {
        self.workers.get(worker).map(|m| f(&mut lock(m)))
    }

    /// A scheduled event, on the main thread.
    pub fn on_scheduled(&self, event: u64) {
        match event {
            EVENT_TICK => {
                for worker in 0..self.workers.len() {
                    let host = NativeHost::main(self, worker);
                    self.with_pipeline(worker, |p| p.on_tick(&host));
                }
            }
            EVENT_ANSWERS => self.hand_over_answers(),
            _ => {
                if let Some(worker) = event.checked_sub(EVENT_WAKE).and_then(|w| usize::try_from(w).ok()) {
                    let host = NativeHost::main(self, worker);
                    self.with_pipeline(worker, |p| p.on_wake(&host));
                }
            }
        }
    }

    /// An export call's answer, on the main thread. It is queued and handed over from a
    /// scheduled event: Envoy may answer inside the callout call itself, while the calling
    /// pipeline is still locked.
    pub fn on_answer(&self, callout: u64, status: Option<u16>) {
        lock(&self.answers).push((callout, status));
        if let Some(scheduler) = &self.scheduler {
            scheduler.commit(EVENT_ANSWERS);
        }
    }

    fn hand_over_answers(&self) {
        let answers = std::mem::take(&mut *lock(&self.answers));
        for (callout, status) in answers {
            let Some(worker) = lock(&self.callouts).remove(&callout) else { continue };
            let (Some(token), host) = (u32::try_from(callout).ok(), NativeHost::main(self, worker)) else { continue };
            self.with_pipeline(worker, |p| p.on_export_answer(&host, token, status));
        }
    }

    /// Counts a panic caught at the FFI boundary.
    pub fn count_panic(&self) {
        if let Some(id) = self.panics {
            self.metrics.increment(self.envoy, id, 1);
        }
    }

    /// Stops the ticker (main thread, `config_destroy`).
    pub fn stop(&self) {
        if let Some(ticker) = lock(&self.ticker).take() {
            ticker.stop();
        }
    }
}
