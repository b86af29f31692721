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

/// The most items one wake-up takes off the wake queue.
const WAKE_DRAIN_LIMIT: usize = 64;

/// Registers this worker's wake queue under a name no other worker uses: a queue is keyed by VM id
/// and name, and every worker runs the same VM id, so a shared name would send every wake-up to
/// the last worker that registered it. `None` (logged) when the host refuses: full batches then
/// wait for the tick.
fn wake_queue() -> Option<u32> {
    let mut id = [0u8; 8];
    if getrandom::fill(&mut id).is_err() {
        return None;
    }
    let name = format!("meshlens.wake.{:016x}", u64::from_le_bytes(id));
    match host::register_shared_queue(&name) {
        Ok(queue) => Some(queue),
        Err(e) => {
            let line =
                format!("meshlens: cannot register a shared queue ({e:?}): full export batches wait for the tick");
            host::log(LogLevel::Warn, &line);
            None
        }
    }
}

/// Empties the wake queue. One item per wake-up, and the pipeline asks for one at a time: the
/// loop is bounded to be safe against a host that queued more.
fn drain(queue_id: u32) {
    for _ in 0..WAKE_DRAIN_LIMIT {
        if !matches!(host::dequeue_shared_queue(queue_id), Ok(Some(_))) {
            break;
        }
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
                self.worker = Some(Rc::new(Worker::new(pipeline, wake_queue())));
                host::log(LogLevel::Info, &format!("meshlens: configured (root context {})", self.context_id));
                true
            }
            Err(e) => {
                host::log(LogLevel::Error, &e.line);
                false
            }
        }
    }

    /// A stream filled an export batch and woke the root (see `Pipeline::on_wake`). The SDK made
    /// this root context the active one, so the export calls it dispatches come back here.
    fn on_queue_ready(&mut self, queue_id: u32) {
        let Some(worker) = &self.worker else { return };
        if worker.wake_queue() != Some(queue_id) {
            return;
        }
        drain(queue_id);
        if let Ok(mut pipeline) = worker.pipeline.try_borrow_mut() {
            pipeline.on_wake(&worker.host);
        }
    }

    fn on_tick(&mut self) {
        if let Some(worker) = &self.worker
            && let Ok(mut pipeline) = worker.pipeline.try_borrow_mut()
        {
            // A host that keeps items but never calls `on_queue_ready` must not collect them:
            // the tick, which stands in for a lost wake-up, empties the queue too.
            if let Some(queue) = worker.wake_queue() {
                drain(queue);
            }
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
