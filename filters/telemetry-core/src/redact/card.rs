//! Payment card numbers, matched only where they look like a card.
//!
//! A card number (ISO/IEC 7812) is 13 to 19 digits that
//! - pass the Luhn check;
//! - start with an issuer prefix in use: Visa `4`; Mastercard `51`–`55` and `2221`–`2720`; Maestro
//!   `50`, `56`–`58` and `6`; Amex `34`, `37`; Diners `300`–`305`, `3095`, `36`, `38`, `39`; JCB
//!   `3528`–`3589`; Discover `6011`, `644`–`649`, `65`; UnionPay `62`. Numbers starting with `0`,
//!   `1`, `7`, `8` or `9` (timestamps, order numbers) are never cards;
//! - are written as one run of digits, or in groups separated by one space or one dash, the same
//!   separator throughout, the first group of four digits (`4111 1111 1111 1111`, `3782-822463-10005`);
//! - are not part of a longer token: the digits touch no letter, digit or `_`, and no `-` or `.`
//!   that joins them to one (so no part of a UUID, a hex id or a version is ever a card). Groups
//!   separated by spaces may follow other digits (`qty 2 4111 1111 1111 1111`).
//!
//! The scan is one pass: each chain of digit groups is read once, keeping running Luhn sums for
//! both digit parities at every group boundary, so every candidate (a start group and an end group
//! at most 19 digits apart) is checked in constant time without re-reading its digits.

use super::Kind;
use super::scan::{at, run_end};
use super::splice::Hit;

/// Card numbers have 13 to 19 digits (ISO/IEC 7812).
pub(super) const CARD_MIN_DIGITS: usize = 13;
const CARD_MAX_DIGITS: usize = 19;
/// Grouped cards are printed with a first group of four digits.
const FIRST_GROUP: usize = 4;
/// Start groups are at least four digits long, so at most this many fit in one candidate.
const MAX_STARTS: usize = CARD_MAX_DIGITS / FIRST_GROUP + 1;

/// A group where a card may start: its position, and the digits and Luhn sums before it.
#[derive(Debug, Clone, Copy, Default)]
struct Start {
    pos: usize,
    digits: usize,
    /// Luhn sums with the digits at even, and at odd, positions of the chain doubled.
    sums: (u64, u64),
}

/// Every card number in `s`.
pub(super) fn card_numbers(s: &[u8], hits: &mut Vec<Hit>) {
    let mut i = 0;
    while i < s.len() {
        let Some(offset) = s.get(i..).and_then(|t| t.iter().position(u8::is_ascii_digit)) else {
            return;
        };
        i = chain(s, i + offset, hits).max(i + offset + 1);
    }
}

/// Reads the chain of digit groups starting at `start` (a digit) once, pushing every card in it;
/// returns where the chain ends.
fn chain(s: &[u8], start: usize, hits: &mut Vec<Hit>) -> usize {
    // Most digit runs are short and alone (`%40`, `v1.2`): done before any state is set up.
    let first_end = run_end(s, start, |b| b.is_ascii_digit());
    let len = first_end - start;
    let chained = matches!(at(s, first_end), b' ' | b'-') && at(s, first_end + 1).is_ascii_digit();
    if !chained && len != FIRST_GROUP && !(CARD_MIN_DIGITS..=CARD_MAX_DIGITS).contains(&len) {
        return first_end;
    }
    let mut starts = [Start::default(); MAX_STARTS];
    let mut kept = 0;
    let mut separator = None;
    // Digits read, and the Luhn sums with even or odd positions doubled.
    let mut digits = 0usize;
    let mut sums = (0u64, 0u64);
    let mut group = start;
    loop {
        let before = Start { pos: group, digits, sums };
        let mut end = group;
        while let Some(d) = s.get(end).filter(|b| b.is_ascii_digit()) {
            if end - group == CARD_MAX_DIGITS {
                // Too long for a card: no need to sum the rest of the run.
                return run_end(s, end, |b| b.is_ascii_digit());
            }
            let d = u64::from(d - b'0');
            let doubled = if d * 2 > 9 { d * 2 - 9 } else { d * 2 };
            let (even, odd) = if digits.is_multiple_of(2) { (doubled, d) } else { (d, doubled) };
            sums = (sums.0.wrapping_add(even), sums.1.wrapping_add(odd));
            digits += 1;
            end += 1;
        }
        let len = end - group;
        // A card starts with a group of four, or is one run of 13 to 19 digits.
        let first = len == FIRST_GROUP || len >= CARD_MIN_DIGITS;
        if first && !joined_before(s, group) && issuer(s, group) {
            if kept == starts.len() {
                starts.copy_within(1.., 0);
                kept -= 1;
            }
            if let Some(slot) = starts.get_mut(kept) {
                *slot = before;
                kept += 1;
            }
        }
        if !joined_after(s, end) {
            for st in starts.get(..kept).unwrap_or(&[]) {
                let n = digits - st.digits;
                // The rightmost digit is not doubled: doubled are those at the other parity than
                // the last digit's, counted from the chain's first digit.
                let sum = if digits.is_multiple_of(2) {
                    sums.0.wrapping_sub(st.sums.0)
                } else {
                    sums.1.wrapping_sub(st.sums.1)
                };
                if (CARD_MIN_DIGITS..=CARD_MAX_DIGITS).contains(&n) && sum.is_multiple_of(10) {
                    hits.push(Hit::new(st.pos, end, Kind::CardNumber));
                }
            }
        }
        while kept > 0 && starts.first().is_some_and(|st| digits - st.digits >= CARD_MAX_DIGITS) {
            starts.copy_within(1.., 0);
            kept -= 1;
        }
        let next = at(s, end);
        if !matches!(next, b' ' | b'-') || !at(s, end + 1).is_ascii_digit() {
            return end;
        }
        if separator.is_some_and(|sep| sep != next) {
            // Another separator: a new chain may start at this group (`5 4111-1111-1111-1111`).
            return group;
        }
        separator = Some(next);
        group = end + 1;
    }
}

/// Whether the digit at `i` continues a token: it follows a letter, digit or `_`, or a `-` or `.`
/// that follows one (a UUID's or a version's next part).
fn joined_before(s: &[u8], i: usize) -> bool {
    let Some(p) = i.checked_sub(1) else { return false };
    let prev = at(s, p);
    is_word(prev) || (matches!(prev, b'-' | b'.') && p.checked_sub(1).is_some_and(|q| is_word(at(s, q))))
}

/// Whether the text at `end` (after a digit) continues a token, as [`joined_before`].
fn joined_after(s: &[u8], end: usize) -> bool {
    let next = at(s, end);
    is_word(next) || (matches!(next, b'-' | b'.') && is_word(at(s, end + 1)))
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether the four digits at `i` start an issuer's range (see the module docs).
fn issuer(s: &[u8], i: usize) -> bool {
    let digit = |k: usize| u32::from(at(s, i + k).wrapping_sub(b'0'));
    let p4 = digit(0) * 1000 + digit(1) * 100 + digit(2) * 10 + digit(3);
    let (p1, p2, p3) = (p4 / 1000, p4 / 100, p4 / 10);
    match p1 {
        4 | 6 => true,
        5 => (50..=58).contains(&p2),
        2 => (2221..=2720).contains(&p4),
        3 => matches!(p2, 34 | 36..=39) || (300..=305).contains(&p3) || p4 == 3095 || (3528..=3589).contains(&p4),
        _ => false,
    }
}
