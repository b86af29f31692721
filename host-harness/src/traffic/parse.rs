//! Reading and validating traffic lines. Every error names the line, and the field as a dotted
//! path (`response.status: ...`).

use super::json::{Json, Number};
use super::{Exchange, Response, TrafficError};
use crate::properties::Value;
use crate::stream::Headers;
use crate::suggest::closest;

/// The latest `at_ms` of a replay: 7 days. Anything later is a mistake (Unix milliseconds
/// instead of milliseconds since the start, say).
pub const MAX_AT_MS: u64 = 7 * 24 * 3_600_000;
/// The longest `response.latency_ms`: 1 hour.
pub const MAX_LATENCY_MS: u64 = 3_600_000;

/// The newest traffic format version, named by the header line `{"meshlens_traffic": 2}`.
pub const FORMAT_VERSION: u64 = 2;

/// The fields of an exchange line, in the order the documentation lists them (version 1).
const EXCHANGE_FIELDS: [&str; 10] =
    ["method", "path", "authority", "scheme", "headers", "body", "response", "at_ms", "client", "note"];
/// The fields of `response` (version 1).
const RESPONSE_FIELDS: [&str; 4] = ["status", "headers", "body", "latency_ms"];
/// The fields of an exchange line in version 2.
const EXCHANGE_FIELDS_V2: [&str; 13] = [
    "method",
    "path",
    "authority",
    "scheme",
    "headers",
    "body",
    "chunks",
    "trailers",
    "properties",
    "response",
    "at_ms",
    "client",
    "note",
];
/// The fields of `response` in version 2.
const RESPONSE_FIELDS_V2: [&str; 6] = ["status", "headers", "body", "chunks", "trailers", "latency_ms"];
/// The fields of `properties` (version 2).
const PROPERTY_FIELDS: [&str; 3] = ["metadata", "filter_state", "attributes"];

/// A body as its callbacks receive it, one chunk a call.
type Chunks = Vec<Vec<u8>>;

/// What a reader carries from line to line.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct State {
    /// The previous exchange's (at_ms, end).
    previous: Option<(u64, u64)>,
    /// The format version: 1 until a header line names another.
    version: Option<u64>,
    /// Whether an exchange (or the header) was read: the header must come first.
    started: bool,
}

impl State {
    fn version(&self) -> u64 {
        self.version.unwrap_or(1)
    }
}

/// Parses every line of a traffic file.
pub(super) fn parse(text: &str) -> Result<Vec<Exchange>, TrafficError> {
    let mut out: Vec<Exchange> = Vec::new();
    let mut state = State::default();
    for (index, raw) in text.lines().enumerate() {
        if let Some(exchange) = parse_line(index + 1, raw, &mut state)? {
            out.push(exchange);
        }
    }
    Ok(out)
}

/// Parses line `line` (1-based; a UTF-8 byte order mark at the start of line 1 is skipped).
/// `state` carries the format version and the previous exchange's times from line to line.
pub(super) fn parse_line(line: usize, raw: &str, state: &mut State) -> Result<Option<Exchange>, TrafficError> {
    let raw = if line == 1 { raw.strip_prefix('\u{feff}').unwrap_or(raw) } else { raw };
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("//") {
        return Ok(None);
    }
    let value: Json = serde_json::from_str(raw).map_err(|e| syntax_error(line, &e))?;
    let schema_error = |message: String| TrafficError { line, column: schema_column(raw, &message), message };
    if let Json::Object(members) = &value
        && let Some((_, version)) = members.iter().find(|(k, _)| k == "meshlens_traffic")
    {
        state.version = Some(header(members, version, state.started).map_err(schema_error)?);
        state.started = true;
        return Ok(None);
    }
    state.started = true;
    let exchange = exchange(line, value, state.previous, state.version()).map_err(schema_error)?;
    state.previous = Some((exchange.at_ms, exchange.at_ms + exchange.response.latency_ms));
    Ok(Some(exchange))
}

