//! Compiled custom patterns: regex-lite regexes and prefixed tokens.

use regex_lite::{Regex, RegexBuilder};

use super::splice::Hit;
use super::{CustomPattern, Kind, scan};

/// Compiled size limit of one regex: enough for any sensible secret pattern (a 64-way
/// alternation of 20-character literals is ~40 KB), and it bounds the cost per byte searched.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;
/// How deeply groups and repetitions may nest.
const REGEX_NEST_LIMIT: u32 = 32;

/// A compiled [`CustomPattern`].
#[derive(Debug, Clone)]
pub(super) enum Matcher {
    Regex { regex: Regex, secret_group: Option<usize> },
    Prefix { prefix: String, min_len: usize },
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Matcher::Regex { regex: a, .. }, Matcher::Regex { regex: b, .. }) => a.as_str() == b.as_str(),
            (Matcher::Prefix { prefix: a, min_len: m }, Matcher::Prefix { prefix: b, min_len: n }) => a == b && m == n,
            _ => false,
        }
    }
}

impl Matcher {
    pub fn compile(pattern: &CustomPattern) -> Result<Self, String> {
        match pattern {
            CustomPattern::Regex(source) => {
                if source.len() > CustomPattern::MAX_REGEX_LEN {
                    return Err(format!("regex longer than {} bytes", CustomPattern::MAX_REGEX_LEN));
                }
                let regex = RegexBuilder::new(source)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .nest_limit(REGEX_NEST_LIMIT)
                    .build()
                    .map_err(|e| format!("invalid regex {source:?}: {e}"))?;
                if regex.is_match("") {
                    return Err(format!("regex {source:?} matches the empty string"));
                }
                let secret_group = regex.capture_names().position(|n| n == Some("secret"));
                Ok(Matcher::Regex { regex, secret_group })
            }
            CustomPattern::Prefix { prefix, min_len } => {
                if prefix.is_empty() {
                    return Err("prefix must not be empty".to_owned());
                }
                Ok(Matcher::Prefix { prefix: prefix.clone(), min_len: *min_len })
            }
        }
    }

    /// Appends this pattern's matches in `value` to `hits`.
    pub fn find(&self, value: &str, hits: &mut Vec<Hit>) {
        match self {
            Matcher::Regex { regex, secret_group: None } => {
                hits.extend(regex.find_iter(value).map(|m| Hit::new(m.start(), m.end(), Kind::Custom)));
            }
            Matcher::Regex { regex, secret_group: Some(group) } => {
                let groups = regex.captures_iter(value).filter_map(|c| c.get(*group));
                hits.extend(groups.map(|m| Hit::new(m.start(), m.end(), Kind::Custom)));
            }
            Matcher::Prefix { prefix, min_len } => {
                scan::prefixed(value.as_bytes(), prefix.as_bytes(), *min_len, Kind::Custom, hits);
            }
        }
    }
}
