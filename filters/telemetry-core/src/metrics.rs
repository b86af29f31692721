//! Request metrics with real labels, under a series cap, aggregated in the module.
//!
//! proxy-wasm has no label API, so a series is a stat name that carries its labels:
//! `meshlens_http_requests_total;method=GET;route=/api/v1/query`. Envoy's `stats_tags` regexes,
//! one per label key (`(;method=([^;]*))`), turn them back into Prometheus labels; the shipped
//! Envoy configs include them (see [`labels::stats_tag_regex`]).
//!
//! Histograms are kept by the module, not by Envoy: each bucket is a counter series with an `le`
//! label, plus `_count` and `_sum`, exactly the Prometheus histogram layout, so buckets are exact
//! and in any unit (`histogram_quantile` over `_bucket` works as with any Prometheus histogram),
//! where Envoy's own histograms bin values to two significant digits and know only integers.
//! `_sum` is an integer in the metric's unit: the remainder carries over, so it is exact to
//! within one unit in total (use a millisecond unit when sums of short requests matter).
//!
//! Requests are recorded into per-series counters in the module's memory; [`MetricsEngine::drain`]
//! hands the deltas to the host (on the export tick), so a request costs no hostcall for metrics.
//!
//! A series cap per metric bounds memory: past `max_series - 1` label sets, new ones go to one
//! overflow series whose every label is `overflow`, and the overflow is counted.

pub mod endpoint;
pub mod exposition;
pub mod histogram;
pub mod labels;

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use histogram::Buckets;
use labels::{Builtin, LabelSource};

use crate::fxhash::FxHasher;
use crate::ids::{SpanId, TraceId};
use crate::redact::{Counts, Policy};

/// The validated `metrics` section.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsConfig {
    pub families: Vec<Family>,
    pub dimensions: Vec<Dimension>,
    /// Label sets per family, the overflow series included.
    pub max_series: usize,
    /// Value of the `reporter` label.
    pub reporter: String,
    /// When set, the module serves the families itself ([`exposition`]) and hands none of
    /// them to the host's counters.
    pub endpoint: Option<endpoint::Endpoint>,
    /// Whether histogram buckets keep exemplars (set with `otlp`).
    pub exemplars: bool,
    /// OTLP metrics export (`/v1/metrics`), through the tracing exporter's collector.
    pub otlp: Option<OtlpMetrics>,
}

/// `metrics.otlp`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpMetrics {
    /// `:path` of the export requests.
    pub path: String,
    /// How often each worker exports, in milliseconds.
    pub interval_ms: u32,
}

/// One metric family: a counter, or a histogram of durations or sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Full name, prefix included, without `_bucket`/`_sum`/`_count`.
    pub name: String,
    pub kind: Kind,
    /// Label names and where each value comes from, in order.
    pub labels: Vec<(String, LabelSource)>,
    /// Only requests on these route templates are recorded (all when `None`).
    pub routes: Option<Vec<String>>,
}

/// What a family measures.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Requests, a counter.
    Requests,
    /// Duration from request start to stream end.
    Duration(Buckets),
    /// Request body bytes.
    RequestSize(Buckets),
    /// Response body bytes.
    ResponseSize(Buckets),
}

/// A configured dimension: a label whose value comes from the request, the response or a
/// property, with an optional allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dimension {
    pub name: String,
    pub source: DimensionSource,
    /// Values kept as they are; anything else becomes `other`. `None` keeps every value (the
    /// series cap still bounds them).
    pub allow: Option<Vec<String>>,
    /// The value when the source has none.
    pub missing: String,
}

/// Where a dimension's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DimensionSource {
    RequestHeader(String),
    ResponseHeader(String),
    /// An Envoy property path, read as text at stream end.
    Property(Vec<String>),
    /// A fixed value per route template (`other` for the rest).
    Route(Vec<(String, String)>),
}

/// A request whose span was sampled: what links a bucket to a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exemplar {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub time_unix_nanos: u64,
}

/// An exemplar as a series keeps it: the request and its value, in the family's unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeldExemplar {
    pub exemplar: Exemplar,
    pub value: f64,
}

