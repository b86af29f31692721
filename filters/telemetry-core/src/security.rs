//! Security events: access failures (401, 403, 429 by default) counted by kind, and bursts of
//! failures from one client turned into one event each.
//!
//! A burst is `threshold` failures from one client address within `window` (a fixed window that
//! starts at the client's first failure). Its event is emitted once, when the threshold is
//! reached; the window then runs out before the client can make another.
//!
//! State is a fixed-size table of clients per proxy worker: past `max_clients`, the client seen
//! least recently is forgotten. Workers do not share it: with N workers, a client spread evenly
//! over them needs up to N times the threshold before one worker sees a burst. Envoy keeps a
//! client's keep-alive connection on one worker, so a single abusive connection is counted
//! exactly; sharing the table through proxy-wasm shared data would make every failure a
//! cross-worker compare-and-swap, and the ABI (0.2.1) cannot delete shared keys, so it could not
//! stay bounded.

use std::borrow::Cow;

use crate::access_log::{FieldValue, LogRecord, Severity};
use crate::names::log;

/// The validated `security` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityConfig {
    pub statuses: Vec<u16>,
    pub threshold: u32,
    pub window_nanos: u64,
    pub max_clients: usize,
}

/// Per-worker burst detection over a bounded client table.
#[derive(Debug, Clone)]
pub struct BurstDetector {
    config: SecurityConfig,
    clients: Vec<Client>,
}

/// One burst.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEvent {
    pub event_type: &'static str,
    pub client_address: String,
    pub count: u32,
    pub window_s: u64,
}

#[derive(Debug, Clone)]
struct Client {
    address: String,
    window_start: u64,
    last_seen: u64,
    count: u32,
    reported: bool,
}

/// The event type of a burst of access failures.
pub const BURST: &str = "access_failure_burst";

/// The counter label of a failure status.
pub fn failure_kind(status: u16) -> &'static str {
    match status {
        401 => "unauthorized",
        403 => "forbidden",
        429 => "rate_limited",
        _ => "other",
    }
}

impl BurstDetector {
    /// An empty table.
    pub fn new(config: SecurityConfig) -> Self {
        Self { clients: Vec::with_capacity(config.max_clients.min(64)), config }
    }

    /// Whether `status` is an access failure.
    pub fn is_failure(&self, status: u16) -> bool {
        self.config.statuses.contains(&status)
    }

    /// Counts a failure from `address`; returns the event when it completes a burst.
    pub fn observe(&mut self, address: &str, now_nanos: u64) -> Option<SecurityEvent> {
        let window = self.config.window_nanos;
        let index = match self.clients.iter().position(|c| c.address == address) {
            Some(i) => i,
            None => {
                let fresh = Client {
                    address: address.to_owned(),
                    window_start: now_nanos,
                    last_seen: now_nanos,
                    count: 0,
                    reported: false,
                };
                if self.clients.len() < self.config.max_clients {
                    self.clients.push(fresh);
                    self.clients.len() - 1
                } else {
                    let oldest = self.clients.iter().enumerate().min_by_key(|(_, c)| c.last_seen).map_or(0, |(i, _)| i);
                    if let Some(slot) = self.clients.get_mut(oldest) {
                        *slot = fresh;
                    }
                    oldest
                }
            }
        };
        let client = self.clients.get_mut(index)?;
        if now_nanos.saturating_sub(client.window_start) > window {
            client.window_start = now_nanos;
            client.count = 0;
            client.reported = false;
        }
        client.last_seen = now_nanos;
        client.count = client.count.saturating_add(1);
        if client.count >= self.config.threshold && !client.reported {
            client.reported = true;
            return Some(SecurityEvent {
                event_type: BURST,
                client_address: client.address.clone(),
                count: client.count,
                window_s: window / 1_000_000_000,
            });
        }
        None
    }

    /// Clients tracked now (never more than `max_clients`).
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether no client is tracked.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

impl SecurityEvent {
    /// The event's log record (a warning, with the fields Promtail labels on).
    pub fn record(&self, now_unix_nanos: u64, service: &str) -> LogRecord {
        LogRecord {
            time_unix_nanos: now_unix_nanos,
            severity: Severity::Warn,
            message: format!("security event: {} from {}", self.event_type, self.client_address),
            trace_id: None,
            span_id: None,
            trace_flags: 0,
            fields: vec![
                (Cow::Borrowed(log::SERVICE), FieldValue::Str(service.to_owned())),
                (Cow::Borrowed(log::EVENT_TYPE), FieldValue::Str(self.event_type.to_owned())),
                (Cow::Borrowed(log::CLIENT_ADDRESS), FieldValue::Str(self.client_address.clone())),
                (Cow::Borrowed(log::COUNT), FieldValue::Int(i64::from(self.count))),
                (Cow::Borrowed(log::WINDOW_S), FieldValue::Int(i64::try_from(self.window_s).unwrap_or(i64::MAX))),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detector(threshold: u32, max_clients: usize) -> BurstDetector {
        BurstDetector::new(SecurityConfig {
            statuses: vec![401, 403, 429],
            threshold,
            window_nanos: 60_000_000_000,
            max_clients,
        })
    }

    #[test]
    fn one_event_per_burst_not_per_request() {
        let mut d = detector(5, 16);
        let events: Vec<_> = (0..20).filter_map(|i| d.observe("10.0.0.7", i * 1_000_000_000)).collect();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].count, 5);
        assert_eq!(events[0].window_s, 60);
        assert!(d.observe("10.0.0.7", 70_000_000_000).is_none(), "a new window starts counting again");
    }

    #[test]
    fn slow_failures_never_make_a_burst() {
        let mut d = detector(3, 16);
        let events = (0..10).filter_map(|i| d.observe("10.0.0.8", i * 61_000_000_000)).count();
        assert_eq!(events, 0);
    }

    #[test]
    fn the_table_is_bounded_and_forgets_the_least_recent_client() {
        let mut d = detector(2, 4);
        for i in 0..1_000u64 {
            d.observe(&format!("10.0.{}.{}", i / 256, i % 256), i);
        }
        assert_eq!(d.len(), 4);
        assert!(d.observe("10.0.3.231", 1_001).is_some(), "a recent client is still tracked");
    }

    #[test]
    fn kinds_and_the_event_record() {
        assert_eq!(
            (failure_kind(401), failure_kind(403), failure_kind(429)),
            ("unauthorized", "forbidden", "rate_limited")
        );
        let e = SecurityEvent { event_type: BURST, client_address: "10.0.0.7:5000".into(), count: 10, window_s: 60 };
        let r = e.record(0, "edge");
        assert_eq!(r.severity, Severity::Warn);
        assert_eq!(r.field("event_type"), Some(&FieldValue::Str(BURST.into())));
        assert_eq!(r.field("count"), Some(&FieldValue::Int(10)));
    }
}
