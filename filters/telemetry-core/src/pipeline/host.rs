//! What the pipeline needs from the proxy it runs in, as traits the core defines and each host
//! implements: the proxy-wasm glue over hostcalls, the fake host of the native tests, later a
//! native Envoy module. Every method is a fact read or an effect made; none decides anything.
//!
//! Methods take `&self`: a host is a handle onto the proxy (hostcalls are free functions), and a
//! recording host keeps its records in cells.

use std::borrow::Cow;
use std::fmt;

/// A header map as the host shows it: name/value pairs in order, borrowed where possible.
pub type HeaderPairs<'a> = [(Cow<'a, str>, Cow<'a, str>)];

/// A failed host operation: the host's status, as text (`BadArgument`, `NotFound`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError(pub String);

/// Whether a metric adds up or is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
}

/// An Envoy attribute the pipeline reads. The [`Plan`](super::Plan) numbers them at configure
/// time, so a host can prepare each path's encoding once and look it up by [`Property::index`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    index: usize,
    path: Vec<String>,
}

/// The wall clock.
pub trait Clock {
    /// Nanoseconds since the Unix epoch (0 when the host refuses).
    fn now_unix_nanos(&self) -> u64;
}

/// The randomness that seeds trace and span ids, read once at configure time.
pub trait Random {
    fn random_seed(&self) -> Result<[u8; 32], HostError>;
}

