//! The root context: configuration, the per-worker state shared by all streams, ticks and
//! export answers.

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;
use telemetry_core::config::Config;
use telemetry_core::ids::IdGenerator;
use telemetry_core::metrics::MetricsEngine;

use crate::exporter::Exporter;
use crate::host::{self, Level};
use crate::metrics::{self, Metrics};
use crate::stream::Stream;

/// How often request metrics reach Envoy when no span exporter ticks faster.
const METRICS_TICK_MS: u32 = 1_000;

/// What every stream of this plugin shares (one per worker VM; single-threaded).
#[derive(Debug)]
pub struct Plugin {
    pub config: Config,
    pub metrics: Metrics,
    pub ids: RefCell<IdGenerator>,
    pub exporter: Option<RefCell<Exporter>>,
    /// Request metrics, aggregated per worker and handed to Envoy on each tick.
    pub request_metrics: Option<RefCell<MetricsEngine>>,
}

/// The root context; holds the plugin once `on_configure` accepted a configuration.
#[derive(Debug)]
pub struct Root {
    context_id: u32,
    plugin: Option<Rc<Plugin>>,
}

impl Root {
    /// A root context that is not configured yet.
    pub fn new(context_id: u32) -> Self {
        Self { context_id, plugin: None }
    }
}

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, num_headers: usize, _body_size: usize, _num_trailers: usize) {
        let Some(plugin) = &self.plugin else { return };
        if let Some(exporter) = &plugin.exporter
            && let Ok(mut exporter) = exporter.try_borrow_mut()
        {
            exporter.completed(token, num_headers, &plugin.metrics);
            exporter.flush(&plugin.config.resource, &plugin.metrics, host::now_unix_nanos());
        }
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        let bytes = match host::plugin_configuration(plugin_configuration_size) {
            Ok(bytes) => bytes,
            Err(e) => {
                host::log(Level::Error, &format!("meshlens: cannot read the plugin configuration: {e:?}"));
                return false;
            }
        };
        let config = match Config::from_json(&bytes) {
            Ok(config) => config,
            Err(e) => {
                host::log(Level::Error, &format!("meshlens: invalid plugin configuration: {e}"));
                return false;
            }
        };
        let mut seed = [0u8; 32];
        if let Err(e) = getrandom::fill(&mut seed) {
            host::log(Level::Error, &format!("meshlens: the host's random source failed: {e}"));
            return false;
        }
        let exporter = config.tracing.as_ref().map(|t| Exporter::new(t.exporter.clone()));
        let request_metrics = config.metrics.clone().map(|m| RefCell::new(MetricsEngine::new(m)));
        let tick_ms = match (&exporter, &request_metrics) {
            (Some(e), _) => Some(e.tick_period_ms()),
            (None, Some(_)) => Some(METRICS_TICK_MS),
            (None, None) => None,
        };
        if let Some(ms) = tick_ms
            && let Err(e) = host::set_tick_period_ms(ms)
        {
            host::log(Level::Error, &format!("meshlens: cannot set the tick: {e:?}"));
            return false;
        }
        let metrics = Metrics::define();
        metrics.config_reloaded();
        self.plugin = Some(Rc::new(Plugin {
            config,
            metrics,
            ids: RefCell::new(IdGenerator::from_seed(seed)),
            exporter: exporter.map(RefCell::new),
            request_metrics,
        }));
        host::log(Level::Info, &format!("meshlens: configured (root context {})", self.context_id));
        true
    }

    fn on_tick(&mut self) {
        let Some(plugin) = &self.plugin else { return };
        if let Some(exporter) = &plugin.exporter
            && let Ok(mut exporter) = exporter.try_borrow_mut()
        {
            exporter.flush(&plugin.config.resource, &plugin.metrics, host::now_unix_nanos());
        }
        if let Some(engine) = &plugin.request_metrics
            && let Ok(mut engine) = engine.try_borrow_mut()
        {
            engine.drain(metrics::hand_over);
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream::new(self.plugin.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
