//! OTLP/HTTP JSON encoding of the request metrics: the body of a `POST /v1/metrics`.
//!
//! The message is `ExportMetricsServiceRequest` (opentelemetry-proto
//! `collector/metrics/v1/metrics_service.proto`, fields from `metrics/v1/metrics.proto`), in the
//! OTLP JSON encoding described in [`super`]: hex `traceId`/`spanId` in exemplars, integer enums,
//! 64-bit integers (`count`, `bucketCounts`, `asInt`, the times) as decimal strings.
//!
//! What each family becomes:
//! - a `requests` family is a monotonic cumulative `Sum` of integer points (unit `{request}`);
//! - a duration or size family is a cumulative `Histogram` with `explicitBounds` from the
//!   configuration, per-bucket (not cumulative) `bucketCounts` ending with the `+Inf` bucket,
//!   `count` and `sum` in the family's unit (`s`, `ms`, `us`, `By`), and at most one exemplar per
//!   bucket per export interval: the first sampled request that landed in it, with its trace and
//!   span id, so a latency bucket links to an exported span.
//!
//! **Temporality: cumulative, one stream per worker.** Every Envoy worker runs its own VM and its
//! own counts. OTLP's data model wants a single writer per stream ("Single-Writer" in the
//! metrics data model); two workers writing the same cumulative stream would look like resets to
//! a collector. So each worker's resource carries its own `service.instance.id` (the configured
//! one, if any, then `/` and the worker's instance id), its points start at the worker's start
//! time and only grow; a collector or backend sums across instances (PromQL:
//! `sum without (service_instance_id) (...)`). Delta temporality would not need the attribute,
//! but the OpenTelemetry Collector's Prometheus exporter resets a delta stream whose points do
//! not follow each other in time, which several workers writing one stream would cause.

use super::push_attributes;
use crate::ids::{SpanId, TraceId};
use crate::json;
use crate::metrics::{Kind, MetricsEngine};
use crate::span::{KeyValue, Resource, SCOPE_NAME, SCOPE_VERSION};

/// `AGGREGATION_TEMPORALITY_CUMULATIVE` (metrics.proto).
pub(crate) const CUMULATIVE: u64 = 2;

/// The resource attribute that tells workers apart.
const INSTANCE: &str = "service.instance.id";

/// One export of one worker's metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsBatch {
    /// The worker's instance id, appended to `service.instance.id`.
    pub instance: String,
    /// When the worker's counts started (the points' `startTimeUnixNano`).
    pub start_unix_nanos: u64,
    pub time_unix_nanos: u64,
    pub metrics: Vec<Metric>,
}

/// One family.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: String,
    pub description: String,
    /// UCUM unit (OpenTelemetry semantic conventions): `s`, `ms`, `us`, `By`, `{request}`.
    pub unit: &'static str,
    pub data: Data,
}

/// A family's points.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// A monotonic counter.
    Sum(Vec<(Vec<KeyValue>, u64)>),
    Histogram {
        bounds: Vec<f64>,
        points: Vec<HistogramPoint>,
    },
}

/// One histogram series.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramPoint {
    pub attributes: Vec<KeyValue>,
    pub count: u64,
    /// In the family's unit.
    pub sum: f64,
    /// Per bucket, not cumulative; `+Inf` last.
    pub bucket_counts: Vec<u64>,
    pub exemplars: Vec<ExemplarPoint>,
}

/// A sampled request in a bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExemplarPoint {
    pub time_unix_nanos: u64,
    pub value: f64,
    pub trace_id: TraceId,
    pub span_id: SpanId,
}

impl MetricsBatch {
    /// The engine's every family, cumulative since `start_unix_nanos`; the exemplars handed over
    /// are forgotten by the engine.
    pub fn take(engine: &mut MetricsEngine, instance: &str, start_unix_nanos: u64, time_unix_nanos: u64) -> Self {
        let mut metrics = Vec::new();
        engine.export(|family, series| {
            let names: Vec<&str> = family.labels.iter().map(|(n, _)| n.as_str()).collect();
            let attributes = |values: &[&str]| -> Vec<KeyValue> {
                names.iter().zip(values).map(|(n, v)| KeyValue::string((*n).to_owned(), *v)).collect()
            };
            let (unit, data) = match &family.kind {
                Kind::Requests => {
                    let points = series.iter().map(|s| (attributes(&s.values), s.counts.first().copied().unwrap_or(0)));
                    ("{request}", Data::Sum(points.collect()))
                }
                Kind::Duration(b) | Kind::RequestSize(b) | Kind::ResponseSize(b) => {
                    let points = series
                        .iter()
                        .map(|s| {
                            // Cumulative slots (every bucket, `+Inf`, `_count`) to per-bucket counts.
                            let cumulative = s.counts.get(..b.len() + 1).unwrap_or_default();
                            let bucket_counts =
                                cumulative.iter().scan(0, |below, c| Some(c - std::mem::replace(below, *c))).collect();
                            #[allow(clippy::cast_precision_loss)]
                            let sum = s.sum_nanounits as f64 / 1e9;
                            HistogramPoint {
                                attributes: attributes(&s.values),
                                count: s.counts.last().copied().unwrap_or(0),
                                sum,
                                bucket_counts,
                                exemplars: s
                                    .exemplars
                                    .iter()
                                    .map(|(_, e)| ExemplarPoint {
                                        time_unix_nanos: e.exemplar.time_unix_nanos,
                                        value: e.value,
                                        trace_id: e.exemplar.trace_id,
                                        span_id: e.exemplar.span_id,
                                    })
                                    .collect(),
                            }
                        })
                        .collect();
                    (b.unit().ucum(), Data::Histogram { bounds: b.bounds().to_vec(), points })
                }
            };
            let description = crate::metrics::exposition::help(&family.kind);
            metrics.push(Metric { name: family.name.clone(), description, unit, data });
        });
        Self { instance: instance.to_owned(), start_unix_nanos, time_unix_nanos, metrics }
    }
}

