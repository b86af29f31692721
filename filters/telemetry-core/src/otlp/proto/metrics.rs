//! OTLP/HTTP binary protobuf encoding of the request metrics (`POST /v1/metrics`), with the
//! content of the JSON encoder ([`crate::otlp::metrics`]): the same batches, fields and
//! temporality.
//!
//! | message (metrics/v1/metrics.proto) | field | number | wire type |
//! | --- | --- | --- | --- |
//! | `ExportMetricsServiceRequest` (collector/metrics/v1/metrics_service.proto) | `resource_metrics` | 1 | LEN, repeated |
//! | `ResourceMetrics` | `resource`, `scope_metrics` | 1, 2 | LEN |
//! | `ScopeMetrics` | `scope`, `metrics` | 1, 2 | LEN |
//! | `Metric` | `name`, `description`, `unit` | 1, 2, 3 | LEN |
//! | | `sum`, `histogram` | 7, 9 | LEN (oneof `data`) |
//! | `Sum` | `data_points`, `aggregation_temporality`, `is_monotonic` | 1, 2, 3 | LEN, VARINT (enum), VARINT (bool) |
//! | `Histogram` | `data_points`, `aggregation_temporality` | 1, 2 | LEN, VARINT (enum) |
//! | `NumberDataPoint` | `attributes` | 7 | LEN |
//! | | `start_time_unix_nano`, `time_unix_nano` | 2, 3 | I64 (fixed64) |
//! | | `as_int` | 6 | I64 (sfixed64) |
//! | `HistogramDataPoint` | `attributes` | 9 | LEN |
//! | | `start_time_unix_nano`, `time_unix_nano`, `count` | 2, 3, 4 | I64 (fixed64) |
//! | | `sum` | 5 | I64 (double, `optional`: always written) |
//! | | `bucket_counts`, `explicit_bounds` | 6, 7 | LEN (packed fixed64, packed double) |
//! | | `exemplars` | 8 | LEN |
//! | `Exemplar` | `time_unix_nano`, `as_double` | 2, 3 | I64 (fixed64, double) |
//! | | `span_id`, `trace_id` | 4, 5 | LEN (8 and 16 raw bytes) |

use super::{LEN, fixed64, key, message, prefix_for, push_attributes, push_scope, uint, varint};
use crate::otlp::metrics::{CUMULATIVE, Data, HistogramPoint, Metric, MetricsBatch, instance_resource};
use crate::span::{KeyValue, Resource};

/// Encodes one ExportMetricsServiceRequest: one ResourceMetrics per non-empty batch (each is one
/// worker, under its own `service.instance.id`). Nothing at all when every batch is empty.
pub fn encode_metrics_into(out: &mut Vec<u8>, resource: &Resource, batches: &[MetricsBatch]) {
    for batch in batches.iter().filter(|b| !b.metrics.is_empty()) {
        // ExportMetricsServiceRequest.resource_metrics = 1.
        message(out, 1, prefix_for(batch.metrics.len() * 2048), |out| {
            // ResourceMetrics.resource = 1 (Resource.attributes = 1), .scope_metrics = 2.
            let attributes = instance_resource(resource, &batch.instance);
            message(out, 1, 2, |out| push_attributes(out, 1, &attributes));
            message(out, 2, prefix_for(batch.metrics.len() * 2048), |out| {
                // ScopeMetrics.scope = 1, .metrics = 2.
                push_scope(out);
                for metric in &batch.metrics {
                    message(out, 2, 2, |out| push_metric(out, metric, batch));
                }
            });
        });
    }
}

fn push_metric(out: &mut Vec<u8>, metric: &Metric, batch: &MetricsBatch) {
    super::bytes(out, 1, metric.name.as_bytes());
    super::bytes(out, 2, metric.description.as_bytes());
    super::bytes(out, 3, metric.unit.as_bytes());
    match &metric.data {
        Data::Sum(points) => message(out, 7, 2, |out| {
            for (attributes, value) in points {
                // Sum.data_points = 1: a NumberDataPoint.
                message(out, 1, 1, |out| {
                    push_times(out, 7, attributes, batch);
                    // as_int = 6, sfixed64.
                    fixed64(out, 6, *value);
                });
            }
            uint(out, 2, CUMULATIVE);
            uint(out, 3, 1);
        }),
        Data::Histogram { bounds, points } => message(out, 9, 2, |out| {
            for point in points {
                message(out, 1, 2, |out| push_histogram_point(out, point, bounds, batch));
            }
            uint(out, 2, CUMULATIVE);
        }),
    }
}

/// The point's attributes in field `field`, then `start_time_unix_nano = 2`, `time_unix_nano = 3`.
fn push_times(out: &mut Vec<u8>, field: u32, attributes: &[KeyValue], batch: &MetricsBatch) {
    push_attributes(out, field, attributes);
    fixed64(out, 2, batch.start_unix_nanos);
    fixed64(out, 3, batch.time_unix_nanos);
}

fn push_histogram_point(out: &mut Vec<u8>, point: &HistogramPoint, bounds: &[f64], batch: &MetricsBatch) {
    push_times(out, 9, &point.attributes, batch);
    fixed64(out, 4, point.count);
    fixed64(out, 5, point.sum.to_bits());
    // Packed repeated fixed64 and double: one LEN field of 8-byte values.
    packed(out, 6, point.bucket_counts.iter().copied());
    packed(out, 7, bounds.iter().map(|b| b.to_bits()));
    for e in &point.exemplars {
        message(out, 8, 1, |out| {
            fixed64(out, 2, e.time_unix_nanos);
            fixed64(out, 3, e.value.to_bits());
            super::bytes(out, 4, &e.span_id.to_bytes());
            super::bytes(out, 5, &e.trace_id.to_bytes());
        });
    }
}

/// A packed repeated field of 8-byte little-endian values (fixed64 or double).
fn packed(out: &mut Vec<u8>, field: u32, values: impl ExactSizeIterator<Item = u64>) {
    key(out, field, LEN);
    varint(out, (values.len() * 8) as u64);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}
