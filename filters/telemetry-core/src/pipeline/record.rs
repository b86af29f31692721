//! Stream end: what a finished request becomes (metric updates, a security event, the access-log
//! line and OTLP log record, the span).

use std::borrow::Cow;

use super::host::{self, Host, LogLevel, LogSink};
use super::{Exchange, Pipeline, Request, plan};
use crate::access_log::build::{self as log_build, Field, RequestLog};
use crate::access_log::{LogRecord, line};
use crate::config::ClientSpan;
use crate::grpc;
use crate::metrics::{Exemplar, RequestFacts};
use crate::names;
use crate::security;
use crate::tracer::attributes::Captured;
use crate::tracer::client::{self, Upstream};
use crate::tracer::{self, ActiveSpan, Clean, Completion};

/// Per extra access-log field: the value its twin metric dimension already redacted (`None`: no
/// twin, or metrics off).
type Shared = Vec<Option<Option<String>>>;

impl Pipeline {
    /// Reads what the stream end needs from the host, then records the request everywhere.
    pub(super) fn complete(&mut self, exchange: &mut Exchange, host: &impl Host) {
        let wants_span = exchange.span.as_ref().is_some_and(|s| s.sampled);
        let wants_client = wants_span || self.config.access_log.is_some() || self.config.security.is_some();
        if !wants_client && self.config.metrics.is_none() {
            return;
        }
        // Envoy attributes, read only for what the stream did not see pass: the status when no
        // response headers came (a reset), never the body sizes (summed from the body callbacks).
        let status = exchange
            .status
            .or_else(|| host::property_u64(host, &self.plan.response_code).and_then(|c| u16::try_from(c).ok()))
            .unwrap_or(0);
        let done = Completion {
            end_unix_nanos: host.now_unix_nanos(),
            status,
            request_body_bytes: Some(exchange.request_body_bytes),
            response_body_bytes: Some(exchange.response_body_bytes),
            client_address: if wants_client { host::property_string(host, &self.plan.source_address) } else { None },
            forwarded_for: None,
            protocol: if wants_span { host::property_string(host, &self.plan.request_protocol) } else { None },
            grpc: exchange
                .request
                .as_ref()
                .and_then(|r| r.attributes.grpc)
                .map(|protocol| grpc::Call { protocol, status: exchange.grpc_status }),
            grpc_message: exchange.grpc_message.take(),
        };
        let shared = self.record_metrics(exchange, &done, host);
        self.security(&done, host);
        let span = exchange.span.take();
        // A sampled span's capture, moved out (the request is only borrowed from here on).
        let capture = exchange.request.as_mut().map(|r| std::mem::take(&mut r.span)).unwrap_or_default();
        let Some(request) = &exchange.request else { return };
        // The path and the user agent are redacted once, when the line or the span first needs
        // them, and the result is shared (and counted once).
        let mut clean = None;
        let mut upstream = UpstreamReads::default();
        self.access_log(request, span.as_ref(), &done, host, &mut clean, shared, &mut upstream);
        let (Some(cfg), Some(span)) = (&self.config.tracing, span) else { return };
        if !span.sampled {
            return;
        }
        let client_id = span.client;
        let policy = &self.config.redaction;
        let clean = clean.get_or_insert_with(|| Clean::of(&request.attributes, policy, &mut self.redactions, true));
        let captured = if cfg.attributes.is_empty() { Vec::new() } else { self.span_captures(capture.values, host) };
        let done = Completion { forwarded_for: capture.forwarded_for, ..done };
        let Some(mut finished) = tracer::finish_clean(
            cfg,
            &self.config.routes,
            span,
            &request.attributes,
            clean,
            &done,
            policy,
            &mut self.redactions,
        ) else {
            return;
        };
        finished.attributes.extend(cfg.attributes.values(captured, policy, &mut self.redactions));
        let Some(exporter) = &mut self.spans else { return };
        // A gRPC-Web call without a status (its trailers were in the body) follows the HTTP
        // rules, as on the SERVER span.
        let grpc = done.grpc.filter(|c| c.decides_status());
        // The CLIENT span is derived from the finished SERVER span and the upstream's attributes:
        // the request is neither read nor redacted again.
        match (cfg.client_span, &self.plan.client_span) {
            (ClientSpan::Child, Some(reads)) => {
                let facts = upstream.facts(&self.plan, reads, host);
                let child = client_id.and_then(|id| client::child(&finished, id, facts, done.status, grpc));
                exporter.push(host, finished);
                if let Some(child) = child {
                    exporter.push(host, child);
                }
            }
            (ClientSpan::Only, Some(reads)) => {
                let facts = upstream.facts(&self.plan, reads, host);
                exporter.push(host, client::into_primary(finished, facts, done.status, grpc));
            }
            _ => exporter.push(host, finished),
        }
    }