/// One series as an export reads it.
#[derive(Debug)]
pub struct SeriesView<'a> {
    /// Label values, in the family's label order.
    pub values: Vec<&'a str>,
    /// Counter: the count. Histogram: the cumulative count of every finite bucket, `+Inf`, then
    /// `_count`.
    pub counts: Vec<u64>,
    /// Histogram `_sum`, in billionths of the family's unit (0 for a counter).
    pub sum_nanounits: u128,
    /// At most one exemplar per bucket (`+Inf` last) since the last [`MetricsEngine::export`].
    pub exemplars: Vec<(usize, HeldExemplar)>,
}

/// What is known about one finished request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestFacts<'a> {
    pub method: &'a str,
    /// The matched route template, `None` when no route matched.
    pub route: Option<&'a str>,
    /// Status sent downstream; 0 when none was.
    pub status: u16,
    pub duration_nanos: u64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    /// Values of the configured dimensions, in [`MetricsConfig::dimensions`] order (already
    /// resolved and allow-listed by [`Dimension::value`]).
    pub dimensions: &'a [String],
    /// The request's sampled span, kept as an exemplar of the buckets it lands in when
    /// [`MetricsConfig::exemplars`] is on.
    pub exemplar: Option<Exemplar>,
    /// How the call ended, when the request is a gRPC call.
    pub grpc: Option<crate::grpc::Call>,
}

/// The per-worker aggregation of every family's series.
#[derive(Debug)]
pub struct MetricsEngine {
    config: MetricsConfig,
    /// Label sets seen, per group of families that record the same requests with the same
    /// labels (the standard families by default): one key and one lookup per group and request.
    groups: Vec<LabelSets>,
    families: Vec<FamilyState>,
    overflow: Vec<Slot>,
    /// Requests recorded since the engine started.
    recorded: u64,
    /// The label-set key buffer, kept between requests.
    key: String,
}

/// One counter as the host knows it: its stat name, its id once defined, and what is not yet
/// handed to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub name: String,
    pub id: Option<u32>,
    /// Counted since the engine started.
    total: u64,
    /// Of `total`, what the host was handed ([`MetricsEngine::drain`]).
    reported: u64,
}

/// The label sets of one group of families, numbered in order of first use.
#[derive(Debug, Default)]
struct LabelSets {
    /// Label-value key (values joined by `\u{1f}`) -> label-set id.
    index: HashMap<String, usize, BuildHasherDefault<FxHasher>>,
}

#[derive(Debug)]
struct FamilyState {
    /// Index into `MetricsEngine::groups`.
    group: usize,
    /// Label-set id -> index into `series`.
    by_set: Vec<Option<usize>>,
    /// Index into `series` of the overflow series, once it exists.
    overflow_series: Option<usize>,
    series: Vec<Series>,
}

#[derive(Debug)]
struct Series {
    /// Counter: the one slot. Histogram: one per bucket (cumulative, `+Inf` last), `_count`,
    /// then `_sum`.
    slots: Vec<Slot>,
    /// The label values, joined by `\u{1f}` (the group's key).
    key: String,
    /// Histogram `_sum`, in billionths of the metric's unit.
    sum_total: u128,
    /// Per bucket (`+Inf` last), the first sampled request since the last export; empty until
    /// the first one.
    exemplars: Vec<Option<HeldExemplar>>,
    dirty: bool,
}

impl Dimension {
    /// The label value for a raw source value: sanitised, allow-listed, or `missing`.
    pub fn value(&self, raw: Option<&str>) -> String {
        let Some(raw) = raw.filter(|r| !r.is_empty()) else { return self.missing.clone() };
        let clean = labels::sanitize_value(raw);
        match &self.allow {
            Some(allow) if !allow.contains(&clean) => String::from(labels::OTHER),
            _ => clean,
        }
    }

    /// The value of a route dimension for a matched route template.
    pub fn route_value(&self, route: Option<&str>) -> Option<String> {
        let DimensionSource::Route(map) = &self.source else { return None };
        let found = route.and_then(|r| map.iter().find(|(template, _)| template == r));
        Some(found.map_or_else(|| String::from(labels::OTHER), |(_, v)| v.clone()))
    }
}

