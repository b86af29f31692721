//! The configuration schema: which fields each object has, which are required, and how each
//! value is read into the [`raw`] types. Field lists are in declaration order, as serde's were,
//! because "unknown field" messages list them and the array form of a struct follows them.

use super::raw::*;
use crate::json::schema::{
    self as read, Res, boolean, float, newtype_variant, object, option, seq, string, u16_, u32_, unit_variant, usize_,
};
use crate::json::{Content, Reader};

/// Reads the whole document (no check for trailing text, as before).
pub(super) fn config(r: &mut Reader) -> Res<RawConfig> {
    let mut c = RawConfig::default();
    let fields = ["service", "routes", "tracing", "metrics", "access_log", "security", "redaction"];
    object(r, read::ROOT, "RawConfig", &fields, 0, &mut |r, i, p| {
        match i {
            0 => c.service = service(r, p)?,
            1 => c.routes = strings(r, p)?,
            2 => c.tracing = tracing(r, p)?,
            3 => c.metrics = metrics(r, p)?,
            4 => c.access_log = access_log(r, p)?,
            5 => c.security = security(r, p)?,
            _ => c.redaction = redaction(r, p)?,
        }
        Ok(())
    })?;
    Ok(c)
}

fn strings(r: &mut Reader, p: &str) -> Res<Vec<String>> {
    seq(r, p, string)
}

fn service(r: &mut Reader, p: &str) -> Res<Service> {
    let mut s = Service::default();
    object(r, p, "Service", &["name", "version", "namespace", "attributes"], 0, &mut |r, i, p| {
        match i {
            0 => s.name = string(r, p)?,
            1 => s.version = option(r, p, string)?,
            2 => s.namespace = option(r, p, string)?,
            _ => s.attributes = read::string_map(r, p)?,
        }
        Ok(())
    })?;
    Ok(s)
}

fn tracing(r: &mut Reader, p: &str) -> Res<Tracing> {
    let mut t = Tracing::default();
    let fields = [
        "enabled",
        "extract",
        "inject",
        "edge_policy",
        "sampling",
        "trace_id_header",
        "traceresponse",
        "error_on_4xx",
        "exporter",
    ];
    object(r, p, "Tracing", &fields, 0, &mut |r, i, p| {
        match i {
            0 => t.enabled = boolean(r, p)?,
            1 => t.extract = seq(r, p, format_name)?,
            2 => t.inject = seq(r, p, format_name)?,
            3 => {
                t.edge_policy = match unit_variant(r, p, &["trust", "restart"])? {
                    0 => EdgePolicy::Trust,
                    _ => EdgePolicy::Restart,
                }
            }
            4 => t.sampling = sampling(r, p)?,
            5 => t.trace_id_header = string(r, p)?,
            6 => t.traceresponse = boolean(r, p)?,
            7 => t.error_on_4xx = boolean(r, p)?,
            _ => t.exporter = exporter(r, p)?,
        }
        Ok(())
    })?;
    Ok(t)
}

fn format_name(r: &mut Reader, p: &str) -> Res<FormatName> {
    Ok(match unit_variant(r, p, &["tracecontext", "b3", "b3multi"])? {
        0 => FormatName::Tracecontext,
        1 => FormatName::B3,
        _ => FormatName::B3multi,
    })
}

fn sampling(r: &mut Reader, p: &str) -> Res<Sampling> {
    let mut s = Sampling::default();
    object(r, p, "Sampling", &["ratio", "routes"], 0, &mut |r, i, p| {
        match i {
            0 => s.ratio = float(r, p)?,
            _ => s.routes = seq(r, p, route_sampling)?,
        }
        Ok(())
    })?;
    Ok(s)
}

fn route_sampling(r: &mut Reader, p: &str) -> Res<RouteSampling> {
    let mut s = RouteSampling { route: String::new(), sample: Sample::Ratio(0.0) };
    object(r, p, "RouteSampling", &["route", "sample"], 0b11, &mut |r, i, p| {
        match i {
            0 => s.route = string(r, p)?,
            _ => {
                s.sample = match read::content(r, p)? {
                    Content::Str(k) => Sample::Keyword(k),
                    c => Sample::Ratio(read::content_f64(&c).ok_or_else(|| untagged(p, "Sample"))?),
                }
            }
        }
        Ok(())
    })?;
    Ok(s)
}

fn untagged(p: &str, name: &str) -> read::Fail {
    read::fail(p, format!("data did not match any variant of untagged enum {name}"))
}

fn exporter(r: &mut Reader, p: &str) -> Res<Exporter> {
    let mut e = Exporter::default();
    let fields = [
        "cluster",
        "authority",
        "path",
        "headers",
        "timeout_ms",
        "flush_interval_ms",
        "max_batch_spans",
        "max_queue_spans",
        "max_in_flight",
    ];
    object(r, p, "Exporter", &fields, 0, &mut |r, i, p| {
        match i {
            0 => e.cluster = string(r, p)?,
            1 => e.authority = option(r, p, string)?,
            2 => e.path = string(r, p)?,
            3 => e.headers = read::string_map(r, p)?,
            4 => e.timeout_ms = u32_(r, p)?,
            5 => e.flush_interval_ms = u32_(r, p)?,
            6 => e.max_batch_spans = usize_(r, p)?,
            7 => e.max_queue_spans = usize_(r, p)?,
            _ => e.max_in_flight = usize_(r, p)?,
        }
        Ok(())
    })?;
    Ok(e)
}

