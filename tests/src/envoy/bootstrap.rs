//! Envoy bootstraps for tests that run a Wasm module, built from typed parts: the admin port, one
//! listener (an HTTP connection manager with the module among its HTTP filters, the router last),
//! static clusters on loopback, Wasm services, listeners from a watched file.
//!
//! Every part renders as JSON, which Envoy reads as YAML. A test starts Envoy with
//! [`Envoy::start_text`](super::Envoy::start_text) on [`Bootstrap::yaml`].
//!
//! ```
//! use meshlens_tests::envoy::bootstrap::{Bootstrap, Cluster, HttpFilter, Listener, Wasm};
//!
//! let bootstrap = Bootstrap {
//!     admin: 9901,
//!     listener: Some(Listener::to_app(10000, vec![HttpFilter::Wasm(Wasm::named("m.wasm", "meshlens"))])),
//!     clusters: vec![Cluster::http1("app", 8080)],
//!     ..Bootstrap::default()
//! };
//! assert!(bootstrap.yaml().contains("envoy.filters.http.wasm"));
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

/// An Envoy bootstrap: what [`Bootstrap::yaml`] renders.
#[derive(Debug, Clone, Default)]
pub struct Bootstrap {
    /// The admin endpoint's port on 127.0.0.1.
    pub admin: u16,
    /// The static listener; `None` when the listeners come from [`Bootstrap::lds`] alone.
    pub listener: Option<Listener>,
    /// A file Envoy watches for listeners (`dynamic_resources.lds_config.path_config_source`),
    /// written with [`Listener::lds`].
    pub lds: Option<PathBuf>,
    /// The static clusters: the routes' upstreams, the module's callout and collector clusters.
    pub clusters: Vec<Cluster>,
    /// Modules run as singleton Wasm services (`bootstrap_extensions`), not as HTTP filters.
    pub services: Vec<Wasm>,
}

/// A listener on 127.0.0.1: an HTTP connection manager (stat prefix `edge`) routing to clusters.
#[derive(Debug, Clone)]
pub struct Listener {
    pub port: u16,
    /// Path prefixes and their clusters, first match first.
    pub routes: Vec<Route>,
    /// The HTTP filters in order; the router follows them.
    pub filters: Vec<HttpFilter>,
    /// `use_remote_address: true` (no trusted hops): Envoy sets `x-forwarded-for`,
    /// `x-forwarded-proto` and `x-envoy-external-address` from the connection.
    pub use_remote_address: bool,
    /// A file Envoy writes one line per request to, in its default format.
    pub access_log: Option<PathBuf>,
}

/// Requests whose path starts with `prefix` go to `cluster`.
#[derive(Debug, Clone)]
pub struct Route {
    pub prefix: String,
    pub cluster: String,
}

/// One HTTP filter of the listener.
#[derive(Debug, Clone)]
pub enum HttpFilter {
    Wasm(Wasm),
    /// Any other filter: its name and its `typed_config` (with its `@type`).
    Other {
        name: String,
        typed_config: Value,
    },
}

/// A Wasm plugin (V8 runtime, module from a local file): an HTTP filter or a service.
#[derive(Debug, Clone)]
pub struct Wasm {
    pub module: PathBuf,
    /// The plugin name (Envoy's stats and log lines use it).
    pub name: Option<String>,
    /// The root context the module is asked to create.
    pub root_id: Option<String>,
    /// Plugins with the same VM id and module share a VM.
    pub vm_id: Option<String>,
    /// The plugin configuration bytes (a `StringValue`: JSON or plain text).
    pub configuration: Option<String>,
    /// Envoy's default (FAIL_CLOSED) when `None`.
    pub failure_policy: Option<FailurePolicy>,
    /// The VM's environment (`vm_config.environment_variables.key_values`).
    pub env: Vec<(String, String)>,
}

