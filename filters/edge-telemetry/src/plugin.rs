//! The root context: configuration, the per-worker state shared by all streams, ticks and
//! export answers.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;
use telemetry_core::access_log::LogRecord;
use telemetry_core::config::Config;
use telemetry_core::ids::IdGenerator;
use telemetry_core::metrics::MetricsEngine;
use telemetry_core::otlp;
use telemetry_core::redact::Counts;
use telemetry_core::security::BurstDetector;
use telemetry_core::span::Span;

use crate::exporter::Exporter;
use crate::host::{self, Level};
use crate::metrics::{self, Metrics};
use crate::stream::Stream;

/// How often request metrics reach Envoy when no exporter ticks faster.
const METRICS_TICK_MS: u32 = 1_000;

/// What every stream of this plugin shares (one per worker VM; single-threaded).
#[derive(Debug)]
pub struct Plugin {
    pub config: Config,
    pub metrics: Metrics,
    pub ids: RefCell<IdGenerator>,
    pub spans: Option<RefCell<Exporter<Span>>>,
    pub logs: Option<RefCell<Exporter<LogRecord>>>,
    /// Request metrics, aggregated per worker and handed to Envoy on each tick.
    pub request_metrics: Option<RefCell<MetricsEngine>>,
    pub security: Option<RefCell<BurstDetector>>,
    /// Redactions made, and how many of them Envoy's counters already show.
    pub redactions: RefCell<(Counts, Counts)>,
    /// A reusable buffer for access-log lines.
    pub line: RefCell<String>,
    /// Whether this VM has served a stream: Envoy also runs the plugin in a main-thread VM that
    /// never sees traffic, and only the workers' memory belongs in the gauge.
    pub serves_traffic: Cell<bool>,
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

impl Plugin {
    /// Everything the tick does: export batches, hand metric deltas and redaction counts to Envoy.
    fn on_tick(&self) {
        let now = host::now_unix_nanos();
        if let Some(exporter) = &self.spans
            && let Ok(mut exporter) = exporter.try_borrow_mut()
        {
            exporter.flush(&self.config.resource, now);
        }
        if let Some(exporter) = &self.logs
            && let Ok(mut exporter) = exporter.try_borrow_mut()
        {
            exporter.flush(&self.config.resource, now);
        }
        if let Some(engine) = &self.request_metrics
            && let Ok(mut engine) = engine.try_borrow_mut()
        {
            engine.drain(metrics::hand_over);
        }
        if let Ok(mut counts) = self.redactions.try_borrow_mut() {
            let (made, reported) = &mut *counts;
            for (kind, total) in made.iter() {
                let delta = total.saturating_sub(reported.get(kind));
                if delta > 0 {
                    self.metrics.add_labelled(&format!("meshlens_redactions_total;kind={}", kind.label()), delta);
                }
            }
            *reported = made.clone();
        }
        if self.serves_traffic.get() {
            self.metrics.record_wasm_memory();
        }
    }
}

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, num_headers: usize, _body_size: usize, _num_trailers: usize) {
        let Some(plugin) = &self.plugin else { return };
        let now = host::now_unix_nanos();
        if let Some(exporter) = &plugin.spans
            && let Ok(mut exporter) = exporter.try_borrow_mut()
            && exporter.completed(token, num_headers)
        {
            exporter.flush(&plugin.config.resource, now);
            return;
        }
        if let Some(exporter) = &plugin.logs
            && let Ok(mut exporter) = exporter.try_borrow_mut()
            && exporter.completed(token, num_headers)
        {
            exporter.flush(&plugin.config.resource, now);
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
        let otlp_logs = config.access_log.as_ref().filter(|a| a.otlp).map(|a| a.otlp_path.clone());
        let metrics = Metrics::define(otlp_logs.is_some());
        let spans = config.tracing.as_ref().map(|t| {
            let path = t.exporter.path.clone();
            Exporter::new(t.exporter.clone(), path, otlp::encode_traces_into, metrics.spans)
        });
        let logs = match (&config.tracing, otlp_logs) {
            (Some(t), Some(path)) => {
                Some(Exporter::new(t.exporter.clone(), path, otlp::encode_logs_into as _, metrics.logs))
            }
            _ => None,
        };
        let request_metrics = config.metrics.clone().map(|m| RefCell::new(MetricsEngine::new(m)));
        let tick_ms = match (&spans, &request_metrics) {
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
        metrics.config_reloaded();
        let security = config.security.clone().map(|s| RefCell::new(BurstDetector::new(s)));
        self.plugin = Some(Rc::new(Plugin {
            config,
            metrics,
            ids: RefCell::new(IdGenerator::from_seed(seed)),
            spans: spans.map(RefCell::new),
            logs: logs.map(RefCell::new),
            request_metrics,
            security,
            redactions: RefCell::new((Counts::default(), Counts::default())),
            line: RefCell::new(String::with_capacity(512)),
            serves_traffic: Cell::new(false),
        }));
        host::log(Level::Info, &format!("meshlens: configured (root context {})", self.context_id));
        true
    }

    fn on_tick(&mut self) {
        if let Some(plugin) = &self.plugin {
            plugin.on_tick();
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        if let Some(plugin) = &self.plugin {
            plugin.serves_traffic.set(true);
        }
        Some(Box::new(Stream::new(self.plugin.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
