//! The floor of any Wasm filter: a proxy-wasm module that adds one response header,
//! `x-minimal: 1`, and does nothing else.
//!
//! It exists to be measured next to meshlens in a real Envoy (`cargo xtask bench-envoy`,
//! `benches/RESULTS.md`): whatever it costs over bare Envoy is the price of running any Wasm
//! filter at all (VM entry per callback, header-map crossing), and meshlens's own cost is what
//! it adds on top. It must never do more than that one header, or it stops being a floor.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};

/// The header added to every response.
pub const HEADER: (&str, &str) = ("x-minimal", "1");

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| Box::new(Root));
}}

/// The root context: creates one [`Stream`] per HTTP stream.
#[derive(Debug, Clone, Copy)]
pub struct Root;

/// One HTTP stream: adds [`HEADER`] to the response headers.
#[derive(Debug, Clone, Copy)]
pub struct Stream;

impl Context for Root {}

impl RootContext for Root {
    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream))
    }
}

impl Context for Stream {}

impl HttpContext for Stream {
    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        // A failed hostcall leaves the response as it was: the floor never takes traffic down.
        let _ =
            proxy_wasm::hostcalls::add_map_value(proxy_wasm::types::MapType::HttpResponseHeaders, HEADER.0, HEADER.1);
        Action::Continue
    }
}
