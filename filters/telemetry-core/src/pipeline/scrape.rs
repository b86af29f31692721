//! The metrics endpoint (`metrics.endpoint`): every worker publishes its request metrics into the
//! proxy's shared data on its tick, and whichever worker a scrape lands on answers it with the
//! sum of every published snapshot, in the Prometheus text format
//! ([`crate::metrics::exposition`]).
//!
//! Keys, in the shared data of the plugin's VM id:
//! - `meshlens.metrics.instances`: the instance ids of every pipeline that published, one per
//!   line, appended with compare-and-swap;
//! - `meshlens.metrics.<instance>`: that pipeline's latest snapshot.
//!
//! A snapshot is cumulative since its pipeline started, so the sum only grows while the proxy
//! runs; a pipeline replaced by a configuration reload keeps its last snapshot (as Envoy keeps
//! its counters), and the new one adds to it.

use super::host::{Host, SharedData};
use crate::metrics::MetricsEngine;
use crate::metrics::endpoint::Endpoint;
use crate::metrics::exposition::{self, Merged};

const INSTANCES: &str = "meshlens.metrics.instances";
/// Attempts at appending to [`INSTANCES`] when other workers write it at the same moment.
const CAS_ATTEMPTS: usize = 16;
/// The text format's content type (<https://prometheus.io/docs/instrumenting/exposition_formats/>).
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How often a worker publishes its counts on its tick (a scrape also gets the answering
/// worker's counts of the moment): scrape intervals are seconds, and a snapshot costs work in
/// proportion to the series.
const PUBLISH_EVERY_NANOS: u64 = 1_000_000_000;

/// The shared-data key of an instance's snapshot.
fn key(instance: &str) -> String {
    format!("meshlens.metrics.{instance}")
}

/// One pipeline's publishing state.
#[derive(Debug)]
pub(super) struct Publisher {
    /// The endpoint's path.
    path: String,
    /// When the tick last published.
    published_at: u64,
    key: String,
    instance: String,
    registered: bool,
    /// Requests recorded at the last publication.
    published: Option<u64>,
    buf: String,
}

impl Publisher {
    /// A publisher under a fresh instance id, answering scrapes of `path`.
    pub(super) fn new(instance: u64, path: &str) -> Self {
        let instance = format!("{instance:016x}");
        Self {
            path: path.to_owned(),
            published_at: 0,
            key: key(&instance),
            instance,
            registered: false,
            published: None,
            buf: String::new(),
        }
    }

    /// Whether a request for `path` (`:path`, query included) is a scrape.
    pub(super) fn serves(&self, path: &str) -> bool {
        // A prefix test first: most requests differ in their first bytes.
        path.strip_prefix(self.path.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with(['?', '#']))
    }

    /// Publishes on the tick, at most once per [`PUBLISH_EVERY_NANOS`].
    pub(super) fn publish_due(&mut self, engine: &MetricsEngine, host: &impl SharedData, now: u64) {
        if now.saturating_sub(self.published_at) >= PUBLISH_EVERY_NANOS {
            self.published_at = now;
            self.publish(engine, host);
        }
    }

    /// Publishes the engine's snapshot when it recorded something since the last one.
    pub(super) fn publish(&mut self, engine: &MetricsEngine, host: &impl SharedData) {
        if self.published == Some(engine.recorded()) || engine.recorded() == 0 {
            return;
        }
        if !self.registered {
            self.registered = self.register(host);
            if !self.registered {
                return;
            }
        }
        self.buf.clear();
        exposition::snapshot(engine, &mut self.buf);
        if host.set_shared_data(&self.key, self.buf.as_bytes(), None).is_ok() {
            self.published = Some(engine.recorded());
        }
    }

    /// Appends this instance to the list of instances.
    fn register(&self, host: &impl SharedData) -> bool {
        for _ in 0..CAS_ATTEMPTS {
            let (mut list, cas) = match host.shared_data(INSTANCES) {
                Some((bytes, cas)) => (String::from_utf8_lossy(&bytes).into_owned(), Some(cas)),
                None => (String::new(), None),
            };
            if list.lines().any(|l| l == self.instance) {
                return true;
            }
            list.push_str(&self.instance);
            list.push('\n');
            // Written or not, read again: the first writer of a new key cannot use a token, and
            // two of them may race; only a list that holds the instance counts.
            if host.set_shared_data(INSTANCES, list.as_bytes(), cas).is_err() {
                return false;
            }
        }
        false
    }

    /// Answers a request for the endpoint's path: the merged metrics for an allowed peer, 403
    /// for any other.
    pub(super) fn answer(&mut self, engine: &MetricsEngine, endpoint: &Endpoint, peer: Option<&str>, host: &impl Host) {
        if !peer.is_some_and(|p| endpoint.allows(p)) {
            let body = b"meshlens: this address may not read the metrics (metrics.endpoint.allow)\n";
            let _ = host.send_reply(403, &[("content-type", "text/plain; charset=utf-8")], body);
            return;
        }
        // This worker's latest counts first, so a scrape sees its own requests at once.
        self.publish(engine, host);
        let mut merged = Merged::default();
        let instances = host.shared_data(INSTANCES).map(|(b, _)| String::from_utf8_lossy(&b).into_owned());
        for instance in instances.iter().flat_map(|l| l.lines()) {
            if let Some((bytes, _)) = host.shared_data(&key(instance)) {
                merged.add(&String::from_utf8_lossy(&bytes));
            }
        }
        let mut body = String::with_capacity(4096);
        merged.render(&mut body);
        if merged.rejected > 0 {
            body.push_str(&format!(
                "# meshlens: {} snapshot lines left out: workers disagree on a family's labels or buckets (a configuration reload)\n",
                merged.rejected
            ));
        }
        let _ = host.send_reply(200, &[("content-type", CONTENT_TYPE)], body.as_bytes());
    }
}