    /// A sampled span's configured attribute values: the headers captured as they passed, the
    /// Envoy attributes read now.
    fn span_captures(&self, values: Vec<Captured>, host: &impl Host) -> Vec<Captured> {
        values
            .into_iter()
            .zip(&self.plan.span_attributes)
            .map(|(captured, source)| match source {
                plan::Source::Property(p) => host.property(p).map_or(Captured::Absent, Captured::Property),
                _ => captured,
            })
            .collect()
    }

    /// Records the finished request into the metrics engine. Returns, per extra log field, the
    /// redacted value of its twin dimension (same source): redacted once, shared by label and
    /// field.
    fn record_metrics(&mut self, exchange: &mut Exchange, done: &Completion, host: &impl Host) -> Shared {
        let mut shared: Shared = vec![None; self.plan.log_extra.len()];
        let (Some(config), Some(engine), Some(request)) =
            (&self.config.metrics, &mut self.metrics, &mut exchange.request)
        else {
            return shared;
        };
        let route = request.attributes.route.and_then(|r| self.config.routes.template(r));
        let (plan, policy, counts) = (&self.plan, &self.config.redaction, &mut self.redactions);
        let dimensions = config.dimension_values(route, |i, source| {
            let raw = match plan.dimensions.get(i) {
                Some(plan::Source::Property(p)) => host::property_string(host, p),
                _ => request.dimensions.get_mut(i).and_then(Option::take),
            };
            let clean = raw.as_deref().and_then(|v| source.clean(policy, v, counts)).map(Cow::into_owned);
            for (twin, slot) in plan.log_extra_twins.iter().zip(shared.iter_mut()) {
                if *twin == Some(i) {
                    *slot = Some(clean.clone());
                }
            }
            clean
        });
        let facts = RequestFacts {
            // No method (a request Envoy's codec refused): no standard method, so `other`.
            method: request.attributes.method().unwrap_or_default(),
            route,
            status: done.status,
            duration_nanos: done.end_unix_nanos.saturating_sub(request.start_nanos),
            request_bytes: done.request_body_bytes.unwrap_or(0),
            response_bytes: done.response_body_bytes.unwrap_or(0),
            dimensions: &dimensions,
            exemplar: exchange.span.as_ref().filter(|s| s.sampled).map(|s| Exemplar {
                trace_id: s.context.trace_id,
                span_id: s.context.span_id,
                time_unix_nanos: done.end_unix_nanos,
            }),
            grpc: done.grpc,
        };
        engine.record(&facts);
        shared
    }

    /// Counts an access failure and, when it completes a burst, emits the security event.
    fn security(&mut self, done: &Completion, host: &impl Host) {
        let Some(detector) = &mut self.security else { return };
        if !detector.is_failure(done.status) {
            return;
        }
        let kind = security::failure_kind(done.status);
        self.counters.add_labelled(host, &format!("{};kind={kind}", names::SECURITY_RESPONSES), 1);
        // The client's address without its port: one client, many connections.
        let client = done.client_address.as_deref().map_or("unknown", client_ip);
        if let Some(event) = detector.observe(client, done.end_unix_nanos) {
            let name = format!("{};event_type={}", names::SECURITY_EVENTS, event.event_type);
            self.counters.add_labelled(host, &name, 1);
            let record = event.record(done.end_unix_nanos, self.config.service_name());
            self.emit_log(host, record, LogLevel::Warn);
        }
    }

