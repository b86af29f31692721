//! The root context: configuration, the per-worker state shared by all streams, ticks and
//! export answers.

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;
use telemetry_core::config::Config;
use telemetry_core::ids::IdGenerator;

use crate::exporter::Exporter;
use crate::host::{self, Level};
use crate::metrics::Metrics;
use crate::stream::Stream;

/// What every stream of this plugin shares (one per worker VM; single-threaded).
#[derive(Debug)]
pub struct Plugin {
    pub config: Config,
    pub metrics: Metrics,
    pub ids: RefCell<IdGenerator>,
    pub exporter: Option<RefCell<Exporter>>,
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
        if let Some(exporter) = &exporter
            && let Err(e) = host::set_tick_period_ms(exporter.tick_period_ms())
        {
            host::log(Level::Error, &format!("meshlens: cannot set the export tick: {e:?}"));
            return false;
        }
        self.plugin = Some(Rc::new(Plugin {
            config,
            metrics: Metrics::define(),
            ids: RefCell::new(IdGenerator::from_seed(seed)),
            exporter: exporter.map(RefCell::new),
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
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream::new(self.plugin.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
