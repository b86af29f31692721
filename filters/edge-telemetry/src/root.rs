//! The root context: configuration, ticks and export answers, and the streams it creates.

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;
use telemetry_core::pipeline::Pipeline;

use proxy_wasm_abi::{LogLevel, MapType};

use crate::host;
use crate::stream::Stream;
use crate::wasm_host::{WasmHost, Worker};

/// The root context; holds the worker once `on_configure` accepted a configuration.
#[derive(Debug)]
pub struct Root {
    context_id: u32,
    worker: Option<Rc<Worker>>,
}

impl Root {
    /// A root context that is not configured yet.
    pub fn new(context_id: u32) -> Self {
        Self { context_id, worker: None }
    }
}

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, num_headers: usize, _body_size: usize, _num_trailers: usize) {
        let Some(worker) = &self.worker else { return };
        // No headers: the call failed without an answer (connection failure, reset, timeout).
        let status = match num_headers {
            0 => None,
            _ => host::header(MapType::HttpCallResponseHeaders, ":status").ok().flatten().and_then(|s| s.parse().ok()),
        };
        if let Ok(mut pipeline) = worker.pipeline.try_borrow_mut() {
            pipeline.on_export_answer(&worker.host, token, status);
        }
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        let bytes = match host::plugin_configuration(plugin_configuration_size) {
            Ok(bytes) => bytes,
            Err(e) => {
                host::log(LogLevel::Error, &format!("meshlens: cannot read the plugin configuration: {e:?}"));
                return false;
            }
        };
        match Pipeline::configure(&bytes, &WasmHost::default()) {
            Ok(pipeline) => {
                self.worker = Some(Rc::new(Worker::new(pipeline)));
                host::log(LogLevel::Info, &format!("meshlens: configured (root context {})", self.context_id));
                true
            }
            Err(e) => {
                host::log(LogLevel::Error, &e.0);
                false
            }
        }
    }

    fn on_tick(&mut self) {
        if let Some(worker) = &self.worker
            && let Ok(mut pipeline) = worker.pipeline.try_borrow_mut()
        {
            pipeline.on_tick(&worker.host);
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream::new(self.worker.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
