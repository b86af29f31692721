//! Validating the span attributes of the `tracing` section: `request_headers`,
//! `response_headers`, `attributes` and `max_attribute_bytes`.

use super::{ConfigError, err, is_header_name, raw};
use crate::metrics::DimensionSource;
use crate::tracer::attributes::{
    Attribute, MAX_CONFIGURED, MAX_VALUE_BYTES, RESERVED_PREFIXES, Shape, SpanAttributes, allowed_property,
};

const F: &str = "tracing";

/// The longest custom attribute key, in bytes.
const MAX_KEY_BYTES: usize = 128;

/// The validated span attributes: header names lowercased and checked, keys unique and outside
/// the namespaces meshlens fills, Envoy attributes on the allow list, the count and the value
/// limit in bounds.
pub(super) fn span_attributes(raw: &raw::Tracing) -> Result<SpanAttributes, ConfigError> {
    let (min, max) = MAX_VALUE_BYTES;
    if !(min..=max).contains(&raw.max_attribute_bytes) {
        return Err(err(
            format!("{F}.max_attribute_bytes"),
            format!("must be from {min} to {max}, got {}", raw.max_attribute_bytes),
        ));
    }
    let count = raw.request_headers.len() + raw.response_headers.len() + raw.attributes.len();
    if count > MAX_CONFIGURED {
        // The list in which the running count passes the limit.
        let lists = [
            ("request_headers", raw.request_headers.len()),
            ("response_headers", raw.response_headers.len()),
            ("attributes", raw.attributes.len()),
        ];
        let mut total = 0;
        let field = lists.iter().find(|(_, n)| {
            total += n;
            total > MAX_CONFIGURED
        });
        let field = field.map_or("attributes", |(name, _)| name);
        return Err(err(
            format!("{F}.{field}"),
            format!(
                "at most {MAX_CONFIGURED} span attributes (request_headers, response_headers and attributes \
                 together), got {count}"
            ),
        ));
    }
    let mut entries: Vec<Attribute> = Vec::with_capacity(count);
    let lists = [
        ("request_headers", "http.request.header.", &raw.request_headers),
        ("response_headers", "http.response.header.", &raw.response_headers),
    ];
    for (list, prefix, names) in lists {
        for (i, name) in names.iter().enumerate() {
            let name = header(name, &format!("{F}.{list}[{i}]"))?;
            let key = format!("{prefix}{name}");
            if entries.iter().any(|e| e.key == key) {
                return Err(err(format!("{F}.{list}[{i}]"), format!("`{name}` is listed twice")));
            }
            let source = match list {
                "request_headers" => DimensionSource::RequestHeader(name),
                _ => DimensionSource::ResponseHeader(name),
            };
            entries.push(Attribute { key, source, shape: Shape::Values });
        }
    }
    for (i, a) in raw.attributes.iter().enumerate() {
        let field = format!("{F}.attributes[{i}]");
        key(&a.key, &format!("{field}.key"))?;
        if entries.iter().any(|e| e.key == a.key) {
            return Err(err(format!("{field}.key"), format!("`{}` is already an attribute", a.key)));
        }
        let (source, shape) = match &a.from {
            raw::DimensionSource::RequestHeader(h) => {
                (DimensionSource::RequestHeader(header(h, &format!("{field}.from.request_header"))?), Shape::Text)
            }
            raw::DimensionSource::ResponseHeader(h) => {
                (DimensionSource::ResponseHeader(header(h, &format!("{field}.from.response_header"))?), Shape::Text)
            }
            raw::DimensionSource::Property(path) => {
                let shape = allowed_property(path).ok_or_else(|| {
                    err(
                        format!("{field}.from.property"),
                        format!(
                            "`{}` is not an allowed Envoy attribute (see the README's list; headers are read \
                             with request_header or response_header)",
                            path.join(".")
                        ),
                    )
                })?;
                (DimensionSource::Property(path.clone()), shape)
            }
            raw::DimensionSource::Route(_) => {
                return Err(err(format!("{field}.from"), "must be a request_header, response_header or property"));
            }
        };
        entries.push(Attribute { key: a.key.clone(), source, shape });
    }
    Ok(SpanAttributes { entries, max_value_bytes: raw.max_attribute_bytes })
}

/// A header name, lowercased (the conventions' `<key>` is "the normalized HTTP Header name
/// (lowercase)").
fn header(name: &str, field: &str) -> Result<String, ConfigError> {
    if !is_header_name(name) {
        return Err(err(field, format!("`{name}` is not a valid HTTP header name")));
    }
    Ok(name.to_ascii_lowercase())
}

/// A custom attribute key: lowercase letters, digits, `.`, `_` and `-`, starting with a letter
/// (the semantic conventions' naming rules), outside [`RESERVED_PREFIXES`].
fn key(key: &str, field: &str) -> Result<(), ConfigError> {
    let valid = key.len() <= MAX_KEY_BYTES
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if !valid {
        return Err(err(
            field,
            format!(
                "`{key}` is not a valid attribute key (up to {MAX_KEY_BYTES} bytes of a-z, 0-9, `.`, `_`, `-`, \
                 starting with a letter)"
            ),
        ));
    }
    if let Some(prefix) = RESERVED_PREFIXES.iter().find(|p| key.starts_with(*p)) {
        return Err(err(
            field,
            format!(
                "`{key}` is in the `{prefix}` namespace, which meshlens fills itself (headers are captured with \
                 tracing.request_headers and tracing.response_headers)"
            ),
        ));
    }
    Ok(())
}
