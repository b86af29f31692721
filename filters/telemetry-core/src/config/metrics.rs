//! Validating the `metrics` section into [`MetricsConfig`].

use super::raw;
use super::{ConfigError, err};
use crate::metrics::endpoint::{Cidr, Endpoint};
use crate::metrics::histogram::{Buckets, Unit};
use crate::metrics::labels::{self, Builtin, DEFAULT_LABELS, LabelSource};
use crate::metrics::{Dimension, DimensionSource, Family, Kind, MetricsConfig, OtlpMetrics};
use crate::names;
use crate::route::RouteTable;

const F: &str = "metrics";

/// The validated section; `None` when metrics are disabled.
pub(super) fn metrics(raw: raw::Metrics, routes: &RouteTable) -> Result<Option<MetricsConfig>, ConfigError> {
    if !raw.enabled {
        return Ok(None);
    }
    if !(2..=100_000).contains(&raw.max_series) {
        return Err(err(format!("{F}.max_series"), format!("must be from 2 to 100000, got {}", raw.max_series)));
    }
    if !raw.prefix.is_empty() && !labels::is_metric_name(&raw.prefix) {
        return Err(err(
            format!("{F}.prefix"),
            format!("`{}` is not a valid Prometheus metric name prefix", raw.prefix),
        ));
    }
    let reporter = labels::sanitize_value(&raw.reporter);
    let dimensions = dimensions(&raw.dimensions, routes)?;
    let mut families = Vec::new();
    if raw.standard {
        let label_refs: Vec<raw::LabelRef> = match &raw.labels {
            Some(l) => l.clone(),
            None => DEFAULT_LABELS
                .iter()
                .map(|s| raw::LabelRef::Same((*s).to_owned()))
                .chain(dimensions.iter().map(|d| raw::LabelRef::Same(d.name.clone())))
                .collect(),
        };
        let label_list = resolve_labels(&label_refs, &dimensions, &format!("{F}.labels"))?;
        let duration = buckets(&raw.duration_buckets, Unit::Seconds, &format!("{F}.duration_buckets"))?;
        let size = buckets(&raw.size_buckets, Unit::Bytes, &format!("{F}.size_buckets"))?;
        let p = &raw.prefix;
        for (name, kind) in [
            (format!("{p}{}", names::REQUESTS), Kind::Requests),
            (format!("{p}{}", names::REQUEST_DURATION), Kind::Duration(duration)),
            (format!("{p}{}", names::REQUEST_SIZE), Kind::RequestSize(size.clone())),
            (format!("{p}{}", names::RESPONSE_SIZE), Kind::ResponseSize(size)),
        ] {
            families.push(Family { name, kind, labels: label_list.clone(), routes: None });
        }
    }
    for (i, custom) in raw.custom.iter().enumerate() {
        let field = format!("{F}.custom[{i}]");
        families.push(custom_family(custom, &dimensions, routes, &field)?);
    }
    for (i, family) in families.iter().enumerate() {
        if families.iter().take(i).any(|f| f.name == family.name) {
            return Err(err(format!("{F}.custom"), format!("metric `{}` is defined twice", family.name)));
        }
    }
    let endpoint = raw.endpoint.as_ref().map(endpoint).transpose()?;
    let otlp = raw.otlp.as_ref().map(otlp).transpose()?;
    let exemplars = otlp.is_some();
    Ok(Some(MetricsConfig { families, dimensions, max_series: raw.max_series, reporter, endpoint, exemplars, otlp }))
}

fn otlp(raw: &raw::OtlpMetrics) -> Result<OtlpMetrics, ConfigError> {
    if !raw.path.starts_with('/') {
        return Err(err(format!("{F}.otlp.path"), format!("must start with `/`, got `{}`", raw.path)));
    }
    if !(1_000..=3_600_000).contains(&raw.interval_ms) {
        return Err(err(
            format!("{F}.otlp.interval_ms"),
            format!("must be from 1000 (1 s) to 3600000 (1 h), got {}", raw.interval_ms),
        ));
    }
    Ok(OtlpMetrics { path: raw.path.clone(), interval_ms: raw.interval_ms })
}

