//! The W3C `tracestate` header: an ordered list of vendor `key=value` members.
//!
//! W3C Trace Context Level 1, 3.3 "Tracestate Header", with the two changes of Trace Context
//! Level 2 (<https://www.w3.org/TR/trace-context-2/>, "Tracestate Header"): the wider key grammar
//! of its section "Key", and duplicate keys de-duplicated instead of rejected. The list grammar
//! (3.3.1.2 "list") is
//! `list-member 0*31( OWS "," OWS list-member )` where a member is `key "=" value` or only `OWS`;
//! several header fields are combined as if joined by commas (3.3.1.1, RFC 7230 3.2.2).
//!
//! What is dropped and what is rejected:
//!
//! - Dropped silently: empty and whitespace-only members (3.3.1.1 "Empty and whitespace-only list
//!   members are allowed"), the OWS around each member, and an empty header (which "vendors MUST
//!   accept").
//! - De-duplicated: a key seen earlier in the combined list. The first member with that key is
//!   kept and every later one is dropped. Level 1 (3.3.1.4 "Only one entry per key is allowed")
//!   had the whole header discarded; Level 2 ("Combined Header Value", "Mutating the tracestate
//!   Field": adding a member "MUST NOT result in the same key being present multiple times")
//!   makes uniqueness the duty of the participant that adds a key and lets a receiver keep or
//!   remove duplicates it did not write. Keeping the first follows the spec's ordering rule:
//!   new and updated members go to the left, so the leftmost member of a key is its latest
//!   position in the trace. The dropped members still count toward the 32-member limit, since
//!   they were part of the list as received.
//! - Rejected, so the caller discards the whole header: a member that breaks the key or value
//!   grammar, and more than 32 members (3.3.1 "There can be a maximum of 32 list-members").
//!   Spec 4.3 step 3 allows either discarding the entire header or only the bad entries;
//!   discarding the whole header is what the W3C test suite expects
//!   (`test_tracestate_member_count_limit`, `test_tracestate_key_length_limit`, ...), and
//!   keeping part of a header we could not read would forward state its owner did not write.
//!   Level 2 did not change this.
//! - Not rejected: a long header. 3.3.1.5 "tracestate Limits" only asks to propagate at least
//!   512 characters; [`TraceState::truncated`] applies the limit when sending.

use std::fmt;

/// The header name (3.3.1 "Header Name": sent lowercase).
pub const HEADER: &str = "tracestate";

/// The most list members a `tracestate` may have (3.3.1 "Tracestate Header").
pub const MAX_MEMBERS: usize = 32;

/// How many characters of `tracestate` this proxy propagates: the spec's "at least 512
/// characters of a combined header" (3.3.1.5 "tracestate Limits").
pub const PROPAGATION_LIMIT: usize = 512;

/// Members longer than this are the first to go when truncating (3.3.1.5).
pub const LONG_MEMBER: usize = 128;

/// A valid `tracestate`: at most 32 members with valid, distinct keys, in received order (the
/// first member of each key).
///
/// Only [`TraceState::parse`] builds one, so every value satisfies the grammar; it can be empty
/// only after [`TraceState::truncated`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceState {
    members: Vec<Member>,
}

/// Why a `tracestate` was rejected. Each one discards the whole header. (A duplicate key is not
/// one of them since Trace Context Level 2: see the module docs.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceStateError {
    /// A non-empty member without `=`.
    MissingEquals,
    /// A key outside the Level 2 "Key" grammar (first character, characters, length).
    InvalidKey,
    /// A value outside the 3.3.1.3.2 "Value" grammar: empty, longer than 256, a character
    /// outside 0x20-0x7E, `,` or `=`.
    InvalidValue,
    /// More than [`MAX_MEMBERS`] members.
    TooManyMembers,
}

/// One `key=value` list member.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    key: String,
    value: String,
}

/// The longest key (Level 2 "Key": `( lcalpha / DIGIT ) 0*255 ( keychar )`).
const MAX_KEY: usize = 256;

/// The longest value (3.3.1.3.2 "Value": `0*255(chr) nblk-chr`).
const MAX_VALUE: usize = 256;

