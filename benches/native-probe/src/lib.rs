//! A measuring instrument, not a filter: an Envoy 1.40 dynamic module (HTTP filter) that makes,
//! per request, only the dynamic-module callbacks any filter delivering meshlens's telemetry
//! needs, and nothing else. It is the native counterpart of `benches/hostcall-probe`'s
//! `essential` configuration: what `cargo xtask bench-envoy --floor` sets the native build
//! (case 6) against.
//!
//! The filter configuration (a `google.protobuf.StringValue`) is the [`Mode`]:
//! - `none`: every hook Envoy requires is present and returns at once; no callback is made;
//! - `essential`: in the request headers, every request header in one
//!   `envoy_dynamic_module_callback_http_get_headers` (into a buffer sized by
//!   `..._get_headers_size`), the clock, writing `traceparent`; in the response headers,
//!   `:status` (`..._get_header`), writing `x-trace-id`; at stream complete, the clock and a
//!   420-byte line at info through `envoy_dynamic_module_callback_log`, the logger the native
//!   module writes its access lines to;
//! - `mimic`: what `essential` does, plus every other callback meshlens's native build makes for
//!   a request at 100% sampling (counted with uprobes on Envoy's callbacks under load): the worker
//!   index when the stream starts, `traceresponse` written with `x-trace-id`, the response body's
//!   size, and three string attributes (`source.address`, `request.protocol`,
//!   `xds.cluster_name`) at stream complete: 12 callbacks. With none of the module's own work,
//!   it is the least any module with meshlens's output can cost through this ABI.
//!
//! It never links `edge-telemetry-native`: both export the same `envoy_dynamic_module_on_*`
//! symbols. All the unsafe code is in `ffi.rs`. Linux only, ABI `v0.2.0` like the native module.
#![cfg(target_os = "linux")]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ffi;

/// What the probe does per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The hooks only: no callback.
    None,
    /// The callbacks any filter delivering meshlens's telemetry needs (see the crate docs).
    Essential,
    /// Exactly the callbacks meshlens's native build makes (see the crate docs).
    Mimic,
}

/// The `traceparent` the probe writes on the request.
pub const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
/// The `traceresponse` the probe writes in `mimic` mode.
pub const TRACERESPONSE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// The trace id the probe writes as `x-trace-id` on the response.
pub const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// The length of the line written at stream complete: about one of meshlens's access lines.
pub const LINE_BYTES: usize = 420;

impl Mode {
    /// Parses the filter configuration, `none`, `essential` or `mimic`, bare or as a JSON string, with
    /// surrounding whitespace; `None` when it is neither.
    pub fn parse(config: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(config).ok()?.trim();
        let text = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
        match text {
            "none" => Some(Self::None),
            "essential" => Some(Self::Essential),
            "mimic" => Some(Self::Mimic),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Mode;

    #[test]
    fn parses_the_three_modes_and_refuses_the_rest() {
        assert_eq!(Mode::parse(b"none"), Some(Mode::None));
        assert_eq!(Mode::parse(b"essential\n"), Some(Mode::Essential));
        assert_eq!(Mode::parse(b"\"essential\""), Some(Mode::Essential));
        assert_eq!(Mode::parse(b""), None);
        assert_eq!(Mode::parse(b"mimic"), Some(Mode::Mimic));
        assert_eq!(Mode::parse(b"essentials"), None);
        assert_eq!(Mode::parse(b"\xff"), None);
    }
}
