//! A test guest that traps on demand: adds [`HEADER`] to every response, and panics (the Rust
//! panic becomes a Wasm `unreachable` trap) in `on_http_request_headers` when the request carries
//! [`TRAP`]. What Envoy then does to the request, to the next requests and to the filter is its
//! `failure_policy`, which `tests/tests/all/envoy_failure_policy.rs` measures.

#![allow(clippy::panic)]

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, MapType};

/// The header added to every response the filter sees.
pub const HEADER: (&str, &str) = ("x-trap-probe", "1");
/// The request header that makes the filter trap.
pub const TRAP: (&str, &str) = ("x-trap", "1");

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| Box::new(Root));
}}

struct Root;

struct Stream;

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
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if self.get_http_request_header(TRAP.0).as_deref() == Some(TRAP.1) {
            panic!("trap-probe: trapping as the request asked ({}: {})", TRAP.0, TRAP.1);
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let _ = proxy_wasm::hostcalls::add_map_value(MapType::HttpResponseHeaders, HEADER.0, HEADER.1);
        Action::Continue
    }
}
