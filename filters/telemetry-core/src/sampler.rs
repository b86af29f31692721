//! The sampling decision: parent-based, a ratio for new traces, and per-route rules.
//!
//! Order of precedence, highest first:
//! 1. a route rule `always` or `never` (the edge operator's explicit intent for that path wins over
//!    whatever a client sent, so "always trace /api/v1/query" holds even for unsampled callers);
//! 2. the parent's sampled flag, when a trusted parent exists (OpenTelemetry `ParentBased`);
//! 3. the route rule's ratio, else the default ratio, for traces that start here.
//!
//! Ratios compare the trace id's low 64 bits against a threshold, like OpenTelemetry's
//! `TraceIdRatioBased`, so every proxy that sees the same trace id decides the same way.

use crate::ids::TraceId;
use crate::route::RouteId;

/// A validated sampling ratio in `[0, 1]`, stored as a threshold on the low 64 trace-id bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ratio {
    /// Sample when `low_u64 < threshold`; `None` means sample everything.
    threshold: Option<u64>,
}

/// A per-route rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteRule {
    Always,
    Never,
    Ratio(Ratio),
}

/// Which rule of the sampler decided a request, in the order of precedence (see the module
/// documentation): what the decision record (`tracer::Decision`) shows, and nothing else reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleReason {
    /// The route's rule is `always`.
    RouteAlways,
    /// The route's rule is `never`.
    RouteNever,
    /// The trusted parent's sampled flag (or a B3 sampling state sent without ids).
    Parent,
    /// A new trace on a route with a ratio rule: the trace id against that ratio.
    RouteRatio(Ratio),
    /// A new trace without a route rule: the trace id against the default ratio.
    DefaultRatio(Ratio),
}

/// The sampler: a default ratio and rules indexed by [`RouteId`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sampler {
    default: Ratio,
    rules: Vec<Option<RouteRule>>,
}

impl Ratio {
    /// The ratio, or `None` when it is not a number in `[0, 1]`.
    pub fn new(ratio: f64) -> Option<Self> {
        if !(0.0..=1.0).contains(&ratio) {
            return None;
        }
        if ratio >= 1.0 {
            return Some(Self { threshold: None });
        }
        // 2^64 as f64 is exact; the product is below 2^64, so the cast cannot saturate wrongly.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let threshold = (ratio * 18_446_744_073_709_551_616.0) as u64;
        Some(Self { threshold: Some(threshold) })
    }

    /// Whether a trace with this id is in the sample.
    pub fn samples(self, trace_id: TraceId) -> bool {
        self.samples_value(trace_id.low_u64())
    }

    /// Whether a uniformly random 64-bit value is in the sample.
    pub fn samples_value(self, value: u64) -> bool {
        self.threshold.is_none_or(|t| value < t)
    }

    /// The ratio, from its threshold: exactly the configured number for every ratio from 2^-12
    /// up (the threshold is then that number times 2^64, an integer), within 2^-64 below.
    pub fn value(self) -> f64 {
        // Integer to float: at most 2^-53 relative rounding; 2^64 as f64 is exact.
        #[allow(clippy::cast_precision_loss)]
        self.threshold.map_or(1.0, |t| t as f64 / 18_446_744_073_709_551_616.0)
    }
}

impl Sampler {
    /// A sampler with a default ratio and `rules[i]` for route `i`.
    pub fn new(default: Ratio, rules: Vec<Option<RouteRule>>) -> Self {
        Self { default, rules }
    }

    /// Decides for one request. `parent_sampled` is `None` when the trace starts here.
    pub fn should_sample(&self, trace_id: TraceId, parent_sampled: Option<bool>, route: Option<RouteId>) -> bool {
        self.decide(trace_id, parent_sampled, route).0
    }