/// What Envoy does with requests once the plugin's VM has failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePolicy {
    FailOpen,
    FailClosed,
    /// Reloads the VM, after `backoff` (Envoy's default, 1 s, when `None`).
    FailReload {
        backoff: Option<Duration>,
    },
}

/// A static cluster with at most one endpoint on 127.0.0.1.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub name: String,
    /// The endpoint's port; `None`: a cluster with no endpoint.
    pub port: Option<u16>,
    /// The upstream speaks HTTP/2 (a gRPC server); else HTTP/1.1.
    pub http2: bool,
}

impl Bootstrap {
    /// The bootstrap as Envoy reads it (JSON, which is YAML).
    pub fn yaml(&self) -> String {
        let mut bootstrap = json!({ "admin": { "address": address(self.admin) }, "static_resources": {} });
        if let Some(listener) = &self.listener {
            bootstrap["static_resources"]["listeners"] = json!([listener.json()]);
        }
        bootstrap["static_resources"]["clusters"] = self.clusters.iter().map(Cluster::json).collect();
        if let Some(lds) = &self.lds {
            let dir = lds.parent().expect("the LDS file's directory");
            bootstrap["node"] = json!({ "id": "meshlens-lds", "cluster": "meshlens-lds" });
            bootstrap["dynamic_resources"] = json!({ "lds_config": {
                "resource_api_version": "V3",
                "path_config_source": { "path": lds, "watched_directory": { "path": dir } },
            } });
        }
        if !self.services.is_empty() {
            bootstrap["bootstrap_extensions"] = self
                .services
                .iter()
                .map(|s| {
                    json!({ "name": "envoy.bootstrap.wasm", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.wasm.v3.WasmService",
                        "singleton": true,
                        "config": s.json(),
                    } })
                })
                .collect();
        }
        serde_json::to_string_pretty(&bootstrap).expect("a bootstrap renders")
    }
}

impl Listener {
    /// A listener on `port` routing every path to cluster `app`, through `filters`.
    pub fn to_app(port: u16, filters: Vec<HttpFilter>) -> Self {
        let routes = vec![Route { prefix: String::from("/"), cluster: String::from("app") }];
        Self { port, routes, filters, use_remote_address: false, access_log: None }
    }

    /// The listener as the content of a [`Bootstrap::lds`] file.
    pub fn lds(&self) -> String {
        let mut listener = self.json();
        listener["@type"] = json!("type.googleapis.com/envoy.config.listener.v3.Listener");
        serde_json::to_string_pretty(&json!({ "resources": [listener] })).expect("a listener renders")
    }

    fn json(&self) -> Value {
        let routes: Vec<Value> = self
            .routes
            .iter()
            .map(|r| json!({ "match": { "prefix": r.prefix }, "route": { "cluster": r.cluster } }))
            .collect();
        let mut filters: Vec<Value> = self.filters.iter().map(HttpFilter::json).collect();
        filters.push(json!({ "name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
        } }));
        let mut manager = json!({
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "edge",
            "route_config": { "name": "edge", "virtual_hosts": [{ "name": "app", "domains": ["*"], "routes": routes }] },
            "http_filters": filters,
        });
        if self.use_remote_address {
            manager["use_remote_address"] = json!(true);
        }
        if let Some(path) = &self.access_log {
            manager["access_log"] = json!([{ "name": "envoy.access_loggers.file", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                "path": path,
            } }]);
        }
        json!({
            "name": "edge",
            "address": address(self.port),
            "filter_chains": [{ "filters": [{ "name": "envoy.filters.network.http_connection_manager", "typed_config": manager }] }],
        })
    }
}

impl HttpFilter {
    /// A Lua filter running `source` (`envoy_on_request`, `envoy_on_response`).
    pub fn lua(source: &str) -> Self {
        Self::Other {
            name: String::from("envoy.filters.http.lua"),
            typed_config: json!({
                "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
                "default_source_code": { "inline_string": source },
            }),
        }
    }