impl MetricsConfig {
    /// The value of every dimension, in order: `clean(i, source)` gives the value of header and
    /// property sources already through the redaction policy ([`DimensionSource::clean`]); route
    /// dimensions map the matched route template. The allow-list applies after redaction.
    pub fn dimension_values(
        &self,
        route: Option<&str>,
        mut clean: impl FnMut(usize, &DimensionSource) -> Option<String>,
    ) -> Vec<String> {
        self.dimensions
            .iter()
            .enumerate()
            .map(|(i, d)| match d.route_value(route) {
                Some(v) => v,
                None => d.value(clean(i, &d.source).as_deref()),
            })
            .collect()
    }
}

impl DimensionSource {
    /// A raw value of this source through the redaction policy: a header's value through its
    /// header rules (`None`: the header may not appear), a property's through the value patterns.
    /// Metric labels and access-log fields both take their values from here.
    pub fn clean<'a>(&self, policy: &Policy, raw: &'a str, counts: &mut Counts) -> Option<Cow<'a, str>> {
        match self {
            Self::RequestHeader(h) | Self::ResponseHeader(h) => policy.header(h, raw, counts),
            _ => Some(policy.text(raw, counts)),
        }
    }
}

impl MetricsEngine {
    /// An engine with no series yet.
    pub fn new(config: MetricsConfig) -> Self {
        // Families without a route filter all record every request, so families among them with
        // equal labels always see the same label sets: they share one group. A family with a route
        // filter is a group of its own.
        let mut leaders: Vec<usize> = Vec::new();
        let families = config
            .families
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let shared = leaders.iter().position(|&l| {
                    config.families.get(l).is_some_and(|leader| {
                        f.routes.is_none() && leader.routes.is_none() && leader.labels == f.labels
                    })
                });
                let group = shared.unwrap_or_else(|| {
                    leaders.push(i);
                    leaders.len() - 1
                });
                FamilyState { group, by_set: Vec::new(), overflow_series: None, series: Vec::new() }
            })
            .collect();
        let groups = leaders.iter().map(|_| LabelSets::default()).collect();
        let overflow = config
            .families
            .iter()
            .map(|f| Slot {
                name: labels::stat_name(crate::names::SERIES_OVERFLOW, &[("metric", &f.name)]),
                id: None,
                total: 0,
                reported: 0,
            })
            .collect();
        Self { config, groups, families, overflow, recorded: 0, key: String::with_capacity(96) }
    }

    /// The configuration this engine runs.
    pub fn config(&self) -> &MetricsConfig {
        &self.config
    }

    /// Records one finished request into every family it belongs to.
    pub fn record(&mut self, facts: &RequestFacts<'_>) {
        self.recorded += 1;
        // Served families never become host counters: their slots need no stat names.
        let named = self.config.endpoint.is_none();
        let mut key = std::mem::take(&mut self.key);
        // The group whose key `key` holds, and that key's label-set id (`None`: the group is full).
        let mut current: Option<(usize, Option<usize>)> = None;
        for (i, family) in self.config.families.iter().enumerate() {
            if let Some(routes) = &family.routes
                && !facts.route.is_some_and(|r| routes.iter().any(|t| t == r))
            {
                continue;
            }
            let (Some(state), Some(overflow)) = (self.families.get_mut(i), self.overflow.get_mut(i)) else { continue };
            let set = match current {
                Some((group, set)) if group == state.group => set,
                _ => {
                    key.clear();
                    for (n, (_, source)) in family.labels.iter().enumerate() {
                        if n > 0 {
                            key.push('\u{1f}');
                        }
                        push_label_value(&self.config, source, facts, &mut key);
                    }
                    let set = self.groups.get_mut(state.group).and_then(|g| g.id(&key, self.config.max_series));
                    current = Some((state.group, set));
                    set
                }
            };
            let index = match set {
                Some(set) => match state.by_set.get(set).copied().flatten() {
                    Some(index) => index,
                    None => {
                        let values: Vec<&str> = key.split('\u{1f}').collect();
                        state.series.push(Series::new(family, &values, named));
                        if state.by_set.len() <= set {
                            state.by_set.resize(set + 1, None);
                        }
                        if let Some(slot) = state.by_set.get_mut(set) {
                            *slot = Some(state.series.len() - 1);
                        }
                        state.series.len() - 1
                    }
                },
                None => {
                    overflow.total += 1;
                    *state.overflow_series.get_or_insert_with(|| {
                        let values = vec![labels::OVERFLOW; family.labels.len()];
                        state.series.push(Series::new(family, &values, named));
                        state.series.len() - 1
                    })
                }
            };
            if let Some(series) = state.series.get_mut(index) {
                series.record(&family.kind, facts, self.config.exemplars);
            }
        }
        self.key = key;
    }

    /// Requests recorded since the engine started.
    pub fn recorded(&self) -> u64 {
        self.recorded
    }

    /// Hands every pending delta to `emit(name, id, delta)`, which returns the id to remember
    /// for that stat name (defining the metric on first use; `delta` may be 0 then). Called on
    /// the export tick. With an [`endpoint`](MetricsConfig::endpoint) only the overflow counts
    /// go to the host: the families are served by the module, and their counts stay cumulative
    /// for [`exposition::snapshot`].
    pub fn drain(&mut self, mut emit: impl FnMut(&str, Option<u32>, u64) -> Option<u32>) {
        let families = if self.config.endpoint.is_some() { 0 } else { self.families.len() };
        for (family, state) in self.config.families.iter().zip(self.families.iter_mut()).take(families) {
            for series in state.series.iter_mut().filter(|s| s.dirty) {
                series.settle_sum(&family.kind);
                // A new series defines all its slots, zeros included: Prometheus sees every
                // bucket of a histogram from the first scrape.
                for slot in series.slots.iter_mut().filter(|s| s.total > s.reported || s.id.is_none()) {
                    slot.id = emit(&slot.name, slot.id, slot.total - slot.reported);
                    slot.reported = slot.total;
                }
                series.dirty = false;
            }
        }
        for slot in self.overflow.iter_mut().filter(|s| s.total > s.reported) {
            slot.id = emit(&slot.name, slot.id, slot.total - slot.reported);
            slot.reported = slot.total;
        }
    }

    /// Calls `visit` with every family that has series and a view of each of its series, then
    /// forgets the exemplars handed over (at most one per bucket per export interval).
    pub fn export(&mut self, mut visit: impl FnMut(&Family, Vec<SeriesView<'_>>)) {
        for (family, state) in self.config.families.iter().zip(self.families.iter_mut()) {
            if state.series.is_empty() {
                continue;
            }
            let views = state
                .series
                .iter_mut()
                .map(|s| {
                    let exemplars =
                        s.exemplars.iter_mut().enumerate().filter_map(|(i, e)| e.take().map(|e| (i, e))).collect();
                    SeriesView {
                        values: s.key.split('\u{1f}').collect(),
                        counts: s.counts(&family.kind).map(|slot| slot.total).collect(),
                        sum_nanounits: s.sum_nanounits(&family.kind),
                        exemplars,
                    }
                })
                .collect();
            visit(family, views);
        }
    }

    /// Number of label sets of the family `name` (the overflow series included).
    pub fn series_count(&self, name: &str) -> usize {
        let index = self.config.families.iter().position(|f| f.name == name);
        index.and_then(|i| self.families.get(i)).map_or(0, |s| s.series.len())
    }
}

