//! Validating the `access_log` and `security` sections.

use super::raw;
use super::{ConfigError, err};
use crate::access_log::build::{AccessLogConfig, FIELDS, Field, QueryHash};
use crate::access_log::sha256::HmacKey;
use crate::metrics::DimensionSource;
use crate::pipeline::host::LogLevel;
use crate::redact::{CustomPattern, DEFAULT_DENY_HEADERS, DEFAULT_QUERY_PARAMS, HeaderRule, Patterns, Policy};
use crate::route::RouteTable;
use crate::sampler::Ratio;
use crate::security::SecurityConfig;

/// The shortest `query_hash` key accepted, in bytes (128 bits; RFC 2104 section 3 asks for at
/// least the hash's output length, 32, and a shorter key is weaker, not broken).
pub const MIN_QUERY_HASH_KEY_BYTES: usize = 16;

/// The validated `access_log` section; `None` when disabled or without sinks. `env` reads the VM
/// environment (only for `query_hash.key_env`).
pub(super) fn access_log(
    raw: raw::AccessLog,
    routes: &RouteTable,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<AccessLogConfig>, ConfigError> {
    const F: &str = "access_log";
    if !raw.enabled || raw.sinks.is_empty() {
        return Ok(None);
    }
    let fields = match &raw.fields {
        None => FIELDS.iter().map(|(_, f)| *f).collect(),
        Some(names) => {
            let mut out: Vec<Field> = Vec::with_capacity(names.len());
            for (i, name) in names.iter().enumerate() {
                let field = Field::named(name).ok_or_else(|| {
                    let known: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
                    err(format!("{F}.fields[{i}]"), format!("`{name}` is not a field; known: {}", known.join(", ")))
                })?;
                if out.contains(&field) {
                    return Err(err(format!("{F}.fields[{i}]"), format!("`{name}` is listed twice")));
                }
                out.push(field);
            }
            out
        }
    };
    let mut extra = Vec::with_capacity(raw.extra.len());
    for (i, e) in raw.extra.iter().enumerate() {
        let field = format!("{F}.extra[{i}]");
        let reserved = crate::names::log::HEAD;
        if e.name.is_empty() || reserved.contains(&e.name.as_str()) || Field::named(&e.name).is_some() {
            return Err(err(format!("{field}.name"), format!("`{}` is empty or already a field", e.name)));
        }
        let source = match &e.from {
            raw::DimensionSource::RequestHeader(h) => DimensionSource::RequestHeader(h.to_ascii_lowercase()),
            raw::DimensionSource::ResponseHeader(h) => DimensionSource::ResponseHeader(h.to_ascii_lowercase()),
            raw::DimensionSource::Property(p) if !p.is_empty() => DimensionSource::Property(p.clone()),
            _ => return Err(err(format!("{field}.from"), "must be a request_header, response_header or property")),
        };
        extra.push((e.name.clone(), source));
    }
    let ratio = |value: f64, field: &str| {
        Ratio::new(value).ok_or_else(|| err(field, format!("must be a number from 0 to 1, got {value}")))
    };
    let mut per_route = vec![None; routes.len()];
    for (i, r) in raw.sampling.routes.iter().enumerate() {
        let field = format!("{F}.sampling.routes[{i}]");
        let id = routes
            .id_of(&r.route)
            .ok_or_else(|| err(format!("{field}.route"), format!("`{}` is not one of `routes`", r.route)))?;
        if let Some(slot) = per_route.get_mut(id.0) {
            *slot = Some(ratio(r.ratio, &format!("{field}.ratio"))?);
        }
    }
    if !raw.otlp_path.starts_with('/') {
        return Err(err(format!("{F}.otlp_path"), format!("must start with `/`, got `{}`", raw.otlp_path)));
    }
    let query_hash = query_hash(&raw.query_hash, env)?;
    Ok(Some(AccessLogConfig {
        proxy_log_level: match raw.level {
            raw::LogLevelName::Debug => LogLevel::Debug,
            raw::LogLevelName::Info => LogLevel::Info,
            raw::LogLevelName::Warn => LogLevel::Warn,
            raw::LogLevelName::Error => LogLevel::Error,
        },
        proxy_log: raw.sinks.contains(&raw::SinkName::ProxyLog),
        otlp: raw.sinks.contains(&raw::SinkName::Otlp),
        otlp_path: raw.otlp_path,
        fields,
        extra,
        successes: ratio(raw.sampling.successes, &format!("{F}.sampling.successes"))?,
        errors: ratio(raw.sampling.errors, &format!("{F}.sampling.errors"))?,
        routes: per_route,
        query_hash,
    }))
}

/// The `query_hash` key, from the configuration or the VM environment, checked. Messages never
/// quote the key.
fn query_hash(raw: &raw::QueryHash, env: &dyn Fn(&str) -> Option<String>) -> Result<QueryHash, ConfigError> {
    const F: &str = "access_log.query_hash";
    let (field, key) = match (&raw.key, &raw.key_env) {
        (None, None) => return Ok(QueryHash::Redacted),
        (Some(_), Some(_)) => return Err(err(F, "set `key` or `key_env`, not both")),
        (Some(key), None) => (format!("{F}.key"), key.clone()),
        (None, Some(name)) => {
            let field = format!("{F}.key_env");
            if name.is_empty() {
                return Err(err(field, "must name an environment variable"));
            }
            let key = env(name).ok_or_else(|| {
                err(
                    &field,
                    format!(
                        "`{name}` is not set in the VM environment (Envoy `vm_config.environment_variables`, \
                         Istio `vmConfig.env`)"
                    ),
                )
            })?;
            (field, key)
        }
    };
    if key.len() < MIN_QUERY_HASH_KEY_BYTES {
        return Err(err(
            field,
            format!("the key must be at least {MIN_QUERY_HASH_KEY_BYTES} bytes, got {}", key.len()),
        ));
    }
    Ok(QueryHash::Keyed(HmacKey::new(key.as_bytes())))
}

/// The validated `security` section; `None` when disabled.
pub(super) fn security(raw: raw::Security) -> Result<Option<SecurityConfig>, ConfigError> {
    const F: &str = "security";
    if !raw.enabled {
        return Ok(None);
    }
    if raw.statuses.iter().any(|s| !(100..=599).contains(s)) || raw.statuses.is_empty() {
        return Err(err(format!("{F}.statuses"), "must list HTTP status codes (100 to 599)"));
    }
    if !(1..=1_000_000).contains(&raw.threshold) {
        return Err(err(format!("{F}.threshold"), format!("must be from 1 to 1000000, got {}", raw.threshold)));
    }
    if !(1..=86_400).contains(&raw.window_s) {
        return Err(err(format!("{F}.window_s"), format!("must be from 1 to 86400, got {}", raw.window_s)));
    }
    if !(1..=100_000).contains(&raw.max_clients) {
        return Err(err(format!("{F}.max_clients"), format!("must be from 1 to 100000, got {}", raw.max_clients)));
    }
    Ok(Some(SecurityConfig {
        statuses: raw.statuses,
        threshold: raw.threshold,
        window_nanos: u64::from(raw.window_s) * 1_000_000_000,
        max_clients: raw.max_clients,
    }))
}

/// The validated `redaction` section (the defaults when absent).
pub(super) fn redaction(raw: raw::Redaction) -> Result<Policy, ConfigError> {
    const F: &str = "redaction";
    let mut custom = Vec::with_capacity(raw.custom.len());
    for (i, c) in raw.custom.iter().enumerate() {
        let field = format!("{F}.custom[{i}]");
        custom.push(match (&c.regex, &c.prefix) {
            (Some(regex), None) if c.min_len.is_none() => CustomPattern::Regex(regex.clone()),
            (None, Some(prefix)) => CustomPattern::Prefix { prefix: prefix.clone(), min_len: c.min_len.unwrap_or(0) },
            _ => return Err(err(field, "must be {\"regex\": ...} or {\"prefix\": ..., \"min_len\": ...}")),
        });
    }
    let headers = match raw.headers {
        Some(raw::HeaderRule::Deny(names)) => HeaderRule::Deny(names),
        Some(raw::HeaderRule::Allow(names)) => HeaderRule::Allow(names),
        None => HeaderRule::Deny(DEFAULT_DENY_HEADERS.iter().map(|s| (*s).to_owned()).collect()),
    };
    let query_params =
        raw.query_params.unwrap_or_else(|| DEFAULT_QUERY_PARAMS.iter().map(|s| (*s).to_owned()).collect());
    let p = raw.patterns.unwrap_or_default();
    let patterns = Patterns { bearer: p.bearer, jwt: p.jwt, card_numbers: p.card_numbers, emails: p.emails };
    Policy::new(headers, query_params, patterns, custom).map_err(|e| {
        // The policy names the part (`custom pattern 2: ...`); map it to the config field.
        match e.strip_prefix("custom pattern ").and_then(|r| r.split_once(": ")) {
            Some((i, m)) => err(format!("{F}.custom[{i}]"), m),
            None => err(F, e),
        }
    })
}