/// The header line `{"meshlens_traffic": 2}`: the version, checked.
fn header(members: &[(String, Json)], version: &Json, started: bool) -> Result<u64, String> {
    if started {
        return Err(String::from("meshlens_traffic: the format header must be the first line (before any exchange)"));
    }
    if let Some((key, _)) = members.iter().find(|(k, _)| k != "meshlens_traffic") {
        return Err(format!("unknown field `{key}`: the header line holds only `meshlens_traffic`"));
    }
    match version {
        Json::Number(Number::Unsigned(v @ 1..=FORMAT_VERSION)) => Ok(*v),
        Json::Number(n) => {
            Err(format!("meshlens_traffic: version {n} is not supported (this harness reads 1 to {FORMAT_VERSION})"))
        }
        other => Err(format!("meshlens_traffic: expected a version number, got {}", other.kind())),
    }
}

/// The column of the field a schema error names (`response.status: ...`, ``unknown field `x` ``).
fn schema_column(raw: &str, message: &str) -> Option<usize> {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        return rest.split_once('`').and_then(|(path, _)| super::locate::column(raw, path, true));
    }
    let (path, _) = message.split_once(": ")?;
    if path.contains(' ') {
        return None;
    }
    super::locate::column(raw, path, false)
}

/// A JSON syntax error, without `serde_json`'s " at line 1 column N" (every line is parsed
/// alone, so its line is always 1; the column goes into the error).
fn syntax_error(line: usize, e: &serde_json::Error) -> TrafficError {
    let text = e.to_string();
    let message = text.rsplit_once(" at line ").map_or(text.as_str(), |(m, _)| m);
    let message = match e.classify() {
        serde_json::error::Category::Data => message.to_owned(),
        _ => format!("not valid JSON: {message}"),
    };
    TrafficError { line, column: Some(e.column()).filter(|c| *c > 0), message }
}

/// One exchange from its line's value. `previous` is the previous exchange's (at_ms, end).
fn exchange(line: usize, value: Json, previous: Option<(u64, u64)>, version: u64) -> Result<Exchange, String> {
    let known: &[&str] = if version >= 2 { &EXCHANGE_FIELDS_V2 } else { &EXCHANGE_FIELDS };
    let mut fields = Fields::new(value, "", "an exchange", known)?;
    let method = fields.string("method")?.unwrap_or_else(|| String::from("GET"));
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_') {
        return Err(format!("method: not an HTTP method: {method:?}"));
    }
    let path = fields.string("path")?.ok_or("missing field `path` (the request's :path, e.g. \"/api/v1/query\")")?;
    if !(path.starts_with('/') || path == "*") {
        return Err(format!("path: must start with `/`, got {path:?}"));
    }
    let authority = fields.string("authority")?.unwrap_or_else(|| String::from("localhost"));
    let scheme = fields.string("scheme")?.unwrap_or_else(|| String::from("http"));
    let headers = fields.headers("headers")?;
    let (body, chunks) = fields.body_or_chunks()?;
    let trailers = fields.headers("trailers")?;
    let properties = match fields.take("properties") {
        None => Vec::new(),
        Some(value) => properties(value)?,
    };
    let response = match fields.take("response") {
        None => Response {
            status: 200,
            headers: Vec::new(),
            body: Vec::new(),
            chunks: None,
            trailers: Vec::new(),
            latency_ms: 0,
        },
        Some(value) => response(value, version)?,
    };
    let at_ms = fields.millis("at_ms")?;
    let client = match fields.string("client")? {
        Some(c) => Some(client_address(&c)?),
        None => None,
    };
    fields.string("note")?;
    if let Some(at) = at_ms.filter(|at| *at > MAX_AT_MS) {
        return Err(format!(
            "at_ms: {at} is past the longest replay, {MAX_AT_MS} ms (7 days); at_ms counts milliseconds since \
             the replay started, not since the Unix epoch"
        ));
    }
    let at_ms = match (at_ms, previous) {
        (Some(at), Some((previous_at, _))) if at < previous_at => {
            return Err(format!(
                "at_ms: {at} is earlier than the previous exchange's at_ms {previous_at} (lines must be in time order)"
            ));
        }
        (Some(at), _) => at,
        (None, Some((_, previous_end))) if previous_end > MAX_AT_MS => {
            return Err(format!(
                "at_ms: this exchange would start when the previous one ended, at {previous_end} ms, past the \
                 longest replay, {MAX_AT_MS} ms (7 days)"
            ));
        }
        (None, Some((_, previous_end))) => previous_end,
        (None, None) => 0,
    };
    Ok(Exchange {
        line,
        method,
        path,
        authority,
        scheme,
        headers,
        body,
        chunks,
        trailers,
        properties,
        response,
        at_ms,
        client,
    })
}

