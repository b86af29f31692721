//! The plugin configurations the shipped Envoy configs carry, and the conformance scenarios.

use serde_json::Value;

use crate::paths;

/// The JSON after the `# meshlens-config:` marker of a shipped Envoy config's text.
pub fn config_of(yaml: &str) -> String {
    let mut lines = yaml.lines().skip_while(|l| !l.trim_start().starts_with("# meshlens-config:")).skip(1);
    let value = lines.next().expect("a `# meshlens-config:` marker followed by a block scalar");
    let indent = value.len() - value.trim_start().len();
    lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
        .map(|l| format!("{}\n", l.trim()))
        .collect()
}

/// What answers a conformance scenario's request behind the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    /// The app answers 200 with `ok`.
    App,
    /// No route matches: Envoy's own 404.
    NoRoute,
    /// The cluster has no live host: Envoy's own 503.
    Down,
}

/// An Envoy attribute's value at stream end, as a scenario gives it to a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribute {
    Text(&'static str),
    Int(i64),
    /// Nanoseconds.
    Duration(i64),
    /// Envoy has none (`NotFound`).
    Absent,
}

/// `response.code_details` of a request to a closed port, as Envoy 1.40 writes it.
pub const CONNECT_FAILURE_DETAILS: &str =
    "upstream_reset_before_response_started{remote_connection_failure|delayed_connect_error:_Connection_refused}";

impl Upstream {
    /// The upstream attributes Envoy 1.40 shows at stream end for this kind of reply, which the
    /// CLIENT span reads (measured in `host-harness/src/properties/tests.rs`): the app's cluster
    /// and host and a backend latency of `latency_nanos`; no cluster for no route (flag NR); the
    /// `down` cluster's closed port, no backend latency, flag UF and Envoy's details for it.
    pub fn envoy_attributes(self, latency_nanos: i64) -> [(&'static [&'static str], Attribute); 6] {
        use Attribute::*;
        let (cluster, address, pool, latency, flags, details) = match self {
            Self::App => (
                Text("app"),
                Text("127.0.0.1:8080"),
                Duration(0),
                Duration(latency_nanos),
                Int(0),
                Text("via_upstream"),
            ),
            Self::NoRoute => (Absent, Absent, Absent, Absent, Int(0x100), Text("route_not_found")),
            Self::Down => {
                (Text("down"), Text("127.0.0.1:9"), Duration(0), Absent, Int(0x20), Text(CONNECT_FAILURE_DETAILS))
            }
        };
        [
            (&["xds", "cluster_name"], cluster),
            (&["upstream", "address"], address),
            (&["upstream", "cx_pool_ready_duration"], pool),
            (&["response", "backend_latency"], latency),
            (&["response", "flags"], flags),
            (&["response", "code_details"], details),
        ]
    }

    /// Gives one harness stream [`Upstream::envoy_attributes`].
    pub fn set_in_harness(self, host: &mut host_harness::Host, id: host_harness::StreamId, latency_nanos: i64) {
        use host_harness::properties::Value;
        for (path, value) in self.envoy_attributes(latency_nanos) {
            let value = match value {
                Attribute::Text(s) => Value::String(s.to_owned()),
                Attribute::Int(n) => Value::Int(n),
                Attribute::Duration(n) => Value::Duration(n),
                Attribute::Absent => {
                    host.unset_stream_property(id, path).expect("a live stream");
                    continue;
                }
            };
            host.set_stream_property(id, path, value).expect("a live stream");
        }
    }

    /// Gives the recording host [`Upstream::envoy_attributes`] (for its next exchange).
    pub fn set_in_fake(self, host: &telemetry_core::pipeline::fake::FakeHost, latency_nanos: i64) {
        for (path, value) in self.envoy_attributes(latency_nanos) {
            let path = path.join(".");
            match value {
                Attribute::Text(s) => host.set_property(&path, s),
                Attribute::Int(n) | Attribute::Duration(n) => host.set_property_u64(&path, n.cast_unsigned()),
                Attribute::Absent => host.remove_property(&path),
            }
        }
    }
}

/// One scenario of `tests/data/conformance-scenarios.json`, the table the harness-vs-Envoy
/// conformance suite, the Wasm-vs-core parity test and the core's native lifecycle tests share.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub upstream: Upstream,
}

impl Scenario {
    /// The extra request headers, borrowed.
    pub fn headers(&self) -> Vec<(&str, &str)> {
        self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }
}

/// The conformance scenarios, in table order.
pub fn scenarios() -> Vec<Scenario> {
    let path = paths::repo_root().join("tests/data/conformance-scenarios.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    value
        .as_array()
        .expect("an array of scenarios")
        .iter()
        .map(|s| Scenario {
            name: s["name"].as_str().expect("name").to_owned(),
            path: s["path"].as_str().expect("path").to_owned(),
            headers: s["headers"]
                .as_array()
                .expect("headers")
                .iter()
                .map(|p| (p[0].as_str().expect("name").to_owned(), p[1].as_str().expect("value").to_owned()))
                .collect(),
            upstream: match s["upstream"].as_str() {
                Some("app") => Upstream::App,
                Some("no_route") => Upstream::NoRoute,
                Some("down") => Upstream::Down,
                other => panic!("scenario {}: unknown upstream {other:?}", s["name"]),
            },
        })
        .collect()
}
