//! Loopback ports for servers a test configures by number (Envoy listeners, admin endpoints,
//! Prometheus, a WebDriver).
//!
//! Binding port 0 and releasing it hands out a port from the kernel's ephemeral range
//! (`net.ipv4.ip_local_port_range`, 32768-60999 by default), the same range every outgoing
//! connection takes its source port from. Between the release and the server's bind, a client
//! connection of a parallel test can take it, and the server fails with "Address already in use".
//! [`free_port`] hands out ports below that range instead, each at most once per process, starting
//! at an offset taken from the process id so that two test processes rarely probe the same ports.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// Lowest port handed out: above the registered ports most local services listen on.
const LOWEST: u16 = 10_000;
/// Fewest ports the range below the ephemeral one must have to be used.
const ENOUGH: u16 = 1_000;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A port on 127.0.0.1 that was free a moment ago, outside the kernel's ephemeral range, and not
/// handed out before by this process. Fails when no port in the range can be bound.
pub fn free_port() -> Result<u16, String> {
    let (low, high) = range();
    let span = u32::from(high - low) + 1;
    // Knuth's multiplicative hash spreads consecutive process ids over the range.
    let offset = std::process::id().wrapping_mul(2_654_435_761) % span;
    (0..span)
        .map(|_| low + ((offset + NEXT.fetch_add(1, Ordering::Relaxed)) % span) as u16)
        .find(|&port| TcpListener::bind(("127.0.0.1", port)).is_ok())
        .ok_or_else(|| format!("no free port on 127.0.0.1 in {low}-{high}"))
}

/// The ports [`free_port`] chooses from: below the ephemeral range when that leaves enough,
/// else above it.
fn range() -> (u16, u16) {
    let (eph_low, eph_high) = ephemeral_range().unwrap_or((32_768, 60_999));
    if eph_low >= LOWEST + ENOUGH {
        (LOWEST, eph_low - 1)
    } else if eph_high <= u16::MAX - ENOUGH {
        (eph_high + 1, u16::MAX)
    } else {
        (LOWEST, u16::MAX)
    }
}

/// The kernel's ephemeral port range, where Linux says it.
fn ephemeral_range() -> Option<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = text.split_whitespace().map(|n| n.parse::<u16>().ok());
    Some((it.next()??, it.next()??))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_outside_the_ephemeral_range() {
        let ports: Vec<u16> = (0..200).map(|_| free_port().unwrap()).collect();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len(), "a port was handed out twice");
        if let Some((low, high)) = ephemeral_range() {
            assert!(ports.iter().all(|p| !(low..=high).contains(p)), "a port in the ephemeral range {low}-{high}");
        }
        // Each one can be bound now.
        for p in ports {
            TcpListener::bind(("127.0.0.1", p)).expect("bind a handed-out port");
        }
    }
}
