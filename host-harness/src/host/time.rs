//! The virtual clock and what it drives: ticks, callout timeouts, and callout answers.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Host;
use super::calls::{i, len};
use crate::callouts::{CallState, GrpcReply, HttpResponse, ScheduledAnswer};
use crate::error::Error;

/// Ticks a root gets on schedule in an idle stretch (nothing else due) before the rest of the
/// stretch is skipped; see [`Host::advance`].
pub const TICKS_ON_SCHEDULE: u32 = 100;

/// The next thing due on the clock.
enum Due {
    Tick(u32),
    Timeout(u32),
    /// A scripted answer (its index in `Callouts::scheduled`).
    Answer(usize),
    GrpcTimeout(u32),
}

/// What a gRPC call that reaches its timeout closes with in Envoy 1.40: UNAVAILABLE (14), not
/// DEADLINE_EXCEEDED (the router's 504 local reply, mapped to a gRPC status), with
/// [`GRPC_TIMEOUT_MESSAGE`] (`tests/tests/all/envoy_grpc_local_reply.rs`).
pub const GRPC_TIMEOUT_STATUS: u32 = 14;

/// The status message (`proxy_get_status`) of a gRPC call closed by its timeout, in Envoy 1.40.
pub const GRPC_TIMEOUT_MESSAGE: &str = "upstream request timeout{response_timeout}";

impl Host {
    /// Moves the virtual clock forward by `by`, firing every tick and callout timeout that falls
    /// due on the way, in time order, then delivers shared-queue notifications.
    ///
    /// An idle stretch is not simulated tick by tick: once a root has had
    /// [`TICKS_ON_SCHEDULE`] ticks in a row with nothing else due, the rest of the stretch (up to
    /// the next callout timeout, or the end of the advance) gives it one more tick, at the last
    /// time one was due, and its timer re-arms from there. Envoy's tick timer does the same
    /// after a stall: `Wasm::tickHandler` (`source/extensions/common/wasm/wasm.cc`) calls
    /// `on_tick`, then `enableTimer(period)` again, so it fires one period after the previous
    /// tick returned and missed ticks are never queued. A replay whose exchanges are hours apart costs a few hundred ticks, not
    /// hundreds of thousands.
    ///
    /// An advance that would carry the clock past the largest time it holds (u64 nanoseconds
    /// since the Unix epoch, 2554-07-21T23:34:33Z) is refused, before anything moves.
    pub fn advance(&mut self, by: Duration) -> Result<(), Error> {
        let clock = self.store.data().clock;
        let by_nanos = u64::try_from(by.as_nanos()).ok();
        let target = by_nanos
            .filter(|b| clock.realtime.checked_add(*b).is_some())
            .and_then(|b| clock.monotonic.checked_add(b))
            .ok_or_else(|| {
                Error::Usage(format!(
                    "the virtual clock cannot advance by {by:?} from {} ns since the Unix epoch: it would pass the \
                     largest time it holds (2554-07-21T23:34:33Z)",
                    clock.realtime
                ))
            })?;
        // Ticks in a row per root with nothing else due.
        let mut streak: BTreeMap<u32, u32> = BTreeMap::new();
        while let Some((at, due)) = self.next_due(target) {
            match due {
                Due::Tick(root) => {
                    let period = self.store.data().plugins.get(&root).map_or(0, |p| u64::from(p.tick_period_ms));
                    let period = period * 1_000_000;
                    let count = streak.entry(root).or_default();
                    *count += 1;
                    let at = if *count > TICKS_ON_SCHEDULE && period > 0 {
                        let horizon = self.next_timeout().map_or(target, |t| t.min(target)).max(at);
                        at + (horizon - at) / period * period
                    } else {
                        at
                    };
                    self.move_clock_to(at);
                    if let Some(p) = self.store.data_mut().plugins.get_mut(&root) {
                        p.next_tick_nanos = Some(at.saturating_add(period));
                    }
                    self.ticks_delivered += 1;
                    self.callback("proxy_on_tick", root, &[i(root)])?;
                }
                Due::Timeout(token) => {
                    streak.clear();
                    self.move_clock_to(at);
                    if let Some(call) = self.store.data_mut().callouts.http_mut(token) {
                        call.state = CallState::TimedOut;
                    }
                    // Envoy's async client runs the router, whose timeout is a local reply.
                    let reply = HttpResponse {
                        status: 504,
                        headers: vec![
                            ("content-length".into(), "24".into()),
                            ("content-type".into(), "text/plain".into()),
                        ],
                        body: b"upstream request timeout".to_vec(),
                        trailers: Vec::new(),
                    };
                    self.deliver_http(token, Some(reply), false)?;
                }
                Due::Answer(index) => {
                    streak.clear();
                    self.move_clock_to(at);
                    self.deliver_scheduled(index)?;
                }
                Due::GrpcTimeout(token) => {
                    streak.clear();
                    self.move_clock_to(at);
                    let reply = GrpcReply {
                        status: GRPC_TIMEOUT_STATUS,
                        status_message: String::from(GRPC_TIMEOUT_MESSAGE),
                        ..GrpcReply::default()
                    };
                    self.deliver_grpc(token, reply)?;
                }
            }
        }
        self.move_clock_to(target);
        self.deliver_queue_ready()
    }

