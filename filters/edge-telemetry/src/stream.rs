//! One HTTP stream: each callback hands the stream's [`Exchange`] to the worker's pipeline.

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use telemetry_core::pipeline::{Exchange, Flow};

use crate::wasm_host::Worker;

/// Per-stream state: the worker (none when configuration failed: the stream passes through)
/// and the exchange.
#[derive(Debug)]
pub struct Stream {
    worker: Option<Rc<Worker>>,
    exchange: Exchange,
}

impl Stream {
    /// A stream of a configured worker, or a pass-through one.
    pub fn new(worker: Option<Rc<Worker>>) -> Self {
        let exchange = match &worker {
            Some(w) => w.pipeline.try_borrow_mut().map(|mut p| p.new_exchange()).unwrap_or_default(),
            None => Exchange::default(),
        };
        Self { worker, exchange }
    }
}

impl Context for Stream {}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if let Some(w) = &self.worker
            && let Ok(mut pipeline) = w.pipeline.try_borrow_mut()
            && pipeline.on_request_headers(&mut self.exchange, &w.host) == Flow::Stop
        {
            return Action::Pause;
        }
        Action::Continue
    }

    fn on_http_request_body(&mut self, body_size: usize, _end_of_stream: bool) -> Action {
        self.exchange.on_request_body(body_size);
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if let Some(w) = &self.worker
            && let Ok(mut pipeline) = w.pipeline.try_borrow_mut()
        {
            pipeline.on_response_headers(&mut self.exchange, &w.host);
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, _end_of_stream: bool) -> Action {
        self.exchange.on_response_body(body_size);
        Action::Continue
    }

    fn on_http_response_trailers(&mut self, _num_trailers: usize) -> Action {
        if let Some(w) = &self.worker
            && let Ok(mut pipeline) = w.pipeline.try_borrow_mut()
        {
            pipeline.on_response_trailers(&mut self.exchange, &w.host);
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        if let Some(w) = &self.worker
            && let Ok(mut pipeline) = w.pipeline.try_borrow_mut()
        {
            pipeline.on_log(&mut self.exchange, &w.host);
        }
    }
}
