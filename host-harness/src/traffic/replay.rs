//! Replaying exchanges through a host, in time order on the virtual clock.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::Duration;

use super::{End, Exchange, Outcome, ReplayError};
use crate::error::Error;
use crate::host::Host;
use crate::properties::Value;
use crate::stream::StreamId;

/// Replays `exchanges` (in file order, with `at_ms` non-decreasing, as [`super::parse`] returns
/// them) through `host`, starting now. `progress` is called with the number of finished
/// exchanges each time one ends. Returns one outcome per exchange, in the same order, each with
/// its stream's final state (taken out of the host).
///
/// The clock stops at the last event: advance it afterwards to let the module flush what it
/// batches (spans, metrics). For traffic of any length, [`replay_stream`] keeps only the
/// exchanges in flight.
pub fn replay(
    host: &mut Host,
    exchanges: &[Exchange],
    mut progress: impl FnMut(usize),
) -> Result<Vec<Outcome>, ReplayError> {
    let mut outcomes: Vec<(usize, Outcome)> = Vec::with_capacity(exchanges.len());
    let numbered = exchanges.iter().enumerate().map(|(index, e)| Ok::<_, ReplayError>(Numbered { index, exchange: e }));
    replay_stream(host, numbered, |_, _, ended| {
        if let Some((numbered, outcome)) = ended {
            outcomes.push((numbered.index, outcome));
            progress(outcomes.len());
        }
        Ok(())
    })?;
    outcomes.sort_by_key(|(index, _)| *index);
    Ok(outcomes.into_iter().map(|(_, o)| o).collect())
}

/// An exchange of a slice and its place in it (for [`replay`], which returns outcomes in order).
struct Numbered<'a> {
    index: usize,
    exchange: &'a Exchange,
}

impl AsRef<Exchange> for Numbered<'_> {
    fn as_ref(&self) -> &Exchange {
        self.exchange
    }
}

impl Lined for Numbered<'_> {
    fn line(&self) -> usize {
        self.exchange.line
    }
}

impl Lined for Exchange {
    fn line(&self) -> usize {
        self.line
    }
}

/// What [`replay_stream`] needs of an exchange: the exchange, and the line errors name.
pub trait Lined: AsRef<Exchange> {
    fn line(&self) -> usize;
}

impl AsRef<Exchange> for Exchange {
    fn as_ref(&self) -> &Exchange {
        self
    }
}

