//! Envoy's tag extraction: how `stats_config.stats_tags` (and the default extractors that can match
//! a `wasmcustom.` name) turn a stat name into a tag-extracted name plus labels.
//!
//! As observed in Envoy 1.40 (`TagProducerImpl`):
//! - every extractor runs on the *full* name (`wasmcustom.<name>`), never on what an earlier one
//!   left; the characters of all matches' first capture groups are removed together;
//! - order of the labels = order of extraction: first the extractors without a prefix token
//!   (Envoy's defaults, then `stats_tags` in config order), then those whose regex starts with
//!   `^<token>\.` for the name's first token (`^wasmcustom\.…`), in config order;
//! - a regex tag needs a match and at least one capture group: group 1 is removed, group 2 (if the
//!   regex has one, even when it did not participate) is the value, else group 1;
//! - of several extractors with one tag name, only the first that matches adds a tag;
//! - custom regexes are ECMAScript `std::regex`, searched (not anchored), byte-wise; here they
//!   are the `regex` crate's byte regexes without Unicode, so lookaround and backreferences are
//!   rejected at construction, and `.` also matches `\r`;
//! - Envoy's defaults that can match a Wasm metric: `envoy.response_code` (`_rq(_(\d{3}))$`),
//!   `envoy.response_code_class` (`_rq_((\d))xx$`), and `envoy.local_http_ratelimit_prefix`
//!   (tokens `$.http_local_rate_limit.**`, which takes the `wasmcustom` token itself: a metric
//!   `http_local_rate_limit.x` prints as `envoy_http_local_rate_limit_x{…="wasmcustom"}`).
//!   `use_all_default_tags: false` is not modelled;
//! - the tag-extracted name, tag names and tag values lose trailing dots (Envoy stores them in
//!   its symbol table): a value `val..` prints as `val`, a name left as `wasmcustom.x.` as `x`.

use std::sync::OnceLock;

use regex::bytes::{Regex, RegexBuilder};

/// One `stats_config.stats_tags[]` entry: a tag name with a `regex` or a `fixed_value`.
#[derive(Debug, Clone)]
pub struct StatsTag {
    name: String,
    rule: Rule,
    /// The first token of names this extractor is limited to (Envoy's `prefixToken()`), or empty.
    prefix: String,
}

#[derive(Debug, Clone)]
enum Rule {
    Regex(Regex),
    Fixed(String),
    /// Envoy's tokenized default `$.http_local_rate_limit.**`.
    LocalRateLimitPrefix,
}

/// A stat name after tag extraction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Extracted {
    /// The name with every removed span cut out.
    pub(super) name: String,
    /// `(tag name, value)` in extraction order.
    pub(super) tags: Vec<(String, String)>,
}

impl StatsTag {
    /// `{tag_name, regex}`: the regex's first capture group is cut from the name, its second (or
    /// first) is the value. Err for an empty tag name or regex, or a regex this crate cannot run.
    pub fn regex(tag_name: &str, regex: &str) -> Result<Self, String> {
        if tag_name.is_empty() {
            return Err("tag_name cannot be empty".to_owned());
        }
        if regex.is_empty() {
            return Err(format!("no regex specified for tag specifier '{tag_name}'"));
        }
        let compiled = RegexBuilder::new(regex).unicode(false).build().map_err(|e| {
            format!(
                "stats tag '{tag_name}': regex {regex:?} not supported (Envoy uses ECMAScript; \
                 lookaround and backreferences are not available here): {e}"
            )
        })?;
        Ok(Self { name: tag_name.to_owned(), rule: Rule::Regex(compiled), prefix: prefix_token(regex) })
    }

    /// `{tag_name, fixed_value}`: the tag is added to every stat, the name is unchanged.
    pub fn fixed_value(tag_name: &str, value: &str) -> Self {
        // Envoy derives the prefix token from the value as if it were a regex; kept for fidelity.
        Self { name: tag_name.to_owned(), rule: Rule::Fixed(value.to_owned()), prefix: prefix_token(value) }
    }

    /// The tag (label) name as configured.
    pub fn tag_name(&self) -> &str {
        &self.name
    }

    /// Envoy's tag for this extractor on `name`, and the byte range to cut from it.
    fn apply(&self, name: &str) -> Option<(String, Option<(usize, usize)>)> {
        match &self.rule {
            Rule::Fixed(value) => Some((value.clone(), None)),
            Rule::Regex(re) => {
                // std::regex: a match with at least one capture group.
                if re.captures_len() < 2 {
                    return None;
                }
                let caps = re.captures(name.as_bytes())?;
                let remove = caps.get(1);
                let value = if re.captures_len() > 2 { caps.get(2) } else { remove };
                let value = value.map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned());
                Some((value.unwrap_or_default(), remove.map(|m| (m.start(), m.end()))))
            }
            Rule::LocalRateLimitPrefix => {
                let mut tokens = name.split('.');
                let first = tokens.next()?;
                let matches = tokens.next() == Some("http_local_rate_limit") && tokens.next().is_some();
                matches.then(|| (first.to_owned(), Some((0, first.len() + 1))))
            }
        }
    }
}