/// RFC 7230 3.2.3 optional whitespace.
const OWS: [char; 2] = [' ', '\t'];

impl TraceState {
    /// Parses the values of every `tracestate` header field, in order, as one combined list.
    ///
    /// `Ok(None)` when there is no member at all (no field, empty fields, only commas and
    /// whitespace). `Err` means the whole header must be discarded; see the module docs for
    /// which problems are dropped, which are de-duplicated (a later member with a key seen
    /// before) and which are rejected.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Option<TraceState>, TraceStateError> {
        let mut members: Vec<Member> = Vec::new();
        let mut received = 0usize;
        for raw in values.into_iter().flat_map(|value| value.split(',')) {
            let member = raw.trim_matches(OWS);
            if member.is_empty() {
                continue;
            }
            if received == MAX_MEMBERS {
                return Err(TraceStateError::TooManyMembers);
            }
            received += 1;
            let (key, value) = member.split_once('=').ok_or(TraceStateError::MissingEquals)?;
            if !valid_key(key) {
                return Err(TraceStateError::InvalidKey);
            }
            if !valid_value(value) {
                return Err(TraceStateError::InvalidValue);
            }
            // Level 2: keep the first member of a key, drop the later ones.
            if members.iter().any(|m| m.key == key) {
                continue;
            }
            members.push(Member { key: key.to_owned(), value: value.to_owned() });
        }
        Ok((!members.is_empty()).then_some(TraceState { members }))
    }

    /// The header value: members as `key=value`, joined by `,` in order, without optional
    /// whitespace (3.3.1.3.2: "Optional whitespace MAY be excluded when propagating").
    pub fn header_value(&self) -> String {
        let mut out = String::with_capacity(header_len(&self.members));
        for (i, m) in self.members.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&m.key);
            out.push('=');
            out.push_str(&m.value);
        }
        out
    }

    /// This list cut down, by whole members, until its [`header_value`](Self::header_value) is
    /// at most `max_len` characters (3.3.1.5 "tracestate Limits").
    ///
    /// Members longer than 128 characters go first, the last of them first; then members are
    /// removed from the end. Removal stops as soon as the list fits, so nothing is dropped that
    /// did not have to be. The result may be empty.
    pub fn truncated(&self, max_len: usize) -> TraceState {
        let mut members = self.members.clone();
        let mut at = members.len();
        while header_len(&members) > max_len && at > 0 {
            at -= 1;
            if members.get(at).is_some_and(|m| m.len() > LONG_MEMBER) {
                members.remove(at);
            }
        }
        while header_len(&members) > max_len && members.pop().is_some() {}
        TraceState { members }
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there are no members (only possible after truncation).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The value of member `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members.iter().find(|m| m.key == key).map(|m| m.value.as_str())
    }

    /// The members as `(key, value)`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.members.iter().map(|m| (m.key.as_str(), m.value.as_str()))
    }
}

impl Member {
    /// Characters in `key=value`.
    fn len(&self) -> usize {
        self.key.len() + 1 + self.value.len()
    }
}

impl fmt::Display for TraceStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MissingEquals => "tracestate list member has no '='",
            Self::InvalidKey => "tracestate key is not valid",
            Self::InvalidValue => "tracestate value is not valid",
            Self::TooManyMembers => "tracestate has more than 32 list members",
        })
    }
}

impl std::error::Error for TraceStateError {}

/// The length of the header value these members make.
fn header_len(members: &[Member]) -> usize {
    members.iter().map(Member::len).sum::<usize>() + members.len().saturating_sub(1)
}

/// Trace Context Level 2, "Key":
///
/// ```text
/// key = ( lcalpha / DIGIT ) 0*255 ( keychar )
/// keychar    = lcalpha / DIGIT / "_" / "-"/ "*" / "/" / "@"
/// lcalpha    = %x61-7A ; a-z
/// ```
///
/// Level 1's `simple-key / multi-tenant-key` split is gone: a key may start with a digit, and
/// `@` is an ordinary key character after the first, any number of times and anywhere
/// (`foo@`, `a@b@c`, `fw529a3039@dt`); the only length limit is 256 characters in all.
fn valid_key(key: &str) -> bool {
    let Some((&first, rest)) = key.as_bytes().split_first() else {
        return false;
    };
    key.len() <= MAX_KEY
        && (first.is_ascii_lowercase() || first.is_ascii_digit())
        && rest
            .iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'*' | b'/' | b'@'))
}

