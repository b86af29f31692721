//! Why a request's trace context came out as it did: the record [`super::start_request`] keeps of
//! its own decision (which incoming context it used, what the edge policy did with it, which
//! sampler rule decided), and the sentence that explains it.
//!
//! The record is filled in by the decision itself, on every request, from the values it decided
//! with: a few small `Copy` values, no allocation and no second pass over the headers. Only
//! [`Decision::explain`] allocates, and nothing on the request path calls it (the playground does).

use std::fmt::Write as _;

use crate::config::EdgePolicy;
use crate::propagation::{Extracted, Format};
use crate::sampler::SampleReason;

/// The trace-context decision of one request, as [`super::start_request`] made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The format the caller's context was extracted from; `None` when no configured format gave
    /// a valid one.
    pub extracted: Option<Format>,
    /// Some configured format's headers were present but invalid (counted by the module).
    pub invalid_context: bool,
    /// What became of the caller's `tracestate`.
    pub tracestate: TraceStateFate,
    /// A B3 sampling state sent without ids (`b3: 0`, `x-b3-sampled: 1`), when there was one.
    pub sampling_only: Option<bool>,
    /// B3 ids came without a sampling state: the caller left the decision to this hop.
    pub sampling_deferred: bool,
    /// The configured edge policy.
    pub edge_policy: EdgePolicy,
    /// Whose trace the request's span belongs to.
    pub trace: TraceOrigin,
    /// Whether the span is recorded and exported.
    pub sampled: bool,
    /// The sampler rule that decided.
    pub reason: SampleReason,
}

/// Whose trace a request's span belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceOrigin {
    /// The caller's: its trace id, its span as the parent (`edge_policy: trust`).
    Continued,
    /// A new trace: no valid incoming context.
    Started,
    /// A new trace although the caller sent a valid context (`edge_policy: restart`), which the
    /// span keeps as a link.
    Restarted,
}

/// What became of the caller's `tracestate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceStateFate {
    /// None came with the context used (or there was no context).
    Absent,
    /// Continued: sent upstream with the trace.
    Kept,
    /// Invalid, so dropped; the `traceparent` beside it was still used (W3C 3.3).
    DroppedInvalid,
    /// The trace was restarted: the `tracestate` stays on the span link and is not sent upstream.
    NotContinued,
}

impl Decision {
    /// The record of a decision: what extraction found, the edge policy, and the sampler's answer.
    #[inline]
    pub(crate) fn new(extracted: &Extracted, edge_policy: EdgePolicy, decided: (bool, SampleReason)) -> Self {
        let has_state = extracted.context.as_ref().is_some_and(|c| c.trace_state.is_some());
        let (trace, tracestate) = match (edge_policy, extracted.context.is_some()) {
            (_, false) => (TraceOrigin::Started, TraceStateFate::Absent),
            (EdgePolicy::Trust, true) => (TraceOrigin::Continued, TraceStateFate::Kept),
            (EdgePolicy::Restart, true) => (TraceOrigin::Restarted, TraceStateFate::NotContinued),
        };
        let tracestate = match tracestate {
            _ if extracted.tracestate_invalid => TraceStateFate::DroppedInvalid,
            TraceStateFate::Kept | TraceStateFate::NotContinued if !has_state => TraceStateFate::Absent,
            fate => fate,
        };
        Self {
            extracted: extracted.format,
            invalid_context: extracted.invalid,
            tracestate,
            sampling_only: extracted.sampling_only,
            sampling_deferred: extracted.context.is_some() && extracted.sampling_deferred,
            edge_policy,
            trace,
            sampled: decided.0,
            reason: decided.1,
        }
    }

    /// One sentence saying what was decided and why, e.g. "Continued the caller's trace from W3C
    /// Trace Context (traceparent); sampled: the route's rule is always."
    pub fn explain(&self) -> String {
        let mut out = String::with_capacity(160);
        let from = self.extracted.map_or("", format_name);
        match self.trace {
            TraceOrigin::Continued => {
                let _ = write!(out, "Continued the caller's trace from {from}");
            }
            TraceOrigin::Restarted => {
                let _ = write!(
                    out,
                    "Restarted the trace (edge policy restart): the caller's {from} context is only a span link"
                );
            }
            TraceOrigin::Started if self.invalid_context => {
                out.push_str("Started a new trace: the incoming trace context was invalid");
            }
            TraceOrigin::Started => out.push_str("Started a new trace: no incoming trace context"),
        }
        if self.trace != TraceOrigin::Started && self.invalid_context {
            out.push_str(" (another format's headers were invalid)");
        }
        if self.tracestate == TraceStateFate::DroppedInvalid {
            out.push_str(", its invalid tracestate dropped");
        }
        out.push_str(if self.sampled { "; sampled: " } else { "; not sampled: " });
        match self.reason {
            SampleReason::RouteAlways => out.push_str("the route's rule is always"),
            SampleReason::RouteNever => out.push_str("the route's rule is never"),
            SampleReason::Parent if self.trace == TraceOrigin::Started || self.sampling_deferred => {
                let _ = write!(out, "the caller's B3 sampling state says {}", if self.sampled { "1" } else { "0" });
            }
            SampleReason::Parent => {
                out.push_str(if self.sampled {
                    "the caller's sampled flag is set"
                } else {
                    "the caller's sampled flag is clear"
                });
            }
            SampleReason::RouteRatio(r) | SampleReason::DefaultRatio(r) => {
                let whose = if matches!(self.reason, SampleReason::RouteRatio(_)) { "route's" } else { "default" };
                let side = if self.sampled { "within" } else { "outside" };
                let _ = write!(out, "the trace id falls {side} the {whose} ratio {}", r.value());
                if self.sampling_deferred {
                    out.push_str(" (the caller's B3 context left the decision to this hop)");
                }
            }
        }
        out.push('.');
        out
    }
}

/// A format as a reader knows it.
fn format_name(format: Format) -> &'static str {
    match format {
        Format::TraceContext => "W3C Trace Context (traceparent)",
        Format::B3Single => "B3 (the single b3 header)",
        Format::B3Multi => "B3 (the x-b3-* headers)",
    }
}
