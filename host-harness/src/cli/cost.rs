//! `--format cost`: what the module costs per exchange, counted instead of timed, so the numbers
//! are the same on every machine and run: guest Wasm instructions (wasmtime fuel, about one unit
//! per instruction) and hostcalls by name. In a proxy each hostcall crosses the VM boundary and
//! is usually the larger cost (benches/RESULTS.md measures them in Envoy), so they are the first
//! thing to cut.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The counters at one moment of the run.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub fuel: u64,
}

/// Renders the cost of `exchanges` exchanges: the fuel burnt between `before` and `after` and
/// the hostcalls made meanwhile (`by_name`, counted as the replay ran), divided by the number of
/// exchanges.
pub fn render(
    module: &str,
    module_bytes: usize,
    exchanges: usize,
    before: &Snapshot,
    after: &Snapshot,
    by_name: &BTreeMap<String, u64>,
) -> String {
    let n = exchanges.max(1) as f64;
    let total: u64 = by_name.values().sum();
    let mut rows: Vec<(&str, u64)> = by_name.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut out = String::new();
    let _ = writeln!(out, "{module} ({module_bytes} bytes): cost per exchange over {exchanges} exchanges");
    let _ = writeln!(out, "(start-up and configuration excluded; ticks, exports and the final flush included)");
    let _ = writeln!(out);
    let _ = writeln!(out, "  guest Wasm instructions  {:>12.0}", (after.fuel - before.fuel) as f64 / n);
    let _ = writeln!(out, "  hostcalls                {:>12.2}", total as f64 / n);
    for (name, count) in rows {
        let _ = writeln!(out, "    {name:<38} {:>8.2}", count as f64 / n);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divides_by_exchanges_and_counts_only_the_run() {
        let calls: BTreeMap<String, u64> =
            [("proxy_get_property".to_owned(), 3), ("proxy_log".to_owned(), 1)].into_iter().collect();
        let before = Snapshot { fuel: 1_000 };
        let after = Snapshot { fuel: 5_000 };
        let text = render("m.wasm", 10, 2, &before, &after, &calls);
        let row = |words: &[&str]| text.lines().any(|l| l.split_whitespace().eq(words.iter().copied()));
        assert!(text.contains("over 2 exchanges"), "{text}");
        assert!(row(&["guest", "Wasm", "instructions", "2000"]), "{text}");
        assert!(row(&["hostcalls", "2.00"]), "{text}");
        assert!(row(&["proxy_get_property", "1.50"]), "{text}");
        assert!(row(&["proxy_log", "0.50"]), "{text}");
    }
}
