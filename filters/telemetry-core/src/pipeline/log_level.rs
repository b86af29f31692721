//! Whether the proxy writes the access-log lines it is handed: checked once, at configure time,
//! against the proxy's log level.
//!
//! Istio's proxies log at `warning` by default and meshlens writes access lines at `info`
//! (`access_log.level`), so in a default mesh Envoy drops every line the `proxy_log` sink writes.
//! The module cannot change the level; it says so, once, at warning, with the fix.

use super::host::{LogLevel, LogSink, ProxyLogLevel, SharedData};
use crate::access_log::build::AccessLogConfig;

/// The shared-data key holding the last warning written, so that it is written once per proxy.
pub const WARNED_KEY: &str = "meshlens.log_level_warning";

/// Logs one warning when the access log writes to the proxy's log below the proxy's level. A
/// host that cannot tell its level (proxy-wasm ABI 0.2.0) gets no warning.
///
/// Every VM of the plugin is configured (Envoy: two on the main thread, one per worker), but the
/// proxy should say it once: the first VM to warn keeps the line in shared data, and a VM that
/// finds the same line there stays quiet. Another line (another level, another configuration)
/// is written again.
pub(super) fn check_access_lines(access_log: Option<&AccessLogConfig>, host: &(impl LogSink + SharedData)) {
    let Some(cfg) = access_log.filter(|a| a.proxy_log) else { return };
    let Ok(proxy) = host.log_level() else { return };
    let Some(line) = invisible_lines(cfg.proxy_log_level, cfg.otlp, proxy) else { return };
    if host.shared_data(WARNED_KEY).is_some_and(|(seen, _)| seen == line.as_bytes()) {
        return;
    }
    // Best effort: a host without shared data still warns, once per VM.
    let _ = host.set_shared_data(WARNED_KEY, line.as_bytes(), None);
    host.log(LogLevel::Warn, &line);
}

/// The warning for access lines of `lines` level under proxy level `proxy`; `None` when the
/// proxy writes them. `otlp`: the lines are also exported as OTLP logs.
pub fn invisible_lines(lines: LogLevel, otlp: bool, proxy: ProxyLogLevel) -> Option<String> {
    if proxy.writes(lines) {
        return None;
    }
    let level = lines.envoy_name();
    let otlp = if otlp {
        String::from("; the `otlp` sink still exports them")
    } else {
        String::from(", or add the `otlp` sink to `access_log.sinks` (OTLP logs do not depend on the log level)")
    };
    Some(format!(
        "meshlens: access-log lines go to the proxy's log at {level}, but its wasm log level is {}, so it \
         writes none of them: start Envoy with `--component-log-level wasm:{level}` (Istio: pod annotation \
         `sidecar.istio.io/componentLogLevel: \"wasm:{level}\"`){otlp}",
        proxy.envoy_name(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_writes_lines_at_or_above_its_level() {
        use LogLevel as L;
        use ProxyLogLevel as P;
        let cases = [
            (P::Trace, L::Debug, true),
            (P::Debug, L::Debug, true),
            (P::Info, L::Debug, false),
            (P::Info, L::Info, true),
            (P::Warn, L::Info, false),
            (P::Warn, L::Warn, true),
            (P::Error, L::Warn, false),
            (P::Error, L::Error, true),
            (P::Critical, L::Error, false),
            (P::Off, L::Error, false),
        ];
        for (proxy, line, written) in cases {
            assert_eq!(proxy.writes(line), written, "{proxy:?} writes {line:?}");
            assert_eq!(invisible_lines(line, false, proxy).is_none(), written, "{proxy:?} {line:?}");
        }
    }

    #[test]
    fn the_warning_names_both_levels_and_every_fix() {
        let line = invisible_lines(LogLevel::Info, false, ProxyLogLevel::Warn).unwrap();
        assert!(line.contains("at info, but its wasm log level is warning"), "{line}");
        assert!(line.contains("--component-log-level wasm:info"), "{line}");
        assert!(line.contains("sidecar.istio.io/componentLogLevel: \"wasm:info\""), "{line}");
        assert!(line.contains("add the `otlp` sink"), "{line}");
        let line = invisible_lines(LogLevel::Debug, true, ProxyLogLevel::Info).unwrap();
        assert!(line.contains("wasm:debug"), "the fix is the lines' own level: {line}");
        assert!(line.contains("the `otlp` sink still exports them"), "{line}");
    }
}
