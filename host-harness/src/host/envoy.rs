//! What Envoy itself does to an HTTP/1.1 exchange around a Wasm filter, measured on Envoy 1.40
//! (V8) with the HTTP connection manager's settings of `envoy-config/edge-gateway.yaml`
//! (`use_remote_address: true`, `xff_num_trusted_hops: 0`) and the SDK probe
//! (`tests/guests/sdk-probe`, which logs every map and body callback); the e2e test
//! `tests/tests/all/envoy_harness_semantics.rs` pins each fact against the real Envoy and against
//! the harness with [`HostBuilder::envoy_defaults`](super::HostBuilder::envoy_defaults).
//!
//! Measured on Envoy 1.40, HTTP/1.1 from the client and to the upstream:
//!
//! - Request headers reach the filter as `:authority` (from `Host`), `:path`, `:method`,
//!   `:scheme` ([`HTTP1_PSEUDO_ORDER`]), then the client's headers in wire order without
//!   `connection`, `transfer-encoding`, `keep-alive` and `proxy-connection` ([`HOP_BY_HOP`];
//!   `te: trailers` stays), then Envoy's own:
//!   `x-forwarded-for`, `x-forwarded-proto`, `x-envoy-external-address`, `x-request-id`. A
//!   client's `x-forwarded-proto` and `x-request-id` are replaced in place (an edge listener
//!   does not trust an external client's request id), otherwise appended. The harness adds
//!   `x-forwarded-proto` (the scheme) and `x-request-id` (a UUID v4); the two address headers
//!   depend on the listener's trust settings and the client's network, so it leaves them out.
//! - Upstream response headers end with `x-envoy-upstream-service-time: <ms>` (the router adds
//!   it before the filter sees them). Local replies do not get it.
//! - Bodies, request and response, content-length or chunked: one `on_*_body` call per piece
//!   that arrives (`end_of_stream` false), then one with 0 bytes and `end_of_stream` true. Pieces
//!   written back to back reach the filter as one call; written 300 ms apart (a chunked response
//!   `hello ` then `secret world`, or a request body `hello` then `world`), one call each: 6, 12,
//!   then 0 with `end_of_stream`. A request without a body has `end_of_stream` true on its
//!   headers; a POST with `content-length: 0` too.
//! - HTTP/1 trailers are dropped by the codec (no `enable_trailers`): a chunked request with a
//!   trailer gives no `on_request_trailers` call.
//! - A reply to `HEAD`: response headers with `end_of_stream` true, `content-length` kept, no
//!   body callback and no body, upstream response or local reply alike.
//! - A local reply (`proxy_send_local_response`) reaches the filter's response callbacks as
//!   `:status`, the module's headers, then `content-length` and `content-type: text/plain` (when
//!   it has a body), then the body in one call with `end_of_stream` true. Downstream, a local
//!   reply to a request whose body was not read (headers without `end_of_stream`) carries
//!   `connection: close`; the filter never sees that header.
//! - Dynamic metadata another filter set (`set_metadata`) reads as `metadata.filter_metadata.
//!   <namespace>.<key>`: a string as its bytes, a number as a little-endian double, a boolean as
//!   one byte; the namespace itself as a proxy-wasm map of its keys, each value so encoded; a
//!   missing key `NotFound`. Filter state (`set_filter_state`, `envoy.string`) reads as
//!   `filter_state.<key>`: the string's bytes. A traffic file's `properties` give the same.

use crate::state::Rng;
use crate::stream::Headers;

/// The pseudo-header order Envoy's HTTP/1 codec gives the filter (measured on Envoy 1.40).
pub const HTTP1_PSEUDO_ORDER: [&str; 4] = [":authority", ":path", ":method", ":scheme"];

/// Client request headers Envoy's HTTP/1 codec does not pass to the filter (measured on Envoy
/// 1.40).
pub const HOP_BY_HOP: [&str; 4] = ["connection", "transfer-encoding", "keep-alive", "proxy-connection"];

/// The request headers as the filter sees them behind Envoy's HTTP/1 codec and connection
/// manager: pseudo-headers in [`HTTP1_PSEUDO_ORDER`], hop-by-hop headers gone,
/// `x-forwarded-proto` and `x-request-id` set (in place, or appended).
pub(crate) fn request_headers(headers: Headers, request_ids: &mut Rng) -> Headers {
    let mut out: Headers = Vec::with_capacity(headers.len() + 2);
    for name in HTTP1_PSEUDO_ORDER {
        out.extend(headers.iter().filter(|(k, _)| k == name).cloned());
    }
    let regular = |k: &str| !HTTP1_PSEUDO_ORDER.contains(&k) && !HOP_BY_HOP.contains(&k);
    out.extend(headers.into_iter().filter(|(k, _)| regular(k)));
    let scheme = crate::stream::first(&out, ":scheme").unwrap_or("http").to_owned();
    set(&mut out, "x-forwarded-proto", scheme);
    set(&mut out, "x-request-id", uuid_v4(request_ids));
    out
}