/// 3.3.1.3.2 "Value": `value = 0*255(chr) nblk-chr`, `nblk-chr = %x21-2B / %x2D-3C / %x3E-7E`,
/// `chr = %x20 / nblk-chr`. Leading spaces are part of the value; trailing ones were OWS and are
/// already trimmed, but the last character is still checked.
fn valid_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    let Some(&last) = bytes.last() else {
        return false;
    };
    bytes.len() <= MAX_VALUE
        && last != b' '
        && bytes.iter().all(|&c| matches!(c, 0x20..=0x2b | 0x2d..=0x3c | 0x3e..=0x7e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The only place that calls `parse`: `expected` is the members, `None` for no list.
    fn check(fields: &[&str], expected: Result<Option<&[(&str, &str)]>, TraceStateError>) {
        let got = TraceState::parse(fields.iter().copied())
            .map(|ts| ts.map(|ts| ts.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect::<Vec<_>>()));
        let want =
            expected.map(|m| m.map(|m| m.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect::<Vec<_>>()));
        assert_eq!(got, want, "fields {fields:?}");
    }

    fn parse_one(field: &str) -> TraceState {
        TraceState::parse([field]).unwrap().unwrap()
    }

    #[test]
    fn spec_examples_are_valid() {
        check(&["congo=t61rcWkgMzE"], Ok(Some(&[("congo", "t61rcWkgMzE")])));
        check(
            &["rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"],
            Ok(Some(&[("rojo", "00f067aa0ba902b7"), ("congo", "t61rcWkgMzE")])),
        );
        check(
            &["vendorname1=opaqueValue1,vendorname2=opaqueValue2"],
            Ok(Some(&[("vendorname1", "opaqueValue1"), ("vendorname2", "opaqueValue2")])),
        );
        check(&["fw529a3039@dt=1"], Ok(Some(&[("fw529a3039@dt", "1")])));
    }

    #[test]
    fn empty_headers_and_members_are_skipped() {
        check(&[], Ok(None));
        check(&[""], Ok(None));
        check(&[" \t ", ",", " , ,\t,"], Ok(None));
        check(&["foo=1", ""], Ok(Some(&[("foo", "1")])));
        check(&["", "foo=1"], Ok(Some(&[("foo", "1")])));
        check(&["foo=1,,bar=2,"], Ok(Some(&[("foo", "1"), ("bar", "2")])));
    }

    #[test]
    fn several_fields_combine_in_order() {
        check(
            &["foo=1,bar=2", "rojo=1,congo=2", "baz=3"],
            Ok(Some(&[("foo", "1"), ("bar", "2"), ("rojo", "1"), ("congo", "2"), ("baz", "3")])),
        );
    }

    #[test]
    fn ows_around_members_is_ignored_and_leading_value_spaces_are_kept() {
        let three: &[(&str, &str)] = &[("foo", "1"), ("bar", "2"), ("baz", "3")];
        check(&["foo=1 \t , \t bar=2, \t baz=3"], Ok(Some(three)));
        check(&["foo=1\t \t,\t \tbar=2,\t \tbaz=3"], Ok(Some(three)));
        for field in [" foo=1", "\tfoo=1", "foo=1 ", "foo=1\t", "\t foo=1 \t"] {
            check(&[field], Ok(Some(&[("foo", "1")])));
        }
        check(&["foo=  a b"], Ok(Some(&[("foo", "  a b")])));
    }

    #[test]
    fn every_allowed_character_is_accepted() {
        // test_tracestate_all_allowed_characters in the W3C test suite.
        let simple = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
        let tenant = format!("{simple}@a-z0-9_-*/");
        let value: String = (0x20u8..=0x7e).filter(|c| *c != b',' && *c != b'=').map(char::from).collect();
        assert_eq!(value.len(), 93);
        for key in [simple, tenant.as_str()] {
            let ts = parse_one(&format!("{key}={value}"));
            assert_eq!(ts.get(key), Some(value.as_str()));
        }
    }

    #[test]
    fn keys_follow_the_level_2_grammar() {
        // Level 1 keys are still keys.
        for key in ["a", "foo", "foo123", "foo_bar", "foo-bar", "foo*bar", "foo/bar", "9@a", "1a2b@dt", "t@v-_*/0"] {
            check(&[&format!("{key}=1")], Ok(Some(&[(key, "1")])));
        }
        // Level 2 "Key": a digit may start any key, and `@` is a key character after the first,
        // so these Level 1 rejects are valid now.
        for key in ["1foo", "0", "9", "foo@", "foo@@bar", "foo@bar@baz", "foo@1bar", "a@_", "1@2@3", "x/@*-_"] {
            check(&[&format!("{key}=1")], Ok(Some(&[(key, "1")])));
        }
        for key in [
            "",
            "FOO",
            "Foo",
            "foo.bar",
            "foo bar",
            "_foo",
            "-foo",
            "*foo",
            "/foo",
            "@foo",
            "@",
            "foo@Bar",
            "_t@v",
            "foo#bar",
            "caf\u{e9}",
        ] {
            check(&[&format!("{key}=1")], Err(TraceStateError::InvalidKey));
        }
        // A space before `=` is part of the key.
        check(&["foo =1"], Err(TraceStateError::InvalidKey));
    }

    #[test]
    fn key_lengths_are_limited() {
        // 256 characters in all, `@` or not; Level 1's tenant (241) and system (14) limits are
        // gone.
        let ok = |key: String| check(&["foo=1", &format!("{key}=1")], Ok(Some(&[("foo", "1"), (key.as_str(), "1")])));
        ok("z".repeat(256));
        ok(format!("{}@{}", "t".repeat(241), "v".repeat(14)));
        ok(format!("{}@v", "t".repeat(242)));
        ok(format!("t@{}", "v".repeat(15)));
        ok(format!("9{}", "@".repeat(255)));
        let bad = |key: String| check(&["foo=1", &format!("{key}=1")], Err(TraceStateError::InvalidKey));
        bad("z".repeat(257));
        bad(format!("{}@{}", "t".repeat(128), "v".repeat(128)));
        bad(format!("1{}", "@".repeat(256)));
    }

    #[test]
    fn values_follow_the_value_grammar() {
        check(&["foo=bar=baz"], Err(TraceStateError::InvalidValue));
        check(&["foo=,bar=3"], Err(TraceStateError::InvalidValue));
        check(&["foo= "], Err(TraceStateError::InvalidValue));
        check(&["foo=a\tb"], Err(TraceStateError::InvalidValue));
        check(&["foo=a\u{7f}"], Err(TraceStateError::InvalidValue));
        check(&["foo=caf\u{e9}"], Err(TraceStateError::InvalidValue));
        check(&["foo=a\nb"], Err(TraceStateError::InvalidValue));
        check(&["foo"], Err(TraceStateError::MissingEquals));
        check(&["foo=1,bar"], Err(TraceStateError::MissingEquals));
        let longest = "v".repeat(256);
        check(&[&format!("foo={longest}")], Ok(Some(&[("foo", longest.as_str())])));
        check(&[&format!("foo={longest}v")], Err(TraceStateError::InvalidValue));
    }

    #[test]
    fn duplicate_keys_keep_the_first_member() {
        // Level 2: a receiver may keep or remove duplicates; the first (leftmost, latest) wins.
        check(&["foo=1,foo=1"], Ok(Some(&[("foo", "1")])));
        check(&["foo=1,foo=2"], Ok(Some(&[("foo", "1")])));
        check(&["foo=1", "foo=2"], Ok(Some(&[("foo", "1")])));
        check(&["foo=1,bar=2,foo=3,baz=4,bar=5"], Ok(Some(&[("foo", "1"), ("bar", "2"), ("baz", "4")])));
        check(&["t@a=1,t@b=2,u@a=3"], Ok(Some(&[("t@a", "1"), ("t@b", "2"), ("u@a", "3")])));
        // A dropped duplicate is still checked: an invalid one rejects the header.
        check(&["foo=1,foo=a=b"], Err(TraceStateError::InvalidValue));
        assert_eq!(parse_one("foo=1, bar=2,foo=3").header_value(), "foo=1,bar=2");
    }

    #[test]
    fn dropped_duplicates_count_toward_the_member_limit() {
        let thirty_two = vec!["foo=1"; 32].join(",");
        check(&[&thirty_two], Ok(Some(&[("foo", "1")])));
        check(&[&thirty_two, "foo=1"], Err(TraceStateError::TooManyMembers));
    }

    #[test]
    fn at_most_32_members() {
        // test_tracestate_member_count_limit: 32 across four fields pass, 33 fail.
        let members: Vec<String> = (1..=33).map(|i| format!("bar{i:02}={i:02}")).collect();
        let fields = |n: usize| members[..n].chunks(10).map(|c| c.join(",")).collect::<Vec<_>>();
        let ts = TraceState::parse(fields(32).iter().map(String::as_str)).unwrap().unwrap();
        assert_eq!(ts.len(), 32);
        assert_eq!(ts.get("bar01"), Some("01"));
        assert_eq!(TraceState::parse(fields(33).iter().map(String::as_str)), Err(TraceStateError::TooManyMembers));
        // Empty members do not count.
        let padded = format!("{},,,, ,", fields(32).join(","));
        assert_eq!(TraceState::parse([padded.as_str()]).unwrap().unwrap().len(), 32);
    }

    #[test]
    fn header_value_joins_members_without_ows() {
        assert_eq!(parse_one(" foo=1 ,\tbar= 2 ").header_value(), "foo=1,bar= 2");
        let ts = parse_one("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
        assert_eq!(ts.header_value(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
        assert_eq!(ts.len(), 2);
        assert!(!ts.is_empty());
        assert_eq!(ts.get("congo"), Some("t61rcWkgMzE"));
        assert_eq!(ts.get("nobody"), None);
    }

    #[test]
    fn truncation_keeps_a_list_that_fits() {
        let ts = parse_one("a=1,b=2");
        assert_eq!(ts.truncated(7), ts);
        assert_eq!(ts.truncated(512), ts);
    }

    #[test]
    fn truncation_removes_long_members_first_from_the_end() {
        let long1 = format!("l1={}", "x".repeat(130));
        let long2 = format!("l2={}", "y".repeat(130));
        let ts = parse_one(&format!("a=1,{long1},b=2,{long2},c=3"));
        // Dropping the last long member is enough.
        let fits_one = ts.header_value().len() - long2.len() - 1;
        assert_eq!(ts.truncated(fits_one).header_value(), format!("a=1,{long1},b=2,c=3"));
        // Both long members go before any short one.
        assert_eq!(ts.truncated(fits_one - 1).header_value(), "a=1,b=2,c=3");
        // Then short members from the end.
        assert_eq!(ts.truncated(10).header_value(), "a=1,b=2");
        assert_eq!(ts.truncated(3).header_value(), "a=1");
        assert!(ts.truncated(2).is_empty());
        assert_eq!(ts.truncated(2).header_value(), "");
    }

    #[test]
    fn a_member_of_exactly_128_characters_is_not_long() {
        let edge = format!("e={}", "x".repeat(126));
        assert_eq!(edge.len(), LONG_MEMBER);
        let ts = parse_one(&format!("{edge},a=1"));
        assert_eq!(ts.truncated(LONG_MEMBER).header_value(), edge);
    }

    #[test]
    fn truncation_to_the_propagation_limit() {
        let members: Vec<String> = (0..32).map(|i| format!("k{i:02}={}", "v".repeat(20))).collect();
        let ts = parse_one(&members.join(","));
        assert!(ts.header_value().len() > PROPAGATION_LIMIT);
        let cut = ts.truncated(PROPAGATION_LIMIT);
        assert!(cut.header_value().len() <= PROPAGATION_LIMIT);
        assert_eq!(cut.len(), 20);
        assert!(ts.header_value().starts_with(&cut.header_value()));
    }

    #[test]
    fn errors_display_a_sentence() {
        assert_eq!(TraceStateError::TooManyMembers.to_string(), "tracestate has more than 32 list members");
        assert_eq!(TraceStateError::InvalidKey.to_string(), "tracestate key is not valid");
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z][a-z0-9_*/-]{0,20}",
            "[a-z0-9][a-z0-9_*/-]{0,10}@[a-z][a-z0-9_*/-]{0,13}",
            "[a-z0-9][a-z0-9_*/@-]{0,30}"
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        "[\\x20-\\x2b\\x2d-\\x3c\\x3e-\\x7e]{0,30}[\\x21-\\x2b\\x2d-\\x3c\\x3e-\\x7e]"
    }

    proptest! {
        #[test]
        fn header_value_then_parse_round_trips(
            members in proptest::collection::btree_map(key(), value(), 1..=MAX_MEMBERS)
        ) {
            let text = members.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ,\t");
            let ts = TraceState::parse([text.as_str()]).unwrap().unwrap();
            prop_assert_eq!(ts.len(), members.len());
            let again = TraceState::parse([ts.header_value().as_str()]).unwrap().unwrap();
            prop_assert_eq!(&again, &ts);
            for (k, v) in &members {
                prop_assert_eq!(ts.get(k), Some(v.as_str()));
            }
        }

        #[test]
        fn truncation_fits_and_keeps_order(
            members in proptest::collection::btree_map(key(), "[a-z]{1,200}", 1..=MAX_MEMBERS),
            max_len in 0usize..1200,
        ) {
            let text = members.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
            let ts = TraceState::parse([text.as_str()]).unwrap().unwrap();
            let cut = ts.truncated(max_len);
            prop_assert!(cut.header_value().len() <= max_len);
            let kept: Vec<_> = cut.iter().collect();
            let order: Vec<_> = ts.iter().filter(|m| kept.contains(m)).collect();
            prop_assert_eq!(kept, order);
            if ts.header_value().len() <= max_len {
                prop_assert_eq!(&cut, &ts);
            }
        }

        #[test]
        fn any_level_2_key_is_accepted_and_no_other(key in "[a-z0-9_*/@A-Z.#-]{0,8}") {
            let level_2 = key.as_bytes().first().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && key.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-*/@".contains(&c));
            let got = TraceState::parse([format!("{key}=v").as_str()]);
            if level_2 {
                let ts = got.unwrap().unwrap();
                prop_assert_eq!(ts.get(&key), Some("v"));
            } else {
                prop_assert_eq!(got, Err(TraceStateError::InvalidKey));
            }
        }

        #[test]
        fn duplicates_keep_the_first_value_of_each_key(
            members in proptest::collection::vec((prop_oneof![Just("a"), Just("b"), Just("1@x")], "[a-z0-9]{1,3}"), 1..=MAX_MEMBERS)
        ) {
            let text = members.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
            let ts = TraceState::parse([text.as_str()]).unwrap().unwrap();
            let mut want: Vec<(&str, &str)> = Vec::new();
            for (k, v) in &members {
                if !want.iter().any(|(seen, _)| seen == k) {
                    want.push((k, v.as_str()));
                }
            }
            prop_assert_eq!(ts.iter().collect::<Vec<_>>(), want);
        }

        #[test]
        fn parse_never_panics(fields in proptest::collection::vec(".{0,60}", 0..4)) {
            let _ = TraceState::parse(fields.iter().map(String::as_str));
        }

        #[test]
        fn parse_never_panics_near_the_grammar(field in "([a-z0-9@_*/ \t-]{0,8}=?[ -~\t]{0,8},?){0,40}") {
            if let Ok(Some(ts)) = TraceState::parse([field.as_str()]) {
                prop_assert!(ts.len() <= MAX_MEMBERS);
            }
        }
    }
}
