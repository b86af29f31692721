//! Several HTTP plugins on one stream, as Envoy's HTTP connection manager runs a filter chain
//! (`FilterManager` in envoy `source/common/http/filter_manager.cc`).
//!
//! Each filter has its own context (ids in filter order, as Envoy creates them), its own
//! callbacks and pauses; the header and trailer maps are one per stream, so what a filter
//! changes every other filter reads. Measured on Envoy 1.40 with two plugins of one module
//! (`tests/tests/all/envoy_plugin_chain.rs`):
//!
//! - The request goes through the filters in order: the second filter's request callbacks run
//!   once the first let the headers go (returned Continue, or continued after a callout), and see
//!   what the first added.
//! - The response goes through them in reverse, the last filter first; body pieces go through
//!   every filter before the next piece.
//! - A local reply goes back from the filter that sent it towards downstream; filters after it
//!   never ran and get no response callback.
//! - Every filter logs (`proxy_on_log`, in filter order), a filter that never ran included.

use std::borrow::Cow;

/// Where an exchange stands ([`Host::exchange_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExchangeState {
    /// A filter answered with a local reply.
    pub local_reply: bool,
    /// A filter reset the stream.
    pub reset: bool,
    /// A filter holds the request.
    pub request_paused: bool,
    /// When the request went upstream (left the last filter), Unix nanoseconds on the virtual clock.
    pub request_released_at_unix_nanos: Option<u64>,
}

use super::Host;
use crate::error::Error;
use crate::stream::{Stream, StreamId};

impl Host {
    /// The filter nearest downstream of `s`'s chain (`s` itself when it has none).
    pub(super) fn head(&self, s: StreamId) -> StreamId {
        self.chain_of(s.0).and_then(|c| c.first().copied()).map_or(s, StreamId)
    }

    /// The filter nearest upstream of `s`'s chain (`s` itself when it has none).
    pub(super) fn tail(&self, s: StreamId) -> StreamId {
        self.chain_of(s.0).and_then(|c| c.last().copied()).map_or(s, StreamId)
    }

    /// Every filter context of `s`'s chain, in filter order (`[s]` when it has none): what a
    /// log line's or a callout's context id is matched against to find its stream.
    pub fn filter_contexts(&self, s: StreamId) -> Vec<u32> {
        self.members(s)
    }

    /// Every filter context of `s`'s chain, in filter order (`[s]` when it has none).
    pub(super) fn members(&self, s: StreamId) -> Vec<u32> {
        self.chain_of(s.0).map_or_else(|| vec![s.0], |c| c.to_vec())
    }

    fn chain_of(&self, context: u32) -> Option<std::sync::Arc<[u32]>> {
        self.store.data().streams.get(&context).and_then(|s| s.chain.clone())
    }

    /// The stream a filter context belongs to: the first filter's id on a chain, else the
    /// context's own, for attributing what a context did to its exchange. `None` for a context
    /// that is no stream (a root).
    pub fn stream_of(&self, context: u32) -> Option<StreamId> {
        self.store.data().streams.get(&context).map(|_| self.head(StreamId(context)))
    }