fn endpoint(raw: &raw::Endpoint) -> Result<Endpoint, ConfigError> {
    if !raw.path.starts_with('/') || raw.path.contains(['?', '#']) {
        return Err(err(format!("{F}.endpoint.path"), format!("must be a path starting with `/`, got `{}`", raw.path)));
    }
    let allow = raw
        .allow
        .iter()
        .enumerate()
        .map(|(i, c)| Cidr::parse(c).map_err(|e| err(format!("{F}.endpoint.allow[{i}]"), e)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Endpoint { path: raw.path.clone(), allow })
}

fn custom_family(
    custom: &raw::CustomMetric,
    dimensions: &[Dimension],
    routes: &RouteTable,
    field: &str,
) -> Result<Family, ConfigError> {
    if !labels::is_metric_name(&custom.name) {
        return Err(err(format!("{field}.name"), format!("`{}` is not a valid Prometheus metric name", custom.name)));
    }
    let histogram = |unit: Unit, default: &[f64]| -> Result<Buckets, ConfigError> {
        buckets(custom.buckets.as_deref().unwrap_or(default), unit, &format!("{field}.buckets"))
    };
    let kind = match custom.kind {
        raw::MetricKind::Requests => {
            if custom.buckets.is_some() || custom.unit.is_some() {
                return Err(err(field, "a `requests` counter takes no `buckets` or `unit`"));
            }
            Kind::Requests
        }
        raw::MetricKind::Duration => {
            let unit = match custom.unit.unwrap_or(raw::UnitName::Seconds) {
                raw::UnitName::Seconds => Unit::Seconds,
                raw::UnitName::Milliseconds => Unit::Milliseconds,
                raw::UnitName::Microseconds => Unit::Microseconds,
            };
            Kind::Duration(histogram(unit, &raw::Metrics::default().duration_buckets)?)
        }
        raw::MetricKind::RequestSize | raw::MetricKind::ResponseSize => {
            if custom.unit.is_some() {
                return Err(err(format!("{field}.unit"), "size histograms are in bytes; remove `unit`"));
            }
            let b = histogram(Unit::Bytes, &raw::Metrics::default().size_buckets)?;
            if custom.kind == raw::MetricKind::RequestSize { Kind::RequestSize(b) } else { Kind::ResponseSize(b) }
        }
    };
    let label_list = resolve_labels(&custom.labels, dimensions, &format!("{field}.labels"))?;
    let family_routes = match &custom.routes {
        Some(list) => {
            for (j, r) in list.iter().enumerate() {
                if routes.id_of(r).is_none() {
                    return Err(err(format!("{field}.routes[{j}]"), format!("`{r}` is not one of `routes`")));
                }
            }
            Some(list.clone())
        }
        None => None,
    };
    Ok(Family { name: custom.name.clone(), kind, labels: label_list, routes: family_routes })
}

fn dimensions(raw: &[raw::Dimension], routes: &RouteTable) -> Result<Vec<Dimension>, ConfigError> {
    let mut out: Vec<Dimension> = Vec::with_capacity(raw.len());
    for (i, d) in raw.iter().enumerate() {
        let field = format!("{F}.dimensions[{i}]");
        if !labels::is_label_name(&d.name) {
            return Err(err(format!("{field}.name"), format!("`{}` is not a valid Prometheus label name", d.name)));
        }
        if Builtin::named(&d.name).is_some() || out.iter().any(|o| o.name == d.name) {
            return Err(err(format!("{field}.name"), format!("`{}` is already a label", d.name)));
        }
        let source = match &d.from {
            raw::DimensionSource::RequestHeader(h) => DimensionSource::RequestHeader(h.to_ascii_lowercase()),
            raw::DimensionSource::ResponseHeader(h) => DimensionSource::ResponseHeader(h.to_ascii_lowercase()),
            raw::DimensionSource::Property(p) if p.is_empty() => {
                return Err(err(
                    format!("{field}.from.property"),
                    "must name a property path, e.g. [\"xds\", \"cluster_name\"]",
                ));
            }
            raw::DimensionSource::Property(p) => DimensionSource::Property(p.clone()),
            raw::DimensionSource::Route(map) => {
                for template in map.keys() {
                    if routes.id_of(template).is_none() {
                        return Err(err(format!("{field}.from.route"), format!("`{template}` is not one of `routes`")));
                    }
                }
                DimensionSource::Route(map.iter().map(|(k, v)| (k.clone(), labels::sanitize_value(v))).collect())
            }
        };
        let allow = d.allow.as_ref().map(|a| a.iter().map(|v| labels::sanitize_value(v)).collect());
        let missing = labels::sanitize_value(d.missing.as_deref().unwrap_or("unknown"));
        out.push(Dimension { name: d.name.clone(), source, allow, missing });
    }
    Ok(out)
}

fn resolve_labels(
    refs: &[raw::LabelRef],
    dimensions: &[Dimension],
    field: &str,
) -> Result<Vec<(String, LabelSource)>, ConfigError> {
    let mut out: Vec<(String, LabelSource)> = Vec::with_capacity(refs.len());
    for (i, r) in refs.iter().enumerate() {
        let (name, from) = match r {
            raw::LabelRef::Same(n) => (n, n),
            raw::LabelRef::Renamed(r) => (&r.name, &r.from),
        };
        if !labels::is_label_name(name) {
            return Err(err(format!("{field}[{i}]"), format!("`{name}` is not a valid Prometheus label name")));
        }
        let source = match (Builtin::named(from), dimensions.iter().position(|d| d.name == *from)) {
            (Some(b), _) => LabelSource::Builtin(b),
            (None, Some(d)) => LabelSource::Dimension(d),
            (None, None) => {
                let known: Vec<&str> = labels::BUILTINS
                    .iter()
                    .map(|(n, _)| *n)
                    .chain(dimensions.iter().map(|d| d.name.as_str()))
                    .collect();
                return Err(err(
                    format!("{field}[{i}]"),
                    format!("`{from}` is not a label; known: {}", known.join(", ")),
                ));
            }
        };
        if out.iter().any(|(n, _)| n == name) {
            return Err(err(format!("{field}[{i}]"), format!("`{name}` is listed twice")));
        }
        out.push((name.clone(), source));
    }
    Ok(out)
}

fn buckets(bounds: &[f64], unit: Unit, field: &str) -> Result<Buckets, ConfigError> {
    Buckets::new(bounds, unit).map_err(|e| err(field, e.to_string()))
}