/// The stream's headers.
pub trait Headers {
    /// Calls `read` with the request headers as the host shows them now, read in one go. The
    /// pipeline writes no header while `read` runs, so a host may lend `read` the proxy's own
    /// map instead of a copy.
    fn request_headers<R>(&self, read: impl FnOnce(&HeaderPairs<'_>) -> R) -> R;
    /// Replaces every value of a request header (the request sent upstream).
    fn set_request_header(&self, name: &str, value: &str);
    /// Removes a request header (no effect when absent).
    fn remove_request_header(&self, name: &str);
    /// The first value of a response header.
    fn response_header(&self, name: &str) -> Option<String>;
    /// Calls `read` with the response headers, read in one go (for headers recorded with every
    /// value; [`Headers::response_header`] gives only the first). As for the request headers,
    /// no header is written while `read` runs.
    fn response_headers<R>(&self, read: impl FnOnce(&HeaderPairs<'_>) -> R) -> R;
    /// Replaces every value of a response header (the response sent downstream).
    fn set_response_header(&self, name: &str, value: &str);
    /// The first value of a response trailer (while the trailers pass).
    fn response_trailer(&self, name: &str) -> Option<String>;
}

/// Envoy attributes (`source.address`, `xds.cluster_name`, ...).
pub trait Properties {
    /// The attribute's raw value; `None` when the host has none.
    fn property(&self, property: &Property) -> Option<Vec<u8>>;
}

/// The severity of a line in the proxy's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// The proxy's log level: the least severe line it writes; less severe lines are dropped.
/// Envoy's is its `wasm` logger's level (`-l`, or `--component-log-level wasm:LEVEL`); Istio's
/// proxies default to `warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProxyLogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Critical,
    /// Nothing is written.
    Off,
}

/// The proxy's log.
pub trait LogSink {
    /// Writes one line.
    fn log(&self, level: LogLevel, message: &str);
    /// The proxy's log level now; an error when the host cannot tell (proxy-wasm ABI 0.2.0 has
    /// no `proxy_get_log_level`).
    fn log_level(&self) -> Result<ProxyLogLevel, HostError>;
}

/// The proxy's metrics (what Envoy shows on `/stats/prometheus`).
pub trait MetricSink {
    /// Defines (or finds) a metric by its stat name; returns its id.
    fn define_metric(&self, kind: MetricKind, name: &str) -> Result<u32, HostError>;
    /// Adds `delta` to a counter.
    fn increment_metric(&self, id: u32, delta: i64);
    /// Sets a gauge.
    fn record_metric(&self, id: u32, value: u64);
}

/// Timers and outgoing calls, made from the worker's root context.
pub trait Calls {
    /// Asks for `on_tick` every `ms` milliseconds.
    fn set_tick_period_ms(&self, ms: u32) -> Result<(), HostError>;
    /// Sends an HTTP request to an upstream cluster; returns the call's token.
    fn http_call(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout_ms: u32,
    ) -> Result<u32, HostError>;
    /// Asks the host to run [`Pipeline::on_wake`](super::Pipeline::on_wake) in the worker's root
    /// context soon after the current callback returns, on the same worker. Export calls are
    /// made from the root context only (see `exporter.rs`); this is how a stream that filled a
    /// batch gets it sent before the next tick. An error leaves the batch for the tick.
    fn wake_root(&self) -> Result<(), HostError>;
}

/// The VM the pipeline runs in.
pub trait Vm {
    /// The linear memory the VM holds for the filter, in bytes.
    fn memory_bytes(&self) -> u64;
    /// A variable of the VM's environment (Envoy `vm_config.environment_variables`, Istio
    /// `vmConfig.env`); `None` when unset or not UTF-8. Read at configure time only.
    fn env_var(&self, name: &str) -> Option<String>;
}

/// Data every VM of the plugin's VM id shares, on every worker (proxy-wasm shared data).
pub trait SharedData {
    /// A key's value and its compare-and-swap token; `None` when the key was never set.
    fn shared_data(&self, key: &str) -> Option<(Vec<u8>, u32)>;
    /// Sets a key. With `cas`, only if nobody wrote it since that token was read: `Ok(false)`
    /// when somebody did.
    fn set_shared_data(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<bool, HostError>;
}

/// Replies the filter makes itself, instead of the upstream.
pub trait LocalReply {
    /// Answers the current request with `status`, `headers` and `body`; the request goes no
    /// further.
    fn send_reply(&self, status: u16, headers: &[(&str, &str)], body: &[u8]) -> Result<(), HostError>;
}

/// Everything the pipeline reads and writes through.
pub trait Host:
    Clock + Random + Headers + Properties + LogSink + MetricSink + Calls + Vm + SharedData + LocalReply
{
}

impl<T: Clock + Random + Headers + Properties + LogSink + MetricSink + Calls + Vm + SharedData + LocalReply> Host
    for T
{
}

/// A string attribute: the host's bytes as text, kept without a copy when they are UTF-8 (as
/// they nearly always are), invalid sequences replaced otherwise.
pub fn property_string(host: &impl Properties, property: &Property) -> Option<String> {
    host.property(property).map(text)
}

/// A host's bytes as text: kept without a copy when they are UTF-8 (as they nearly always are),
/// invalid sequences replaced otherwise.
pub fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// [`text`] for lent bytes: borrowed when they are UTF-8 (`from_utf8` has an ASCII fast path;
/// the lossy decoder walks them chunk by chunk even when nothing needs replacing), else a lossy
/// copy.
pub fn text_ref(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// An integer attribute: Envoy encodes int64/uint64 attributes as 8 little-endian bytes.
pub fn property_u64(host: &impl Properties, property: &Property) -> Option<u64> {
    let bytes = host.property(property)?;
    let array: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    Some(u64::from_le_bytes(array))
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl LogLevel {
    /// Envoy's name of the level, as `-l` and `--component-log-level` take it (`info`, `warning`).
    pub fn envoy_name(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warning",
            Self::Error => "error",
        }
    }
}

impl ProxyLogLevel {
    /// Whether the proxy writes a line of `level`.
    pub fn writes(self, level: LogLevel) -> bool {
        let level = match level {
            LogLevel::Debug => Self::Debug,
            LogLevel::Info => Self::Info,
            LogLevel::Warn => Self::Warn,
            LogLevel::Error => Self::Error,
        };
        self != Self::Off && level >= self
    }

    /// Envoy's name of the level (`trace`, `debug`, `info`, `warning`, `error`, `critical`, `off`).
    pub fn envoy_name(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warning",
            Self::Error => "error",
            Self::Critical => "critical",
            Self::Off => "off",
        }
    }
}

impl Property {
    pub(super) fn new(index: usize, path: Vec<String>) -> Self {
        Self { index, path }
    }

    /// The attribute's number in the plan, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The attribute's path segments: `["source", "address"]`.
    pub fn path(&self) -> &[String] {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_bytes_are_text_borrowed_when_utf8_and_replaced_when_not() {
        assert!(matches!(text_ref("traceparent: ü".as_bytes()), Cow::Borrowed("traceparent: ü")));
        assert_eq!(text_ref(b"a\xffb"), "a\u{fffd}b");
        assert_eq!(text(b"a\xffb".to_vec()), "a\u{fffd}b");
        assert_eq!(text(b"plain".to_vec()), "plain");
    }
}