    fn json(&self) -> Value {
        match self {
            Self::Wasm(wasm) => json!({ "name": "envoy.filters.http.wasm", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                "config": wasm.json(),
            } }),
            Self::Other { name, typed_config } => json!({ "name": name, "typed_config": typed_config }),
        }
    }
}

impl Wasm {
    /// `module` with no name, root id, VM id or configuration, Envoy's failure policy.
    pub fn new(module: impl AsRef<Path>) -> Self {
        Self {
            module: module.as_ref().to_path_buf(),
            name: None,
            root_id: None,
            vm_id: None,
            configuration: None,
            failure_policy: None,
            env: Vec::new(),
        }
    }

    /// `module` with `name` as its plugin name, root id and VM id.
    pub fn named(module: impl AsRef<Path>, name: &str) -> Self {
        let name = Some(name.to_owned());
        Self { name: name.clone(), root_id: name.clone(), vm_id: name, ..Self::new(module) }
    }

    fn json(&self) -> Value {
        let mut vm = json!({ "runtime": "envoy.wasm.runtime.v8", "code": { "local": { "filename": self.module } } });
        if let Some(id) = &self.vm_id {
            vm["vm_id"] = json!(id);
        }
        if !self.env.is_empty() {
            let values: serde_json::Map<String, Value> = self.env.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            vm["environment_variables"] = json!({ "key_values": values });
        }
        let mut config = json!({ "vm_config": vm });
        if let Some(name) = &self.name {
            config["name"] = json!(name);
        }
        if let Some(root_id) = &self.root_id {
            config["root_id"] = json!(root_id);
        }
        if let Some(configuration) = &self.configuration {
            config["configuration"] =
                json!({ "@type": "type.googleapis.com/google.protobuf.StringValue", "value": configuration });
        }
        match self.failure_policy {
            None => {}
            Some(FailurePolicy::FailOpen) => config["failure_policy"] = json!("FAIL_OPEN"),
            Some(FailurePolicy::FailClosed) => config["failure_policy"] = json!("FAIL_CLOSED"),
            Some(FailurePolicy::FailReload { backoff }) => {
                config["failure_policy"] = json!("FAIL_RELOAD");
                if let Some(backoff) = backoff {
                    let interval = format!("{}s", backoff.as_secs_f64());
                    config["reload_config"] =
                        json!({ "backoff": { "base_interval": interval, "max_interval": interval } });
                }
            }
        }
        config
    }
}

impl Cluster {
    /// An HTTP/1.1 upstream on `port`.
    pub fn http1(name: &str, port: u16) -> Self {
        Self { name: name.to_owned(), port: Some(port), http2: false }
    }

    /// An HTTP/2 (gRPC) upstream on `port`.
    pub fn http2(name: &str, port: u16) -> Self {
        Self { name: name.to_owned(), port: Some(port), http2: true }
    }

    /// A cluster with no endpoint: a request or callout to it finds no host.
    pub fn no_endpoint(name: &str) -> Self {
        Self { name: name.to_owned(), port: None, http2: false }
    }

    fn json(&self) -> Value {
        let endpoints = match self.port {
            Some(port) => json!([{ "lb_endpoints": [{ "endpoint": { "address": address(port) } }] }]),
            None => json!([]),
        };
        let mut cluster = json!({
            "name": self.name,
            "type": "STATIC",
            "connect_timeout": "1s",
            "load_assignment": { "cluster_name": self.name, "endpoints": endpoints },
        });
        if self.http2 {
            cluster["typed_extension_protocol_options"] = json!({
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                    "explicit_http_config": { "http2_protocol_options": {} },
                },
            });
        }
        cluster
    }
}

/// `127.0.0.1:port` as an Envoy address.
fn address(port: u16) -> Value {
    json!({ "socket_address": { "address": "127.0.0.1", "port_value": port } })
}