fn metrics(r: &mut Reader, p: &str) -> Res<Metrics> {
    let mut m = Metrics::default();
    let fields = [
        "enabled",
        "prefix",
        "reporter",
        "max_series",
        "standard",
        "labels",
        "duration_buckets",
        "size_buckets",
        "dimensions",
        "custom",
    ];
    object(r, p, "Metrics", &fields, 0, &mut |r, i, p| {
        match i {
            0 => m.enabled = boolean(r, p)?,
            1 => m.prefix = string(r, p)?,
            2 => m.reporter = string(r, p)?,
            3 => m.max_series = usize_(r, p)?,
            4 => m.standard = boolean(r, p)?,
            5 => m.labels = option(r, p, |r, p| seq(r, p, label_ref))?,
            6 => m.duration_buckets = seq(r, p, float)?,
            7 => m.size_buckets = seq(r, p, float)?,
            8 => m.dimensions = seq(r, p, dimension)?,
            _ => m.custom = seq(r, p, custom_metric)?,
        }
        Ok(())
    })?;
    Ok(m)
}

/// `"name"`, or a rename as `{"name": ..., "from": ...}` (or serde's array form of it).
fn label_ref(r: &mut Reader, p: &str) -> Res<LabelRef> {
    let renamed = |name: &Content, from: &Content| match (name, from) {
        (Content::Str(name), Content::Str(from)) => Some(RenamedLabel { name: name.clone(), from: from.clone() }),
        _ => None,
    };
    let label = match read::content(r, p)? {
        Content::Str(s) => Some(LabelRef::Same(s)),
        Content::Seq(items) => match items.as_slice() {
            [name, from] => renamed(name, from).map(LabelRef::Renamed),
            _ => None,
        },
        Content::Map(entries) => match entries.as_slice() {
            [(a, x), (b, y)] if a == "name" && b == "from" => renamed(x, y).map(LabelRef::Renamed),
            [(a, x), (b, y)] if a == "from" && b == "name" => renamed(y, x).map(LabelRef::Renamed),
            _ => None,
        },
        _ => None,
    };
    label.ok_or_else(|| untagged(p, "LabelRef"))
}

fn dimension(r: &mut Reader, p: &str) -> Res<Dimension> {
    let mut d =
        Dimension { name: String::new(), from: DimensionSource::Property(Vec::new()), allow: None, missing: None };
    object(r, p, "Dimension", &["name", "from", "allow", "missing"], 0b11, &mut |r, i, p| {
        match i {
            0 => d.name = string(r, p)?,
            1 => d.from = source(r, p)?,
            2 => d.allow = option(r, p, strings)?,
            _ => d.missing = option(r, p, string)?,
        }
        Ok(())
    })?;
    Ok(d)
}

fn source(r: &mut Reader, p: &str) -> Res<DimensionSource> {
    newtype_variant(r, p, &["request_header", "response_header", "property", "route"], &mut |r, i, p| {
        Ok(match i {
            0 => DimensionSource::RequestHeader(string(r, p)?),
            1 => DimensionSource::ResponseHeader(string(r, p)?),
            2 => DimensionSource::Property(strings(r, p)?),
            _ => DimensionSource::Route(read::string_map(r, p)?),
        })
    })
}

fn custom_metric(r: &mut Reader, p: &str) -> Res<CustomMetric> {
    let mut c = CustomMetric {
        name: String::new(),
        kind: MetricKind::Requests,
        unit: None,
        buckets: None,
        labels: Vec::new(),
        routes: None,
    };
    let fields = ["name", "kind", "unit", "buckets", "labels", "routes"];
    object(r, p, "CustomMetric", &fields, 0b11, &mut |r, i, p| {
        match i {
            0 => c.name = string(r, p)?,
            1 => {
                let kinds =
                    [MetricKind::Requests, MetricKind::Duration, MetricKind::RequestSize, MetricKind::ResponseSize];
                let i = unit_variant(r, p, &["requests", "duration", "request_size", "response_size"])?;
                c.kind = kinds.get(i).copied().unwrap_or(MetricKind::Requests);
            }
            2 => {
                let units = [UnitName::Seconds, UnitName::Milliseconds, UnitName::Microseconds];
                c.unit =
                    option(r, p, |r, p| unit_variant(r, p, &["s", "ms", "us"]))?.and_then(|i| units.get(i).copied());
            }
            3 => c.buckets = option(r, p, |r, p| seq(r, p, float))?,
            4 => c.labels = seq(r, p, label_ref)?,
            _ => c.routes = option(r, p, strings)?,
        }
        Ok(())
    })?;
    Ok(c)
}