/// Encodes one ExportMetricsServiceRequest with one ResourceMetrics per batch (each batch is one
/// worker's instance of the resource).
pub fn encode_metrics_into(out: &mut String, resource: &Resource, batches: &[MetricsBatch]) {
    out.push_str(r#"{"resourceMetrics":["#);
    for (i, batch) in batches.iter().filter(|b| !b.metrics.is_empty()).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"resource":{"#);
        push_attributes(out, "", &instance_resource(resource, &batch.instance));
        out.push_str(r#"},"scopeMetrics":[{"scope":{"name":"#);
        json::push_str(out, SCOPE_NAME);
        out.push_str(r#","version":"#);
        json::push_str(out, SCOPE_VERSION);
        out.push_str(r#"},"metrics":["#);
        for (j, metric) in batch.metrics.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            push_metric(out, metric, batch);
        }
        out.push_str("]}]}");
    }
    out.push_str("]}");
}

/// The resource's attributes with this worker's `service.instance.id`.
pub fn instance_resource(resource: &Resource, instance: &str) -> Vec<KeyValue> {
    let mut attributes = resource.attributes.clone();
    match attributes.iter_mut().find(|kv| kv.key == INSTANCE) {
        Some(kv) => {
            let configured = match &kv.value {
                crate::span::Value::String(s) => s.clone(),
                _ => String::new(),
            };
            *kv = KeyValue::string(INSTANCE, format!("{configured}/{instance}"));
        }
        None => attributes.push(KeyValue::string(INSTANCE, instance.to_owned())),
    }
    attributes
}

fn push_metric(out: &mut String, metric: &Metric, batch: &MetricsBatch) {
    out.push_str(r#"{"name":"#);
    json::push_str(out, &metric.name);
    out.push_str(r#","description":"#);
    json::push_str(out, &metric.description);
    out.push_str(r#","unit":"#);
    json::push_str(out, metric.unit);
    match &metric.data {
        Data::Sum(points) => {
            out.push_str(r#","sum":{"dataPoints":["#);
            for (i, (attributes, value)) in points.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('{');
                push_times(out, attributes, batch);
                out.push_str(r#","asInt":""#);
                json::push_u64(out, *value);
                out.push_str("\"}");
            }
            out.push_str(r#"],"aggregationTemporality":"#);
            json::push_u64(out, CUMULATIVE);
            out.push_str(r#","isMonotonic":true}}"#);
        }
        Data::Histogram { bounds, points } => {
            out.push_str(r#","histogram":{"dataPoints":["#);
            for (i, point) in points.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_histogram_point(out, point, bounds, batch);
            }
            out.push_str(r#"],"aggregationTemporality":"#);
            json::push_u64(out, CUMULATIVE);
            out.push_str("}}");
        }
    }
}

/// `"attributes":[...],"startTimeUnixNano":"..","timeUnixNano":".."` (attributes only when
/// there are some).
fn push_times(out: &mut String, attributes: &[KeyValue], batch: &MetricsBatch) {
    push_attributes(out, "", attributes);
    out.push_str(if attributes.is_empty() { r#""startTimeUnixNano":""# } else { r#","startTimeUnixNano":""# });
    json::push_u64(out, batch.start_unix_nanos);
    out.push_str(r#"","timeUnixNano":""#);
    json::push_u64(out, batch.time_unix_nanos);
    out.push('"');
}

fn push_histogram_point(out: &mut String, point: &HistogramPoint, bounds: &[f64], batch: &MetricsBatch) {
    out.push('{');
    push_times(out, &point.attributes, batch);
    out.push_str(r#","count":""#);
    json::push_u64(out, point.count);
    out.push_str(r#"","sum":"#);
    json::push_f64(out, point.sum);
    out.push_str(r#","bucketCounts":["#);
    for (i, n) in point.bucket_counts.iter().enumerate() {
        out.push_str(if i > 0 { ",\"" } else { "\"" });
        json::push_u64(out, *n);
        out.push('"');
    }
    out.push_str(r#"],"explicitBounds":["#);
    for (i, b) in bounds.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json::push_f64(out, *b);
    }
    out.push(']');
    if !point.exemplars.is_empty() {
        out.push_str(r#","exemplars":["#);
        for (i, e) in point.exemplars.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(r#"{"timeUnixNano":""#);
            json::push_u64(out, e.time_unix_nanos);
            out.push_str(r#"","asDouble":"#);
            json::push_f64(out, e.value);
            out.push_str(r#","spanId":""#);
            e.span_id.write_hex(out);
            out.push_str(r#"","traceId":""#);
            e.trace_id.write_hex(out);
            out.push_str("\"}");
        }
        out.push(']');
    }
    out.push('}');
}

#[cfg(test)]
mod tests;