impl LabelSets {
    /// The id of the label set `key`, numbering it if new; `None` when it is new and the group
    /// already has `max_series - 1` sets (the last series of each family is the overflow one).
    fn id(&mut self, key: &str, max_series: usize) -> Option<usize> {
        if let Some(id) = self.index.get(key) {
            return Some(*id);
        }
        let id = self.index.len();
        if id + 1 >= max_series {
            return None;
        }
        self.index.insert(key.to_owned(), id);
        Some(id)
    }
}

/// Appends a label's value for this request to the series key: no allocation per label.
fn push_label_value(config: &MetricsConfig, source: &LabelSource, facts: &RequestFacts<'_>, key: &mut String) {
    match source {
        LabelSource::Builtin(Builtin::Reporter) => key.push_str(&config.reporter),
        LabelSource::Builtin(b) => b.push_value(facts, key),
        LabelSource::Dimension(i) => key.push_str(facts.dimensions.get(*i).map_or(labels::OTHER, String::as_str)),
    }
}

impl Series {
    /// The slots that count requests, as exports read them: a counter's one slot; a histogram's
    /// buckets, `+Inf` and `_count`, not `_sum`.
    fn counts(&self, kind: &Kind) -> impl Iterator<Item = &Slot> {
        let n = match kind {
            Kind::Requests => 1,
            _ => self.slots.len().saturating_sub(1),
        };
        self.slots.iter().take(n)
    }