    /// Writes the request's access-log record to its sinks, when it is sampled.
    #[allow(clippy::too_many_arguments)]
    fn access_log<'r>(
        &mut self,
        request: &'r Request,
        span: Option<&ActiveSpan>,
        done: &Completion,
        host: &impl Host,
        clean: &mut Option<Clean<'r>>,
        shared: Shared,
        upstream: &mut UpstreamReads,
    ) {
        let Some(cfg) = &self.config.access_log else { return };
        let trace = span.map(|s| (s.context.trace_id, s.context.span_id, s.context.flags.0));
        // Requests with a trace are sampled on its id; only the others draw a random number.
        let random = match trace {
            Some(_) => 0,
            None => self.ids.next_u64(),
        };
        let severity = log_build::severity(done.status, done.grpc);
        if !log_build::sampled(cfg, request.attributes.route, severity, trace.map(|t| t.0), random) {
            return;
        }
        let wants = |f: Field| cfg.fields.contains(&f);
        // Read when the line shows them or the CLIENT span needs them (the plan says which).
        let cluster = self.plan.cluster_name.as_ref().and_then(|p| host::property_string(host, p));
        // No cluster (a direct response, a local reply before routing): no upstream host either,
        // and one property read saved.
        let address = match (&cluster, &self.plan.upstream_address) {
            (Some(_), Some(p)) => host::property_string(host, p),
            _ => None,
        };
        let policy = &self.config.redaction;
        let extra: Vec<Option<String>> = self
            .plan
            .log_extra
            .iter()
            .zip(&request.log_extra)
            .zip(&cfg.extra)
            .zip(shared)
            .map(|(((source, captured), (_, from)), shared)| {
                shared.unwrap_or_else(|| {
                    let raw = match source {
                        plan::Source::Property(p) => host::property_string(host, p),
                        _ => captured.clone(),
                    };
                    raw.and_then(|v| from.clean(policy, &v, &mut self.redactions).map(Cow::into_owned))
                })
            })
            .collect();
        let req = RequestLog {
            end_unix_nanos: done.end_unix_nanos,
            trace,
            service: self.config.service_name(),
            // No method: `_OTHER`, the semantic conventions' word for a method outside the set.
            method: request.attributes.method().unwrap_or("_OTHER"),
            route: request.attributes.route.and_then(|r| self.config.routes.template(r)),
            // Query included: its hash is logged, never the query.
            path: request.attributes.raw_path(),
            status: done.status,
            duration_nanos: done.end_unix_nanos.saturating_sub(request.start_nanos),
            request_bytes: done.request_body_bytes.unwrap_or(0),
            response_bytes: done.response_body_bytes.unwrap_or(0),
            upstream_cluster: cluster.as_deref().filter(|_| wants(Field::UpstreamCluster)),
            upstream_host: address.as_deref().filter(|_| wants(Field::UpstreamHost)),
            client_address: done.client_address.as_deref().map(without_port_zero),
            user_agent: request.attributes.user_agent(),
            request_id: request.attributes.request_id(),
            extra: &extra,
            clean: None,
            grpc: done.grpc,
        };
        // The user agent is redacted only when the line or the (sampled) span shows it.
        let user_agent = self.plan.log_shows_user_agent || span.is_some_and(|s| s.sampled);
        let clean =
            clean.get_or_insert_with(|| Clean::of(&request.attributes, policy, &mut self.redactions, user_agent));
        let req = RequestLog { clean: Some((&clean.path, clean.user_agent.as_deref())), ..req };
        // The proxy-log line alone is written straight from the request; with the OTLP queue,
        // which must own a record, the record is built once and the line encoded from it.
        if let Some(exporter) = &mut self.logs {
            let record = log_build::build(cfg, policy, &mut self.redactions, &req);
            if cfg.proxy_log {
                self.line.clear();
                line::encode(&record, &mut self.line);
                host.log(cfg.proxy_log_level, &self.line);
            }
            exporter.push(host, record);
        } else if cfg.proxy_log {
            self.line.clear();
            line::encode_request(cfg, policy, &mut self.redactions, &req, &mut self.stamp, &mut self.line);
            host.log(cfg.proxy_log_level, &self.line);
        }
        // What was read is the CLIENT span's too (moved, not read again).
        if self.plan.client_span.is_some() {
            upstream.cluster = Some(cluster);
            upstream.address = Some(address);
        }
    }

    /// Sends a record to the configured sinks: one JSON line through the proxy log, and the OTLP
    /// queue.
    fn emit_log(&mut self, host: &impl Host, record: LogRecord, level: LogLevel) {
        let Some(cfg) = &self.config.access_log else { return };
        if cfg.proxy_log {
            self.line.clear();
            line::encode(&record, &mut self.line);
            LogSink::log(host, level, &self.line);
        }
        if let Some(exporter) = &mut self.logs {
            exporter.push(host, record);
        }
    }
}