/// `ip:port` or `[ipv6]:port`, as Envoy's `source.address` reads.
fn client_address(text: &str) -> Result<(String, u16), String> {
    let port = text
        .rsplit_once(':')
        .filter(|(host, _)| !host.is_empty() && (!host.contains(':') || (host.starts_with('[') && host.ends_with(']'))))
        .and_then(|(_, port)| port.parse::<u16>().ok());
    match port {
        Some(port) => Ok((text.to_owned(), port)),
        None => Err(format!("client: expected ip:port or [ipv6]:port, got {text:?}")),
    }
}

fn response(value: Json, version: u64) -> Result<Response, String> {
    let known: &[&str] = if version >= 2 { &RESPONSE_FIELDS_V2 } else { &RESPONSE_FIELDS };
    let mut fields = Fields::new(value, "response.", "an object", known)?;
    let status = match fields.number("status")? {
        None => 200,
        Some(Number::Unsigned(n)) if (100..=599).contains(&n) => n as u16,
        Some(n) => return Err(format!("response.status: must be an integer from 100 to 599, got {n}")),
    };
    let headers = fields.headers("headers")?;
    let (body, chunks) = fields.body_or_chunks()?;
    let trailers = fields.headers("trailers")?;
    let latency_ms = fields.millis("latency_ms")?.unwrap_or(0);
    if latency_ms > MAX_LATENCY_MS {
        return Err(format!(
            "response.latency_ms: {latency_ms} is more than the longest exchange, {MAX_LATENCY_MS} ms (1 hour)"
        ));
    }
    Ok(Response { status, headers, body, chunks, trailers, latency_ms })
}

/// `properties`: `metadata` (`{"<namespace>": {"<key>": value}}`, Envoy's dynamic metadata),
/// `filter_state` (`{"<key>": "<bytes>"}`) and `attributes` (`{"<dotted.path>": value}`), as
/// (property path, value) pairs for the stream.
fn properties(value: Json) -> Result<Vec<(Vec<String>, Value)>, String> {
    let mut fields = Fields::new(value, "properties.", "an object", &PROPERTY_FIELDS)?;
    let mut out = Vec::new();
    for (namespace, object) in fields.object("metadata")? {
        let at = format!("properties.metadata.{namespace}");
        let Json::Object(members) = object else {
            return Err(format!("{at}: expected an object of metadata keys, got {}", object.kind()));
        };
        // The namespace itself reads as Envoy serializes a Struct: a map of its keys, each value
        // encoded by its type (measured on Envoy 1.40); the table builds it from the keys below.
        let namespace_path = vec!["metadata".into(), "filter_metadata".into(), namespace.clone()];
        out.push((namespace_path, Value::Map(Vec::new())));
        for (key, value) in members {
            // Dynamic metadata is a protobuf Struct: its numbers are doubles.
            let value = match value {
                Json::String(s) => Value::String(s),
                Json::Bool(b) => Value::Bool(b),
                Json::Number(n) => Value::Double(n.as_f64()),
                other => {
                    return Err(format!(
                        "{at}.{key}: expected a string, number or boolean, got {} (nested values are not supported)",
                        other.kind()
                    ));
                }
            };
            out.push((vec!["metadata".into(), "filter_metadata".into(), namespace.clone(), key], value));
        }
    }
    for (key, value) in fields.object("filter_state")? {
        let Json::String(bytes) = value else {
            return Err(format!("properties.filter_state.{key}: expected a string (the bytes), got {}", value.kind()));
        };
        out.push((vec!["filter_state".into(), key], Value::Bytes(bytes.into_bytes())));
    }
    for (path, value) in fields.object("attributes")? {
        let at = format!("properties.attributes.{path}");
        let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return Err(format!("{at}: a dotted path with no empty segment, e.g. \"source.address\""));
        }
        let value = match value {
            Json::String(s) => Value::String(s),
            Json::Bool(b) => Value::Bool(b),
            Json::Number(Number::Unsigned(n)) => Value::Int(i64::try_from(n).unwrap_or(i64::MAX)),
            Json::Number(Number::Signed(n)) => Value::Int(n),
            Json::Number(Number::Float(x)) => Value::Double(x),
            other => return Err(format!("{at}: expected a string, number or boolean, got {}", other.kind())),
        };
        out.push((segments, value));
    }
    Ok(out)
}

