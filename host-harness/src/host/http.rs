//! Driving HTTP streams the way Envoy's Wasm filter does (`Context::decodeHeaders` and friends
//! in envoy `source/extensions/common/wasm/context.cc`).

use super::Host;
use super::calls::{i, len};
use crate::abi::Action;
use crate::error::Error;
use crate::stream::{Headers, StreamId, first, normalize};

/// Which direction a call drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    Request,
    Response,
}

impl Host {
    /// Request headers arrive: `proxy_on_request_headers`. The context is created first, as
    /// Envoy does lazily on the first request callback. Names are lowercased like Envoy's codec.
    /// On a chain ([`Host::new_stream`]) they reach the first filter, and each filter that lets
    /// them go hands them to the next.
    pub fn request_headers(
        &mut self,
        s: StreamId,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Result<Action, Error> {
        let head = self.head(s);
        let action = self.driving(|host| host.filter_request_headers(head, normalize(headers), end_of_stream, true))?;
        self.forward_chains()?;
        Ok(action)
    }

    /// Request headers reach one filter: from downstream (Envoy's additions are made, a failed
    /// VM answers), or from the filter before it on a chain.
    pub(super) fn filter_request_headers(
        &mut self,
        s: StreamId,
        mut headers: crate::stream::Headers,
        end_of_stream: bool,
        from_downstream: bool,
    ) -> Result<Action, Error> {
        if from_downstream && self.failed_at(s.0) && self.failure_policy == Some(super::FailurePolicy::FailClosed) {
            // Envoy's FAIL_CLOSED: a failed VM's filter answers every request 503.
            let stream = self.stream_mut(s)?;
            stream.request_headers = headers;
            stream.end_of_stream = end_of_stream;
            stream.request_ended = end_of_stream;
            self.fail_stream(s.0);
            self.apply_stream_actions(s.0)?;
            return Ok(Action::Pause);
        }
        // Known before the module runs: a trap creating the context still answers as Envoy does.
        let stream = self.stream_mut(s)?;
        stream.request_ended = end_of_stream;
        stream.headers_end_stream.0 = end_of_stream;
        stream.body_ended.0 = end_of_stream;
        self.ensure_created(s)?;
        if from_downstream && let Some(request_ids) = &mut self.store.data_mut().envoy_defaults {
            headers = super::envoy::request_headers(headers, request_ids);
        }
        let n = headers.len();
        let stream = self.stream_mut(s)?;
        stream.received_request_headers.clone_from(&headers);
        stream.request_headers = headers;
        stream.request_ended = end_of_stream;
        stream.visible.request_headers = true;
        stream.end_of_stream = end_of_stream;
        stream.continued = (false, false);
        let action = self.on_headers(s, "proxy_on_request_headers", n, end_of_stream)?;
        let now = self.store.data().clock.realtime;
        let stream = self.stream_mut(s)?;
        if action == Action::Continue {
            stream.visible.request_headers = false;
            stream.released_at_nanos = Some(now);
            stream.released.request_headers = true;
        } else if stream.local_reply.is_none() && !stream.continued.0 {
            stream.request_paused = true;
        }
        Ok(action)
    }

    /// A request body chunk arrives: `proxy_on_request_body` with the buffered size (Envoy keeps
    /// accumulating while the module returns Pause).
    pub fn request_body(&mut self, s: StreamId, chunk: &[u8], end_of_stream: bool) -> Result<Action, Error> {
        let head = self.head(s);
        let action = self.driving(|host| host.body(head, Direction::Request, chunk, end_of_stream))?;
        self.forward_chains()?;
        Ok(action)
    }

    /// Request trailers arrive: `proxy_on_request_trailers`.
    pub fn request_trailers(&mut self, s: StreamId, trailers: &[(&str, &str)]) -> Result<Action, Error> {
        let head = self.head(s);
        let action = self.driving(|host| host.trailers(head, Direction::Request, normalize(trailers)))?;
        self.forward_chains()?;
        Ok(action)
    }

    /// Response headers arrive from upstream: `proxy_on_response_headers`. On a chain they
    /// reach the last filter first, and each filter that lets them go hands them to the one
    /// before it.
    pub fn response_headers(
        &mut self,
        s: StreamId,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Result<Action, Error> {
        let tail = self.tail(s);
        self.check_open(tail, Direction::Response)?;
        let mut headers = normalize(headers);
        if self.store.data().envoy_defaults.is_some() {
            let now = self.now_unix_nanos();
            // The router times the upstream request: from when the request went upstream.
            let stream = self.stream_mut(tail)?;
            let sent = stream.released_at_nanos.unwrap_or(stream.start_nanos);
            super::envoy::upstream_response_headers(&mut headers, now.saturating_sub(sent) / 1_000_000);
        }
        let action = self.driving(|host| host.send_response_headers(tail, headers, end_of_stream))?;
        self.forward_chains()?;
        Ok(action)
    }

    /// A response body chunk arrives: `proxy_on_response_body`.
    pub fn response_body(&mut self, s: StreamId, chunk: &[u8], end_of_stream: bool) -> Result<Action, Error> {
        let tail = self.tail(s);
        let action = self.driving(|host| host.body(tail, Direction::Response, chunk, end_of_stream))?;
        self.forward_chains()?;
        Ok(action)
    }

    /// Response trailers arrive: `proxy_on_response_trailers`.
    pub fn response_trailers(&mut self, s: StreamId, trailers: &[(&str, &str)]) -> Result<Action, Error> {
        let tail = self.tail(s);
        let action = self.driving(|host| host.trailers(tail, Direction::Response, normalize(trailers)))?;
        self.forward_chains()?;
        Ok(action)
    }

    /// The stream ends: `proxy_on_log` in the access-log phase (creating the context first if no
    /// callback ran, as Envoy does for requests rejected before the filter), then `proxy_on_done`
    /// and `proxy_on_delete`, then `proxy_on_queue_ready` for items the stream enqueued. HTTP calls
    /// it made stay pending: they belong to the plugin. On a chain every filter logs, in filter
    /// order (measured on Envoy 1.40: `envoy_plugin_chain.rs`), then each is done and deleted.
    pub fn complete(&mut self, s: StreamId) -> Result<(), Error> {
        let members = self.members(s);
        if self.stream_mut(s)?.complete {
            return Err(Error::Usage(format!("stream {} is already complete", s.0)));
        }
        self.share_final_maps(s);
        for member in &members {
            let m = StreamId(*member);
            self.ensure_created(m)?;
            self.stream_mut(m)?.access_log_phase = true;
            let logged = self.callback("proxy_on_log", m.0, &[i(m.0)]);
            let stream = self.stream_mut(m)?;
            stream.access_log_phase = false;
            stream.complete = true;
            logged?;
        }
        for member in members {
            self.callback("proxy_on_done", member, &[i(member)])?;
            self.callback("proxy_on_delete", member, &[i(member)])?;
        }
        // Envoy posts `on_queue_ready` to the worker's event loop: it runs once this event is done.
        self.deliver_queue_ready()
    }

    /// Sets an Envoy property for one stream before (or while) it runs, e.g. the client address
    /// as `["source", "address"]`; other streams keep the host-wide value.
    pub fn set_stream_property(
        &mut self,
        s: StreamId,
        path: &[&str],
        value: crate::properties::Value,
    ) -> Result<(), Error> {
        for member in self.members(s) {
            self.stream_mut(StreamId(member))?.properties.set(path, value.clone());
        }
        Ok(())
    }

    /// Removes an Envoy property (and everything under it) for one stream, so it answers
    /// `NotFound` there, e.g. `["xds", "cluster_name"]` for a request no route matched, or
    /// `["response", "backend_latency"]` for an upstream that never answered.
    pub fn unset_stream_property(&mut self, s: StreamId, path: &[&str]) -> Result<(), Error> {
        for member in self.members(s) {
            self.stream_mut(StreamId(member))?.properties.unset(path);
        }
        Ok(())
    }

    /// Forgets a finished stream and returns its final state as [`Host::exchange`] gives it
    /// (long replays call this to keep memory flat; observations of the stream end with it).
    pub fn remove_stream(&mut self, s: StreamId) -> Option<crate::stream::Stream> {
        let merged = match self.exchange(s).filter(|st| st.complete)? {
            // One filter: the stream itself leaves the host, uncopied.
            std::borrow::Cow::Borrowed(_) => return self.store.data_mut().streams.remove(&s.0),
            std::borrow::Cow::Owned(merged) => merged,
        };
        let state = self.store.data_mut();
        for member in merged.chain.as_deref().unwrap_or_default() {
            state.streams.remove(member);
        }
        Some(merged)
    }

    pub(super) fn stream_mut(&mut self, s: StreamId) -> Result<&mut crate::stream::Stream, Error> {
        self.store.data_mut().streams.get_mut(&s.0).ok_or_else(|| Error::Usage(format!("no stream {}", s.0)))
    }

    fn ensure_created(&mut self, s: StreamId) -> Result<(), Error> {
        let stream = self.stream_mut(s)?;
        if stream.created {
            return Ok(());
        }
        stream.created = true;
        let root = stream.root_id;
        self.callback("proxy_on_context_create", s.0, &[i(s.0), i(root)])?;
        Ok(())
    }

    fn on_headers(&mut self, s: StreamId, callback: &str, n: usize, eos: bool) -> Result<Action, Error> {
        let raw = self.callback(callback, s.0, &[i(s.0), len(n), i(u32::from(eos))])?;
        Ok(Action::from_raw(raw.unwrap_or(0) as u32))
    }

    /// Refuses to drive a direction the stream cannot take now.
    fn check_open(&mut self, s: StreamId, direction: Direction) -> Result<(), Error> {
        let stream = self.stream_mut(s)?;
        if stream.complete {
            return Err(Error::Usage(format!("stream {} is complete", s.0)));
        }
        if stream.local_reply.is_some() {
            return Err(Error::Usage(format!("stream {} was answered with a local reply", s.0)));
        }
        if direction == Direction::Request && stream.request_paused {
            return Err(Error::Usage(format!(
                "stream {}: the request is paused by the module (answer its callout or wait for continue_stream)",
                s.0
            )));
        }
        Ok(())
    }

    pub(super) fn send_response_headers(&mut self, s: StreamId, headers: Headers, eos: bool) -> Result<Action, Error> {
        let n = headers.len();
        let stream = self.stream_mut(s)?;
        stream.response_code = first(&headers, ":status").and_then(|v| v.parse().ok());
        stream.received_response_headers.clone_from(&headers);
        stream.response_headers = Some(headers);
        stream.visible.response_headers = true;
        stream.end_of_stream = eos;
        stream.body_ended.1 |= eos;
        stream.headers_end_stream.1 = eos;
        if !stream.created {
            stream.released.response_headers = true;
            stream.released.response_body_end |= eos;
            return Ok(Action::Continue);
        }
        stream.continued = (false, false);
        let action = self.on_headers(s, "proxy_on_response_headers", n, eos)?;
        let stream = self.stream_mut(s)?;
        if action == Action::Continue {
            stream.visible.response_headers = false;
            stream.released.response_headers = true;
            stream.released.response_body_end |= eos;
        } else if !stream.continued.1 {
            stream.response_paused = true;
        }
        Ok(action)
    }

    pub(super) fn body(&mut self, s: StreamId, direction: Direction, chunk: &[u8], eos: bool) -> Result<Action, Error> {
        self.check_open(s, direction)?;
        let stream = self.stream_mut(s)?;
        let created = stream.created;
        let (buffer, buffering, total) = match direction {
            Direction::Request => (&mut stream.request_body, stream.buffering_request, &mut stream.request_body_bytes),
            Direction::Response => {
                (&mut stream.response_body, stream.buffering_response, &mut stream.response_body_bytes)
            }
        };
        // Envoy counts request bytes as they arrive, response bytes as they leave.
        if direction == Direction::Request {
            *total += chunk.len() as u64;
            stream.request_ended |= eos;
        }
        match direction {
            Direction::Request => stream.body_ended.0 |= eos,
            Direction::Response => stream.body_ended.1 |= eos,
        }
        if !buffering {
            buffer.clear();
        }
        buffer.extend_from_slice(chunk);
        let size = buffer.len();
        stream.end_of_stream = eos;
        if !created {
            self.pass_body(s, direction)?;
            return Ok(Action::Continue);
        }
        match direction {
            Direction::Request => stream.visible.request_body = true,
            Direction::Response => stream.visible.response_body = true,
        }
        let callback = match direction {
            Direction::Request => "proxy_on_request_body",
            Direction::Response => "proxy_on_response_body",
        };
        stream.continued = (false, false);
        let raw = self.callback(callback, s.0, &[i(s.0), len(size), i(u32::from(eos))])?;
        let action = Action::from_raw(raw.unwrap_or(0) as u32);
        let stream = self.stream_mut(s)?;
        let paused = action != Action::Continue;
        match direction {
            Direction::Request => {
                stream.buffering_request = paused;
                stream.request_paused = paused && eos && !stream.continued.0;
            }
            Direction::Response => {
                stream.buffering_response = paused;
                stream.response_paused = paused && eos && !stream.continued.1;
            }
        }
        if !paused {
            self.pass_body(s, direction)?;
        }
        Ok(action)
    }

    /// The buffered body goes on (upstream or downstream) and leaves the module's view; with
    /// it the body's end, once it arrived.
    fn pass_body(&mut self, s: StreamId, direction: Direction) -> Result<(), Error> {
        let stream = self.stream_mut(s)?;
        match direction {
            Direction::Request => {
                let data = std::mem::take(&mut stream.request_body);
                stream.request_body_sent.extend(data);
                stream.visible.request_body = false;
                stream.released.request_body = stream.request_body_sent.len();
                stream.released.request_body_end |= stream.body_ended.0;
            }
            Direction::Response => {
                let data = std::mem::take(&mut stream.response_body);
                stream.response_body_bytes += data.len() as u64;
                stream.response_body_sent.extend(data);
                stream.visible.response_body = false;
                stream.released.response_body = stream.response_body_sent.len();
                stream.released.response_body_end |= stream.body_ended.1;
            }
        }
        Ok(())
    }

    pub(super) fn trailers(&mut self, s: StreamId, direction: Direction, trailers: Headers) -> Result<Action, Error> {
        self.check_open(s, direction)?;
        let n = trailers.len();
        let stream = self.stream_mut(s)?;
        let created = stream.created;
        match direction {
            Direction::Request => {
                stream.request_ended = true;
                stream.request_trailers = Some(trailers);
                stream.visible.request_trailers = true;
            }
            Direction::Response => {
                stream.response_trailers = Some(trailers);
                stream.visible.response_trailers = true;
            }
        }
        if !created {
            match direction {
                Direction::Request => stream.released.request_trailers = true,
                Direction::Response => stream.released.response_trailers = true,
            }
            return Ok(Action::Continue);
        }
        let callback = match direction {
            Direction::Request => "proxy_on_request_trailers",
            Direction::Response => "proxy_on_response_trailers",
        };
        stream.continued = (false, false);
        let raw = self.callback(callback, s.0, &[i(s.0), len(n)])?;
        let action = Action::from_raw(raw.unwrap_or(0) as u32);
        let stream = self.stream_mut(s)?;
        match (direction, action == Action::Continue) {
            (Direction::Request, true) => {
                stream.visible.request_trailers = false;
                stream.released.request_trailers = true;
            }
            (Direction::Response, true) => {
                stream.visible.response_trailers = false;
                stream.released.response_trailers = true;
            }
            (Direction::Request, false) => stream.request_paused = !stream.continued.0,
            (Direction::Response, false) => stream.response_paused = !stream.continued.1,
        }
        Ok(action)
    }

    /// Applies a stream's deferred actions: `continue_stream`, and a local reply, which Envoy
    /// sends back through the filter chain, so the module's own response callbacks see it.
    pub(super) fn apply_stream_actions(&mut self, id: u32) -> Result<(), Error> {
        let s = StreamId(id);
        self.mark_chained(id);
        let stream = self.stream_mut(s)?;
        let (continue_request, continue_response) = std::mem::take(&mut stream.pending_continue);
        let now = self.store.data().clock.realtime;
        let stream = self.stream_mut(s)?;
        if continue_request {
            stream.released_at_nanos = Some(now);
            stream.request_paused = false;
            stream.continued.0 = true;
            stream.released.request_headers = true;
            stream.released.request_trailers |= stream.request_trailers.is_some();
        }
        if continue_response {
            stream.response_paused = false;
            stream.continued.1 = true;
            stream.released.response_headers |= stream.response_headers.is_some();
            stream.released.response_trailers |= stream.response_trailers.is_some();
        }
        // What the filter buffered goes on with the stream.
        if continue_request && std::mem::take(&mut stream.buffering_request) {
            self.pass_body(s, Direction::Request)?;
        }
        let stream = self.stream_mut(s)?;
        if continue_response && std::mem::take(&mut stream.buffering_response) {
            self.pass_body(s, Direction::Response)?;
        }
        let stream = self.stream_mut(s)?;
        let Some(reply) = stream.pending_local_reply.take() else { return Ok(()) };
        if stream.local_reply.is_some() || stream.complete {
            return Ok(());
        }
        stream.request_paused = false;
        stream.visible.request_headers = false;
        stream.visible.request_body = false;
        // Measured on Envoy 1.40 (`LocalReply::response`): the module's headers, then Envoy's
        // `content-length` and `content-type`, or a gRPC request's trailers-only reply; a reply to
        // HEAD keeps `content-length` and drops the body.
        let grpc = crate::stream::is_grpc_request(&stream.request_headers);
        let (headers, body) = reply.response(grpc);
        let head = first(&stream.request_headers, ":method") == Some("HEAD");
        let body = if head { Vec::new() } else { body };
        stream.close_connection = super::envoy::close_connection(stream.request_ended, stream.downstream_http1());
        stream.local_reply = Some(reply);
        self.send_response_headers(s, headers, body.is_empty())?;
        self.frame_downstream(s)?;
        if !body.is_empty() {
            let stream = self.stream_mut(s)?;
            stream.response_body = body.clone();
            stream.visible.response_body = true;
            stream.end_of_stream = true;
            stream.body_ended.1 = true;
            self.callback("proxy_on_response_body", id, &[i(id), len(body.len()), i(1)])?;
            self.pass_body(s, Direction::Response)?;
        }
        Ok(())
    }

    /// What Envoy's HTTP/1 codec adds on the wire to a local reply's headers, once they left the
    /// filter nearest downstream (`s`): `content-length: 0` when the reply is headers only, and
    /// `connection: close` when Envoy closes the connection after it. No filter's callbacks see
    /// either. (An upstream response is reported as the traffic gives it: one that ends at its
    /// headers came with its own framing.)
    pub(super) fn frame_downstream(&mut self, s: StreamId) -> Result<(), Error> {
        let streams = &self.store.data().streams;
        let local_reply = self.members(s).iter().any(|m| streams.get(m).is_some_and(|st| st.local_reply.is_some()));
        let nearest = self.head(s) == s;
        let stream = self.stream_mut(s)?;
        if !nearest || !local_reply || !stream.downstream_http1() {
            return Ok(());
        }
        let head_request = first(&stream.request_headers, ":method") == Some("HEAD");
        let end_of_stream = stream.headers_end_stream.1;
        let close = stream.close_connection;
        let Some(headers) = stream.response_headers.as_mut() else { return Ok(()) };
        let filters_sent = headers.len();
        super::envoy::http1_framing(headers, end_of_stream, head_request);
        if close {
            headers.push(("connection".into(), "close".into()));
        }
        stream.codec_headers = headers.get(filters_sent..).unwrap_or_default().to_vec();
        Ok(())
    }
}
