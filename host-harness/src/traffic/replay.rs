//! Replaying exchanges through a host, in time order on the virtual clock.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use super::{End, Exchange, Outcome, ReplayError};
use crate::error::Error;
use crate::host::Host;
use crate::properties::Value;
use crate::stream::StreamId;

/// What happens at a point of the replay. Responses sort before requests at the same instant,
/// so an exchange that ends when the next begins finishes first, as in a sequential log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Response,
    Request,
}

/// Replays `exchanges` (in file order, with `at_ms` non-decreasing, as [`super::parse`] returns
/// them) through `host`, starting now. `progress` is called with the number of finished
/// exchanges each time one ends. Returns one outcome per exchange, in the same order, each with
/// its stream's final state (taken out of the host).
///
/// The clock stops at the last event: advance it afterwards to let the module flush what it
/// batches (spans, metrics).
pub fn replay(
    host: &mut Host,
    exchanges: &[Exchange],
    mut progress: impl FnMut(usize),
) -> Result<Vec<Outcome>, ReplayError> {
    let base = host.now_unix_nanos();
    let mut queue: BinaryHeap<Reverse<(u64, Step, usize)>> =
        exchanges.iter().enumerate().map(|(i, e)| Reverse((e.at_ms, Step::Request, i))).collect();
    let mut streams: Vec<Option<StreamId>> = vec![None; exchanges.len()];
    let mut outcomes: Vec<Option<Outcome>> = vec![None; exchanges.len()];
    let mut finished = 0;
    while let Some(Reverse((at_ms, step, i))) = queue.pop() {
        let Some(exchange) = exchanges.get(i) else { continue };
        let fail = |error: Error| ReplayError { line: exchange.line, error };
        advance_to(host, base, at_ms).map_err(fail)?;
        let ended = match (step, streams.get(i).copied().flatten()) {
            (Step::Request, _) => {
                let (s, ended) = request(host, exchange).map_err(fail)?;
                if let Some(slot) = streams.get_mut(i) {
                    *slot = Some(s);
                }
                if ended.is_none() {
                    queue.push(Reverse((at_ms.saturating_add(exchange.response.latency_ms), Step::Response, i)));
                }
                ended.map(|end| (s, end))
            }
            (Step::Response, Some(s)) => Some((s, response(host, s, exchange).map_err(fail)?)),
            (Step::Response, None) => None,
        };
        if let Some((s, end)) = ended {
            host.complete(s).map_err(fail)?;
            let stream = host
                .remove_stream(s)
                .ok_or_else(|| fail(Error::Usage(format!("stream {} is gone after it completed", s.0))))?;
            let response_paused = stream.response_paused();
            if let Some(slot) = outcomes.get_mut(i) {
                *slot = Some(Outcome { id: s, stream, end, response_paused, ended_at_ms: at_ms });
            }
            finished += 1;
            progress(finished);
        }
    }
    Ok(outcomes.into_iter().flatten().collect())
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
    let headers = exchange.request_headers();
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    host.request_headers(s, &headers, exchange.body.is_empty())?;
    if let Some(end) = ended_early(host, s) {
        return Ok((s, Some(end)));
    }
    // While the module holds the headers, Envoy would buffer the body; the harness refuses it.
    let held = host.stream(s).is_some_and(|st| st.request_paused());
    if !exchange.body.is_empty() && !held {
        host.request_body(s, &exchange.body, true)?;
    }
    Ok((s, ended_early(host, s)))
}

/// The upstream response arrives (unless the module answered or still holds the request).
fn response(host: &mut Host, s: StreamId, exchange: &Exchange) -> Result<End, Error> {
    if let Some(end) = ended_early(host, s) {
        return Ok(end);
    }
    if host.stream(s).is_some_and(|st| st.request_paused()) {
        return Ok(End::RequestPaused);
    }
    let headers = exchange.response.headers_with_status();
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let body = &exchange.response.body;
    host.response_headers(s, &headers, body.is_empty())?;
    if let Some(end) = ended_early(host, s) {
        return Ok(end);
    }
    if !body.is_empty() {
        host.response_body(s, body, true)?;
    }
    Ok(ended_early(host, s).unwrap_or(End::Completed))
}

fn ended_early(host: &Host, s: StreamId) -> Option<End> {
    let stream = host.stream(s)?;
    if stream.local_reply().is_some() {
        Some(End::LocalReply)
    } else if stream.was_reset() {
        Some(End::Reset)
    } else {
        None
    }
}