/// Envoy's `source.address` as the access line shows it. An address Envoy took from
/// `x-forwarded-for` has port 0 (the header carries no port): the port is left out rather than
/// written as `:0`. `203.0.113.9` from `203.0.113.9:0`, `2001:db8::1` from `[2001:db8::1]:0`.
fn without_port_zero(address: &str) -> &str {
    if let Some(v6) = address.strip_prefix('[').and_then(|a| a.strip_suffix("]:0")) {
        return v6;
    }
    match address.strip_suffix(":0") {
        Some(v4) if !v4.contains(':') => v4,
        _ => address,
    }
}

/// The upstream attributes the access line and the CLIENT span share, each read at most once
/// per request, and only when one of them needs it.
#[derive(Debug, Default)]
struct UpstreamReads {
    /// `xds.cluster_name`, once read.
    cluster: Option<Option<String>>,
    /// `upstream.address`, once read.
    address: Option<Option<String>>,
}

impl UpstreamReads {
    /// Reads `xds.cluster_name` (when the plan reads it and it was not read yet); whether there
    /// is one.
    fn load_cluster(&mut self, plan: &plan::Plan, host: &impl Host) -> bool {
        self.cluster
            .get_or_insert_with(|| plan.cluster_name.as_ref().and_then(|p| host::property_string(host, p)))
            .is_some()
    }

    /// Reads `upstream.address` (when the plan reads it and it was not read yet).
    fn load_address(&mut self, plan: &plan::Plan, host: &impl Host) {
        self.address.get_or_insert_with(|| plan.upstream_address.as_ref().and_then(|p| host::property_string(host, p)));
    }

    /// What the CLIENT span needs, the cluster and address moved out of the cache (the access
    /// line is written by then). Without a cluster nothing went upstream and nothing else is
    /// read; the flags and the details are read only when the upstream did not answer completely
    /// (no `response.backend_latency`), the one case where they can tell a failure.
    fn facts(&mut self, plan: &plan::Plan, reads: &plan::ClientSpanReads, host: &impl Host) -> Upstream {
        if !self.load_cluster(plan, host) {
            return Upstream::default();
        }
        self.load_address(plan, host);
        let cluster = self.cluster.take().flatten();
        let address = self.address.take().flatten();
        let backend_latency_nanos = host::property_u64(host, &reads.backend_latency);
        let (pool_ready_nanos, flags, responded) = match backend_latency_nanos {
            Some(_) => (host::property_u64(host, &reads.pool_ready), 0, true),
            None => {
                let flags = host::property_u64(host, &reads.flags).unwrap_or(0);
                let details = host::property_string(host, &reads.code_details);
                (None, flags, details.as_deref() == Some("via_upstream"))
            }
        };
        Upstream { cluster, address, pool_ready_nanos, backend_latency_nanos, flags, responded }
    }
}

/// `10.0.0.7` from `10.0.0.7:5000`, `::1` from `[::1]:5000`.
fn client_ip(address: &str) -> &str {
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match address.rsplit_once(':') {
        Some((ip, port)) if !ip.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => ip,
        _ => address,
    }
}

#[cfg(test)]
mod tests {
    use super::{client_ip, without_port_zero};

    #[test]
    fn a_port_of_zero_is_left_out_of_the_logged_address() {
        assert_eq!(without_port_zero("203.0.113.9:0"), "203.0.113.9");
        assert_eq!(without_port_zero("[2001:db8::1]:0"), "2001:db8::1");
        assert_eq!(without_port_zero("10.0.0.7:5000"), "10.0.0.7:5000");
        assert_eq!(without_port_zero("10.0.0.7:10"), "10.0.0.7:10");
        assert_eq!(without_port_zero("[::1]:40"), "[::1]:40");
        assert_eq!(without_port_zero("::0"), "::0");
    }

    #[test]
    fn client_ip_drops_the_port_of_v4_and_v6_addresses() {
        assert_eq!(client_ip("10.0.0.7:5000"), "10.0.0.7");
        assert_eq!(client_ip("[::1]:5000"), "::1");
        assert_eq!(client_ip("10.0.0.7"), "10.0.0.7");
        assert_eq!(client_ip("fe80::1"), "fe80::1");
        assert_eq!(client_ip("unix:/tmp/sock"), "unix:/tmp/sock");
    }
}