fn access_log(r: &mut Reader, p: &str) -> Res<AccessLog> {
    let mut a = AccessLog::default();
    let fields = ["enabled", "level", "sinks", "fields", "extra", "sampling", "otlp_path"];
    object(r, p, "AccessLog", &fields, 0, &mut |r, i, p| {
        match i {
            0 => a.enabled = boolean(r, p)?,
            1 => {
                let levels = [LogLevelName::Debug, LogLevelName::Info, LogLevelName::Warn, LogLevelName::Error];
                let i = unit_variant(r, p, &["debug", "info", "warn", "error"])?;
                a.level = levels.get(i).copied().unwrap_or(LogLevelName::Info);
            }
            2 => {
                a.sinks = seq(r, p, |r, p| {
                    Ok(match unit_variant(r, p, &["proxy_log", "otlp"])? {
                        0 => SinkName::ProxyLog,
                        _ => SinkName::Otlp,
                    })
                })?
            }
            3 => a.fields = option(r, p, strings)?,
            4 => a.extra = seq(r, p, extra_field)?,
            5 => a.sampling = log_sampling(r, p)?,
            _ => a.otlp_path = string(r, p)?,
        }
        Ok(())
    })?;
    Ok(a)
}

fn extra_field(r: &mut Reader, p: &str) -> Res<ExtraField> {
    let mut e = ExtraField { name: String::new(), from: DimensionSource::Property(Vec::new()) };
    object(r, p, "ExtraField", &["name", "from"], 0b11, &mut |r, i, p| {
        match i {
            0 => e.name = string(r, p)?,
            _ => e.from = source(r, p)?,
        }
        Ok(())
    })?;
    Ok(e)
}

fn log_sampling(r: &mut Reader, p: &str) -> Res<LogSampling> {
    let mut s = LogSampling::default();
    object(r, p, "LogSampling", &["successes", "errors", "routes"], 0, &mut |r, i, p| {
        match i {
            0 => s.successes = float(r, p)?,
            1 => s.errors = float(r, p)?,
            _ => {
                s.routes = seq(r, p, |r, p| {
                    let mut rs = RouteLogSampling { route: String::new(), ratio: 0.0 };
                    object(r, p, "RouteLogSampling", &["route", "ratio"], 0b11, &mut |r, i, p| {
                        match i {
                            0 => rs.route = string(r, p)?,
                            _ => rs.ratio = float(r, p)?,
                        }
                        Ok(())
                    })?;
                    Ok(rs)
                })?
            }
        }
        Ok(())
    })?;
    Ok(s)
}

fn security(r: &mut Reader, p: &str) -> Res<Security> {
    let mut s = Security::default();
    let fields = ["enabled", "statuses", "threshold", "window_s", "max_clients"];
    object(r, p, "Security", &fields, 0, &mut |r, i, p| {
        match i {
            0 => s.enabled = boolean(r, p)?,
            1 => s.statuses = seq(r, p, u16_)?,
            2 => s.threshold = u32_(r, p)?,
            3 => s.window_s = u32_(r, p)?,
            _ => s.max_clients = usize_(r, p)?,
        }
        Ok(())
    })?;
    Ok(s)
}

fn redaction(r: &mut Reader, p: &str) -> Res<Redaction> {
    let mut d = Redaction::default();
    object(r, p, "Redaction", &["headers", "query_params", "patterns", "custom"], 0, &mut |r, i, p| {
        match i {
            0 => {
                d.headers = option(r, p, |r, p| {
                    newtype_variant(r, p, &["deny", "allow"], &mut |r, i, p| {
                        let names = strings(r, p)?;
                        Ok(if i == 0 { HeaderRule::Deny(names) } else { HeaderRule::Allow(names) })
                    })
                })?
            }
            1 => d.query_params = option(r, p, strings)?,
            2 => d.patterns = option(r, p, patterns)?,
            _ => d.custom = seq(r, p, custom_redaction)?,
        }
        Ok(())
    })?;
    Ok(d)
}

fn patterns(r: &mut Reader, p: &str) -> Res<PatternSwitches> {
    let mut s = PatternSwitches::default();
    object(r, p, "PatternSwitches", &["bearer", "jwt", "card_numbers", "emails"], 0, &mut |r, i, p| {
        let value = boolean(r, p)?;
        match i {
            0 => s.bearer = value,
            1 => s.jwt = value,
            2 => s.card_numbers = value,
            _ => s.emails = value,
        }
        Ok(())
    })?;
    Ok(s)
}

fn custom_redaction(r: &mut Reader, p: &str) -> Res<CustomRedaction> {
    let mut c = CustomRedaction { regex: None, prefix: None, min_len: None };
    object(r, p, "CustomRedaction", &["regex", "prefix", "min_len"], 0, &mut |r, i, p| {
        match i {
            0 => c.regex = option(r, p, string)?,
            1 => c.prefix = option(r, p, string)?,
            _ => c.min_len = option(r, p, usize_)?,
        }
        Ok(())
    })?;
    Ok(c)
}