/// The members of one object, taken field by field; what is left at the end is unknown.
struct Fields {
    members: Vec<(String, Json)>,
    /// The dotted path prefix of these fields (`""` or `"response."`).
    prefix: &'static str,
}

impl Fields {
    /// Checks that `value` is an object whose keys are all in `known`.
    fn new(value: Json, prefix: &'static str, what: &str, known: &[&str]) -> Result<Self, String> {
        let Json::Object(members) = value else {
            let at = prefix.trim_end_matches('.');
            let at = if at.is_empty() { String::new() } else { format!("{at}: ") };
            return Err(format!("{at}expected {what} (a JSON object), got {}", value.kind()));
        };
        if let Some((key, _)) = members.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            let v2 = if prefix.is_empty() { &EXCHANGE_FIELDS_V2[..] } else { &RESPONSE_FIELDS_V2[..] };
            if v2.contains(&key.as_str()) {
                return Err(format!(
                    "unknown field `{prefix}{key}`: it is a version 2 field; start the file with the line \
                     {{\"meshlens_traffic\": 2}}"
                ));
            }
            let hint = match closest(key, known) {
                Some(near) => format!(" (did you mean `{near}`?)"),
                None => format!("; known fields: {}", known.join(", ")),
            };
            return Err(format!("unknown field `{prefix}{key}`{hint}"));
        }
        Ok(Self { members, prefix })
    }

    fn take(&mut self, name: &str) -> Option<Json> {
        let at = self.members.iter().position(|(k, _)| k == name)?;
        Some(self.members.remove(at).1)
    }

    fn string(&mut self, name: &str) -> Result<Option<String>, String> {
        match self.take(name) {
            None => Ok(None),
            Some(Json::String(s)) => Ok(Some(s)),
            Some(other) => Err(format!("{}{name}: expected a string, got {}", self.prefix, other.kind())),
        }
    }

    fn number(&mut self, name: &str) -> Result<Option<Number>, String> {
        match self.take(name) {
            None => Ok(None),
            Some(Json::Number(n)) => Ok(Some(n)),
            Some(other) => Err(format!("{}{name}: expected a number, got {}", self.prefix, other.kind())),
        }
    }

    /// A non-negative whole number of milliseconds.
    fn millis(&mut self, name: &str) -> Result<Option<u64>, String> {
        match self.number(name)? {
            None => Ok(None),
            Some(Number::Unsigned(n)) => Ok(Some(n)),
            Some(n) => Err(format!("{}{name}: expected a whole number of milliseconds >= 0, got {n}", self.prefix)),
        }
    }

    /// An object's members (none when absent).
    fn object(&mut self, name: &str) -> Result<Vec<(String, Json)>, String> {
        match self.take(name) {
            None => Ok(Vec::new()),
            Some(Json::Object(members)) => Ok(members),
            Some(other) => Err(format!("{}{name}: expected an object, got {}", self.prefix, other.kind())),
        }
    }

    /// `body` (one piece), or `chunks` (each one body callback): the whole body, and the chunks
    /// when given.
    fn body_or_chunks(&mut self) -> Result<(Vec<u8>, Option<Chunks>), String> {
        let body = self.body("body")?;
        let Some(value) = self.take("chunks") else { return Ok((body, None)) };
        let at = format!("{}chunks", self.prefix);
        if !body.is_empty() {
            return Err(format!("{at}: give `body` or `chunks`, not both"));
        }
        let Json::Array(items) = value else {
            return Err(format!(
                "{at}: expected an array of chunks (strings, or objects and arrays sent as JSON), got {}",
                value.kind()
            ));
        };
        let mut chunks = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let mut one = Self { members: vec![(String::from("chunk"), item)], prefix: self.prefix };
            let chunk = one.body("chunk").map_err(|e| e.replacen("chunk:", &format!("chunks[{i}]:"), 1))?;
            chunks.push(chunk);
        }
        let whole = chunks.concat();
        Ok((whole, Some(chunks)))
    }

    /// A body: a string as is, an object or array as compact JSON.
    fn body(&mut self, name: &str) -> Result<Vec<u8>, String> {
        match self.take(name) {
            None | Some(Json::Null) => Ok(Vec::new()),
            Some(Json::String(s)) => Ok(s.into_bytes()),
            Some(v @ (Json::Object(_) | Json::Array(_))) => Ok(v.to_compact().into_bytes()),
            Some(other) => Err(format!(
                "{}{name}: expected a string, or an object or array sent as JSON, got {}",
                self.prefix,
                other.kind()
            )),
        }
    }

    /// Headers: `{"name": "value"}` or `[["name", "value"], ...]`; names lowercased.
    fn headers(&mut self, name: &str) -> Result<Headers, String> {
        let at = format!("{}{name}", self.prefix);
        let pairs: Vec<(String, Json)> = match self.take(name) {
            None => return Ok(Vec::new()),
            Some(Json::Object(members)) => members,
            Some(Json::Array(items)) => {
                let mut pairs = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Json::Array(pair) => match <[Json; 2]>::try_from(pair) {
                            Ok([Json::String(k), v]) => pairs.push((k, v)),
                            _ => return Err(format!("{at}[{i}]: expected a [\"name\", \"value\"] pair of strings")),
                        },
                        other => {
                            return Err(format!(
                                "{at}[{i}]: expected a [\"name\", \"value\"] pair, got {}",
                                other.kind()
                            ));
                        }
                    }
                }
                pairs
            }
            Some(other) => {
                return Err(format!(
                    "{at}: expected an object {{\"name\": \"value\"}} or an array of [\"name\", \"value\"] pairs, got {}",
                    other.kind()
                ));
            }
        };
        let mut out = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            let Json::String(value) = value else {
                return Err(format!("{at}.{key}: expected a string value, got {}", value.kind()));
            };
            if key.starts_with(':') {
                let fields =
                    if self.prefix.is_empty() { "method, path, authority and scheme fields" } else { "status field" };
                return Err(format!("{at}: pseudo-header `{key}` not allowed here; use the {fields}"));
            }
            if key.is_empty() || !key.bytes().all(is_token_byte) {
                return Err(format!("{at}: not a valid header name: {key:?}"));
            }
            if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                return Err(format!("{at}.{key}: the value contains CR, LF or NUL"));
            }
            out.push((key.to_ascii_lowercase(), value));
        }
        Ok(out)
    }
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn defaults_and_both_header_forms() {
        let text = "\n# comment\n// comment\n{\"path\": \"/a\", \"headers\": {\"X-A\": \"1\"}}\n\
                    {\"method\": \"POST\", \"path\": \"/b\", \"headers\": [[\"x\", \"1\"], [\"x\", \"2\"]], \
                    \"body\": {\"q\": \"hi\", \"n\": [1]}, \"response\": {\"status\": 503, \"latency_ms\": 40}}\n\
                    {\"path\": \"/c\", \"at_ms\": 100, \"note\": \"later\"}\n";
        let traffic = parse(text).unwrap();
        assert_eq!(traffic.len(), 3);
        let [a, b, c] = &traffic[..] else { unreachable!() };
        assert_eq!((a.line, a.method.as_str(), a.authority.as_str(), a.at_ms), (4, "GET", "localhost", 0));
        assert_eq!(a.headers, vec![("x-a".to_owned(), "1".to_owned())]);
        assert_eq!(a.response.status, 200);
        assert_eq!(b.at_ms, 0, "the previous exchange took 0 ms");
        assert_eq!(b.body, br#"{"q":"hi","n":[1]}"#);
        assert_eq!(b.headers.len(), 2);
        assert_eq!((b.response.status, b.response.latency_ms), (503, 40));
        assert_eq!(c.at_ms, 100);
        let next = parse("{\"path\": \"/a\", \"response\": {\"latency_ms\": 30}}\n{\"path\": \"/b\"}").unwrap();
        assert_eq!(next[1].at_ms, 30, "without at_ms an exchange starts when the previous one ended");
    }

    #[test]
    fn errors_name_the_line_and_the_field() {
        assert_eq!(error("{\"path\": \"/\"}\n{\"path\": \"/\",}"), "line 2, column 14: not valid JSON: trailing comma");
        assert_eq!(
            error("{\"path\": \"/\", \"methd\": \"GET\"}"),
            "line 1, column 15: unknown field `methd` (did you mean `method`?)"
        );
        assert_eq!(
            error("{\"path\": \"/\", \"response\": {\"status\": 200, \"latency\": 5}}"),
            "line 1, column 43: unknown field `response.latency` (did you mean `latency_ms`?)"
        );
        assert_eq!(
            error("{\"method\": \"GET\"}"),
            "line 1: missing field `path` (the request's :path, e.g. \"/api/v1/query\")"
        );
        assert_eq!(
            error("{\"path\": \"/\", \"response\": {\"status\": \"200\"}}"),
            "line 1, column 38: response.status: expected a number, got a string"
        );
        assert_eq!(
            error("{\"path\": \"/\", \"response\": {\"status\": 2000}}"),
            "line 1, column 38: response.status: must be an integer from 100 to 599, got 2000"
        );
        assert_eq!(
            error("{\"path\": \"/\", \"headers\": {\":path\": \"/x\"}}"),
            "line 1, column 26: headers: pseudo-header `:path` not allowed here; use the method, path, authority and scheme fields"
        );
        assert_eq!(
            error("{\"path\": \"/\", \"headers\": {\"a\": 1}}"),
            "line 1, column 32: headers.a: expected a string value, got a number"
        );
        assert_eq!(
            error("{\"path\": \"/\", \"at_ms\": 5}\n{\"path\": \"/\", \"at_ms\": 4}"),
            "line 2, column 24: at_ms: 4 is earlier than the previous exchange's at_ms 5 (lines must be in time order)"
        );
        assert_eq!(error("[1]"), "line 1: expected an exchange (a JSON object), got an array");
        assert!(error("{\"path\": \"/\", \"path\": \"/\"}").starts_with("line 1, column "), "duplicate keys");
        assert_eq!(
            error("{\"path\": \"/\", \"zzzzzz\": 1}"),
            "line 1, column 15: unknown field `zzzzzz`; known fields: method, path, authority, scheme, headers, body, response, at_ms, client, note"
        );
    }

    #[test]
    fn times_are_bounded_and_name_the_line() {
        assert_eq!(
            error("{\"path\": \"/\"}\n{\"path\": \"/\", \"at_ms\": 1767225600000}"),
            "line 2, column 24: at_ms: 1767225600000 is past the longest replay, 604800000 ms (7 days); at_ms counts \
             milliseconds since the replay started, not since the Unix epoch"
        );
        assert_eq!(
            error("{\"path\": \"/\", \"response\": {\"latency_ms\": 3600001}}"),
            "line 1, column 42: response.latency_ms: 3600001 is more than the longest exchange, 3600000 ms (1 hour)"
        );
        let last = format!("{{\"path\": \"/\", \"at_ms\": {MAX_AT_MS}, \"response\": {{\"latency_ms\": 1}}}}");
        assert_eq!(parse(&last).unwrap()[0].at_ms, MAX_AT_MS, "the bounds themselves are fine");
        assert_eq!(
            error(&format!("{last}\n{{\"path\": \"/\"}}")),
            "line 2: at_ms: this exchange would start when the previous one ended, at 604800001 ms, past the \
             longest replay, 604800000 ms (7 days)"
        );
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let traffic = parse("\u{feff}{\"path\": \"/a\"}\r\n{\"path\": \"/b\"}\r\n").unwrap();
        assert_eq!(traffic.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["/a", "/b"]);
        assert_eq!(parse("\u{feff}# a comment\n{\"path\": \"/a\"}").unwrap()[0].line, 2);
        assert!(
            error("{\"path\": \"/a\"}\n\u{feff}{\"path\": \"/b\"}").starts_with("line 2, column 1: "),
            "only at the start"
        );
    }

    #[test]
    fn typos_are_recognised() {
        assert_eq!(
            error("{\"path\": \"/\", \"client\": \"10.0.0.7\"}"),
            "line 1, column 25: client: expected ip:port or [ipv6]:port, got \"10.0.0.7\""
        );
        assert_eq!(parse("{\"path\": \"/\", \"client\": \"[::1]:7\"}").unwrap()[0].client, Some(("[::1]:7".into(), 7)));
        assert_eq!(closest("methd", &EXCHANGE_FIELDS), Some("method"));
        assert_eq!(closest("header", &EXCHANGE_FIELDS), Some("headers"));
        assert_eq!(closest("x", &EXCHANGE_FIELDS), None);
    }

    #[test]
    fn version_2_reads_chunks_trailers_and_properties() {
        let text = "{\"meshlens_traffic\": 2}\n\
            {\"method\": \"POST\", \"path\": \"/up\", \"chunks\": [\"ab\", {\"k\": 1}], \"trailers\": {\"x-t\": \"1\"}, \
            \"properties\": {\"metadata\": {\"envoy.lb\": {\"canary\": true, \"weight\": 3}}, \
            \"filter_state\": {\"my.key\": \"bytes\"}, \"attributes\": {\"source.address\": \"10.0.0.1:5\", \"upstream.port\": 80}}, \
            \"response\": {\"chunks\": [\"a\", \"\", \"b\"], \"trailers\": [[\"grpc-status\", \"0\"]]}}\n";
        let traffic = parse(text).unwrap();
        let [e] = &traffic[..] else { panic!("one exchange") };
        assert_eq!(e.line, 2);
        assert_eq!(e.chunks, Some(vec![b"ab".to_vec(), br#"{"k":1}"#.to_vec()]));
        assert_eq!(e.body, br#"ab{"k":1}"#, "the body is the chunks' concatenation");
        assert_eq!(e.trailers, vec![("x-t".to_owned(), "1".to_owned())]);
        let path = |p: &str| p.split('/').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            e.properties,
            vec![
                (path("metadata/filter_metadata/envoy.lb"), Value::Map(Vec::new())),
                (path("metadata/filter_metadata/envoy.lb/canary"), Value::Bool(true)),
                (path("metadata/filter_metadata/envoy.lb/weight"), Value::Double(3.0)),
                (path("filter_state/my.key"), Value::Bytes(b"bytes".to_vec())),
                (path("source/address"), Value::String("10.0.0.1:5".into())),
                (path("upstream/port"), Value::Int(80)),
            ]
        );
        assert_eq!(e.response.chunks.as_ref().map(Vec::len), Some(3), "an empty chunk is a call too");
        assert_eq!(e.response.trailers, vec![("grpc-status".to_owned(), "0".to_owned())]);
        let v1 = parse("{\"path\": \"/\", \"body\": \"x\"}").unwrap();
        assert_eq!((v1[0].chunks.as_ref(), v1[0].trailers.len()), (None, 0), "version 1 files read as before");
    }

    #[test]
    fn version_2_errors_point_at_the_field() {
        assert_eq!(
            error("{\"path\": \"/\", \"chunks\": [\"a\"]}"),
            "line 1, column 15: unknown field `chunks`: it is a version 2 field; start the file with the line \
             {\"meshlens_traffic\": 2}"
        );
        let v2 = |line: &str| error(&format!("{{\"meshlens_traffic\": 2}}\n{line}"));
        assert_eq!(
            v2("{\"path\": \"/\", \"chunks\": [\"a\", 5]}"),
            "line 2, column 31: chunks[1]: expected a string, or an object or array sent as JSON, got a number"
        );
        assert_eq!(
            v2("{\"path\": \"/\", \"body\": \"a\", \"chunks\": [\"a\"]}"),
            "line 2, column 38: chunks: give `body` or `chunks`, not both"
        );
        assert_eq!(
            v2("{\"path\": \"/\", \"response\": {\"trailers\": 1}}"),
            "line 2, column 40: response.trailers: expected an object {\"name\": \"value\"} or an array of \
             [\"name\", \"value\"] pairs, got a number"
        );
        assert_eq!(
            v2("{\"path\": \"/\", \"properties\": {\"metadata\": {\"ns\": {\"k\": [1]}}}}"),
            "line 2, column 55: properties.metadata.ns.k: expected a string, number or boolean, got an array \
             (nested values are not supported)"
        );
        assert_eq!(
            v2("{\"path\": \"/\", \"properties\": {\"filter_stat\": {}}}"),
            "line 2, column 30: unknown field `properties.filter_stat` (did you mean `filter_state`?)"
        );
        assert_eq!(
            error("{\"meshlens_traffic\": 3}"),
            "line 1, column 22: meshlens_traffic: version 3 is not supported (this harness reads 1 to 2)"
        );
        assert_eq!(
            error("{\"path\": \"/\"}\n{\"meshlens_traffic\": 2}"),
            "line 2, column 22: meshlens_traffic: the format header must be the first line (before any exchange)"
        );
        assert!(parse("# comments first\n\n{\"meshlens_traffic\": 1}\n{\"path\": \"/\"}").is_ok());
    }
}
