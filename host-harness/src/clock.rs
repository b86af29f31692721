//! The virtual clock: wall time and monotonic time that move only when the scenario says so.

/// Nanoseconds since the Unix epoch of 2026-01-01T00:00:00Z, the default start of every host.
pub const DEFAULT_START_UNIX_NANOS: u64 = 1_767_225_600_000_000_000;

/// Wall and monotonic time, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Clock {
    pub realtime: u64,
    pub monotonic: u64,
}

impl Clock {
    pub fn starting_at(unix_nanos: u64) -> Self {
        Self { realtime: unix_nanos, monotonic: 1_000_000_000 }
    }

    pub fn advance(&mut self, nanos: u64) {
        self.realtime = self.realtime.saturating_add(nanos);
        self.monotonic = self.monotonic.saturating_add(nanos);
    }
}