/// Replays exchanges as they come (from [`super::Reader`], say), keeping only those in flight:
/// memory stays bounded however long the traffic is. Each exchange starts when its `at_ms` is
/// reached, so `exchanges` must be in time order (the parser checks it).
///
/// After every step (a request arriving, a response arriving) `step` is called with the host,
/// a lookup from a context id to the traffic line of the exchange whose stream it is (for
/// attributing log lines and callouts made meanwhile), and the exchange that just ended with
/// its outcome, if one did. Take what the host accumulates (`Host::take_logs`,
/// `Host::take_finished_http_calls`) there to keep the host's memory bounded too. Returns the
/// number of exchanges replayed; an error from `exchanges` or `step` ends the replay.
pub fn replay_stream<X, E>(
    host: &mut Host,
    exchanges: impl IntoIterator<Item = Result<X, E>>,
    mut step: impl FnMut(&mut Host, &dyn Fn(u32) -> Option<usize>, Option<(X, Outcome)>) -> Result<(), E>,
) -> Result<usize, E>
where
    X: Lined,
    E: From<ReplayError>,
{
    let base = host.now_unix_nanos();
    let mut exchanges = exchanges.into_iter();
    let mut next = exchanges.next().transpose()?;
    // Responses due: (at_ms, sequence number), and the exchanges in flight by sequence number.
    let mut responses: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::new();
    let mut in_flight: BTreeMap<u64, (X, StreamId, Vec<u32>)> = BTreeMap::new();
    let mut sequence = 0u64;
    let mut finished = 0usize;
    loop {
        // Responses sort before requests at the same instant, so an exchange that ends when the
        // next begins finishes first, as in a sequential log.
        let response_due = responses.peek().map(|Reverse((at, _))| *at);
        let take_response = match (&next, response_due) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(x), Some(at)) => at <= x.as_ref().at_ms,
        };
        let ended = if take_response {
            let Some(Reverse((at_ms, seq))) = responses.pop() else { break };
            let Some((x, s, members)) = in_flight.remove(&seq) else { continue };
            let line = x.line();
            let fail = |error: Error| E::from(ReplayError { line, error });
            advance_to(host, base, at_ms).map_err(fail)?;
            if let Some(due) = upstream_due(host, base, s, x.as_ref().response.latency_ms, at_ms) {
                responses.push(Reverse((due, seq)));
                in_flight.insert(seq, (x, s, members));
                continue;
            }
            let end = response(host, s, x.as_ref()).map_err(fail)?;
            let outcome = finish(host, s, end, at_ms).map_err(fail)?;
            Some((x, members, outcome))
        } else {
            let Some(x) = next.take() else { break };
            let line = x.line();
            let fail = |error: Error| E::from(ReplayError { line, error });
            let at_ms = x.as_ref().at_ms;
            advance_to(host, base, at_ms).map_err(fail)?;
            let (s, ended) = request(host, x.as_ref()).map_err(fail)?;
            let members = host.filter_contexts(s);
            let outcome = match ended {
                Some(end) => Some(finish(host, s, end, at_ms).map_err(fail)?),
                None => {
                    responses.push(Reverse((at_ms.saturating_add(x.as_ref().response.latency_ms), sequence)));
                    None
                }
            };
            let step_result = match outcome {
                Some(outcome) => Some((x, members, outcome)),
                None => {
                    in_flight.insert(sequence, (x, s, members));
                    None
                }
            };
            sequence += 1;
            next = exchanges.next().transpose()?;
            step_result
        };
        let just_ended = ended.as_ref().map(|(x, members, _)| (members.clone(), x.line()));
        let lines = |context: u32| {
            just_ended.as_ref().filter(|(members, _)| members.contains(&context)).map(|(_, line)| *line).or_else(|| {
                in_flight.values().find(|(_, _, members)| members.contains(&context)).map(|(x, _, _)| x.line())
            })
        };
        if ended.is_some() {
            finished += 1;
        }
        step(host, &lines, ended.map(|(x, _, outcome)| (x, outcome)))?;
    }
    Ok(finished)
}

/// Envoy's upstream timing starts when the module releases the request, not when it arrives:
/// a response due at `now_ms` (arrival + latency) waits. Returns when to look again: the
/// release + latency, or, while the request is still held, the host's next callout event
/// (what can release it). `None`: the response is due now, or the request is held with nothing
/// left that could release it (it then ends without a response, as before).
fn upstream_due(host: &Host, base: u64, s: StreamId, latency_ms: u64, now_ms: u64) -> Option<u64> {
    let stream = host.exchange_state(s)?;
    if stream.local_reply || stream.reset {
        return None;
    }
    if stream.request_paused {
        let now_nanos = host.now_monotonic_nanos();
        let next = host.next_callout_event_nanos().filter(|t| *t > now_nanos)?;
        return Some(now_ms.saturating_add((next - now_nanos).div_ceil(1_000_000)));
    }
    let released_ms = stream.request_released_at_unix_nanos?.saturating_sub(base).div_ceil(1_000_000);
    Some(released_ms.saturating_add(latency_ms)).filter(|due| *due > now_ms)
}

/// Ends a stream (`proxy_on_log`, `proxy_on_done`, `proxy_on_delete`) and takes it out of the host.
fn finish(host: &mut Host, s: StreamId, end: End, at_ms: u64) -> Result<Outcome, Error> {
    host.complete(s)?;
    let stream =
        host.remove_stream(s).ok_or_else(|| Error::Usage(format!("stream {} is gone after it completed", s.0)))?;
    let response_paused = stream.response_paused();
    Ok(Outcome { id: s, stream, end, response_paused, ended_at_ms: at_ms })
}

/// Moves the clock to `at_ms` after `base` (never backwards).
fn advance_to(host: &mut Host, base: u64, at_ms: u64) -> Result<(), Error> {
    let target = base.saturating_add(at_ms.saturating_mul(1_000_000));
    let now = host.now_unix_nanos();
    if target > now { host.advance(Duration::from_nanos(target - now)) } else { Ok(()) }
}