    /// How many times `proxy_on_tick` was called, over every root.
    pub fn ticks_delivered(&self) -> u64 {
        self.ticks_delivered
    }

    /// Moves the clock forward to monotonic time `at` (never backwards).
    fn move_clock_to(&mut self, at: u64) {
        let now = self.store.data().clock.monotonic;
        self.store.data_mut().clock.advance(at.saturating_sub(now));
    }

    /// When the earliest callout event (a timeout, a scripted answer) is due.
    fn next_timeout(&self) -> Option<u64> {
        self.callout_events().map(|(t, _)| t).min()
    }

    /// When the next callout event is due (a callout timing out, a scripted answer), in
    /// monotonic nanoseconds: a replay that waits for a paused request advances no further.
    pub fn next_callout_event_nanos(&self) -> Option<u64> {
        self.next_timeout()
    }

    fn callout_events(&self) -> impl Iterator<Item = (u64, Due)> + '_ {
        let state = self.store.data();
        let timeouts =
            state.callouts.http.iter().filter(|c| c.state == CallState::Pending && c.timeout_ms > 0).map(|c| {
                (c.dispatched_at_nanos.saturating_add(u64::from(c.timeout_ms) * 1_000_000), Due::Timeout(c.token))
            });
        let grpc = state
            .callouts
            .grpc
            .iter()
            .filter(|g| !g.closed && !g.streaming)
            .filter_map(|g| g.timeout_ms.filter(|t| *t > 0).map(|t| (g, t)))
            .map(|(g, t)| (g.dispatched_at_nanos.saturating_add(u64::from(t) * 1_000_000), Due::GrpcTimeout(g.token)));
        let answers = state.callouts.scheduled.iter().enumerate().map(|(i, a)| (a.due_nanos, Due::Answer(i)));
        // At the same instant, an answer comes before the timeout it beats.
        answers.chain(timeouts).chain(grpc)
    }

    fn next_due(&self, target: u64) -> Option<(u64, Due)> {
        let state = self.store.data();
        let ticks = state.plugins.iter().filter_map(|(id, p)| p.next_tick_nanos.map(|t| (t, Due::Tick(*id))));
        self.callout_events().chain(ticks).filter(|(t, _)| *t <= target).min_by_key(|(t, _)| *t)
    }

    /// Delivers the scripted answer at `index` of the schedule (and takes it off).
    pub(super) fn deliver_scheduled(&mut self, index: usize) -> Result<(), Error> {
        let scheduled = &mut self.store.data_mut().callouts.scheduled;
        if index >= scheduled.len() {
            return Ok(());
        }
        let item = scheduled.remove(index);
        match item.answer {
            ScheduledAnswer::Http(answer) => {
                let pending = self.http_calls().iter().any(|c| c.token == item.token && c.state == CallState::Pending);
                if pending { self.deliver_http(item.token, answer, false) } else { Ok(()) }
            }
            ScheduledAnswer::Grpc(reply) => self.deliver_grpc(item.token, reply),
        }
    }

    /// Delivers scripted answers due now (those of delay 0 wait for the callback to return).
    pub(super) fn deliver_due_answers(&mut self) -> Result<bool, Error> {
        let now = self.store.data().clock.monotonic;
        let mut any = false;
        while let Some(index) = self.store.data().callouts.scheduled.iter().position(|a| a.due_nanos <= now) {
            any = true;
            self.deliver_scheduled(index)?;
        }
        Ok(any)
    }

    /// Answers a gRPC call as Envoy 1.40 answers a unary call (`proxy_grpc_call`): status 0 is
    /// `proxy_on_grpc_receive` with the message (empty when none) and nothing else; any other
    /// status is `proxy_on_grpc_close` with it, `proxy_get_status` giving its message; no
    /// metadata callback either way (measured: `tests/tests/all/envoy_grpc_local_reply.rs`).
    /// A call already closed or cancelled is left.
    pub fn grpc_answer(&mut self, token: u32, reply: GrpcReply) -> Result<(), Error> {
        if !self.store.data().callouts.grpc.iter().any(|g| g.token == token) {
            return Err(Error::Usage(format!("no gRPC call with token {token}")));
        }
        self.deliver_grpc(token, reply)
    }

    fn deliver_grpc(&mut self, token: u32, reply: GrpcReply) -> Result<(), Error> {
        let Some(call) = self.store.data().callouts.grpc.iter().find(|g| g.token == token && !g.closed).cloned() else {
            return Ok(());
        };
        let context = call.context_id;
        let now = self.store.data().clock.monotonic;
        if let Some(g) = self.store.data_mut().callouts.grpc.iter_mut().find(|g| g.token == token) {
            g.closed = true;
            g.status = Some((reply.status, reply.status_message.clone()));
            g.answered_at_nanos = Some(now);
        }
        if reply.status == 0 {
            return self.grpc_message(context, token, reply.message.as_deref().unwrap_or_default());
        }
        self.store.data_mut().status = (reply.status, reply.status_message.into_bytes());
        self.callback("proxy_on_grpc_close", context, &[i(context), i(token), i(reply.status)])?;
        Ok(())
    }

    fn grpc_message(&mut self, context: u32, token: u32, message: &[u8]) -> Result<(), Error> {
        self.store.data_mut().callouts.current_grpc_message = Some(message.to_vec());
        let r = self.callback("proxy_on_grpc_receive", context, &[i(context), i(token), len(message.len())]);
        self.store.data_mut().callouts.current_grpc_message = None;
        r.map(|_| ())
    }

    /// Answers a pending HTTP call now: `proxy_on_http_call_response` with the response.
    pub fn respond(&mut self, token: u32, response: HttpResponse) -> Result<(), Error> {
        self.deliver_http(token, Some(response), true)
    }

    /// Fails a pending HTTP call now (connection failure): the module sees zero headers and
    /// `proxy_get_status` answers 11 (broken connection) "reset".
    pub fn fail(&mut self, token: u32) -> Result<(), Error> {
        self.deliver_http(token, None, true)
    }

    /// Delivers an answer (`None`: failure) to the root context that owns `token`. `scenario`
    /// marks calls answered by the scenario, which must be pending.
    pub(super) fn deliver_http(
        &mut self,
        token: u32,
        answer: Option<HttpResponse>,
        scenario: bool,
    ) -> Result<(), Error> {
        let state = self.store.data_mut();
        let Some(call) = state.callouts.http_mut(token) else {
            return Err(Error::Usage(format!("no HTTP call with token {token}")));
        };
        if scenario && call.state != CallState::Pending {
            return Err(Error::Usage(format!("HTTP call {token} is not pending ({:?})", call.state)));
        }
        if call.state == CallState::Pending {
            call.state = answer.as_ref().map_or(CallState::Failed, |r| CallState::Answered(r.status));
        }
        call.answered_at_nanos = Some(state.clock.monotonic);
        let context = call.context_id;
        let (headers, body, trailers) = match &answer {
            Some(r) => (r.headers.len() + 1, r.body.len(), r.trailers.len()),
            None => (0, 0, 0),
        };
        if answer.is_none() {
            // Envoy `Context::onHttpCallFailure`: the status the module can read is "reset".
            state.status = (11, b"reset".to_vec());
        }
        state.callouts.current_response = answer.map(|mut r| {
            r.headers.insert(0, (":status".to_owned(), r.status.to_string()));
            r
        });
        let result = self.callback(
            "proxy_on_http_call_response",
            context,
            &[i(context), i(token), len(headers), len(body), len(trailers)],
        );
        self.store.data_mut().callouts.current_response = None;
        result.map(|_| ())
    }

    /// Answers a gRPC call or stream: one message (if any), then close with `status`
    /// (`proxy_on_grpc_receive`, `proxy_on_grpc_close`).
    pub fn grpc_respond(&mut self, token: u32, message: Option<&[u8]>, status: u32) -> Result<(), Error> {
        let call = self.store.data().callouts.grpc.iter().find(|g| g.token == token).cloned();
        let call = call.ok_or_else(|| Error::Usage(format!("no gRPC call with token {token}")))?;
        if let Some(message) = message {
            self.store.data_mut().callouts.current_grpc_message = Some(message.to_vec());
            let r = self.callback(
                "proxy_on_grpc_receive",
                call.context_id,
                &[i(call.context_id), i(token), len(message.len())],
            );
            self.store.data_mut().callouts.current_grpc_message = None;
            r?;
        }
        self.store.data_mut().status = (status, Vec::new());
        self.callback("proxy_on_grpc_close", call.context_id, &[i(call.context_id), i(token), i(status)])?;
        let now = self.store.data().clock.monotonic;
        if let Some(g) = self.store.data_mut().callouts.grpc.iter_mut().find(|g| g.token == token) {
            g.closed = true;
            g.status = Some((status, String::new()));
            g.answered_at_nanos = Some(now);
        }
        Ok(())
    }

    /// Calls the module's `proxy_on_foreign_function` on a plugin with `args`.
    pub fn call_foreign_function(&mut self, root: u32, function_id: u32, args: &[u8]) -> Result<(), Error> {
        self.store.data_mut().foreign_args = args.to_vec();
        self.callback("proxy_on_foreign_function", root, &[i(root), i(function_id), len(args.len())])?;
        Ok(())
    }

    /// Delivers `proxy_on_queue_ready` for queues this host registered that got new items
    /// (from this host or another one sharing its [`crate::Shared`]).
    pub fn deliver_queue_ready(&mut self) -> Result<(), Error> {
        let host_id = self.store.data().host_id;
        let ready = self.store.data().shared.take_ready(host_id);
        for (root, queue) in ready {
            self.callback("proxy_on_queue_ready", root, &[i(root), i(queue)])?;
        }
        Ok(())
    }
}
