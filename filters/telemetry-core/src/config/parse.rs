//! The configuration schema: which fields each object has, which are required, and how each
//! value is read into the [`raw`] types. Fields and variants are matched by name. Field lists are
//! in declaration order, as serde's were, because "unknown field" messages list them and the
//! array form of a struct follows them.

use super::raw::*;
use crate::json::schema::{
    self as read, Res, boolean, float, newtype_variant, object, option, seq, string, u16_, u32_, unit_variant, usize_,
};
use crate::json::{Content, Reader};

/// Reads the whole document (text after it is not checked).
pub(super) fn config(r: &mut Reader) -> Res<RawConfig> {
    let mut c = RawConfig::default();
    let fields = ["service", "routes", "tracing", "metrics", "access_log", "security", "redaction"];
    object(r, read::ROOT, "RawConfig", &fields, &[], &mut |r, field, p| {
        match field {
            "service" => c.service = service(r, p)?,
            "routes" => c.routes = strings(r, p)?,
            "tracing" => c.tracing = tracing(r, p)?,
            "metrics" => c.metrics = metrics(r, p)?,
            "access_log" => c.access_log = access_log(r, p)?,
            "security" => c.security = security(r, p)?,
            "redaction" => c.redaction = redaction(r, p)?,
            _ => return Err(read::unhandled(p)),
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
    object(r, p, "Service", &["name", "version", "namespace", "attributes"], &[], &mut |r, field, p| {
        match field {
            "name" => s.name = string(r, p)?,
            "version" => s.version = option(r, p, string)?,
            "namespace" => s.namespace = option(r, p, string)?,
            "attributes" => s.attributes = read::string_map(r, p)?,
            _ => return Err(read::unhandled(p)),
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
        "client_span",
        "exporter",
        "request_headers",
        "response_headers",
        "attributes",
        "max_attribute_bytes",
    ];
    object(r, p, "Tracing", &fields, &[], &mut |r, field, p| {
        match field {
            "enabled" => t.enabled = boolean(r, p)?,
            "extract" => t.extract = seq(r, p, format_name)?,
            "inject" => t.inject = seq(r, p, format_name)?,
            "edge_policy" => {
                t.edge_policy = unit_variant(r, p, &[("trust", EdgePolicy::Trust), ("restart", EdgePolicy::Restart)])?
            }
            "sampling" => t.sampling = sampling(r, p)?,
            "trace_id_header" => t.trace_id_header = string(r, p)?,
            "traceresponse" => t.traceresponse = boolean(r, p)?,
            "error_on_4xx" => t.error_on_4xx = boolean(r, p)?,
            "client_span" => {
                t.client_span = unit_variant(
                    r,
                    p,
                    &[("child", ClientSpan::Child), ("off", ClientSpan::Off), ("only", ClientSpan::Only)],
                )?
            }
            "exporter" => t.exporter = exporter(r, p)?,
            "request_headers" => t.request_headers = strings(r, p)?,
            "response_headers" => t.response_headers = strings(r, p)?,
            "attributes" => t.attributes = seq(r, p, span_attribute)?,
            "max_attribute_bytes" => t.max_attribute_bytes = usize_(r, p)?,
            _ => return Err(read::unhandled(p)),
        }
        Ok(())
    })?;
    Ok(t)
}

fn span_attribute(r: &mut Reader, p: &str) -> Res<SpanAttribute> {
    let mut a = SpanAttribute { key: String::new(), from: DimensionSource::Property(Vec::new()) };
    let fields = ["key", "from"];
    object(r, p, "SpanAttribute", &fields, &fields, &mut |r, field, p| {
        match field {
            "key" => a.key = string(r, p)?,
            "from" => a.from = source(r, p)?,
            _ => return Err(read::unhandled(p)),
        }
        Ok(())
    })?;
    Ok(a)
}

fn format_name(r: &mut Reader, p: &str) -> Res<FormatName> {
    unit_variant(
        r,
        p,
        &[("tracecontext", FormatName::Tracecontext), ("b3", FormatName::B3), ("b3multi", FormatName::B3multi)],
    )
}

fn sampling(r: &mut Reader, p: &str) -> Res<Sampling> {
    let mut s = Sampling::default();
    object(r, p, "Sampling", &["ratio", "routes"], &[], &mut |r, field, p| {
        match field {
            "ratio" => s.ratio = float(r, p)?,
            "routes" => s.routes = seq(r, p, route_sampling)?,
            _ => return Err(read::unhandled(p)),
        }
        Ok(())
    })?;
    Ok(s)
}

fn route_sampling(r: &mut Reader, p: &str) -> Res<RouteSampling> {
    let mut s = RouteSampling { route: String::new(), sample: Sample::Ratio(0.0) };
    let fields = ["route", "sample"];
    object(r, p, "RouteSampling", &fields, &fields, &mut |r, field, p| {
        match field {
            "route" => s.route = string(r, p)?,
            "sample" => {
                s.sample = match read::content(r, p)? {
                    Content::Str(k) => Sample::Keyword(k),
                    c => Sample::Ratio(read::content_f64(&c).ok_or_else(|| untagged(p, "Sample"))?),
                }
            }
            _ => return Err(read::unhandled(p)),
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
        "encoding",
        "headers",
        "timeout_ms",
        "flush_interval_ms",
        "max_batch_spans",
        "max_queue_spans",
        "max_in_flight",
    ];
    object(r, p, "Exporter", &fields, &[], &mut |r, field, p| {
        match field {
            "cluster" => e.cluster = string(r, p)?,
            "authority" => e.authority = option(r, p, string)?,
            "path" => e.path = string(r, p)?,
            "encoding" => {
                e.encoding = unit_variant(r, p, &[("protobuf", Encoding::Protobuf), ("json", Encoding::Json)])?
            }
            "headers" => e.headers = read::string_map(r, p)?,
            "timeout_ms" => e.timeout_ms = u32_(r, p)?,
            "flush_interval_ms" => e.flush_interval_ms = u32_(r, p)?,
            "max_batch_spans" => e.max_batch_spans = usize_(r, p)?,
            "max_queue_spans" => e.max_queue_spans = usize_(r, p)?,
            "max_in_flight" => e.max_in_flight = usize_(r, p)?,
            _ => return Err(read::unhandled(p)),
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
        "endpoint",
        "otlp",
    ];
    object(r, p, "Metrics", &fields, &[], &mut |r, field, p| {
        match field {
            "enabled" => m.enabled = boolean(r, p)?,
            "prefix" => m.prefix = string(r, p)?,
            "reporter" => m.reporter = string(r, p)?,
            "max_series" => m.max_series = usize_(r, p)?,
            "standard" => m.standard = boolean(r, p)?,
            "labels" => m.labels = option(r, p, |r, p| seq(r, p, label_ref))?,
            "duration_buckets" => m.duration_buckets = seq(r, p, float)?,
            "size_buckets" => m.size_buckets = seq(r, p, float)?,
            "dimensions" => m.dimensions = seq(r, p, dimension)?,
            "custom" => m.custom = seq(r, p, custom_metric)?,
            "endpoint" => m.endpoint = option(r, p, endpoint)?,
            "otlp" => m.otlp = option(r, p, otlp_metrics)?,
            _ => return Err(read::unhandled(p)),
        }
        Ok(())
    })?;
    Ok(m)
}

fn otlp_metrics(r: &mut Reader, p: &str) -> Res<OtlpMetrics> {
    let mut o = OtlpMetrics::default();
    object(r, p, "OtlpMetrics", &["path", "interval_ms"], &[], &mut |r, field, p| {
        match field {
            "path" => o.path = string(r, p)?,
            "interval_ms" => o.interval_ms = u32_(r, p)?,
            _ => return Err(read::unhandled(p)),
        }
        Ok(())
    })?;
    Ok(o)
}

fn endpoint(r: &mut Reader, p: &str) -> Res<Endpoint> {
    let mut e = Endpoint::default();
    object(r, p, "Endpoint", &["path", "allow"], &[], &mut |r, field, p| {
        match field {
            "path" => e.path = string(r, p)?,
            "allow" => e.allow = strings(r, p)?,
            _ => return Err(read::unhandled(p)),
        }
        Ok(())
    })?;
    Ok(e)
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
    object(r, p, "Dimension", &["name", "from", "allow", "missing"], &["name", "from"], &mut |r, field, p| {
        match field {
            "name" => d.name = string(r, p)?,
            "from" => d.from = source(r, p)?,
            "allow" => d.allow = option(r, p, strings)?,
            "missing" => d.missing = option(r, p, string)?,
            _ => return Err(read::unhandled(p)),
        }
        Ok(())
    })?;
    Ok(d)
}

fn source(r: &mut Reader, p: &str) -> Res<DimensionSource> {
    newtype_variant(r, p, &["request_header", "response_header", "property", "route"], &mut |r, variant, p| {
        Ok(match variant {
            "request_header" => DimensionSource::RequestHeader(string(r, p)?),
            "response_header" => DimensionSource::ResponseHeader(string(r, p)?),
            "property" => DimensionSource::Property(strings(r, p)?),
            "route" => DimensionSource::Route(read::string_map(r, p)?),
            _ => return Err(read::unhandled(p)),
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
    object(r, p, "CustomMetric", &fields, &["name", "kind"], &mut |r, field, p| {
        match field {
            "name" => c.name = string(r, p)?,
            "kind" => {
                let kinds = [
                    ("requests", MetricKind::Requests),
                    ("duration", MetricKind::Duration),
                    ("request_size", MetricKind::RequestSize),
                    ("response_size", MetricKind::ResponseSize),
                ];
                c.kind = unit_variant(r, p, &kinds)?;
            }
            "unit" => {
                let units = [("s", UnitName::Seconds), ("ms", UnitName::Milliseconds), ("us", UnitName::Microseconds)];
                c.unit = option(r, p, |r, p| unit_variant(r, p, &units))?;
            }
            "buckets" => c.buckets = option(r, p, |r, p| seq(r, p, float))?,
            "labels" => c.labels = seq(r, p, label_ref)?,
            "routes" => c.routes = option(r, p, strings)?,
            _ => return Err(read::unhandled(p)),
        }
        Ok(())
    })?;
    Ok(c)
}

fn access_log(r: &mut Reader, p: &str) -> Res<AccessLog> {
    let mut a = AccessLog::default();
    let fields = ["enabled", "level", "sinks", "fields", "extra", "sampling", "otlp_path", "query_hash"];
    object(r, p, "AccessLog", &fields, &[], &mut |r, field, p| {
        match field {
            "enabled" => a.enabled = boolean(r, p)?,
            "level" => {
                let levels = [
                    ("debug", LogLevelName::Debug),
                    ("info", LogLevelName::Info),
                    ("warn", LogLevelName::Warn),
                    ("error", LogLevelName::Error),
                ];
                a.level = unit_variant(r, p, &levels)?;
            }
            "sinks" => {
                let sinks = [("proxy_log", SinkName::ProxyLog), ("otlp", SinkName::Otlp)];
                a.sinks = seq(r, p, |r, p| unit_variant(r, p, &sinks))?
            }
            "fields" => a.fields = option(r, p, strings)?,
            "extra" => a.extra = seq(r, p, extra_field)?,
            "sampling" => a.sampling = log_sampling(r, p)?,
            "otlp_path" => a.otlp_path = string(r, p)?,
            "query_hash" => a.query_hash = query_hash(r, p)?,
            _ => return Err(read::unhandled(p)),
        }
        Ok(())
    })?;
    Ok(a)
}

fn query_hash(r: &mut Reader, p: &str) -> Res<QueryHash> {
    let mut q = QueryHash::default();
    object(r, p, "QueryHash", &["key", "key_env"], &[], &mut |r, field, p| {
        match field {
            "key" => q.key = option(r, p, string)?,
            "key_env" => q.key_env = option(r, p, string)?,
            _ => return Err(read::unhandled(p)),
        }
        Ok(())
    })?;
    Ok(q)
}

fn extra_field(r: &mut Reader, p: &str) -> Res<ExtraField> {
    let mut e = ExtraField { name: String::new(), from: DimensionSource::Property(Vec::new()) };
    let fields = ["name", "from"];
    object(r, p, "ExtraField", &fields, &fields, &mut |r, field, p| {
        match field {
            "name" => e.name = string(r, p)?,
            "from" => e.from = source(r, p)?,
            _ => return Err(read::unhandled(p)),
        }
        Ok(())
    })?;
    Ok(e)
}

fn log_sampling(r: &mut Reader, p: &str) -> Res<LogSampling> {
    let mut s = LogSampling::default();
    object(r, p, "LogSampling", &["successes", "errors", "routes"], &[], &mut |r, field, p| {
        match field {
            "successes" => s.successes = float(r, p)?,
            "errors" => s.errors = float(r, p)?,
            "routes" => {
                s.routes = seq(r, p, |r, p| {
                    let mut rs = RouteLogSampling { route: String::new(), ratio: 0.0 };
                    let fields = ["route", "ratio"];
                    object(r, p, "RouteLogSampling", &fields, &fields, &mut |r, field, p| {
                        match field {
                            "route" => rs.route = string(r, p)?,
                            "ratio" => rs.ratio = float(r, p)?,
                            _ => return Err(read::unhandled(p)),
                        }
                        Ok(())
                    })?;
                    Ok(rs)
                })?
            }
            _ => return Err(read::unhandled(p)),
        }
        Ok(())
    })?;
    Ok(s)
}

fn security(r: &mut Reader, p: &str) -> Res<Security> {
    let mut s = Security::default();
    let fields = ["enabled", "statuses", "threshold", "window_s", "max_clients"];
    object(r, p, "Security", &fields, &[], &mut |r, field, p| {
        match field {
            "enabled" => s.enabled = boolean(r, p)?,
            "statuses" => s.statuses = seq(r, p, u16_)?,
            "threshold" => s.threshold = u32_(r, p)?,
            "window_s" => s.window_s = u32_(r, p)?,
            "max_clients" => s.max_clients = usize_(r, p)?,
            _ => return Err(read::unhandled(p)),
        }
        Ok(())
    })?;
    Ok(s)
}

fn redaction(r: &mut Reader, p: &str) -> Res<Redaction> {
    let mut d = Redaction::default();
    object(r, p, "Redaction", &["headers", "query_params", "patterns", "custom"], &[], &mut |r, field, p| {
        match field {
            "headers" => {
                d.headers = option(r, p, |r, p| {
                    newtype_variant(r, p, &["deny", "allow"], &mut |r, variant, p| match variant {
                        "deny" => Ok(HeaderRule::Deny(strings(r, p)?)),
                        "allow" => Ok(HeaderRule::Allow(strings(r, p)?)),
                        _ => Err(read::unhandled(p)),
                    })
                })?
            }
            "query_params" => d.query_params = option(r, p, strings)?,
            "patterns" => d.patterns = option(r, p, patterns)?,
            "custom" => d.custom = seq(r, p, custom_redaction)?,
            _ => return Err(read::unhandled(p)),
        }
        Ok(())
    })?;
    Ok(d)
}

fn patterns(r: &mut Reader, p: &str) -> Res<PatternSwitches> {
    let mut s = PatternSwitches::default();
    object(r, p, "PatternSwitches", &["bearer", "jwt", "card_numbers", "emails"], &[], &mut |r, field, p| {
        match field {
            "bearer" => s.bearer = boolean(r, p)?,
            "jwt" => s.jwt = boolean(r, p)?,
            "card_numbers" => s.card_numbers = boolean(r, p)?,
            "emails" => s.emails = boolean(r, p)?,
            _ => return Err(read::unhandled(p)),
        }
        Ok(())
    })?;
    Ok(s)
}

fn custom_redaction(r: &mut Reader, p: &str) -> Res<CustomRedaction> {
    let mut c = CustomRedaction { regex: None, prefix: None, min_len: None };
    object(r, p, "CustomRedaction", &["regex", "prefix", "min_len"], &[], &mut |r, field, p| {
        match field {
            "regex" => c.regex = option(r, p, string)?,
            "prefix" => c.prefix = option(r, p, string)?,
            "min_len" => c.min_len = option(r, p, usize_)?,
            _ => return Err(read::unhandled(p)),
        }
        Ok(())
    })?;
    Ok(c)
}