/// Appends `x-envoy-upstream-service-time` to upstream response headers: the upstream's time in
/// whole milliseconds.
pub(crate) fn upstream_response_headers(headers: &mut Headers, service_ms: u64) {
    headers.push(("x-envoy-upstream-service-time".into(), service_ms.to_string()));
}

/// Whether Envoy closes the connection after a local reply: when the request's body was still
/// unread (measured on Envoy 1.40: a 403 to `POST` with `content-length: 5` sent from the request
/// headers callback carries `connection: close`; the same reply to a `GET` does not). HTTP/1
/// only: HTTP/2 streams end without closing the connection (measured: the trailers-only reply to
/// a gRPC call whose message was unread has no `connection: close`).
pub(crate) fn close_connection(request_ended: bool, http1: bool) -> bool {
    !request_ended && http1
}

/// What Envoy's HTTP/1 codec adds to response headers on the wire (`Http1::StreamEncoderImpl::
/// encodeHeadersBase`): a headers-only response (`end_of_stream` on its headers) with no
/// `content-length` ends with `content-length: 0`, unless it answers `HEAD` or its status allows
/// no body (1xx, 204, 304). Measured on Envoy 1.40: the trailers-only gRPC reply over HTTP/1.1
/// and the 503 of a failed VM carry it; over HTTP/2 neither does.
pub(crate) fn http1_framing(headers: &mut Headers, end_of_stream: bool, head_request: bool) {
    let status = crate::stream::first(headers, ":status").and_then(|s| s.parse::<u16>().ok());
    let bodyless_status = status.is_some_and(|s| s < 200 || s == 204 || s == 304);
    if end_of_stream && !head_request && !bodyless_status && crate::stream::first(headers, "content-length").is_none() {
        headers.push(("content-length".into(), "0".into()));
    }
}

/// A random (version 4, variant 1) UUID in lowercase hex, as Envoy's request ids.
pub(crate) fn uuid_v4(rng: &mut Rng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes);
    let [b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15] = bytes;
    let (b6, b8) = ((b6 & 0x0f) | 0x40, (b8 & 0x3f) | 0x80);
    format!(
        "{b0:02x}{b1:02x}{b2:02x}{b3:02x}-{b4:02x}{b5:02x}-{b6:02x}{b7:02x}-{b8:02x}{b9:02x}-\
         {b10:02x}{b11:02x}{b12:02x}{b13:02x}{b14:02x}{b15:02x}"
    )
}

/// Replaces the first `name` in place (dropping any other), or appends it.
fn set(headers: &mut Headers, name: &str, value: String) {
    match headers.iter().position(|(k, _)| k == name) {
        Some(at) => {
            let mut index = 0;
            headers.retain(|(k, _)| {
                let keep = k != name || index == at;
                index += 1;
                keep
            });
            if let Some(slot) = headers.get_mut(at) {
                slot.1 = value;
            }
        }
        None => headers.push((name.to_owned(), value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Headers {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn request_headers_take_envoys_order_and_additions() {
        let mut rng = Rng::new(7);
        let given = h(&[
            (":method", "POST"),
            (":scheme", "https"),
            (":authority", "a.example"),
            (":path", "/x"),
            ("connection", "close"),
            ("x-request-id", "client-1"),
            ("x-b", "1"),
        ]);
        let out = request_headers(given, &mut rng);
        let names: Vec<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, [":authority", ":path", ":method", ":scheme", "x-request-id", "x-b", "x-forwarded-proto"]);
        assert_eq!(crate::stream::first(&out, "x-forwarded-proto"), Some("https"));
        let id = crate::stream::first(&out, "x-request-id").unwrap();
        assert_ne!(id, "client-1", "an edge listener replaces an external client's id");
        assert_eq!((id.len(), &id[14..15], &id[8..9]), (36, "4", "-"));
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        let again = request_headers(h(&[(":path", "/")]), &mut Rng::new(7));
        assert_eq!(crate::stream::first(&again, "x-request-id"), Some(id), "the seed decides");
    }
}