    /// The histogram `_sum` in billionths of the unit; 0 for a counter.
    fn sum_nanounits(&self, kind: &Kind) -> u128 {
        if *kind == Kind::Requests { 0 } else { self.sum_total }
    }

    /// A new series; its slots get stat names only when `named` (they become host counters).
    fn new(family: &Family, values: &[&str], named: bool) -> Self {
        let pairs: Vec<(&str, &str)> =
            family.labels.iter().map(|(n, _)| n.as_str()).zip(values.iter().copied()).collect();
        let slot = |name: String| Slot { name, id: None, total: 0, reported: 0 };
        if !named {
            let n = match &family.kind {
                Kind::Requests => 1,
                Kind::Duration(b) | Kind::RequestSize(b) | Kind::ResponseSize(b) => b.len() + 3,
            };
            let slots = (0..n).map(|_| slot(String::new())).collect();
            return Self { slots, key: values.join("\u{1f}"), sum_total: 0, exemplars: Vec::new(), dirty: false };
        }
        let slots = match &family.kind {
            Kind::Requests => vec![slot(labels::stat_name(&family.name, &pairs))],
            Kind::Duration(b) | Kind::RequestSize(b) | Kind::ResponseSize(b) => {
                let bucket = format!("{}_bucket", family.name);
                let mut slots: Vec<Slot> = b
                    .labels()
                    .map(|le| {
                        let mut with_le = pairs.clone();
                        with_le.push(("le", le));
                        slot(labels::stat_name(&bucket, &with_le))
                    })
                    .collect();
                slots.push(slot(labels::stat_name(&format!("{}_count", family.name), &pairs)));
                slots.push(slot(labels::stat_name(&format!("{}_sum", family.name), &pairs)));
                slots
            }
        };
        Self { slots, key: values.join("\u{1f}"), sum_total: 0, exemplars: Vec::new(), dirty: false }
    }

    fn record(&mut self, kind: &Kind, facts: &RequestFacts<'_>, exemplars: bool) {
        self.dirty = true;
        let (buckets, value) = match kind {
            Kind::Requests => {
                if let Some(slot) = self.slots.first_mut() {
                    slot.total += 1;
                }
                return;
            }
            Kind::Duration(b) => (b, u128::from(facts.duration_nanos)),
            Kind::RequestSize(b) => (b, u128::from(facts.request_bytes)),
            Kind::ResponseSize(b) => (b, u128::from(facts.response_bytes)),
        };
        // Cumulative buckets: every bucket whose bound is at or above the value, `+Inf`, and
        // `_count` (the slot right after `+Inf`).
        let first = buckets.first_at_or_above(value);
        let n = buckets.len();
        for slot in self.slots.iter_mut().take(n + 2).skip(first) {
            slot.total += 1;
        }
        self.sum_total += buckets.nanounits(value);
        if let Some(exemplar) = facts.exemplar.filter(|_| exemplars) {
            if self.exemplars.is_empty() {
                self.exemplars = vec![None; n + 1];
            }
            if let Some(held @ None) = self.exemplars.get_mut(first) {
                #[allow(clippy::cast_precision_loss)]
                let value = buckets.nanounits(value) as f64 / 1e9;
                *held = Some(HeldExemplar { exemplar, value });
            }
        }
    }

    /// Moves the whole units of the accumulated sum into the `_sum` slot.
    fn settle_sum(&mut self, kind: &Kind) {
        if *kind == Kind::Requests {
            return;
        }
        if let Some(sum) = self.slots.last_mut() {
            sum.total = u64::try_from(self.sum_total / 1_000_000_000).unwrap_or(u64::MAX);
        }
    }
}

#[cfg(test)]
mod tests;