    /// The exchange as seen from outside the proxy: what came from downstream and went back
    /// there (the first filter's view), what went upstream (the last filter's), the local
    /// reply and the pauses of any filter. Without a chain, the stream itself.
    pub fn exchange(&self, s: StreamId) -> Option<Cow<'_, Stream>> {
        let streams = &self.store.data().streams;
        let head = streams.get(&self.head(s).0)?;
        let Some(chain) = &head.chain else { return Some(Cow::Borrowed(head)) };
        let members: Vec<&Stream> = chain.iter().filter_map(|m| streams.get(m)).collect();
        let mut merged = head.clone();
        if let Some(tail) = members.last() {
            merged.request_body_sent.clone_from(&tail.request_body_sent);
            merged.request_trailers.clone_from(&tail.request_trailers);
            merged.released_at_nanos = tail.released_at_nanos;
        }
        merged.request_paused = members.iter().any(|m| m.request_paused);
        merged.response_paused = members.iter().any(|m| m.response_paused);
        merged.reset = members.iter().any(|m| m.reset);
        merged.complete = members.iter().all(|m| m.complete);
        merged.local_reply = members.iter().find_map(|m| m.local_reply.clone());
        if let Some(nearest_upstream) = members.iter().rev().find(|m| !m.received_response_headers.is_empty()) {
            merged.received_response_headers.clone_from(&nearest_upstream.received_response_headers);
        }
        Some(Cow::Owned(merged))
    }

    /// Where the exchange stands, as [`Host::exchange`] shows it, without copying the stream:
    /// what a replay asks after every step.
    pub fn exchange_state(&self, s: StreamId) -> Option<ExchangeState> {
        let streams = &self.store.data().streams;
        let head = streams.get(&self.head(s).0)?;
        let one = |m: &Stream| ExchangeState {
            local_reply: m.local_reply.is_some(),
            reset: m.reset,
            request_paused: m.request_paused,
            request_released_at_unix_nanos: m.released_at_nanos,
        };
        let Some(chain) = &head.chain else { return Some(one(head)) };
        // The release is the last filter's: when the request went upstream.
        chain.iter().filter_map(|m| streams.get(m)).map(one).reduce(|a, b| ExchangeState {
            local_reply: a.local_reply || b.local_reply,
            reset: a.reset || b.reset,
            request_paused: a.request_paused || b.request_paused,
            request_released_at_unix_nanos: b.request_released_at_unix_nanos,
        })
    }

    /// Runs `f` as one driving step: chains are forwarded when the outermost step ends, not from
    /// the callbacks inside it.
    pub(super) fn driving<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, Error>) -> Result<T, Error> {
        let was = std::mem::replace(&mut self.driving, true);
        let result = f(self);
        self.driving = was;
        result
    }

    /// Marks a filter context whose chain may have something to hand on (its neighbours too:
    /// what they hold for it may go on now).
    pub(super) fn mark_chained(&mut self, context: u32) {
        let Some(chain) = self.chain_of(context) else { return };
        let Some(at) = chain.iter().position(|m| *m == context) else { return };
        let from = at.saturating_sub(1);
        self.chain_dirty.extend(chain.iter().skip(from).take(at + 2 - from));
    }

    /// Hands on what each marked filter let go: the request to the next filter, the response to
    /// the one before. Outside a driving step only; ends when nothing is left to hand on (each
    /// piece goes on once).
    pub(super) fn forward_chains(&mut self) -> Result<(), Error> {
        if self.driving || self.chain_dirty.is_empty() {
            return Ok(());
        }
        self.driving = true;
        let result = self.forward_marked();
        self.driving = false;
        result
    }

    fn forward_marked(&mut self) -> Result<(), Error> {
        loop {
            let mut marked = std::mem::take(&mut self.chain_dirty);
            if marked.is_empty() {
                return Ok(());
            }
            marked.sort_unstable();
            marked.dedup();
            for context in marked {
                self.forward_request(context)?;
                self.forward_response(context)?;
            }
        }
    }

    /// The next filter receives what `context` let go of the request and it has not received:
    /// headers, body, trailers, each once and in order; nothing while it holds the request. Only
    /// the new piece of a body is copied.
    fn forward_request(&mut self, context: u32) -> Result<(), Error> {
        let Some(next) = self.neighbour(context, 1) else { return Ok(()) };
        let next_id = StreamId(next);
        let Some(s) = self.filter_state(context) else { return Ok(()) };
        if s.local_reply.is_some() || s.reset || s.complete {
            return Ok(());
        }
        if s.released.request_headers && !s.forwarded.request_headers {
            let (headers, eos) = (s.request_headers.clone(), s.headers_end_stream.0);
            self.stream_mut(StreamId(context))?.forwarded.request_headers = true;
            self.filter_request_headers(next_id, headers, eos, false)?;
            self.mark_chained(next);
        }
        let held = |host: &Self| host.filter_state(next).is_none_or(|n| n.request_paused || n.complete);
        let Some(s) = self.filter_state(context) else { return Ok(()) };
        if !s.forwarded.request_headers || s.headers_end_stream.0 || held(self) {
            return Ok(());
        }
        let (released, forwarded) = (s.released, s.forwarded);
        if released.request_body > forwarded.request_body || (released.request_body_end && !forwarded.request_body_end)
        {
            let chunk = s.request_body_sent.get(forwarded.request_body..released.request_body);
            let chunk = chunk.unwrap_or_default().to_vec();
            let stream = self.stream_mut(StreamId(context))?;
            stream.forwarded.request_body = released.request_body;
            stream.forwarded.request_body_end = released.request_body_end;
            self.body(next_id, super::http::Direction::Request, &chunk, released.request_body_end)?;
            self.mark_chained(next);
        }
        let Some(s) = self.filter_state(context) else { return Ok(()) };
        if s.released.request_trailers && !s.forwarded.request_trailers && !held(self) {
            let trailers = s.request_trailers.clone().unwrap_or_default();
            self.stream_mut(StreamId(context))?.forwarded.request_trailers = true;
            self.trailers(next_id, super::http::Direction::Request, trailers)?;
            self.mark_chained(next);
        }
        Ok(())
    }

    /// The filter before `context` receives what `context` let go of the response.
    fn forward_response(&mut self, context: u32) -> Result<(), Error> {
        let Some(prev) = self.neighbour(context, -1) else { return Ok(()) };
        let prev_id = StreamId(prev);
        let Some(s) = self.filter_state(context) else { return Ok(()) };
        if s.released.response_headers && !s.forwarded.response_headers {
            let headers = s.response_headers.clone().unwrap_or_default();
            let (eos, close) = (s.headers_end_stream.1, s.close_connection);
            self.stream_mut(StreamId(context))?.forwarded.response_headers = true;
            self.stream_mut(prev_id)?.close_connection |= close;
            self.send_response_headers(prev_id, headers, eos)?;
            self.frame_downstream(prev_id)?;
            self.mark_chained(prev);
        }
        let held = |host: &Self| host.filter_state(prev).is_none_or(|p| p.response_paused || p.complete);
        let Some(s) = self.filter_state(context) else { return Ok(()) };
        if !s.forwarded.response_headers || s.headers_end_stream.1 || held(self) {
            return Ok(());
        }
        let (released, forwarded) = (s.released, s.forwarded);
        if released.response_body > forwarded.response_body
            || (released.response_body_end && !forwarded.response_body_end)
        {
            let chunk = s.response_body_sent.get(forwarded.response_body..released.response_body);
            let chunk = chunk.unwrap_or_default().to_vec();
            let stream = self.stream_mut(StreamId(context))?;
            stream.forwarded.response_body = released.response_body;
            stream.forwarded.response_body_end = released.response_body_end;
            self.body(prev_id, super::http::Direction::Response, &chunk, released.response_body_end)?;
            self.mark_chained(prev);
        }
        let Some(s) = self.filter_state(context) else { return Ok(()) };
        if s.released.response_trailers && !s.forwarded.response_trailers && !held(self) {
            let trailers = s.response_trailers.clone().unwrap_or_default();
            self.stream_mut(StreamId(context))?.forwarded.response_trailers = true;
            self.trailers(prev_id, super::http::Direction::Response, trailers)?;
            self.mark_chained(prev);
        }
        Ok(())
    }

    /// The filter `step` places after `context` on its chain (-1: before).
    fn neighbour(&self, context: u32, step: isize) -> Option<u32> {
        let chain = self.filter_state(context)?.chain.as_ref()?;
        let at = chain.iter().position(|m| *m == context)?;
        chain.get(at.checked_add_signed(step)?).copied()
    }

    /// One filter context's stream state.
    fn filter_state(&self, context: u32) -> Option<&Stream> {
        self.store.data().streams.get(&context)
    }

    /// After a callback of a chained filter: every filter of the chain sees the maps as that
    /// callback left them (Envoy keeps one header map per stream). A map a filter has not
    /// received yet stays unreceived.
    pub(super) fn share_maps(&mut self, context: u32) {
        let Some(chain) = self.chain_of(context) else { return };
        let streams = &mut self.store.data_mut().streams;
        let Some(from) = streams.get(&context) else { return };
        let maps = (
            from.request_headers.clone(),
            from.request_trailers.clone(),
            from.response_headers.clone(),
            from.response_trailers.clone(),
        );
        for member in chain.iter().filter(|m| **m != context) {
            let Some(to) = streams.get_mut(member) else { continue };
            to.request_headers.clone_from(&maps.0);
            if to.request_trailers.is_some() {
                to.request_trailers.clone_from(&maps.1);
            }
            if to.response_headers.is_some() && maps.2.is_some() {
                to.response_headers.clone_from(&maps.2);
            }
            if to.response_trailers.is_some() && maps.3.is_some() {
                to.response_trailers.clone_from(&maps.3);
            }
        }
    }

    /// Before the access log: every filter of the chain reads the response maps as they went
    /// downstream, a filter the response never reached (after a local reply) included.
    pub(super) fn share_final_maps(&mut self, s: StreamId) {
        let head = self.head(s);
        let streams = &mut self.store.data_mut().streams;
        let Some(first) = streams.get(&head.0) else { return };
        let Some(chain) = first.chain.clone() else { return };
        let maps = (first.response_headers.clone(), first.response_trailers.clone());
        for member in chain.iter().skip(1) {
            let Some(to) = streams.get_mut(member) else { continue };
            if to.response_headers.is_none() {
                to.response_headers.clone_from(&maps.0);
            }
            if to.response_trailers.is_none() {
                to.response_trailers.clone_from(&maps.1);
            }
        }
    }
}