    /// [`Sampler::should_sample`], with the rule that decided.
    #[inline]
    pub fn decide(
        &self,
        trace_id: TraceId,
        parent_sampled: Option<bool>,
        route: Option<RouteId>,
    ) -> (bool, SampleReason) {
        let rule = route.and_then(|r| self.rules.get(r.0).copied().flatten());
        match (rule, parent_sampled) {
            (Some(RouteRule::Always), _) => (true, SampleReason::RouteAlways),
            (Some(RouteRule::Never), _) => (false, SampleReason::RouteNever),
            (_, Some(parent)) => (parent, SampleReason::Parent),
            (Some(RouteRule::Ratio(ratio)), None) => (ratio.samples(trace_id), SampleReason::RouteRatio(ratio)),
            (None, None) => (self.default.samples(trace_id), SampleReason::DefaultRatio(self.default)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IdGenerator;

    fn ratio(r: f64) -> Ratio {
        Ratio::new(r).unwrap()
    }

    #[test]
    fn rejects_ratios_outside_zero_to_one() {
        assert_eq!(Ratio::new(-0.1), None);
        assert_eq!(Ratio::new(1.5), None);
        assert_eq!(Ratio::new(f64::NAN), None);
    }

    #[test]
    fn parent_decision_is_honoured_without_a_route_rule() {
        let s = Sampler::new(ratio(0.0), vec![None]);
        let id = IdGenerator::from_seed([1; 32]).trace_id();
        assert!(s.should_sample(id, Some(true), None));
        assert!(!Sampler::new(ratio(1.0), vec![]).should_sample(id, Some(false), None));
        assert!(!s.should_sample(id, None, Some(RouteId(0))));
    }

    #[test]
    fn route_always_and_never_override_the_parent() {
        let s = Sampler::new(ratio(0.5), vec![Some(RouteRule::Always), Some(RouteRule::Never)]);
        let id = IdGenerator::from_seed([2; 32]).trace_id();
        assert!(s.should_sample(id, Some(false), Some(RouteId(0))));
        assert!(!s.should_sample(id, Some(true), Some(RouteId(1))));
    }

    #[test]
    fn route_ratio_applies_to_new_traces_only() {
        let s = Sampler::new(ratio(1.0), vec![Some(RouteRule::Ratio(ratio(0.0)))]);
        let id = IdGenerator::from_seed([3; 32]).trace_id();
        assert!(!s.should_sample(id, None, Some(RouteId(0))));
        assert!(s.should_sample(id, Some(true), Some(RouteId(0))));
    }

    #[test]
    fn decide_names_each_rule() {
        let s = Sampler::new(
            ratio(1.0),
            vec![Some(RouteRule::Always), Some(RouteRule::Never), Some(RouteRule::Ratio(ratio(0.0))), None],
        );
        let id = IdGenerator::from_seed([5; 32]).trace_id();
        let route = |i| Some(RouteId(i));
        assert_eq!(s.decide(id, Some(false), route(0)), (true, SampleReason::RouteAlways));
        assert_eq!(s.decide(id, Some(true), route(1)), (false, SampleReason::RouteNever));
        assert_eq!(s.decide(id, Some(false), route(2)), (false, SampleReason::Parent));
        assert_eq!(s.decide(id, Some(true), route(3)), (true, SampleReason::Parent));
        assert_eq!(s.decide(id, None, route(2)), (false, SampleReason::RouteRatio(ratio(0.0))));
        assert_eq!(s.decide(id, None, route(3)), (true, SampleReason::DefaultRatio(ratio(1.0))));
        assert_eq!(s.decide(id, None, None), (true, SampleReason::DefaultRatio(ratio(1.0))));
        // `should_sample` is `decide`'s answer.
        for (parent, r) in [(None, None), (Some(true), route(1)), (None, route(2)), (Some(false), route(3))] {
            assert_eq!(s.should_sample(id, parent, r), s.decide(id, parent, r).0);
        }
    }

    #[test]
    fn a_ratio_gives_back_its_value() {
        for r in [0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.999, 1.0] {
            assert_eq!(ratio(r).value(), r, "{r}");
        }
    }

    #[test]
    fn ratio_samples_about_that_fraction_and_is_deterministic() {
        let s = Sampler::new(ratio(0.25), vec![]);
        let mut ids = IdGenerator::from_seed([4; 32]);
        let ids: Vec<_> = (0..20_000).map(|_| ids.trace_id()).collect();
        let sampled = ids.iter().filter(|id| s.should_sample(**id, None, None)).count();
        // Binomial(20000, 0.25): sd ~61; 5 sd either side.
        assert!((4_700..=5_300).contains(&sampled), "{sampled}");
        let again = ids.iter().filter(|id| s.should_sample(**id, None, None)).count();
        assert_eq!(sampled, again);
    }
}