/// Runs Envoy's default extractors and `custom` on a full stat name, in Envoy's order.
pub(super) fn extract(full_name: &str, custom: &[StatsTag]) -> Extracted {
    let first_token = full_name.split_once('.').map(|(first, _)| first);
    let ordered = defaults()
        .iter()
        .chain(custom.iter().filter(|t| t.prefix.is_empty()))
        .chain(custom.iter().filter(|t| !t.prefix.is_empty() && Some(t.prefix.as_str()) == first_token));
    let mut removed = vec![false; full_name.len()];
    let mut tags: Vec<(String, String)> = Vec::new();
    for extractor in ordered {
        if tags.iter().any(|(name, _)| *name == extractor.name) {
            continue; // Another extractor with this tag name already matched.
        }
        if let Some((value, span)) = extractor.apply(full_name) {
            if let Some((start, end)) = span {
                removed.iter_mut().take(end).skip(start).for_each(|r| *r = true);
            }
            tags.push((extractor.name.clone(), value));
        }
    }
    let kept: Vec<u8> = full_name.bytes().zip(&removed).filter(|(_, removed)| !**removed).map(|(b, _)| b).collect();
    // Envoy keeps names, tag names and values as symbol-table stat names, which drop trailing dots.
    let tags = tags.into_iter().map(|(k, v)| (trim_dots(&k), trim_dots(&v))).collect();
    Extracted { name: trim_dots(&String::from_utf8_lossy(&kept)), tags }
}

fn trim_dots(s: &str) -> String {
    s.trim_end_matches('.').to_owned()
}

/// Envoy's default extractors that can match a `wasmcustom.` name, in Envoy's order.
fn defaults() -> &'static [StatsTag] {
    static DEFAULTS: OnceLock<Vec<StatsTag>> = OnceLock::new();
    DEFAULTS.get_or_init(|| {
        let mut defaults: Vec<StatsTag> =
            [("envoy.response_code", r"_rq(_(\d{3}))$"), ("envoy.response_code_class", r"_rq_((\d))xx$")]
                .iter()
                .filter_map(|(name, re)| StatsTag::regex(name, re).ok())
                .collect();
        defaults.push(StatsTag {
            name: "envoy.local_http_ratelimit_prefix".to_owned(),
            rule: Rule::LocalRateLimitPrefix,
            prefix: String::new(),
        });
        defaults
    })
}

/// Envoy's `extractRegexPrefix`: `^token\.…` (or `^token(?=\.)…`, or `^token$`) limits a regex
/// to names whose first token is `token`.
fn prefix_token(regex: &str) -> String {
    let Some(rest) = regex.strip_prefix('^') else { return String::new() };
    let token_len = rest.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
    let after = rest.get(token_len..).unwrap_or("");
    let qualifies = token_len > 0
        && (after == "$" || (after.len() > 1 && (after.starts_with(r"\.") || after.starts_with(r"(?=\."))));
    if qualifies { rest.get(..token_len).unwrap_or("").to_owned() } else { String::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn extraction_order_and_removal_follow_envoy() {
        let custom = [
            StatsTag::regex("alpha", r"^wasmcustom\.tago(?:\.z\.\w+)?(\.a\.(\w+))").unwrap(),
            StatsTag::regex("zeta", r"(\.z\.(\w+))").unwrap(),
            StatsTag::fixed_value("fixed.tag", "F"),
        ];
        let got = extract("wasmcustom.tago.z.ZV.a.AV", &custom);
        let expected = tags(&[("zeta", "ZV"), ("fixed.tag", "F"), ("alpha", "AV")]);
        assert_eq!(got, Extracted { name: "wasmcustom.tago".to_owned(), tags: expected });
    }

    #[test]
    fn group_rules_defaults_and_duplicates() {
        let custom = [
            StatsTag::regex("opt", r"opt(\.zz)?\.(y)").unwrap(),
            StatsTag::regex("ng", "nogroup").unwrap(),
            StatsTag::regex("dup", r"(\.dupa\.(\w+))").unwrap(),
            StatsTag::regex("dup", r"(\.dupb\.(\w+))").unwrap(),
        ];
        let check = |name: &str, extracted: &str, expected: &[(&str, &str)]| {
            let got = extract(name, &custom);
            assert_eq!((got.name.as_str(), got.tags), (extracted, tags(expected)), "{name}");
        };
        check("wasmcustom.opt.y", "wasmcustom.opt.y", &[("opt", "y")]);
        check("wasmcustom.nogroup.x", "wasmcustom.nogroup.x", &[]);
        check("wasmcustom.dupa.d1.dupb.d2", "wasmcustom.dupb.d2", &[("dup", "d1")]);
        check("wasmcustom.svc_rq_200", "wasmcustom.svc_rq", &[("envoy.response_code", "200")]);
        check("wasmcustom.up_rq_5xx", "wasmcustom.up_rq_xx", &[("envoy.response_code_class", "5")]);
        let local = [("envoy.local_http_ratelimit_prefix", "wasmcustom")];
        check("wasmcustom.http_local_rate_limit.x", "http_local_rate_limit.x", &local);
        check("wasmcustom.http_local_rate_limit", "wasmcustom.http_local_rate_limit", &[]);
    }

    #[test]
    fn prefix_tokens_and_unsupported_regexes() {
        assert_eq!(prefix_token(r"^wasmcustom\.over(\.k1\.(\w+))"), "wasmcustom");
        assert_eq!(prefix_token(r"^anch$"), "anch");
        assert_eq!(prefix_token(r"(\.z\.(\w+))"), "");
        assert_eq!(prefix_token(r"^(wasmcustom\.)strip\."), "");
        assert!(StatsTag::regex("la", r"(\.ahead\.(\w+))(?=\.end)").is_err());
        assert!(StatsTag::regex("", "(x)").is_err());
    }
}