/// The request arrives on a new stream. Returns how the exchange ended when the module ended it
/// already (local reply, reset).
fn request(host: &mut Host, exchange: &Exchange) -> Result<(StreamId, Option<End>), Error> {
    let s = host.new_stream();
    if let Some((address, port)) = &exchange.client {
        host.set_stream_property(s, &["source", "address"], Value::String(address.clone()))?;
        host.set_stream_property(s, &["source", "port"], Value::Int(i64::from(*port)))?;
    }
    for (path, value) in &exchange.properties {
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        host.set_stream_property(s, &path, value.clone())?;
    }
    let headers = exchange.request_headers();
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let calls =
        body_calls(&exchange.body, exchange.chunks.as_deref(), !exchange.trailers.is_empty(), host.envoy_defaults());
    host.request_headers(s, &headers, calls.is_empty() && exchange.trailers.is_empty())?;
    for (chunk, end_of_stream) in calls {
        if let Some(end) = ended_early(host, s) {
            return Ok((s, Some(end)));
        }
        // While the module holds the headers, Envoy would buffer the body; the harness refuses it.
        if host.exchange_state(s).is_some_and(|st| st.request_paused) {
            return Ok((s, None));
        }
        host.request_body(s, chunk, end_of_stream)?;
    }
    if !exchange.trailers.is_empty()
        && ended_early(host, s).is_none()
        && !host.exchange_state(s).is_some_and(|st| st.request_paused)
    {
        let trailers: Vec<(&str, &str)> = exchange.trailers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        host.request_trailers(s, &trailers)?;
    }
    Ok((s, ended_early(host, s)))
}

/// The body callbacks one body makes, as (chunk, end_of_stream): each given chunk (or the body in
/// one), the last ending the stream unless trailers follow. With Envoy's defaults the end of the
/// stream is a call of its own, empty, after the data (unless the last chunk is empty already),
/// as Envoy's HTTP/1 codec delivers a body, however it arrived (measured on Envoy 1.40, see
/// [`crate::envoy`]). No body, no call.
fn body_calls<'a>(
    body: &'a [u8],
    chunks: Option<&'a [Vec<u8>]>,
    trailers: bool,
    envoy_defaults: bool,
) -> Vec<(&'a [u8], bool)> {
    let mut pieces: Vec<&[u8]> = match chunks {
        Some(chunks) => chunks.iter().map(Vec::as_slice).collect(),
        None if body.is_empty() => Vec::new(),
        None => vec![body],
    };
    if envoy_defaults && !trailers && pieces.last().is_some_and(|last| !last.is_empty()) {
        pieces.push(&[]);
    }
    let last = pieces.len().saturating_sub(1);
    pieces.drain(..).enumerate().map(|(i, chunk)| (chunk, i == last && !trailers)).collect()
}

/// The upstream response arrives (unless the module answered or still holds the request).
fn response(host: &mut Host, s: StreamId, exchange: &Exchange) -> Result<End, Error> {
    if let Some(end) = ended_early(host, s) {
        return Ok(end);
    }
    if host.exchange_state(s).is_some_and(|st| st.request_paused) {
        return Ok(End::RequestPaused);
    }
    let response = &exchange.response;
    let headers = response.headers_with_status();
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // A reply to HEAD has no body, whatever its content-length says (measured on Envoy 1.40).
    let head = exchange.method == "HEAD";
    let trailers = !head && !response.trailers.is_empty();
    let calls = if head {
        Vec::new()
    } else {
        body_calls(&response.body, response.chunks.as_deref(), trailers, host.envoy_defaults())
    };
    host.response_headers(s, &headers, calls.is_empty() && !trailers)?;
    for (chunk, end_of_stream) in calls {
        if let Some(end) = ended_early(host, s) {
            return Ok(end);
        }
        host.response_body(s, chunk, end_of_stream)?;
    }
    if trailers && ended_early(host, s).is_none() {
        let trailers: Vec<(&str, &str)> = response.trailers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        host.response_trailers(s, &trailers)?;
    }
    Ok(ended_early(host, s).unwrap_or(End::Completed))
}

fn ended_early(host: &Host, s: StreamId) -> Option<End> {
    let stream = host.exchange_state(s)?;
    if stream.local_reply {
        Some(End::LocalReply)
    } else if stream.reset {
        Some(End::Reset)
    } else {
        None
    }
}
