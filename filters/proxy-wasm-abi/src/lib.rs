//! The facts of the proxy-wasm ABI v0.2.1 that both sides of it need: the guest (the
//! `edge-telemetry` module, through its `host` glue) and the host (`host-harness`). One
//! definition of each enum's values, of the map serialization and of property paths, so the
//! two cannot drift apart.
//!
//! Section names below are those of the specification,
//! <https://github.com/proxy-wasm/spec/blob/main/abi-versions/v0.2.1/README.md>.
//!
//! The crate compiles into the module: it has no dependencies, does no IO, never panics, and
//! adds no work a caller does not ask for (the decoder is generic so each side keeps its own
//! representation without a second pass).
#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod pairs;
pub mod property;

use core::fmt;

/// `proxy_status_t` (spec "Types"): what every host function returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Status {
    Ok = 0,
    NotFound = 1,
    BadArgument = 2,
    SerializationFailure = 3,
    ParseFailure = 4,
    InvalidMemoryAccess = 6,
    Empty = 7,
    CasMismatch = 8,
    InternalFailure = 10,
    Unimplemented = 12,
}

/// A host function's status other than `OK`, as a guest receives it: any value, since a host
/// may return one the spec does not list. `Debug` names a listed status (`NotFound`) and writes
/// any other value as `Other(5)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Failure(u32);

/// `proxy_log_level_t` (spec "Types"; used by "Logging").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum LogLevel {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Critical = 5,
}

/// `proxy_map_type_t` (spec "Types"; used by "HTTP fields").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum MapType {
    RequestHeaders = 0,
    RequestTrailers = 1,
    ResponseHeaders = 2,
    ResponseTrailers = 3,
    GrpcInitialMetadata = 4,
    GrpcTrailingMetadata = 5,
    HttpCallResponseHeaders = 6,
    HttpCallResponseTrailers = 7,
}

/// `proxy_buffer_type_t` (spec "Types"; used by "Buffers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum BufferType {
    HttpRequestBody = 0,
    HttpResponseBody = 1,
    DownstreamData = 2,
    UpstreamData = 3,
    HttpCallResponseBody = 4,
    GrpcCallMessage = 5,
    VmConfiguration = 6,
    PluginConfiguration = 7,
    ForeignFunctionArguments = 8,
}

/// `proxy_metric_type_t` (spec "Types"; used by "Metrics").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum MetricType {
    Counter = 0,
    Gauge = 1,
    Histogram = 2,
}

/// `proxy_stream_type_t` (spec "Types"; used by "Common stream operations").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum StreamType {
    HttpRequest = 0,
    HttpResponse = 1,
    Downstream = 2,
    Upstream = 3,
}

/// `from_raw` (`None` for a value the spec does not list) and `raw` for each enum.
macro_rules! raw_values {
    ($($ty:ident { $($variant:ident),+ $(,)? })+) => {$(
        impl $ty {
            /// The value for a raw ABI value; `None` when the spec lists no such value.
            pub const fn from_raw(raw: u32) -> Option<Self> {
                $(if raw == Self::$variant as u32 {
                    return Some(Self::$variant);
                })+
                None
            }

            /// The raw ABI value.
            #[inline]
            pub const fn raw(self) -> u32 {
                self as u32
            }
        }
    )+};
}

raw_values! {
    Status {
        Ok, NotFound, BadArgument, SerializationFailure, ParseFailure, InvalidMemoryAccess, Empty,
        CasMismatch, InternalFailure, Unimplemented,
    }
    LogLevel { Trace, Debug, Info, Warn, Error, Critical }
    MapType {
        RequestHeaders, RequestTrailers, ResponseHeaders, ResponseTrailers, GrpcInitialMetadata,
        GrpcTrailingMetadata, HttpCallResponseHeaders, HttpCallResponseTrailers,
    }
    BufferType {
        HttpRequestBody, HttpResponseBody, DownstreamData, UpstreamData, HttpCallResponseBody,
        GrpcCallMessage, VmConfiguration, PluginConfiguration, ForeignFunctionArguments,
    }
    MetricType { Counter, Gauge, Histogram }
    StreamType { HttpRequest, HttpResponse, Downstream, Upstream }
}

impl Status {
    /// A raw status as the guest sees it: `Ok` for `OK`, the [`Failure`] otherwise.
    #[inline]
    pub const fn check(raw: u32) -> Result<(), Failure> {
        if raw == Self::Ok as u32 { Ok(()) } else { Err(Failure(raw)) }
    }
}

impl Failure {
    /// The raw value the host returned (never 0).
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// The status, when the spec lists the value.
    pub const fn status(self) -> Option<Status> {
        Status::from_raw(self.0)
    }

    /// Whether the host returned `status` (one comparison, for the guest's hot paths).
    #[inline]
    pub const fn is(self, status: Status) -> bool {
        self.0 == status as u32
    }
}

impl LogLevel {
    /// The level's name in lowercase, as hosts print it (`"info"`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status() {
            Some(status) => fmt::Debug::fmt(&status, f),
            None => write!(f, "Other({})", self.0),
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn raw_values_are_the_specs() {
        for raw in 0..16 {
            if let Some(status) = Status::from_raw(raw) {
                assert_eq!(status.raw(), raw);
            }
        }
        let listed: std::vec::Vec<u32> = (0..16).filter(|r| Status::from_raw(*r).is_some()).collect();
        assert_eq!(listed, [0, 1, 2, 3, 4, 6, 7, 8, 10, 12]);
        assert_eq!(MapType::from_raw(6), Some(MapType::HttpCallResponseHeaders));
        assert_eq!(MapType::from_raw(8), None);
        assert_eq!(BufferType::PluginConfiguration.raw(), 7);
        assert_eq!(LogLevel::from_raw(5), Some(LogLevel::Critical));
        assert_eq!(LogLevel::from_raw(6), None);
        assert_eq!(MetricType::from_raw(2), Some(MetricType::Histogram));
        assert_eq!(StreamType::Upstream.raw(), 3);
    }

    #[test]
    fn a_failure_names_a_listed_status_and_keeps_any_other_value() {
        assert_eq!(Status::check(0), Ok(()));
        let not_found = Status::check(1).unwrap_err();
        assert_eq!((not_found.status(), format!("{not_found:?}")), (Some(Status::NotFound), "NotFound".into()));
        assert!(not_found.is(Status::NotFound) && !not_found.is(Status::Empty));
        let other = Status::check(5).unwrap_err();
        assert_eq!((other.status(), other.raw(), format!("{other:?}")), (None, 5, "Other(5)".into()));
        assert_eq!(format!("{}", LogLevel::Warn), "warn");
    }
}
