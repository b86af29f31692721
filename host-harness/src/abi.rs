//! The proxy-wasm ABI as the host sees it (spec `abi-versions/v0.2.1/README.md`): the enums and
//! encodings shared with guests come from `proxy-wasm-abi`; what only a host needs (how it reads
//! a callback's returned action, which ABI version a module declares) is here.

use std::fmt;

pub use proxy_wasm_abi::{BufferType, LogLevel, MapType, MetricType, Status, StreamType};

/// `proxy_action_t` as returned by header/body/trailer callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Continue,
    Pause,
    /// A value outside the spec's enum (Envoy also accepts C++ SDK values 2..4); kept as sent.
    Other(u32),
}

/// The ABI version a module declares through its `proxy_abi_version_*` export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AbiVersion {
    V0_2_0,
    V0_2_1,
}

impl Action {
    /// The action for a raw return value.
    pub fn from_raw(raw: u32) -> Self {
        match raw {
            0 => Self::Continue,
            1 => Self::Pause,
            other => Self::Other(other),
        }
    }
}

impl fmt::Display for AbiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V0_2_0 => "0.2.0",
            Self::V0_2_1 => "0.2.1",
        })
    }
}
