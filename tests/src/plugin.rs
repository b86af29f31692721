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
