//! A measuring instrument, not a filter: repeats one proxy-wasm hostcall a configured number of
//! times per request, so that `cost(N) - cost(0)` over N is what one call costs in a real Envoy.
//! `cargo xtask bench-envoy --hostcalls` runs it; the table is in `benches/RESULTS.md`.
//!
//! The plugin configuration is `<op> <count>`, for example `property source.address 20`:
//! - `none` does nothing (the baseline: the cost of a module that only has callbacks);
//! - `property <dotted.path>` reads an Envoy attribute in `on_log`;
//! - `request_header <name>` reads one request header in `on_http_request_headers`;
//! - `request_pairs` reads the whole request header map in `on_http_request_headers`;
//! - `set_response_header` replaces `x-probe` in `on_http_response_headers`;
//! - `log` writes a 200-byte line at info level with `proxy_log` in `on_log`;
//! - `time` reads the wall clock in `on_log`;
//! - `histogram <name> <value>` defines an Envoy histogram metric `<name>` at configure time
//!   (`proxy_define_metric` with type 2) and records `<value>` (an unsigned integer, in the
//!   metric's unit) into it with `proxy_record_metric` in `on_log`: Envoy's own histogram type, a
//!   way to export latency histograms that Prometheus types `histogram` (issue #14, option (a));
//! - `mimic` makes the hostcalls meshlens makes for an unsampled request with every section on,
//!   in the same callbacks, and nothing else: the request header map, the clock, `traceparent`;
//!   `:status`, `x-trace-id`, `traceresponse`; the clock, `source.address`, `xds.cluster_name`
//!   and a 420-byte log line (its count is ignored);
//! - `essential` makes only the hostcalls that any filter delivering meshlens's telemetry needs
//!   per request: the request header map (incoming context, method, path), the clock, writing
//!   `traceparent`; `:status`, writing `x-trace-id`; the clock and a 420-byte log line. The same
//!   as `mimic` without `traceresponse`, `source.address` and `xds.cluster_name`: the floor under
//!   every optimisation of meshlens's own code;
//! - `spin` runs a loop of plain arithmetic in `on_log`, no hostcall: what guest instructions cost
//!   (`meshlens run --format cost` counts the loop's instructions per iteration).

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MapType, MetricType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| Box::new(Root { probe: Rc::new(Probe::None), metric: None }));
}}

/// The hostcall to repeat, and how many times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    None,
    Property(Vec<String>, u32),
    RequestHeader(String, u32),
    RequestPairs(u32),
    SetResponseHeader(u32),
    Log(u32),
    Time(u32),
    /// The metric's name, the value to record, and how many times.
    Histogram(String, u64, u32),
    Spin(u32),
    Mimic,
    Essential,
}

impl Probe {
    /// Parses `<op> [argument] <count>`, bare or as a JSON string (`"spin 1000"`, which is how
    /// `meshlens run --config` passes it); `None` when the text is not a probe.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let text = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
        let words: Vec<&str> = text.split_whitespace().collect();
        let count = |w: Option<&&str>| w.and_then(|w| w.parse::<u32>().ok());
        Some(match words.as_slice() {
            ["none"] | [] => Self::None,
            ["property", path, n] => Self::Property(path.split('.').map(String::from).collect(), count(Some(n))?),
            ["request_header", name, n] => Self::RequestHeader((*name).to_string(), count(Some(n))?),
            ["request_pairs", n] => Self::RequestPairs(count(Some(n))?),
            ["set_response_header", n] => Self::SetResponseHeader(count(Some(n))?),
            ["log", n] => Self::Log(count(Some(n))?),
            ["time", n] => Self::Time(count(Some(n))?),
            ["histogram", name, value, n] => {
                Self::Histogram((*name).to_string(), value.parse::<u64>().ok()?, count(Some(n))?)
            }
            ["spin", n] => Self::Spin(count(Some(n))?),
            ["mimic"] => Self::Mimic,
            ["essential"] => Self::Essential,
            _ => return None,
        })
    }
}

/// The root context: reads the probe from the configuration.
#[derive(Debug)]
pub struct Root {
    probe: Rc<Probe>,
    /// The histogram's metric id in this VM, once defined (the `histogram` probe).
    metric: Option<u32>,
}

/// One HTTP stream running the probe.
#[derive(Debug)]
pub struct Stream {
    probe: Rc<Probe>,
    metric: Option<u32>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = hostcalls::get_buffer(proxy_wasm::types::BufferType::PluginConfiguration, 0, usize::MAX);
        let text = bytes.ok().flatten().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        match Probe::parse(&text) {
            Some(probe) => {
                if let Probe::Histogram(name, _, _) = &probe {
                    match hostcalls::define_metric(MetricType::Histogram, name) {
                        Ok(id) => self.metric = Some(id),
                        Err(status) => {
                            let _ = hostcalls::log(
                                LogLevel::Error,
                                &format!("hostcall-probe: cannot define histogram {name:?}: {status:?}"),
                            );
                            return false;
                        }
                    }
                }
                self.probe = Rc::new(probe);
                true
            }
            None => {
                let _ = hostcalls::log(LogLevel::Error, &format!("hostcall-probe: cannot parse {text:?}"));
                false
            }
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream { probe: Rc::clone(&self.probe), metric: self.metric }))
    }
}

impl Context for Stream {}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        match &*self.probe {
            Probe::RequestHeader(name, n) => {
                for _ in 0..*n {
                    let _ = std::hint::black_box(hostcalls::get_map_value(MapType::HttpRequestHeaders, name));
                }
            }
            Probe::RequestPairs(n) => {
                for _ in 0..*n {
                    let _ = std::hint::black_box(hostcalls::get_map(MapType::HttpRequestHeaders));
                }
            }
            Probe::Mimic | Probe::Essential => {
                let _ = std::hint::black_box(hostcalls::get_map_bytes(MapType::HttpRequestHeaders));
                let _ = std::hint::black_box(hostcalls::get_current_time());
                let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
                let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, "traceparent", Some(value));
            }
            _ => {}
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if let Probe::SetResponseHeader(n) = &*self.probe {
            for i in 0..*n {
                let _ = hostcalls::set_map_value(MapType::HttpResponseHeaders, "x-probe", Some(&i.to_string()));
            }
        }
        if let Probe::Mimic | Probe::Essential = &*self.probe {
            let _ = std::hint::black_box(hostcalls::get_map_value(MapType::HttpResponseHeaders, ":status"));
            let id = "4bf92f3577b34da6a3ce929d0e0e4736";
            let _ = hostcalls::set_map_value(MapType::HttpResponseHeaders, "x-trace-id", Some(id));
        }
        if let Probe::Mimic = &*self.probe {
            let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
            let _ = hostcalls::set_map_value(MapType::HttpResponseHeaders, "traceresponse", Some(value));
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        match &*self.probe {
            Probe::Property(path, n) => {
                let path: Vec<&str> = path.iter().map(String::as_str).collect();
                for _ in 0..*n {
                    let _ = std::hint::black_box(hostcalls::get_property(path.clone()));
                }
            }
            Probe::Log(n) => {
                let line = "x".repeat(200);
                for _ in 0..*n {
                    let _ = hostcalls::log(LogLevel::Info, &line);
                }
            }
            Probe::Time(n) => {
                for _ in 0..*n {
                    let _ = std::hint::black_box(hostcalls::get_current_time());
                }
            }
            Probe::Histogram(_, value, n) => {
                if let Some(id) = self.metric {
                    for _ in 0..*n {
                        let _ = hostcalls::record_metric(id, *value);
                    }
                }
            }
            Probe::Mimic => {
                let _ = std::hint::black_box(hostcalls::get_current_time());
                let _ = std::hint::black_box(hostcalls::get_property(vec!["source", "address"]));
                let _ = std::hint::black_box(hostcalls::get_property(vec!["xds", "cluster_name"]));
                let _ = hostcalls::log(LogLevel::Info, &"x".repeat(420));
            }
            Probe::Essential => {
                let _ = std::hint::black_box(hostcalls::get_current_time());
                let _ = hostcalls::log(LogLevel::Info, &"x".repeat(420));
            }
            Probe::Spin(n) => {
                // An xorshift step per iteration: data-dependent, so the loop cannot be folded.
                let mut x = std::hint::black_box(0x9e37_79b9_7f4a_7c15_u64);
                for _ in 0..*n {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                }
                std::hint::black_box(x);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Probe;

    #[test]
    fn parses_every_probe_and_refuses_the_rest() {
        assert_eq!(Probe::parse("none"), Some(Probe::None));
        assert_eq!(
            Probe::parse("property source.address 20"),
            Some(Probe::Property(vec!["source".into(), "address".into()], 20))
        );
        assert_eq!(Probe::parse("request_pairs 5"), Some(Probe::RequestPairs(5)));
        assert_eq!(Probe::parse("log 3"), Some(Probe::Log(3)));
        assert_eq!(Probe::parse("spin 1000"), Some(Probe::Spin(1000)));
        assert_eq!(
            Probe::parse("histogram meshlens_probe_duration_ms 150 20"),
            Some(Probe::Histogram("meshlens_probe_duration_ms".into(), 150, 20))
        );
        assert_eq!(
            Probe::parse("histogram meshlens_probe_duration_seconds;method=GET 0 1"),
            Some(Probe::Histogram("meshlens_probe_duration_seconds;method=GET".into(), 0, 1))
        );
        assert_eq!(Probe::parse("mimic"), Some(Probe::Mimic));
        assert_eq!(Probe::parse("essential"), Some(Probe::Essential));
        assert_eq!(Probe::parse("\"spin 1000\"\n"), Some(Probe::Spin(1000)));
        assert_eq!(Probe::parse("property source.address"), None);
        assert_eq!(Probe::parse("time many"), None);
        assert_eq!(Probe::parse("histogram meshlens_probe_duration_seconds 20"), None);
        assert_eq!(Probe::parse("histogram meshlens_probe_duration_seconds 0.15 20"), None);
        assert_eq!(Probe::parse("bogus 1"), None);
    }
}
